// Node IPAM: every node gets a pod CIDR (a /24 by default) from the cluster CIDR. Level-triggered: the
// CIDRs in use are read from the nodes themselves, so a deleted node's range is free again at once.
import { findResource } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { Informer } from '../client/informer.js';
import { EventRecorder } from '../client/events.js';
import type { Client } from '../client/types.js';
import { type Cidr, formatCidr, parseCidr } from '../util/cidr.js';
import { WorkQueue } from '../client/workqueue.js';

const NODES = findResource('', 'v1', 'nodes')!;

export class NodeIpam {
  private nodes: Informer;
  private queue: WorkQueue;
  private cluster: Cidr;
  private events: EventRecorder;
  /** Allocations written but not yet seen in the informer, so two nodes never get one range. */
  private pending = new Map<string, string>();

  constructor(private client: Client, clusterCidr: string, private maskSize = 24) {
    this.cluster = parseCidr(clusterCidr);
    if (maskSize < this.cluster.prefix || maskSize > 30) {
      throw new Error(`node CIDR mask /${maskSize} does not fit in the cluster CIDR ${clusterCidr}`);
    }
    this.events = new EventRecorder(client, 'node-ipam-controller');
    this.nodes = new Informer(client, NODES).on({ onAdd: (n) => this.queue.add(n.metadata.name!), onUpdate: (n) => this.queue.add(n.metadata.name!) });
    this.queue = new WorkQueue((name) => this.reconcile(name), 1, (k, e) => console.error(`node ipam: ${k}:`, e instanceof Error ? e.message : e));
  }

  async start(): Promise<void> {
    this.nodes.start();
    await this.nodes.hasSynced();
    this.queue.start();
  }

  stop(): void {
    this.nodes.stop();
    this.queue.stop();
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
    const node = this.nodes.get(name);
    if (!node || node.spec?.podCIDR) return;
    const used = new Set<string>();
    for (const n of this.nodes.list()) {
      for (const c of [n.spec?.podCIDR, ...(n.spec?.podCIDRs ?? [])]) if (c) used.add(c);
      if (n.spec?.podCIDR) this.pending.delete(n.metadata.name!);
    }
    for (const [n, c] of this.pending) if (this.nodes.get(n)) used.add(c);
    const cidr = this.allocate(used);
    if (!cidr) {
      await this.events.record(node as KObject, 'Warning', 'CIDRNotAvailable', `Node ${name} status is now: CIDRNotAvailable (the cluster CIDR ${formatCidr(this.cluster)} has no free /${this.maskSize})`);
      this.queue.addAfter(name, 10_000);
      return;
    }
    this.pending.set(name, cidr);
    await this.client.patch(NODES, undefined, name, 'merge', { spec: { podCIDR: cidr, podCIDRs: [cidr] } });
  }
}
