// The Job, CronJob and TTL controllers against a real API server on the memory store: pods have no node
// agent here, so the test writes their status through the status subresource as a kubelet would.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTROLLER_UID_LABEL, JOB_COMPLETION_INDEX, JOB_NAME_LABEL, JOB_TRACKING_FINALIZER } from '../api/batch.js';
import { parseCron } from '../api/cron.js';
import { CRONJOBS, JOBS, NAMESPACES, PODS } from '../api/kinds.js';
import type { CronJob, Job, Pod } from '../api/types.js';
import { ClientError } from '../client/types.js';
import { mostRecentScheduleTime } from './cronjob.js';
import { eventually, startCluster, type TestCluster } from './testutil.js';

let tc: TestCluster;
let nsSeq = 0;

before(async () => {
  tc = await startCluster();
});
after(async () => {
  await tc.close();
});

async function namespace(): Promise<string> {
  const ns = `jobs-${process.pid}-${nsSeq++}`;
  await tc.c.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  return ns;
}

function jobBody(name: string, spec: Record<string, unknown> = {}, podSpec: Record<string, unknown> = {}): Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['true'] }], ...podSpec } }, ...spec },
  } as Job;
}

const iso = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Finish a pod as the agent reports it: phase and the container's terminated state with its exit code. */
async function finishPod(ns: string, name: string, exitCode: number, conditions: { type: string; status: string }[] = []): Promise<void> {
  const t = iso();
  await tc.c.patch(
    PODS,
    ns,
    name,
    'merge',
    {
      status: {
        phase: exitCode === 0 ? 'Succeeded' : 'Failed',
        conditions: conditions.map((c) => ({ ...c, lastTransitionTime: t })),
        containerStatuses: [
          {
            name: 'c',
            image: 'busybox',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: t, finishedAt: t } },
          },
        ],
      },
    },
    'status',
  );
}

async function podsOf(ns: string, job: string): Promise<Pod[]> {
  return (await tc.c.list(PODS, ns, { labelSelector: `${JOB_NAME_LABEL}=${job}` })).items;
}

const running = (ps: Pod[]) => ps.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
const cond = (j: Job | undefined, type: string) => j?.status?.conditions?.find((c) => c.type === type && c.status === 'True');

async function invalid(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ClientError, String(e));
    assert.equal(e.code, 422, e.message);
    return e.message;
  }
  assert.fail('expected 422');
}

test('a Job runs completions pods, parallelism at a time, tracked by the finalizer, and completes', async () => {
  const ns = await namespace();
  const job = await tc.c.create(JOBS, ns, jobBody('work', { completions: 3, parallelism: 2 }));
  // The generated selector and labels, the defaults.
  assert.deepEqual(job.spec?.selector?.matchLabels, { [CONTROLLER_UID_LABEL]: job.metadata.uid });
  assert.equal(job.spec?.template.metadata?.labels?.['controller-uid'], job.metadata.uid);
  assert.equal(job.spec?.template.metadata?.labels?.['job-name'], 'work');
  assert.equal(job.metadata.labels?.[JOB_NAME_LABEL], 'work');
  assert.equal(job.spec?.backoffLimit, 6);
  assert.equal(job.spec?.completionMode, 'NonIndexed');
  assert.equal(job.spec?.podReplacementPolicy, 'TerminatingOrFailed');

  const first = await eventually('2 pods', async () => {
    const ps = await podsOf(ns, 'work');
    return ps.length === 2 && ps;
  });
  for (const p of first) {
    assert.deepEqual(p.metadata.finalizers, [JOB_TRACKING_FINALIZER]);
    assert.equal(p.metadata.ownerReferences?.[0].uid, job.metadata.uid);
    assert.equal(p.metadata.ownerReferences?.[0].controller, true);
    assert.match(p.metadata.name ?? '', /^work-[a-z0-9]{5}$/);
  }
  await eventually('status.active 2 and startTime', async () => {
    const j = await tc.c.get(JOBS, ns, 'work');
    return j?.status?.active === 2 && !!j.status.startTime;
  });
  await finishPod(ns, first[0].metadata.name!, 0);
  await eventually('a third pod, never a fourth', async () => (await podsOf(ns, 'work')).length === 3);
  for (const p of await podsOf(ns, 'work')) if (p.status?.phase !== 'Succeeded') await finishPod(ns, p.metadata.name!, 0);
  const done = await eventually('Complete', async () => {
    const j = await tc.c.get(JOBS, ns, 'work');
    return cond(j, 'Complete') && j;
  });
  assert.equal(done.status?.succeeded, 3);
  assert.equal(done.status?.failed ?? 0, 0);
  assert.equal(done.status?.active, 0);
  assert.ok(done.status?.completionTime);
  assert.ok(cond(done, 'SuccessCriteriaMet'));
  assert.equal(cond(done, 'Complete')?.reason, 'CompletionsReached');
  assert.equal(done.status?.uncountedTerminatedPods?.succeeded, undefined);
  const ps = await podsOf(ns, 'work');
  assert.equal(ps.length, 3);
  assert.ok(
    ps.every((p) => !(p.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER)),
    'finalizers released',
  );
  const table = await tc.c.list(JOBS, ns);
  assert.equal(table.items.length, 1);
});

