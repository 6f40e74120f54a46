// metrics.k8s.io end to end without a lab: a real API server scraping a real agent endpoint through its node
// proxy, the agent reading real cgroups (a busy process and one holding 48 MiB, each moved into a cgroup of
// its own as runc would), and every pinned kubectl's `top` reading the answer; a node whose agent does not
// answer is left out, not an error for the rest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type TestCluster } from '../controllers/testutil.js';
import { type TestAgent, joinTestAgent } from './testagent.js';
import { Runtime } from '../agent/runtime/runtime.js';
import { cgroupUsage, hostUsage, parseMountinfo, parseProcCgroup, resourceMetricsText, type RunningContainer } from '../agent/resourcemetrics.js';
import { NODES, PODS } from '../api/kinds.js';
import { kubectlBinary } from '../testing/kubectl-harness.js';
import { eventually } from '../testing/eventually.js';
import { parseExposition } from '../util/promtext.js';

const NODE = `rm-${process.pid}`;
const DOWN = `rm-down-${process.pid}`;
const VERSIONS = ['1.27', '1.28', '1.29', '1.30', '1.31', '1.32', '1.33'];
let tc: TestCluster;
let dir: string;
let agent: TestAgent | undefined;
let ca: string;
const procs: ChildProcess[] = [];
const cgroupDirs: string[] = [];
let running: RunningContainer[] = [];

/** A child cgroup of ours in every hierarchy that counts CPU or memory, with pid moved into it. */
function ownCgroup(name: string, pid: number): void {
  const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  const self = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
  const places: string[] = [];
  if (mounts.v2 && self.v2 !== undefined) places.push(join(mounts.v2.mountPoint, self.v2.slice(mounts.v2.root === '/' ? 0 : mounts.v2.root.length)));
  for (const c of ['cpuacct', 'memory']) {
    const m = mounts.v1.get(c);
    const p = self.v1.get(c);
    if (m && p !== undefined) places.push(join(m.mountPoint, p.slice(m.root === '/' ? 0 : m.root.length)));
  }
  for (const parent of new Set(places)) {
    const d = join(parent, name);
    mkdirSync(d);
    cgroupDirs.push(d);
    writeFileSync(join(d, 'cgroup.procs'), String(pid));
  }
}

