// NodePorts: a pod's hostPorts must be free on the node (0.0.0.0 conflicts with every address).
import type { Plugin } from '../framework.js';

export const ERR_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports";

export const nodePorts: Plugin = {
  name: 'NodePorts',
  weight: 0,
  forPod({ pod }) {
    if (!pod.hostPorts.length) return undefined;
    const wanted = pod.hostPorts.map((hp) => hp.split('/'));
    return {
      filter(n) {
        if (!n.hostPorts.size) return undefined;
        for (const used of n.hostPorts.keys()) {
          const [proto, ip, port] = used.split('/');
          for (const [wp, wip, wport] of wanted) {
            if (wp === proto && wport === port && (wip === ip || wip === '0.0.0.0' || ip === '0.0.0.0')) return [ERR_NODE_PORTS];
          }
        }
        return undefined;
      },
    };
  },
};
