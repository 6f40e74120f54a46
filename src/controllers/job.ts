// The Job controller: runs a Job's pods to completion. Each finished pod is first recorded by uid in
// status.uncountedTerminatedPods, then its batch.kubernetes.io/job-tracking finalizer is removed, then it
// moves into succeeded/failed, so a pod is counted exactly once across restarts and deletions. Back-off
// between failures (10 s doubling, 6 min cap), backoffLimit, activeDeadlineSeconds, Indexed completion,
// podFailurePolicy, suspend; FailureTarget / SuccessCriteriaMet first, Failed / Complete once no pod runs.
import {
  finishedCondition,
  formatIndexes,
  JOB_COMPLETION_INDEX,
  JOB_COMPLETION_INDEX_ENV,
  JOB_TRACKING_FINALIZER,
  parseIndexes,
  trueCondition,
  type JobConditionType,
} from '../api/batch.js';
import { JOBS, PODS } from '../api/kinds.js';
import type { Container, Job, JobCondition, JobStatus, Pod } from '../api/types.js';
import { semanticEqual } from '../api/validation.js';
import { EventRecorder } from '../client/events.js';
import { Expectations } from '../client/expectations.js';
import { byOwnerUid, OWNER_UID_INDEX } from '../client/indexer.js';
import type { SharedInformer } from '../client/informer.js';
import { type Client, isNotFound, objectKey } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { now as nowText } from '../util/time.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import {
  backoffDelay,
  deletionOrder,
  finishTime,
  hasTrackingFinalizer,
  isActive,
  isFailed,
  isReady,
  isSucceeded,
  isTerminal,
  matchPodFailurePolicy,
  podIndex,
} from './jobutil.js';

/** Pods are created in batches of 1, 2, 4 … (upstream's slow start), at most this many in one sync. */
const MAX_CREATES_PER_SYNC = 500;

interface Backoff {
  failures: number;
  lastFailure: number;
}

interface Failure {
  reason: string;
  message: string;
}

/** The Job controller of a pod: its controller reference when that is a Job. */
function jobOwner(p: Pod): { key: string; uid: string } | undefined {
  const ref = (p.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === 'Job' && r.apiVersion === 'batch/v1');
  return ref ? { key: `${p.metadata.namespace}/${ref.name}`, uid: ref.uid } : undefined;
}

function setCondition(st: JobStatus, type: JobConditionType, status: 'True' | 'False', reason: string, message: string, at: string): void {
  const conds = [...(st.conditions ?? [])];
  const i = conds.findIndex((c) => c.type === type);
  const prev = i >= 0 ? conds[i] : undefined;
  if (prev && prev.status === status && prev.reason === reason && prev.message === message) return;
  const c: JobCondition = {
    type,
    status,
    reason,
    message,
    lastProbeTime: at,
    lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : at,
  };
  if (i >= 0) conds[i] = c;
  else conds.push(c);
  st.conditions = conds;
}

export class JobController implements Controller {
  private client: Client;
  private jobs: SharedInformer<Job>;
  private pods: SharedInformer<Pod>;
  private queue!: WorkQueue;
  /** Pods with the tracking finalizer whose Job is gone: their finalizer is removed. */
  private orphans!: WorkQueue;
  private regs = new Registrations();
  private events: EventRecorder;
  private expectations = new Expectations();
  /** Pods whose finalizer we removed, until the cache shows it gone: never counted twice. */
  private finalizersRemoved = new Map<string, Set<string>>();
  /** The resourceVersion of our last status write per Job: a sync waits until the cache has it. */
  private statusWritten = new Map<string, number>();
  private backoff = new Map<string, Backoff>();
  /** Pods we deleted because the Job was suspended: they are neither failures nor successes. */
  private suspendDeleted = new Map<string, Set<string>>();

  private readonly qm: QueueMetrics | undefined;
  private readonly qmOrphans: QueueMetrics | undefined;

