// The images a k8ts node can run: nodes pull nothing, so the only image is busybox, built on the node
// from Debian's busybox-static, and every reference that means "busybox" resolves to it.
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { chmod, copyFile, link, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../util/exec.js';
import { ImageError } from './errors.js';

/** Where Debian's busybox-static installs the binary the built-in image is made of. */
export const BUSYBOX_BINARY = '/bin/busybox';

/** Bumped whenever the rootfs layout below changes, so nodes rebuild. */
const LAYOUT_VERSION = 1;

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The parts of an OCI image config that decide how a container runs. */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
}

/** What a reference names, before the node looks at its own image store. */
export interface ResolvedImage {
  name: 'busybox';
  /** The reference spelled out: `docker.io/library/busybox:<tag>[@sha256:…]`. */
  ref: string;
  tag: string;
  digest?: string;
}

/** A built image on this node. */
export interface ImageRecord {
  name: string;
  /** `sha256:` + hex digest of the layout version and the busybox binary. */
  id: string;
  rootfs: string;
  config: ImageConfig;
  layout: number;
  /** Identity of the binary it was built from, so a changed package triggers a rebuild. */
  source: { path: string; size: number; mtimeMs: number; ino: number };
}

export const BUSYBOX_CONFIG: ImageConfig = { entrypoint: [], cmd: ['sh'], env: [`PATH=${DEFAULT_PATH}`], workingDir: '' };

const AVAILABLE = "this k8ts cluster runs only its built-in images (busybox, from Debian's busybox-static); use image: busybox";

// One component of a repository path, as the distribution reference grammar has it.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/;
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * Maps an image reference to the built-in image: `busybox`, `busybox:<tag>`, `library/busybox`,
 * `docker.io/library/busybox`, `index.docker.io/library/busybox`, each with an optional `@sha256:` digest.
 * Throws ImageError InvalidImageName for references that do not parse, ErrImagePull for any other image.
 */
export function resolveImage(ref: string): ResolvedImage {
  const invalid = (why: string) => new ImageError('InvalidImageName', `invalid image reference "${ref}": ${why}`, ref);
  if (ref === '' || ref !== ref.trim()) throw invalid('empty or surrounded by spaces');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw invalid('a digest must be sha256: followed by 64 lowercase hex digits');
  }
  const parts = rest.split('/');
  let domain = 'docker.io';
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) throw invalid(`bad registry host "${domain}"`);
  }
  let tag = 'latest';
  const last = parts[parts.length - 1];
  const colon = last.indexOf(':');
  if (colon >= 0) {
    tag = last.slice(colon + 1);
    parts[parts.length - 1] = last.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(`bad tag "${tag}"`);
  }
  for (const p of parts) {
    if (!PATH_COMPONENT.test(p)) {
      throw invalid(p.toLowerCase() !== p ? `repository name "${parts.join('/')}" must be lowercase` : `bad repository name "${parts.join('/')}"`);
    }
  }
  if (DOCKER_HUB.has(domain)) {
    domain = 'docker.io';
    if (parts.length === 1) parts.unshift('library');
  }
  const repository = `${domain}/${parts.join('/')}`;
  if (repository !== 'docker.io/library/busybox') throw new ImageError('ErrImagePull', `image "${ref}" is not available: ${AVAILABLE}`, ref);
  return { name: 'busybox', ref: `${repository}:${tag}${digest ? `@${digest}` : ''}`, tag, digest };
}

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

function recordPath(imagesDir: string, name: string): string {
  return join(imagesDir, `${name}.json`);
}

