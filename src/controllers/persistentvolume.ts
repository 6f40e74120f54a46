// The PersistentVolume controller (upstream's persistentvolume binder): binds each claim to the smallest
// available volume that satisfies it (class, access modes, size, volume mode, selector, and for
// WaitForFirstConsumer the node the scheduler chose), keeps both sides' phases true, marks a claim that
// must be provisioned for its provisioner, and reclaims a volume whose claim is gone (Retain: Released;
// Delete: the volume object is deleted and its provisioner's finalizer frees the storage).
import { NODES, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, STORAGECLASSES } from '../api/kinds.js';
import type { Node, PersistentVolume, PersistentVolumeClaim, StorageClass } from '../api/types.js';
import { compareQuantity, isQuantity, parseQuantity } from '../api/quantity.js';
import { selectorMatches } from '../api/labels.js';
import { volumeFitsNode } from '../api/volumeaffinity.js';

export { volumeFitsNode };
import { EventRecorder } from '../client/events.js';
import type { SharedInformer } from '../client/informer.js';
import { errorCode } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';

export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';
export const STORAGE_PROVISIONER_ANNOTATION = 'volume.kubernetes.io/storage-provisioner';
export const PROVISIONED_BY_ANNOTATION = 'pv.kubernetes.io/provisioned-by';
const BIND_COMPLETED = 'pv.kubernetes.io/bind-completed';
const BOUND_BY_CONTROLLER = 'pv.kubernetes.io/bound-by-controller';

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** The claim's class: "" (no class) when unset, as the binder reads it after DefaultStorageClass. */
export function claimClass(c: PersistentVolumeClaim): string {
  return c.spec?.storageClassName ?? '';
}

function storage(v: unknown) {
  const q = parseQuantity(v);
  return isQuantity(q) ? q : undefined;
}

/** Whether a volume can serve a claim (binding aside). */
export function volumeMatches(pv: PersistentVolume, c: PersistentVolumeClaim, node?: Node): boolean {
  if ((pv.spec?.storageClassName ?? '') !== claimClass(c)) return false;
  if ((pv.spec?.volumeMode ?? 'Filesystem') !== (c.spec?.volumeMode ?? 'Filesystem')) return false;
  const modes = pv.spec?.accessModes ?? [];
  if (!(c.spec?.accessModes ?? []).every((m) => modes.includes(m))) return false;
  const want = storage(c.spec?.resources?.requests?.storage);
  const have = storage(pv.spec?.capacity?.storage);
  if (!want || !have || compareQuantity(have, want) < 0) return false;
  if (c.spec?.selector && !selectorMatches(c.spec.selector, pv.metadata.labels ?? {})) return false;
  if (node && !volumeFitsNode(pv, node)) return false;
  return true;
}

