// Jobs and CronJobs on a real two-node cluster with the real kubectl: a Job completing (`kubectl wait
// --for=condition=complete`), a failing Job backing off to BackoffLimitExceeded, Indexed pods reading
// JOB_COMPLETION_INDEX, podFailurePolicy FailJob, suspend/resume, ttlSecondsAfterFinished, a CronJob firing
// every minute with its history limit, `kubectl create job --from=cronjob/x`, 422s naming the field; and the
// official clients (client-node, Python) creating and watching Jobs against a server.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import type { CronJob, Job, JobList } from 'kubernetes-types/batch/v1.js';
import type { PodList } from 'kubernetes-types/core/v1.js';
import { type Cluster, clusterFixture, skip, until } from './clusterkit.js';
import { startServer, type TestServer } from './harness.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness.js';

// As python.test.ts runs its scripts (not imported: importing a test file would run its suites here too).
const pythonSkip = () =>
  existsSync('/usr/lib/python3/dist-packages/kubernetes/__init__.py') ? false : 'python3-kubernetes is not installed (make setup installs it)';
function runPython(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-u', join(ROOT, 'test/e2e/python', script), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1' },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    child.stderr.on('data', (b: Buffer) => (out += b));
    const t = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`${script} exited ${code ?? signal}:\n${out}`));
    });
  });
}

const job = (name: string, spec: string, command: string, podExtra = '') => `apiVersion: batch/v1
kind: Job
metadata: {name: ${name}}
spec:
${spec}
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1${podExtra}
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", ${JSON.stringify(command)}]
`;

const CRON = `apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  timeZone: Etc/UTC
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          terminationGracePeriodSeconds: 1
          containers:
          - name: main
            image: busybox
            command: ["sh", "-c", "echo tick"]
`;

