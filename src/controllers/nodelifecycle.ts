// Node lifecycle: a node whose Lease has not been renewed for the grace period goes NotReady (Ready
// Unknown) and is tainted unreachable; when it renews again the taints go. Pods bound to a node that no
// longer exists are deleted (pod garbage collection).
import { LEASES, NODES, PODS } from '../api/kinds.js';
import type { KObject, Lease, Node, Pod } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { EventRecorder } from '../client/events.js';
import { type Client, errorCode } from '../client/types.js';
import { now } from '../util/time.js';
import type { Controller, ControllerContext } from './context.js';

export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';

export class NodeLifecycle implements Controller {
  private client: Client;
  private nodes: SharedInformer<Node>;
  private leases: SharedInformer<Lease>;
  private pods: SharedInformer<Pod>;
  private timer?: NodeJS.Timeout;
  private events: EventRecorder;
  private running = false;

  constructor(ctx: ControllerContext, private gracePeriodMs = 40_000, private periodMs = Math.min(5_000, gracePeriodMs / 4)) {
    this.client = ctx.client;
    this.nodes = ctx.informers.informerFor(NODES);
    this.leases = ctx.informers.informerFor(LEASES, { namespace: 'kube-node-lease' });
    this.pods = ctx.informers.informerFor(PODS);
    this.events = new EventRecorder(ctx.client, 'node-controller');
  }

  async start(): Promise<void> {
    await Promise.all([this.nodes.waitForSync(), this.leases.waitForSync(), this.pods.waitForSync()]);
    this.timer = setInterval(() => void this.tick(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async tick(at = Date.now()): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const node of this.nodes.lister.list()) await this.reconcileNode(node, at).catch((e) => console.error(`node lifecycle: ${node.metadata.name}:`, e instanceof Error ? e.message : e));
      await this.collectOrphanPods();
    } finally {
      this.running = false;
    }
  }

  private async reconcileNode(node: KObject, at: number): Promise<void> {
    const name = node.metadata.name!;
    const lease = this.leases.lister.get('kube-node-lease', name);
    const renew = Date.parse(lease?.spec?.renewTime ?? '') || Date.parse(node.metadata.creationTimestamp ?? '') || at;
    const stale = at - renew > this.gracePeriodMs;
    const ready = (node.status?.conditions ?? []).find((c: any) => c.type === 'Ready');
    const taints: any[] = node.spec?.taints ?? [];
    const hasTaint = taints.some((t) => t.key === UNREACHABLE_TAINT);
    if (stale) {
      if (ready?.status !== 'Unknown') {
        const msg = 'Kubelet stopped posting node status.';
        const conds = (node.status?.conditions ?? []).map((c: any) => c.type === 'Ready'
          ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown', message: msg, lastTransitionTime: now() } : c);
        if (!ready) conds.push({ type: 'Ready', status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.', lastTransitionTime: now(), lastHeartbeatTime: null });
        await this.client.patch(NODES, undefined, name, 'merge', { status: { conditions: conds } }, 'status');
        await this.events.record(node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
      }
      if (!hasTaint) {
        const t = now();
        await this.client.patch(NODES, undefined, name, 'merge', { spec: { taints: [...taints,
          { key: UNREACHABLE_TAINT, effect: 'NoSchedule', timeAdded: t }, { key: UNREACHABLE_TAINT, effect: 'NoExecute', timeAdded: t }] } });
      }
    } else if (hasTaint && ready?.status === 'True') {
      await this.client.patch(NODES, undefined, name, 'merge', { spec: { taints: taints.filter((t) => t.key !== UNREACHABLE_TAINT) } });
    }
  }

  /** Pods on nodes that are gone can never finish: delete them now. */
  private async collectOrphanPods(): Promise<void> {
    for (const p of this.pods.lister.list()) {
      const n = p.spec?.nodeName;
      if (!n || this.nodes.lister.get(undefined, n)) continue;
      // A pod may name a node that is about to register: give it the same grace as a silent node.
      if (Date.now() - Date.parse(p.metadata.creationTimestamp ?? '') < this.gracePeriodMs) continue;
      try {
        await this.client.delete(PODS, p.metadata.namespace, p.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: p.metadata.uid } });
      } catch (e) {
        const code = errorCode(e);
        if (code !== 404 && code !== 409) throw e;
      }
    }
  }
}