  constructor(
    ctx: ControllerContext,
    private clock: () => number = Date.now,
  ) {
    this.qm = queueMetrics(ctx, 'job');
    this.qmOrphans = queueMetrics(ctx, 'job_orphan_pod');
    this.client = ctx.client;
    this.jobs = ctx.informers.informerFor(JOBS);
    this.pods = ctx.informers.informerFor(PODS);
    if (!this.pods.indexer.hasIndex(OWNER_UID_INDEX)) this.pods.addIndex(OWNER_UID_INDEX, byOwnerUid);
    this.events = new EventRecorder(ctx.client, 'job-controller');
  }

  async start(): Promise<void> {
    const log = (what: string) => (key: string, err: unknown) => console.error(`job controller: ${what} ${key}:`, err instanceof Error ? err.message : err);
    this.queue = new WorkQueue((key) => this.sync(key), { metrics: this.qm, workers: 4, onError: log('sync') });
    this.orphans = new WorkQueue((key) => this.releaseOrphan(key), { metrics: this.qmOrphans, workers: 2, onError: log('orphan pod') });
    await Promise.all([this.jobs.waitForSync(), this.pods.waitForSync()]);
    this.regs.add(
      this.jobs.addEventHandler(
        {
          onAdd: (j) => this.queue.add(objectKey(j)),
          onUpdate: (j) => this.queue.add(objectKey(j)),
          onDelete: (j) => {
            const key = objectKey(j);
            this.forget(key);
            for (const p of this.pods.lister.byIndex(OWNER_UID_INDEX, j.metadata.uid ?? '')) if (hasTrackingFinalizer(p)) this.orphans.add(objectKey(p));
          },
        },
        5 * 60_000,
      ),
    );
    this.regs.add(
      this.pods.addEventHandler({
        onAdd: (p) => {
          const o = jobOwner(p);
          if (!o) return;
          if (!p.metadata.deletionTimestamp) this.expectations.creationObserved(o.key);
          this.podChanged(p, o);
        },
        onUpdate: (p, old) => {
          const o = jobOwner(p);
          if (!o) return;
          if (p.metadata.deletionTimestamp && !old.metadata.deletionTimestamp) this.expectations.deletionObserved(o.key);
          if (!hasTrackingFinalizer(p)) this.finalizersRemoved.get(o.key)?.delete(p.metadata.uid ?? '');
          this.podChanged(p, o);
        },
        onDelete: (p) => {
          const o = jobOwner(p);
          if (!o) return;
          if (!p.metadata.deletionTimestamp) this.expectations.deletionObserved(o.key);
          this.finalizersRemoved.get(o.key)?.delete(p.metadata.uid ?? '');
          this.queue.add(o.key);
        },
      }),
    );
    this.queue.start();
    this.orphans.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue?.stop();
    this.orphans?.stop();
  }

  private podChanged(p: Pod, o: { key: string; uid: string }): void {
    const job = this.jobs.lister.getByKey(o.key);
    if (job && job.metadata.uid === o.uid) this.queue.add(o.key);
    else if (hasTrackingFinalizer(p)) this.orphans.add(objectKey(p));
  }

  private forget(key: string): void {
    this.expectations.delete(key);
    this.finalizersRemoved.delete(key);
    this.statusWritten.delete(key);
    this.backoff.delete(key);
    this.suspendDeleted.delete(key);
  }

  private async releaseOrphan(podKey: string): Promise<void> {
    const p = this.pods.lister.getByKey(podKey);
    if (!p || !hasTrackingFinalizer(p)) return;
    const o = jobOwner(p);
    const job = o ? this.jobs.lister.getByKey(o.key) : undefined;
    if (o && job && job.metadata.uid === o.uid) return;
    // The cache may be behind a Job just created: ask the API before letting go of the pod.
    if (o) {
      const live = await this.client.get(JOBS, p.metadata.namespace, o.key.split('/')[1]);
      if (live && live.metadata.uid === o.uid && !live.metadata.deletionTimestamp) return;
    }
    await this.removeFinalizer(p);
  }

