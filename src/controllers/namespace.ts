// Namespace lifecycle: a terminating namespace has its contents deleted, then goes away; every live
// namespace has its `default` ServiceAccount. Level-triggered: each pass reads what is, acts on the gap.
import { RESOURCES, findResource } from '../api/resources.js';
import type { Registry } from '../apiserver/registry.js';
import { ApiError } from '../api/status.js';
import type { Subscription } from '../apiserver/watchcache.js';
import { WorkQueue } from '../client/workqueue.js';

const NS = findResource('', 'v1', 'namespaces')!;
const SA = findResource('', 'v1', 'serviceaccounts')!;
const RESYNC_MS = 30_000;

export class NamespaceController {
  private queue: WorkQueue;
  private subs: Subscription[] = [];
  private resync?: NodeJS.Timeout;

  constructor(private reg: Registry) {
    this.queue = new WorkQueue((ns) => this.reconcile(ns), 2, (key, err) => console.error(`namespace controller: ${key}:`, err instanceof Error ? err.message : err));
  }

  async start(): Promise<void> {
    const from = this.reg.cache.revision;
    const onNs = this.reg.cache.subscribe('/registry/core/namespaces/', from, (evs) => {
      for (const e of evs) this.queue.add(e.object.metadata.name!);
    }, () => void this.enqueueAll());
    // A deleted default ServiceAccount comes back; a deleted object in a terminating namespace may finish it.
    const onSa = this.reg.cache.subscribe('/registry/', from, (evs) => {
      for (const e of evs) if (e.type === 'delete' && e.object.metadata.namespace) this.queue.add(e.object.metadata.namespace);
    }, () => {});
    this.subs = [onNs, onSa].filter((s): s is Subscription => Boolean(s));
    this.queue.start();
    await this.enqueueAll();
    this.resync = setInterval(() => void this.enqueueAll(), RESYNC_MS);
    this.resync.unref();
  }

  stop(): void {
    clearInterval(this.resync);
    for (const s of this.subs) s.close();
    this.queue.stop();
  }

  private async enqueueAll(): Promise<void> {
    const { items } = await this.reg.list(NS, undefined);
    for (const n of items) this.queue.add(n.metadata.name!);
  }

  private async reconcile(name: string): Promise<void> {
    const ns = await this.reg.tryGet(NS, undefined, name);
    if (!ns) return;
    if (!ns.metadata.deletionTimestamp) {
      if (!(await this.reg.tryGet(SA, name, 'default'))) {
        try {
          await this.reg.create(SA, name, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
        } catch (e) {
          if (!(e instanceof ApiError && (e.code === 409 || e.code === 403 || e.code === 404))) throw e;
        }
      }
      return;
    }
    // Terminating: delete everything in it; finish when nothing is left.
    let remaining = 0;
    for (const r of RESOURCES) {
      if (!r.namespaced) continue;
      const { items } = await this.reg.list(r, name);
      for (const o of items) {
        remaining++;
        if (o.metadata.deletionTimestamp && !o.metadata.finalizers?.length) continue;
        try {
          await this.reg.delete(r, name, o.metadata.name!, { propagationPolicy: 'Background' });
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
      }
    }
    if (remaining > 0) {
      // Check again soon: pods on nodes finish their grace period, finalizers are removed by their owners.
      const left = await this.countContents(name);
      if (left > 0) {
        this.queue.addAfter(name, 1000);
        return;
      }
    }
    await this.reg.purge(NS, undefined, name);
  }

  private async countContents(ns: string): Promise<number> {
    let n = 0;
    for (const r of RESOURCES) if (r.namespaced) n += (await this.reg.list(r, ns, { limit: 1 })).items.length;
    return n;
  }
}

/** The namespaces every cluster has from the start. */
export async function bootstrapNamespaces(reg: Registry): Promise<void> {
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    if (await reg.tryGet(NS, undefined, name)) continue;
    try {
      await reg.create(NS, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 409)) throw e;
    }
  }
}
