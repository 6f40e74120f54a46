// Lab node cgroups: where they go (beside our own cgroup, per hierarchy), a process started in one is
// accounted there from its start (and so is what it forks), and removal kills what is left and leaves nothing.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirsUsage } from '../agent/resourcemetrics.js';
import { Worker } from 'node:worker_threads';
import {
  CONTROL_PLANE_CPU_SHARES,
  DNS_CPU_SHARES,
  controlPlaneCgroup,
  createCgroups,
  dnsCgroup,
  labCgroupName,
  nodeCgroups,
  planCgroups,
  removeCgroups,
} from './cgroups.js';
import { type ClusterPlan, releasePlan, reservePlan } from './plan.js';
import { listProcesses, startProcess, stopProcess } from './procs.js';
import { NEEDS_ROOT, tempHome, uniqueName } from './testkit.js';

const HYBRID = [
  '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const PLAN = { stem: 'k8ts7', name: 'demo', nodes: [{ name: 'node1' }, { name: 'node2' }] } as Pick<ClusterPlan, 'stem' | 'name' | 'nodes'>;

describe('lab cgroups: the plan', () => {
  test('v1: beside our own cgroup in each hierarchy (cpuacct co-mounted with cpu, memory in a session cgroup)', () => {
    const p = planCgroups(PLAN, HYBRID, '4:memory:/sessions/s1\n2:cpu,cpuacct:/\n0::/\n');
    assert.ok(!('unavailable' in p));
    assert.deepEqual(p.lab, ['/sys/fs/cgroup/cpu,cpuacct/k8ts7-demo', '/sys/fs/cgroup/memory/sessions/s1/k8ts7-demo']);
    assert.deepEqual(p.nodes.get('node2'), ['/sys/fs/cgroup/cpu,cpuacct/k8ts7-demo/node2', '/sys/fs/cgroup/memory/sessions/s1/k8ts7-demo/node2']);
    assert.equal(labCgroupName(PLAN), 'k8ts7-demo');
    // The DNS threads' cgroup sits beside the lab's directory in the cpu hierarchy, not inside it.
    assert.equal(p.dns, '/sys/fs/cgroup/cpu,cpuacct/k8ts7-demo-dns');
    // So does the control plane's (the API server's).
    assert.equal(p.controlPlane, '/sys/fs/cgroup/cpu,cpuacct/k8ts7-demo-control-plane');
  });

  test('no cpu hierarchy: node cgroups still, no DNS cgroup', () => {
    const noCpu = HYBRID.replace(
      '/sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
      '/sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
    );
    const p = planCgroups(PLAN, noCpu, '4:memory:/\n2:cpuacct:/\n');
    assert.ok(!('unavailable' in p));
    assert.equal(p.dns, undefined);
    assert.equal(p.controlPlane, undefined);
  });

  test('a cgroup namespace (the mount shows a part of the tree) is followed; a path outside the mount is refused', () => {
    const ns = HYBRID.replace('0:31 / /sys/fs/cgroup/memory', '0:31 /box /sys/fs/cgroup/memory');
    const p = planCgroups(PLAN, ns, '4:memory:/box/inner\n2:cpu,cpuacct:/\n');
    assert.ok(!('unavailable' in p));
    assert.equal(p.lab[1], '/sys/fs/cgroup/memory/inner/k8ts7-demo');
    const out = planCgroups(PLAN, ns, '4:memory:/elsewhere\n2:cpu,cpuacct:/\n');
    assert.ok('unavailable' in out && /outside its mount/.test(out.unavailable));
  });

  test('a v2-only host gets none, saying why', () => {
    const p = planCgroups(PLAN, '40 22 0:37 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw', '0::/user.slice/session-1.scope\n');
    assert.ok('unavailable' in p);
    assert.match(p.unavailable, /no cgroup v1 cpuacct hierarchy.*v2/);
  });
});

const v1 =
  existsSync('/sys/fs/cgroup/memory/cgroup.procs') &&
  (existsSync('/sys/fs/cgroup/cpuacct/cgroup.procs') || existsSync('/sys/fs/cgroup/cpu,cpuacct/cgroup.procs'));

describe('lab cgroups on this host', { skip: NEEDS_ROOT || (!v1 && 'this host has no cgroup v1 cpuacct and memory hierarchies') }, () => {
  let home: { home: string; cleanup(): Promise<void> };
  let plan: ClusterPlan;
  before(async () => {
    home = await tempHome();
    plan = await reservePlan({ name: uniqueName('cg'), nodes: 2, home: home.home });
  });
  after(async () => {
    if (plan) {
      for (const r of await listProcesses(plan.dir)) await stopProcess(plan.dir, r.role, { timeoutMs: 500 });
      await removeCgroups(plan).catch(() => {});
      await releasePlan(plan);
    }
    await home?.cleanup();
  });

  test("a process started in its node's cgroup is there (its children too) and its memory counts there, not in the other node's", async () => {
    const made = await createCgroups(plan);
    assert.ok(!('unavailable' in made), JSON.stringify(made));
    const byNode = await nodeCgroups(plan);
    assert.deepEqual([...byNode.keys()].sort(), ['node1', 'node2']);
    const [a, b] = [byNode.get('node1')!, byNode.get('node2')!];
    for (const d of [...a, ...b]) assert.ok(existsSync(`${d}/cgroup.procs`), d);
    // 64 MB held by a shell variable in a child of the started shell: the child is in the cgroup from its fork.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${#x} is the shell's string length
    const r = await startProcess(plan.dir, 'hog', ['sh', '-c', 'sh -c \'x=$(head -c 64000000 /dev/zero | tr "\\0" a); sleep 600; echo ${#x}\' & wait'], {
      cgroups: a,
    });
    assert.deepEqual(r.cgroups, a);
    const procs = (d: string) => readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
    for (const d of a) assert.ok(procs(d).includes(r.pid), `${r.pid} in ${d}`);
    let ua = await dirsUsage({ cpuacct: a.find((d) => d.includes('cpuacct')), memory: a.find((d) => d.includes('/memory/')) });
    for (let i = 0; i < 100 && !(ua && ua.workingSetBytes > 60e6); i++) {
      await new Promise((res) => setTimeout(res, 100));
      ua = await dirsUsage({ cpuacct: a.find((d) => d.includes('cpuacct')), memory: a.find((d) => d.includes('/memory/')) });
    }
    const ub = await dirsUsage({ cpuacct: b.find((d) => d.includes('cpuacct')), memory: b.find((d) => d.includes('/memory/')) });
    assert.ok(ua && ub, "both nodes' usage readable");
    assert.ok(ua.workingSetBytes > 60e6, `node1 working set ${ua.workingSetBytes}`);
    assert.ok(ub.workingSetBytes < 8e6, `node2 working set ${ub.workingSetBytes}`);
    assert.ok(ua.cpuSeconds > ub.cpuSeconds);
    // The child holding the memory is in node1's cgroup too (two processes beside the recorded shell).
    const all = a.flatMap(procs);
    assert.ok(new Set(all).size >= 2, `processes in node1: ${all.join(', ')}`);

    // Removal with the processes still there (an agent's leftovers): they are killed, every directory goes.
    const removed = await removeCgroups(plan);
    for (const d of [...a, ...b, ...(made as { lab: string[] }).lab]) {
      assert.ok(!existsSync(d), `${d} left`);
      assert.ok(removed.includes(d), `${d} not reported`);
    }
    assert.equal(await removeCgroups(plan).then((x) => x.length), 0, 'a second removal finds nothing');
  });

  test("the DNS cgroup: its weight is set, a worker thread moves itself in alone, and it is removed with the lab's", {
    skip: !existsSync('/sys/fs/cgroup/cpu/tasks') && 'no v1 cpu hierarchy mounted at /sys/fs/cgroup/cpu',
  }, async () => {
    const made = await createCgroups(plan);
    assert.ok(!('unavailable' in made) && made.dns, JSON.stringify(made));
    const dns = await dnsCgroup(plan);
    assert.equal(dns, made.dns);
    assert.equal(readFileSync(`${dns}/cpu.shares`, 'utf8').trim(), String(DNS_CPU_SHARES));
    // A worker thread joins it the way the DNS worker does; the process's main thread stays where it was.
    const code = `const { parentPort } = require('node:worker_threads'); const { writeFileSync, readlinkSync } = require('node:fs');
      writeFileSync(${JSON.stringify(`${dns}/tasks`)}, '0'); parentPort.postMessage(readlinkSync('/proc/thread-self'));`;
    const w = new Worker(code, { eval: true });
    try {
      const self = (await new Promise((res, rej) => {
        w.once('message', res);
        w.once('error', rej);
      })) as string;
      const tid = Number(self.split('/').at(-1));
      const tasks = readFileSync(`${dns}/tasks`, 'utf8').split('\n').filter(Boolean).map(Number);
      assert.deepEqual(tasks, [tid], `only the worker's thread ${tid} in ${dns}`);
      assert.ok(!tasks.includes(process.pid), 'the main thread stayed');
    } finally {
      await w.terminate();
    }
    for (let i = 0; i < 50 && readFileSync(`${dns}/tasks`, 'utf8').trim(); i++) await new Promise((res) => setTimeout(res, 20));
    const removed = await removeCgroups(plan);
    assert.ok(removed.includes(dns!), `${dns} not reported removed`);
    assert.ok(!existsSync(dns!));
  });

  test("the control plane's cgroup: its weight is set, a process started in it is there, and it is removed with the lab's", {
    skip: !existsSync('/sys/fs/cgroup/cpu/tasks') && 'no v1 cpu hierarchy mounted at /sys/fs/cgroup/cpu',
  }, async () => {
    const made = await createCgroups(plan);
    assert.ok(!('unavailable' in made) && made.controlPlane, JSON.stringify(made));
    const cp = await controlPlaneCgroup(plan);
    assert.equal(cp, made.controlPlane);
    assert.equal(readFileSync(`${cp}/cpu.shares`, 'utf8').trim(), String(CONTROL_PLANE_CPU_SHARES));
    const rec = await startProcess(plan.dir, 'cp', ['sleep', '30'], { cgroups: [cp!] });
    try {
      assert.deepEqual(readFileSync(`${cp}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number), [rec.pid]);
    } finally {
      process.kill(rec.pid, 'SIGKILL');
    }
    for (let i = 0; i < 50 && readFileSync(`${cp}/cgroup.procs`, 'utf8').trim(); i++) await new Promise((res) => setTimeout(res, 20));
    const removed = await removeCgroups(plan);
    assert.ok(removed.includes(cp!), `${cp} not reported removed`);
    assert.ok(!existsSync(cp!));
  });

  test('a cgroup path that is not one is refused before anything starts', async () => {
    await assert.rejects(startProcess(plan.dir, 'bad', ['sleep', '1'], { cgroups: ['/tmp/x'] }), /not a directory under \/sys\/fs\/cgroup/);
    await assert.rejects(
      startProcess(plan.dir, 'bad', ['sleep', '1'], { cgroups: ['/sys/fs/cgroup/memory/../../etc'] }),
      /not a directory under \/sys\/fs\/cgroup/,
    );
    // One that does not exist: the launcher fails before the program runs, and says where.
    await assert.rejects(
      startProcess(plan.dir, 'bad', ['sleep', '1'], { cgroups: [`/sys/fs/cgroup/memory/${labCgroupName(plan)}-missing`] }),
      /exited at start[\s\S]*cgroup\.procs/,
    );
  });
});
