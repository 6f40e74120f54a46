// TaintToleration: a node's NoSchedule and NoExecute taints keep out pods that do not tolerate them; its
// PreferNoSchedule taints count against it in scoring.
import { toleratesTaint, untoleratedTaint } from '../../../api/nodeaffinity.js';
import type { Node, Taint } from '../../../api/types.js';
import { readinessTaintKey } from '../../nodelifecycle.js';
import { type Plugin, normalizeToMax } from '../framework.js';

/** The node's taints, plus the NoSchedule taint its Ready condition calls for when the node lifecycle
 *  controller has not written it yet (upstream's kubelet registers with it; here a node's Ready condition
 *  is trusted from the moment the scheduler sees it). */
export function schedulingTaints(node: Node): Taint[] {
  const taints = node.spec?.taints ?? [];
  const key = readinessTaintKey(node);
  if (!key || taints.some((t) => t.key === key && t.effect === 'NoSchedule')) return taints;
  return [...taints, { key, effect: 'NoSchedule' }];
}

export const taintToleration: Plugin = {
  name: 'TaintToleration',
  weight: 3,
  forPod({ pod }) {
    const tolerations = pod.pod.spec?.tolerations ?? [];
    const preferTolerations = tolerations.filter((t) => !t.effect || t.effect === 'PreferNoSchedule');
    return {
      filter(n) {
        const taint = untoleratedTaint(n.node ? schedulingTaints(n.node) : [], tolerations, ['NoSchedule', 'NoExecute']);
        return taint ? [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`] : undefined;
      },
      score(n) {
        let c = 0;
        for (const taint of n.node?.spec?.taints ?? []) {
          if (taint.effect === 'PreferNoSchedule' && !preferTolerations.some((t) => toleratesTaint(t, taint))) c++;
        }
        return c;
      },
      normalize: (s: number[]) => normalizeToMax(s, true),
    };
  },
};
