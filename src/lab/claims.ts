// Host-wide claims on cluster indexes: one file per index under /run/k8ts/lab, created with O_EXCL so that
// two `k8ts up` runs (even with different K8TS_HOMEs) never take the same bridge, node network or port.
import { mkdir, readFile, readdir, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RUN_DIR } from './paths.js';

export interface Claim {
  index: number;
  name: string;
  /** The cluster's state directory (K8TS_HOME/<name>). */
  dir: string;
  /** The process that claimed it; with no cluster.json and this process gone, the claim is stale. */
  pid: number;
  /** The cluster's address ranges, so that plans in other K8TS_HOMEs avoid them too. */
  ranges: string[];
  createdAt: string;
}

/** Claims older than this that cannot be parsed are a crash between create and write. */
const UNREADABLE_GRACE_MS = 10_000;

export function claimPath(runDir: string, index: number): string {
  return join(runDir, `${index}.json`);
}

/** The live claims (stale ones are left for tryClaim to replace). */
export async function readClaims(runDir: string): Promise<Claim[]> {
  let names: string[];
  try {
    names = await readdir(runDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: Claim[] = [];
  for (const n of names) {
    const m = /^(\d+)\.json$/.exec(n);
    if (!m) continue;
    const c = await readClaim(join(runDir, n), Number(m[1]));
    if (c !== 'stale') out.push(c);
  }
  return out.sort((a, b) => a.index - b.index);
}

/** Takes the index for this cluster; false if someone else holds it. */
export async function tryClaim(runDir: string, claim: Claim): Promise<boolean> {
  await mkdir(runDir, { recursive: true, mode: 0o755 });
  const path = claimPath(runDir, claim.index);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, JSON.stringify(claim, null, 2) + '\n', { flag: 'wx', mode: 0o644 });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if ((await readClaim(path, claim.index)) !== 'stale') return false;
      await unlink(path).catch(() => {});
    }
  }
  return false;
}

/** The state directory that holds the claim on index, stale or not; undefined if there is no claim. */
export async function claimHolder(runDir: string, index: number): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(claimPath(runDir, index), 'utf8')) as Claim).dir;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Being written right now by someone else: not ours.
    return '?';
  }
}

/** Drops the claim on index if it belongs to the cluster in dir; true if a file was removed. */
export async function releaseClaim(runDir: string, index: number, dir: string): Promise<boolean> {
  const path = claimPath(runDir, index);
  let c: Claim;
  try {
    c = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  if (c.dir !== dir) return false;
  await unlink(path).catch((e) => {
    if (e.code !== 'ENOENT') throw e;
  });
  // The directories are only ours to remove once nobody has a claim in them; /run/k8ts is made with the
  // default one, a caller's own runDir's parent is not ours.
  for (const d of runDir === RUN_DIR ? [runDir, dirname(runDir)] : [runDir]) {
    try {
      await rmdir(d);
    } catch {
      break;
    }
  }
  return true;
}

async function readClaim(path: string, index: number): Promise<Claim | 'stale'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'stale';
    throw e;
  }
  let c: Claim;
  try {
    c = JSON.parse(text);
  } catch {
    const age = Date.now() - (await stat(path)).mtimeMs;
    return age > UNREADABLE_GRACE_MS ? 'stale' : { index, name: '?', dir: '?', pid: 0, ranges: [], createdAt: '' };
  }
  if (!existsSync(join(c.dir, 'cluster.json')) && !pidAlive(c.pid)) return 'stale';
  return c;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
