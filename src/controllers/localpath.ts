// The local-path provisioner (k3s's way): a claim of a `k8ts.io/local-path` class, once the scheduler has
// chosen its node (WaitForFirstConsumer), gets a hostPath PersistentVolume `pvc-<uid>` pinned to that node
// by node affinity; the node's agent makes the directory when a pod mounts it and removes it, then the
// cleanup finalizer, when the volume is deleted (Delete reclaim). Also the default class `local-path`.
import { NODES, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, STORAGECLASSES } from '../api/kinds.js';
import type { Node, PersistentVolume, PersistentVolumeClaim, StorageClass } from '../api/types.js';
import { LOCAL_PATH_CLEANUP_FINALIZER, LOCAL_PATH_PROVISIONER, localPathFor } from '../api/localpath.js';
import { DEFAULT_CLASS_ANNOTATION } from '../api/strategies/storage.js';
import { EventRecorder } from '../client/events.js';
import type { SharedInformer } from '../client/informer.js';
import { type Client, errorCode } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import { PROVISIONED_BY_ANNOTATION, SELECTED_NODE_ANNOTATION, claimClass } from './persistentvolume.js';

export const DEFAULT_CLASS_NAME = 'local-path';
const SUPPORTED_MODES = ['ReadWriteOnce', 'ReadWriteOncePod'];

