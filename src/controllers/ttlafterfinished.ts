// The TTL-after-finished controller: a Job with spec.ttlSecondsAfterFinished is deleted (Foreground, so
// its pods go first) that many seconds after its Complete or Failed condition, as upstream's does.
import { finishedCondition } from '../api/batch.js';
import { JOBS } from '../api/kinds.js';
import type { Job } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { type Client, errorCode, isNotFound, objectKey, splitKey } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';

/** When the Job expires (ms), or undefined when it has no TTL or has not finished. */
export function expiresAt(job: Job): number | undefined {
  const ttl = job.spec?.ttlSecondsAfterFinished;
  if (typeof ttl !== 'number' || job.metadata.deletionTimestamp) return undefined;
  const c = finishedCondition(job);
  if (!c) return undefined;
  const t = Date.parse(String(c.lastTransitionTime ?? ''));
  return Number.isFinite(t) ? t + ttl * 1000 : undefined;
}

export class TtlAfterFinished implements Controller {
  private client: Client;
  private jobs: SharedInformer<Job>;
  private queue!: WorkQueue;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(
    ctx: ControllerContext,
    private clock: () => number = Date.now,
  ) {
    this.qm = queueMetrics(ctx, 'ttl_jobs_to_delete');
    this.client = ctx.client;
    this.jobs = ctx.informers.informerFor(JOBS);
  }

  async start(): Promise<void> {
    this.queue = new WorkQueue((key) => this.sync(key), {
      metrics: this.qm,
      workers: 2,
      onError: (key, err) => console.error(`ttl-after-finished: ${key}:`, err instanceof Error ? err.message : err),
    });
    await this.jobs.waitForSync();
    const consider = (j: Job) => {
      if (expiresAt(j) !== undefined) this.queue.add(objectKey(j));
    };
    this.regs.add(this.jobs.addEventHandler({ onAdd: consider, onUpdate: consider }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue?.stop();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs: number }> {
    const cached = this.jobs.lister.getByKey(key);
    const at = cached && expiresAt(cached);
    if (at === undefined) return;
    const left = at - this.clock();
    if (left > 0) return { requeueAfterMs: left + 10 };
    // The cache may be stale (the TTL changed, the Job was re-created): decide on the live object.
    const { namespace, name } = splitKey(key);
    const live = await this.client.get(JOBS, namespace, name);
    const liveAt = live && expiresAt(live);
    if (liveAt === undefined) return;
    if (liveAt > this.clock()) return { requeueAfterMs: liveAt - this.clock() + 10 };
    try {
      await this.client.delete(JOBS, namespace, name, {
        propagationPolicy: 'Foreground',
        preconditions: { uid: live!.metadata.uid, resourceVersion: live!.metadata.resourceVersion },
      });
    } catch (e) {
      if (isNotFound(e)) return;
      if (errorCode(e) === 409) return { requeueAfterMs: 100 };
      throw e;
    }
  }
}
