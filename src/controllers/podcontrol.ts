// What the controllers of pods share: a pod's controller reference, which pods count as active, and the
// order in which a controller gives pods up when it scales down (upstream's ActivePodsWithRanks).
import { isPodReady } from '../api/conditions.js';
import type { KObject, OwnerReference, Pod } from '../api/types.js';

/** The owner reference with controller: true, if any. */
export function controllerRefOf(o: KObject): OwnerReference | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller === true);
}

/** Not finished and not being deleted: a pod a controller counts toward its replicas. */
export function podActive(p: Pod): boolean {
  const phase = p.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !p.metadata.deletionTimestamp;
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };
export const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';

function deletionCost(p: Pod): number {
  const v = p.metadata.annotations?.[POD_DELETION_COST];
  if (v === undefined || !/^-?[0-9]+$/.test(v)) return 0;
  const n = Number(v);
  return n >= -(2 ** 31) && n < 2 ** 31 ? n : 0;
}

function readyTime(p: Pod): number {
  const c = p.status?.conditions?.find((x) => x.type === 'Ready' && x.status === 'True');
  const t = c?.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
  return Number.isFinite(t) ? t : 0;
}

function restarts(p: Pod): number {
  return Math.max(0, ...(p.status?.containerStatuses ?? []).map((c) => c.restartCount ?? 0));
}

function created(p: Pod): number {
  const t = Date.parse(p.metadata.creationTimestamp ?? '');
  return Number.isFinite(t) ? t : 0;
}

/** Timestamps compared on a log2 scale of their age (upstream's LogarithmicScaleDown): pods of similar
 *  age are equal, so the other criteria and randomness spread deletions over nodes. */
function logBucket(t: number, nowMs: number): number {
  const age = Math.max(0, nowMs - t) / 1000;
  return age < 1 ? 0 : Math.floor(Math.log2(age)) + 1;
}

/**
 * The n pods to delete first: unscheduled before scheduled, Pending before Unknown before Running, not
 * ready before ready, lower pod-deletion-cost first, pods on nodes crowded with related pods first,
 * ready for less time first, more restarts first, newer first.
 */
export function rankPodsForDeletion(pods: Pod[], related: Pod[], n: number, nowMs = Date.now()): Pod[] {
  const perNode = new Map<string, number>();
  for (const p of related) {
    const node = p.spec?.nodeName;
    if (node && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed' && !p.metadata.deletionTimestamp)
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
  }
  const rank = (p: Pod) => (p.spec?.nodeName ? (perNode.get(p.spec.nodeName) ?? 0) : 0);
  const sorted = [...pods].sort((a, b) => {
    const an = a.spec?.nodeName ? 1 : 0;
    const bn = b.spec?.nodeName ? 1 : 0;
    if (an !== bn) return an - bn;
    const ap = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0;
    const bp = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
    if (ap !== bp) return ap - bp;
    const ar = isPodReady(a) ? 1 : 0;
    const br = isPodReady(b) ? 1 : 0;
    if (ar !== br) return ar - br;
    const ac = deletionCost(a);
    const bc = deletionCost(b);
    if (ac !== bc) return ac - bc;
    if (rank(a) !== rank(b)) return rank(b) - rank(a);
    if (ar && br) {
      const at = logBucket(readyTime(a), nowMs);
      const bt = logBucket(readyTime(b), nowMs);
      if (at !== bt) return at - bt;
    }
    if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
    const ab = logBucket(created(a), nowMs);
    const bb = logBucket(created(b), nowMs);
    if (ab !== bb) return ab - bb;
    return created(b) - created(a);
  });
  return sorted.slice(0, n);
}
