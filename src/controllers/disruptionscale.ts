// How many pods a budget expects when it is a percentage or maxUnavailable: the replicas of the pods'
// controllers (a ReplicaSet owned by a Deployment counts the Deployment's), read through the API by the
// owner reference's apiVersion and kind, so any served workload with spec.replicas counts.
import { findResourceByKind } from '../api/resources.js';
import type { OwnerReference, Pod, Unstructured } from '../api/types.js';
import type { Client } from '../client/types.js';

function replicasOf(o: Unstructured | undefined): number {
  const spec = o?.spec as { replicas?: unknown } | undefined;
  return typeof spec?.replicas === 'number' ? spec.replicas : 1;
}

function controllerOf(refs: OwnerReference[] | undefined): OwnerReference | undefined {
  return refs?.find((r) => r.controller);
}

/** Sum of the replicas of the pods' distinct controllers; throws upstream's error for a pod without one. */
export async function controllerScale(client: Client, ns: string, pods: Pod[]): Promise<number> {
  const seen = new Map<string, number>();
  for (const p of pods) {
    let ref = controllerOf(p.metadata.ownerReferences);
    if (!ref) throw new Error(`found no controllers for pod "${p.metadata.name}"`);
    if (seen.has(ref.uid)) continue;
    let r = findResourceByKind(ref.apiVersion, ref.kind);
    if (!r) throw new Error(`found no controllers for pod "${p.metadata.name}": ${ref.kind}.${ref.apiVersion} is not served`);
    let owner = (await client.get(r, ns, ref.name)) as Unstructured | undefined;
    const podRef = ref;
    // A Deployment's ReplicaSets all count as the Deployment.
    const up = controllerOf(owner?.metadata.ownerReferences);
    if (owner && ref.kind === 'ReplicaSet' && up?.kind === 'Deployment') {
      const dr = findResourceByKind(up.apiVersion, up.kind);
      if (dr) {
        ref = up;
        r = dr;
        if (seen.has(ref.uid)) {
          seen.set(podRef.uid, 0);
          continue;
        }
        owner = (await client.get(r, ns, ref.name)) as Unstructured | undefined;
      }
    }
    if (!owner || owner.metadata.uid !== ref.uid) throw new Error(`found no controllers for pod "${p.metadata.name}"`);
    seen.set(ref.uid, replicasOf(owner));
    if (podRef.uid !== ref.uid) seen.set(podRef.uid, 0);
  }
  let total = 0;
  for (const n of seen.values()) total += n;
  return total;
}
