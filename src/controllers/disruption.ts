// The disruption controller: each PodDisruptionBudget's status from the pods it selects — expectedPods
// (the pods, or their controllers' replicas when the budget is a percentage or maxUnavailable),
// desiredHealthy, currentHealthy (Ready, not terminating, not just evicted), disruptionsAllowed and the
// DisruptionAllowed condition, as upstream computes them. It also forgets evictions (disruptedPods) once
// the pod is gone or after two minutes, as upstream does.
import { scaledValue } from '../api/intstr.js';
import { PODDISRUPTIONBUDGETS, PODS } from '../api/kinds.js';
import { selectorMatches } from '../api/labels.js';
import type { Condition, Pod, PodDisruptionBudget, PodDisruptionBudgetStatus } from '../api/types.js';
import { isPodReady } from '../api/conditions.js';
import type { SharedInformer } from '../client/informer.js';
import { type Client, errorCode, objectKey } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { now } from '../util/time.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import { controllerScale } from './disruptionscale.js';

/** How long an eviction counts as a disruption while the pod is still there (upstream's DeletionTimeout). */
export const DELETION_TIMEOUT_MS = 2 * 60_000;

/** An int-or-percent against a total: percentages round up, as upstream's GetScaledValueFromIntOrPercent(…, true). */
export const scaled = (v: number | string, total: number): number => scaledValue(v, total, true);

export interface BudgetCounts {
  expectedPods: number;
  desiredHealthy: number;
}

/** The budget's expected and desired counts; `expectedFromControllers` is asked only when needed. */
export async function budgetCounts(b: PodDisruptionBudget, pods: Pod[], expectedFromControllers: () => Promise<number>): Promise<BudgetCounts> {
  const spec = b.spec ?? {};
  if (spec.maxUnavailable !== undefined && spec.maxUnavailable !== null) {
    const expectedPods = await expectedFromControllers();
    const max = scaled(spec.maxUnavailable, expectedPods);
    return { expectedPods, desiredHealthy: Math.max(0, expectedPods - max) };
  }
  if (typeof spec.minAvailable === 'string') {
    const expectedPods = await expectedFromControllers();
    return { expectedPods, desiredHealthy: scaled(spec.minAvailable, expectedPods) };
  }
  if (typeof spec.minAvailable === 'number') return { expectedPods: pods.length, desiredHealthy: spec.minAvailable };
  // Neither is set: the budget allows nothing (expectedPods 0), as upstream.
  return { expectedPods: 0, desiredHealthy: 0 };
}

export class DisruptionController implements Controller {
  private client: Client;
  private pods: SharedInformer<Pod>;
  private budgets: SharedInformer<PodDisruptionBudget>;
  private queue: WorkQueue;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(ctx: ControllerContext) {
    this.qm = queueMetrics(ctx, 'disruption');
    this.client = ctx.client;
    this.pods = ctx.informers.informerFor(PODS);
    this.budgets = ctx.informers.informerFor(PODDISRUPTIONBUDGETS);
    this.queue = new WorkQueue((key) => this.sync(key), {
      metrics: this.qm,
      workers: 2,
      onError: (key, err) => console.error(`disruption: ${key}:`, err instanceof Error ? err.message : err),
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.pods.waitForSync(), this.budgets.waitForSync()]);
    const budget = (b: PodDisruptionBudget) => this.queue.add(objectKey(b));
    this.regs.add(this.budgets.addEventHandler({ onAdd: budget, onUpdate: (b, old) => b !== old && budget(b) }, 30_000));
    const pod = (p: Pod, old?: Pod) => {
      for (const b of this.budgets.lister.inNamespace(p.metadata.namespace!)) {
        const sel = b.spec?.selector;
        if (sel && (selectorMatches(sel, p.metadata.labels) || (old && selectorMatches(sel, old.metadata.labels)))) budget(b);
      }
    };
    this.regs.add(this.pods.addEventHandler({ onAdd: (p) => pod(p), onUpdate: (p, old) => pod(p, old), onDelete: (p) => pod(p) }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs: number }> {
    const b = this.budgets.lister.getByKey(key);
    if (!b) return;
    const ns = b.metadata.namespace!;
    const sel = b.spec?.selector;
    // policy/v1: an empty selector selects every pod in the namespace, a missing one none.
    const pods = sel ? this.pods.lister.inNamespace(ns).filter((p) => selectorMatches(sel, p.metadata.labels)) : [];
    const at = Date.now();
    // Evictions not yet seen as deletions: the pod is unhealthy for the budget until then.
    const disrupted: Record<string, string> = {};
    let recheck: number | undefined;
    for (const [name, t] of Object.entries(b.status?.disruptedPods ?? {})) {
      const p = pods.find((x) => x.metadata.name === name);
      const expires = Date.parse(t) + DELETION_TIMEOUT_MS;
      if (!p || p.metadata.deletionTimestamp || expires <= at) continue;
      disrupted[name] = t;
      recheck = Math.min(recheck ?? Infinity, expires - at);
    }
    let counts: BudgetCounts;
    let failure: string | undefined;
    try {
      counts = await budgetCounts(b, pods, () => controllerScale(this.client, ns, pods));
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
      counts = { expectedPods: 0, desiredHealthy: 0 };
    }
    const currentHealthy = pods.filter((p) => !p.metadata.deletionTimestamp && isPodReady(p) && !disrupted[p.metadata.name!]).length;
    const allowed = failure || counts.expectedPods <= 0 ? 0 : Math.max(0, currentHealthy - counts.desiredHealthy);
    const prev = b.status?.conditions?.find((c) => c.type === 'DisruptionAllowed');
    const cond: Condition = failure
      ? {
          type: 'DisruptionAllowed',
          status: 'False',
          reason: 'SyncFailed',
          message: failure,
          observedGeneration: b.metadata.generation,
          lastTransitionTime: '',
        }
      : allowed > 0
        ? {
            type: 'DisruptionAllowed',
            status: 'True',
            reason: 'SufficientPods',
            message: '',
            observedGeneration: b.metadata.generation,
            lastTransitionTime: '',
          }
        : {
            type: 'DisruptionAllowed',
            status: 'False',
            reason: 'InsufficientPods',
            message: '',
            observedGeneration: b.metadata.generation,
            lastTransitionTime: '',
          };
    cond.lastTransitionTime = prev && prev.status === cond.status ? prev.lastTransitionTime : now();
    const status: PodDisruptionBudgetStatus = {
      observedGeneration: b.metadata.generation,
      disruptedPods: Object.keys(disrupted).length ? disrupted : undefined,
      disruptionsAllowed: allowed,
      currentHealthy,
      desiredHealthy: counts.desiredHealthy,
      expectedPods: counts.expectedPods,
      conditions: [cond],
    };
    if (JSON.stringify(normal(b.status)) !== JSON.stringify(normal(status))) {
      try {
        // The resourceVersion makes this conditional: an eviction that decremented the budget in the
        // meantime is not overwritten; the newer budget comes back through the informer.
        await this.client.update(PODDISRUPTIONBUDGETS, ns, { ...b, status }, 'status');
      } catch (e) {
        if (errorCode(e) !== 404 && errorCode(e) !== 409) throw e;
      }
    }
    if (failure) return { requeueAfterMs: 15_000 };
    if (recheck !== undefined) return { requeueAfterMs: recheck + 10 };
  }
}

function normal(s: PodDisruptionBudgetStatus | undefined): unknown {
  if (!s) return undefined;
  return { ...s, disruptedPods: s.disruptedPods && Object.keys(s.disruptedPods).length ? s.disruptedPods : undefined };
}
