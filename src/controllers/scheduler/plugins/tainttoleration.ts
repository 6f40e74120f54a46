// TaintToleration: a node's NoSchedule and NoExecute taints keep out pods that do not tolerate them; its
// PreferNoSchedule taints count against it in scoring.
import type { Node, Taint, Toleration } from '../../../api/types.js';
import { readinessTaintKey } from '../../nodelifecycle.js';
import { type Plugin, normalizeToMax } from '../framework.js';

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

export function untoleratedTaint(taints: Taint[], tolerations: Toleration[], effects: (e: string) => boolean): Taint | undefined {
  return taints.find((taint) => effects(taint.effect) && !tolerations.some((t) => toleratesTaint(t, taint)));
}

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
        const taint = untoleratedTaint(n.node ? schedulingTaints(n.node) : [], tolerations, (e) => e === 'NoSchedule' || e === 'NoExecute');
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
