// persistentVolumeClaim volumes on this node: a claim's bound PV, when it is a hostPath or local volume
// whose node affinity allows this node, is a host directory the volume manager bind-mounts into the
// containers (made when the PV says DirectoryOrCreate or is local-path); and a deleted local-path PV provisioned on this node has its directory
// removed here, then its cleanup finalizer, so Delete reclaim frees the disk. A local-path directory is
// only ever the one recomputed from the claim (api/localpath.ts), never a path read from an object.
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { NODES, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES } from '../api/kinds.js';
import type { KObject, Node, PersistentVolume, PersistentVolumeClaim } from '../api/types.js';
import { LOCAL_PATH_CLEANUP_FINALIZER, LOCAL_PATH_PROVISIONER, localPathFor } from '../api/localpath.js';
import { volumeFitsNode } from '../api/volumeaffinity.js';
import type { SharedInformerFactory } from '../client/factory.js';
import type { SharedInformer } from '../client/informer.js';
import { type Client, errorCode } from '../client/types.js';

const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';
const SELECTED_NODE = 'local.path.provisioner/selected-node';

export class LocalClaims {
  private claims: SharedInformer<PersistentVolumeClaim>;
  private volumes: SharedInformer<PersistentVolume>;
  private nodes: SharedInformer<Node>;

  constructor(informers: SharedInformerFactory, private client: Client, private nodeName: string, private log: (line: string) => void,
    private root?: string) {
    this.claims = informers.informerFor(PERSISTENTVOLUMECLAIMS);
    this.volumes = informers.informerFor(PERSISTENTVOLUMES);
    this.nodes = informers.informerFor(NODES);
  }

  /** Caches synced; deleted local-path volumes of this node are cleaned as they appear (and on resync). */
  async start(onClaimChange: (ns: string, name: string) => void): Promise<void> {
    await Promise.all([this.claims.waitForSync(), this.volumes.waitForSync(), this.nodes.waitForSync()]);
    const clean = (pv: PersistentVolume) => void this.cleanup(pv).catch((e) => this.log(`k8ts agent: volume ${pv.metadata.name}: ${e instanceof Error ? e.message : e}`));
    this.volumes.addEventHandler({ onAdd: clean, onUpdate: clean }, 30_000);
    // A pod waiting for its claim to bind is synced again when it does.
    this.claims.addEventHandler({ onUpdate: (c) => onClaimChange(c.metadata.namespace!, c.metadata.name!) });
  }

  /** The ClaimResolver of the volume manager (volumes/manager.ts): the host directory of the PV bound to
   *  ns/name on this node, made when the PV says so, or why it is not usable (yet). */
  async resolve(ns: string, name: string): Promise<{ path: string; readOnly: boolean } | { pending: string }> {
    return this.find(ns, name);
  }

  private find(ns: string, name: string): { path: string; readOnly: boolean } | { pending: string } {
    const c = this.claims.lister.get(ns, name);
    if (!c) return { pending: `persistentvolumeclaim "${name}" not found` };
    if (c.status?.phase !== 'Bound' || !c.spec?.volumeName) return { pending: `persistentvolumeclaim "${name}" is not bound yet` };
    const pv = this.volumes.lister.get(undefined, c.spec.volumeName);
    if (!pv) return { pending: `persistentvolume "${c.spec.volumeName}" not found` };
    if (pv.spec?.claimRef?.uid !== c.metadata.uid) return { pending: `persistentvolume "${pv.metadata.name}" is bound to another claim` };
    if (!volumeFitsNode(pv, this.nodes.lister.get(undefined, this.nodeName))) return { pending: `persistentvolume "${pv.metadata.name}" is not available on node ${this.nodeName}` };
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

  /** A deleted local-path PV of this node: its directory goes, then the finalizer that held the PV. */
  private async cleanup(pv: PersistentVolume): Promise<void> {
    if (!pv.metadata.deletionTimestamp || !pv.metadata.finalizers?.includes(LOCAL_PATH_CLEANUP_FINALIZER)) return;
    if (!this.isLocalPath(pv) || pv.metadata.annotations?.[SELECTED_NODE] !== this.nodeName) return;
    const path = this.directoryOf(pv);
    if (path && existsSync(path)) {
      rmSync(path, { recursive: true, force: true });
      this.log(`k8ts agent ${this.nodeName}: removed ${path} (volume ${pv.metadata.name}, reclaim Delete)`);
    }
    try {
      await this.client.update(PERSISTENTVOLUMES, undefined, { ...pv, metadata: { ...pv.metadata, finalizers: pv.metadata.finalizers.filter((f) => f !== LOCAL_PATH_CLEANUP_FINALIZER) } } as KObject as PersistentVolume);
    } catch (e) {
      if (errorCode(e) !== 404 && errorCode(e) !== 409) throw e;
    }
  }
}
