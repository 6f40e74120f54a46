// A PersistentVolume's required node affinity against a node, shared by the scheduler, the binder and
// the node agent (which mounts a volume only where it may live).
import type { Node, PersistentVolume } from './types.js';

/** Whether a node satisfies a volume's required node affinity (In / NotIn / Exists / DoesNotExist on labels). */
export function volumeFitsNode(pv: PersistentVolume, node: Node | undefined): boolean {
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
  if (!terms?.length) return true;
  if (!node) return false;
  const labels = node.metadata.labels ?? {};
  return terms.some((t) => (t.matchExpressions ?? []).every((e) => {
    const v = labels[e.key];
    switch (e.operator) {
      case 'In': return v !== undefined && (e.values ?? []).includes(v);
      case 'NotIn': return v === undefined || !(e.values ?? []).includes(v);
      case 'Exists': return v !== undefined;
      case 'DoesNotExist': return v === undefined;
      default: return false;
    }
  }) && (t.matchFields ?? []).every((f) => f.key === 'metadata.name' && (f.operator === 'In' ? (f.values ?? []).includes(node.metadata.name!) : !(f.values ?? []).includes(node.metadata.name!))));
}