  private async removeFinalizer(p: Pod): Promise<void> {
    try {
      await this.client.patch(PODS, p.metadata.namespace, p.metadata.name ?? '', 'strategic', {
        metadata: { '$deleteFromPrimitiveList/finalizers': [JOB_TRACKING_FINALIZER] },
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  private async sync(key: string): Promise<void | { requeueAfterMs: number }> {
    const job = this.jobs.lister.getByKey(key);
    if (!job) {
      this.forget(key);
      return;
    }
    // Act only on a cache that holds our own last writes (status, creates, deletes).
    const written = this.statusWritten.get(key);
    if (written !== undefined && Number(job.metadata.resourceVersion) < written) return { requeueAfterMs: 1000 };
    if (!this.expectations.satisfied(key)) return { requeueAfterMs: 1000 };
    const uid = job.metadata.uid ?? '';
    const pods = this.pods.lister.byIndex(OWNER_UID_INDEX, uid).filter((p) => jobOwner(p)?.uid === uid);
    if (job.metadata.deletionTimestamp) {
      // Being deleted: stop tracking its pods so the garbage collector can remove them.
      await Promise.all(pods.filter(hasTrackingFinalizer).map((p) => this.removeFinalizer(p)));
      return;
    }
    return this.reconcile(key, job, pods);
  }

  private async reconcile(key: string, job: Job, pods: Pod[]): Promise<void | { requeueAfterMs: number }> {
    const now = this.clock();
    const at = nowText();
    const spec = job.spec!;
    const indexed = spec.completionMode === 'Indexed';
    const completions = spec.completions ?? undefined;
    const old: JobStatus = job.status ?? {};
    const st: JobStatus = structuredClone(old);
    const byUid = new Map(pods.map((p) => [p.metadata.uid ?? '', p]));
    const removed = this.finalizersRemoved.get(key) ?? new Set<string>();
    const suspendDeleted = this.suspendDeleted.get(key) ?? new Set<string>();
    const finished = finishedCondition(job);

    // 1. Uncounted pods whose finalizer is gone (or that are gone) move into the counters.
    const uncSucceeded = new Set(st.uncountedTerminatedPods?.succeeded ?? []);
    const uncFailed = new Set(st.uncountedTerminatedPods?.failed ?? []);
    let succeeded = st.succeeded ?? 0;
    let failed = st.failed ?? 0;
    for (const u of [...uncSucceeded]) {
      const p = byUid.get(u);
      if (!p || !hasTrackingFinalizer(p) || removed.has(u)) {
        uncSucceeded.delete(u);
        succeeded++;
      }
    }
    for (const u of [...uncFailed]) {
      const p = byUid.get(u);
      if (!p || !hasTrackingFinalizer(p) || removed.has(u)) {
        uncFailed.delete(u);
        failed++;
      }
    }

    // 2. Newly finished pods: recorded by uid now, finalizer removed after the status is written.
    const completed = indexed ? parseIndexes(st.completedIndexes, completions ?? 0) : new Set<number>();
    const release: Pod[] = [];
    let failure: Failure | undefined;
    const ft = trueCondition(job, 'FailureTarget');
    if (ft) failure = { reason: ft.reason ?? 'BackoffLimitExceeded', message: ft.message ?? '' };
    let newFailures = 0;
    let lastFailure = 0;
    let newSuccess = false;
    for (const p of pods) {
      const u = p.metadata.uid ?? '';
      if (!hasTrackingFinalizer(p) || removed.has(u) || uncSucceeded.has(u) || uncFailed.has(u)) continue;
      if (finished) {
        release.push(p);
        continue;
      }
      if (isSucceeded(p)) {
        release.push(p);
        uncSucceeded.add(u);
        newSuccess = true;
        if (indexed) {
          const i = podIndex(p, completions ?? 0);
          if (i !== undefined) completed.add(i);
        }
      } else if (suspendDeleted.has(u) && !isActive(p)) {
        release.push(p);
      } else if (isFailed(p, job)) {
        release.push(p);
        const m = spec.podFailurePolicy && p.status?.phase === 'Failed' ? matchPodFailurePolicy(job, p) : undefined;
        if (m?.rule.action === 'Ignore') continue;
        uncFailed.add(u);
        newFailures++;
        lastFailure = Math.max(lastFailure, finishTime(p) ?? now);
        if (m?.rule.action === 'FailJob' && !failure) failure = { reason: 'PodFailurePolicy', message: m.message };
      }
    }
    const b = this.backoff.get(key) ?? { failures: 0, lastFailure: 0 };
    if (newSuccess) b.failures = 0;
    if (newFailures) {
      b.failures += newFailures;
      b.lastFailure = Math.max(b.lastFailure, lastFailure);
    }
    this.backoff.set(key, b);

    const succeededTotal = succeeded + uncSucceeded.size;
    const failedTotal = failed + uncFailed.size;
    let active = pods.filter(isActive);
    const terminating = pods.filter((p) => !isTerminal(p) && !!p.metadata.deletionTimestamp);
    const requeue: number[] = [];

    // 3. Failure and success criteria.
    if (!finished && !failure) {
      const limit = spec.backoffLimit ?? 6;
      const restarts =
        spec.template.spec?.restartPolicy === 'OnFailure'
          ? active.reduce(
              (n, p) => n + [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? [])].reduce((m, s) => m + (s.restartCount ?? 0), 0),
              0,
            )
          : 0;
      const start = Date.parse(String(st.startTime ?? ''));
      if (failedTotal > limit || (spec.template.spec?.restartPolicy === 'OnFailure' && (limit === 0 ? restarts > 0 : restarts >= limit))) {
        failure = { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' };
      } else if (typeof spec.activeDeadlineSeconds === 'number' && Number.isFinite(start) && !spec.suspend) {
        const left = start + spec.activeDeadlineSeconds * 1000 - now;
        if (left <= 0) failure = { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' };
        else requeue.push(left);
      }
    }
    let success = !finished && !failure && !!trueCondition(job, 'SuccessCriteriaMet');
    if (!finished && !failure && !success) {
      if (indexed) success = completed.size >= (completions ?? 0);
      else if (completions !== undefined) success = succeededTotal >= completions;
      else success = succeededTotal > 0 && active.length === 0;
    }
    if (indexed) st.completedIndexes = formatIndexes([...completed].sort((x, y) => x - y));

    // 4. Act: finish, suspend, or run the pods the Job wants.
    const toDelete: Pod[] = [];
    let toCreate: number[] = [];
    let creates = 0;
    if (finished) {
      // Nothing runs any more; the pods' finalizers are released above.
    } else if (failure || success) {
      toDelete.push(...active);
      if (failure) {
        if (!ft) {
          setCondition(st, 'FailureTarget', 'True', failure.reason, failure.message, at);
          void this.events.record(job, 'Warning', failure.reason, failure.message);
        }
      } else {
        setCondition(st, 'SuccessCriteriaMet', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods', at);
      }
    } else if (spec.suspend) {
      toDelete.push(...active);
      const set = this.suspendDeleted.get(key) ?? new Set<string>();
      for (const p of active) set.add(p.metadata.uid ?? '');
      this.suspendDeleted.set(key, set);
      if (!trueCondition(job, 'Suspended')) {
        setCondition(st, 'Suspended', 'True', 'JobSuspended', 'Job suspended', at);
        void this.events.record(job, 'Normal', 'Suspended', 'Job suspended');
      }
    } else {
      if (trueCondition(job, 'Suspended')) {
        setCondition(st, 'Suspended', 'False', 'JobResumed', 'Job resumed', at);
        st.startTime = at;
        void this.events.record(job, 'Normal', 'Resumed', 'Job resumed');
      }
      st.startTime ??= at;
      const parallelism = spec.parallelism ?? 1;
      if (indexed) {
        const n = completions ?? 0;
        // One active pod per index that is not complete; extra and stale ones go.
        const byIndex = new Map<number, Pod>();
        for (const p of [...active].sort((x, y) => deletionOrder(y, x))) {
          const i = podIndex(p, n);
          if (i === undefined || completed.has(i) || byIndex.has(i)) toDelete.push(p);
          else byIndex.set(i, p);
        }
        const keep = [...byIndex.entries()].sort((x, y) => x[0] - y[0]);
        const want = Math.min(parallelism, n - completed.size);
        while (keep.length > want) toDelete.push(keep.pop()![1]);
        const busy = new Set(keep.map(([i]) => i));
        for (const p of terminating) {
          const i = podIndex(p, n);
          if (i !== undefined && spec.podReplacementPolicy === 'Failed') busy.add(i);
        }
        for (let i = 0; i < n && keep.length + toCreate.length < want; i++) if (!completed.has(i) && !busy.has(i)) toCreate.push(i);
      } else {
        let want = parallelism;
        if (completions !== undefined) want = Math.min(parallelism, Math.max(0, completions - succeededTotal));
        else if (succeededTotal > 0) want = Math.min(active.length, parallelism);
        if (active.length > want) toDelete.push(...[...active].sort(deletionOrder).slice(0, active.length - want));
        else creates = want - active.length;
      }
      if (spec.podReplacementPolicy === 'Failed' && terminating.length > 0 && !indexed) creates = 0;
      const pending = indexed ? toCreate.length : creates;
      if (pending > 0) {
        const wait = b.failures > 0 ? b.lastFailure + backoffDelay(b.failures) - now : 0;
        if (wait > 0) {
          requeue.push(wait);
          toCreate = [];
          creates = 0;
        }
      }
    }

    // 5. Status: what is true once the creates and deletes below are done.
    const deleting = new Set(toDelete.map((p) => p.metadata.uid));
    active = active.filter((p) => !deleting.has(p.metadata.uid));
    const nCreate = Math.min(indexed ? toCreate.length : creates, MAX_CREATES_PER_SYNC);
    st.active = active.length + nCreate;
    st.ready = active.filter(isReady).length;
    st.terminating = terminating.length + toDelete.length;
    st.succeeded = succeeded;
    st.failed = failed;
    st.uncountedTerminatedPods = { succeeded: [...uncSucceeded], failed: [...uncFailed] };
    if (!st.uncountedTerminatedPods.succeeded?.length) delete st.uncountedTerminatedPods.succeeded;
    if (!st.uncountedTerminatedPods.failed?.length) delete st.uncountedTerminatedPods.failed;
    // The terminal condition waits until no pod of the Job runs and every finished pod is counted.
    const settled = active.length === 0 && nCreate === 0 && st.terminating === 0 && uncSucceeded.size === 0 && uncFailed.size === 0;
    if (!finished && settled && (failure || success)) {
      st.active = 0;
      if (failure) {
        setCondition(st, 'Failed', 'True', failure.reason, failure.message, at);
      } else {
        setCondition(st, 'Complete', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods', at);
        st.completionTime = at;
        void this.events.record(job, 'Normal', 'Completed', 'Job completed');
      }
    }
    if (finished) st.active = 0;

    if (!semanticEqual(st, old)) {
      const wrote = await this.client.update(JOBS, job.metadata.namespace, { ...job, status: st }, 'status');
      this.statusWritten.set(key, Number(wrote.metadata.resourceVersion));
    }

    // 6. Finalizers of recorded pods, then deletes and creates.
    if (release.length) {
      const set = this.finalizersRemoved.get(key) ?? new Set<string>();
      this.finalizersRemoved.set(key, set);
      await Promise.all(
        release.map(async (p) => {
          await this.removeFinalizer(p);
          set.add(p.metadata.uid ?? '');
        }),
      );
    }
    if (toDelete.length || nCreate) this.expectations.expect(key, nCreate, toDelete.length);
    if (toDelete.length) await this.deletePods(key, job, toDelete);
    if (nCreate > 0) await this.createPods(key, job, indexed ? toCreate.slice(0, nCreate) : new Array(nCreate).fill(undefined));
    if (requeue.length) return { requeueAfterMs: Math.max(50, Math.min(...requeue) + 10) };
  }

  private async deletePods(key: string, job: Job, pods: Pod[]): Promise<void> {
    await Promise.all(
      pods.map(async (p) => {
        try {
          await this.client.delete(PODS, p.metadata.namespace, p.metadata.name ?? '', { preconditions: { uid: p.metadata.uid } });
          void this.events.record(job, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
        } catch (e) {
          this.expectations.lowerExpectations(key, 0, 1);
          if (!isNotFound(e)) throw e;
        }
      }),
    );
  }

  /** One pod per entry (an index for Indexed Jobs), in batches of 1, 2, 4 …; a failed batch stops the
   *  rest (their expectations are lowered, the error retries the sync with back-off). */
  private async createPods(key: string, job: Job, indexes: (number | undefined)[]): Promise<void> {
    let firstError: unknown;
    let done = 0;
    for (let size = 1; done < indexes.length && !firstError; size *= 2) {
      const batch = indexes.slice(done, done + size);
      done += batch.length;
      await Promise.all(
        batch.map(async (i) => {
          try {
            const pod = await this.client.create(PODS, job.metadata.namespace, podFromTemplate(job, i));
            void this.events.record(job, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`);
          } catch (e) {
            this.expectations.lowerExpectations(key, 1, 0);
            firstError ??= e;
          }
        }),
      );
    }
    if (firstError) {
      this.expectations.lowerExpectations(key, indexes.length - done, 0);
      void this.events.record(job, 'Warning', 'FailedCreate', `Error creating: ${firstError instanceof Error ? firstError.message : String(firstError)}`);
      throw firstError;
    }
  }
}

function withIndexEnv(c: Container): Container {
  const env = [...(c.env ?? [])].filter((e) => e.name !== JOB_COMPLETION_INDEX_ENV);
  env.push({ name: JOB_COMPLETION_INDEX_ENV, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${JOB_COMPLETION_INDEX}']` } } });
  return { ...c, env };
}

/** A pod of the Job: the template, owned by the Job, tracked by the finalizer; Indexed pods carry their
 *  index as annotation, label and JOB_COMPLETION_INDEX and are named and hostnamed `<job>-<index>`. */
export function podFromTemplate(job: Job, index: number | undefined): Pod {
  const t = structuredClone(job.spec!.template);
  const name = job.metadata.name ?? '';
  const labels: Record<string, string> = { ...(t.metadata?.labels ?? {}) };
  const annotations: Record<string, string> = { ...(t.metadata?.annotations ?? {}) };
  const spec = t.spec!;
  if (index !== undefined) {
    labels[JOB_COMPLETION_INDEX] = String(index);
    annotations[JOB_COMPLETION_INDEX] = String(index);
    spec.hostname ??= `${name}-${index}`;
    spec.containers = spec.containers.map(withIndexEnv);
    if (spec.initContainers) spec.initContainers = spec.initContainers.map(withIndexEnv);
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: index !== undefined ? `${name}-${index}-` : `${name}-`,
      namespace: job.metadata.namespace,
      labels,
      annotations,
      finalizers: [JOB_TRACKING_FINALIZER],
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec,
  };
}
