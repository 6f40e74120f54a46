// persistentVolumeClaim volumes on this node: a claim's bound PV, when it is a hostPath or local volume
// whose node affinity allows this node, is a host directory the volume manager bind-mounts into the
// containers (made when the PV says DirectoryOrCreate or is local-path). The claim and its volume are read
// one by one by name, as the kubelet does: the Node authorizer lets a node get them only through a pod of
// its own, and never list, watch or write them (a deleted local-path volume's directory is removed by the
// provisioner's helper pod, controllers/localpath.ts). A local-path directory is only ever the one
// recomputed from the claim (api/localpath.ts), never a path read from an object.
import { mkdirSync, statSync } from 'node:fs';
import { NODES, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES } from '../api/kinds.js';
import type { Node, PersistentVolume } from '../api/types.js';
import { LOCAL_PATH_PROVISIONER, localPathFor } from '../api/localpath.js';
import { volumeFitsNode } from '../api/volumeaffinity.js';
import type { SharedInformerFactory } from '../client/factory.js';
import type { SharedInformer } from '../client/informer.js';
import { type Client, errorCode } from '../client/types.js';

const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

export class LocalClaims {
  private nodes: SharedInformer<Node>;

  constructor(
    informers: SharedInformerFactory,
    private client: Client,
    private nodeName: string,
    private root?: string,
  ) {
    this.nodes = informers.informerFor(NODES);
  }

  async start(): Promise<void> {
    await this.nodes.waitForSync();
  }

  /** The ClaimResolver of the volume manager (volumes/manager.ts): the host directory of the PV bound to
   *  ns/name on this node, made when the PV says so, or why it is not usable (yet: the pod's sync retries). */
  async resolve(ns: string, name: string): Promise<{ path: string; readOnly: boolean } | { pending: string }> {
    const c = await this.read(() => this.client.get(PERSISTENTVOLUMECLAIMS, ns, name), `persistentvolumeclaim "${name}"`);
    if ('pending' in c) return c;
    if (!c.obj) return { pending: `persistentvolumeclaim "${name}" not found` };
    const claim = c.obj;
    if (claim.status?.phase !== 'Bound' || !claim.spec?.volumeName) return { pending: `persistentvolumeclaim "${name}" is not bound yet` };
    const v = await this.read(() => this.client.get(PERSISTENTVOLUMES, undefined, claim.spec!.volumeName!), `persistentvolume "${claim.spec.volumeName}"`);
    if ('pending' in v) return v;
    const pv = v.obj;
    if (!pv) return { pending: `persistentvolume "${claim.spec.volumeName}" not found` };
    if (pv.spec?.claimRef?.uid !== claim.metadata.uid) return { pending: `persistentvolume "${pv.metadata.name}" is bound to another claim` };
    if (!volumeFitsNode(pv, this.nodes.lister.get(undefined, this.nodeName)))
      return { pending: `persistentvolume "${pv.metadata.name}" is not available on node ${this.nodeName}` };
    const readOnly = (pv.spec?.accessModes ?? []).every((m) => m === 'ReadOnlyMany');
    const path = this.directoryOf(pv);
    if (!path) return { pending: `persistentvolume "${pv.metadata.name}" is not a hostPath or local volume (k8ts mounts only those)` };
    if (pv.spec?.hostPath?.type === 'DirectoryOrCreate' || this.isLocalPath(pv)) mkdirSync(path, { recursive: true, mode: 0o777 });
    try {
      if (!statSync(path).isDirectory()) return { pending: `${path} is not a directory` };
    } catch {
      return { pending: `path ${path} does not exist` };
    }
    return { path, readOnly };
  }

  /** One GET; a 403 is the API server not yet knowing this node's pod uses the object (its graph follows
   *  the pod's binding): pending, retried with the pod. */
  private async read<T>(get: () => Promise<T | undefined>, what: string): Promise<{ obj: T | undefined } | { pending: string }> {
    try {
      return { obj: await get() };
    } catch (e) {
      if (errorCode(e) === 403) return { pending: `${what} is not readable by node ${this.nodeName} (yet): ${e instanceof Error ? e.message : e}` };
      throw e;
    }
  }

  private isLocalPath(pv: PersistentVolume): boolean {
    return pv.metadata.annotations?.[PROVISIONED_BY] === LOCAL_PATH_PROVISIONER;
  }

  /** The PV's directory: for local-path, recomputed from its claim and required to equal what the PV says. */
  private directoryOf(pv: PersistentVolume): string | undefined {
    const p = pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
    if (typeof p !== 'string' || !p.startsWith('/') || p.split('/').includes('..')) return undefined;
    if (!this.isLocalPath(pv)) return p;
    const ref = pv.spec?.claimRef;
    const expected = ref?.uid && ref.namespace && ref.name ? localPathFor(ref.uid, ref.namespace, ref.name, this.root) : undefined;
    return expected === p ? p : undefined;
  }
}
