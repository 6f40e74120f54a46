// The node's content-addressed image store, safe to share between processes (agents of one lab, `k8ts
// image import`) without locks: everything is written under a temporary name, verified, synced and renamed
// into place, and a name that exists is complete. Layout under the root:
//   blobs/sha256/<hex>     manifests, indexes, configs and compressed layers, exactly as pulled
//   layers/<diffID hex>/   one unpacked layer (fs/ in overlay form, layer.json), shared by every image using it
//   images/<hex>.json      a name (`repo:tag` or `repo@digest`) → the image it stands for
//   tmp/                   work in progress, named after the writing process so leftovers of a dead one go
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { run } from '../../util/exec.js';
import { type ImageConfigFile, parseConfig } from './manifest.js';
import { DIGEST } from './reference.js';

export interface LayerRef {
  /** Digest of the blob as stored and pulled (compressed). */
  digest: string;
  /** Digest of the uncompressed tar: the unpacked layer's name. */
  diffID: string;
  size: number;
  mediaType: string;
}

export interface ImageRecord {
  /** `docker.io/library/nginx:1.27` or `docker.io/library/nginx@sha256:…`. */
  name: string;
  /** What the name resolved to at the registry (an index or a manifest): the repo digest. */
  target: string;
  /** The manifest for this node's platform. */
  manifest: string;
  /** The config blob: the image id. */
  config: string;
  layers: LayerRef[];
  /** Bytes of the manifest, config and compressed layers: what a pull transfers. */
  size: number;
  /** Made on this node from a Debian package; never pulled, never garbage collected. */
  builtin?: boolean;
  /** Identity of what a built-in image was made from, so a changed package rebuilds it. */
  source?: Record<string, unknown>;
  createdAt: string;
}

/** An image as it runs: its layers as overlay lowerdirs (top first) and its config. */
export interface StoredImage {
  record: ImageRecord;
  config: ImageConfigFile;
  /** Unpacked layer directories, topmost first (overlay's lowerdir order). */
  lowerdirs: string[];
}

export class StoreError extends Error {
  readonly code = 'StoreError';
}

function hexOf(digest: string): string {
  if (!DIGEST.test(digest)) throw new StoreError(`not a sha256 digest: ${JSON.stringify(digest)}`);
  return digest.slice(7);
}

/** Start time of our own process (field 22 of /proc/self/stat): a tmp entry names its writer by pid and this. */
function selfStart(): string {
  try {
    const s = readFileSync('/proc/self/stat', 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return '0';
  }
}
const SELF = `${process.pid}.${selfStart()}`;

function alive(pid: number, start: string): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19] === start;
  } catch {
    return false;
  }
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

export class ImageStore {
  readonly blobs: string;
  readonly layers: string;
  readonly images: string;
  readonly tmp: string;
  private ready?: Promise<void>;
  private readonly configs = new Map<string, ImageConfigFile>();

  constructor(readonly root: string) {
    this.blobs = join(root, 'blobs', 'sha256');
    this.layers = join(root, 'layers');
    this.images = join(root, 'images');
    this.tmp = join(root, 'tmp');
  }

  init(): Promise<void> {
    this.ready ??= (async () => {
      for (const d of [this.blobs, this.layers, this.images, this.tmp]) await mkdir(d, { recursive: true, mode: 0o700 });
    })();
    return this.ready;
  }

  /** A fresh temporary path, named after this process. */
  tmpPath(what: string): string {
    return join(this.tmp, `${SELF}.${randomBytes(6).toString('hex')}.${what}`);
  }

  /** Removes what dead writers left in tmp/ (a kill -9 mid-pull): never trusted, now also not kept. */
  async cleanTmp(): Promise<string[]> {
    await this.init();
    const gone: string[] = [];
    for (const n of await readdir(this.tmp)) {
      const m = /^(\d+)\.(\d+)\./.exec(n);
      if (m && alive(Number(m[1]), m[2])) continue;
      await rm(join(this.tmp, n), { recursive: true, force: true });
      gone.push(n);
    }
    return gone;
  }

  blobPath(digest: string): string {
    return join(this.blobs, hexOf(digest));
  }

  hasBlob(digest: string): boolean {
    return existsSync(this.blobPath(digest));
  }

  async readBlob(digest: string): Promise<Buffer> {
    return readFile(this.blobPath(digest));
  }

