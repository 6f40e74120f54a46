// The storage-object-in-use protection controllers: a deleted claim keeps kubernetes.io/pvc-protection
// while a pod that is not finished uses it, a deleted volume keeps kubernetes.io/pv-protection while it is
// bound; then the finalizer goes and the object with it.
import { PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS } from '../api/kinds.js';
import type { PersistentVolume, PersistentVolumeClaim, Pod } from '../api/types.js';
import { PV_PROTECTION_FINALIZER, PVC_PROTECTION_FINALIZER } from '../api/strategies/storage.js';
import type { SharedInformer } from '../client/informer.js';
import { errorCode } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';

/** The claims a pod mounts. */
export function podClaims(p: Pod): string[] {
  return (p.spec?.volumes ?? []).map((v) => v.persistentVolumeClaim?.claimName).filter((n): n is string => typeof n === 'string');
}

const finished = (p: Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

export class StorageProtection implements Controller {
  private claims: SharedInformer<PersistentVolumeClaim>;
  private volumes: SharedInformer<PersistentVolume>;
  private pods: SharedInformer<Pod>;
  private queue: WorkQueue;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(private ctx: ControllerContext) {
    this.qm = queueMetrics(ctx, 'pvcprotection');
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      workers: 2,
      metrics: this.qm,
      onError: (key, err) => console.error(`storage protection: ${key}:`, err instanceof Error ? err.message : err),
    });
    this.claims = ctx.informers.informerFor(PERSISTENTVOLUMECLAIMS);
    this.volumes = ctx.informers.informerFor(PERSISTENTVOLUMES);
    this.pods = ctx.informers.informerFor(PODS);
  }

  async start(): Promise<void> {
    await Promise.all([this.claims.waitForSync(), this.volumes.waitForSync(), this.pods.waitForSync()]);
    const claim = (c: PersistentVolumeClaim) => c.metadata.deletionTimestamp && this.queue.add(`claim/${c.metadata.namespace}/${c.metadata.name}`);
    const volume = (v: PersistentVolume) => v.metadata.deletionTimestamp && this.queue.add(`volume/${v.metadata.name}`);
    const pod = (p: Pod) => {
      for (const n of podClaims(p)) this.queue.add(`claim/${p.metadata.namespace}/${n}`);
    };
    this.regs.add(this.claims.addEventHandler({ onAdd: claim, onUpdate: claim }));
    this.regs.add(this.volumes.addEventHandler({ onAdd: volume, onUpdate: volume }));
    this.regs.add(this.pods.addEventHandler({ onUpdate: (p) => finished(p) && pod(p), onDelete: pod }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private async reconcile(key: string): Promise<void> {
    const [kind, a, b] = key.split('/');
    if (kind === 'claim') {
      const c = this.claims.lister.get(a, b);
      if (!c?.metadata.deletionTimestamp || !c.metadata.finalizers?.includes(PVC_PROTECTION_FINALIZER)) return;
      // The cache may lag a pod just created: ask the API, as upstream does before letting go.
      const pods = (await this.ctx.client.list(PODS, a)).items;
      if (pods.some((p) => !finished(p) && podClaims(p).includes(b))) return;
      return this.drop(PERSISTENTVOLUMECLAIMS, a, c, PVC_PROTECTION_FINALIZER);
    }
    const v = this.volumes.lister.get(undefined, a);
    if (!v?.metadata.deletionTimestamp || !v.metadata.finalizers?.includes(PV_PROTECTION_FINALIZER)) return;
    if (v.status?.phase === 'Bound') return;
    return this.drop(PERSISTENTVOLUMES, undefined, v, PV_PROTECTION_FINALIZER);
  }

  private async drop(
    r: typeof PERSISTENTVOLUMES | typeof PERSISTENTVOLUMECLAIMS,
    ns: string | undefined,
    o: PersistentVolume | PersistentVolumeClaim,
    f: string,
  ): Promise<void> {
    try {
      await this.ctx.client.update(r as typeof PERSISTENTVOLUMES, ns, {
        ...o,
        metadata: { ...o.metadata, finalizers: (o.metadata.finalizers ?? []).filter((x) => x !== f) },
      } as PersistentVolume);
    } catch (e) {
      // 409: a newer copy; the throw retries from a fresh cache read.
      if (errorCode(e) !== 404) throw e;
    }
  }
}
