// Pulls an image into the store: the name resolved at each endpoint in turn (mirrors, then the registry),
// an index narrowed to this node's platform, the config and the layers fetched, verified and unpacked
// (three at a time, each layer once however many pulls want it), then the name recorded. Concurrent pulls
// of one image share one promise.
import { performance } from 'node:perf_hooks';
import { closeAgents, RegistrySession } from './client.js';
import { ImageError, NotFoundError, UnauthorizedError } from './errors.js';
import type { Keyring } from './keyring.js';
import { DigestMismatchError, ingestLayer } from './layer.js';
import {
  type Descriptor,
  type Platform,
  ManifestError,
  configMatches,
  formatPlatform,
  hostPlatform,
  parseConfig,
  parseManifest,
  pickPlatform,
} from './manifest.js';
import { formatReference, parseReference, storeName, type Reference } from './reference.js';
import { Registries, type Endpoint } from './registries.js';
import { collect, type ImageRecord, type ImageStore, type LayerRef, type StoredImage } from './store.js';

const MAX_CONFIG = 16 << 20;
const LAYER_CONCURRENCY = 3;

export interface PullProgress {
  /** 'resolved': the manifest is known; 'layer': one layer is in the store (pulled or already there). */
  step: 'resolved' | 'layer' | 'done';
  detail: string;
  ms: number;
}

export interface PullOptions {
  keyring?: Keyring;
  progress?: (p: PullProgress) => void;
}

export interface PullResult {
  record: ImageRecord;
  stored: StoredImage;
  /** Compressed bytes fetched by this pull (0 when every layer was already there). */
  fetched: number;
  ms: number;
}

/** Errors worth trying the next endpoint for; anything else (a wrong platform, a bad manifest) ends the pull. */
function endpointSpecific(e: unknown): boolean {
  return (
    e instanceof NotFoundError || e instanceof UnauthorizedError || e instanceof DigestMismatchError || (e as { unreachable?: boolean })?.unreachable === true
  );
}

export class Puller {
  private pulls = new Map<string, Promise<PullResult>>();
  private layerPulls = new Map<string, Promise<number>>();

  constructor(
    readonly store: ImageStore,
    readonly registries: Registries = Registries.empty(),
    readonly platform: Platform = hostPlatform(),
  ) {}

  /** Pulls ref; ImageError ErrImagePull (or InvalidImageName) with a message that says what went wrong. */
  pull(ref: string, opts: PullOptions = {}): Promise<PullResult> {
    const r = parseReference(ref);
    const key = `${storeName(r)}|${
      opts.keyring
        ? opts.keyring
            .lookup(r.domain, r.path)
            .map((c) => c.source)
            .join(',')
        : ''
    }`;
    let p = this.pulls.get(key);
    if (!p) {
      p = this.pullNow(ref, r, opts).finally(() => this.pulls.delete(key));
      this.pulls.set(key, p);
    }
    return p;
  }

  private async pullNow(ref: string, r: Reference, opts: PullOptions): Promise<PullResult> {
    await this.store.init();
    const t0 = performance.now();
    const failures: string[] = [];
    const eps = this.registries.endpoints(r.domain, r.path);
    for (const ep of eps) {
      try {
        return await this.fromEndpoint(r, ep, opts, t0);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if (!endpointSpecific(e)) throw new ImageError('ErrImagePull', `failed to pull image "${ref}": ${msg}`, ref);
        failures.push(ep.mirror ? `mirror ${ep.url}${ep.prefix}: ${msg}` : msg);
      }
    }
    // The registry's own answer first: it is what the user named.
    throw new ImageError('ErrImagePull', `failed to pull image "${ref}": ${failures.reverse().join('; ')}`, ref);
  }

