// The CronJob controller (upstream's v2): at each scheduled time a Job `<cronjob>-<minutes since epoch>`
// from the jobTemplate, in the CronJob's time zone; concurrencyPolicy, startingDeadlineSeconds and the
// "too many missed start times" rule, status.active / lastScheduleTime / lastSuccessfulTime, and the
// history limits. Timed work (the next schedule) goes through the work queue's delayed adds.
import { CRONJOB_SCHEDULED_TIMESTAMP, finishedCondition, trueCondition } from '../api/batch.js';
import { CronError, isValidTimeZone, localTimeZone, parseCron, rfc3339In, type Schedule } from '../api/cron.js';
import { CRONJOBS, JOBS } from '../api/kinds.js';
import type { CronJob, Job, ObjectReference } from '../api/types.js';
import { semanticEqual } from '../api/validation.js';
import { EventRecorder } from '../client/events.js';
import { byOwnerUid, OWNER_UID_INDEX } from '../client/indexer.js';
import type { SharedInformer } from '../client/informer.js';
import { type Client, errorCode, isNotFound, objectKey } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';

/** More missed start times than this and the controller says so (and still starts the latest). */
export const MAX_MISSED = 100;

export interface ScheduleTimes {
  /** The latest scheduled time not after now that is still to be considered, if any. */
  mostRecent?: number;
  /** More than MAX_MISSED start times were missed. */
  tooMany: boolean;
}

/** mostRecentScheduleTime: from the last schedule (or creation), bounded by startingDeadlineSeconds. */
export function mostRecentScheduleTime(cj: CronJob, now: number, sched: Schedule, tz: string): ScheduleTimes {
  let earliest = Date.parse(String(cj.status?.lastScheduleTime ?? cj.metadata.creationTimestamp ?? ''));
  if (!Number.isFinite(earliest)) earliest = now;
  const sds = cj.spec?.startingDeadlineSeconds;
  if (typeof sds === 'number') earliest = Math.max(earliest, now - sds * 1000);
  const t1 = sched.next(earliest, tz);
  if (t1 === undefined || now < t1) return { tooMany: false };
  const t2 = sched.next(t1, tz);
  if (t2 === undefined || now < t2) return { mostRecent: t1, tooMany: false };
  // Count by stepping while there are few; beyond that estimate from the period and walk to the exact time.
  let t = t2;
  let n = 2;
  for (;;) {
    const nx = sched.next(t, tz);
    if (nx === undefined || nx > now) return { mostRecent: t, tooMany: n > MAX_MISSED };
    t = nx;
    n++;
    if (n > MAX_MISSED) break;
  }
  const period = t2 - t1;
  let guess = t + Math.max(0, Math.floor((now - t) / period) - 1) * period;
  let at = sched.next(guess - 1000, tz) ?? t;
  if (at > now) at = t;
  for (let nx = sched.next(at, tz); nx !== undefined && nx <= now; nx = sched.next(at, tz)) at = nx;
  guess = at;
  return { mostRecent: guess, tooMany: true };
}

/** The Job name for a scheduled time: minutes since the epoch, as upstream names them. */
export function jobNameFor(cj: CronJob, scheduled: number): string {
  return `${cj.metadata.name}-${Math.floor(scheduled / 60_000)}`;
}

const metaTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

function startOrder(a: Job, b: Job): number {
  const sa = a.status?.startTime;
  const sb = b.status?.startTime;
  if (!sa && sb) return 1;
  if (sa && !sb) return -1;
  if (sa && sb && sa !== sb) return String(sa) < String(sb) ? -1 : 1;
  return String(a.metadata.name).localeCompare(String(b.metadata.name));
}

function ownerOf(j: Job): { key: string; uid: string } | undefined {
  const ref = (j.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === 'CronJob' && r.apiVersion === 'batch/v1');
  return ref ? { key: `${j.metadata.namespace}/${ref.name}`, uid: ref.uid } : undefined;
}

export class CronJobController implements Controller {
  private client: Client;
  private cronjobs: SharedInformer<CronJob>;
  private jobs: SharedInformer<Job>;
  private queue!: WorkQueue;
  private regs = new Registrations();
  private events: EventRecorder;
  private statusWritten = new Map<string, number>();
  /** Jobs we created but the cache has not shown yet, by CronJob key. */
  private created = new Map<string, Job>();

  private readonly qm: QueueMetrics | undefined;

