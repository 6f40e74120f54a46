// NodeResourcesFit: the pod's requests must fit in the node's allocatable beside the pods already there
// (one reason per short resource, "Too many pods" for the pod count); scoring prefers the least allocated
// node. NodeResourcesBalancedAllocation prefers nodes whose cpu and memory stay evenly used.
import type { NodeInfo } from '../cache.js';
import { MAX_NODE_SCORE, type Plugin } from '../framework.js';

export function insufficient(n: NodeInfo, requests: Map<string, number>): string[] {
  const out: string[] = [];
  const podsMax = n.allocatable.get('pods') ?? 0;
  if ((n.requested.get('pods') ?? 0) + 1 > podsMax) out.push('Too many pods');
  for (const [name, want] of requests) {
    if (want <= 0 || name === 'pods') continue;
    const free = (n.allocatable.get(name) ?? 0) - (n.requested.get(name) ?? 0);
    if (want > free) out.push(`Insufficient ${name}`);
  }
  return out;
}

export const nodeResourcesFit: Plugin = {
  name: 'NodeResourcesFit',
  weight: 1,
  forPod({ pod }) {
    const cpu = pod.nonZero.cpu;
    const memory = pod.nonZero.memory;
    const least = (requested: number, capacity: number) => (capacity <= 0 || requested > capacity ? 0 : ((capacity - requested) * MAX_NODE_SCORE) / capacity);
    return {
      filter: (n) => insufficient(n, pod.requests),
      score: (n) =>
        Math.trunc((least(n.nonZeroCpu + cpu, n.allocatable.get('cpu') ?? 0) + least(n.nonZeroMemory + memory, n.allocatable.get('memory') ?? 0)) / 2),
    };
  },
};

export const balancedAllocation: Plugin = {
  name: 'NodeResourcesBalancedAllocation',
  weight: 1,
  forPod({ pod }) {
    return {
      score(n) {
        const fc = Math.min(1, (n.nonZeroCpu + pod.nonZero.cpu) / (n.allocatable.get('cpu') || Infinity));
        const fm = Math.min(1, (n.nonZeroMemory + pod.nonZero.memory) / (n.allocatable.get('memory') || Infinity));
        const std = Math.abs(fc - fm) / 2;
        return Math.trunc((1 - std) * MAX_NODE_SCORE);
      },
    };
  },
};
