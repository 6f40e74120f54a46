// Namespace lifecycle: a terminating namespace has its contents deleted, then is finalized (its
// `kubernetes` finalizer removed through namespaces/finalize) and goes; every live namespace has its
// `default` ServiceAccount. Level-triggered: each pass reads what is, acts on the gap.
import { NAMESPACES, SERVICEACCOUNTS } from '../api/kinds.js';
import { RESOURCES } from '../api/resources.js';
import type { Namespace, ServiceAccount } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { type Client, errorCode } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';

/** How soon a terminating namespace with contents left is looked at again. */
const TERMINATING_POLL_MS = 500;
const RESYNC_MS = 30_000;
/** The finalizer the API server puts on every namespace, removed once its contents are gone. */
export const KUBERNETES_FINALIZER = 'kubernetes';

export class NamespaceController implements Controller {
  private client: Client;
  private namespaces: SharedInformer<Namespace>;
  private accounts: SharedInformer<ServiceAccount>;
  private queue!: WorkQueue;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(ctx: ControllerContext) {
    this.qm = queueMetrics(ctx, 'namespace');
    this.client = ctx.client;
    this.namespaces = ctx.informers.informerFor(NAMESPACES);
    this.accounts = ctx.informers.informerFor(SERVICEACCOUNTS);
  }

  async start(): Promise<void> {
    this.queue = new WorkQueue((ns) => this.reconcile(ns), {
      workers: 2,
      metrics: this.qm,
      onError: (key, err) => console.error(`namespace controller: ${key}:`, err instanceof Error ? err.message : err),
    });
    await Promise.all([this.namespaces.waitForSync(), this.accounts.waitForSync()]);
    const nsChanged = (n: Namespace) => this.queue.add(n.metadata.name!);
    this.regs.add(this.namespaces.addEventHandler({ onAdd: nsChanged, onUpdate: nsChanged, onDelete: nsChanged }, RESYNC_MS));
    // A deleted default ServiceAccount comes back.
    this.regs.add(this.accounts.addEventHandler({ onDelete: (sa) => sa.metadata.name === 'default' && this.queue.add(sa.metadata.namespace!) }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue?.stop();
  }

  private async reconcile(name: string): Promise<void | { requeueAfterMs: number }> {
    const ns = this.namespaces.lister.get(undefined, name);
    if (!ns) return;
    if (!ns.metadata.deletionTimestamp) {
      if (!this.accounts.lister.get(name, 'default')) {
        await ignore([409, 403, 404], () =>
          this.client.create(SERVICEACCOUNTS, name, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } }),
        );
      }
      return;
    }
    // Terminating: delete everything in it; finish when nothing is left.
    let remaining = 0;
    for (const r of RESOURCES) {
      if (!r.namespaced || !r.verbs.includes('delete')) continue;
      const { items } = await this.client.list(r, name);
      for (const o of items) {
        remaining++;
        if (o.metadata.deletionTimestamp && !o.metadata.finalizers?.length) continue;
        await ignore([404], () => this.client.delete(r, name, o.metadata.name!, { propagationPolicy: 'Background' }));
      }
    }
    // Pods on nodes finish their grace period, finalizers are removed by their owners: look again soon.
    if (remaining > 0 && (await this.countContents(name)) > 0) return { requeueAfterMs: TERMINATING_POLL_MS };
    const finalizers = (ns.spec?.finalizers ?? []).filter((f) => f !== KUBERNETES_FINALIZER);
    if (finalizers.length !== (ns.spec?.finalizers ?? []).length) {
      await ignore([404], () => this.client.update(NAMESPACES, undefined, { ...ns, spec: { ...ns.spec, finalizers } }, 'finalize'));
    }
    // Finalized: a delete now removes it (a no-op when the finalize already did).
    if (!finalizers.length) await ignore([404], () => this.client.delete(NAMESPACES, undefined, name));
  }

  private async countContents(ns: string): Promise<number> {
    let n = 0;
    for (const r of RESOURCES) if (r.namespaced && r.verbs.includes('delete')) n += (await this.client.list(r, ns)).items.length;
    return n;
  }
}

/** The namespaces every cluster has from the start. */
export async function bootstrapNamespaces(client: Client): Promise<void> {
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    if (await client.get(NAMESPACES, undefined, name)) continue;
    await ignore([409], () => client.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  }
}

/** Runs f; an API error with one of these codes means another writer got there first. */
async function ignore(codes: number[], f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!codes.includes(errorCode(e) ?? 0)) throw e;
  }
}
