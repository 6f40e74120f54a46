// Node lifecycle: a node whose Lease has not been renewed for the grace period goes Ready=Unknown; the
// Ready condition is mirrored in taints as upstream does (Ready=False: node.kubernetes.io/not-ready,
// Unknown: node.kubernetes.io/unreachable, each NoSchedule and NoExecute), which keep new pods off and
// let the taint-eviction controller evict the pods there; they go when the node is Ready again. Pods
// bound to a node that no longer exists are deleted (pod garbage collection).
import { isDeepStrictEqual } from 'node:util';
import { LEASES, NODES, PODS } from '../api/kinds.js';
import type { Lease, Node, NodeCondition, Pod, Taint } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { NODE_NAME_INDEX, byNodeName } from '../client/indexer.js';
import { EventRecorder } from '../client/events.js';
import { type Client, errorCode } from '../client/types.js';
import { now } from '../util/time.js';
import { type Controller, type ControllerContext, Registrations } from './context.js';

export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
const CONDITION_TAINTS = new Set([UNREACHABLE_TAINT, NOT_READY_TAINT]);

/** The taint key the node's Ready condition calls for (none when Ready=True). */
export function readinessTaintKey(node: Node): string | undefined {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') return undefined;
  return !ready || ready.status === 'Unknown' ? UNREACHABLE_TAINT : NOT_READY_TAINT;
}

export class NodeLifecycle implements Controller {
  private client: Client;
  private nodes: SharedInformer<Node>;
  private leases: SharedInformer<Lease>;
  private pods: SharedInformer<Pod>;
  private timer?: NodeJS.Timeout;
  private events: EventRecorder;
  private running = false;
  private regs = new Registrations();

  constructor(
    ctx: ControllerContext,
    private gracePeriodMs = 40_000,
    private periodMs = Math.min(5_000, gracePeriodMs / 4),
  ) {
    this.client = ctx.client;
    this.nodes = ctx.informers.informerFor(NODES);
    this.leases = ctx.informers.informerFor(LEASES, { namespace: 'kube-node-lease' });
    // Pods by node: the orphan sweep looks at the node names pods are bound to, not at every pod.
    this.pods = ctx.informers.informerFor(PODS);
    if (!this.pods.indexer.hasIndex(NODE_NAME_INDEX)) this.pods.addIndex(NODE_NAME_INDEX, byNodeName);
    this.events = new EventRecorder(ctx.client, 'node-controller');
  }

  async start(): Promise<void> {
    await Promise.all([this.nodes.waitForSync(), this.leases.waitForSync(), this.pods.waitForSync()]);
    // A node's Ready condition changing is mirrored in its taints at once, not at the next tick.
    const changed = (n: Node, old?: Node) => {
      if (old && readinessTaintKey(old) === readinessTaintKey(n) && isDeepStrictEqual(old.spec?.taints, n.spec?.taints)) return;
      void this.syncTaints(n).catch((e) => console.error(`node lifecycle: ${n.metadata.name}:`, e instanceof Error ? e.message : e));
    };
    this.regs.add(this.nodes.addEventHandler({ onAdd: (n) => changed(n), onUpdate: (n, old) => changed(n, old) }));
    this.timer = setInterval(() => void this.tick(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    this.regs.removeAll();
    clearInterval(this.timer);
  }

  async tick(at = Date.now()): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const node of this.nodes.lister.list())
        await this.reconcileNode(node, at).catch((e) => console.error(`node lifecycle: ${node.metadata.name}:`, e instanceof Error ? e.message : e));
      await this.collectOrphanPods();
    } finally {
      this.running = false;
    }
  }

  private async reconcileNode(node: Node, at: number): Promise<void> {
    const name = node.metadata.name!;
    const lease = this.leases.lister.get('kube-node-lease', name);
    const renew = Date.parse(lease?.spec?.renewTime ?? '') || Date.parse(node.metadata.creationTimestamp ?? '') || at;
    const stale = at - renew > this.gracePeriodMs;
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    if (stale && ready?.status !== 'Unknown') {
      const msg = 'Kubelet stopped posting node status.';
      const conds: NodeCondition[] = (node.status?.conditions ?? []).map((c) =>
        c.type === 'Ready' ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown', message: msg, lastTransitionTime: now() } : c,
      );
      if (!ready)
        conds.push({
          type: 'Ready',
          status: 'Unknown',
          reason: 'NodeStatusNeverUpdated',
          message: 'Kubelet never posted node status.',
          lastTransitionTime: now(),
        });
      const updated = await this.client.patch(NODES, undefined, name, 'merge', { status: { conditions: conds } }, 'status');
      await this.events.record(node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
      await this.syncTaints(updated);
      return;
    }
    await this.syncTaints(node);
  }

  /** Make the node's not-ready/unreachable taints what its Ready condition calls for. */
  private async syncTaints(node: Node): Promise<void> {
    const key = readinessTaintKey(node);
    const taints: Taint[] = node.spec?.taints ?? [];
    const have = taints.filter((t) => CONDITION_TAINTS.has(t.key));
    const want = key ? ['NoSchedule', 'NoExecute'] : [];
    if (have.length === want.length && have.every((t) => t.key === key && want.includes(t.effect))) return;
    const t = now();
    const next = [...taints.filter((x) => !CONDITION_TAINTS.has(x.key)), ...want.map((effect) => ({ key: key!, effect, timeAdded: t }))];
    try {
      // The resourceVersion makes the write conditional: taints others set in between are never lost.
      await this.client.patch(NODES, undefined, node.metadata.name!, 'merge', {
        metadata: { resourceVersion: node.metadata.resourceVersion },
        spec: { taints: next },
      });
    } catch (e) {
      // A newer node is on its way through the informer, which calls again.
      if (errorCode(e) !== 404 && errorCode(e) !== 409) throw e;
    }
  }

  /** Pods on nodes that are gone can never finish: delete them now. One look per node name pods are bound
   *  to (at 1,000 nodes × 30 pods, 1,000 lookups a tick instead of 30,000). */
  private async collectOrphanPods(): Promise<void> {
    const orphans: Pod[] = [];
    for (const n of this.pods.indexer.indexValues(NODE_NAME_INDEX)) {
      if (!this.nodes.lister.get(undefined, n)) orphans.push(...this.pods.lister.byIndex(NODE_NAME_INDEX, n));
    }
    for (const p of orphans) {
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
