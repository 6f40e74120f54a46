// NodeUnschedulable: a cordoned node (spec.unschedulable) takes only pods that tolerate the
// node.kubernetes.io/unschedulable:NoSchedule taint.
import type { Plugin } from '../framework.js';
import { toleratesTaint } from '../../../api/nodeaffinity.js';

export const ERR_UNSCHEDULABLE = 'node(s) were unschedulable';
export const UNSCHEDULABLE_TAINT = 'node.kubernetes.io/unschedulable';

export const nodeUnschedulable: Plugin = {
  name: 'NodeUnschedulable',
  weight: 0,
  forPod({ pod }) {
    const tolerations = pod.pod.spec?.tolerations ?? [];
    const tolerated = tolerations.some((t) => toleratesTaint(t, { key: UNSCHEDULABLE_TAINT, effect: 'NoSchedule' }));
    if (tolerated) return undefined;
    return { filter: (n) => (n.node?.spec?.unschedulable ? [ERR_UNSCHEDULABLE] : undefined) };
  },
};