test('failures back off 10 s and exceeding backoffLimit fails the Job with BackoffLimitExceeded', async () => {
  const ns = await namespace();
  await tc.c.create(JOBS, ns, jobBody('flaky', { backoffLimit: 1 }));
  const [p1] = await eventually('first pod', async () => {
    const ps = await podsOf(ns, 'flaky');
    return ps.length === 1 && ps;
  });
  const failedAt = Date.now();
  await finishPod(ns, p1.metadata.name!, 1);
  await eventually('failed counted', async () => (await tc.c.get(JOBS, ns, 'flaky'))?.status?.failed === 1);
  const p2 = await eventually('replacement pod', async () => running(await podsOf(ns, 'flaky'))[0], 20_000);
  const waited = Date.parse(p2.metadata.creationTimestamp!) - failedAt;
  assert.ok(waited >= 8_000, `replacement after the back-off, not ${waited} ms`);
  await finishPod(ns, p2.metadata.name!, 1);
  const j = await eventually('Failed', async () => {
    const j = await tc.c.get(JOBS, ns, 'flaky');
    return cond(j, 'Failed') && j;
  });
  assert.equal(cond(j, 'Failed')?.reason, 'BackoffLimitExceeded');
  assert.equal(cond(j, 'Failed')?.message, 'Job has reached the specified backoff limit');
  assert.equal(cond(j, 'FailureTarget')?.reason, 'BackoffLimitExceeded');
  assert.equal(j.status?.failed, 2);
  assert.equal(j.status?.completionTime, undefined);
  assert.equal((await podsOf(ns, 'flaky')).length, 2, 'no pod after the limit');
});

test('podFailurePolicy: FailJob on an exit code fails at once; Ignore does not count', async () => {
  const ns = await namespace();
  const policy = {
    rules: [
      { action: 'FailJob', onExitCodes: { containerName: 'c', operator: 'In', values: [42] } },
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] },
    ],
  };
  const created = await tc.c.create(JOBS, ns, jobBody('pfp', { backoffLimit: 0, podFailurePolicy: policy }));
  assert.equal(created.spec?.podReplacementPolicy, 'Failed');
  assert.equal(created.spec?.podFailurePolicy?.rules[1].onPodConditions?.[0].status, 'True');
  const [p1] = await eventually('first pod', async () => {
    const ps = await podsOf(ns, 'pfp');
    return ps.length === 1 && ps;
  });
  await finishPod(ns, p1.metadata.name!, 137, [{ type: 'DisruptionTarget', status: 'True' }]);
  const p2 = await eventually('ignored failure replaced at once', async () => running(await podsOf(ns, 'pfp'))[0], 5_000);
  assert.equal((await tc.c.get(JOBS, ns, 'pfp'))?.status?.failed ?? 0, 0);
  await finishPod(ns, p2.metadata.name!, 42);
  const j = await eventually('Failed', async () => {
    const j = await tc.c.get(JOBS, ns, 'pfp');
    return cond(j, 'Failed') && j;
  });
  assert.equal(cond(j, 'Failed')?.reason, 'PodFailurePolicy');
  assert.equal(cond(j, 'Failed')?.message, `Container c for pod ${ns}/${p2.metadata.name} failed with exit code 42 matching FailJob rule at index 0`);
});