function get(path: string): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const rq = request(new URL(path, tc.s.url), { ca, headers: { authorization: `Bearer ${tc.s.token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    rq.on('error', reject);
    rq.end();
  });
}

function kubectl(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, ['--kubeconfig', tc.s.kubeconfigPath, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

before(async () => {
  // 3 s: a scrape may take up to 80 % of it (a loaded 2-core machine needs more than a second at times).
  tc = await startCluster({ metricResolutionMs: 3000 });
  ca = readFileSync(tc.s.caPath, 'utf8');
  dir = mkdtempSync(join(tmpdir(), 'k8ts-resourcemetrics-'));
  // A busy loop (the CPU) and a process holding 48 MiB it wrote (the memory), each in a cgroup of its own.
  const busy = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
  const hold = spawn(process.execPath, ['-e', 'globalThis.b = Buffer.alloc(48 << 20, 7); setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
  procs.push(busy, hold);
  ownCgroup(`k8ts-rm-${process.pid}-busy`, busy.pid!);
  ownCgroup(`k8ts-rm-${process.pid}-hold`, hold.pid!);
  running = [
    { namespace: 'default', pod: 'busy', container: 'loop', pid: busy.pid!, startedAt: new Date() },
    { namespace: 'default', pod: 'busy', container: 'holder', pid: hold.pid!, startedAt: new Date() },
  ];
  const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  const runtime = new Runtime({ stateDir: join(dir, 'runtime'), imagesDir: join(dir, 'images') });
  // The node joins as an agent does (its own identity and serving certificate); DOWN has no agent at all.
  agent = await joinTestAgent(tc.s, {
    name: NODE,
    dir,
    admin: tc.c,
    labels: { 'k8ts-test': 'rm' },
    deps: {
      runtime,
      pod: () => undefined,
      netnsOf: () => undefined,
      resourceMetrics: () =>
        resourceMetricsText(
          () => hostUsage(),
          running,
          (pid) => cgroupUsage(mounts, pid),
        ),
    },
  });
  await tc.c.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: DOWN, labels: { 'k8ts-test': 'rm' } } });
  for (const [name, port] of [
    [NODE, agent.streams.port],
    [DOWN, 1],
  ] as const) {
    await tc.c.patch(
      NODES,
      undefined,
      name,
      'merge',
      {
        status: {
          addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
          daemonEndpoints: { kubeletEndpoint: { Port: port } },
          capacity: { cpu: '2', memory: '4Gi' },
          allocatable: { cpu: '2', memory: '4Gi' },
        },
      },
      'status',
    );
  }
  await tc.c.create(PODS, 'default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'busy', labels: { app: 'busy' } },
    spec: {
      nodeName: NODE,
      containers: [
        { name: 'loop', image: 'busybox' },
        { name: 'holder', image: 'busybox' },
      ],
    },
  });
  await tc.c.create(PODS, 'default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'idle', labels: { app: 'idle' } },
    spec: { nodeName: NODE, containers: [{ name: 'c', image: 'busybox' }] },
  });
});

after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
  // The kernel empties a cgroup when its last process is reaped; remove ours, innermost last-made first.
  for (const d of cgroupDirs.reverse()) {
    for (let i = 0; i < 50 && existsSync(d); i++) {
      try {
        rmdirSync(d);
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
  agent?.close();
  await tc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('/metrics/resource has the kubelet names, timestamps, and the cgroups of the processes', async () => {
  // The holder writes its 48 MiB after it starts: wait for it, then check everything on that one answer.
  const e = await eventually(
    "the holder's 48 MiB in /metrics/resource",
    async () => {
      const r = await get(`/api/v1/nodes/${NODE}/proxy/metrics/resource`);
      assert.equal(r.code, 200, r.body);
      const x = parseExposition(r.body);
      return (x.samples.find((s) => s.name === 'container_memory_working_set_bytes' && s.labels.container === 'holder')?.value ?? 0) >= 40 << 20 && x;
    },
    20_000,
  );
  assert.equal(e.types.get('container_cpu_usage_seconds_total'), 'counter');
  assert.equal(e.types.get('node_memory_working_set_bytes'), 'gauge');
  const mem = e.samples.find((s) => s.name === 'container_memory_working_set_bytes' && s.labels.container === 'holder');
  assert.ok(mem && mem.value >= 40 << 20 && mem.value < 200 << 20, `holder working set ${mem?.value}`);
  assert.ok(mem.timestamp && Math.abs(mem.timestamp - Date.now()) < 60_000);
  const pod = e.samples.find((s) => s.name === 'pod_memory_working_set_bytes' && s.labels.pod === 'busy');
  assert.ok(pod && pod.value >= mem.value);
  assert.ok(e.samples.some((s) => s.name === 'node_cpu_usage_seconds_total' && s.value > 0));
  assert.equal(e.samples.find((s) => s.name === 'scrape_error')?.value, 0);
});

test('metrics.k8s.io answers as metrics-server: discovery, rates over a window, selectors, 404s', async () => {
  const d = JSON.parse((await get('/apis/metrics.k8s.io/v1beta1')).body);
  assert.deepEqual(
    d.resources.map((r: { name: string; kind: string; namespaced: boolean; verbs: string[] }) => [r.name, r.kind, r.namespaced, r.verbs]),
    [
      ['nodes', 'NodeMetrics', false, ['get', 'list']],
      ['pods', 'PodMetrics', true, ['get', 'list']],
    ],
  );
  const pm = await eventually(
    'PodMetrics of busy',
    async () => {
      const r = await get('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy');
      return r.code === 200 && JSON.parse(r.body);
    },
    20_000,
  );
  assert.equal(pm.kind, 'PodMetrics');
  assert.deepEqual(pm.metadata.labels, { app: 'busy' });
  assert.match(pm.window, /^\d+(\.\d+)?m?s$/);
  assert.match(pm.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const loop = pm.containers.find((c: { name: string }) => c.name === 'loop');
  assert.ok(loop, JSON.stringify(pm));
  assert.ok(cores(loop.usage.cpu) > 0.05, `busy loop at ${loop.usage.cpu}`);
  const holder = pm.containers.find((c: { name: string }) => c.name === 'holder');
  assert.ok(bytes(holder.usage.memory) >= 40 << 20, `holder at ${holder.usage.memory}`);
  // The pod without containers here has no metrics: left out of the list, 404 by name.
  const list = JSON.parse((await get('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods')).body);
  assert.equal(list.kind, 'PodMetricsList');
  assert.deepEqual(
    list.items.map((i: { metadata: { name: string } }) => i.metadata.name),
    ['busy'],
  );
  const idle = await get('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/idle');
  assert.equal(idle.code, 404);
  assert.equal(JSON.parse(idle.body).message, 'podmetrics.metrics.k8s.io "idle" not found');
  assert.equal(JSON.parse((await get('/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Didle')).body).items.length, 0);
  assert.equal(JSON.parse((await get('/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dbusy')).body).items.length, 1);
  assert.equal(JSON.parse((await get('/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=metadata.namespace%3Dkube-system')).body).items.length, 0);
  // Nodes: the one whose agent answers; the one whose agent is down is left out, not an error for all.
  const nodes = JSON.parse((await get('/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=k8ts-test%3Drm')).body);
  assert.deepEqual(
    nodes.items.map((i: { metadata: { name: string } }) => i.metadata.name),
    [NODE],
  );
  assert.ok(cores(nodes.items[0].usage.cpu) > 0);
  assert.equal((await get(`/apis/metrics.k8s.io/v1beta1/nodes/${DOWN}`)).code, 404);
  // Hostile: writes, watches, bad selectors, unknown subresources.
  assert.equal((await get('/apis/metrics.k8s.io/v1beta1/pods?watch=true')).code, 405);
  const bad = await get('/apis/metrics.k8s.io/v1beta1/pods?labelSelector=a%20in%20(');
  assert.equal(bad.code, 400, bad.body);
  assert.equal((await get('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy/status')).code, 404);
});

function cores(q: string): number {
  const m = /^(\d+)([num]?)$/.exec(q);
  assert.ok(m, `cpu quantity ${q}`);
  return Number(m[1]) * { '': 1, m: 1e-3, u: 1e-6, n: 1e-9 }[m[2] as '' | 'm' | 'u' | 'n'];
}

function bytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(q);
  assert.ok(m, `memory quantity ${q}`);
  return Number(m[1]) * ({ '': 1, Ki: 1024, Mi: 1 << 20, Gi: 1 << 30 }[m[2] ?? ''] ?? 1);
}

for (const v of VERSIONS) {
  const bin = kubectlBinary(v);
  test(`kubectl ${v} top nodes and top pods --containers`, { skip: !bin && process.env.K8TS_CI !== '1' ? `kubectl.${v} not found` : false }, async () => {
    assert.ok(bin, `kubectl.${v} not found beside kubectl on PATH`);
    await eventually(
      'metrics of busy and its node',
      async () =>
        (await get('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy')).code === 200 &&
        (await get(`/apis/metrics.k8s.io/v1beta1/nodes/${NODE}`)).code === 200,
      20_000,
    );
    const n = await kubectl(bin, ['top', 'nodes', '-l', 'k8ts-test=rm']);
    assert.equal(n.code, 0, n.stderr);
    const row = n.stdout.split('\n').find((l) => l.startsWith(`${NODE} `));
    assert.ok(row, n.stdout);
    assert.match(row, /^\S+\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%/);
    // The node whose agent is down: shown without numbers (1.27+), never failing the command.
    assert.ok(!n.stdout.includes(`${DOWN} `) || /<unknown>/.test(n.stdout.split('\n').find((l) => l.startsWith(`${DOWN} `))!), n.stdout);
    const p = await kubectl(bin, ['top', 'pods', '--containers', '-l', 'app=busy']);
    assert.equal(p.code, 0, p.stderr);
    const loop = p.stdout.split('\n').find((l) => /^busy\s+loop\s/.test(l));
    const holder = p.stdout.split('\n').find((l) => /^busy\s+holder\s/.test(l));
    assert.ok(loop && holder, p.stdout);
    const [, , cpu] = loop.trim().split(/\s+/);
    assert.ok(Number(cpu.replace('m', '')) > 0, `loop cpu ${cpu}`);
    const [, , , mem] = holder.trim().split(/\s+/);
    assert.ok(Number(mem.replace('Mi', '')) >= 40, `holder memory ${mem}`);
    const all = await kubectl(bin, ['top', 'pods', '-A']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^default\s+busy\s+\d+m\s+\d+Mi/m);
  });
}
