// A container's exit reaching the API: pods on a 2-node lab whose one container sleeps and exits 0
// (restartPolicy Never), created paced so their exits are spread out; for each, the time from the exit (the
// shim's own clock reading when it reaped the process, in the container's `exit` file) to a watch from this
// process seeing the pod Succeeded. The agents run with the default --sync-frequency (10 s): before the
// shims' exit notices, an exit was seen only at that look, 0–10 s later. The anchor, in the same run: a
// write to the same pods (a label) until the same watch sees it — what any status write costs on its way.
// The kubelet's PLEG relists every 1 s (quoted, not measured here).
//   npx tsc -p tsconfig.json && node dist/bench/exits.js [--pods 40] [--rate 5]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PODS } from '../src/api/kinds.js';
import type { Pod } from '../src/api/types.js';
import { type Cluster, clusterUp, createNamespace, labDone, sleep } from './cluster/kit.js';
import { fmt, summarize, table } from './lib.js';

const args = process.argv.slice(2);
const arg = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || d : d);
const PODS_N = arg('--pods', 40);
const RATE = arg('--rate', 5);
const NS = 'exits';
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function pod(name: string, node: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'exits' } },
    spec: {
      nodeName: node,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'main', image: 'busybox', command: ['sh', '-c', 'sleep 2; exit 0'] }],
    },
  };
}

/** The exit time the shim wrote (`<code> <signal> <sec> <nsec>`), as epoch ms. */
function exitEpochMs(c: Cluster, p: Pod): number {
  const node = c.plan.nodes.find((n) => n.name === p.spec!.nodeName)!;
  const id = p.status!.containerStatuses![0].containerID!.replace(/^[a-z]+:\/\//, '');
  const [, , sec, nsec] = readFileSync(join(node.dir, 'runtime', 'containers', id, 'exit'), 'utf8')
    .trim()
    .split(' ')
    .map(Number);
  return sec * 1000 + nsec / 1e6;
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'k8ts-bench-exits-'));
  const made = new Set<string>();
  const name = `ex${randomBytes(2).toString('hex')}`;
  let c: Cluster | undefined;
  const failures: string[] = [];
  try {
    ({ cluster: c } = await clusterUp(home, name, 2, 'host-gw', made));
    const cl = c;
    await createNamespace(cl, NS);
    // Seen by the watch: when (epoch ms) each pod was first Succeeded, and when each label write arrived.
    const succeeded = new Map<string, number>();
    const labelled = new Map<string, number>();
    const latest = new Map<string, Pod>();
    const { resourceVersion } = await cl.client.list(PODS, NS);
    const w = await cl.client.watch(PODS, NS, resourceVersion, {
      onEvent: (_type, obj) => {
        const p = obj as Pod;
        const n = p.metadata.name!;
        latest.set(n, p);
        if (p.status?.phase === 'Succeeded' && !succeeded.has(n)) succeeded.set(n, Date.now());
        if (p.metadata.labels?.seen === 'yes' && !labelled.has(n)) labelled.set(n, performance.now());
      },
      onError: (e) => failures.push(`watch: ${e.message}`),
    });
    const loadBefore = load();
    const names = Array.from({ length: PODS_N }, (_, i) => `ex-${i}`);
    const nodes = cl.plan.nodes.map((n) => n.name);
    const t0 = performance.now();
    for (let i = 0; i < names.length; i++) {
      await sleep(Math.max(0, t0 + (i * 1000) / RATE - performance.now()));
      await cl.client.create(PODS, NS, pod(names[i], nodes[i % nodes.length]));
    }
    for (const end = performance.now() + 120_000; succeeded.size < PODS_N && performance.now() < end; ) await sleep(20);
    if (succeeded.size < PODS_N) throw new Error(`${PODS_N - succeeded.size} pods not Succeeded after 120 s`);
    const exitMs = names.map((n) => succeeded.get(n)! - exitEpochMs(cl, latest.get(n)!));
    // The anchor: one write to each pod until the watch shows it, paced as the pods were.
    const writeMs: number[] = [];
    for (const n of names) {
      const start = performance.now();
      await cl.client.patch(PODS, NS, n, 'merge', { metadata: { labels: { seen: 'yes' } } });
      for (const end = start + 10_000; !labelled.has(n) && performance.now() < end; ) await sleep(1);
      if (labelled.has(n)) writeMs.push(labelled.get(n)! - start);
      await sleep(1000 / RATE);
    }
    w.close();
    const loadAfter = load();
    const e = summarize(exitMs);
    const a = summarize(writeMs);
    console.log(
      `\n=== container exit → the pod Succeeded in a watch, ${PODS_N} pods created at ${RATE}/s on ${nodes.length} nodes, each exiting 2 s after its start (load before ${loadBefore}, after ${loadAfter}) ===`,
    );
    console.log(
      table([
        ['what', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
        ['anchor: a write to the pod → the watch sees it (same run)', a.n, a.p50, a.p90, a.p99, a.max],
        ["exit (the shim's clock) → the watch sees Succeeded", e.n, e.p50, e.p90, e.p99, e.max],
      ]),
    );
    console.log(
      `exit → Succeeded p50 ${fmt(e.p50)} ms = ${fmt(e.p50 / a.p50)}× the anchor, p99 ${fmt(e.p99)} ms; seen only at the agents' 10 s look it would be 0–10 s (p50 ~5 s); the kubelet's PLEG relist: every 1 s (quoted)`,
    );
  } catch (e) {
    failures.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
  } finally {
    await labDone(home, c, made, failures);
  }
  if (failures.length) {
    console.error(failures.join('\n'));
    process.exitCode = 1;
  }
}

void main();
