// The arithmetic of Deployments, kept pure so it can be tested on its own: maxSurge/maxUnavailable as
// upstream rounds them, the pod-template hash, revisions and the annotations a Deployment puts on its
// ReplicaSets, how many pods the new and old ReplicaSets may have, conditions, and proportional scaling.
import { scaledValue } from '../api/intstr.js';
import type { Deployment, DeploymentCondition, DeploymentStatus, PodTemplateSpec, ReplicaSet } from '../api/types.js';
import { now } from '../util/time.js';

export const REVISION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const CHANGE_CAUSE = 'kubernetes.io/change-cause';

/** Deployment annotations never copied to its ReplicaSets. */
const NOT_COPIED = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  REVISION_HISTORY,
  DESIRED_REPLICAS,
  MAX_REPLICAS,
  'deprecated.deployment.rollback.to',
]);

export const replicasOf = (d: Deployment): number => d.spec?.replicas ?? 1;
export const rsReplicas = (rs: ReplicaSet | undefined): number => rs?.spec?.replicas ?? 0;
export const isRollingUpdate = (d: Deployment): boolean => (d.spec?.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';

/** maxSurge rounded up, maxUnavailable rounded down; both 0 makes maxUnavailable 1 (ResolveFenceposts). */
export function fenceposts(d: Deployment): { surge: number; unavailable: number } {
  const ru = d.spec?.strategy?.rollingUpdate;
  const desired = replicasOf(d);
  const surge = scaledValue(ru?.maxSurge ?? '25%', desired, true);
  const unavailable = scaledValue(ru?.maxUnavailable ?? '25%', desired, false);
  if (surge === 0 && unavailable === 0) return { surge, unavailable: 1 };
  return { surge, unavailable };
}

export function maxSurge(d: Deployment): number {
  return isRollingUpdate(d) ? fenceposts(d).surge : 0;
}

export function maxUnavailable(d: Deployment): number {
  if (!isRollingUpdate(d) || replicasOf(d) === 0) return 0;
  return Math.min(fenceposts(d).unavailable, replicasOf(d));
}

// ---- the pod-template hash ----

/** JSON with keys sorted at every level: the same template always hashes the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

/** The template's hash as upstream spells it: FNV-32a of the template (and the collision count, when
 *  set), its decimal digits mapped onto an alphabet without vowels (rand.SafeEncodeString). */
export function templateHash(t: PodTemplateSpec | undefined, collisionCount?: number): string {
  let h = 0x811c9dc5;
  const feed = (s: string) => {
    for (const b of Buffer.from(s, 'utf8')) {
      h ^= b;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  };
  feed(canonical(t ?? {}));
  if (collisionCount !== undefined && collisionCount !== null) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(collisionCount >>> 0);
    for (const x of b) {
      h ^= x;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return [...String(h >>> 0)].map((c) => SAFE[c.charCodeAt(0) % SAFE.length]).join('');
}

/** Templates equal but for the pod-template-hash label (EqualIgnoreHash). */
export function equalIgnoreHash(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  const strip = (t: PodTemplateSpec | undefined) => {
    const c = structuredClone(t ?? {});
    if (c.metadata?.labels) {
      delete c.metadata.labels[POD_TEMPLATE_HASH];
      if (!Object.keys(c.metadata.labels).length) delete c.metadata.labels;
    }
    if (c.metadata && !Object.keys(c.metadata).length) delete c.metadata;
    return canonical(c);
  };
  return strip(a) === strip(b);
}

// ---- revisions ----

export function revisionOf(o: { metadata: { annotations?: Record<string, string> } } | undefined): number {
  const v = o?.metadata.annotations?.[REVISION];
  return v && /^[0-9]+$/.test(v) ? Number(v) : 0;
}

export function maxRevision(rss: ReplicaSet[]): number {
  return rss.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
}

/** The annotations a Deployment gives its new ReplicaSet (SetNewReplicaSetAnnotations); true when changed. */
export function setNewReplicaSetAnnotations(d: Deployment, rs: ReplicaSet, newRevision: number, exists: boolean): boolean {
  const a = (rs.metadata.annotations ??= {});
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (NOT_COPIED.has(k) || a[k] === v) continue;
    a[k] = v;
    changed = true;
  }
  const old = a[REVISION];
  const oldRev = old && /^[0-9]+$/.test(old) ? Number(old) : 0;
  if (oldRev < newRevision) {
    a[REVISION] = String(newRevision);
    changed = true;
    // A reused ReplicaSet (a rollback) remembers the revisions it had.
    if (old && exists) a[REVISION_HISTORY] = a[REVISION_HISTORY] ? `${a[REVISION_HISTORY]},${old}` : old;
  }
  if (!exists) {
    a[DESIRED_REPLICAS] = String(replicasOf(d));
    a[MAX_REPLICAS] = String(replicasOf(d) + maxSurge(d));
    changed = true;
  }
  return changed;
}

/** desired-replicas and max-replicas on a ReplicaSet; true when changed. */
export function setReplicasAnnotations(rs: ReplicaSet, desired: number, max: number): boolean {
  const a = (rs.metadata.annotations ??= {});
  if (a[DESIRED_REPLICAS] === String(desired) && a[MAX_REPLICAS] === String(max)) return false;
  a[DESIRED_REPLICAS] = String(desired);
  a[MAX_REPLICAS] = String(max);
  return true;
}

function intAnnotation(rs: ReplicaSet, key: string): number | undefined {
  const v = rs.metadata.annotations?.[key];
  return v !== undefined && /^[0-9]+$/.test(v) ? Number(v) : undefined;
}

export const desiredReplicasAnnotation = (rs: ReplicaSet): number | undefined => intAnnotation(rs, DESIRED_REPLICAS);

// ---- pod counts ----

export const sumSpec = (rss: (ReplicaSet | undefined)[]): number => rss.reduce((n, rs) => n + rsReplicas(rs), 0);
export const sumStatus = (rss: (ReplicaSet | undefined)[], f: 'replicas' | 'readyReplicas' | 'availableReplicas'): number =>
  rss.reduce((n, rs) => n + (rs?.status?.[f] ?? 0), 0);

/** How many replicas the new ReplicaSet may have now (NewRSNewReplicas). */
export function newRSNewReplicas(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet): number {
  if (!isRollingUpdate(d)) return replicasOf(d);
  const current = sumSpec(all);
  const maxTotal = replicasOf(d) + maxSurge(d);
  if (current >= maxTotal) return rsReplicas(newRS);
  const up = Math.min(maxTotal - current, replicasOf(d) - rsReplicas(newRS));
  return rsReplicas(newRS) + up;
}

export const byCreation = (a: ReplicaSet, b: ReplicaSet): number =>
  (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');

export const byRevision = (a: ReplicaSet, b: ReplicaSet): number => revisionOf(a) - revisionOf(b) || byCreation(a, b);

/** The ReplicaSet to scale when only one may have pods (FindActiveOrLatest). */
export function activeOrLatest(newRS: ReplicaSet | undefined, old: ReplicaSet[]): ReplicaSet | undefined {
  if (!newRS && !old.length) return undefined;
  const all = [...old, ...(newRS ? [newRS] : [])].sort(byCreation).reverse();
  const active = all.filter((rs) => rsReplicas(rs) > 0);
  if (active.length === 0) return newRS ?? all[0];
  if (active.length === 1) return active[0];
  return undefined;
}

/** The size each active ReplicaSet gets when a rolling Deployment is scaled mid-rollout (proportional scaling). */
export function proportionalSizes(d: Deployment, active: ReplicaSet[]): Map<ReplicaSet, number> {
  const allowed = replicasOf(d) > 0 ? replicasOf(d) + maxSurge(d) : 0;
  const toAdd = allowed - sumSpec(active);
  const sorted = [...active].sort((a, b) => {
    if (rsReplicas(a) !== rsReplicas(b)) return toAdd > 0 ? rsReplicas(b) - rsReplicas(a) : rsReplicas(b) - rsReplicas(a);
    return toAdd > 0 ? -byCreation(a, b) : byCreation(a, b);
  });
  const sizes = new Map<ReplicaSet, number>();
  let added = 0;
  for (const rs of sorted) {
    let p = 0;
    if (toAdd !== 0 && rsReplicas(rs) !== 0 && toAdd !== added) {
      let fraction: number;
      if (replicasOf(d) === 0) fraction = -rsReplicas(rs);
      else {
        const annotated = intAnnotation(rs, MAX_REPLICAS) ?? d.status?.replicas ?? 0;
        fraction = annotated > 0 ? Math.round((rsReplicas(rs) * (replicasOf(d) + maxSurge(d))) / annotated) - rsReplicas(rs) : 0;
      }
      const allowedLeft = toAdd - added;
      p = toAdd > 0 ? Math.min(fraction, allowedLeft) : Math.max(fraction, allowedLeft);
    }
    sizes.set(rs, rsReplicas(rs) + p);
    added += p;
  }
  if (sorted.length && toAdd !== 0) {
    const first = sorted[0];
    sizes.set(first, Math.max(0, sizes.get(first)! + toAdd - added));
  }
  return sizes;
}

// ---- conditions and status ----

export function getCondition(s: DeploymentStatus | undefined, type: string): DeploymentCondition | undefined {
  return s?.conditions?.find((c) => c.type === type);
}

export function newCondition(type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string): DeploymentCondition {
  const t = now();
  return { type, status, reason, message, lastUpdateTime: t, lastTransitionTime: t };
}

/** Set a condition; one with the same status and reason is left as it is (SetDeploymentCondition). */
export function setCondition(s: DeploymentStatus, c: DeploymentCondition): void {
  const cur = getCondition(s, c.type);
  if (cur && cur.status === c.status && cur.reason === c.reason) return;
  if (cur && cur.status === c.status) c.lastTransitionTime = cur.lastTransitionTime;
  s.conditions = [...(s.conditions ?? []).filter((x) => x.type !== c.type), c];
}

export function removeCondition(s: DeploymentStatus, type: string): void {
  if (!s.conditions) return;
  s.conditions = s.conditions.filter((c) => c.type !== type);
  if (!s.conditions.length) delete s.conditions;
}

/** Every replica updated and available, and the spec observed (DeploymentComplete). */
export function deploymentComplete(d: Deployment, s: DeploymentStatus): boolean {
  const n = replicasOf(d);
  return (
    (s.updatedReplicas ?? 0) === n && (s.replicas ?? 0) === n && (s.availableReplicas ?? 0) === n && (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0)
  );
}

/** Some progress since the status last written (DeploymentProgressing). */
export function deploymentProgressing(d: Deployment, s: DeploymentStatus): boolean {
  const o = d.status ?? {};
  const oldOld = (o.replicas ?? 0) - (o.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (
    (s.updatedReplicas ?? 0) > (o.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (s.readyReplicas ?? 0) > (o.readyReplicas ?? 0) ||
    (s.availableReplicas ?? 0) > (o.availableReplicas ?? 0)
  );
}

export const hasProgressDeadline = (d: Deployment): boolean => {
  const p = d.spec?.progressDeadlineSeconds;
  return p !== undefined && p !== null && p !== 2 ** 31 - 1;
};

/** No progress for progressDeadlineSeconds since the Progressing condition was last updated. */
export function deploymentTimedOut(d: Deployment, s: DeploymentStatus, nowMs = Date.now()): boolean {
  if (!hasProgressDeadline(d)) return false;
  const c = getCondition(s, 'Progressing');
  if (!c) return false;
  if (c.reason === 'NewReplicaSetAvailable') return false;
  if (c.reason === 'ProgressDeadlineExceeded') return true;
  const from = Date.parse(c.lastUpdateTime ?? '');
  return Number.isFinite(from) && from + d.spec!.progressDeadlineSeconds! * 1000 < nowMs;
}

/** The status the ReplicaSets add up to, with the Available condition (calculateStatus). */
export function calculateStatus(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet | undefined): DeploymentStatus {
  const available = sumStatus(all, 'availableReplicas');
  const s: DeploymentStatus = {
    observedGeneration: d.metadata.generation ?? 0,
    replicas: sumStatus(all, 'replicas'),
    updatedReplicas: sumStatus([newRS], 'replicas'),
    readyReplicas: sumStatus(all, 'readyReplicas'),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, sumSpec(all) - available),
  };
  if (d.status?.collisionCount !== undefined) s.collisionCount = d.status.collisionCount;
  if (d.status?.conditions?.length) s.conditions = d.status.conditions.map((c) => ({ ...c }));
  if (available >= replicasOf(d) - maxUnavailable(d)) {
    setCondition(s, newCondition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'));
  } else {
    setCondition(s, newCondition('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'));
  }
  return s;
}

/** Status equal for writing purposes (conditions included). */
export function sameStatus(a: DeploymentStatus | undefined, b: DeploymentStatus): boolean {
  return JSON.stringify(normalize(a ?? {})) === JSON.stringify(normalize(b));
}

function normalize(s: DeploymentStatus): DeploymentStatus {
  return {
    observedGeneration: s.observedGeneration ?? 0,
    replicas: s.replicas ?? 0,
    updatedReplicas: s.updatedReplicas ?? 0,
    readyReplicas: s.readyReplicas ?? 0,
    availableReplicas: s.availableReplicas ?? 0,
    unavailableReplicas: s.unavailableReplicas ?? 0,
    collisionCount: s.collisionCount,
    conditions: (s.conditions ?? []).map((c) => ({ ...c })).sort((x, y) => x.type.localeCompare(y.type)),
  };
}
