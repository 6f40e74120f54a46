// Where a node's DNS thread runs (dns/placement.ts, beside cpu cgroups as the lab makes them): made
// real-time, only that thread is, and nothing it starts; where the host refuses real-time (a cpu cgroup
// without a real-time budget), it moves into the given cgroup instead and says why. Real threads and real
// cgroups: the policy is read back from /proc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { cpuCgroupBase } from './cgroups.js';
import { SCHED_OTHER, SCHED_RR, policyOf, threadPolicy as threadPolicyOf } from '../testing/sched.js';

const NOT_ROOT = process.getuid?.() !== 0 && 'needs root (sets a real-time policy)';
const NO_CPU_V1 = !existsSync('/sys/fs/cgroup/cpu/tasks') && 'no v1 cpu hierarchy mounted at /sys/fs/cgroup/cpu';

const threadPolicy = (tid: number) => threadPolicyOf(process.pid, tid);

interface Report {
  tid: number;
  placement: string;
  /** /proc/self/stat of a process the thread started after it was placed. */
  childStat: string;
}

/** Runs `before` (JS, with `m` the placement module) and then placeDnsThread(opts) on a worker thread of this process. */
async function placeInWorker(opts: object, before = ''): Promise<{ worker: Worker; report: Report }> {
  const url = new URL('../dns/placement.js', import.meta.url).href;
  const code = `const { parentPort } = require('node:worker_threads');
    const { readlinkSync } = require('node:fs');
    const { spawnSync } = require('node:child_process');
    import(${JSON.stringify(url)}).then((m) => {
      ${before}
      const placement = m.placeDnsThread(${JSON.stringify(opts)});
      const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
      const childStat = spawnSync('cat', ['/proc/self/stat'], { encoding: 'utf8' }).stdout;
      parentPort.postMessage({ tid, placement, childStat });
      parentPort.once('message', () => process.exit(0));
    }, (e) => { throw e; });`;
  const worker = new Worker(code, { eval: true });
  const report = await new Promise<Report>((res, rej) => {
    worker.once('message', res);
    worker.once('error', rej);
  });
  return { worker, report };
}

/** Whether this process's cpu cgroup lets a thread become real-time (a v1 cgroup needs a budget; no file: no group budgets). */
function ownCgroupAllowsRealtime(): boolean {
  const base = cpuCgroupBase(readFileSync('/proc/self/mountinfo', 'utf8'), readFileSync('/proc/self/cgroup', 'utf8'));
  const file = base && join(base, 'cpu.rt_runtime_us');
  return !file || !existsSync(file) || Number(readFileSync(file, 'utf8')) > 0;
}

test('a thread made real-time: only it is SCHED_RR at priority 1, and a process it starts is not', { skip: NOT_ROOT }, async () => {
  const { worker, report } = await placeInWorker({ realtime: true });
  try {
    if (!ownCgroupAllowsRealtime()) {
      // This host refuses: the answer says so and the thread keeps its policy.
      assert.match(report.placement, /^stays in its process's cpu cgroup \(SCHED_RR refused: .+\)$/);
      assert.equal(threadPolicy(report.tid).policy, SCHED_OTHER);
      return;
    }
    assert.match(report.placement, /^runs SCHED_RR at priority 1/);
    assert.deepEqual(threadPolicy(report.tid), { policy: SCHED_RR, priority: 1 });
    // The main thread (tid = pid) is untouched.
    assert.deepEqual(threadPolicy(process.pid), { policy: SCHED_OTHER, priority: 0 });
    // reset-on-fork: what the thread starts runs as any process does.
    assert.deepEqual(policyOf(report.childStat), { policy: SCHED_OTHER, priority: 0 });
    // This test's process was not started with --single-threaded-gc, and the answer says what that costs.
    assert.match(report.placement, /--single-threaded-gc/);
  } finally {
    worker.postMessage('stop');
    await new Promise((r) => worker.once('exit', r));
  }
});

test('where real-time is refused, the thread moves into the cpu cgroup given and the answer says why', { skip: NOT_ROOT || NO_CPU_V1 }, async () => {
  const base = cpuCgroupBase(readFileSync('/proc/self/mountinfo', 'utf8'), readFileSync('/proc/self/cgroup', 'utf8'));
  assert.ok(base, 'our cgroup in the v1 cpu hierarchy');
  // A fresh v1 cpu cgroup has no real-time budget (cpu.rt_runtime_us 0): a thread in it cannot become SCHED_RR.
  const dir = join(base, `k8ts-placement-test-${process.pid}`);
  mkdirSync(dir);
  try {
    const rt = join(dir, 'cpu.rt_runtime_us');
    if (existsSync(rt)) assert.equal(readFileSync(rt, 'utf8').trim(), '0');
    // The thread sits in that cgroup first, as a thread of a container's process would.
    const { worker, report } = await placeInWorker({ realtime: true, cpuCgroup: dir }, `m.joinCpuCgroup(${JSON.stringify(dir)});`);
    try {
      if (existsSync(rt)) {
        assert.match(report.placement, new RegExp(`^runs in cpu cgroup ${dir} \\(SCHED_RR refused: .*not permitted.*\\)$`, 'i'));
        assert.equal(threadPolicy(report.tid).policy, SCHED_OTHER);
      } else {
        // A kernel without real-time group budgets lets it through anywhere.
        assert.match(report.placement, /^runs SCHED_RR/);
      }
      const tasks = readFileSync(join(dir, 'tasks'), 'utf8').split('\n').filter(Boolean).map(Number);
      assert.deepEqual(tasks, [report.tid], `only the worker's thread in ${dir}`);
    } finally {
      worker.postMessage('stop');
      await new Promise((r) => worker.once('exit', r));
    }
  } finally {
    for (let i = 0; i < 50 && existsSync(dir); i++) {
      try {
        rmdirSync(dir);
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    assert.ok(!existsSync(dir), `${dir} left behind`);
  }
});

test('a thread given neither stays where it is', async () => {
  const { worker, report } = await placeInWorker({});
  try {
    assert.equal(report.placement, "stays in its process's cpu cgroup");
    assert.equal(threadPolicy(report.tid).policy, SCHED_OTHER);
  } finally {
    worker.postMessage('stop');
    await new Promise((r) => worker.once('exit', r));
  }
});
