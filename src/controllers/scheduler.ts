// The scheduler: binds each pending pod to a Ready node with room that its nodeSelector and tolerations
// allow, spreading by load, and where its volumes can be (volumebinding.ts); when none fits the pod stays
// Pending with a FailedScheduling event saying why.
import { isNodeReady } from '../api/conditions.js';
import { NODES, PODS } from '../api/kinds.js';
import type { KObject, Node, Pod } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { VolumeBinding } from './volumebinding.js';
import { EventRecorder } from '../client/events.js';
import { type Client, errorCode, objectKey } from '../client/types.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations } from './context.js';
const DEFAULT_MAX_PODS = 110;

function maxPods(node: KObject): number {
  const v = node.status?.allocatable?.pods ?? node.status?.capacity?.pods;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_MAX_PODS;
}

function tolerates(pod: KObject, taint: any): boolean {
  return (pod.spec?.tolerations ?? []).some((t: any) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

function isActive(pod: KObject): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed';
}

export class Scheduler implements Controller {
  private client: Client;
  private pods: SharedInformer<Pod>;
  private nodes: SharedInformer<Node>;
  private queue!: WorkQueue;
  private events: EventRecorder;
  /** Binds made but not yet seen in the pod informer: pod key → node. */
  private assumed = new Map<string, string>();
  private lastFailure = new Map<string, string>();
  private regs = new Registrations();
  private volumeBinding: VolumeBinding;

  constructor(ctx: ControllerContext) {
    this.client = ctx.client;
    this.pods = ctx.informers.informerFor(PODS);
    this.nodes = ctx.informers.informerFor(NODES);
    this.events = new EventRecorder(ctx.client, 'default-scheduler');
    this.volumeBinding = new VolumeBinding(ctx.informers);
  }

  async start(): Promise<void> {
    this.queue = new WorkQueue((key) => this.schedule(key), 1, (key, err) => console.error(`scheduler: ${key}:`, err instanceof Error ? err.message : err));
    await Promise.all([this.pods.waitForSync(), this.nodes.waitForSync(), this.volumeBinding.waitForSync()]);
    this.regs.add(this.pods.addEventHandler({
      onAdd: (p) => this.consider(p),
      onUpdate: (p) => this.consider(p),
      onDelete: (p) => {
        this.assumed.delete(objectKey(p));
        if (p.spec?.nodeName) this.requeuePending();
      },
    }, 30_000));
    const nodeChanged = () => this.requeuePending();
    this.regs.add(this.nodes.addEventHandler({ onAdd: nodeChanged, onUpdate: (n, old) => n !== old && nodeChanged(), onDelete: nodeChanged }));
    // A claim or volume that appears or binds may make a waiting pod schedulable.
    this.regs.add(this.volumeBinding.claims.addEventHandler({ onAdd: nodeChanged, onUpdate: nodeChanged }));
    this.regs.add(this.volumeBinding.volumes.addEventHandler({ onAdd: nodeChanged, onUpdate: nodeChanged }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue?.stop();
    this.assumed.clear();
    this.lastFailure.clear();
  }

  private consider(p: KObject): void {
    if (p.spec?.nodeName) {
      this.assumed.delete(objectKey(p));
      return;
    }
    if (p.metadata.deletionTimestamp) return;
    const sched = p.spec?.schedulerName;
    if (sched && sched !== 'default-scheduler') return;
    this.queue.add(objectKey(p));
  }

  private requeuePending(): void {
    for (const p of this.pods.lister.list()) if (!p.spec?.nodeName && !p.metadata.deletionTimestamp) this.queue.add(objectKey(p));
  }

  /** Pods per node, counting binds that the informer has not caught up with. */
  private load(): Map<string, number> {
    const m = new Map<string, number>();
    for (const p of this.pods.lister.list()) {
      const n = p.spec?.nodeName ?? this.assumed.get(objectKey(p));
      if (n && isActive(p)) m.set(n, (m.get(n) ?? 0) + 1);
    }
    return m;
  }

  private async schedule(key: string): Promise<void> {
    const pod = this.pods.lister.getByKey(key);
    if (!pod || pod.spec?.nodeName || pod.metadata.deletionTimestamp || this.assumed.has(key)) return;
    const load = this.load();
    const reasons = new Map<string, number>();
    const why = (r: string) => reasons.set(r, (reasons.get(r) ?? 0) + 1);
    const fits: KObject[] = [];
    const nodes = this.nodes.lister.list();
    const volumes = this.volumeBinding.plan(pod);
    if (volumes.error) {
      await this.unschedulable(pod, `0/${nodes.length} nodes are available: ${volumes.error}. preemption: 0/${nodes.length} nodes are available: ${nodes.length} Preemption is not helpful for scheduling.`);
      this.queue.addAfter(key, 5000);
      return;
    }
    for (const n of nodes) {
      const selector: Record<string, string> = pod.spec?.nodeSelector ?? {};
      if (!Object.entries(selector).every(([k, v]) => n.metadata.labels?.[k] === v)) {
        why("node(s) didn't match Pod's node affinity/selector");
        continue;
      }
      if (n.spec?.unschedulable) {
        why('node(s) were unschedulable');
        continue;
      }
      const taint = (n.spec?.taints ?? []).find((t: any) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(pod, t));
      if (taint) {
        why(`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`);
        continue;
      }
      if (!isNodeReady(n)) {
        why('node(s) were not ready');
        continue;
      }
      if ((load.get(n.metadata.name!) ?? 0) >= maxPods(n)) {
        why('Too many pods');
        continue;
      }
      const volumeConflict = volumes.check(n);
      if (volumeConflict) {
        why(volumeConflict);
        continue;
      }
      fits.push(n);
    }
    if (!fits.length) {
      const detail = [...reasons].sort((a, b) => a[0].localeCompare(b[0])).map(([r, c]) => `${c} ${r}`).join(', ');
      const msg = nodes.length ? `0/${nodes.length} nodes are available: ${detail}.` : 'no nodes available to schedule pods';
      await this.unschedulable(pod, msg);
      this.queue.addAfter(key, 5000);
      return;
    }
    fits.sort((a, b) => (load.get(a.metadata.name!) ?? 0) - (load.get(b.metadata.name!) ?? 0) || a.metadata.name!.localeCompare(b.metadata.name!));
    const node = fits[0].metadata.name!;
    this.assumed.set(key, node);
    try {
      await this.volumeBinding.select(this.client, volumes.toSelect, node);
      await this.client.bind(pod.metadata.namespace!, pod.metadata.name!, node);
    } catch (e) {
      this.assumed.delete(key);
      if (errorCode(e) === 404 || errorCode(e) === 409) return;
      throw e;
    }
    this.lastFailure.delete(key);
    await this.events.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${node}`);
  }

  private async unschedulable(pod: KObject, message: string): Promise<void> {
    const key = objectKey(pod);
    if (this.lastFailure.get(key) === message) return;
    this.lastFailure.set(key, message);
    await this.events.record(pod, 'Warning', 'FailedScheduling', message);
    const conds = (pod.status?.conditions ?? []).filter((c: any) => c.type !== 'PodScheduled');
    conds.push({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null,
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
    try {
      await this.client.patch(PODS, pod.metadata.namespace, pod.metadata.name!, 'merge', { status: { conditions: conds } }, 'status');
    } catch (e) {
      if (errorCode(e) !== 404) throw e;
    }
  }
}
