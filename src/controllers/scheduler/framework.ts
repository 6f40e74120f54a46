// The scheduling cycle in the shape of upstream's framework: each plugin, given the pod, may filter nodes
// (saying why in upstream's words) and score them; scores are normalised to 0..100, weighted and summed,
// and the best node wins (ties broken at random). When no node passes, the reasons are counted into
// upstream's "0/N nodes are available: …" message.
import type { SchedulerCache, NodeInfo } from './cache.js';
import type { NamespaceLabels, PodInfo } from './podinfo.js';

export const MAX_NODE_SCORE = 100;

/** What a plugin sees of one scheduling attempt. */
export interface Cycle {
  pod: PodInfo;
  cache: SchedulerCache;
  nodes: NodeInfo[];
  namespaceLabels: NamespaceLabels;
}

/** A plugin's work for one pod (state computed once for the pod lives in its closure). */
export interface PluginRun {
  /** Reasons the node cannot take the pod; undefined or empty when it can. */
  filter?(n: NodeInfo): string[] | undefined;
  score?(n: NodeInfo): number;
  /** Bring raw scores to 0..MAX_NODE_SCORE (in place). */
  normalize?(scores: number[]): void;
}

export interface Plugin {
  name: string;
  /** Score weight (upstream's default plugin weights). */
  weight: number;
  /** The plugin's run for this pod; undefined when it has nothing to say about the pod (upstream's Skip).
   *  A string rejects the pod on every node with that reason (a PreFilter failure). */
  forPod(c: Cycle): PluginRun | string | undefined;
}

export type ScheduleResult = { node: string; feasible: number } | { node?: undefined; message: string; reasons: Map<string, number> };

/** Upstream's DefaultNormalizeScore: scale to the maximum (reversed: higher raw is worse). */
export function normalizeToMax(scores: number[], reverse: boolean): void {
  const max = Math.max(0, ...scores);
  for (let i = 0; i < scores.length; i++) {
    if (max === 0) scores[i] = reverse ? MAX_NODE_SCORE : 0;
    else {
      const s = Math.trunc((MAX_NODE_SCORE * scores[i]) / max);
      scores[i] = reverse ? MAX_NODE_SCORE - s : s;
    }
  }
}

/** Run the plugins for one pod over the cache's nodes. `random` breaks ties (tests pass their own). */
export function schedulePod(plugins: Plugin[], cycle: Cycle, random: () => number = Math.random): ScheduleResult {
  const nodes = cycle.nodes;
  const reasons = new Map<string, number>();
  const count = (r: string, n = 1) => reasons.set(r, (reasons.get(r) ?? 0) + n);
  const runs: { p: Plugin; run: PluginRun }[] = [];
  for (const p of plugins) {
    const run = p.forPod(cycle);
    if (typeof run === 'string') {
      count(run, nodes.length);
      return { message: fitError(nodes.length, reasons), reasons };
    }
    if (run) runs.push({ p, run });
  }
  const feasible: NodeInfo[] = [];
  for (const n of nodes) {
    let ok = true;
    for (const { run } of runs) {
      const why = run.filter?.(n);
      if (why?.length) {
        for (const r of why) count(r);
        ok = false;
        break;
      }
    }
    if (ok) feasible.push(n);
  }
  if (!feasible.length) return { message: fitError(nodes.length, reasons), reasons };
  if (feasible.length === 1) return { node: feasible[0].name, feasible: 1 };
  const total = new Array<number>(feasible.length).fill(0);
  for (const { p, run } of runs) {
    if (!run.score) continue;
    const scores = feasible.map((n) => run.score!(n));
    run.normalize?.(scores);
    for (let i = 0; i < scores.length; i++) total[i] += scores[i] * p.weight;
  }
  let best = -Infinity;
  let pick = 0;
  let ties = 0;
  for (let i = 0; i < total.length; i++) {
    if (total[i] > best) {
      best = total[i];
      pick = i;
      ties = 1;
    } else if (total[i] === best && random() * ++ties < 1) pick = i;
  }
  return { node: feasible[pick].name, feasible: feasible.length };
}

/** Upstream's FitError text: the reasons sorted, then what preemption found (k8ts does not preempt). */
export function fitError(numNodes: number, reasons: Map<string, number>): string {
  if (numNodes === 0) return 'no nodes available to schedule pods';
  const parts = [...reasons].map(([r, c]) => `${c} ${r}`).sort();
  return `0/${numNodes} nodes are available: ${parts.join(', ')}. preemption: 0/${numNodes} nodes are available: ${numNodes} Preemption is not helpful for scheduling.`;
}
