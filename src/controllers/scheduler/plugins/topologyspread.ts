// PodTopologySpread: pods matching a constraint's selector (in the pod's namespace, on nodes that pass the
// node inclusion policies) are counted per topology domain; DoNotSchedule constraints filter nodes whose
// domain would exceed maxSkew over the least-loaded domain (0 when fewer domains than minDomains);
// ScheduleAnyway constraints score emptier domains higher.
import { selectorMatches } from '../../../api/labels.js';
import type { TopologySpreadConstraint } from '../../../api/types.js';
import type { NodeInfo } from '../cache.js';
import { type Cycle, MAX_NODE_SCORE, type Plugin } from '../framework.js';
import { effectiveSelector } from '../podinfo.js';
import { nodeMatchesPod, untoleratedTaint } from '../../../api/nodeaffinity.js';

export const ERR_SPREAD = "node(s) didn't match pod topology spread constraints";
export const ERR_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)";

interface Counted {
  c: TopologySpreadConstraint;
  counts: Map<string, number>;
  selfMatch: number;
}

/** Count, per constraint, the matching pods in each domain of the eligible nodes. */
function count(cy: Cycle, constraints: TopologySpreadConstraint[]): Counted[] {
  const pod = cy.pod;
  return constraints.map((c) => {
    const sel = effectiveSelector(c.labelSelector, pod.labels, c.matchLabelKeys);
    const eligible = (n: NodeInfo) => {
      if (!n.node) return false;
      if ((c.nodeAffinityPolicy ?? 'Honor') === 'Honor' && !nodeMatchesPod(pod.pod.spec, n.node)) return false;
      if (c.nodeTaintsPolicy === 'Honor' && untoleratedTaint(n.node.spec?.taints ?? [], pod.pod.spec?.tolerations, ['NoSchedule', 'NoExecute'])) return false;
      return c.topologyKey in n.labels;
    };
    const counts = new Map<string, number>();
    for (const n of cy.nodes) if (eligible(n)) counts.set(n.labels[c.topologyKey], counts.get(n.labels[c.topologyKey]) ?? 0);
    for (const p of cy.cache.podsIn(pod.namespace)) {
      if (p.key === pod.key || p.pod.metadata.deletionTimestamp || !selectorMatches(sel, p.labels)) continue;
      const n = cy.cache.getNode(p.node!);
      if (!n || !eligible(n)) continue;
      const d = n.labels[c.topologyKey];
      counts.set(d, (counts.get(d) ?? 0) + 1);
    }
    return { c, counts, selfMatch: selectorMatches(sel, pod.labels) ? 1 : 0 };
  });
}

export const podTopologySpread: Plugin = {
  name: 'PodTopologySpread',
  weight: 2,
  forPod(cy) {
    const all = cy.pod.pod.spec?.topologySpreadConstraints ?? [];
    if (!all.length) return undefined;
    const hard = count(
      cy,
      all.filter((c) => c.whenUnsatisfiable === 'DoNotSchedule'),
    );
    const soft = count(
      cy,
      all.filter((c) => c.whenUnsatisfiable === 'ScheduleAnyway'),
    );
    const minima = hard.map(({ c, counts }) => {
      if ((c.minDomains ?? 1) > counts.size) return 0;
      let m = Infinity;
      for (const v of counts.values()) m = Math.min(m, v);
      return m === Infinity ? 0 : m;
    });
    return {
      filter: hard.length
        ? (n) => {
            for (let i = 0; i < hard.length; i++) {
              const { c, counts, selfMatch } = hard[i];
              if (!(c.topologyKey in n.labels)) return [ERR_SPREAD_LABEL];
              const here = counts.get(n.labels[c.topologyKey]) ?? 0;
              if (here + selfMatch - minima[i] > c.maxSkew) return [ERR_SPREAD];
            }
            return undefined;
          }
        : undefined,
      score: soft.length
        ? (n) => {
            let s = 0;
            for (const { c, counts } of soft) {
              if (!(c.topologyKey in n.labels)) return -1;
              // Upstream weighs each constraint by log(domains + 2) and adds maxSkew - 1.
              s += ((counts.get(n.labels[c.topologyKey]) ?? 0) + c.maxSkew - 1) * Math.log(counts.size + 2);
            }
            return s;
          }
        : undefined,
      normalize(scores: number[]) {
        const valid = scores.filter((s: number) => s >= 0);
        const max = Math.max(0, ...valid);
        const min = valid.length ? Math.min(...valid) : 0;
        for (let i = 0; i < scores.length; i++) {
          if (scores[i] < 0) scores[i] = 0;
          else scores[i] = max === 0 ? MAX_NODE_SCORE : Math.trunc((MAX_NODE_SCORE * (max + min - scores[i])) / max);
        }
      },
    };
  },
};