  constructor(
    ctx: ControllerContext,
    private clock: () => number = Date.now,
  ) {
    this.qm = queueMetrics(ctx, 'cronjob');
    this.client = ctx.client;
    this.cronjobs = ctx.informers.informerFor(CRONJOBS);
    this.jobs = ctx.informers.informerFor(JOBS);
    if (!this.jobs.indexer.hasIndex(OWNER_UID_INDEX)) this.jobs.addIndex(OWNER_UID_INDEX, byOwnerUid);
    this.events = new EventRecorder(ctx.client, 'cronjob-controller');
  }

  async start(): Promise<void> {
    this.queue = new WorkQueue((key) => this.sync(key), {
      metrics: this.qm,
      workers: 2,
      onError: (key, err) => console.error(`cronjob controller: ${key}:`, err instanceof Error ? err.message : err),
    });
    await Promise.all([this.cronjobs.waitForSync(), this.jobs.waitForSync()]);
    const enqueue = (c: CronJob) => this.queue.add(objectKey(c));
    this.regs.add(
      this.cronjobs.addEventHandler({
        onAdd: enqueue,
        onUpdate: enqueue,
        onDelete: (c) => {
          this.statusWritten.delete(objectKey(c));
          this.created.delete(objectKey(c));
        },
      }),
    );
    const jobChanged = (j: Job) => {
      const o = ownerOf(j);
      if (o) this.queue.add(o.key);
    };
    this.regs.add(this.jobs.addEventHandler({ onAdd: jobChanged, onUpdate: jobChanged, onDelete: jobChanged }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue?.stop();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs: number }> {
    const cj = this.cronjobs.lister.getByKey(key);
    if (!cj) return;
    const written = this.statusWritten.get(key);
    if (written !== undefined && Number(cj.metadata.resourceVersion) < written) return { requeueAfterMs: 500 };
    const uid = cj.metadata.uid ?? '';
    const jobs = this.jobs.lister.byIndex(OWNER_UID_INDEX, uid).filter((j) => ownerOf(j)?.uid === uid);
    const pendingCreate = this.created.get(key);
    if (pendingCreate && !jobs.some((j) => j.metadata.uid === pendingCreate.metadata.uid)) {
      // Our last create is not in the cache yet: deciding now could start the same time twice.
      return { requeueAfterMs: 200 };
    }
    this.created.delete(key);
    const now = this.clock();
    const old = cj.status ?? {};
    const st = structuredClone(old);

    // Active list: only Jobs that exist and are not finished; finished ones update lastSuccessfulTime.
    const byUid = new Map(jobs.map((j) => [j.metadata.uid, j]));
    const active: ObjectReference[] = [];
    for (const ref of st.active ?? []) {
      const j = byUid.get(ref.uid);
      if (!j) continue;
      const done = finishedCondition(j);
      if (done) {
        void this.events.record(cj, 'Normal', 'SawCompletedJob', `Saw completed job: ${j.metadata.name}, condition: ${done.type}`);
      } else {
        active.push(ref);
      }
    }
    const activeUids = new Set(active.map((r) => r.uid));
    for (const j of jobs) {
      if (!activeUids.has(j.metadata.uid) && !finishedCondition(j) && !(old.active ?? []).some((r) => r.uid === j.metadata.uid)) {
        void this.events.record(cj, 'Warning', 'UnexpectedJob', `Saw a job that the controller did not create or forgot: ${j.metadata.name}`);
      }
      const complete = trueCondition(j, 'Complete');
      const ct = j.status?.completionTime;
      if (complete && ct && (!st.lastSuccessfulTime || Date.parse(String(ct)) > Date.parse(String(st.lastSuccessfulTime)))) st.lastSuccessfulTime = ct;
    }
    st.active = active;

    const finish = async (requeueAfterMs?: number): Promise<void | { requeueAfterMs: number }> => {
      if (!st.active?.length) delete st.active;
      if (!semanticEqual(st, old)) {
        const wrote = await this.client.update(CRONJOBS, cj.metadata.namespace, { ...cj, status: st }, 'status');
        this.statusWritten.set(key, Number(wrote.metadata.resourceVersion));
      }
      await this.cleanupHistory(cj, jobs);
      return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
    };

    if (cj.metadata.deletionTimestamp) return finish();
    const tz = cj.spec?.timeZone ?? localTimeZone();
    if (!isValidTimeZone(tz)) {
      void this.events.record(cj, 'Warning', 'UnknownTimeZone', `invalid timeZone: ${JSON.stringify(tz)}: unknown time zone ${tz}`);
      return finish();
    }
    if (cj.spec?.suspend) return finish();
    let sched: Schedule;
    try {
      sched = parseCron(cj.spec?.schedule ?? '');
    } catch (e) {
      if (!(e instanceof CronError)) throw e;
      void this.events.record(cj, 'Warning', 'UnparseableSchedule', `unparseable schedule: ${JSON.stringify(cj.spec?.schedule)} : ${e.message}`);
      return finish();
    }
    const nextIn = (): number | undefined => {
      const n = sched.next(this.clock(), tz);
      return n === undefined ? undefined : n - this.clock() + 100;
    };
    const times = mostRecentScheduleTime(cj, now, sched, tz);
    if (times.tooMany) {
      void this.events.record(
        cj,
        'Warning',
        'TooManyMissedTimes',
        'too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew',
      );
    }
    const scheduled = times.mostRecent;
    if (scheduled === undefined) return finish(nextIn());
    const sds = cj.spec?.startingDeadlineSeconds;
    if (typeof sds === 'number' && scheduled + sds * 1000 < now) {
      void this.events.record(cj, 'Warning', 'MissSchedule', `Missed scheduled time to start a job: ${rfc3339In(scheduled, tz)}`);
      return finish(nextIn());
    }
    const name = jobNameFor(cj, scheduled);
    if (jobs.some((j) => j.metadata.name === name)) {
      // Already started (a restart between the create and the status write): only the status catches up.
      if (!st.lastScheduleTime || Date.parse(String(st.lastScheduleTime)) < scheduled) st.lastScheduleTime = metaTime(scheduled);
      return finish(nextIn());
    }
    if (cj.spec?.concurrencyPolicy === 'Forbid' && active.length > 0) {
      void this.events.record(cj, 'Normal', 'JobAlreadyActive', 'Not starting job because prior execution is running and concurrency policy is Forbid');
      return finish(nextIn());
    }
    if (cj.spec?.concurrencyPolicy === 'Replace') {
      for (const ref of [...active]) {
        try {
          await this.client.delete(JOBS, cj.metadata.namespace, ref.name ?? '', { propagationPolicy: 'Background', preconditions: { uid: ref.uid } });
          void this.events.record(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${ref.name}`);
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
        st.active = (st.active ?? []).filter((r) => r.uid !== ref.uid);
      }
    }
    const jt = cj.spec!.jobTemplate;
    const body: Job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name,
        namespace: cj.metadata.namespace,
        labels: { ...(jt.metadata?.labels ?? {}) },
        annotations: { ...(jt.metadata?.annotations ?? {}), [CRONJOB_SCHEDULED_TIMESTAMP]: rfc3339In(scheduled, tz) },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cj.metadata.name ?? '', uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: structuredClone(jt.spec!),
    };
    let job: Job;
    try {
      job = await this.client.create(JOBS, cj.metadata.namespace, body);
      void this.events.record(cj, 'Normal', 'SuccessfulCreate', `Created job ${name}`);
    } catch (e) {
      void this.events.record(cj, 'Warning', 'FailedCreate', `Error creating job: ${e instanceof Error ? e.message : String(e)}`);
      if (errorCode(e) !== 409) throw e;
      const existing = await this.client.get(JOBS, cj.metadata.namespace, name);
      if (!existing || ownerOf(existing)?.uid !== uid) return finish(nextIn());
      job = existing;
    }
    this.created.set(key, job);
    st.active = [
      ...(st.active ?? []),
      { apiVersion: 'batch/v1', kind: 'Job', name, namespace: cj.metadata.namespace, uid: job.metadata.uid, resourceVersion: job.metadata.resourceVersion },
    ];
    st.lastScheduleTime = metaTime(scheduled);
    return finish(nextIn());
  }

  /** Finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit go, oldest first. */
  private async cleanupHistory(cj: CronJob, jobs: Job[]): Promise<void> {
    const trim = async (list: Job[], limit: number | undefined) => {
      if (typeof limit !== 'number' || list.length <= limit) return;
      const doomed = [...list].sort(startOrder).slice(0, list.length - limit);
      for (const j of doomed) {
        if (j.metadata.deletionTimestamp) continue;
        try {
          await this.client.delete(JOBS, j.metadata.namespace, j.metadata.name ?? '', {
            propagationPolicy: 'Background',
            preconditions: { uid: j.metadata.uid },
          });
          void this.events.record(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${j.metadata.name}`);
        } catch (e) {
          if (!isNotFound(e) && errorCode(e) !== 409) throw e;
        }
      }
    };
    await trim(
      jobs.filter((j) => trueCondition(j, 'Complete')),
      cj.spec?.successfulJobsHistoryLimit,
    );
    await trim(
      jobs.filter((j) => trueCondition(j, 'Failed')),
      cj.spec?.failedJobsHistoryLimit,
    );
  }
}
