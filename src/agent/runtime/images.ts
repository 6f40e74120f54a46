// Images as the runtime runs them: a stored image (src/agent/images) turned into overlay lowerdirs and the
// parts of its config that decide how a container runs. The built-in busybox is made into the store here.
import { ensureBuiltin, BUSYBOX_BINARY } from '../images/builtin.js';
import { findLocal, repoDigest } from '../images/local.js';
import { formatReference, parseReference } from '../images/reference.js';
import { ImageStore, type StoredImage } from '../images/store.js';
import { ImageError } from './errors.js';

export { BUSYBOX_BINARY };

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The parts of an OCI image config that decide how a container runs. */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  /** `user[:group]`, names or numbers, resolved against the image's /etc/passwd and /etc/group. */
  user?: string;
}

/** An image on this node, ready to be a container's root. */
export interface ImageRecord {
  /** The name it is stored under. */
  name: string;
  /** The config digest (the image id). */
  id: string;
  /** `<repository>@<digest>`: what the kubelet reports as imageID. */
  repoDigest: string;
  /** Unpacked layers, topmost first (overlay lowerdir order). */
  lowerdirs: string[];
  /** The bottom layer: the whole root of a one-layer image such as the built-in busybox. */
  rootfs: string;
  config: ImageConfig;
}

export const BUSYBOX_CONFIG: ImageConfig = { entrypoint: [], cmd: ['sh'], env: [`PATH=${DEFAULT_PATH}`], workingDir: '' };

export function toRuntimeImage(ref: string, s: StoredImage): ImageRecord {
  const c = s.config.config;
  const env = c.Env ?? [];
  return {
    name: s.record.name,
    id: s.record.config,
    repoDigest: repoDigest(ref, s),
    lowerdirs: s.lowerdirs,
    rootfs: s.lowerdirs[s.lowerdirs.length - 1],
    config: {
      entrypoint: c.Entrypoint ?? [],
      cmd: c.Cmd ?? [],
      // As Docker and containerd: a PATH when the image sets none.
      env: env.some((e) => e.startsWith('PATH=')) ? env : [`PATH=${DEFAULT_PATH}`, ...env],
      workingDir: c.WorkingDir ?? '',
      ...(c.User ? { user: c.User } : {}),
    },
  };
}

/** Spells a reference out (`busybox` → `docker.io/library/busybox:latest`); ImageError InvalidImageName. */
export function resolveImage(ref: string): { ref: string } {
  return { ref: formatReference(parseReference(ref)) };
}

/**
 * Makes the built-in images in the store under imagesDir unless they are already there and current
 * (idempotent, safe to run concurrently). Returns their records.
 */
export async function ensureImages(imagesDir: string, opts: { busybox?: string } = {}): Promise<ImageRecord[]> {
  const store = new ImageStore(imagesDir);
  const rec = await ensureBuiltin(store, opts.busybox ?? BUSYBOX_BINARY);
  return [toRuntimeImage(rec.name, (await store.stored(rec))!)];
}

/** The image `ref` names on this node; ImageError ErrImagePull when it is not here (pull it first). */
export async function loadImage(imagesDir: string | ImageStore, ref: string): Promise<ImageRecord> {
  const store = typeof imagesDir === 'string' ? new ImageStore(imagesDir) : imagesDir;
  const s = await findLocal(store, ref);
  if (!s) throw new ImageError('ErrImagePull', `image "${ref}" is not present on this node (under ${store.root}): pull it first`, ref);
  return toRuntimeImage(ref, s);
}
