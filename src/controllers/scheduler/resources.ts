// Resource amounts as the scheduler counts them: milli-CPU, bytes, pods and extended resources as plain
// numbers, a pod's effective request (containers, init containers and sidecars, overhead) as upstream.
import { isQuantity, parseQuantity } from '../../api/quantity.js';
import type { Container, Node, Pod } from '../../api/types.js';

/** Resource name → amount: cpu in millicores, everything else in whole units (bytes for memory). */
export type Resources = Map<string, number>;

/** The defaults upstream scores with when a container requests nothing (its requests still count 0). */
export const DEFAULT_MILLI_CPU = 100;
export const DEFAULT_MEMORY = 200 * 1024 * 1024;

/** A quantity as the scheduler counts it (cpu in milli, rounded up as upstream's MilliValue). */
export function amount(name: string, q: unknown): number {
  const p = parseQuantity(q);
  if (!isQuantity(p)) return 0;
  const scale = name === 'cpu' ? 1_000_000n : 1_000_000_000n;
  const v = p.nanos / scale + (p.nanos % scale > 0n ? 1n : 0n);
  return Number(v);
}

function fromList(list: Record<string, unknown> | undefined): Resources {
  const r: Resources = new Map();
  for (const [k, v] of Object.entries(list ?? {})) r.set(k, amount(k, v));
  return r;
}

function addInto(a: Resources, b: Resources): void {
  for (const [k, v] of b) a.set(k, (a.get(k) ?? 0) + v);
}

function maxInto(a: Resources, b: Resources): void {
  for (const [k, v] of b) if (v > (a.get(k) ?? 0)) a.set(k, v);
}

function containerRequests(c: Container): Resources {
  return fromList(c.resources?.requests as Record<string, unknown> | undefined);
}

/** What a pod asks of a node: the larger of its containers' sum (plus sidecars) and each init
 *  container's request (plus the sidecars started before it), then the pod overhead. */
export function podRequests(pod: Pod): Resources {
  const spec = pod.spec;
  const sum: Resources = new Map();
  for (const c of spec?.containers ?? []) addInto(sum, containerRequests(c));
  const sidecars: Resources = new Map();
  const initMax: Resources = new Map();
  for (const c of spec?.initContainers ?? []) {
    const req = containerRequests(c);
    if (c.restartPolicy === 'Always') {
      addInto(sidecars, req);
      maxInto(initMax, sidecars);
    } else {
      const withSidecars = new Map(sidecars);
      addInto(withSidecars, req);
      maxInto(initMax, withSidecars);
    }
  }
  addInto(sum, sidecars);
  maxInto(sum, initMax);
  addInto(sum, fromList(spec?.overhead as Record<string, unknown> | undefined));
  return sum;
}

/** cpu and memory for scoring: a container asking nothing counts the upstream defaults. */
export function nonZeroRequests(pod: Pod): { cpu: number; memory: number } {
  let cpu = 0;
  let memory = 0;
  for (const c of pod.spec?.containers ?? []) {
    const r = containerRequests(c);
    cpu += r.has('cpu') ? r.get('cpu')! : DEFAULT_MILLI_CPU;
    memory += r.has('memory') ? r.get('memory')! : DEFAULT_MEMORY;
  }
  return { cpu, memory };
}

const DEFAULT_MAX_PODS = 110;

/** The node's allocatable (capacity when allocatable is absent); pods defaults to 110. */
export function allocatable(node: Node): Resources {
  const r = fromList((node.status?.allocatable ?? node.status?.capacity) as Record<string, unknown> | undefined);
  if (!(r.get('pods')! > 0)) r.set('pods', DEFAULT_MAX_PODS);
  return r;
}
