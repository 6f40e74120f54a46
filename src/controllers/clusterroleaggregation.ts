// ClusterRole aggregation (kube-controller-manager's clusterrole-aggregation controller): a ClusterRole
// with an aggregationRule gets, as its rules, the union of the rules of every ClusterRole its selectors
// match, in the order of those roles' names; direct edits of its rules are put back.
import { isDeepStrictEqual } from 'node:util';
import { CLUSTERROLES } from '../api/kinds.js';
import { selectorMatches } from '../api/labels.js';
import type { ClusterRole, PolicyRule } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';

/** The rules an aggregated ClusterRole should hold, given every ClusterRole there is. */
export function aggregatedRules(role: ClusterRole, all: readonly ClusterRole[]): PolicyRule[] {
  const selectors = role.aggregationRule?.clusterRoleSelectors ?? [];
  const sources = all
    .filter((c) => c.metadata.name !== role.metadata.name && selectors.some((s) => selectorMatches(s, c.metadata.labels)))
    .sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : a.metadata.name! > b.metadata.name! ? 1 : 0));
  const out: PolicyRule[] = [];
  for (const c of sources) for (const r of c.rules ?? []) if (!out.some((x) => isDeepStrictEqual(x, r))) out.push(r);
  return out;
}

export class ClusterRoleAggregation implements Controller {
  private roles: SharedInformer<ClusterRole>;
  private queue: WorkQueue;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(private ctx: ControllerContext) {
    this.qm = queueMetrics(ctx, 'ClusterRoleAggregator');
    this.queue = new WorkQueue((key) => this.reconcile(key), { metrics: this.qm, workers: 1 });
    this.roles = ctx.informers.informerFor(CLUSTERROLES);
  }

  async start(): Promise<void> {
    await this.roles.waitForSync();
    // Any ClusterRole's change may change what an aggregated one selects: every aggregated one is looked at.
    const enqueueAll = () => {
      for (const c of this.roles.lister.list()) if (c.aggregationRule) this.queue.add(c.metadata.name!);
    };
    this.regs.add(this.roles.addEventHandler({ onAdd: enqueueAll, onUpdate: (n, o) => n !== o && enqueueAll(), onDelete: enqueueAll }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private async reconcile(name: string): Promise<void> {
    const role = this.roles.lister.get(undefined, name);
    if (!role?.aggregationRule) return;
    const want = aggregatedRules(role, this.roles.lister.list());
    if (isDeepStrictEqual(role.rules ?? [], want)) return;
    // The resourceVersion read makes a stale cache cost a 409 and a retry, never a lost rule.
    await this.ctx.client.update(CLUSTERROLES, undefined, { ...role, rules: want });
  }
}