  private async fromEndpoint(r: Reference, ep: Endpoint, opts: PullOptions, t0: number): Promise<PullResult> {
    // As containerd: pull-secret credentials for the image's registry go only to that registry's own host;
    // a mirror gets the ones keyed by its own host and its registries.yaml configs entry.
    const creds = [...(opts.keyring?.lookup(ep.host, ep.mirror ? ep.path : r.path) ?? []), ...(ep.credentials ? [ep.credentials] : [])];
    const s = new RegistrySession(ep, creds);
    const top = await s.manifest(r.digest ?? r.tag!);
    if (r.digest && top.digest !== r.digest) {
      throw new DigestMismatchError(`${ep.host}/${ep.path}: the manifest for ${r.digest} has digest ${top.digest}`);
    }
    let parsed = parseManifest(top.body, top.contentType);
    await this.store.putBlob(top.digest, top.body);
    let manifestDigest = top.digest;
    if (parsed.kind === 'index') {
      const d = pickPlatform(parsed, this.platform);
      if (!d) {
        const have = parsed.manifests.filter((m) => m.platform && m.platform.os !== 'unknown').map((m) => formatPlatform(m.platform));
        throw new ManifestError(
          `no image for this node's platform ${formatPlatform(this.platform)} in ${formatReference(r)} (the index lists ${have.join(', ') || 'no platforms'})`,
        );
      }
      const child = await s.manifest(d.digest);
      if (child.digest !== d.digest) throw new DigestMismatchError(`${ep.host}/${ep.path}: the manifest for ${d.digest} has digest ${child.digest}`);
      parsed = parseManifest(child.body, child.contentType);
      if (parsed.kind !== 'manifest') throw new ManifestError(`the index entry ${d.digest} for ${formatPlatform(d.platform)} is not an image manifest`);
      await this.store.putBlob(child.digest, child.body);
      manifestDigest = child.digest;
    }
    const manifest = parsed;
    const configBytes = this.store.hasBlob(manifest.config.digest)
      ? await this.store.readBlob(manifest.config.digest)
      : await this.fetchSmall(s, manifest.config);
    const config = parseConfig(configBytes, manifest.layers.length);
    if (!configMatches(config, this.platform)) {
      throw new ManifestError(
        `image ${formatReference(r)} is for ${config.os}/${config.architecture}${config.variant ? `/${config.variant}` : ''}; this node is ${formatPlatform(this.platform)}`,
      );
    }
    await this.store.putBlob(manifest.config.digest, configBytes);
    opts.progress?.({ step: 'resolved', detail: `${formatReference(r)} → ${manifestDigest} (${manifest.layers.length} layers)`, ms: performance.now() - t0 });
    const layers: (LayerRef & { compression: (typeof manifest.layers)[number]['compression'] })[] = manifest.layers.map((l, i) => ({
      digest: l.digest,
      diffID: config.rootfs.diff_ids[i],
      size: l.size,
      mediaType: l.mediaType,
      compression: l.compression,
    }));
    let fetched = 0;
    let next = 0;
    const worker = async () => {
      while (next < layers.length) {
        const l = layers[next++];
        const lt = performance.now();
        const got = await this.layer(s, l);
        fetched += got;
        opts.progress?.({
          step: 'layer',
          detail: `${l.digest.slice(0, 19)} ${got ? `pulled ${fmtBytes(l.size)}` : 'already present'}`,
          ms: performance.now() - lt,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(LAYER_CONCURRENCY, layers.length) }, worker));
    const record: ImageRecord = {
      name: storeName(r),
      target: top.digest,
      manifest: manifestDigest,
      config: manifest.config.digest,
      layers: layers.map(({ digest, diffID, size, mediaType }) => ({ digest, diffID, size, mediaType })),
      size: top.body.length + configBytes.length + layers.reduce((a, l) => a + l.size, 0),
      createdAt: new Date().toISOString(),
    };
    await this.store.putImage(record);
    const stored = await this.store.stored(record);
    if (!stored) throw new Error(`image ${record.name}: a layer went missing right after the pull (removed by another process?)`);
    const ms = performance.now() - t0;
    opts.progress?.({ step: 'done', detail: `${record.name} ${record.config.slice(0, 19)} ${fmtBytes(record.size)}`, ms });
    return { record, stored, fetched, ms };
  }

  private async fetchSmall(s: RegistrySession, d: Descriptor): Promise<Buffer> {
    if (d.size > MAX_CONFIG) throw new ManifestError(`config ${d.digest} is ${d.size} bytes (at most ${MAX_CONFIG})`);
    const { body } = await s.blob(d.digest);
    const bytes = await collect(body, d.size);
    return bytes;
  }

  /** One layer into the store; resolves with the bytes fetched (0 if it was there). Coalesced by diffID. */
  private layer(s: RegistrySession, l: LayerRef & { compression: 'none' | 'gzip' | 'zstd' }): Promise<number> {
    if (this.store.hasLayer(l.diffID)) return Promise.resolve(0);
    let p = this.layerPulls.get(l.diffID);
    if (!p) {
      p = (async () => {
        const { body } = await s.blob(l.digest);
        await ingestLayer({ store: this.store, layer: l, body, keepBlob: true });
        return l.size;
      })().finally(() => this.layerPulls.delete(l.diffID));
      this.layerPulls.set(l.diffID, p);
    }
    return p;
  }

  /** Whether a pull is in progress. */
  get busy(): boolean {
    return this.pulls.size > 0;
  }

  close(): void {
    closeAgents();
  }
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}