test('Indexed: one pod per index with the annotation, label, hostname and JOB_COMPLETION_INDEX; completedIndexes', async () => {
  const ns = await namespace();
  await tc.c.create(JOBS, ns, jobBody('idx', { completions: 3, parallelism: 3, completionMode: 'Indexed' }));
  const ps = await eventually('3 pods', async () => {
    const ps = await podsOf(ns, 'idx');
    return ps.length === 3 && ps;
  });
  const byIndex = new Map(ps.map((p) => [p.metadata.annotations?.[JOB_COMPLETION_INDEX], p]));
  assert.deepEqual([...byIndex.keys()].sort(), ['0', '1', '2']);
  for (const [i, p] of byIndex) {
    assert.equal(p.metadata.labels?.[JOB_COMPLETION_INDEX], i);
    assert.equal(p.spec?.hostname, `idx-${i}`);
    assert.match(p.metadata.name ?? '', new RegExp(`^idx-${i}-[a-z0-9]{5}$`));
    assert.deepEqual(
      p.spec?.containers[0].env?.find((e) => e.name === 'JOB_COMPLETION_INDEX')?.valueFrom?.fieldRef?.fieldPath,
      `metadata.annotations['${JOB_COMPLETION_INDEX}']`,
    );
  }
  await finishPod(ns, byIndex.get('1')!.metadata.name!, 0);
  await eventually('completedIndexes 1', async () => (await tc.c.get(JOBS, ns, 'idx'))?.status?.completedIndexes === '1');
  await finishPod(ns, byIndex.get('0')!.metadata.name!, 0);
  await finishPod(ns, byIndex.get('2')!.metadata.name!, 0);
  const j = await eventually('Complete', async () => {
    const j = await tc.c.get(JOBS, ns, 'idx');
    return cond(j, 'Complete') && j;
  });
  assert.equal(j.status?.completedIndexes, '0-2');
  assert.equal(j.status?.succeeded, 3);
});

test('suspend: no pods and Suspended; resume starts them and resets startTime', async () => {
  const ns = await namespace();
  await tc.c.create(JOBS, ns, jobBody('sus', { suspend: true, parallelism: 2, completions: 2 }));
  const j = await eventually('Suspended', async () => {
    const j = await tc.c.get(JOBS, ns, 'sus');
    return cond(j, 'Suspended') && j;
  });
  assert.equal(cond(j, 'Suspended')?.reason, 'JobSuspended');
  assert.equal(j.status?.startTime, undefined);
  assert.equal((await podsOf(ns, 'sus')).length, 0);
  // A suspended Job that never started may change its scheduling directives, not its containers.
  await tc.c.patch(JOBS, ns, 'sus', 'merge', { spec: { template: { spec: { nodeSelector: { disk: 'ssd' } } } } });
  await invalid(tc.c.patch(JOBS, ns, 'sus', 'merge', { spec: { template: { spec: { containers: [{ name: 'c', image: 'other' }] } } } }));
  await tc.c.patch(JOBS, ns, 'sus', 'merge', { spec: { suspend: false } });
  await eventually('2 pods', async () => (await podsOf(ns, 'sus')).length === 2);
  const r = await eventually('resumed', async () => {
    const j = await tc.c.get(JOBS, ns, 'sus');
    return j?.status?.conditions?.find((c) => c.type === 'Suspended' && c.status === 'False') && j;
  });
  assert.equal(r.status?.conditions?.find((c) => c.type === 'Suspended')?.reason, 'JobResumed');
  assert.ok(r.status?.startTime);
  // Suspending again deletes the running pods without counting them as failures.
  await tc.c.patch(JOBS, ns, 'sus', 'merge', { spec: { suspend: true } });
  await eventually('pods gone', async () => running(await podsOf(ns, 'sus')).length === 0);
  const again = await eventually('Suspended again', async () => {
    const j = await tc.c.get(JOBS, ns, 'sus');
    return cond(j, 'Suspended') && j;
  });
  assert.equal(again.status?.failed ?? 0, 0);
});

