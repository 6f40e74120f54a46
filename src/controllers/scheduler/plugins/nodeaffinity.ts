// NodeAffinity: spec.nodeSelector and required node affinity filter nodes (terms ORed, requirements
// ANDed; In, NotIn, Exists, DoesNotExist, Gt, Lt on labels, In/NotIn on the metadata.name field);
// preferred terms add their weights to a node's score.
import { nodeMatchesPod, termMatches } from '../../../api/nodeaffinity.js';
import { type Plugin, normalizeToMax } from '../framework.js';

export const ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";

export const nodeAffinity: Plugin = {
  name: 'NodeAffinity',
  weight: 2,
  forPod({ pod }) {
    const spec = pod.pod.spec;
    const required = !!spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution || Object.keys(spec?.nodeSelector ?? {}).length > 0;
    const preferred = (spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).filter((p) => p.weight);
    if (!required && !preferred.length) return undefined;
    return {
      filter: required ? (n) => (n.node && nodeMatchesPod(pod.pod.spec, n.node) ? undefined : [ERR_NODE_AFFINITY]) : undefined,
      score: preferred.length ? (n) => preferred.reduce((s, p) => s + (n.node && termMatches(p.preference, n.node) ? p.weight : 0), 0) : undefined,
      normalize: (s: number[]) => normalizeToMax(s, false),
    };
  },
};