  /** Stores bytes already in memory under their digest (verified here). */
  async putBlob(digest: string, data: Buffer): Promise<void> {
    await this.init();
    const got = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (got !== digest) throw new StoreError(`digest mismatch: expected ${digest}, the content is ${got}`);
    if (this.hasBlob(digest)) return;
    const tmp = this.tmpPath('blob');
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.blobPath(digest));
  }

  layerDir(diffID: string): string {
    return join(this.layers, hexOf(diffID));
  }

  /** The unpacked root of a layer (an overlay lowerdir). */
  layerFs(diffID: string): string {
    return join(this.layerDir(diffID), 'fs');
  }

  hasLayer(diffID: string): boolean {
    return existsSync(join(this.layerDir(diffID), 'layer.json'));
  }

  /**
   * Moves a verified, unpacked layer (tmp dir holding fs/) into place: its files flushed to disk first
   * (syncfs), then layer.json, then one rename. Another process that got there first wins; ours goes.
   */
  async commitLayer(tmpDir: string, diffID: string, info: Record<string, unknown>): Promise<void> {
    await run(['sync', '-f', tmpDir]);
    const meta = join(tmpDir, 'layer.json');
    const fh = await open(meta, 'wx', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify({ diffID, ...info })}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmpDir, this.layerDir(diffID));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      await rm(tmpDir, { recursive: true, force: true });
      if (!this.hasLayer(diffID)) throw new StoreError(`layer ${diffID}: a directory without layer.json is in the way at ${this.layerDir(diffID)}`);
    }
  }

  private recordPath(name: string): string {
    return join(this.images, `${createHash('sha256').update(name).digest('hex')}.json`);
  }

  async putImage(rec: ImageRecord): Promise<void> {
    await this.init();
    const p = this.recordPath(rec.name);
    const tmp = this.tmpPath('image.json');
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(rec, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, p);
  }

  async getImage(name: string): Promise<ImageRecord | undefined> {
    try {
      // A few hundred bytes, read on every container start: synchronously (through fs/promises a small
      // read cost ~160 µs of CPU here, most of it the thread pool's round trip; readFileSync 12 µs).
      const rec = JSON.parse(readFileSync(this.recordPath(name), 'utf8')) as ImageRecord;
      return rec.name === name ? rec : undefined;
    } catch {
      return undefined;
    }
  }

  async removeImage(name: string): Promise<void> {
    await rm(this.recordPath(name), { force: true });
  }

  async listImages(): Promise<ImageRecord[]> {
    await this.init();
    const out: ImageRecord[] = [];
    for (const f of await readdir(this.images)) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(await readFile(join(this.images, f), 'utf8')) as ImageRecord);
      } catch {
        /* replaced under us */
      }
    }
    return out;
  }

  /** The image as it runs, provided every blob and layer it needs is present (else undefined: pull it again). */
  async stored(rec: ImageRecord): Promise<StoredImage | undefined> {
    if (!this.hasBlob(rec.config) || rec.layers.some((l) => !this.hasLayer(l.diffID))) return undefined;
    // A config blob is named by its digest, so what it parses to never changes: parsed once (frozen, shared).
    const memoKey = `${rec.config}/${rec.layers.length}`;
    let config = this.configs.get(memoKey);
    if (!config) {
      config = deepFreeze(parseConfig(await this.readBlob(rec.config), rec.layers.length));
      this.configs.set(memoKey, config);
      if (this.configs.size > 256) this.configs.delete(this.configs.keys().next().value!);
    }
    return { record: rec, config, lowerdirs: rec.layers.map((l) => this.layerFs(l.diffID)).reverse() };
  }

  /**
   * Removes blobs and layers no image record names. Those younger than graceMs stay: another process may
   * be between writing them and writing the record that names them.
   */
  async sweep(graceMs = 10 * 60_000, keep: Set<string> = new Set()): Promise<{ blobs: number; layers: number; bytes: number }> {
    const wanted = new Set(keep);
    for (const r of await this.listImages()) {
      wanted.add(r.target).add(r.manifest).add(r.config);
      for (const l of r.layers) wanted.add(l.digest).add(l.diffID);
    }
    const cutoff = Date.now() - graceMs;
    const out = { blobs: 0, layers: 0, bytes: 0 };
    for (const h of await readdir(this.blobs)) {
      if (wanted.has(`sha256:${h}`)) continue;
      const st = await stat(join(this.blobs, h)).catch(() => undefined);
      if (!st || st.mtimeMs > cutoff) continue;
      await rm(join(this.blobs, h), { force: true });
      out.blobs++;
      out.bytes += st.size;
    }
    for (const h of await readdir(this.layers)) {
      if (wanted.has(`sha256:${h}`)) continue;
      const st = await stat(join(this.layers, h)).catch(() => undefined);
      if (!st || st.mtimeMs > cutoff) continue;
      // Renamed out of sight first: a half-removed layer must never look complete.
      const doomed = this.tmpPath('gc');
      await rename(join(this.layers, h), doomed).catch(() => undefined);
      await rm(doomed, { recursive: true, force: true });
      out.layers++;
    }
    return out;
  }

  /** Writes a small JSON blob (manifest, config, index) and returns its digest. */
  async putJson(value: unknown): Promise<{ digest: string; size: number; bytes: Buffer }> {
    const bytes = Buffer.from(JSON.stringify(value));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await this.putBlob(digest, bytes);
    return { digest, size: bytes.length, bytes };
  }
}

/** Collects a stream into memory, at most `limit` bytes. */
export async function collect(r: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of r) {
    n += (c as Buffer).length;
    if (n > limit) throw new StoreError(`more than ${limit} bytes`);
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}
