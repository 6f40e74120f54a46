// The kubelet's atomic writer layout for ConfigMap, Secret, downwardAPI and projected volumes: the files
// of one version live in a timestamped directory `..<time>`, `..data` is a symlink to it swapped by
// rename(2), and each user-visible top-level name is a symlink through `..data`. A reader that opens
// `<vol>/<key>` sees the whole old set or the whole new one, never a mix or a half-written file.
import { chmodSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync, readFileSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';

const DATA = '..data';
const DATA_TMP = '..data_tmp';
/** Names the writer makes itself: `..` followed by the time stamp, as the kubelet's `..2006_01_02_15_04_05.<n>`. */
const TS_DIR = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/;

/** One file of a volume's payload: its content and its permission bits. */
export interface FileProjection {
  data: Buffer;
  mode: number;
}

export class PayloadPathError extends Error {
  constructor(
    readonly path: string,
    why: string,
  ) {
    super(`invalid path ${JSON.stringify(path)} in volume payload: ${why}`);
    this.name = 'PayloadPathError';
  }
}

/**
 * A payload path proven to stay inside the volume: relative, no empty, `.` or `..` element, not starting
 * with `..` (the writer's own names), no NUL. API validation refuses these already; this is the node's
 * own check, for objects that reached it some other way.
 */
export function checkPayloadPath(p: string): string[] {
  if (!p) throw new PayloadPathError(p, 'empty');
  if (p.length > 4096) throw new PayloadPathError(p.slice(0, 64), 'longer than 4096 bytes');
  if (p.includes('\0')) throw new PayloadPathError(p, 'contains NUL');
  if (p.startsWith('/')) throw new PayloadPathError(p, 'absolute');
  if (p.startsWith('..')) throw new PayloadPathError(p, "starts with '..'");
  const parts = p.split('/');
  for (const e of parts) {
    if (e === '' || e === '.' || e === '..') throw new PayloadPathError(p, `has a ${JSON.stringify(e)} element`);
    if (Buffer.byteLength(e) > 255) throw new PayloadPathError(p, 'has an element longer than 255 bytes');
  }
  return parts;
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function stamp(d = new Date()): string {
  const z = (n: number, w = 2) => String(n).padStart(w, '0');
  const ns = process.hrtime.bigint() % 1_000_000_000n;
  return `..${d.getUTCFullYear()}_${z(d.getUTCMonth() + 1)}_${z(d.getUTCDate())}_${z(d.getUTCHours())}_${z(d.getUTCMinutes())}_${z(d.getUTCSeconds())}.${ns}`;
}

/** The payload now visible in dir (through `..data`), or undefined when nothing was written yet. */
export function readPayload(dir: string): Map<string, FileProjection> | undefined {
  const cur = currentDir(dir);
  if (!cur) return undefined;
  const out = new Map<string, FileProjection>();
  const walk = (rel: string) => {
    for (const e of readdirSync(join(cur, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out.set(r, { data: readFileSync(join(cur, r)), mode: lstatSync(join(cur, r)).mode & 0o777 });
    }
  };
  walk('');
  return out;
}

/** The timestamped directory `..data` points at (a name the writer made, never followed further). */
export function currentDir(dir: string): string | undefined {
  const st = lstatOrUndefined(join(dir, DATA));
  if (!st?.isSymbolicLink()) return undefined;
  const target = readlinkSync(join(dir, DATA));
  return TS_DIR.test(target) ? join(dir, target) : undefined;
}

function samePayload(a: Map<string, FileProjection>, b: Map<string, FileProjection>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.mode !== v.mode || !w.data.equals(v.data)) return false;
  }
  return true;
}

/**
 * Writes payload into dir as one atomic version; returns false when dir already holds exactly this
 * payload (nothing written). Paths are checked first: a bad one throws and leaves the volume as it was.
 */
export function writePayload(dir: string, payload: Map<string, FileProjection>): boolean {
  const parsed = new Map<string, string[]>();
  for (const p of payload.keys()) parsed.set(p, checkPayloadPath(p));
  const tops = new Set([...parsed.values()].map((parts) => parts[0]));
  // A file and a directory of the same name cannot both be (a/b and a): refused like the kubelet's.
  for (const [p, parts] of parsed) {
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (payload.has(prefix)) throw new PayloadPathError(p, `${JSON.stringify(prefix)} is both a file and a directory`);
    }
  }
  mkdirSync(dir, { recursive: true });
  const old = readPayload(dir);
  if (old && samePayload(old, payload)) return false;
  const oldDir = currentDir(dir);
  // 1. The new version in a fresh timestamped directory.
  const ts = join(dir, stamp());
  mkdirSync(ts, { mode: 0o755 });
  for (const [p, parts] of parsed) {
    const f = join(ts, ...parts);
    mkdirSync(dirname(f), { recursive: true, mode: 0o755 });
    const { data, mode } = payload.get(p)!;
    writeFileSync(f, data, { mode, flag: 'wx' });
    // The umask narrowed the mode given to open(2); the file's mode is the one asked for.
    chmodSync(f, mode);
  }
  // 2. `..data_tmp` → the new directory, renamed over `..data`: the one atomic step.
  rmSync(join(dir, DATA_TMP), { force: true });
  symlinkSync(ts.slice(dir.length + 1), join(dir, DATA_TMP));
  renameSync(join(dir, DATA_TMP), join(dir, DATA));
  // 3. The user-visible names: a symlink `<top>` → `..data/<top>` for each top-level name; stale ones go.
  for (const top of tops) {
    const link = join(dir, top);
    const st = lstatOrUndefined(link);
    if (st?.isSymbolicLink() && readlinkSync(link) === join(DATA, top)) continue;
    if (st) rmSync(link, { recursive: true, force: true });
    symlinkSync(join(DATA, top), link);
  }
  for (const e of readdirSync(dir)) {
    if (e === DATA || tops.has(e) || (e.startsWith('..') && e !== DATA_TMP)) continue;
    const st = lstatOrUndefined(join(dir, e));
    // Only the writer's own links are removed; anything else in the volume is not ours to touch.
    if (st?.isSymbolicLink() && readlinkSync(join(dir, e)).startsWith(`${DATA}/`)) rmSync(join(dir, e), { force: true });
  }
  // 4. The old version, once nothing points at it.
  if (oldDir && oldDir !== ts) rmSync(oldDir, { recursive: true, force: true });
  for (const e of readdirSync(dir)) if (TS_DIR.test(e) && join(dir, e) !== ts) rmSync(join(dir, e), { recursive: true, force: true });
  return true;
}
