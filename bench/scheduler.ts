// Scheduler throughput: 1,000 pending pods onto 100 nodes (node objects without agents) on the SQLite
// store, through the same in-process client the server's scheduler uses. Anchor, same run, same store:
// the bare `binding` POSTs for another 1,000 pending pods with the same concurrency (64 in flight), i.e.
// what the API alone allows. Repeats (the machine is shared); prints the load.
//   node dist/bench/scheduler.js [--pods 1000] [--nodes 100] [--rounds 3]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteStore } from '../src/store/sqlite.js';
import { WatchCache } from '../src/apiserver/watchcache.js';
import { Registry } from '../src/apiserver/registry.js';
import { LocalClient } from '../src/apiserver/localclient.js';
import { SharedInformerFactory } from '../src/client/factory.js';
import { bootstrapNamespaces } from '../src/controllers/namespace.js';
import { Scheduler } from '../src/controllers/scheduler.js';
import { NAMESPACES, NODES, PODS } from '../src/api/kinds.js';
import type { Node, Pod } from '../src/api/types.js';
import { parallel, table } from './lib.js';

const args = process.argv.slice(2);
const opt = (name: string, d: number) => Number(args[args.indexOf(`--${name}`) + 1] || d) || d;
const PODS_N = opt('pods', 1000);
const NODES_N = opt('nodes', 100);
const ROUNDS = opt('rounds', 3);
const IN_FLIGHT = 64;

const node = (i: number): Node => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: `node-${i}`, labels: { 'kubernetes.io/hostname': `node-${i}`, 'topology.kubernetes.io/zone': `zone-${i % 4}` } },
  status: {
    capacity: { cpu: '32', memory: '128Gi', pods: '110' },
    allocatable: { cpu: '32', memory: '128Gi', pods: '110' },
    conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'bench' }],
  },
});

const pod = (ns: string, i: number): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `p-${i}`, namespace: ns, labels: { app: 'bench' } },
  spec: {
    schedulerName: ns.startsWith('anchor') ? 'nobody' : 'default-scheduler',
    containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '100m', memory: '64Mi' } } }],
  },
});

async function round(r: number): Promise<{ bindRate: number; schedRate: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-sched-'));
  const store = await SqliteStore.open({ dataDir: dir, pollIntervalMs: 0 });
  const cache = await WatchCache.start(store);
  const client = new LocalClient(new Registry(store, cache, new Map()));
  const informers = new SharedInformerFactory(client);
  try {
    await bootstrapNamespaces(client);
    for (const ns of [`anchor-${r}`, `sched-${r}`]) await client.create(NAMESPACES, undefined, { metadata: { name: ns } });
    for (let i = 0; i < NODES_N; i++) await client.create(NODES, undefined, node(i));
    for (let i = 0; i < PODS_N; i++) await client.create(PODS, `anchor-${r}`, pod(`anchor-${r}`, i));
    for (let i = 0; i < PODS_N; i++) await client.create(PODS, `sched-${r}`, pod(`sched-${r}`, i));

    // Anchor: bind every pod round-robin with IN_FLIGHT binds outstanding, no scheduling at all.
    const t0 = performance.now();
    await parallel(PODS_N, IN_FLIGHT, (i) => client.bind(`anchor-${r}`, `p-${i}`, `node-${i % NODES_N}`));
    const bindRate = PODS_N / ((performance.now() - t0) / 1000);

    // The scheduler: pods already pending, nodes known; time from start to the last pod bound.
    const sched = new Scheduler({ client, informers });
    const pods = informers.informerFor(PODS);
    const nodes = informers.informerFor(NODES);
    informers.informerFor(NAMESPACES);
    informers.start();
    await Promise.all([pods.waitForSync(), nodes.waitForSync()]);
    const t1 = performance.now();
    await sched.start();
    while (sched.stats.scheduled < PODS_N) await new Promise((res) => setTimeout(res, 5));
    const schedRate = PODS_N / ((performance.now() - t1) / 1000);
    sched.stop();
    // Every pod of the scheduler's namespace is bound, and no node got more than its share twice over.
    const bound = (await client.list(PODS, `sched-${r}`)).items.filter((p) => p.spec?.nodeName);
    if (bound.length !== PODS_N) throw new Error(`only ${bound.length} of ${PODS_N} pods bound`);
    const per = new Map<string, number>();
    for (const p of bound) per.set(p.spec!.nodeName!, (per.get(p.spec!.nodeName!) ?? 0) + 1);
    if (Math.max(...per.values()) > 2 * Math.ceil(PODS_N / NODES_N)) throw new Error(`uneven placement: ${JSON.stringify([...per])}`);
    return { bindRate, schedRate };
  } finally {
    informers.stop();
    cache.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: (string | number)[][] = [['round', 'anchor: bare binding POSTs/s', 'scheduler pods bound/s', 'ratio', 'loadavg']];
for (let r = 0; r < ROUNDS; r++) {
  const { bindRate, schedRate } = await round(r);
  rows.push([r + 1, bindRate, schedRate, schedRate / bindRate, readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')]);
}
console.log(`scheduler: ${PODS_N} pending pods, ${NODES_N} nodes, SQLite, ${IN_FLIGHT} binds in flight (target ≥ 300 pods/s)`);
console.log(table(rows));
