// The scheduler's volume binding (upstream's VolumeBinding plugin, reduced): a pod's claims must exist
// and not be terminating; a bound claim's volume must allow the node (node affinity); an unbound claim of
// a WaitForFirstConsumer class needs a node where a matching volume exists or its provisioner can make
// one, and is annotated with the chosen node before the pod is bound; an unbound Immediate claim waits.
import { PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, STORAGECLASSES } from '../api/kinds.js';
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod, StorageClass } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import type { SharedInformerFactory } from '../client/factory.js';
import type { Client } from '../client/types.js';
import type { Plugin } from './scheduler/framework.js';
import { SELECTED_NODE_ANNOTATION, claimClass, volumeFitsNode, volumeMatches } from './persistentvolume.js';
import { podClaims } from './pvprotection.js';

export interface VolumePlan {
  /** Why no node can take the pod now (missing or terminating claim, unbound Immediate claim). */
  error?: string;
  /** Why this node cannot, or undefined when it can. */
  check(node: Node): string | undefined;
  /** Claims to annotate with the chosen node. */
  toSelect: PersistentVolumeClaim[];
}

export class VolumeBinding {
  readonly claims: SharedInformer<PersistentVolumeClaim>;
  readonly volumes: SharedInformer<PersistentVolume>;
  readonly classes: SharedInformer<StorageClass>;

  constructor(informers: Pick<SharedInformerFactory, 'informerFor'>) {
    this.claims = informers.informerFor(PERSISTENTVOLUMECLAIMS);
    this.volumes = informers.informerFor(PERSISTENTVOLUMES);
    this.classes = informers.informerFor(STORAGECLASSES);
  }

  waitForSync(): Promise<unknown> {
    return Promise.all([this.claims.waitForSync(), this.volumes.waitForSync(), this.classes.waitForSync()]);
  }

  plan(pod: Pod): VolumePlan {
    const ns = pod.metadata.namespace!;
    const bound: PersistentVolume[] = [];
    const delayed: PersistentVolumeClaim[] = [];
    const ok: VolumePlan = { check: () => undefined, toSelect: [] };
    for (const name of podClaims(pod)) {
      const c = this.claims.lister.get(ns, name);
      if (!c) return { ...ok, error: `persistentvolumeclaim "${name}" not found` };
      if (c.metadata.deletionTimestamp) return { ...ok, error: `persistentvolumeclaim "${name}" is being deleted` };
      if (c.spec?.volumeName) {
        const pv = this.volumes.lister.get(undefined, c.spec.volumeName);
        if (!pv) return { ...ok, error: `persistentvolume "${c.spec.volumeName}" not found` };
        bound.push(pv);
        continue;
      }
      const cls = claimClass(c) ? this.classes.lister.get(undefined, claimClass(c)) : undefined;
      if (cls?.volumeBindingMode !== 'WaitForFirstConsumer') return { ...ok, error: 'pod has unbound immediate PersistentVolumeClaims' };
      delayed.push(c);
    }
    const volumes = delayed.length ? this.volumes.lister.list() : [];
    return {
      toSelect: delayed.filter((c) => !c.metadata.annotations?.[SELECTED_NODE_ANNOTATION]),
      check: (node) => {
        if (bound.some((pv) => !volumeFitsNode(pv, node))) return 'node(s) had volume node affinity conflict';
        for (const c of delayed) {
          const chosen = c.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
          if (chosen && chosen !== node.metadata.name) return 'node(s) had volume node affinity conflict';
          const cls = this.classes.lister.get(undefined, claimClass(c));
          const provisionable = !!cls?.provisioner && cls.provisioner !== 'kubernetes.io/no-provisioner';
          if (!provisionable && !volumes.some((v) => !v.spec?.claimRef && volumeMatches(v, c, node)))
            return "node(s) didn't find available persistent volumes to bind";
        }
        return undefined;
      },
    };
  }

  /** The scheduler plugin: a pod's claims reject it everywhere (PreFilter) or filter nodes. */
  plugin(): Plugin {
    return {
      name: 'VolumeBinding',
      weight: 0,
      forPod: ({ pod }) => {
        if (!podClaims(pod.pod).length) return undefined;
        const plan = this.plan(pod.pod);
        if (plan.error) return plan.error;
        return {
          filter: (n) => {
            const why = n.node ? plan.check(n.node) : 'node(s) had volume node affinity conflict';
            return why ? [why] : undefined;
          },
        };
      },
    };
  }

  /** Records the chosen node on each WaitForFirstConsumer claim, for the binder and the provisioner. */
  async select(client: Client, claims: PersistentVolumeClaim[], node: string): Promise<void> {
    for (const c of claims) {
      await client.patch(PERSISTENTVOLUMECLAIMS, c.metadata.namespace, c.metadata.name!, 'merge', {
        metadata: { annotations: { [SELECTED_NODE_ANNOTATION]: node } },
      });
    }
  }
}
