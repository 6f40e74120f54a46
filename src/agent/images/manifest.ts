// Image manifests, indexes and configs (Docker v2 schema 2 and OCI): the media types, parsing that proves
// every field the puller relies on, and the choice of this node's platform from an index.
import { asObj, asString, isObj } from '../../api/narrow.js';
import { DIGEST } from './reference.js';

export const MT = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNdGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
} as const;

/** What the puller asks for, in order of preference. */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest].join(', ');

export type Compression = 'none' | 'gzip' | 'zstd';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Manifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: (Descriptor & { compression: Compression })[];
}

export interface Index {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

/** The parts of an image config that decide how a container runs, and the layers' uncompressed digests. */
export interface ImageConfigFile {
  architecture: string;
  os: string;
  variant?: string;
  config: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string>;
  };
  rootfs: { type: string; diff_ids: string[] };
}

export class ManifestError extends Error {
  readonly code = 'BadManifest';
}

const MAX_LAYERS = 127;

function descriptor(d: unknown, what: string): Descriptor {
  if (!isObj(d)) throw new ManifestError(`${what} is not an object`);
  if (typeof d.mediaType !== 'string' || !d.mediaType) throw new ManifestError(`${what} has no mediaType`);
  if (typeof d.digest !== 'string' || !DIGEST.test(d.digest)) throw new ManifestError(`${what} digest ${JSON.stringify(d.digest)} is not sha256:<64 hex>`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0)
    throw new ManifestError(`${what} size ${JSON.stringify(d.size)} is not a byte count`);
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (isObj(d.platform)) {
    out.platform = {
      os: String(d.platform.os ?? ''),
      architecture: String(d.platform.architecture ?? ''),
      ...(d.platform.variant ? { variant: String(d.platform.variant) } : {}),
    };
  }
  return out;
}

export function layerCompression(mediaType: string): Compression | undefined {
  switch (mediaType) {
    case MT.dockerLayerGzip:
    case MT.ociLayerGzip:
    case MT.ociLayerNdGzip:
    case MT.dockerForeignLayer:
      return 'gzip';
    case MT.ociLayer:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return 'none';
    case MT.ociLayerZstd:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return 'zstd';
    default:
      return undefined;
  }
}

/** Parses a manifest or an index; `contentType` is the registry's, used when the body has no mediaType. */
export function parseManifest(body: Buffer, contentType?: string): Manifest | Index {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ManifestError('the manifest is not JSON');
  }
  if (!isObj(doc)) throw new ManifestError('the manifest is not a JSON object');
  const j = doc;
  const mediaType: string = asString(j.mediaType) || (contentType ?? '').split(';')[0].trim() || (Array.isArray(j.manifests) ? MT.ociIndex : MT.ociManifest);
  if (j.schemaVersion !== 2)
    throw new ManifestError(`schemaVersion ${JSON.stringify(j.schemaVersion)} is not supported (only 2; Docker's schema 1 was retired)`);
  if (mediaType === MT.ociIndex || mediaType === MT.dockerList) {
    if (!Array.isArray(j.manifests)) throw new ManifestError('the index has no manifests list');
    return { kind: 'index', mediaType, manifests: j.manifests.map((d: unknown, i: number) => descriptor(d, `manifests[${i}]`)) };
  }
  if (mediaType !== MT.ociManifest && mediaType !== MT.dockerManifest)
    throw new ManifestError(`media type ${JSON.stringify(mediaType)} is not an image manifest or index`);
  const config = descriptor(j.config, 'config');
  if (!Array.isArray(j.layers)) throw new ManifestError('the manifest has no layers list');
  if (j.layers.length > MAX_LAYERS) throw new ManifestError(`${j.layers.length} layers: at most ${MAX_LAYERS} are supported`);
  const layers = j.layers.map((d: unknown, i: number) => {
    const desc = descriptor(d, `layers[${i}]`);
    const compression = layerCompression(desc.mediaType);
    if (!compression)
      throw new ManifestError(`layers[${i}] has media type ${desc.mediaType}, which is not a layer this node can unpack (tar, tar+gzip, tar+zstd)`);
    return { ...desc, compression };
  });
  return { kind: 'manifest', mediaType, config, layers };
}