/** The default StorageClass every cluster starts with (made when missing; an edited one is left alone). */
export async function bootstrapStorageClass(client: Client): Promise<void> {
  if (await client.get(STORAGECLASSES, undefined, DEFAULT_CLASS_NAME)) return;
  try {
    await client.create(STORAGECLASSES, undefined, {
      apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass',
      metadata: { name: DEFAULT_CLASS_NAME, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
      provisioner: LOCAL_PATH_PROVISIONER, reclaimPolicy: 'Delete', volumeBindingMode: 'WaitForFirstConsumer',
    } as StorageClass);
  } catch (e) {
    if (errorCode(e) !== 409) throw e;
  }
}

export class LocalPathProvisioner implements Controller {
  private claims: SharedInformer<PersistentVolumeClaim>;
  private volumes: SharedInformer<PersistentVolume>;
  private classes: SharedInformer<StorageClass>;
  private nodes: SharedInformer<Node>;
  private events: EventRecorder;
  private queue: WorkQueue;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(private ctx: ControllerContext) {
    this.qm = queueMetrics(ctx, 'k8ts_local_path_provisioner');
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: 2, metrics: this.qm, onError: (key, err) => console.error(`local-path: ${key}:`, err instanceof Error ? err.message : err) });
    this.claims = ctx.informers.informerFor(PERSISTENTVOLUMECLAIMS);
    this.volumes = ctx.informers.informerFor(PERSISTENTVOLUMES);
    this.classes = ctx.informers.informerFor(STORAGECLASSES);
    this.nodes = ctx.informers.informerFor(NODES);
    this.events = new EventRecorder(ctx.client, `${LOCAL_PATH_PROVISIONER}_k8ts`);
  }

  async start(): Promise<void> {
    await Promise.all([this.claims.waitForSync(), this.volumes.waitForSync(), this.classes.waitForSync(), this.nodes.waitForSync()]);
    const claim = (c: PersistentVolumeClaim) => this.queue.add(`claim/${c.metadata.namespace}/${c.metadata.name}`);
    const volume = (v: PersistentVolume) => this.queue.add(`volume/${v.metadata.name}`);
    this.regs.add(this.claims.addEventHandler({ onAdd: claim, onUpdate: claim }, 30_000));
    this.regs.add(this.volumes.addEventHandler({ onAdd: volume, onUpdate: volume }, 30_000));
    // A deleted node's volumes have nothing left to clean.
    this.regs.add(this.nodes.addEventHandler({ onDelete: () => { for (const v of this.volumes.lister.list()) if (v.metadata.deletionTimestamp) volume(v); } }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private async reconcile(key: string): Promise<void> {
    const [kind, a, b] = key.split('/');
    if (kind === 'claim') return this.provision(a, b);
    return this.orphaned(a);
  }

  private async provision(ns: string, name: string): Promise<void> {
    const c = this.claims.lister.get(ns, name);
    if (!c || c.metadata.deletionTimestamp || c.spec?.volumeName) return;
    const cls = claimClass(c) ? this.classes.lister.get(undefined, claimClass(c)) : undefined;
    if (cls?.provisioner !== LOCAL_PATH_PROVISIONER) return;
    const pvName = `pvc-${c.metadata.uid}`;
    if (this.volumes.lister.get(undefined, pvName)) return;
    const nodeName = c.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
    const fail = (msg: string) => this.events.record(c, 'Warning', 'ProvisioningFailed', `failed to provision volume with StorageClass "${cls.metadata.name}": ${msg}`);
    if (!nodeName) {
      // Immediate binding: no node has been chosen, and a directory lives on one node.
      if (cls.volumeBindingMode !== 'WaitForFirstConsumer') await fail('configuration error, no node was specified: local-path volumes need volumeBindingMode WaitForFirstConsumer');
      return;
    }
    const modes = c.spec?.accessModes ?? [];
    if (!modes.every((m) => SUPPORTED_MODES.includes(m))) return void (await fail(`local-path only supports ${SUPPORTED_MODES.join(' and ')} access modes`));
    if (c.spec?.volumeMode === 'Block') return void (await fail('local-path only supports volumeMode Filesystem'));
    const node = this.nodes.lister.get(undefined, nodeName);
    if (!node) return void (await fail(`node "${nodeName}" not found`));
    const path = localPathFor(c.metadata.uid!, ns, name);
    if (!path) return void (await fail('the claim\'s name, namespace or uid cannot name a directory'));
    await this.events.record(c, 'Normal', 'Provisioning', `External provisioner is provisioning volume for claim "${ns}/${name}"`);
    const hostname = node.metadata.labels?.['kubernetes.io/hostname'] ?? nodeName;
    try {
      await this.ctx.client.create(PERSISTENTVOLUMES, undefined, {
        apiVersion: 'v1', kind: 'PersistentVolume',
        metadata: { name: pvName, annotations: { [PROVISIONED_BY_ANNOTATION]: LOCAL_PATH_PROVISIONER, 'local.path.provisioner/selected-node': nodeName },
          finalizers: [LOCAL_PATH_CLEANUP_FINALIZER] },
        spec: {
          capacity: { storage: c.spec!.resources!.requests!.storage! },
          accessModes: modes,
          persistentVolumeReclaimPolicy: cls.reclaimPolicy ?? 'Delete',
          storageClassName: cls.metadata.name,
          volumeMode: 'Filesystem',
          hostPath: { path, type: 'DirectoryOrCreate' },
          nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [hostname] }] }] } },
          claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: ns, name, uid: c.metadata.uid, resourceVersion: c.metadata.resourceVersion },
        },
      } as PersistentVolume);
    } catch (e) {
      if (errorCode(e) === 409) return;
      throw e;
    }
    await this.events.record(c, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${pvName}`);
  }

  /** A deleted volume whose node is gone: nobody will clean its directory, so the finalizer goes. */
  private async orphaned(name: string): Promise<void> {
    const pv = this.volumes.lister.get(undefined, name);
    if (!pv?.metadata.deletionTimestamp || !pv.metadata.finalizers?.includes(LOCAL_PATH_CLEANUP_FINALIZER)) return;
    const nodeName = pv.metadata.annotations?.['local.path.provisioner/selected-node'];
    if (nodeName && this.nodes.lister.get(undefined, nodeName)) return;
    try {
      await this.ctx.client.update(PERSISTENTVOLUMES, undefined, { ...pv, metadata: { ...pv.metadata, finalizers: pv.metadata.finalizers.filter((f) => f !== LOCAL_PATH_CLEANUP_FINALIZER) } });
    } catch (e) {
      if (errorCode(e) !== 404 && errorCode(e) !== 409) throw e;
    }
  }
}
