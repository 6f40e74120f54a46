// The local-path provisioner (k3s's way): a claim of a `k8ts.io/local-path` class, once the scheduler has
// chosen its node (WaitForFirstConsumer), gets a hostPath PersistentVolume `pvc-<uid>` pinned to that node
// by node affinity; the node's agent makes the directory when a pod mounts it. When the volume is deleted
// (Delete reclaim) the provisioner runs a helper pod on that node that removes the directory, as rancher's
// local-path-provisioner does, then drops the cleanup finalizer: the node itself may not write volumes (it
// gets one only by name, through a pod of its own). Also the default class `local-path`.
import { basename, dirname } from 'node:path';
import { NODES, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS, STORAGECLASSES } from '../api/kinds.js';
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod, StorageClass } from '../api/types.js';
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
/** Where the helper pods run (rancher's run in the provisioner's own namespace). */
export const HELPER_NAMESPACE = 'kube-system';
/** The label of every helper pod, and the annotation naming the volume (uid) it cleans. */
export const HELPER_LABEL = 'k8ts.io/local-path-helper';
const HELPER_VOLUME_ANNOTATION = 'k8ts.io/local-path-volume-uid';
/** How long a failed helper pod's volume waits before the next attempt. */
const HELPER_RETRY_MS = 10_000;

export function helperPodName(pv: string): string {
  return `helper-pod-delete-${pv}`;
}
const SUPPORTED_MODES = ['ReadWriteOnce', 'ReadWriteOncePod'];
/** The node a local-path volume lives on (rancher's annotation; the agent's claims read it too). */
const SELECTED_NODE_ANNOTATION_LOCAL = 'local.path.provisioner/selected-node';