export class PersistentVolumeController implements Controller {
  private claims: SharedInformer<PersistentVolumeClaim>;
  private volumes: SharedInformer<PersistentVolume>;
  private classes: SharedInformer<StorageClass>;
  private nodes: SharedInformer<Node>;
  private events: EventRecorder;
  private queue: WorkQueue;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(private ctx: ControllerContext) {
    this.qm = queueMetrics(ctx, 'volumes');
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      workers: 2,
      metrics: this.qm,
      onError: (key, err) => console.error(`persistentvolume: ${key}:`, err instanceof Error ? err.message : err),
    });
    this.claims = ctx.informers.informerFor(PERSISTENTVOLUMECLAIMS);
    this.volumes = ctx.informers.informerFor(PERSISTENTVOLUMES);
    this.classes = ctx.informers.informerFor(STORAGECLASSES);
    this.nodes = ctx.informers.informerFor(NODES);
    this.events = new EventRecorder(ctx.client, 'persistentvolume-controller');
  }

  async start(): Promise<void> {
    await Promise.all([this.claims.waitForSync(), this.volumes.waitForSync(), this.classes.waitForSync(), this.nodes.waitForSync()]);
    const claim = (c: PersistentVolumeClaim) => this.queue.add(`claim/${c.metadata.namespace}/${c.metadata.name}`);
    const volume = (v: PersistentVolume) => {
      this.queue.add(`volume/${v.metadata.name}`);
      const ref = v.spec?.claimRef;
      if (ref?.namespace && ref.name) this.queue.add(`claim/${ref.namespace}/${ref.name}`);
    };
    // A new volume may satisfy any waiting claim.
    const waiting = () => {
      for (const c of this.claims.lister.list()) if (!c.spec?.volumeName) claim(c);
    };
    this.regs.add(
      this.claims.addEventHandler(
        {
          onAdd: claim,
          onUpdate: claim,
          onDelete: (c) => {
            for (const v of this.volumes.lister.list()) if (v.spec?.claimRef?.uid === c.metadata.uid) volume(v);
          },
        },
        15_000,
      ),
    );
    this.regs.add(
      this.volumes.addEventHandler(
        {
          onAdd: (v) => {
            volume(v);
            waiting();
          },
          onUpdate: volume,
          onDelete: volume,
        },
        15_000,
      ),
    );
    this.regs.add(this.classes.addEventHandler({ onAdd: waiting }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private async reconcile(key: string): Promise<void> {
    const [kind, a, b] = key.split('/');
    if (kind === 'claim') return this.syncClaim(a, b);
    return this.syncVolume(a);
  }

  private async syncClaim(ns: string, name: string): Promise<void> {
    const c = this.claims.lister.get(ns, name);
    if (!c || c.metadata.deletionTimestamp) return;
    if (c.spec?.volumeName) {
      const pv = this.volumes.lister.get(undefined, c.spec.volumeName);
      if (!pv) {
        if (c.status?.phase === 'Bound') {
          await this.claimStatus(c, 'Lost');
          await this.events.record(c, 'Warning', 'ClaimLost', 'Bound claim has lost its PersistentVolume. Data on the volume is lost!');
        }
        return;
      }
      const ref = pv.spec?.claimRef;
      if (!ref) return this.bind(pv, c);
      if (ref.uid && ref.uid !== c.metadata.uid) {
        if (c.status?.phase !== 'Lost')
          await this.events.record(c, 'Warning', 'FailedBinding', `volume "${pv.metadata.name}" already bound to a different claim.`);
        return;
      }
      if (c.status?.phase !== 'Bound') await this.claimStatus(c, 'Bound', pv);
      return;
    }
    const cls = claimClass(c) ? this.classes.lister.get(undefined, claimClass(c)) : undefined;
    const selected = c.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
    const wffc = cls?.volumeBindingMode === 'WaitForFirstConsumer';
    const volumes = this.volumes.lister.list();
    // A volume made for this claim (pre-bound by its provisioner) wins.
    const prebound = volumes.find((v) => v.spec?.claimRef?.uid === c.metadata.uid && !v.metadata.deletionTimestamp);
    if (prebound) return this.bind(prebound, c);
    if (wffc && !selected) {
      await this.events.record(c, 'Normal', 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding');
      return;
    }
    const node = selected ? this.nodes.lister.get(undefined, selected) : undefined;
    const candidates = volumes.filter(
      (v) =>
        !v.spec?.claimRef &&
        !v.metadata.deletionTimestamp &&
        (v.status?.phase ?? 'Available') !== 'Released' &&
        (v.status?.phase ?? 'Available') !== 'Failed' &&
        volumeMatches(v, c, selected ? node : undefined),
    );
    candidates.sort(
      (x, y) => compareQuantity(storage(x.spec!.capacity!.storage)!, storage(y.spec!.capacity!.storage)!) || x.metadata.name!.localeCompare(y.metadata.name!),
    );
    if (candidates.length) return this.bind(candidates[0], c);
    if (cls?.provisioner) {
      if (c.metadata.annotations?.[STORAGE_PROVISIONER_ANNOTATION] !== cls.provisioner) {
        await this.patchClaim(c, {
          metadata: { annotations: { [STORAGE_PROVISIONER_ANNOTATION]: cls.provisioner, 'volume.beta.kubernetes.io/storage-provisioner': cls.provisioner } },
        });
      }
      await this.events.record(
        c,
        'Normal',
        'ExternalProvisioning',
        `Waiting for a volume to be created either by the external provisioner '${cls.provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`,
      );
      return;
    }
    const why =
      claimClass(c) && !cls
        ? `storageclass.storage.k8s.io "${claimClass(c)}" not found`
        : 'no persistent volumes available for this claim and no storage class is set';
    await this.events.record(c, claimClass(c) && !cls ? 'Warning' : 'Normal', claimClass(c) && !cls ? 'ProvisioningFailed' : 'FailedBinding', why);
  }

  /** Binds volume and claim: the volume's claimRef first (the claim that wins it), then both statuses. */
  private async bind(pv: PersistentVolume, c: PersistentVolumeClaim): Promise<void> {
    let v = pv;
    if (!v.spec?.claimRef?.uid) {
      v = await this.ctx.client.update(PERSISTENTVOLUMES, undefined, {
        ...v,
        metadata: { ...v.metadata, annotations: { ...v.metadata.annotations, [BOUND_BY_CONTROLLER]: 'yes' } },
        spec: {
          ...v.spec,
          claimRef: {
            kind: 'PersistentVolumeClaim',
            namespace: c.metadata.namespace,
            name: c.metadata.name,
            uid: c.metadata.uid,
            apiVersion: 'v1',
            resourceVersion: c.metadata.resourceVersion,
          },
        },
      });
    }
    if (v.status?.phase !== 'Bound')
      v = await this.ctx.client.update(PERSISTENTVOLUMES, undefined, { ...v, status: { ...v.status, phase: 'Bound' } }, 'status');
    let claim = c;
    if (claim.spec?.volumeName !== v.metadata.name) {
      claim = await this.ctx.client.update(PERSISTENTVOLUMECLAIMS, claim.metadata.namespace, {
        ...claim,
        metadata: { ...claim.metadata, annotations: { ...claim.metadata.annotations, [BIND_COMPLETED]: 'yes', [BOUND_BY_CONTROLLER]: 'yes' } },
        spec: { ...claim.spec, volumeName: v.metadata.name },
      });
    }
    await this.claimStatus(claim, 'Bound', v);
  }

  private async claimStatus(c: PersistentVolumeClaim, phase: string, pv?: PersistentVolume): Promise<void> {
    const status: Record<string, unknown> = { ...c.status, phase };
    if (pv && phase === 'Bound') Object.assign(status, { accessModes: pv.spec?.accessModes, capacity: pv.spec?.capacity });
    if (JSON.stringify(status) === JSON.stringify(c.status)) return;
    try {
      await this.ctx.client.update(PERSISTENTVOLUMECLAIMS, c.metadata.namespace, { ...c, status } as PersistentVolumeClaim, 'status');
    } catch (e) {
      if (errorCode(e) !== 404) throw e;
    }
  }

  private async patchClaim(c: PersistentVolumeClaim, patch: unknown): Promise<void> {
    try {
      await this.ctx.client.patch(PERSISTENTVOLUMECLAIMS, c.metadata.namespace, c.metadata.name!, 'merge', patch);
    } catch (e) {
      if (errorCode(e) !== 404) throw e;
    }
  }

  private async syncVolume(name: string): Promise<void> {
    const pv = this.volumes.lister.get(undefined, name);
    if (!pv) return;
    const ref = pv.spec?.claimRef;
    const phase = pv.status?.phase;
    if (!ref) {
      if (phase !== 'Available' && phase !== 'Failed' && !pv.metadata.deletionTimestamp) await this.volumeStatus(pv, 'Available');
      return;
    }
    const c = ref.namespace && ref.name ? this.claims.lister.get(ref.namespace, ref.name) : undefined;
    if (c && (!ref.uid || ref.uid === c.metadata.uid)) {
      if (c.spec?.volumeName === pv.metadata.name && phase !== 'Bound') await this.volumeStatus(pv, 'Bound');
      return;
    }
    // The claim is gone (or is another of the same name): the volume is released and reclaimed.
    if (!ref.uid) return;
    if (phase !== 'Released' && phase !== 'Failed') {
      await this.volumeStatus(pv, 'Released');
      return;
    }
    if (phase === 'Failed' || pv.metadata.deletionTimestamp) return;
    switch (pv.spec?.persistentVolumeReclaimPolicy) {
      case 'Delete':
        if (!pv.metadata.annotations?.[PROVISIONED_BY_ANNOTATION]) {
          await this.volumeStatus(
            pv,
            'Failed',
            'VolumeFailedDelete',
            'error getting deleter volume plugin for volume: no deletable volume plugin matched (only dynamically provisioned volumes are deleted)',
          );
          await this.events.record(pv, 'Warning', 'VolumeFailedDelete', 'no deletable volume plugin matched');
          return;
        }
        // The provisioner's finalizer holds the object until the node has removed the storage.
        try {
          await this.ctx.client.delete(PERSISTENTVOLUMES, undefined, pv.metadata.name!);
        } catch (e) {
          if (errorCode(e) !== 404) throw e;
        }
        return;
      case 'Recycle':
        await this.volumeStatus(pv, 'Failed', 'VolumeFailedRecycle', 'Recycle is deprecated and not supported by k8ts: use Delete or Retain');
        return;
      default:
        // Retain: Released until an administrator acts.
        return;
    }
  }

  private async volumeStatus(pv: PersistentVolume, phase: string, reason?: string, message?: string): Promise<void> {
    const status: Record<string, unknown> = { phase, lastPhaseTransitionTime: now() };
    if (reason) Object.assign(status, { reason, message });
    try {
      await this.ctx.client.update(PERSISTENTVOLUMES, undefined, { ...pv, status } as PersistentVolume, 'status');
    } catch (e) {
      if (errorCode(e) !== 404) throw e;
    }
  }
}
