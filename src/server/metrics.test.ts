// /metrics against a real server: requests made over HTTPS move apiserver_request_total and the duration
// histogram by exactly their number, watches show as registered watchers and long-running requests, the
// store's latency is recorded per operation and type, the controllers' work queues and the process are
// there; RBAC lets system:monitoring in and refuses a user without the permission with upstream's 403;
// two servers in one process keep separate series.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, eventually, type TestCluster } from '../controllers/testutil.js';
import { parseExposition, sumOf, has, type Exposition } from '../util/promtext.js';

let tc: TestCluster;
let tokDir: string;
let ca: string;
const NOBODY = 'nobody-token-0123456789';
const MONITOR = 'monitor-token-0123456789';

interface Reply {
  code: number;
  body: string;
  type?: string;
}

function call(base: string, token: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const u = new URL(path, base);
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const rq = request(
      u,
      {
        method,
        ca,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), type: res.headers['content-type'] }));
      },
    );
    rq.on('error', reject);
    rq.end(data);
  });
}

async function scrape(base = tc.s.url, token = tc.s.token): Promise<Exposition> {
  const r = await call(base, token, 'GET', '/metrics');
  assert.equal(r.code, 200, r.body);
  assert.match(r.type ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(r.body);
}

before(async () => {
  tokDir = mkdtempSync(join(tmpdir(), 'k8ts-metrics-'));
  const tokens = join(tokDir, 'tokens.csv');
  writeFileSync(tokens, `${NOBODY},nobody,uid-n\n${MONITOR},prom,uid-p,"system:monitoring"\n`, { mode: 0o600 });
  tc = await startCluster({ tokenAuthFile: tokens });
  ca = readFileSync(tc.s.caPath, 'utf8');
  assert.equal((await call(tc.s.url, tc.s.token, 'POST', '/api/v1/namespaces', { metadata: { name: 'm1' } })).code, 201);
});

after(async () => {
  await tc?.close();
  if (tokDir) rmSync(tokDir, { recursive: true, force: true });
});

const POST_CM = { verb: 'POST', group: '', version: 'v1', resource: 'configmaps', subresource: '', scope: 'namespace', component: 'apiserver', dry_run: '' };

test('requests move apiserver_request_total and the duration histogram by exactly their number', async () => {
  const before = await scrape();
  for (let i = 0; i < 3; i++) {
    const r = await call(tc.s.url, tc.s.token, 'POST', '/api/v1/namespaces/m1/configmaps', { metadata: { name: `c${i}` }, data: { k: 'v' } });
    assert.equal(r.code, 201, r.body);
  }
  assert.equal((await call(tc.s.url, tc.s.token, 'POST', '/api/v1/namespaces/m1/configmaps', { metadata: { name: 'c0' } })).code, 409);
  for (let i = 0; i < 2; i++) assert.equal((await call(tc.s.url, tc.s.token, 'GET', '/api/v1/namespaces/m1/configmaps/missing')).code, 404);
  assert.equal((await call(tc.s.url, tc.s.token, 'GET', '/api/v1/namespaces/m1/configmaps')).code, 200);
  // A path no resource has: counted, but never as a label value of its own.
  assert.equal((await call(tc.s.url, tc.s.token, 'GET', '/api/v1/namespaces/m1/no-such-things-x1')).code, 404);
  const after = await scrape();
  const d = (name: string, m: Record<string, string>) => sumOf(after, name, m) - sumOf(before, name, m);
  assert.equal(d('apiserver_request_total', { ...POST_CM, code: '201' }), 3);
  assert.equal(d('apiserver_request_total', { ...POST_CM, code: '409' }), 1);
  assert.equal(d('apiserver_request_duration_seconds_count', POST_CM), 4);
  assert.equal(d('apiserver_request_total', { verb: 'GET', resource: 'configmaps', scope: 'resource', code: '404' }), 2);
  assert.equal(d('apiserver_request_total', { verb: 'LIST', resource: 'configmaps', scope: 'namespace', code: '200' }), 1);
  assert.ok(!after.samples.some((s) => Object.values(s.labels).includes('no-such-things-x1')), 'an unknown resource is no label value');
  // Upstream's buckets: 0.005 … 60, then +Inf equal to the count.
  const les = after.samples
    .filter((s) => s.name === 'apiserver_request_duration_seconds_bucket' && s.labels.verb === 'POST' && s.labels.resource === 'configmaps')
    .map((s) => s.labels.le);
  assert.deepEqual(les, [
    '0.005',
    '0.025',
    '0.05',
    '0.1',
    '0.2',
    '0.4',
    '0.6',
    '0.8',
    '1',
    '1.25',
    '1.5',
    '2',
    '3',
    '4',
    '5',
    '6',
    '8',
    '10',
    '15',
    '20',
    '30',
    '45',
    '60',
    '+Inf',
  ]);
  assert.equal(
    sumOf(after, 'apiserver_request_duration_seconds_bucket', { ...POST_CM, le: '+Inf' }),
    sumOf(after, 'apiserver_request_duration_seconds_count', POST_CM),
  );
  assert.equal(after.types.get('apiserver_request_total'), 'counter');
  assert.equal(after.types.get('apiserver_request_duration_seconds'), 'histogram');
  // The store: each create is one timed store create of type configmaps (the 409 too: the store refused it).
  assert.equal(d('etcd_request_duration_seconds_count', { operation: 'create', type: 'configmaps' }), 4);
  // The scrape itself is in flight while it runs; nothing else is.
  assert.equal(sumOf(after, 'apiserver_current_inflight_requests', { request_kind: 'readOnly' }), 1);
  assert.equal(sumOf(after, 'apiserver_current_inflight_requests', { request_kind: 'mutating' }), 0);
});

test('a watch is a registered watcher and a long-running request while it lasts', async () => {
  const kind = { group: '', version: 'v1', kind: 'ConfigMap' };
  const lr = { verb: 'WATCH', resource: 'configmaps', scope: 'namespace' };
  const before = await scrape();
  const u = new URL('/api/v1/namespaces/m1/configmaps?watch=1', tc.s.url);
  const rq = request(u, { ca, headers: { authorization: `Bearer ${tc.s.token}` } });
  const opened = new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    rq.on('response', resolve);
    rq.on('error', reject);
  });
  rq.end();
  const res = await opened;
  assert.equal(res.statusCode, 200);
  try {
    await eventually('the watch is counted', async () => {
      const now = await scrape();
      assert.equal(sumOf(now, 'apiserver_registered_watchers', kind) - sumOf(before, 'apiserver_registered_watchers', kind), 1);
      assert.equal(sumOf(now, 'apiserver_longrunning_requests', lr) - sumOf(before, 'apiserver_longrunning_requests', lr), 1);
      return true;
    });
  } finally {
    rq.destroy();
  }
  await eventually('the watch is gone from the gauges', async () => {
    const now = await scrape();
    assert.equal(sumOf(now, 'apiserver_registered_watchers', kind), sumOf(before, 'apiserver_registered_watchers', kind));
    assert.equal(sumOf(now, 'apiserver_longrunning_requests', lr), sumOf(before, 'apiserver_longrunning_requests', lr));
    assert.equal(sumOf(now, 'apiserver_request_total', { ...lr, code: '200' }) - sumOf(before, 'apiserver_request_total', { ...lr, code: '200' }), 1);
    return true;
  });
});