/** The default StorageClass every cluster starts with (made when missing; an edited one is left alone). */
export async function bootstrapStorageClass(client: Client): Promise<void> {
  if (await client.get(STORAGECLASSES, undefined, DEFAULT_CLASS_NAME)) return;
  try {
    await client.create(STORAGECLASSES, undefined, {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: DEFAULT_CLASS_NAME, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
      provisioner: LOCAL_PATH_PROVISIONER,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'WaitForFirstConsumer',
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
  private pods: SharedInformer<Pod>;
  private events: EventRecorder;
  private queue: WorkQueue;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(private ctx: ControllerContext) {
    this.qm = queueMetrics(ctx, 'k8ts_local_path_provisioner');
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      workers: 2,
      metrics: this.qm,
      onError: (key, err) => console.error(`local-path: ${key}:`, err instanceof Error ? err.message : err),
    });
    this.claims = ctx.informers.informerFor(PERSISTENTVOLUMECLAIMS);
    this.volumes = ctx.informers.informerFor(PERSISTENTVOLUMES);
    this.classes = ctx.informers.informerFor(STORAGECLASSES);
    this.nodes = ctx.informers.informerFor(NODES);
    this.pods = ctx.informers.informerFor(PODS);
    this.events = new EventRecorder(ctx.client, `${LOCAL_PATH_PROVISIONER}_k8ts`);
  }

  async start(): Promise<void> {
    await Promise.all([this.claims.waitForSync(), this.volumes.waitForSync(), this.classes.waitForSync(), this.nodes.waitForSync(), this.pods.waitForSync()]);
    const claim = (c: PersistentVolumeClaim) => this.queue.add(`claim/${c.metadata.namespace}/${c.metadata.name}`);
    const volume = (v: PersistentVolume) => this.queue.add(`volume/${v.metadata.name}`);
    this.regs.add(this.claims.addEventHandler({ onAdd: claim, onUpdate: claim }, 30_000));
    this.regs.add(this.volumes.addEventHandler({ onAdd: volume, onUpdate: volume }, 30_000));
    // A deleted node's volumes have nothing left to clean.
    this.regs.add(
      this.nodes.addEventHandler({
        onDelete: () => {
          for (const v of this.volumes.lister.list()) if (v.metadata.deletionTimestamp) volume(v);
        },
      }),
    );
    // A helper pod's progress (or its deletion) moves its volume on.
    const helper = (p: Pod) => {
      const v = p.metadata.namespace === HELPER_NAMESPACE ? p.metadata.labels?.[HELPER_LABEL] : undefined;
      if (v) this.queue.add(`volume/${v}`);
    };
    this.regs.add(this.pods.addEventHandler({ onAdd: helper, onUpdate: helper, onDelete: helper }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private async reconcile(key: string): Promise<void> {
    const [kind, a, b] = key.split('/');
    if (kind === 'claim') return this.provision(a, b);
    return this.cleanup(a);
  }

  private async provision(ns: string, name: string): Promise<void> {
    const c = this.claims.lister.get(ns, name);
    if (!c || c.metadata.deletionTimestamp || c.spec?.volumeName) return;
    const cls = claimClass(c) ? this.classes.lister.get(undefined, claimClass(c)) : undefined;
    if (cls?.provisioner !== LOCAL_PATH_PROVISIONER) return;
    const pvName = `pvc-${c.metadata.uid}`;
    if (this.volumes.lister.get(undefined, pvName)) return;
    const nodeName = c.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
    const fail = (msg: string) =>
      this.events.record(c, 'Warning', 'ProvisioningFailed', `failed to provision volume with StorageClass "${cls.metadata.name}": ${msg}`);
    if (!nodeName) {
      // Immediate binding: no node has been chosen, and a directory lives on one node.
      if (cls.volumeBindingMode !== 'WaitForFirstConsumer')
        await fail('configuration error, no node was specified: local-path volumes need volumeBindingMode WaitForFirstConsumer');
      return;
    }
    const modes = c.spec?.accessModes ?? [];
    if (!modes.every((m) => SUPPORTED_MODES.includes(m))) return void (await fail(`local-path only supports ${SUPPORTED_MODES.join(' and ')} access modes`));
    if (c.spec?.volumeMode === 'Block') return void (await fail('local-path only supports volumeMode Filesystem'));
    const node = this.nodes.lister.get(undefined, nodeName);
    if (!node) return void (await fail(`node "${nodeName}" not found`));
    const path = localPathFor(c.metadata.uid!, ns, name);
    if (!path) return void (await fail("the claim's name, namespace or uid cannot name a directory"));
    await this.events.record(c, 'Normal', 'Provisioning', `External provisioner is provisioning volume for claim "${ns}/${name}"`);
    const hostname = node.metadata.labels?.['kubernetes.io/hostname'] ?? nodeName;
    try {
      await this.ctx.client.create(PERSISTENTVOLUMES, undefined, {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: {
          name: pvName,
          annotations: { [PROVISIONED_BY_ANNOTATION]: LOCAL_PATH_PROVISIONER, [SELECTED_NODE_ANNOTATION_LOCAL]: nodeName },
          finalizers: [LOCAL_PATH_CLEANUP_FINALIZER],
        },
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

  /**
   * A deleted local-path volume: a helper pod on its node removes the directory, then the finalizer goes.
   * Its node gone, nobody can clean, and the finalizer goes at once. The directory is the one recomputed
   * from the claim (api/localpath.ts) and must be what the volume says, or nothing is removed.
   */
  private async cleanup(name: string): Promise<void> {
    const pv = this.volumes.lister.get(undefined, name);
    const helperName = helperPodName(name);
    const helper = this.pods.lister.get(HELPER_NAMESPACE, helperName);
    if (!pv?.metadata.deletionTimestamp || !pv.metadata.finalizers?.includes(LOCAL_PATH_CLEANUP_FINALIZER)) {
      if (helper?.metadata.labels?.[HELPER_LABEL] === name) await this.deleteHelper(helperName);
      return;
    }
    const nodeName = pv.metadata.annotations?.[SELECTED_NODE_ANNOTATION_LOCAL];
    if (!nodeName || !this.nodes.lister.get(undefined, nodeName)) return this.release(pv, helper);
    const ref = pv.spec?.claimRef;
    const path = ref?.uid && ref.namespace && ref.name ? localPathFor(ref.uid, ref.namespace, ref.name) : undefined;
    if (!path || path !== pv.spec?.hostPath?.path) {
      await this.events.record(
        pv,
        'Warning',
        'VolumeFailedDelete',
        `the volume's path is not the one its claim names (${JSON.stringify(path ?? '')}): nothing removed`,
      );
      return this.release(pv, helper);
    }
    if (helper && (helper.metadata.annotations?.[HELPER_VOLUME_ANNOTATION] !== pv.metadata.uid || helper.spec?.nodeName !== nodeName)) {
      // Not this volume's (a leftover of a volume of the same name, or not ours): out of the way first.
      return this.deleteHelper(helperName);
    }
    if (!helper) {
      await this.createHelper(pv, helperName, nodeName, path);
      return;
    }
    const phase = helper.status?.phase;
    if (phase === 'Succeeded') {
      await this.events.record(pv, 'Normal', 'VolumeDeleted', `removed ${path} on node ${nodeName}`);
      return this.release(pv, helper);
    }
    if (phase === 'Failed') {
      const why = helper.status?.containerStatuses?.[0]?.state?.terminated;
      await this.events.record(
        pv,
        'Warning',
        'VolumeFailedDelete',
        `helper pod ${HELPER_NAMESPACE}/${helperName} failed on node ${nodeName}${why ? ` (exit code ${why.exitCode}${why.reason ? `, ${why.reason}` : ''})` : ''}; retrying`,
      );
      await this.deleteHelper(helperName);
      this.queue.addAfter(`volume/${name}`, HELPER_RETRY_MS);
    }
  }

  /** The helper pod: busybox on the volume's node, the parent directory mounted, removing the one directory. */
  private async createHelper(pv: PersistentVolume, name: string, nodeName: string, path: string): Promise<void> {
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: HELPER_NAMESPACE,
        labels: { [HELPER_LABEL]: pv.metadata.name! },
        annotations: { [HELPER_VOLUME_ANNOTATION]: pv.metadata.uid! },
        ownerReferences: [{ apiVersion: 'v1', kind: 'PersistentVolume', name: pv.metadata.name!, uid: pv.metadata.uid!, controller: true }],
      },
      spec: {
        nodeName,
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        tolerations: [{ operator: 'Exists' }],
        volumes: [{ name: 'data', hostPath: { path: dirname(path), type: 'DirectoryOrCreate' } }],
        containers: [
          {
            name: 'helper-pod',
            image: 'busybox',
            command: ['sh', '-c', 'rm -rf -- "/data/$VOL_DIR"'],
            env: [{ name: 'VOL_DIR', value: basename(path) }],
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          },
        ],
      },
    };
    try {
      await this.ctx.client.create(PODS, HELPER_NAMESPACE, pod);
    } catch (e) {
      if (errorCode(e) !== 409) throw e;
    }
  }

  private async deleteHelper(name: string): Promise<void> {
    try {
      await this.ctx.client.delete(PODS, HELPER_NAMESPACE, name, { gracePeriodSeconds: 0 });
    } catch (e) {
      if (errorCode(e) !== 404) throw e;
    }
  }

  /** The finalizer goes (nothing left to clean, or cleaned), and the helper pod with it. */
  private async release(pv: PersistentVolume, helper: Pod | undefined): Promise<void> {
    try {
      await this.ctx.client.update(PERSISTENTVOLUMES, undefined, {
        ...pv,
        metadata: { ...pv.metadata, finalizers: pv.metadata.finalizers!.filter((f) => f !== LOCAL_PATH_CLEANUP_FINALIZER) },
      });
    } catch (e) {
      if (errorCode(e) !== 404 && errorCode(e) !== 409) throw e;
    }
    if (helper && helper.metadata.labels?.[HELPER_LABEL] === pv.metadata.name) await this.deleteHelper(helper.metadata.name!);
  }
}
