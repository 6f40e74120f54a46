// One layer from a stream to a trusted, unpacked directory in a single pass: the bytes are counted and
// hashed (the blob digest) and written to a temporary blob file, decompressed (gzip with Node's zlib, zstd
// with Debian's zstd tool), hashed again (the diffID) and unpacked into a temporary directory. Only when
// both digests and the size match are the blob and the layer renamed into the store; a failure or a kill
// at any point leaves only tmp/ entries, which nothing trusts and the next start removes.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Duplex, PassThrough, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { MissingCommandError } from '../../util/exec.js';
import type { Compression } from './manifest.js';
import type { ImageStore, LayerRef } from './store.js';
import { unpackLayer, type UnpackResult } from './unpack.js';

export class DigestMismatchError extends Error {
  readonly code = 'DigestMismatch';
}

/**
 * zstd: Node 20's zlib has none. Debian's `zstd` (the reference implementation, C, multi-threaded I/O)
 * runs beside the agent as one process per layer, streaming; a pure-JS decoder (fzstd) is several times
 * slower on big layers and a native addon (zstd-napi, @mongodb-js/zstd) needs a build per Node ABI.
 */
function zstdDecoder(): Duplex {
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const d = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (e: NodeJS.ErrnoException) => d.destroy(e.code === 'ENOENT' ? new MissingCommandError('zstd', 'zstd') : e));
  child.on('close', (code) => {
    if (code !== 0) d.destroy(new Error(`zstd could not decompress the layer: ${err.trim() || `exit ${code}`}`));
  });
  d.on('close', () => child.exitCode === null && child.kill());
  return d;
}

function decoder(c: Compression): Duplex {
  if (c === 'gzip') return createGunzip({ chunkSize: 128 << 10 });
  if (c === 'zstd') return zstdDecoder();
  return new PassThrough();
}

export interface IngestOptions {
  store: ImageStore;
  layer: LayerRef & { compression: Compression };
  /** The compressed bytes (a registry response or a local file). */
  body: Readable;
  /** Also keep the compressed blob (not when it is already in the store). */
  keepBlob: boolean;
  /** Called with the number of compressed bytes as they arrive (progress). */
  progress?: (bytes: number) => void;
}

/** Verifies and unpacks one layer into the store; DigestMismatchError names what arrived. */
export async function ingestLayer(o: IngestOptions): Promise<UnpackResult> {
  const { store, layer } = o;
  const work = store.tmpPath('layer');
  const blobTmp = store.tmpPath('blob');
  mkdirSync(join(work, 'fs'), { recursive: true, mode: 0o755 });
  const hashC = createHash('sha256');
  const hashU = createHash('sha256');
  let n = 0;
  let fd = o.keepBlob ? openSync(blobTmp, 'wx', 0o600) : -1;
  const plain = new Transform({
    highWaterMark: 256 << 10,
    transform(chunk: Buffer, _enc, cb) {
      hashU.update(chunk);
      cb(null, chunk);
    },
  });
  const dec = decoder(layer.compression);
  let stop: Error | undefined;
  dec.on('error', (e: Error) => {
    stop ??= e;
    plain.destroy(e);
  });
  dec.pipe(plain);
  const unpacked = unpackLayer(plain, join(work, 'fs'));
  unpacked.catch((e) => (stop ??= e));
  try {
    // The whole blob is read and hashed even when decompressing or unpacking fails half-way, so a
    // corrupted download is reported as the digest mismatch it is, not as a gzip or tar error.
    for await (const chunk of o.body as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > layer.size)
        throw new DigestMismatchError(`layer ${layer.digest}: the source sent more than the ${layer.size} bytes the manifest gives; nothing of it was kept`);
      hashC.update(chunk);
      if (fd >= 0) {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off);
      }
      o.progress?.(chunk.length);
      if (!stop && !dec.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            dec.off('drain', done);
            dec.off('error', done);
            resolve();
          };
          dec.once('drain', done);
          dec.once('error', done);
          unpacked.then(done, done);
        });
      }
    }
    if (!stop) dec.end();
    const u = await unpacked.then(
      (v) => ({ ok: true as const, v }),
      (e) => ({ ok: false as const, e }),
    );
    const gotC = `sha256:${hashC.digest('hex')}`;
    if (n !== layer.size || gotC !== layer.digest) {
      throw new DigestMismatchError(
        `layer ${layer.digest}: digest mismatch: the source sent ${n} bytes with digest ${gotC} (the manifest says ${layer.size} bytes); nothing of it was kept`,
      );
    }
    if (!u.ok) {
      const why = (u.e as Error).message;
      throw new Error(
        `layer ${layer.digest}: ${stop && !(u.e instanceof Error && (u.e as { code?: string }).code === 'BadLayer') ? `cannot decompress it (${layer.compression}): ${why}` : why}`,
      );
    }
    const gotU = `sha256:${hashU.digest('hex')}`;
    if (gotU !== layer.diffID) {
      throw new DigestMismatchError(
        `layer ${layer.digest}: the uncompressed content has digest ${gotU}, the image config says ${layer.diffID}; nothing of it was kept`,
      );
    }
    if (fd >= 0) {
      fsyncSync(fd);
      closeSync(fd);
      fd = -1;
      await rename(blobTmp, store.blobPath(layer.digest));
    }
    await store.commitLayer(work, layer.diffID, { digest: layer.digest, size: layer.size, mediaType: layer.mediaType });
    return u.v;
  } finally {
    if (fd >= 0) closeSync(fd);
    await rm(work, { recursive: true, force: true });
    await rm(blobTmp, { force: true });
  }
}
