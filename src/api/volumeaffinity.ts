// A PersistentVolume's required node affinity against a node (terms ORed, as a pod's required node
// affinity: nodeaffinity.ts), shared by the scheduler, the binder and the node agent.
import { termMatches } from './nodeaffinity.js';
import type { Node, PersistentVolume } from './types.js';

/** Whether a node satisfies the volume's required node affinity (always, when it has none). */
export function volumeFitsNode(pv: PersistentVolume, node: Node | undefined): boolean {
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
  if (!terms?.length) return true;
  if (!node) return false;
  return terms.some((t) => termMatches(t, node));
}
