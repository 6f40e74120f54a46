// A pod's volumes on the node: each one a directory under <pod dir>/volumes/<name> (emptyDir on disk, or a
// tmpfs for medium Memory; Secret, downwardAPI and projected always on a tmpfs, so their data never reaches
// the node's disk), a host directory (hostPath, type-checked; a PVC bound to a local PV), and the files of
// ConfigMap/Secret/downwardAPI/projected volumes kept current with the atomic writer. Containers get them
// as bind mounts in their OCI spec (runtime/spec.ts); nothing here is mounted into a container's root.
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type * as core from 'kubernetes-types/core/v1.js';
import type { Pod } from '../../api/types.js';
import { isQuantity, parseQuantity } from '../../api/quantity.js';
import { bindMount, mountTmpfs, umount } from '../helper.js';
import { mountsUnder, unmountUnder } from '../../lab/mounts.js';
import { currentDir, writePayload, type FileProjection } from './atomic.js';
import { configMapFiles, DEFAULT_MODE, downwardFiles, MissingSourceError, secretFiles, type NodeFacts, type ObjectSource } from './sources.js';
import { tokenSpec, type TokenManager } from './tokens.js';

const VOLUME_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A volume that cannot be set up: the pod waits (FailedMount event with this message) and is retried. */
export class MountError extends Error {
  constructor(
    readonly volume: string,
    message: string,
  ) {
    super(`MountVolume.SetUp failed for volume "${volume}" : ${message}`);
    this.name = 'MountError';
  }
}

/** Where a PVC's data is on this node: the seam to the PV/PVC controllers (a local PV is a directory). */
export interface ClaimResolver {
  /** The host directory of the PV bound to ns/claim, or a reason it is not usable yet. */
  resolve(ns: string, claim: string): Promise<{ path: string; readOnly?: boolean } | { pending: string }>;
}

/** A set-up volume: where it is on the node, and whether the atomic writer manages its files. */
export interface NodeVolume {
  hostPath: string;
  /** ConfigMap, Secret, downwardAPI, projected: always mounted read-only, subPath resolved in `..data`. */
  atomic: boolean;
  /** Mounted read-only whatever the volumeMount says (an atomic-writer volume, a read-only PVC). */
  readOnly: boolean;
}

export interface VolumeManagerOptions {
  objects: ObjectSource;
  node: NodeFacts;
  tokens?: TokenManager;
  /** The audiences of tokens that name none (the API server's own). */
  apiAudiences: string[];
  claims?: ClaimResolver;
  /** A refresh of a volume that is already set up failed (its old files stay): the pod gets a FailedMount event. */
  warn?: (pod: Pod, message: string) => void;
}

/** sizeLimit in bytes (undefined: none set). */
function bytesOf(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  const p = parseQuantity(q);
  if (!isQuantity(p) || p.nanos <= 0n) return undefined;
  return Number((p.nanos + 999_999_999n) / 1_000_000_000n);
}