test('activeDeadlineSeconds fails the Job with DeadlineExceeded and removes its pods', async () => {
  const ns = await namespace();
  await tc.c.create(JOBS, ns, jobBody('late', { activeDeadlineSeconds: 2 }));
  await eventually('a pod', async () => (await podsOf(ns, 'late')).length === 1);
  const j = await eventually(
    'Failed',
    async () => {
      const j = await tc.c.get(JOBS, ns, 'late');
      return cond(j, 'Failed') && j;
    },
    15_000,
  );
  assert.equal(cond(j, 'Failed')?.reason, 'DeadlineExceeded');
  assert.equal(cond(j, 'Failed')?.message, 'Job was active longer than specified deadline');
  await eventually('no pod left', async () => (await podsOf(ns, 'late')).length === 0);
});

test('bad Jobs and CronJobs get 422 naming the field', async () => {
  const ns = await namespace();
  const cases: [Promise<unknown>, RegExp][] = [
    [
      tc.c.create(JOBS, ns, jobBody('a', {}, { restartPolicy: 'Always' })),
      /spec\.template\.spec\.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"/,
    ],
    [tc.c.create(JOBS, ns, jobBody('b', { completions: -1 })), /spec\.completions: Invalid value: -1: must be greater than or equal to 0/],
    [tc.c.create(JOBS, ns, jobBody('c', { parallelism: -2 })), /spec\.parallelism: Invalid value: -2/],
    [tc.c.create(JOBS, ns, jobBody('d', { backoffLimit: -1 })), /spec\.backoffLimit: Invalid value: -1/],
    [
      tc.c.create(JOBS, ns, jobBody('e', { completionMode: 'Indexed', completions: null, parallelism: 2 })),
      /spec\.completions: Required value: when completion mode is Indexed/,
    ],
    [tc.c.create(JOBS, ns, jobBody('f', { completionMode: 'Sometimes' })), /spec\.completionMode: Unsupported value: "Sometimes"/],
    [
      tc.c.create(JOBS, ns, jobBody('g', { podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { operator: 'In', values: [0] } }] } })),
      /spec\.podFailurePolicy\.rules\[0\]\.onExitCodes\.values\[0\]: Invalid value: 0: must not be 0 for the In operator/,
    ],
    [
      tc.c.create(JOBS, ns, jobBody('h', { podFailurePolicy: { rules: [{ action: 'Explode', onPodConditions: [{ type: 'X' }] }] } })),
      /spec\.podFailurePolicy\.rules\[0\]\.action: Unsupported value: "Explode"/,
    ],
    [
      tc.c.create(JOBS, ns, jobBody('i', { podFailurePolicy: { rules: [{ action: 'Ignore' }] } })),
      /spec\.podFailurePolicy\.rules\[0\]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required/,
    ],
    [
      tc.c.create(JOBS, ns, jobBody('j', { podFailurePolicy: { rules: [] } }, { restartPolicy: 'OnFailure' })),
      /spec\.template\.spec\.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified/,
    ],
    [
      tc.c.create(JOBS, ns, jobBody('k', { manualSelector: true, selector: { matchLabels: { a: 'b' } } })),
      /spec\.template\.metadata\.labels: Invalid value: .*`selector` does not match template `labels`/,
    ],
    [tc.c.create(JOBS, ns, jobBody('l', { activeDeadlineSeconds: -5 })), /spec\.activeDeadlineSeconds: Invalid value: -5/],
  ];
  const cron = (name: string, spec: Record<string, unknown>) =>
    tc.c.create(CRONJOBS, ns, {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name },
      spec: {
        schedule: '* * * * *',
        jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'c', image: 'busybox' }] } } } },
        ...spec,
      },
    } as CronJob);
  cases.push(
    [cron('c1', { schedule: '61 * * * *' }), /spec\.schedule: Invalid value: "61 \* \* \* \*": end of range \(61\) above maximum \(59\): 61/],
    [cron('c2', { schedule: 'every minute' }), /spec\.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2/],
    [
      cron('c3', { schedule: 'TZ=UTC * * * * *' }),
      /spec\.schedule: Invalid value: "TZ=UTC \* \* \* \* \*": cannot use TZ or CRON_TZ in schedule, use timeZone field instead/,
    ],
    [cron('c4', { timeZone: 'Mars/Olympus' }), /spec\.timeZone: Invalid value: "Mars\/Olympus": unknown time zone Mars\/Olympus/],
    [cron('c5', { startingDeadlineSeconds: -1 }), /spec\.startingDeadlineSeconds: Invalid value: -1/],
    [cron('c6', { concurrencyPolicy: 'Sometimes' }), /spec\.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"/],
    [cron('c7', { successfulJobsHistoryLimit: -1 }), /spec\.successfulJobsHistoryLimit: Invalid value: -1/],
    [cron('x'.repeat(53), {}), /metadata\.name: Invalid value: "x+": must be no more than 52 characters/],
    [cron('c8', { timeZone: 'Local' }), /spec\.timeZone: Invalid value: "Local": timeZone must be an explicit time zone/],
  );
  for (const [p, re] of cases) assert.match(await invalid(p), re);
  // Immutable fields on update.
  await tc.c.create(JOBS, ns, jobBody('imm', { completions: 2, suspend: false }));
  assert.match(await invalid(tc.c.patch(JOBS, ns, 'imm', 'merge', { spec: { completions: 5 } })), /spec\.completions: Invalid value: 5: field is immutable/);
  assert.match(
    await invalid(tc.c.patch(JOBS, ns, 'imm', 'merge', { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx' }] } } } })),
    /spec\.template: Invalid value: .*field is immutable/,
  );
});

test('CronJob: @every 2s starts a Job named <cronjob>-<minutes>, Forbid keeps one, lastSuccessfulTime, history limit 0 trims it', async () => {
  const ns = await namespace();
  const cj = await tc.c.create(CRONJOBS, ns, {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'tick' },
    spec: {
      schedule: '@every 2s',
      concurrencyPolicy: 'Forbid',
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 1,
      timeZone: 'Europe/Berlin',
      jobTemplate: {
        metadata: { labels: { app: 'tick' } },
        spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } },
      },
    },
  } as CronJob);
  assert.equal(cj.spec?.suspend, false);
  const job = await eventually('first Job', async () => (await tc.c.list(JOBS, ns)).items[0], 10_000);
  assert.match(job.metadata.name ?? '', /^tick-\d+$/);
  assert.equal(job.metadata.labels?.app, 'tick');
  assert.equal(job.metadata.ownerReferences?.[0].kind, 'CronJob');
  assert.match(job.metadata.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp'] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00$/);
  const withActive = await eventually('status.active', async () => {
    const c = await tc.c.get(CRONJOBS, ns, 'tick');
    return c?.status?.active?.length === 1 && c;
  });
  assert.ok(withActive.status?.lastScheduleTime);
  // Forbid: while it runs, no second Job, even over several periods.
  await new Promise((r) => setTimeout(r, 4500));
  assert.equal((await tc.c.list(JOBS, ns)).items.length, 1);
  // Jobs are named by the minute, so @every 2s still starts at most one per minute. With no history kept,
  // the finished Job goes; status remembers it.
  await tc.c.patch(CRONJOBS, ns, 'tick', 'merge', { spec: { successfulJobsHistoryLimit: 0 } });
  const [pod] = await eventually('the pod', async () => {
    const ps = (await tc.c.list(PODS, ns)).items;
    return ps.length === 1 && ps;
  });
  await finishPod(ns, pod.metadata.name!, 0);
  // The finished Job leaves status.active. Only it: if a minute began meanwhile, the next minute's Job may
  // already be active (Forbid held it back only while the first one ran).
  const c = await eventually('lastSuccessfulTime, the finished Job no longer active', async () => {
    const c = await tc.c.get(CRONJOBS, ns, 'tick');
    return !!c?.status?.lastSuccessfulTime && !c.status.active?.some((a) => a.name === job.metadata.name) && c;
  });
  assert.ok(c.status?.lastScheduleTime);
  await eventually('the finished Job trimmed', async () => !(await tc.c.get(JOBS, ns, job.metadata.name!)), 10_000);
});