async function readRecord(imagesDir: string, name: string): Promise<ImageRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordPath(imagesDir, name), 'utf8')) as ImageRecord;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function buildBusybox(imagesDir: string, binary: string): Promise<ImageRecord> {
  const st = await stat(binary).catch(() => {
    throw new ImageError('ImageBuildFailed', `${binary} not found: install the Debian package busybox-static (apt-get install busybox-static)`);
  });
  const source = { path: binary, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
  const known = await readRecord(imagesDir, 'busybox');
  if (known && known.layout === LAYOUT_VERSION && JSON.stringify(known.source) === JSON.stringify(source) && (await exists(join(known.rootfs, 'bin/busybox')))) {
    return known;
  }
  if (await isDynamicElf(binary)) {
    throw new ImageError('ImageBuildFailed', `${binary} is dynamically linked and cannot run in an empty rootfs: install the Debian package busybox-static (apt-get install busybox-static)`);
  }
  const bytes = await readFile(binary);
  const hex = createHash('sha256').update(`k8ts busybox layout ${LAYOUT_VERSION}\n`).update(bytes).digest('hex');
  const dir = join(imagesDir, 'busybox', hex.slice(0, 16));
  const rootfs = join(dir, 'rootfs');
  const record: ImageRecord = { name: 'busybox', id: `sha256:${hex}`, rootfs, config: BUSYBOX_CONFIG, layout: LAYOUT_VERSION, source };
  if (!(await exists(join(dir, 'image.json')))) {
    // Built beside its final place and renamed in, so an interrupted or concurrent build is never seen half-made.
    const tmp = join(imagesDir, 'busybox', `.build-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await populate(join(tmp, 'rootfs'), binary);
      await writeFile(join(tmp, 'image.json'), JSON.stringify(record, null, 2) + '\n');
      await rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  const tmpRecord = `${recordPath(imagesDir, 'busybox')}.${process.pid}.tmp`;
  await writeFile(tmpRecord, JSON.stringify(record, null, 2) + '\n');
  await rename(tmpRecord, recordPath(imagesDir, 'busybox'));
  return record;
}

async function populate(rootfs: string, binary: string): Promise<void> {
  for (const d of ['bin', 'etc', 'tmp', 'root', 'home', 'proc', 'sys', 'dev', 'var']) await mkdir(join(rootfs, d), { recursive: true });
  await chmod(rootfs, 0o755);
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await chmod(join(rootfs, 'root'), 0o700);
  const bin = join(rootfs, 'bin', 'busybox');
  // A copy, not a link to the host's file: the image must not change under running containers when the
  // package is upgraded, and hard links to files one does not own may be refused (protected_hardlinks).
  await copyFile(binary, bin, fsc.COPYFILE_EXCL);
  await chmod(bin, 0o755);
  const { stdout } = await run([binary, '--list']);
  const applets = stdout.split('\n').map((s) => s.trim()).filter((s) => s && s !== 'busybox' && !s.includes('/') && s !== '.' && s !== '..');
  // Hard links like the published image: no symlinks that would point outside a root seen from the host.
  for (const a of applets) await link(bin, join(rootfs, 'bin', a));
  const etc = join(rootfs, 'etc');
  await writeFile(join(etc, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
  await writeFile(join(etc, 'group'), 'root:x:0:\nnobody:x:65534:\n');
  // Mount points for the files the pod provides, present so a read-only root filesystem still works.
  for (const f of ['hosts', 'hostname', 'resolv.conf']) await writeFile(join(etc, f), '');
}

/**
 * Builds the built-in images under imagesDir unless they are already there and current (idempotent,
 * safe to run concurrently). Returns their records.
 */
export async function ensureImages(imagesDir: string, opts: { busybox?: string } = {}): Promise<ImageRecord[]> {
  await mkdir(join(imagesDir, 'busybox'), { recursive: true });
  return [await buildBusybox(imagesDir, opts.busybox ?? BUSYBOX_BINARY)];
}

/** The record of a built image; ImageError ErrImagePull if ensureImages has not built it. */
export async function loadImage(imagesDir: string, name: string): Promise<ImageRecord> {
  const rec = await readRecord(imagesDir, name);
  if (!rec) throw new ImageError('ErrImagePull', `image ${name} is not built on this node (under ${imagesDir}): run k8ts setup or restart the agent`, name);
  return rec;
}
