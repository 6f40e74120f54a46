// A pod as the scheduler needs it, computed once per pod version: its requests, host ports, affinity
// terms, and the term matching inter-pod affinity and topology spreading share.
import { selectorMatches } from '../../api/labels.js';
import type { LabelSelector, Pod, PodAffinityTerm, WeightedPodAffinityTerm } from '../../api/types.js';
import { type Resources, nonZeroRequests, podRequests } from './resources.js';

export interface PodInfo {
  key: string;
  pod: Pod;
  namespace: string;
  labels: Record<string, string>;
  requests: Resources;
  nonZero: { cpu: number; memory: number };
  /** "protocol/hostIP/hostPort" of every container port with a hostPort. */
  hostPorts: string[];
  requiredAffinity: PodAffinityTerm[];
  requiredAntiAffinity: PodAffinityTerm[];
  preferredAffinity: WeightedPodAffinityTerm[];
  preferredAntiAffinity: WeightedPodAffinityTerm[];
  /** The node it is bound (or assumed) to. */
  node?: string;
}

export function podInfo(pod: Pod, key: string): PodInfo {
  const a = pod.spec?.affinity;
  const hostPorts: string[] = [];
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    for (const p of c.ports ?? []) if (p.hostPort) hostPorts.push(`${p.protocol ?? 'TCP'}/${p.hostIP || '0.0.0.0'}/${p.hostPort}`);
  }
  return {
    key,
    pod,
    namespace: pod.metadata.namespace ?? 'default',
    labels: pod.metadata.labels ?? {},
    requests: podRequests(pod),
    nonZero: nonZeroRequests(pod),
    hostPorts,
    requiredAffinity: a?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [],
    requiredAntiAffinity: a?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [],
    preferredAffinity: a?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [],
    preferredAntiAffinity: a?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [],
    node: pod.spec?.nodeName || undefined,
  };
}

export function hasAffinityTerms(p: PodInfo): boolean {
  return p.requiredAffinity.length + p.requiredAntiAffinity.length + p.preferredAffinity.length + p.preferredAntiAffinity.length > 0;
}

/** Namespace labels, for namespaceSelector (undefined: no such namespace). */
export type NamespaceLabels = (ns: string) => Record<string, string> | undefined;

/** The selector with matchLabelKeys (In the owner's value) and mismatchLabelKeys (NotIn it) merged in. */
export function effectiveSelector(
  sel: LabelSelector | undefined,
  owner: Record<string, string>,
  matchKeys?: string[],
  mismatchKeys?: string[],
): LabelSelector | undefined {
  if (!sel || (!matchKeys?.length && !mismatchKeys?.length)) return sel;
  const exprs = [...(sel.matchExpressions ?? [])];
  for (const k of matchKeys ?? []) if (k in owner) exprs.push({ key: k, operator: 'In', values: [owner[k]] });
  for (const k of mismatchKeys ?? []) if (k in owner) exprs.push({ key: k, operator: 'NotIn', values: [owner[k]] });
  return { ...sel, matchExpressions: exprs };
}

/** Whether an affinity term of `owner` selects `candidate`: its namespaces (the listed ones, those the
 *  namespaceSelector picks, or the owner's own when neither is given) and its label selector. */
export function termMatches(term: PodAffinityTerm, owner: PodInfo, candidate: PodInfo, nsLabels: NamespaceLabels): boolean {
  const listed = term.namespaces ?? [];
  const nsSel = term.namespaceSelector;
  let inNs: boolean;
  if (!listed.length && !nsSel) inNs = candidate.namespace === owner.namespace;
  else inNs = listed.includes(candidate.namespace) || (!!nsSel && selectorMatches(nsSel, nsLabels(candidate.namespace)));
  if (!inNs) return false;
  const sel = effectiveSelector(term.labelSelector, owner.labels, term.matchLabelKeys, term.mismatchLabelKeys);
  return selectorMatches(sel, candidate.labels);
}
