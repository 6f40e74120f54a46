// What the files of a ConfigMap, Secret, downwardAPI or projected volume are, from the objects the agent's
// informers hold: pure functions from (pod, objects) to a payload, so an object change re-renders the
// payload and the atomic writer swaps it in only when it differs.
import type * as core from 'kubernetes-types/core/v1.js';
import type { ConfigMap, Pod, Secret } from '../../api/types.js';
import { isQuantity, parseQuantity } from '../../api/quantity.js';
import type { FileProjection } from './atomic.js';

/** The objects a volume or an env var reads, as the agent's caches hold them (undefined: not there). */
export interface ObjectSource {
  configMap(ns: string, name: string): ConfigMap | undefined;
  secret(ns: string, name: string): Secret | undefined;
}

/** A source that cannot be rendered now: the pod waits (with an event naming it) and is retried. */
export class MissingSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingSourceError';
  }
}

/** The kubelet's default mode for volume files (0644, `defaultMode: 420`). */
export const DEFAULT_MODE = 0o644;

/** A key's bytes from a ConfigMap (data, then binaryData) or a Secret (base64 data). */
function configMapBytes(cm: ConfigMap): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
  return out;
}

function secretBytes(s: Secret): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(s.data ?? {})) out.set(k, Buffer.from(v, 'base64'));
  for (const [k, v] of Object.entries(s.stringData ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  return out;
}

/**
 * The files of a set of keys: every key under its own name, or only `items` (key → path, mode), where a
 * missing key is an error unless the source is optional (as the kubelet's configmap and secret plugins).
 */
function keyFiles(
  kind: string,
  name: string,
  keys: Map<string, Buffer> | undefined,
  items: core.KeyToPath[] | undefined,
  optional: boolean | undefined,
  mode: number,
  out: Map<string, FileProjection>,
): void {
  if (!keys) {
    if (optional) return;
    throw new MissingSourceError(`${kind} "${name}" not found`);
  }
  if (!items?.length) {
    for (const [k, data] of keys) out.set(k, { data, mode });
    return;
  }
  for (const it of items) {
    const data = keys.get(it.key);
    if (!data) {
      if (optional) continue;
      throw new MissingSourceError(`configmap references non-existent config key: ${it.key}`.replace('configmap', kind.toLowerCase()));
    }
    out.set(it.path, { data, mode: it.mode ?? mode });
  }
}

export function configMapFiles(
  pod: Pod,
  src: core.ConfigMapVolumeSource | core.ConfigMapProjection,
  objects: ObjectSource,
  defaultMode: number,
  out: Map<string, FileProjection>,
): void {
  const name = src.name ?? '';
  const cm = objects.configMap(pod.metadata.namespace!, name);
  keyFiles('configmap', name, cm && configMapBytes(cm), src.items, src.optional, defaultMode, out);
}

export function secretFiles(
  pod: Pod,
  name: string,
  src: { items?: core.KeyToPath[]; optional?: boolean },
  objects: ObjectSource,
  defaultMode: number,
  out: Map<string, FileProjection>,
): void {
  const s = objects.secret(pod.metadata.namespace!, name);
  keyFiles('secret', name, s && secretBytes(s), src.items, src.optional, defaultMode, out);
}

/** Node facts the downward API falls back to (a container without a limit gets the node's allocatable). */
export interface NodeFacts {
  nodeName: string;
  nodeIP: string;
  /** Allocatable cpu (cores) and memory (bytes) of the node. */
  cpu: number;
  memory: number;
}

/** labels and annotations in the kubelet's format: `key="value"` lines sorted by key, values Go-quoted. */
function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n');
}

/** A fieldRef's value (the downward API's fields, for files and env), or an error naming the field. */
export function fieldRefValue(pod: Pod, fieldPath: string, node: NodeFacts, podIP?: string): string {
  const md = pod.metadata;
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (sub) return (sub[1] === 'labels' ? md.labels : md.annotations)?.[sub[2]] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return md.name ?? '';
    case 'metadata.namespace':
      return md.namespace ?? '';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'metadata.labels':
      return formatMap(md.labels);
    case 'metadata.annotations':
      return formatMap(md.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? node.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
      return node.nodeIP;
    case 'status.hostIPs':
      return node.nodeIP;
    case 'status.podIP':
      return podIP ?? pod.status?.podIP ?? '';
    case 'status.podIPs':
      return podIP ?? pod.status?.podIP ?? '';
    default:
      throw new MissingSourceError(`unsupported fieldPath: ${fieldPath}`);
  }
}

/**
 * A resourceFieldRef's value: the container's limit (else the node's allocatable) or request, divided by
 * the divisor and rounded up, as the kubelet's ExtractContainerResourceValue.
 */
export function resourceFieldValue(pod: Pod, ref: core.ResourceFieldSelector, container: string | undefined, node: NodeFacts): string {
  const name = ref.containerName || container;
  const c = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((x) => x.name === name);
  if (!c) throw new MissingSourceError(`resourceFieldRef: container "${name ?? ''}" not found in pod`);
  const divisor = parseQuantity(ref.divisor ?? '1');
  const div = isQuantity(divisor) && divisor.nanos > 0n ? divisor.nanos : 1_000_000_000n;
  const [kind, res] = ref.resource.split('.') as [string, string];
  const q = (v: string | number | undefined) => {
    const p = v === undefined ? undefined : parseQuantity(v);
    return p && isQuantity(p) ? p.nanos : undefined;
  };
  const nodeValue = res === 'cpu' ? BigInt(Math.round(node.cpu * 1e9)) : BigInt(node.memory) * 1_000_000_000n;
  let nanos: bigint | undefined;
  if (kind === 'limits') nanos = q(c.resources?.limits?.[res]) ?? nodeValue;
  else if (kind === 'requests') nanos = q(c.resources?.requests?.[res]) ?? (res === 'cpu' ? 0n : 0n);
  if (nanos === undefined || (res !== 'cpu' && res !== 'memory' && res !== 'ephemeral-storage')) {
    throw new MissingSourceError(`unsupported container resource: ${ref.resource}`);
  }
  // Rounded up to a whole number of divisors (a cpu request of 250m with divisor 1 reads "1").
  return String((nanos + div - 1n) / div);
}

export function downwardFiles(
  pod: Pod,
  items: core.DownwardAPIVolumeFile[] | undefined,
  node: NodeFacts,
  defaultMode: number,
  out: Map<string, FileProjection>,
): void {
  for (const it of items ?? []) {
    let v: string;
    if (it.fieldRef) v = fieldRefValue(pod, it.fieldRef.fieldPath, node);
    else if (it.resourceFieldRef) v = resourceFieldValue(pod, it.resourceFieldRef, undefined, node);
    else continue;
    out.set(it.path, { data: Buffer.from(v, 'utf8'), mode: it.mode ?? defaultMode });
  }
}
