// Workload controllers against their anchors, measured in the same run:
//  1. a Deployment of 100 busybox replicas on a 3-node lab, create → 100 available, beside the same 100 pods
//     created directly as bare pods (goal ≤ 1.5×);
//  2. a rolling update of those 100 (25 %/25 %) until complete (goal ≤ 2× the bare-pod time), with the pod
//     count and readiness checked against maxSurge/maxUnavailable from a watch;
//  3. garbage collection of a Deployment with 1,000 pods (background; a server without nodes, so the pods
//     stay unscheduled) until every pod is gone, beside one deletecollection of 1,000 bare pods (goal ≤ 2×).
//   node dist/bench/workloads.js [--only lab,gc] [--replicas 100] [--gc-pods 1000]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { DEPLOYMENTS, NAMESPACES, PODS } from '../src/api/kinds.js';
import type { Deployment, Pod } from '../src/api/types.js';
import { configFromKubeconfig, RestClient } from '../src/client/rest.js';
import { runServer } from '../src/server/server.js';
import { Client, fmt, table } from './lib.js';
import { type Cluster, labDone, clusterUp, createNamespace, pool, sleep } from './cluster/kit.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const only = arg('only', 'lab,gc').split(',');
const REPLICAS = Number(arg('replicas', '100'));
const GC_PODS = Number(arg('gc-pods', '1000'));
const ms = (n: number) => `${fmt(n, 0)} ms`;
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const rows: string[][] = [['measure', 'ours', 'anchor (same run)', 'ratio', 'goal', 'met']];
const failures: string[] = [];

const isReady = (p: Pod) => !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
const spec = (image: string) => ({
  terminationGracePeriodSeconds: 0,
  containers: [{ name: 'main', image, command: ['sleep', '3600'], resources: { requests: { cpu: '1m', memory: '4Mi' } } }],
});
function deployment(name: string, replicas: number): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: spec('busybox') },
    },
  };
}

/** A pod watch of one namespace: live (not terminating) and ready counts, and their extremes since reset(). */
class Census {
  pods = new Map<string, Pod>();
  maxLive = 0;
  minReady = Infinity;
  private w?: { close(): void };
  constructor(
    private c: RestClient,
    private ns: string,
  ) {}
  async start(): Promise<this> {
    const l = await this.c.list(PODS, this.ns);
    for (const p of l.items) this.pods.set(p.metadata.uid!, p);
    this.w = await this.c.watch(PODS, this.ns, l.resourceVersion, {
      onEvent: (type, p) => {
        if (type === 'DELETED') this.pods.delete(p.metadata.uid!);
        else this.pods.set(p.metadata.uid!, p);
        this.count();
      },
      onError: () => failures.push(`pod watch of ${this.ns} broke`),
    });
    return this;
  }
  live(): Pod[] {
    return [...this.pods.values()].filter((p) => !p.metadata.deletionTimestamp);
  }
  readyCount(): number {
    return this.live().filter((p) => isReady(p) && p.status?.phase === 'Running').length;
  }
  reset(): void {
    this.maxLive = this.live().length;
    this.minReady = this.readyCount();
  }
  private count(): void {
    this.maxLive = Math.max(this.maxLive, this.live().length);
    this.minReady = Math.min(this.minReady, this.readyCount());
  }
  close(): void {
    this.w?.close();
  }
}