test('the missed-schedule arithmetic: none yet, one, and more than 100', () => {
  const sched = parseCron('* * * * *');
  const cj = (created: string, last?: string, sds?: number): CronJob =>
    ({
      metadata: { name: 'x', creationTimestamp: created },
      spec: { schedule: '* * * * *', startingDeadlineSeconds: sds, jobTemplate: {} },
      status: { lastScheduleTime: last },
    }) as CronJob;
  const at = Date.parse('2024-01-01T10:00:30Z');
  assert.deepEqual(mostRecentScheduleTime(cj('2024-01-01T10:00:10Z'), at, sched, 'UTC'), { tooMany: false });
  assert.deepEqual(mostRecentScheduleTime(cj('2024-01-01T09:59:10Z'), at, sched, 'UTC'), { mostRecent: Date.parse('2024-01-01T10:00:00Z'), tooMany: false });
  const many = mostRecentScheduleTime(cj('2024-01-01T07:00:00Z'), at, sched, 'UTC');
  assert.equal(many.tooMany, true);
  assert.equal(many.mostRecent, Date.parse('2024-01-01T10:00:00Z'));
  // startingDeadlineSeconds bounds how far back the controller looks.
  assert.deepEqual(mostRecentScheduleTime(cj('2024-01-01T07:00:00Z', undefined, 200), at, sched, 'UTC'), {
    mostRecent: Date.parse('2024-01-01T10:00:00Z'),
    tooMany: false,
  });
  const hourly = parseCron('0 * * * *');
  const h = mostRecentScheduleTime({ ...cj('2023-01-01T00:30:00Z'), spec: { schedule: '0 * * * *', jobTemplate: {} } } as CronJob, at, hourly, 'UTC');
  assert.equal(h.tooMany, true);
  assert.equal(h.mostRecent, Date.parse('2024-01-01T10:00:00Z'));
});

test('ttlSecondsAfterFinished: a finished Job is deleted (Foreground) and its pods released', async () => {
  const ns = await namespace();
  await tc.c.create(JOBS, ns, jobBody('ttl', { ttlSecondsAfterFinished: 1 }));
  const [p] = await eventually('pod', async () => {
    const ps = await podsOf(ns, 'ttl');
    return ps.length === 1 && ps;
  });
  await finishPod(ns, p.metadata.name!, 0);
  await eventually(
    'the Job deleted',
    async () => {
      const j = await tc.c.get(JOBS, ns, 'ttl');
      return !j || !!j.metadata.deletionTimestamp;
    },
    10_000,
  );
  await eventually('finalizer released', async () => {
    const pod = await tc.c.get(PODS, ns, p.metadata.name!);
    return !pod || !(pod.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER);
  });
});
