// NodeName: a pod that names a node fits only there (the scheduler binds such pods only when a
// controller left nodeName unset; a pod created with nodeName bypasses the scheduler altogether).
import type { Plugin } from '../framework.js';

export const ERR_NODE_NAME = "node(s) didn't match the requested node name";

export const nodeName: Plugin = {
  name: 'NodeName',
  weight: 0,
  forPod({ pod }) {
    const want = pod.pod.spec?.nodeName;
    if (!want) return undefined;
    return { filter: (n) => (n.name === want ? undefined : [ERR_NODE_NAME]) };
  },
};
