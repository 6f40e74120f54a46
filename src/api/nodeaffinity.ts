// Whether a pod may go to a node by its nodeSelector, required node affinity and tolerations: one
// definition for the scheduler's plugins, topology spreading, taint eviction and the DaemonSet controller.
import type { Node, NodeSelectorRequirement, NodeSelectorTerm, PodSpec, Taint, Toleration } from './types.js';

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined, has: boolean): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return has && values.includes(value!);
    case 'NotIn':
      return !has || !values.includes(value!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      // Integers of any size, as upstream parses them (strconv.ParseInt would reject beyond 64 bits; a label
      // that long is no integer a user meant).
      if (!has || values.length !== 1 || !/^-?\d+$/.test(value!) || !/^-?\d+$/.test(values[0])) return false;
      const a = BigInt(value!);
      const b = BigInt(values[0]);
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** One term: all its requirements; a term with neither matchExpressions nor matchFields matches no node
 *  (as upstream); matchFields knows only metadata.name with In and NotIn. */
export function termMatches(t: NodeSelectorTerm, node: Node): boolean {
  const exprs = t.matchExpressions ?? [];
  const fields = t.matchFields ?? [];
  if (!exprs.length && !fields.length) return false;
  const labels = node.metadata.labels ?? {};
  for (const r of exprs) if (!requirementMatches(r, labels[r.key], Object.hasOwn(labels, r.key))) return false;
  for (const r of fields) {
    if (r.key !== 'metadata.name' || (r.operator !== 'In' && r.operator !== 'NotIn')) return false;
    if (!requirementMatches(r, node.metadata.name, true)) return false;
  }
  return true;
}

/** nodeSelector and requiredDuringSchedulingIgnoredDuringExecution (terms ORed). */
export function nodeMatchesPod(spec: PodSpec | undefined, node: Node): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const terms = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  return !terms || terms.some((t) => termMatches(t, node));
}

/** Upstream's Toleration.ToleratesTaint: an empty effect matches every effect, an empty key with Exists
 *  matches every key, Exists ignores the value, Equal (or no operator) compares it. */
export function toleratesTaint(t: Toleration, taint: Pick<Taint, 'key' | 'value' | 'effect'>): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  const op = t.operator || 'Equal';
  if (op === 'Exists') return true;
  if (op === 'Equal') return (t.value ?? '') === (taint.value ?? '');
  return false;
}

/** The first taint with one of the effects that no toleration tolerates. */
export function untoleratedTaint(taints: Taint[] | undefined, tolerations: Toleration[] | undefined, effects: readonly string[]): Taint | undefined {
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
