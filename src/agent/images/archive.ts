// `k8ts image import`: images from a `docker save` archive, an OCI image layout directory, or a tar of
// one, into the store, each layer verified and unpacked like a pulled one. A tar is first unpacked (regular
// files only, names proven) into the store's tmp/, then read as a directory.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { performance } from 'node:perf_hooks';
import { extract } from 'tar-stream';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { ImageError } from './errors.js';
import { ingestLayer } from './layer.js';
import { MT, layerCompression, parseConfig, parseManifest, pickPlatform, formatPlatform, configMatches, hostPlatform, type Platform } from './manifest.js';
import { DIGEST, parseReference, storeName } from './reference.js';
import type { ImageRecord, ImageStore } from './store.js';

export interface ImportedImage {
  name: string;
  record: ImageRecord;
  ms: number;
}

const fail = (file: string, why: string) => new ImageError('ImageImportFailed', `${file}: ${why}`);

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Unpacks the regular files and directories of a tar into dir (anything else is ignored). */
async function untarFiles(file: string, dir: string): Promise<void> {
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      // A name that climbs out (`..` anywhere) is refused, not rewritten: such an archive was made to attack.
      if (h.name.split('/').includes('..') || h.name.includes('\0')) {
        const e = fail(file, `the entry ${JSON.stringify(h.name)} climbs out of the archive: refused`);
        stream.on('error', () => {});
        reject(e);
        ex.destroy(e);
        return;
      }
      const n = posix.normalize(`/${h.name}`).slice(1).replace(/\/+$/, '');
      if (!n || n === '.') {
        stream.resume();
        return next();
      }
      const p = join(dir, n);
      if (h.type === 'directory') {
        mkdirSync(p, { recursive: true });
        stream.resume();
        return next();
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        stream.resume();
        return next();
      }
      mkdirSync(posix.dirname(p), { recursive: true });
      pipeline(stream as unknown as NodeJS.ReadableStream, createWriteStream(p, { flags: 'wx' })).then(() => next(), reject);
    });
    ex.on('finish', resolve);
    ex.on('error', (e) => reject(fail(file, `not a tar archive: ${e.message}`)));
  });
  // Both awaited together: a refusal rejects both, and neither may go unhandled.
  await Promise.all([
    pipeline(createReadStream(file), ex).catch((e) => {
      if (e instanceof ImageError) throw e;
      throw fail(file, `not a tar archive: ${(e as Error).message}`);
    }),
    done,
  ]);
}

/** Imports every image in `file` (a docker save tar, an OCI layout dir or its tar). */
export async function importArchive(
  store: ImageStore,
  file: string,
  opts: { platform?: Platform; progress?: (line: string, ms: number) => void } = {},
): Promise<ImportedImage[]> {
  await store.init();
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st) throw fail(file, 'no such file or directory');
  if (st.isDirectory()) return importDir(store, file, file, opts);
  const t0 = performance.now();
  const dir = store.tmpPath('import');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    await untarFiles(file, dir);
    opts.progress?.(`Read ${file}`, performance.now() - t0);
    return await importDir(store, dir, file, opts);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function importDir(
  store: ImageStore,
  dir: string,
  file: string,
  opts: { platform?: Platform; progress?: (line: string, ms: number) => void },
): Promise<ImportedImage[]> {
  const platform = opts.platform ?? hostPlatform();
  if (existsSync(join(dir, 'index.json')) && existsSync(join(dir, 'oci-layout'))) return importOci(store, dir, file, platform, opts.progress);
  if (existsSync(join(dir, 'manifest.json'))) return importDockerSave(store, dir, file, platform, opts.progress);
  throw fail(file, 'neither a docker save archive (manifest.json) nor an OCI image layout (oci-layout, index.json)');
}

/**
 * The path of a blob in an OCI layout, proven to be a file inside the layout: a symlink that leads out of
 * it (to a host file whose digest someone knows) is refused.
 */
function blobFile(dir: string, digest: string, file: string): string {
  if (!DIGEST.test(digest)) throw fail(file, `${JSON.stringify(digest)} is not a sha256 digest`);
  const p = join(dir, 'blobs', 'sha256', digest.slice(7));
  let real: string;
  try {
    real = realpathSync(p);
  } catch {
    return p; // missing: the reader names it
  }
  const top = realpathSync(dir);
  if (!real.startsWith(`${top}/`)) throw fail(file, `blobs/sha256/${digest.slice(7)} leads out of the layout (to ${real}): refused`);
  if (!statSync(real).isFile()) throw fail(file, `blobs/sha256/${digest.slice(7)} is not a regular file`);
  return p;
}

