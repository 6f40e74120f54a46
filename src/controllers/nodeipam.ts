// Node IPAM: every node gets a pod CIDR (a /24 by default) from the cluster CIDR. Level-triggered: the
// CIDRs in use are read from the nodes themselves, so a deleted node's range is free again at once.
import { NODES } from '../api/kinds.js';
import type { Node } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { EventRecorder } from '../client/events.js';
import type { Client } from '../client/types.js';
import { type Cidr, formatCidr, parseCidr } from '../util/cidr.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';

export class NodeIpam implements Controller {
  private client: Client;
  private nodes: SharedInformer<Node>;
  private queue!: WorkQueue;
  private cluster: Cidr;
  private events: EventRecorder;
  /** Allocations written but not yet seen in the informer, so two nodes never get one range. */
  private pending = new Map<string, string>();
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(
    ctx: ControllerContext,
    clusterCidr: string,
    private maskSize = 24,
  ) {
    this.qm = queueMetrics(ctx, 'node_ipam');
    this.client = ctx.client;
    this.cluster = parseCidr(clusterCidr);
    if (maskSize < this.cluster.prefix || maskSize > 30) {
      throw new Error(`node CIDR mask /${maskSize} does not fit in the cluster CIDR ${clusterCidr}`);
    }
    this.events = new EventRecorder(ctx.client, 'node-ipam-controller');
    this.nodes = ctx.informers.informerFor(NODES);
  }

  async start(): Promise<void> {
    this.queue = new WorkQueue((name) => this.reconcile(name), {
      workers: 1,
      metrics: this.qm,
      onError: (k, e) => console.error(`node ipam: ${k}:`, e instanceof Error ? e.message : e),
    });
    await this.nodes.waitForSync();
    this.regs.add(
      this.nodes.addEventHandler(
        {
          onAdd: (n) => this.queue.add(n.metadata.name!),
          onUpdate: (n) => this.queue.add(n.metadata.name!),
          onDelete: (n) => this.pending.delete(n.metadata.name!),
        },
        30_000,
      ),
    );
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue?.stop();
    this.pending.clear();
  }

  /** The lowest /mask in the cluster CIDR that no node uses. */
  allocate(used: Set<string>): string | undefined {
    const step = 2 ** (32 - this.maskSize);
    const count = 2 ** (this.maskSize - this.cluster.prefix);
    for (let i = 0; i < count; i++) {
      const c = formatCidr({ base: (this.cluster.base + i * step) >>> 0, prefix: this.maskSize });
      if (!used.has(c)) return c;
    }
    return undefined;
  }

  private async reconcile(name: string): Promise<void> {
    const node = this.nodes.lister.get(undefined, name);
    if (!node || node.spec?.podCIDR) return;
    // Already given one whose write the cache has not shown yet (an event for the node came first): the same
    // CIDR again, never a second one (the API refuses a change of podCIDR).
    const given = this.pending.get(name);
    if (given) {
      await this.client.patch(NODES, undefined, name, 'merge', { spec: { podCIDR: given, podCIDRs: [given] } });
      return;
    }
    const used = new Set<string>();
    for (const n of this.nodes.lister.list()) {
      for (const c of [n.spec?.podCIDR, ...(n.spec?.podCIDRs ?? [])]) if (c) used.add(c);
      if (n.spec?.podCIDR) this.pending.delete(n.metadata.name!);
    }
    for (const [n, c] of this.pending) if (this.nodes.lister.get(undefined, n)) used.add(c);
    const cidr = this.allocate(used);
    if (!cidr) {
      await this.events.record(
        node,
        'Warning',
        'CIDRNotAvailable',
        `Node ${name} status is now: CIDRNotAvailable (the cluster CIDR ${formatCidr(this.cluster)} has no free /${this.maskSize})`,
      );
      this.queue.addAfter(name, 10_000);
      return;
    }
    this.pending.set(name, cidr);
    await this.client.patch(NODES, undefined, name, 'merge', { spec: { podCIDR: cidr, podCIDRs: [cidr] } });
  }
}