describe('Jobs and CronJobs with kubectl on a two-node cluster', { skip, concurrency: true }, () => {
  // The agents do not look at every pod again during the suite (an hour between looks): a Job's pods are seen to
  // finish only through their shims' exit notices, which these cases therefore prove.
  const cluster = clusterFixture(`jobs${process.pid % 1000}`, ['--sync-frequency', '3600']);
  let c: Cluster;
  before(async () => {
    c = cluster();
    // The CronJob first: its minute runs while the other cases do.
    await c.ok(['apply', '-f', '-'], CRON);
  });

  test('a Job completes and kubectl wait sees it; the table reads as 1.32 prints it', async () => {
    await c.ok(['create', 'job', 'hello', '--image=busybox', '--', 'sh', '-c', 'echo hello from a job']);
    await c.ok(['wait', '--for=condition=complete', 'job/hello', '--timeout=120s']);
    const row = (await c.ok(['get', 'job', 'hello', '--no-headers'])).trim().split(/\s+/);
    assert.equal(row[0], 'hello');
    assert.equal(row[1], 'Complete');
    assert.equal(row[2], '1/1');
    assert.match(await c.ok(['logs', 'job/hello']), /hello from a job/);
    const head = (await c.ok(['get', 'jobs'])).split('\n')[0];
    assert.match(head, /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE$/);
  });

  test('a failing Job backs off and fails with BackoffLimitExceeded', async () => {
    await c.ok(['apply', '-f', '-'], job('fails', '  backoffLimit: 1', 'echo failing; exit 3'));
    await c.ok(['wait', '--for=condition=failed', 'job/fails', '--timeout=150s']);
    const j: Job = JSON.parse(await c.ok(['get', 'job', 'fails', '-o', 'json']));
    const failed = j.status!.conditions!.find((x) => x.type === 'Failed');
    assert.equal(failed!.reason, 'BackoffLimitExceeded');
    assert.equal(j.status!.failed, 2);
    const pods = (JSON.parse(await c.ok(['get', 'pods', '-l', 'job-name=fails', '-o', 'json'])) as PodList).items;
    assert.equal(pods.length, 2);
    const [a, b] = pods.map((p) => p.status!.containerStatuses![0].state!.terminated!).sort((x, y) => x.finishedAt!.localeCompare(y.finishedAt!));
    assert.equal(a.exitCode, 3);
    const second = pods.map((p) => Date.parse(p.metadata!.creationTimestamp!)).sort()[1];
    assert.ok(second - Date.parse(a.finishedAt!) >= 9000, 'the replacement waited out the 10 s back-off');
    assert.ok(b);
  });

  test('Indexed: each pod reads its JOB_COMPLETION_INDEX', async () => {
    await c.ok(
      ['apply', '-f', '-'],
      job('indexed', '  completions: 3\n  parallelism: 3\n  completionMode: Indexed', 'echo index=$JOB_COMPLETION_INDEX host=$(hostname)'),
    );
    await c.ok(['wait', '--for=condition=complete', 'job/indexed', '--timeout=120s']);
    const pods = (JSON.parse(await c.ok(['get', 'pods', '-l', 'job-name=indexed', '-o', 'json'])) as PodList).items;
    const logs = (await Promise.all(pods.map((p) => c.ok(['logs', p.metadata!.name!])))).map((s) => s.trim()).sort();
    assert.deepEqual(logs, ['index=0 host=indexed-0', 'index=1 host=indexed-1', 'index=2 host=indexed-2']);
    assert.equal((JSON.parse(await c.ok(['get', 'job', 'indexed', '-o', 'json'])) as Job).status!.completedIndexes, '0-2');
  });

  test('podFailurePolicy FailJob on exit code 42', async () => {
    const spec =
      '  backoffLimit: 6\n  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes: {containerName: main, operator: In, values: [42]}';
    await c.ok(['apply', '-f', '-'], job('pfp', spec, 'exit 42'));
    await c.ok(['wait', '--for=condition=failed', 'job/pfp', '--timeout=120s']);
    const j: Job = JSON.parse(await c.ok(['get', 'job', 'pfp', '-o', 'json']));
    const failed = j.status!.conditions!.find((x) => x.type === 'Failed');
    assert.equal(failed!.reason, 'PodFailurePolicy');
    assert.match(failed!.message!, /^Container main for pod .* failed with exit code 42 matching FailJob rule at index 0$/);
    assert.equal(j.status!.failed, 1);
  });

  test('suspend and resume', async () => {
    await c.ok(['apply', '-f', '-'], job('later', '  suspend: true', 'echo resumed'));
    await c.ok(['wait', '--for=condition=suspended', 'job/later', '--timeout=60s']);
    assert.match(await c.ok(['get', 'job', 'later', '--no-headers']), /^later\s+Suspended\s+0\/1\s/);
    assert.equal((await c.ok(['get', 'pods', '-l', 'job-name=later', '-o', 'name'])).trim(), '');
    await c.ok(['patch', 'job', 'later', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    await c.ok(['wait', '--for=condition=complete', 'job/later', '--timeout=120s']);
  });

  test('ttlSecondsAfterFinished deletes the finished Job (Foreground) and releases its pods', async () => {
    await c.ok(['apply', '-f', '-'], job('brief', '  ttlSecondsAfterFinished: 5', 'true'));
    // Polled rather than `kubectl wait`: on a loaded machine the 5 s may pass before a wait sees Complete,
    // and the wait would then fail on NotFound. Only the TTL controller deletes this Job, and only once it
    // has finished, so NotFound (or a Foreground delete in progress) after Complete is what is asserted.
    let complete = false;
    await until(
      'the Job completed, then deleted',
      async () => {
        const r = await c.k(['get', 'job', 'brief', '-o', 'json']);
        if (r.code !== 0) return complete && /NotFound/.test(r.stderr);
        const j: Job = JSON.parse(r.stdout);
        complete ||= (j.status?.conditions ?? []).some((x) => x.type === 'Complete' && x.status === 'True');
        return complete && !!j.metadata!.deletionTimestamp && (j.metadata!.finalizers ?? []).includes('foregroundDeletion');
      },
      120_000,
    );
    const pods = (JSON.parse(await c.ok(['get', 'pods', '-l', 'job-name=brief', '-o', 'json'])) as PodList).items;
    assert.ok(pods.every((p) => !(p.metadata!.finalizers ?? []).includes('batch.kubernetes.io/job-tracking')));
  });

  test('bad input is refused with 422 naming the field', async () => {
    const bad = CRON.replace('"* * * * *"', '"*/0 * * * *"').replace('name: tick', 'name: badcron');
    const r = await c.k(['apply', '-f', '-'], bad);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.schedule: Invalid value: "\*\/0 \* \* \* \*": step of range should be a positive number: \*\/0/);
    const r2 = await c.k(['apply', '-f', '-'], job('badjob', '  completions: -1', 'true').replace('restartPolicy: Never', 'restartPolicy: Always'));
    assert.match(r2.stderr, /spec\.completions: Invalid value: -1: must be greater than or equal to 0/);
    assert.match(r2.stderr, /spec\.template\.spec\.restartPolicy: Unsupported value: "Always"/);
  });

  test('kubectl create job --from=cronjob, and the CronJob fires every minute keeping one finished Job', async () => {
    const m: Job = JSON.parse(await c.ok(['create', 'job', 'manual', '--from=cronjob/tick', '-o', 'json']));
    assert.equal(m.metadata!.annotations!['cronjob.kubernetes.io/instantiate'], 'manual');
    assert.equal(m.metadata!.ownerReferences![0].kind, 'CronJob');
    // The Job is the CronJob's, so its history limit (1) may delete it once a scheduled Job finishes after
    // it, as upstream's would: Complete, or gone after completing, both count.
    await until(
      'job/manual complete',
      async () => {
        const r = await c.k(['get', 'job', 'manual', '-o', 'json']);
        // The history limit deletes only finished Jobs: gone means it completed first.
        if (r.code !== 0) return /NotFound/.test(r.stderr);
        return ((JSON.parse(r.stdout) as Job).status?.conditions ?? []).some((x) => x.type === 'Complete' && x.status === 'True');
      },
      120_000,
    );
    const fired = await until(
      'a scheduled Job completes',
      async () => {
        const jobs = (JSON.parse(await c.ok(['get', 'jobs', '-o', 'json'])) as JobList).items.filter(
          (j) => /^tick-\d+$/.test(j.metadata!.name!) && j.status?.conditions?.some((x) => x.type === 'Complete' && x.status === 'True'),
        );
        return jobs[0];
      },
      150_000,
    );
    assert.equal(Number(fired.metadata!.name!.slice(5)) % 1, 0);
    assert.match(fired.metadata!.annotations!['batch.kubernetes.io/cronjob-scheduled-timestamp'], /:00Z$/);
    const cj: CronJob = JSON.parse(await c.ok(['get', 'cronjob', 'tick', '-o', 'json']));
    assert.ok(cj.status!.lastScheduleTime);
    await until(
      'lastSuccessfulTime',
      async () => (JSON.parse(await c.ok(['get', 'cronjob', 'tick', '-o', 'json'])) as CronJob).status!.lastSuccessfulTime,
      30_000,
    );
    const table = (await c.ok(['get', 'cronjobs'])).split('\n');
    assert.match(table[0], /^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE$/);
    assert.match(table[1], /^tick\s+\* \* \* \* \*\s+Etc\/UTC\s+False\s+\d+\s+\S+\s+\S+$/);
  });
});

describe('the official clients create and watch Jobs', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    await s?.stop();
  });

  test('client-node: BatchV1Api create, watch status, CronJob, 422', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(s.kubeconfig);
    const batch = kc.makeApiClient(k8s.BatchV1Api);
    const template = { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } };
    const created = await batch.createNamespacedJob({
      namespace: 'default',
      body: { metadata: { name: 'node-job' }, spec: { template, parallelism: 2, completions: 4 } },
    });
    assert.equal(created.spec?.backoffLimit, 6);
    let done!: (n: number) => void;
    const active = new Promise<number>((r) => (done = r));
    const req = await new k8s.Watch(kc).watch(
      '/apis/batch/v1/namespaces/default/jobs',
      { resourceVersion: created.metadata?.resourceVersion },
      (type: string, j: k8s.V1Job) => {
        if (type === 'MODIFIED' && j.status?.active) done(j.status.active);
      },
      () => undefined,
    );
    assert.equal(await active, 2);
    req.abort();
    const cj = await batch.createNamespacedCronJob({
      namespace: 'default',
      body: { metadata: { name: 'node-cron' }, spec: { schedule: '@daily', jobTemplate: { spec: { template } } } },
    });
    assert.equal(cj.spec?.concurrencyPolicy, 'Allow');
    await assert.rejects(
      batch.createNamespacedCronJob({
        namespace: 'default',
        body: { metadata: { name: 'bad' }, spec: { schedule: '0 0 32 * *', jobTemplate: { spec: { template } } } },
      }),
      (e: unknown) => e instanceof k8s.ApiException && e.code === 422 && /spec\.schedule/.test(String(e.body)),
    );
  });

  test('python3-kubernetes: BatchV1Api create, watch, 422', { skip: pythonSkip() }, async () => {
    const out = await runPython('batch_client.py', [s.kubeconfig, 'py-batch']);
    assert.match(out, /ok watch job status\n/);
    assert.match(out, /ok bad schedule refused\n/);
  });
});