export function parseConfig(body: Buffer, layers: number): ImageConfigFile {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ManifestError('the image config is not JSON');
  }
  const j = asObj(doc);
  const rootfs = asObj(j.rootfs);
  const ids = rootfs.diff_ids;
  if (!Array.isArray(ids) || ids.some((d: unknown) => typeof d !== 'string' || !DIGEST.test(d)))
    throw new ManifestError('the image config has no valid rootfs.diff_ids');
  if (ids.length !== layers) throw new ManifestError(`the image config lists ${ids.length} layers (rootfs.diff_ids), the manifest ${layers}`);
  const c = asObj(j.config);
  const strs = (v: unknown, what: string) => {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new ManifestError(`the image config's ${what} is not a list of strings`);
    return v as string[];
  };
  const labels = (v: unknown): Record<string, string> | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isObj(v) || Object.values(v).some((s) => typeof s !== 'string')) throw new ManifestError("the image config's Labels is not a map of strings");
    return v as Record<string, string>;
  };
  return {
    architecture: String(j.architecture ?? ''),
    os: String(j.os ?? ''),
    ...(j.variant ? { variant: String(j.variant) } : {}),
    config: {
      User: typeof c.User === 'string' ? c.User : undefined,
      Env: strs(c.Env, 'Env'),
      Entrypoint: strs(c.Entrypoint, 'Entrypoint'),
      Cmd: strs(c.Cmd, 'Cmd'),
      WorkingDir: typeof c.WorkingDir === 'string' ? c.WorkingDir : undefined,
      Labels: labels(c.Labels),
    },
    rootfs: { type: String(rootfs.type ?? 'layers'), diff_ids: ids },
  };
}

/** This node's platform in OCI terms (GOARCH names, the ARM variant). */
export function hostPlatform(arch: string = process.arch): Platform {
  const architecture =
    (
      { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' } as Record<
        string,
        string
      >
    )[arch] ?? arch;
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  if (architecture === 'arm') return { os: 'linux', architecture, variant: `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}` };
  return { os: 'linux', architecture };
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/**
 * The index entry for this platform: same os and architecture; for ARM the best variant this machine can
 * run (v8 may run v7 images on arm64 only when asked for exactly; an entry without a variant matches any).
 * Attestation manifests (`unknown/unknown`) are never picked.
 */
export function pickPlatform(index: Index, want: Platform): Descriptor | undefined {
  const same = index.manifests.filter(
    (m) =>
      m.platform &&
      m.platform.os === want.os &&
      m.platform.architecture === want.architecture &&
      (m.mediaType === MT.ociManifest || m.mediaType === MT.dockerManifest),
  );
  if (!want.variant) return same[0];
  const exact = same.find((m) => m.platform!.variant === want.variant);
  if (exact) return exact;
  if (want.architecture === 'arm64') return same.find((m) => !m.platform!.variant);
  // 32-bit ARM: an older variant runs on a newer CPU.
  const n = Number(want.variant.slice(1));
  return same
    .filter((m) => !m.platform!.variant || Number(m.platform!.variant.slice(1)) <= n)
    .sort((a, b) => Number((b.platform!.variant ?? 'v0').slice(1)) - Number((a.platform!.variant ?? 'v0').slice(1)))[0];
}

/** Whether a single-platform image's config can run here (an empty os/architecture is taken as fine). */
export function configMatches(cfg: ImageConfigFile, want: Platform): boolean {
  if (cfg.os && cfg.os !== want.os) return false;
  if (cfg.architecture && cfg.architecture !== want.architecture) return false;
  return true;
}
