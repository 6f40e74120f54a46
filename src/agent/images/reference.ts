// Image references as Docker and the kubelet read them: `name[:tag][@digest]`, normalised so `nginx`
// means `docker.io/library/nginx:latest` (the distribution reference grammar, docker.io's aliases).
import { ImageError } from './errors.js';

export const DOCKER_HUB = 'docker.io';
/** Where docker.io's API actually is. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

export interface Reference {
  /** Registry host[:port], `docker.io` for Docker Hub. */
  domain: string;
  /** Repository path inside the registry: `library/nginx`. */
  path: string;
  tag?: string;
  digest?: string;
}

// One component of a repository path, as the distribution reference grammar has it.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$|^\[[0-9a-fA-F:.]+\](?::[0-9]{1,5})?$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const MAX_NAME = 255;

/**
 * Parses and normalises a reference. `docker.io` gets `library/` for one-component names; a reference
 * without tag or digest gets `latest`. Throws ImageError InvalidImageName naming what is wrong.
 */
export function parseReference(ref: string): Reference {
  const invalid = (why: string) => new ImageError('InvalidImageName', `invalid image reference "${ref}": ${why}`, ref);
  if (typeof ref !== 'string' || ref === '' || ref !== ref.trim()) throw invalid('empty or surrounded by spaces');
  if (ref.length > 4096) throw invalid('longer than 4096 characters');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid('a digest must be sha256: followed by 64 lowercase hex digits');
  }
  const parts = rest.split('/');
  let domain = DOCKER_HUB;
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost' || parts[0].startsWith('['))) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) throw invalid(`bad registry host "${domain}"`);
  }
  let tag: string | undefined;
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
  if (HUB_ALIASES.has(domain)) {
    domain = DOCKER_HUB;
    if (parts.length === 1) parts.unshift('library');
  }
  const path = parts.join('/');
  if (domain.length + 1 + path.length > MAX_NAME) throw invalid(`repository name longer than ${MAX_NAME} characters`);
  if (!tag && !digest) tag = 'latest';
  return { domain, path, tag, digest };
}

/** `docker.io/library/nginx` */
export function repository(r: Reference): string {
  return `${r.domain}/${r.path}`;
}

/** The reference spelled out in full: `docker.io/library/nginx:latest`, `…@sha256:…`, or both. */
export function formatReference(r: Reference): string {
  return `${repository(r)}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/**
 * The name an image is kept under in the store: the tag if there is one (`repo:tag`), else the digest.
 * A reference with both is kept by its digest (the tag is only informative, as in containerd).
 */
export function storeName(r: Reference): string {
  return r.digest ? `${repository(r)}@${r.digest}` : `${repository(r)}:${r.tag ?? 'latest'}`;
}

/** The kubelet's default pull policy: Always for `:latest` or no tag, IfNotPresent otherwise (digests too). */
export function defaultPullPolicy(ref: string): 'Always' | 'IfNotPresent' {
  try {
    const r = parseReference(ref);
    return !r.digest && r.tag === 'latest' ? 'Always' : 'IfNotPresent';
  } catch {
    return 'IfNotPresent';
  }
}