function lstatOr(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** The kubelet's hostPath type check: the path is (or is made into) what `type` says, else a reason. */
export function checkHostPath(path: string, type: string | undefined): void {
  // The host's own paths: symlinks are followed (an admin's /var/run → /run), as the kubelet's stat does.
  let real: Stats | undefined;
  try {
    real = statSync(path);
  } catch {
    real = undefined;
  }
  const st = real ?? lstatOr(path);
  const is = (what: string, ok: boolean) => {
    if (!ok) throw new Error(`hostPath type check failed: ${path} is not a ${what}`);
  };
  switch (type ?? '') {
    case '':
      return;
    case 'DirectoryOrCreate':
      if (!st) mkdirSync(path, { recursive: true, mode: 0o755 });
      else is('directory', st.isDirectory());
      return;
    case 'FileOrCreate':
      if (!st) {
        mkdirSync(join(path, '..'), { recursive: true, mode: 0o755 });
        writeFileSync(path, '', { mode: 0o644, flag: 'wx' });
      } else is('file', st.isFile());
      return;
    case 'Directory':
      if (!st) throw new Error(`hostPath type check failed: ${path} is not a directory`);
      return is('directory', st.isDirectory());
    case 'File':
      if (!st) throw new Error(`hostPath type check failed: ${path} is not a file`);
      return is('file', st.isFile());
    case 'Socket':
      if (!st) throw new Error(`hostPath type check failed: ${path} is not a socket file`);
      return is('socket file', st.isSocket());
    case 'CharDevice':
      if (!st) throw new Error(`hostPath type check failed: ${path} is not a character device`);
      return is('character device', st.isCharacterDevice());
    case 'BlockDevice':
      if (!st) throw new Error(`hostPath type check failed: ${path} is not a block device`);
      return is('block device', st.isBlockDevice());
    default:
      throw new Error(`hostPath type check failed: unknown type ${JSON.stringify(type)}`);
  }
}

const O_PATH = 0o10000000;

/**
 * Bind-mounts subPath of a volume at target, as the kubelet's volume-subpaths: the path is walked one
 * element at a time from an O_PATH descriptor of the previous one (openat through /proc/self/fd, with
 * O_NOFOLLOW), so a symlink anywhere on the way is refused and a container that swaps a directory for a
 * symlink mid-walk gains nothing; the mount is made from the final descriptor (mount -c: no
 * canonicalization), never from a path string. Missing directories are made (the kubelet does for
 * subPath); atomic-writer volumes resolve in their current timestamped directory.
 */
export async function mountSubPath(root: string, sub: string, atomic: boolean, target: string): Promise<void> {
  if (sub.startsWith('/') || sub.includes('\0')) throw new Error(`subPath ${JSON.stringify(sub)} must be a relative path`);
  const parts = sub.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`subPath ${JSON.stringify(sub)} must not contain '..'`);
  // The volume's own root is trusted as given (a hostPath may be reached through a link, as /var/run is);
  // only what is under it is walked without following links.
  let base = realpathSync(root);
  if (atomic) {
    const cur = currentDir(root);
    if (!cur) throw new Error(`subPath ${JSON.stringify(sub)}: the volume has no data yet`);
    base = cur;
  }
  const fds: number[] = [];
  try {
    let fd = openSync(base, O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    fds.push(fd);
    let st = fstatSync(fd);
    for (let i = 0; i < parts.length; i++) {
      const at = `/proc/self/fd/${fd}/${parts[i]}`;
      const shown = parts.slice(0, i + 1).join('/');
      try {
        fd = openSync(at, O_PATH | constants.O_NOFOLLOW);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || atomic)
          throw new Error(`subPath ${JSON.stringify(sub)}: ${shown}: ${(e as NodeJS.ErrnoException).code}`);
        mkdirSync(at, { mode: 0o755 });
        fd = openSync(at, O_PATH | constants.O_NOFOLLOW);
      }
      fds.push(fd);
      st = fstatSync(fd);
      if (st.isSymbolicLink()) throw new Error(`subPath ${JSON.stringify(sub)}: ${shown} is a symlink, which is not followed`);
      if (i < parts.length - 1 && !st.isDirectory()) throw new Error(`subPath ${JSON.stringify(sub)}: ${shown} is not a directory`);
    }
    // The bind target has the source's type (a file over a file, a directory over a directory).
    if (await isMountPoint(target)) await umount(target);
    mkdirSync(dirname(target), { recursive: true, mode: 0o750 });
    if (st.isDirectory()) mkdirSync(target, { recursive: true, mode: 0o750 });
    else if (!lstatOr(target)) writeFileSync(target, '', { mode: 0o600 });
    await bindMount(`/proc/${process.pid}/fd/${fd}`, target);
  } finally {
    for (const f of fds) closeSync(f);
  }
}

/** A mountinfo path field with its octal escapes (\040 for a space…) undone. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The mount that holds path (the longest mount point above its real path in /proc/self/mountinfo) and its
 * propagation: a mountPropagation other than None only works from a shared mount (Bidirectional) or a
 * shared or slave one (HostToContainer); this is containerd's check, with its wording, so the container
 * fails with a reason that names the fix instead of silently seeing nothing.
 */
export function checkPropagationSource(path: string, mode: 'HostToContainer' | 'Bidirectional', mountinfo?: string): void {
  const real = realpathSync(path);
  let best: { point: string; optional: string[] } | undefined;
  for (const line of (mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (f.length < 7 || sep < 6) continue;
    const point = unescapeMountPath(f[4]);
    const under = point === '/' || real === point || real.startsWith(`${point}/`);
    // Later lines over the same point are the mounts on top: the last one is what the path reaches.
    if (under && (!best || point.length >= best.point.length)) best = { point, optional: f.slice(6, sep) };
  }
  if (!best) throw new Error(`path ${JSON.stringify(path)}: no mount holds it`);
  const shared = best.optional.some((o) => o.startsWith('shared:'));
  const slave = best.optional.some((o) => o.startsWith('master:'));
  if (mode === 'Bidirectional' && !shared)
    throw new Error(`path ${JSON.stringify(path)} is mounted on ${JSON.stringify(best.point)} but it is not a shared mount`);
  if (mode === 'HostToContainer' && !shared && !slave)
    throw new Error(`path ${JSON.stringify(path)} is mounted on ${JSON.stringify(best.point)} but it is not a shared or slave mount`);
}

/** Is dir itself a mount point (in this mount namespace)? */
async function isMountPoint(dir: string): Promise<boolean> {
  return (await mountsUnder(dir)).includes(dir.replace(/\/+$/, ''));
}

async function ensureTmpfs(dir: string, sizeBytes: number | undefined): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  // Every tmpfs is a file system of its own, with a device number its parent directory cannot have (even a
  // tmpfs parent): one stat each instead of reading /proc/self/mountinfo, which a node with a hundred pods
  // holds some hundreds of lines of (5 ms of the agent per pod, read and split for each tmpfs volume).
  if (statSync(dir).dev !== statSync(dirname(dir)).dev) return;
  await mountTmpfs(dir, sizeBytes);
}

