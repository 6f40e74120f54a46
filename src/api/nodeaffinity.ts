// Whether a pod may go to a node by its nodeSelector, required node affinity and tolerations: what the
// DaemonSet controller asks per node and the scheduler's filters, from one definition.
import type { Node, NodeSelectorRequirement, NodeSelectorTerm, PodSpec, Taint, Toleration } from './types.js';

function matchRequirement(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In': return value !== undefined && values.includes(value);
    case 'NotIn': return value === undefined || !values.includes(value);
    case 'Exists': return value !== undefined;
    case 'DoesNotExist': return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || values.length !== 1) return false;
      const a = Number(value);
      const b = Number(values[0]);
      if (!Number.isInteger(a) || !Number.isInteger(b)) return false;
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default: return false;
  }
}

/** One term: all its requirements (a term with none matches no node); matchFields knows metadata.name. */
export function termMatches(t: NodeSelectorTerm, node: Node): boolean {
  const exprs = t.matchExpressions ?? [];
  const fields = t.matchFields ?? [];
  if (!exprs.length && !fields.length) return false;
  const labels = node.metadata.labels ?? {};
  return exprs.every((r) => matchRequirement(r, Object.hasOwn(labels, r.key) ? labels[r.key] : undefined))
    && fields.every((r) => r.key === 'metadata.name' && matchRequirement(r, node.metadata.name));
}

/** nodeSelector and requiredDuringSchedulingIgnoredDuringExecution (terms ORed). */
export function nodeMatchesPod(spec: PodSpec | undefined, node: Node): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const required = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  return required.nodeSelectorTerms.some((t) => termMatches(t, node));
}

/** v1.Toleration.ToleratesTaint. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator ?? 'Equal') {
    case 'Exists': return true;
    case 'Equal': return (t.value ?? '') === (taint.value ?? '');
    default: return false;
  }
}

/** The first taint with one of the effects that no toleration tolerates. */
export function untoleratedTaint(taints: Taint[] | undefined, tolerations: Toleration[] | undefined, effects: string[]): Taint | undefined {
  return (taints ?? []).find((taint) => effects.includes(taint.effect) && !(tolerations ?? []).some((t) => toleratesTaint(t, taint)));
}

/** The node a pod is bound to or pinned to by a matchFields metadata.name In [one node] (util.GetTargetNodeName). */
export function targetNodeName(spec: PodSpec | undefined): string | undefined {
  if (spec?.nodeName) return spec.nodeName;
  for (const t of spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) {
    for (const f of t.matchFields ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
    }
  }
  return undefined;
}
