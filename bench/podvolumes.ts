// Pod startup with volumes against the same pod without them, measured in the same run on a one-node lab:
// a busybox pod with a ConfigMap, two Secret volumes and a projected volume (ConfigMap + downwardAPI, and a
// serviceAccountToken where the API server serves TokenRequest) vs the bare pod; create → Ready, one pod
// at a time, the two kinds interleaved so machine noise falls on both (goal ≤ 1.3× at p50).
//   npx tsc -p tsconfig.json && node dist/bench/podvolumes.js [--rounds 15]
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { CONFIGMAPS, PODS, SECRETS } from '../src/api/kinds.js';
import type { Pod } from '../src/api/types.js';
import { errorCode } from '../src/client/types.js';
import { fmt, summarize, table } from './lib.js';
import { type Cluster, labDone, clusterUp, createNamespace, sleep } from './cluster/kit.js';

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] || 15) || 15;
const NS = 'pv';
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const isReady = (p: Pod | undefined) => !!p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

function pod(name: string, volumes: boolean, token: boolean): Pod {
  const c = { name: 'main', image: 'busybox', command: ['sleep', '3600'] };
  if (!volumes) return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { terminationGracePeriodSeconds: 0, containers: [c] } };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'bench' } },
    spec: {
      terminationGracePeriodSeconds: 0,
      containers: [
        {
          ...c,
          volumeMounts: [
            { name: 'cfg', mountPath: '/cfg' },
            { name: 's1', mountPath: '/s1' },
            { name: 's2', mountPath: '/s2' },
            { name: 'proj', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
          ],
        },
      ],
      volumes: [
        { name: 'cfg', configMap: { name: 'cfg' } },
        { name: 's1', secret: { secretName: 's1' } },
        { name: 's2', secret: { secretName: 's2', items: [{ key: 'a', path: 'a' }] } },
        {
          name: 'proj',
          projected: {
            sources: [
              ...(token ? [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] : []),
              { configMap: { name: 'cfg', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
            ],
          },
        },
      ],
    },
  };
}

async function startOne(c: Cluster, p: Pod): Promise<number> {
  const t0 = performance.now();
  await c.client.create(PODS, NS, p);
  for (;;) {
    const got = await c.client.get(PODS, NS, p.metadata.name!);
    if (isReady(got)) return performance.now() - t0;
    if (performance.now() - t0 > 60_000) throw new Error(`pod ${p.metadata.name} not Ready after 60 s: ${JSON.stringify(got?.status?.containerStatuses)}`);
    await sleep(10);
  }
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'k8ts-bench-pv-'));
  const made = new Set<string>();
  const name = `bv${randomBytes(2).toString('hex')}`;
  let c: Cluster | undefined;
  const failures: string[] = [];
  try {
    ({ cluster: c } = await clusterUp(home, name, 1, 'host-gw', made));
    await createNamespace(c, NS);
    await c.client.create(CONFIGMAPS, NS, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg' },
      data: { 'ca.crt': 'x'.repeat(1200), 'app.conf': 'mode=fast\n' },
    });
    for (const s of ['s1', 's2']) {
      await c.client.create(SECRETS, NS, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: s },
        data: { a: Buffer.from('secret').toString('base64'), b: Buffer.from('more').toString('base64') },
      });
    }
    // The projected token needs the TokenRequest subresource; where the server answers 404 it is left out.
    let token = true;
    try {
      await c.client.postPath(`/api/v1/namespaces/${NS}/serviceaccounts/default/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences: [] },
      });
    } catch (e) {
      if (errorCode(e) !== 404) throw e;
      token = false;
    }
    // One warm-up of each (the image unpacked, the caches full), not counted.
    await startOne(c, pod('warm-a', false, token));
    await startOne(c, pod('warm-b', true, token));
    const bare: number[] = [];
    const vols: number[] = [];
    const loadBefore = load();
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate which goes first, so neither always follows a deletion.
      const order = i % 2 ? [true, false] : [false, true];
      for (const v of order) (v ? vols : bare).push(await startOne(c, pod(`${v ? 'vol' : 'bare'}-${i}`, v, token)));
    }
    const loadAfter = load();
    const b = summarize(bare);
    const v = summarize(vols);
    console.log(`\n=== pod startup, create → Ready, one at a time, ${ROUNDS} of each interleaved (load before ${loadBefore}, after ${loadAfter}) ===`);
    console.log(
      table([
        ['pod', 'n', 'p50 ms', 'p90 ms', 'max ms'],
        ['bare busybox (anchor, same run)', b.n, b.p50, b.p90, b.max],
        [`3 ConfigMap/Secret volumes + projected (${token ? 'serviceAccountToken, ' : ''}ConfigMap, downwardAPI)`, v.n, v.p50, v.p90, v.max],
      ]),
    );
    if (!token)
      console.log(
        'note: this API server answers 404 to serviceaccounts/default/token (TokenRequest not served): the projected volume is measured without its token',
      );
    const ratio = v.p50 / b.p50;
    console.log(`ratio p50: ${fmt(ratio)}× (goal ≤ 1.3×) ${ratio <= 1.3 ? 'met' : 'NOT MET'}`);
  } finally {
    await labDone(home, c, made, failures);
  }
  if (failures.length) {
    console.error(failures.join('\n'));
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
