// NodeAffinity: spec.nodeSelector and required node affinity filter nodes (terms ORed, requirements
// ANDed; In, NotIn, Exists, DoesNotExist, Gt, Lt on labels, In/NotIn on the metadata.name field);
// preferred terms add their weights to a node's score.
import type { Node, NodeSelectorRequirement, NodeSelectorTerm, Pod } from '../../../api/types.js';
import { type Plugin, normalizeToMax } from '../framework.js';

export const ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined, has: boolean): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In': return has && values.includes(value!);
    case 'NotIn': return !has || !values.includes(value!);
    case 'Exists': return has;
    case 'DoesNotExist': return !has;
    case 'Gt':
    case 'Lt': {
      if (!has || values.length !== 1 || !/^-?\d+$/.test(value!) || !/^-?\d+$/.test(values[0])) return false;
      const a = BigInt(value!);
      const b = BigInt(values[0]);
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default: return false;
  }
}

/** A term with neither matchExpressions nor matchFields matches no node (as upstream). */
export function termMatchesNode(t: NodeSelectorTerm, node: Node): boolean {
  const exprs = t.matchExpressions ?? [];
  const fields = t.matchFields ?? [];
  if (!exprs.length && !fields.length) return false;
  const labels = node.metadata.labels ?? {};
  for (const r of exprs) if (!requirementMatches(r, labels[r.key], Object.prototype.hasOwnProperty.call(labels, r.key))) return false;
  for (const r of fields) {
    if (r.key !== 'metadata.name' || (r.operator !== 'In' && r.operator !== 'NotIn')) return false;
    if (!requirementMatches(r, node.metadata.name, true)) return false;
  }
  return true;
}

/** nodeSelector and required node affinity (what DaemonSets and topology spreading also honour). */
export function podMatchesNode(pod: Pod, node: Node): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms && !terms.some((t) => termMatchesNode(t, node))) return false;
  return true;
}

export const nodeAffinity: Plugin = {
  name: 'NodeAffinity',
  weight: 2,
  forPod({ pod }) {
    const spec = pod.pod.spec;
    const required = !!spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution || Object.keys(spec?.nodeSelector ?? {}).length > 0;
    const preferred = (spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).filter((p) => p.weight);
    if (!required && !preferred.length) return undefined;
    return {
      filter: required ? (n) => (n.node && podMatchesNode(pod.pod, n.node) ? undefined : [ERR_NODE_AFFINITY]) : undefined,
      score: preferred.length ? (n) => preferred.reduce((s, p) => s + (n.node && termMatchesNode(p.preference, n.node) ? p.weight : 0), 0) : undefined,
      normalize: (s: number[]) => normalizeToMax(s, false),
    };
  },
};