/** An OCI ref.name that is a tag alone (skopeo's and buildkit's `oci:dir:TAG`), not a name to store under. */
const TAG_ONLY = /^[\w][\w.-]{0,127}$/;

async function importOci(
  store: ImageStore,
  dir: string,
  file: string,
  platform: Platform,
  progress?: (l: string, ms: number) => void,
): Promise<ImportedImage[]> {
  let index;
  try {
    index = parseManifest(await readFile(join(dir, 'index.json')));
  } catch (e) {
    throw fail(file, `index.json: ${(e as Error).message}`);
  }
  if (index.kind !== 'index') throw fail(file, 'index.json is not an image index');
  const raw = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')).manifests as { annotations?: Record<string, string> }[];
  const out: ImportedImage[] = [];
  for (const [i, d] of index.manifests.entries()) {
    const ann = raw[i]?.annotations ?? {};
    const nameAnn = ann['io.containerd.image.name'] ?? ann['org.opencontainers.image.ref.name'];
    if (!nameAnn)
      throw fail(
        file,
        `index.json manifests[${i}] (${d.digest}) has no name: annotate it with io.containerd.image.name or org.opencontainers.image.ref.name (a full reference such as registry.example/app:1.0)`,
      );
    if (!ann['io.containerd.image.name'] && TAG_ONLY.test(nameAnn)) {
      throw fail(
        file,
        `index.json manifests[${i}]: org.opencontainers.image.ref.name ${JSON.stringify(nameAnn)} is a tag alone, not an image name: annotate it with io.containerd.image.name or write the full reference (such as registry.example/app:${nameAnn})`,
      );
    }
    let r;
    try {
      r = parseReference(nameAnn);
    } catch (e) {
      throw fail(file, `index.json manifests[${i}]: name ${JSON.stringify(nameAnn)}: ${(e as Error).message}`);
    }
    const t0 = performance.now();
    const topBytes = await readFile(blobFile(dir, d.digest, file)).catch(() => {
      throw fail(file, `blob ${d.digest} (manifests[${i}]) is missing`);
    });
    if (`sha256:${createHash('sha256').update(topBytes).digest('hex')}` !== d.digest) throw fail(file, `blob ${d.digest} does not match its digest`);
    let m = parseManifest(topBytes);
    await store.putBlob(d.digest, topBytes);
    let manifestDigest = d.digest;
    if (m.kind === 'index') {
      const pick = pickPlatform(m, platform);
      if (!pick) throw fail(file, `${nameAnn}: no image for ${formatPlatform(platform)} in its index`);
      const b = await readFile(blobFile(dir, pick.digest, file)).catch(() => {
        throw fail(file, `blob ${pick.digest} (${nameAnn} for ${formatPlatform(platform)}) is missing`);
      });
      if (`sha256:${createHash('sha256').update(b).digest('hex')}` !== pick.digest) throw fail(file, `blob ${pick.digest} does not match its digest`);
      m = parseManifest(b);
      if (m.kind !== 'manifest') throw fail(file, `${pick.digest} is not an image manifest`);
      await store.putBlob(pick.digest, b);
      manifestDigest = pick.digest;
    }
    const manifest = m;
    const cfgBytes = await readFile(blobFile(dir, manifest.config.digest, file)).catch(() => {
      throw fail(file, `config blob ${manifest.config.digest} of ${nameAnn} is missing`);
    });
    if (`sha256:${createHash('sha256').update(cfgBytes).digest('hex')}` !== manifest.config.digest)
      throw fail(file, `config blob ${manifest.config.digest} does not match its digest`);
    await store.putBlob(manifest.config.digest, cfgBytes);
    const cfg = parseConfig(cfgBytes, manifest.layers.length);
    if (!configMatches(cfg, platform)) throw fail(file, `${nameAnn} is for ${cfg.os}/${cfg.architecture}; this node is ${formatPlatform(platform)}`);
    const layers = manifest.layers.map((l, k) => ({
      digest: l.digest,
      diffID: cfg.rootfs.diff_ids[k],
      size: l.size,
      mediaType: l.mediaType,
      compression: l.compression,
    }));
    for (const l of layers) {
      if (store.hasLayer(l.diffID)) continue;
      const lf = blobFile(dir, l.digest, file);
      if (!existsSync(lf)) throw fail(file, `layer blob ${l.digest} of ${nameAnn} is missing`);
      try {
        await ingestLayer({ store, layer: l, body: createReadStream(lf), keepBlob: !store.hasBlob(l.digest) });
      } catch (e) {
        throw fail(file, `${nameAnn}: ${(e as Error).message}`);
      }
    }
    const rec: ImageRecord = {
      name: storeName(r),
      target: d.digest,
      manifest: manifestDigest,
      config: manifest.config.digest,
      layers: layers.map(({ digest, diffID, size, mediaType }) => ({ digest, diffID, size, mediaType })),
      size: topBytes.length + cfgBytes.length + layers.reduce((a, l) => a + l.size, 0),
      createdAt: new Date().toISOString(),
    };
    await store.putImage(rec);
    progress?.(`Imported ${rec.name} (${layers.length} layers)`, performance.now() - t0);
    out.push({ name: rec.name, record: rec, ms: performance.now() - t0 });
  }
  return out;
}

