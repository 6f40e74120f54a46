// Service allocation cost: creating services through the registry on SQLite with the IP/port claims,
// beside the same creates with no allocation hooks (the anchor), measured in the same run; then the
// creates that land in a nearly full range (random picks collide, the fallback scan lists the claims).
//   node dist/bench/svcalloc.js [--services 1000]
import { SERVICES as SVC } from '../src/api/kinds.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteStore } from '../src/store/sqlite.js';
import { WatchCache } from '../src/apiserver/watchcache.js';
import { Registry, type WriteHooks } from '../src/apiserver/registry.js';
import { LocalClient } from '../src/apiserver/localclient.js';
import { ServiceAllocations } from '../src/apiserver/allocators/index.js';
import { bootstrapNamespaces } from '../src/controllers/namespace.js';
import { summarize, table } from './lib.js';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--services') + 1] || 1000) || 1000;

async function run(
  label: string,
  hooks: (s: SqliteStore) => Map<string, WriteHooks>,
  n: number,
  type: string,
  prefill = 0,
): Promise<{ label: string; ms: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-svcalloc-'));
  const store = await SqliteStore.open({ dataDir: dir, pollIntervalMs: 0 });
  const cache = await WatchCache.start(store);
  const reg = new Registry(store, cache, hooks(store));
  try {
    await bootstrapNamespaces(new LocalClient(reg));
    const body = (i: number) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `s${i}` },
      spec: { type, selector: { app: `s${i}` }, ports: [{ port: 80 }] },
    });
    for (let i = 0; i < prefill; i++) await reg.create(SVC, 'default', body(i));
    const ms: number[] = [];
    for (let i = prefill; i < prefill + n; i++) {
      const t0 = performance.now();
      await reg.create(SVC, 'default', body(i));
      ms.push(performance.now() - t0);
    }
    return { label, ms };
  } finally {
    cache.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const none = () => new Map<string, WriteHooks>();
const withAlloc =
  (cidr = '10.96.0.0/16') =>
  (s: SqliteStore) =>
    new Map<string, WriteHooks>([['services', new ServiceAllocations(s, { serviceCidr: cidr })]]);

const results = [
  await run('anchor: ClusterIP create, no allocation hooks', none, N, 'ClusterIP'),
  await run('ClusterIP create, IP claimed (/16)', withAlloc(), N, 'ClusterIP'),
  await run('anchor: NodePort create, no allocation hooks', none, N, 'NodePort'),
  await run('NodePort create, IP + node port claimed', withAlloc(), N, 'NodePort'),
  // /22: 1022 usable addresses; the last 22 creates find almost every random pick taken.
  await run('anchor: ClusterIP create into 1000 existing, no hooks', none, 22, 'ClusterIP', 1000),
  await run('ClusterIP create into a /22 with 1000 of 1022 taken', withAlloc('10.96.0.0/22'), 22, 'ClusterIP', 1000),
];
const rows: (string | number)[][] = [['case', 'n', 'p50 ms', 'p99 ms', 'max ms', 'p50 / anchor p50']];
for (let i = 0; i < results.length; i++) {
  const r = results[i];
  const s = summarize(r.ms);
  const anchor = summarize(results[i - (i % 2)].ms);
  rows.push([r.label, s.n, s.p50, s.p99, s.max, i % 2 ? s.p50 / anchor.p50 : 1]);
}
console.log(table(rows));