/** The payload of an atomic-writer volume, from the objects and the pod as they are now. */
async function payloadOf(pod: Pod, v: core.Volume, o: VolumeManagerOptions): Promise<Map<string, FileProjection>> {
  const out = new Map<string, FileProjection>();
  if (v.configMap) configMapFiles(pod, v.configMap, o.objects, v.configMap.defaultMode ?? DEFAULT_MODE, out);
  else if (v.secret) secretFiles(pod, v.secret.secretName ?? '', v.secret, o.objects, v.secret.defaultMode ?? DEFAULT_MODE, out);
  else if (v.downwardAPI) downwardFiles(pod, v.downwardAPI.items, o.node, v.downwardAPI.defaultMode ?? DEFAULT_MODE, out);
  else if (v.projected) {
    const mode = v.projected.defaultMode ?? DEFAULT_MODE;
    for (const s of v.projected.sources ?? []) {
      if (s.configMap) configMapFiles(pod, s.configMap, o.objects, mode, out);
      if (s.secret) secretFiles(pod, s.secret.name ?? '', s.secret, o.objects, mode, out);
      if (s.downwardAPI) downwardFiles(pod, s.downwardAPI.items, o.node, mode, out);
      if (s.serviceAccountToken) {
        if (!o.tokens) throw new MissingSourceError('no token issuer on this node for serviceAccountToken');
        const token = await o.tokens.token(tokenSpec(pod, s.serviceAccountToken, o.apiAudiences));
        // The token file is readable by the owner only when the pod sets fsGroup (the kubelet's rule); else 0644/defaultMode.
        out.set(s.serviceAccountToken.path, { data: Buffer.from(token), mode });
      }
    }
  }
  return out;
}

const isAtomic = (v: core.Volume) => Boolean(v.configMap || v.secret || v.downwardAPI || v.projected);

/** What a changed object or pod field touches: the volumes a refresh rewrites. */
export type RefreshCause = { kind: 'configMap' | 'secret'; name: string } | { kind: 'pod' };

/** Whether volume v renders anything from the cause (a ConfigMap, a Secret, or the pod's own fields). */
export function volumeReads(v: core.Volume, cause: RefreshCause): boolean {
  if (cause.kind === 'configMap') return v.configMap?.name === cause.name || (v.projected?.sources ?? []).some((s) => s.configMap?.name === cause.name);
  if (cause.kind === 'secret') return v.secret?.secretName === cause.name || (v.projected?.sources ?? []).some((s) => s.secret?.name === cause.name);
  return Boolean(v.downwardAPI) || (v.projected?.sources ?? []).some((s) => s.downwardAPI);
}

export class VolumeManager {
  /**
   * One render-and-write at a time per volume directory, in call order. The full sync and the
   * volumes-only refresh both write a volume; rendering may wait (a token request), so without this a
   * payload rendered before a change could be written after the one rendered after it.
   */
  private writing = new Map<string, Promise<unknown>>();

  constructor(private o: VolumeManagerOptions) {}

  private serial<T>(dir: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.writing.get(dir) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.writing.set(dir, tail);
    void tail.then(() => {
      if (this.writing.get(dir) === tail) this.writing.delete(dir);
    });
    return next;
  }

  /**
   * The volumes-only refresh: rewrites the atomic-writer volumes of a pod that read what changed, and only
   * those already set up (a volume not yet written is the full sync's to set up, with its error reporting).
   * No sandbox, container or status work: a ConfigMap change reaches the files in the time of one render and
   * one `..data` swap per volume. Returns how many volumes changed on disk.
   */
  async refresh(pod: Pod, podDir: string, cause: RefreshCause): Promise<number> {
    let changed = 0;
    for (const v of pod.spec?.volumes ?? []) {
      if (!isAtomic(v) || !volumeReads(v, cause)) continue;
      const dir = this.dirOf(podDir, v.name);
      const wrote = await this.serial(dir, async () => {
        if (!currentDir(dir)) return false;
        try {
          const payload = await payloadOf(pod, v, this.o);
          // Looked at again after the wait, in the same turn as the write: a tear-down that ran meanwhile
          // (tmpfs unmounted) must not get a Secret written onto the node's disk beneath it.
          if (!currentDir(dir)) return false;
          return writePayload(dir, payload);
        } catch (e) {
          // As in the full sync: the last good files stay, the pod is told.
          this.o.warn?.(pod, new MountError(v.name, e instanceof Error ? e.message : String(e)).message);
          return false;
        }
      });
      if (wrote) changed++;
    }
    return changed;
  }