test('the process metrics and the controllers work queues are on the same page', async () => {
  const e = await scrape();
  for (const n of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds'])
    assert.ok(has(e, n), n);
  // The namespace controller handled m1 (and the default namespaces); every leading controller's queue has its series.
  assert.ok(sumOf(e, 'workqueue_adds_total', { name: 'namespace' }) >= 1);
  assert.ok(sumOf(e, 'workqueue_work_duration_seconds_count', { name: 'namespace' }) >= 1);
  for (const name of ['deployment', 'replicaset', 'daemonset', 'statefulset', 'job', 'endpoint_slice', 'garbage_collector_attempt_to_delete', 'scheduler']) {
    assert.ok(has(e, 'workqueue_depth', { name }), name);
  }
  // A Deployment made over HTTPS is one more add on the deployment queue.
  const before = sumOf(e, 'workqueue_adds_total', { name: 'deployment' });
  const r = await call(tc.s.url, tc.s.token, 'POST', '/apis/apps/v1/namespaces/m1/deployments', {
    metadata: { name: 'd1' },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: 'd1' } },
      template: { metadata: { labels: { app: 'd1' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
    },
  });
  assert.equal(r.code, 201, r.body);
  await eventually('the deployment queue took it', async () => sumOf(await scrape(), 'workqueue_adds_total', { name: 'deployment' }) > before);
});

test('/metrics is for system:monitoring (RBAC, a non-resource URL): others and anonymous get upstream 403, a refused token 401', async () => {
  const denied = await call(tc.s.url, NOBODY, 'GET', '/metrics');
  assert.equal(denied.code, 403);
  const st = JSON.parse(denied.body);
  assert.equal(st.reason, 'Forbidden');
  assert.equal(st.message, 'forbidden: User "nobody" cannot get path "/metrics"');
  const ok = await call(tc.s.url, MONITOR, 'GET', '/metrics');
  assert.equal(ok.code, 200);
  assert.ok(parseExposition(ok.body).samples.length > 0);
  assert.equal((await call(tc.s.url, 'not-a-token', 'GET', '/metrics')).code, 401);
  const anon = await call(tc.s.url, '', 'GET', '/metrics');
  assert.equal(anon.code, 403);
  assert.equal(JSON.parse(anon.body).message, 'forbidden: User "system:anonymous" cannot get path "/metrics"');
  assert.equal((await call(tc.s.url, MONITOR, 'POST', '/metrics', {})).code, 403, 'system:monitoring may only get');
  assert.equal((await call(tc.s.url, tc.s.token, 'POST', '/metrics', {})).code, 405, 'the admin may, but /metrics only answers GET');
});

test('two servers in one process keep their own series', async () => {
  const other = await startCluster();
  try {
    const otherCa = readFileSync(other.s.caPath, 'utf8');
    const saved = ca;
    ca = otherCa;
    try {
      assert.equal((await call(other.s.url, other.s.token, 'GET', '/version')).code, 200);
      const e = await scrape(other.s.url, other.s.token);
      assert.equal(sumOf(e, 'apiserver_request_total', { verb: 'GET', code: '200' }) >= 1, true, 'its own request is counted');
      assert.equal(sumOf(e, 'apiserver_request_total', { ...POST_CM, code: '201' }), 0, "the first server's creates are not here");
    } finally {
      ca = saved;
    }
    const mine = await scrape();
    assert.ok(sumOf(mine, 'apiserver_request_total', { ...POST_CM, code: '201' }) >= 3);
  } finally {
    await other.close();
  }
});
