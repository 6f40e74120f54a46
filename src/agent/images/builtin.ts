// The built-in busybox image, made on the node from Debian's busybox-static and kept in the store as an
// ordinary one-layer image (a tar layer, an OCI config and manifest) named docker.io/library/busybox:latest.
// It stands for docker.io/library/busybox with any tag, so clusters without a registry run busybox pods.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { run } from '../../util/exec.js';
import { ImageError } from './errors.js';
import { ingestLayer } from './layer.js';
import { MT, hostPlatform } from './manifest.js';
import type { ImageRecord, ImageStore } from './store.js';

/** Where Debian's busybox-static installs the binary the built-in image is made of. */
export const BUSYBOX_BINARY = '/bin/busybox';
export const BUILTIN_NAME = 'docker.io/library/busybox:latest';
export const BUILTIN_REPOSITORY = 'docker.io/library/busybox';
/** Bumped whenever the layer below changes, so nodes rebuild. */
const LAYOUT_VERSION = 2;
/** The PATH of the built-in image (Docker's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Whether an ELF file asks for a program interpreter, i.e. is dynamically linked. */
async function isDynamicElf(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(64);
    await fh.read(head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) throw new ImageError('ImageBuildFailed', `${path} is not an ELF executable`);
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(le ? head.readBigUInt64LE(0x20) : head.readBigUInt64BE(0x20)) : u32(head, 0x1c);
    const phentsize = u16(head, is64 ? 0x36 : 0x2a);
    const phnum = u16(head, is64 ? 0x38 : 0x2c);
    const table = Buffer.alloc(phentsize * phnum);
    await fh.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (u32(table, i * phentsize) === 3 /* PT_INTERP */) return true;
    return false;
  } finally {
    await fh.close();
  }
}

/**
 * Makes the built-in image unless the store already has it from the same binary; returns its record.
 * Safe to run from several processes at once (the store's writes are atomic renames).
 */
export async function ensureBuiltin(store: ImageStore, binary = BUSYBOX_BINARY): Promise<ImageRecord> {
  await store.init();
  const st = await stat(binary).catch(() => {
    throw new ImageError('ImageBuildFailed', `${binary} not found: install the Debian package busybox-static (apt-get install busybox-static)`);
  });
  const source = { path: binary, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, layout: LAYOUT_VERSION };
  const known = await store.getImage(BUILTIN_NAME);
  if (known?.builtin && JSON.stringify(known.source) === JSON.stringify(source) && (await store.stored(known))) return known;
  if (await isDynamicElf(binary)) {
    throw new ImageError(
      'ImageBuildFailed',
      `${binary} is dynamically linked and cannot run in an empty rootfs: install the Debian package busybox-static (apt-get install busybox-static)`,
    );
  }
  const { stdout } = await run([binary, '--list']);
  const applets = stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s && s !== 'busybox' && /^[a-z0-9_.[-]+$/.test(s) && s !== '.' && s !== '..');
  const bytes = await readFile(binary);
  const tarFile = store.tmpPath('busybox.tar');
  try {
    // A deterministic tar: fixed times and owners, so the same binary always makes the same digests.
    const p = pack();
    const mtime = new Date(0);
    const out = pipeline(p, createWriteStream(tarFile, { flags: 'wx', mode: 0o600 }));
    const dir = (name: string, mode = 0o755) => p.entry({ name, type: 'directory', mode, mtime, uid: 0, gid: 0 });
    for (const d of ['bin/', 'etc/', 'home/', 'proc/', 'sys/', 'dev/', 'var/']) dir(d);
    dir('tmp/', 0o1777);
    dir('root/', 0o700);
    p.entry({ name: 'bin/busybox', mode: 0o755, mtime, uid: 0, gid: 0, size: bytes.length }, bytes);
    // Hard links like the published image: no symlinks that would point outside a root seen from the host.
    for (const a of applets) p.entry({ name: `bin/${a}`, type: 'link', linkname: 'bin/busybox', mode: 0o755, mtime, uid: 0, gid: 0 });
    const file = (name: string, text: string) => p.entry({ name, mode: 0o644, mtime, uid: 0, gid: 0 }, text);
    file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
    file('etc/group', 'root:x:0:\nnobody:x:65534:\n');
    // Mount points for the files the pod provides, present so a read-only root filesystem still works.
    for (const f of ['hosts', 'hostname', 'resolv.conf']) file(`etc/${f}`, '');
    p.finalize();
    await out;
    const tar = await readFile(tarFile);
    const diffID = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    const plat = hostPlatform();
    const config = await store.putJson({
      architecture: plat.architecture,
      os: plat.os,
      ...(plat.variant ? { variant: plat.variant } : {}),
      config: { Env: [`PATH=${DEFAULT_PATH}`], Cmd: ['sh'], Labels: { 'io.k8ts.builtin': 'busybox-static' } },
      rootfs: { type: 'layers', diff_ids: [diffID] },
      history: [{ created_by: `k8ts: Debian busybox-static ${binary} (${bytes.length} bytes)` }],
    });
    const layer = { digest: diffID, diffID, size: tar.length, mediaType: MT.ociLayer };
    if (!store.hasLayer(diffID)) await ingestLayer({ store, layer: { ...layer, compression: 'none' }, body: createReadStream(tarFile), keepBlob: true });
    const manifest = await store.putJson({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
      layers: [{ mediaType: MT.ociLayer, digest: diffID, size: tar.length }],
    });
    const rec: ImageRecord = {
      name: BUILTIN_NAME,
      target: manifest.digest,
      manifest: manifest.digest,
      config: config.digest,
      layers: [layer],
      size: manifest.size + config.size + tar.length,
      builtin: true,
      source,
      createdAt: new Date().toISOString(),
    };
    await store.putImage(rec);
    return rec;
  } finally {
    await rm(tarFile, { force: true });
  }
}
