// Node IPAM: every node gets a pod CIDR (a /24 by default) from the cluster CIDR. Level-triggered: the
// CIDRs in use are the nodes' own, kept current from the node informer's events (a deleted node's range
// is free again at once), so a joining node costs a lookup, not a scan of every node (at 1,000 nodes
// joining, the scan was O(N²)).
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
  /** CIDRs the nodes in the informer hold → the node holding each. */
  private used = new Map<string, string>();
  /** Every range below this index is in use: the search for the lowest free one starts here. */
  private next = 0;
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
          onAdd: (n) => {
            this.track(n);
            this.queue.add(n.metadata.name!);
          },
          onUpdate: (n, old) => {
            this.untrack(old, n);
            this.track(n);
            if (!n.spec?.podCIDR) this.queue.add(n.metadata.name!);
          },
          onDelete: (n) => {
            this.untrack(n);
            const given = this.pending.get(n.metadata.name!);
            if (given) this.freed(given);
            this.pending.delete(n.metadata.name!);
          },
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
    this.used.clear();
  }

  private track(n: Node): void {
    for (const c of cidrsOf(n)) this.used.set(c, n.metadata.name!);
    // Its allocation is seen: no longer pending.
    if (n.spec?.podCIDR) this.pending.delete(n.metadata.name!);
  }

  /** Forgets the ranges of n (those `now`, its next version, still holds aside). */
  private untrack(n: Node, now?: Node): void {
    const kept = now ? cidrsOf(now) : [];
    for (const c of cidrsOf(n)) {
      if (this.used.get(c) !== n.metadata.name || kept.includes(c)) continue;
      this.used.delete(c);
      this.freed(c);
    }
  }

  /** A range is free again: the search starts at it if it is below where it started. */
  private freed(cidr: string): void {
    let c: Cidr;
    try {
      c = parseCidr(cidr);
    } catch {
      return; // not a range this controller gives (a node's own odd value): nothing to reuse
    }
    const i = (c.base - this.cluster.base) / 2 ** (32 - this.maskSize);
    if (c.prefix === this.maskSize && Number.isInteger(i) && i >= 0 && i < this.next) this.next = i;
  }

  /** The lowest /mask in the cluster CIDR that isUsed does not claim; the ones below it are in use from now on. */
  allocate(isUsed: (cidr: string) => boolean): string | undefined {
    const step = 2 ** (32 - this.maskSize);
    const count = 2 ** (this.maskSize - this.cluster.prefix);
    for (let i = this.next; i < count; i++) {
      const c = formatCidr({ base: (this.cluster.base + i * step) >>> 0, prefix: this.maskSize });
      if (!isUsed(c)) {
        this.next = i + 1;
        return c;
      }
    }
    this.next = count;
    return undefined;
  }

  private async reconcile(name: string): Promise<void> {
    const node = this.nodes.lister.get(undefined, name);
    if (!node || node.spec?.podCIDR) return;
    // Already given one whose write the cache has not shown yet (an event for the node came first): the same
    // CIDR again, never a second one (the API refuses a change of podCIDR).
    const earlier = this.pending.get(name);
    if (earlier) {
      await this.client.patch(NODES, undefined, name, 'merge', { spec: { podCIDR: earlier, podCIDRs: [earlier] } });
      return;
    }
    // In use: the nodes' ranges, and those given to nodes whose write the informer has not shown yet.
    const given = new Set<string>();
    for (const [n, c] of this.pending) if (this.nodes.lister.get(undefined, n)) given.add(c);
    const cidr = this.allocate((c) => this.used.has(c) || given.has(c));
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

function cidrsOf(n: Node): string[] {
  const out = n.spec?.podCIDRs ?? [];
  return n.spec?.podCIDR && !out.includes(n.spec.podCIDR) ? [n.spec.podCIDR, ...out] : out;
}