async function waitFor(what: string, f: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await f())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function lab(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'k8ts-bench-wl-'));
  const made = new Set<string>();
  const name = `bw${randomBytes(2).toString('hex')}`;
  let c: Cluster | undefined;
  try {
    ({ cluster: c } = await clusterUp(home, name, 3, 'host-gw', made));
    const cl = c.client;
    // Anchor: the same pods, bare, created at once (32 requests in flight) until all Running and Ready.
    await createNamespace(c, 'bare');
    const bare = await new Census(cl, 'bare').start();
    let t0 = performance.now();
    await pool(
      Array.from({ length: REPLICAS }, (_, i) => i),
      32,
      async (i) => {
        await cl.create(PODS, 'bare', { apiVersion: 'v1', kind: 'Pod', metadata: { name: `bare-${i}`, labels: { app: 'bare' } }, spec: spec('busybox') });
      },
    );
    await waitFor('bare pods ready', () => bare.readyCount() === REPLICAS, 300_000);
    const tBare = performance.now() - t0;
    bare.close();
    await pool(
      (await cl.list(PODS, 'bare')).items,
      16,
      async (p) => void (await cl.delete(PODS, 'bare', p.metadata.name!, { gracePeriodSeconds: 0 }).catch(() => {})),
    );
    await waitFor('bare pods gone', async () => (await cl.list(PODS, 'bare')).items.length === 0, 300_000);
    await sleep(5_000);

    await createNamespace(c, 'dep');
    const census = await new Census(cl, 'dep').start();
    const avail = async (gen?: boolean) => {
      const d = (await cl.get(DEPLOYMENTS, 'dep', 'web'))!;
      const s = d.status ?? {};
      return (
        s.availableReplicas === REPLICAS &&
        s.updatedReplicas === REPLICAS &&
        s.replicas === REPLICAS &&
        (!gen || (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0))
      );
    };
    t0 = performance.now();
    await cl.create(DEPLOYMENTS, 'dep', deployment('web', REPLICAS));
    await waitFor('deployment available', () => avail(true), 300_000);
    const tDeploy = performance.now() - t0;
    const maxCreate = census.maxLive;
    await sleep(5_000);

    census.reset();
    t0 = performance.now();
    await cl.patch(DEPLOYMENTS, 'dep', 'web', 'strategic', { spec: { template: { spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } } } });
    await waitFor('rollout complete', async () => (await avail(true)) && census.live().every((p) => p.spec?.containers[0].image === 'busybox:1.36'), 600_000);
    const tRoll = performance.now() - t0;
    census.close();
    const surge = Math.ceil(REPLICAS * 0.25);
    const unavailable = Math.floor(REPLICAS * 0.25);
    const boundsOk = census.maxLive <= REPLICAS + surge && census.minReady >= REPLICAS - unavailable;
    console.log(`\n=== Deployment of ${REPLICAS} busybox replicas on 3 nodes (load ${load()}) ===`);
    console.log(
      table([
        ['', 'time'],
        [`${REPLICAS} bare pods, create → all Running and Ready (anchor)`, ms(tBare)],
        [`Deployment, create → ${REPLICAS} available (max ${maxCreate} pods seen)`, ms(tDeploy)],
        [
          `rolling update 25%/25% → complete (pods ≤ ${census.maxLive} of ${REPLICAS + surge} allowed, ready ≥ ${census.minReady} of ${REPLICAS - unavailable} required)`,
          ms(tRoll),
        ],
      ]),
    );
    rows.push([
      `Deployment ${REPLICAS} → available`,
      ms(tDeploy),
      `${REPLICAS} bare pods ${ms(tBare)}`,
      `${fmt(tDeploy / tBare)}×`,
      '≤ 1.5×',
      tDeploy <= 1.5 * tBare ? 'yes' : 'NO',
    ]);
    rows.push([
      `rolling update ${REPLICAS} (25%/25%)`,
      ms(tRoll),
      `${REPLICAS} bare pods ${ms(tBare)}`,
      `${fmt(tRoll / tBare)}×`,
      '≤ 2× and within bounds',
      tRoll <= 2 * tBare && boundsOk ? 'yes' : 'NO',
    ]);
    if (!boundsOk) failures.push(`rollout left its bounds: max ${census.maxLive} live pods, min ${census.minReady} ready`);
  } finally {
    await labDone(home, c, made, failures);
  }
}

async function gc(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-gc-'));
  const s = await runServer({ dataDir: dir, store: 'sqlite', listen: [{ host: '127.0.0.1', port: 0 }] });
  const cfg = configFromKubeconfig(s.kubeconfigPath);
  const cl = new RestClient(cfg);
  const raw = new Client(cfg.server, s.token, typeof cfg.ca === 'string' ? Buffer.from(cfg.ca) : cfg.ca);
  try {
    for (const ns of ['anchor', 'gc']) await cl.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const count = async (ns: string) => (await cl.list(PODS, ns)).items.length;
    // Anchor: the same number of bare pods (the Deployment's template), gone with one deletecollection.
    await pool(
      Array.from({ length: GC_PODS }, (_, i) => i),
      32,
      async (i) => {
        await cl.create(PODS, 'anchor', { apiVersion: 'v1', kind: 'Pod', metadata: { name: `p-${i}`, labels: { app: 'web' } }, spec: spec('busybox') });
      },
    );
    let t0 = performance.now();
    const r = await raw.call('DELETE', '/api/v1/namespaces/anchor/pods');
    if (r.code !== 200) throw new Error(`deletecollection: ${r.code} ${r.text.slice(0, 200)}`);
    await waitFor('anchor pods gone', async () => (await count('anchor')) === 0, 300_000);
    const tAnchor = performance.now() - t0;

    await cl.create(DEPLOYMENTS, 'gc', deployment('web', GC_PODS));
    await waitFor(`${GC_PODS} pods`, async () => (await count('gc')) === GC_PODS, 600_000);
    await sleep(2_000);
    t0 = performance.now();
    await cl.delete(DEPLOYMENTS, 'gc', 'web', { propagationPolicy: 'Background' });
    await waitFor('collected', async () => (await count('gc')) === 0, 600_000);
    const tGc = performance.now() - t0;
    console.log(`\n=== garbage collection of a Deployment with ${GC_PODS} pods (background), SQLite (load ${load()}) ===`);
    console.log(
      table([
        ['', 'time'],
        [`deletecollection of ${GC_PODS} bare pods → all gone (anchor)`, ms(tAnchor)],
        [`delete Deployment → all ${GC_PODS} pods gone`, ms(tGc)],
      ]),
    );
    rows.push([
      `GC of a Deployment with ${GC_PODS} pods`,
      ms(tGc),
      `deletecollection ${ms(tAnchor)}`,
      `${fmt(tGc / tAnchor)}×`,
      '≤ 2×',
      tGc <= 2 * tAnchor ? 'yes' : 'NO',
    ]);
  } finally {
    raw.close();
    cl.close();
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`k8ts workloads benchmark; ${readFileSync('/proc/loadavg', 'utf8').trim()} (/proc/loadavg at start)`);
try {
  if (only.includes('gc')) await gc();
  if (only.includes('lab')) await lab();
} catch (e) {
  failures.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
}
console.log(`\n${table(rows)}\nload at end: ${load()}`);
if (failures.length) {
  console.log(`\nFAILED:\n  ${failures.join('\n  ')}`);
  process.exitCode = 1;
}
