// The kubelet's image manager for k8ts: before a container starts, make sure its image is on the node as
// the pull policy says (Always / IfNotPresent / Never, `:latest` meaning Always), with the kubelet's
// events and reasons (Pulling, Pulled, ErrImagePull then ImagePullBackOff with back-off, ErrImageNeverPull),
// credentials from the pod's imagePullSecrets; the Node's status.images; and image garbage collection when
// the store's disk passes a high threshold, down to a low one, never touching images in use.
import { SECRETS } from '../../api/kinds.js';
import { statfs } from 'node:fs/promises';
import type { Pod } from '../../api/types.js';
import type { Client } from '../../client/types.js';
import type { EventRecorder } from '../../client/events.js';
import { ImageError } from './errors.js';
import { Keyring } from './keyring.js';
import { findLocal } from './local.js';
import type { Puller } from './pull.js';
import { defaultPullPolicy, parseReference, repository } from './reference.js';
import type { ImageRecord, ImageStore, StoredImage } from './store.js';
import { Backoff } from '../backoff.js';

const BACKOFF_BASE_MS = 10_000;
const BACKOFF_MAX_MS = 300_000;
/** The kubelet lists at most this many images in status.images (nodeStatusMaxImages). */
const MAX_NODE_IMAGES = 50;

export type EnsureResult =
  | { ok: true; image: StoredImage }
  | { ok: false; reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName'; message: string; retryMs?: number };

export interface ImageGcOptions {
  /** Percent of the store's disk in use above which images are removed (the kubelet's --image-gc-high-threshold). */
  highPercent: number;
  /** …until usage is below this (--image-gc-low-threshold). */
  lowPercent: number;
  /** Images unused for less than this are kept (--image-minimum-gc-age). */
  minAgeMs: number;
}

export interface ImageServiceOptions {
  store: ImageStore;
  puller: Puller;
  client: Client;
  events: EventRecorder;
  gc?: ImageGcOptions;
  log?: (line: string) => void;
  /** Disk usage of the store's filesystem in percent (tests replace it). */
  diskUsage?: () => Promise<number>;
  /** The back-off's clock (tests move it; default Date.now). */
  clock?: () => number;
  /** The store's own start (the agent's built-in image): every lookup, listing and GC waits for it, whether it
   *  succeeds or not. */
  ready?: Promise<unknown>;
}

/** Go's time.Duration printing, to the millisecond, as the kubelet's Pulled event shows it. */
export function goDuration(ms: number): string {
  const r = Math.round(ms);
  if (r < 1000) return `${r}ms`;
  if (r < 60_000) return `${(r / 1000).toFixed(3).replace(/\.?0+$/, '')}s`;
  const m = Math.floor(r / 60_000);
  return `${m}m${((r % 60_000) / 1000).toFixed(3).replace(/\.?0+$/, '')}s`;
}

export class ImageService {
  /** Pull back-off per pod uid and image: 10 s doubling to 5 min, forgiven after 10 minutes without a failure. */
  private backoff: Backoff;
  /** The last pull error of each key in back-off (for the ImagePullBackOff message). */
  private pullErrors = new Map<string, string>();
  /** When each image (by config digest) was last used to start a container, or first seen. */
  private lastUsed = new Map<string, number>();
  private readonly o: ImageServiceOptions;
  /** o.ready, settled either way. */
  private readonly ready: Promise<void>;

  constructor(o: ImageServiceOptions) {
    this.o = o;
    this.backoff = new Backoff(BACKOFF_BASE_MS, BACKOFF_MAX_MS, o.clock);
    this.ready = (o.ready ?? Promise.resolve()).then(
      () => {},
      () => {},
    );
  }

  get store(): ImageStore {
    return this.o.store;
  }

  /** Makes sure the image of one of the pod's containers is here; records the kubelet's events. */
  async ensure(pod: Pod, c: { name: string; image?: string; imagePullPolicy?: string }): Promise<EnsureResult> {
    const ref = String(c.image ?? '');
    const ev = (type: 'Normal' | 'Warning', reason: string, msg: string) => this.o.events.record(pod, type, reason, msg);
    let r;
    try {
      r = parseReference(ref);
    } catch (e) {
      const msg = `Failed to apply default image tag "${ref}": couldn't parse image name "${ref}": ${(e as Error).message}`;
      await ev('Warning', 'InspectFailed', msg);
      await ev('Warning', 'Failed', 'Error: InvalidImageName');
      return { ok: false, reason: 'InvalidImageName', message: msg };
    }
    const policy = c.imagePullPolicy || defaultPullPolicy(ref);
    await this.ready;
    const present = await findLocal(this.o.store, ref);
    if (present && (policy !== 'Always' || present.record.builtin)) {
      this.used(present.record);
      // Not waited for (the kubelet's recorder is asynchronous): a POST round trip before every container start.
      void ev('Normal', 'Pulled', `Container image "${ref}" already present on machine`);
      return { ok: true, image: present };
    }
    if (!present && policy === 'Never') {
      const msg = `Container image "${ref}" is not present with pull policy of Never`;
      await ev('Warning', 'ErrImageNeverPull', msg);
      await ev('Warning', 'Failed', 'Error: ErrImageNeverPull');
      return { ok: false, reason: 'ErrImageNeverPull', message: msg };
    }
    const key = `${pod.metadata.uid}_${ref}`;
    const wait = this.backoff.remaining(key);
    if (wait > 0) {
      await ev('Normal', 'BackOff', `Back-off pulling image "${ref}"`);
      // As the kubelet's container start: every image failure also reads "Error: <reason>" (reason Failed).
      await ev('Warning', 'Failed', 'Error: ImagePullBackOff');
      return {
        ok: false,
        reason: 'ImagePullBackOff',
        message: `Back-off pulling image "${ref}": ErrImagePull: ${this.pullErrors.get(key) ?? 'unknown'}`,
        retryMs: wait,
      };
    }
    const keyring = await this.keyring(pod);
    await ev('Normal', 'Pulling', `Pulling image "${ref}"`);
    const t0 = Date.now();
    try {
      const res = await this.o.puller.pull(ref, { keyring });
      this.backoff.delete(key);
      this.pullErrors.delete(key);
      this.used(res.record);
      const took = goDuration(Date.now() - t0);
      await ev(
        'Normal',
        'Pulled',
        `Successfully pulled image "${ref}" in ${goDuration(res.ms)} (${took} including waiting). Image size: ${res.record.size} bytes.`,
      );
      return { ok: true, image: res.stored };
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const delay = this.backoff.next(key);
      this.pullErrors.set(key, msg);
      const reason = e instanceof ImageError && e.code === 'InvalidImageName' ? 'InvalidImageName' : 'ErrImagePull';
      await ev('Warning', 'Failed', `Failed to pull image "${ref}": ${msg}`);
      await ev('Warning', 'Failed', `Error: ${reason}`);
      this.o.log?.(`k8ts agent: pull of ${repository(r)} for ${pod.metadata.namespace}/${pod.metadata.name}: ${msg}`);
      return { ok: false, reason, message: msg, retryMs: delay };
    }
  }

  /** The pod's imagePullSecrets, read from the API; a missing or unreadable one is a Warning, not a stop. */
  private async keyring(pod: Pod): Promise<Keyring> {
    const k = new Keyring();
    const missing: string[] = [];
    for (const ref of (pod.spec?.imagePullSecrets ?? []) as { name?: string }[]) {
      if (!ref?.name) continue;
      const s = await this.o.client.get(SECRETS, pod.metadata.namespace, ref.name).catch(() => undefined);
      if (!s) missing.push(ref.name);
      else k.addSecret(s);
    }
    if (missing.length) {
      await this.o.events.record(
        pod,
        'Warning',
        'FailedToRetrieveImagePullSecret',
        `Unable to retrieve some image pull secrets (${missing.join(', ')}); attempting to pull the image may not succeed.`,
      );
    }
    for (const p of k.problems) await this.o.events.record(pod, 'Warning', 'FailedToRetrieveImagePullSecret', p);
    return k;
  }

  private used(rec: ImageRecord): void {
    this.lastUsed.set(rec.config, Date.now());
  }

  /** Forget a pod's back-off entries (it is gone). */
  forgetPod(uid: string): void {
    this.backoff.forget(`${uid}_`);
    for (const k of [...this.pullErrors.keys()]) if (k.startsWith(`${uid}_`)) this.pullErrors.delete(k);
  }

  /** status.images as the kubelet reports them: names = repo digests then tags, largest first, at most 50. */
  async nodeImages(): Promise<{ names: string[]; sizeBytes: number }[]> {
    const byId = new Map<string, { digests: Set<string>; tags: Set<string>; size: number }>();
    await this.ready;
    for (const rec of await this.o.store.listImages()) {
      const e = byId.get(rec.config) ?? { digests: new Set<string>(), tags: new Set<string>(), size: rec.size };
      const r = parseReference(rec.name);
      e.digests.add(`${repository(r)}@${rec.target}`);
      if (r.tag && !r.digest) e.tags.add(rec.name);
      byId.set(rec.config, e);
    }
    return [...byId.values()]
      .sort((a, b) => b.size - a.size)
      .slice(0, MAX_NODE_IMAGES)
      .map((e) => ({ names: [...e.digests, ...e.tags], sizeBytes: e.size }));
  }

  private async usage(): Promise<number> {
    if (this.o.diskUsage) return this.o.diskUsage();
    const s = await statfs(this.o.store.root);
    return s.blocks ? (100 * (s.blocks - s.bavail)) / s.blocks : 0;
  }

  /**
   * Image GC as the kubelet's: above highPercent, remove images no container uses (oldest use first, none
   * younger than minAgeMs, never the built-in) until below lowPercent. inUse holds image ids (config digests).
   */
  async gc(inUse: Set<string>): Promise<{ removed: string[]; usageBefore: number; usageAfter: number }> {
    const g = this.o.gc;
    await this.ready;
    const usageBefore = await this.usage();
    const removed: string[] = [];
    // Not while this agent pulls: a pull's first layers are in the store before the record that names them.
    if (!g || usageBefore < g.highPercent || this.o.puller.busy) return { removed, usageBefore, usageAfter: usageBefore };
    const now = Date.now();
    const recs = await this.o.store.listImages();
    const ids = [...new Set(recs.map((r) => r.config))];
    for (const id of ids) if (!this.lastUsed.has(id)) this.lastUsed.set(id, now);
    const candidates = ids
      .filter((id) => !inUse.has(id) && !recs.some((r) => r.config === id && r.builtin) && now - this.lastUsed.get(id)! >= g.minAgeMs)
      .sort((a, b) => this.lastUsed.get(a)! - this.lastUsed.get(b)!);
    let usage = usageBefore;
    for (const id of candidates) {
      if (usage < g.lowPercent) break;
      for (const r of recs.filter((x) => x.config === id)) {
        await this.o.store.removeImage(r.name);
        removed.push(r.name);
      }
      this.lastUsed.delete(id);
      // A minute's grace: content another process (k8ts image import) has just written but not yet named stays.
      await this.o.store.sweep(60_000);
      usage = await this.usage();
    }
    if (usage >= g.lowPercent) {
      this.o.log?.(
        `k8ts agent: image GC: disk usage ${usage.toFixed(1)}% is still above the low threshold ${g.lowPercent}% after removing ${removed.length} unused images`,
      );
    }
    return { removed, usageBefore, usageAfter: usage };
  }
}
