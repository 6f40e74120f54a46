// What the Job controller reads from pods: finished or not, when, which completion index, and which
// pod-failure-policy rule a failed pod matches (exit codes from the agent's container statuses).
import { JOB_COMPLETION_INDEX, JOB_TRACKING_FINALIZER } from '../api/batch.js';
import type { ContainerStatus, Job, Pod, PodFailurePolicyRule } from '../api/types.js';

/** The back-off between pod failures: 10 s doubling per consecutive failure, at most 6 minutes. */
export const BACKOFF_BASE_MS = 10_000;
export const BACKOFF_MAX_MS = 6 * 60_000;

export function backoffDelay(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 30), BACKOFF_MAX_MS);
}

export const hasTrackingFinalizer = (p: Pod): boolean => (p.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER);
export const isSucceeded = (p: Pod): boolean => p.status?.phase === 'Succeeded';
export const isTerminal = (p: Pod): boolean => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

/** Failed as the Job counts it: phase Failed, or (without a pod failure policy, which waits for the
 *  phase) deleted before it could finish. */
export function isFailed(p: Pod, job: Job): boolean {
  if (p.status?.phase === 'Failed') return true;
  if (p.status?.phase === 'Succeeded') return false;
  if (!p.metadata.deletionTimestamp) return false;
  // With a policy the phase decides; a pod its node finished deleting (grace 0) never gets one.
  return !job.spec?.podFailurePolicy || p.metadata.deletionGracePeriodSeconds === 0;
}

/** Neither finished nor being deleted. */
export const isActive = (p: Pod): boolean => !isTerminal(p) && !p.metadata.deletionTimestamp;

export function isReady(p: Pod): boolean {
  return (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The completion index of a pod of an Indexed Job (annotation, else label), or undefined. */
export function podIndex(p: Pod, completions: number): number | undefined {
  const v = p.metadata.annotations?.[JOB_COMPLETION_INDEX] ?? p.metadata.labels?.[JOB_COMPLETION_INDEX];
  if (v === undefined || !/^(0|[1-9][0-9]*)$/.test(v)) return undefined;
  const n = Number(v);
  return n < completions ? n : undefined;
}

/** When the pod finished: the latest container finish time, else its last condition change. */
export function finishTime(p: Pod): number | undefined {
  let best: number | undefined;
  for (const s of [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? [])]) {
    const t = Date.parse(String(s.state?.terminated?.finishedAt ?? ''));
    if (Number.isFinite(t) && (best === undefined || t > best)) best = t;
  }
  if (best !== undefined) return best;
  for (const c of p.status?.conditions ?? []) {
    const t = Date.parse(String(c.lastTransitionTime ?? ''));
    if (Number.isFinite(t) && (best === undefined || t > best)) best = t;
  }
  return best;
}

export interface RuleMatch {
  index: number;
  rule: PodFailurePolicyRule;
  /** The message Kubernetes words for a FailJob match. */
  message: string;
}

function exitCodeMatch(rule: PodFailurePolicyRule, p: Pod): ContainerStatus | undefined {
  const oc = rule.onExitCodes;
  if (!oc) return undefined;
  const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
  for (const s of statuses) {
    if (oc.containerName && oc.containerName !== s.name) continue;
    const code = s.state?.terminated?.exitCode;
    // A container that exited 0 did not fail: it never matches, whatever the operator.
    if (code === undefined || code === 0) continue;
    const inValues = oc.values.includes(code);
    if ((oc.operator === 'In' && inValues) || (oc.operator === 'NotIn' && !inValues)) return s;
  }
  return undefined;
}

/** The first rule of the Job's podFailurePolicy a failed pod matches. */
export function matchPodFailurePolicy(job: Job, p: Pod): RuleMatch | undefined {
  const rules = job.spec?.podFailurePolicy?.rules ?? [];
  const ref = `${p.metadata.namespace}/${p.metadata.name}`;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    if (rule.onExitCodes) {
      const s = exitCodeMatch(rule, p);
      if (s) {
        return {
          index: i,
          rule,
          message: `Container ${s.name} for pod ${ref} failed with exit code ${s.state?.terminated?.exitCode} matching ${rule.action} rule at index ${i}`,
        };
      }
    } else if (rule.onPodConditions) {
      for (const pat of rule.onPodConditions) {
        const c = (p.status?.conditions ?? []).find((x) => x.type === pat.type && x.status === (pat.status ?? 'True'));
        if (c) return { index: i, rule, message: `Pod ${ref} has condition ${pat.type} matching ${rule.action} rule at index ${i}` };
      }
    }
  }
  return undefined;
}

/** Order for deleting surplus active pods: unscheduled, pending, not ready, then the newest first. */
export function deletionOrder(a: Pod, b: Pod): number {
  const rank = (p: Pod) => (!p.spec?.nodeName ? 0 : p.status?.phase === 'Pending' ? 1 : !isReady(p) ? 2 : 3);
  const d = rank(a) - rank(b);
  if (d !== 0) return d;
  return String(b.metadata.creationTimestamp ?? '').localeCompare(String(a.metadata.creationTimestamp ?? ''));
}