async function importDockerSave(
  store: ImageStore,
  dir: string,
  file: string,
  platform: Platform,
  progress?: (l: string, ms: number) => void,
): Promise<ImportedImage[]> {
  let entries: { Config?: string; RepoTags?: string[] | null; Layers?: string[] }[];
  try {
    entries = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    if (!Array.isArray(entries)) throw new Error('not a list');
  } catch (e) {
    throw fail(file, `manifest.json: ${(e as Error).message}`);
  }
  const inside = (p: unknown, what: string) => {
    if (typeof p !== 'string') throw fail(file, `manifest.json: ${what} is not a path`);
    const n = posix.normalize(p);
    if (n.startsWith('..') || n.startsWith('/')) throw fail(file, `manifest.json: ${what} ${JSON.stringify(p)} leaves the archive`);
    return join(dir, n);
  };
  const out: ImportedImage[] = [];
  for (const [i, e] of entries.entries()) {
    const t0 = performance.now();
    const tags = e.RepoTags ?? [];
    if (!tags.length) throw fail(file, `manifest.json[${i}] has no RepoTags: save the image by name (docker save NAME:TAG)`);
    const cfgBytes = await readFile(inside(e.Config, `[${i}].Config`)).catch(() => {
      throw fail(file, `manifest.json[${i}]: config ${e.Config} is missing`);
    });
    const layerFiles = (e.Layers ?? []).map((l, k) => inside(l, `[${i}].Layers[${k}]`));
    const cfg = parseConfig(cfgBytes, layerFiles.length);
    if (!configMatches(cfg, platform)) throw fail(file, `${tags[0]} is for ${cfg.os}/${cfg.architecture}; this node is ${formatPlatform(platform)}`);
    const configDigest = `sha256:${createHash('sha256').update(cfgBytes).digest('hex')}`;
    await store.putBlob(configDigest, cfgBytes);
    const layers = [];
    for (const [k, lf] of layerFiles.entries()) {
      const size = statSync(lf, { throwIfNoEntry: false })?.size;
      if (size === undefined) throw fail(file, `layer ${e.Layers![k]} is missing`);
      // docker save keeps layers uncompressed (older) or as OCI blobs that may be gzipped (Docker 25+).
      const head = Buffer.alloc(4);
      const fh = await open(lf, 'r');
      await fh.read(head, 0, 4, 0);
      await fh.close();
      const gz = head[0] === 0x1f && head[1] === 0x8b;
      const zst = head.readUInt32LE(0) === 0xfd2fb528;
      const mediaType = gz ? MT.ociLayerGzip : zst ? MT.ociLayerZstd : MT.ociLayer;
      const digest = await sha256File(lf);
      const l = { digest, diffID: cfg.rootfs.diff_ids[k], size, mediaType, compression: layerCompression(mediaType)! };
      if (!store.hasLayer(l.diffID)) await ingestLayer({ store, layer: l, body: createReadStream(lf), keepBlob: !store.hasBlob(digest) });
      layers.push(l);
    }
    const manifest = await store.putJson({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configDigest, size: cfgBytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    });
    for (const tag of tags) {
      let r;
      try {
        r = parseReference(tag);
      } catch (err) {
        throw fail(file, `RepoTags ${JSON.stringify(tag)}: ${(err as Error).message}`);
      }
      const rec: ImageRecord = {
        name: storeName(r),
        target: manifest.digest,
        manifest: manifest.digest,
        config: configDigest,
        layers: layers.map(({ digest, diffID, size, mediaType }) => ({ digest, diffID, size, mediaType })),
        size: manifest.size + cfgBytes.length + layers.reduce((a, l) => a + l.size, 0),
        createdAt: new Date().toISOString(),
      };
      await store.putImage(rec);
      progress?.(`Imported ${rec.name} (${layers.length} layers)`, performance.now() - t0);
      out.push({ name: rec.name, record: rec, ms: performance.now() - t0 });
    }
  }
  return out;
}