  private dirOf(podDir: string, name: string): string {
    if (!VOLUME_NAME.test(name) || name.length > 63) throw new MountError(name.slice(0, 63), 'invalid volume name');
    return join(podDir, 'volumes', name);
  }

  /**
   * Sets up every volume of pod; idempotent, and the pod loop calls it on every sync, so a second call is
   * the refresh: the atomic writer swaps in what changed (a ConfigMap/Secret informer event or a token due
   * for renewal brings the sync). Throws MountError naming the first volume that cannot be set up; the
   * others are still done.
   */
  async setUp(pod: Pod, podDir: string): Promise<Map<string, NodeVolume>> {
    // All at once: each tmpfs is a mount(8) process, and a pod's start waits for the slowest, not the sum.
    const vols = pod.spec?.volumes ?? [];
    const done = await Promise.allSettled(vols.map((v) => this.setUpOne(pod, podDir, v)));
    const out = new Map<string, NodeVolume>();
    for (const [i, r] of done.entries()) {
      if (r.status === 'fulfilled') out.set(vols[i].name, r.value);
      else throw r.reason instanceof MountError ? r.reason : new MountError(vols[i].name, r.reason instanceof Error ? r.reason.message : String(r.reason));
    }
    return out;
  }

  private async setUpOne(pod: Pod, podDir: string, v: core.Volume): Promise<NodeVolume> {
    if (v.hostPath) {
      checkHostPath(v.hostPath.path, v.hostPath.type);
      return { hostPath: v.hostPath.path, atomic: false, readOnly: false };
    }
    if (v.persistentVolumeClaim) {
      if (!this.o.claims) throw new MountError(v.name, 'persistent volume claims are not served on this node yet');
      const r = await this.o.claims.resolve(pod.metadata.namespace!, v.persistentVolumeClaim.claimName);
      if ('pending' in r) throw new MountError(v.name, r.pending);
      // The resolver made the directory if the PV allows that; a missing one was its answer, not ours to make.
      return { hostPath: r.path, atomic: false, readOnly: Boolean(v.persistentVolumeClaim.readOnly) || r.readOnly === true };
    }
    const dir = this.dirOf(podDir, v.name);
    if (v.emptyDir) {
      if (v.emptyDir.medium === 'Memory') await ensureTmpfs(dir, bytesOf(v.emptyDir.sizeLimit));
      else mkdirSync(dir, { recursive: true, mode: 0o777 });
      return { hostPath: dir, atomic: false, readOnly: false };
    }
    if (!isAtomic(v)) throw new MountError(v.name, 'volume type not supported by this node');
    // Secret, downwardAPI and projected are memory-backed (as the kubelet's); a ConfigMap is on disk.
    if (v.configMap) mkdirSync(dir, { recursive: true, mode: 0o755 });
    else await ensureTmpfs(dir, undefined);
    await this.serial(dir, async () => {
      try {
        writePayload(dir, await payloadOf(pod, v, this.o));
      } catch (e) {
        const err = new MountError(v.name, e instanceof Error ? e.message : String(e));
        if (!currentDir(dir)) throw err;
        // Set up before: a source that vanished or a token that could not be renewed leaves the files as
        // they were (the kubelet's refresh does the same), the running containers keep their last good set,
        // and the failure is told (a FailedMount event) without holding up the rest of the pod's sync.
        this.o.warn?.(pod, err.message);
      }
    });
    return { hostPath: dir, atomic: true, readOnly: true };
  }

  /** Unmounts the pod's tmpfs volumes and removes its volume directories (host paths and PVs stay). */
  async tearDown(podDir: string): Promise<void> {
    // The subPath binds first (they may show a part of a tmpfs volume), then the volumes.
    for (const dir of [join(podDir, 'volume-subpaths'), join(podDir, 'volumes')]) {
      await unmountUnder(dir);
      // Nothing may be mounted there now: removing through a mount would delete what it shows.
      if ((await mountsUnder(dir)).length) throw new Error(`mounts remain under ${dir}`);
      rmSync(dir, { recursive: true, force: true });
    }
    this.o.tokens?.forgetPod(podDir.split('/').pop() ?? '');
  }
}
