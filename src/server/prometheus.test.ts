// A real Prometheus (Debian's prometheus, started here) scrapes the API server's /metrics and every agent's
// /api/v1/nodes/NAME/proxy/metrics the way upstream's example configuration does (the node-proxy path per node;
// Debian's build has no kubernetes_sd, so the nodes are listed), all with a bearer token file and the cluster CA. Every target must be up and the named series present, as Prometheus's
// own HTTP API reports them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type TestCluster } from '../controllers/testutil.js';
import { type TestAgent, joinTestAgent } from './testagent.js';
import { AgentMetrics } from '../agent/metrics.js';
import { Runtime } from '../agent/runtime/runtime.js';
import { eventually } from '../testing/eventually.js';

const PROMETHEUS = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim();
const missing = PROMETHEUS ? false : 'prometheus not installed (Debian package prometheus)';
const NODES_UNDER_TEST = [`prom-${process.pid}-a`, `prom-${process.pid}-b`];
const SERIES = [
  'apiserver_request_total',
  'apiserver_request_duration_seconds_bucket',
  'apiserver_current_inflight_requests',
  'etcd_request_duration_seconds_bucket',
  'workqueue_depth',
  'kubelet_running_pods',
  'kubelet_pod_start_duration_seconds_bucket',
  'process_cpu_seconds_total',
];

let tc: TestCluster;
let dir: string;
let prom: ChildProcess | undefined;
let promLog = '';
let promUrl = '';
const agents: TestAgent[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A Prometheus HTTP API answer's `data`, once its status is success; each caller names the shape it reads. */
async function api(path: string): Promise<unknown> {
  const r = await fetch(new URL(path, promUrl));
  const body = (await r.json()) as { status: string; data: unknown; error?: string };
  assert.equal(body.status, 'success', body.error);
  return body.data;
}

before(async () => {
  if (missing) {
    if (process.env.K8TS_CI === '1') throw new Error(`in CI the Prometheus test may not skip: ${missing}`);
    return;
  }
  tc = await startCluster();
  dir = mkdtempSync(join(tmpdir(), 'k8ts-prometheus-'));
  for (const name of NODES_UNDER_TEST) {
    const runtime = new Runtime({ stateDir: join(dir, name, 'runtime'), imagesDir: join(dir, name, 'images') });
    const metrics = new AgentMetrics({ runningPods: () => 0, containers: async () => ({}) });
    agents.push(
      await joinTestAgent(tc.s, { name, dir, admin: tc.c, deps: { runtime, pod: () => undefined, netnsOf: () => undefined, metrics: () => metrics.expose() } }),
    );
  }
  writeFileSync(join(dir, 'token'), tc.s.token);
  const host = new URL(tc.s.url).host;
  const auth = { authorization: { credentials_file: join(dir, 'token') }, tls_config: { ca_file: tc.s.caPath } };
  // JSON is YAML: the configuration is written as data, never as spliced text.
  writeFileSync(
    join(dir, 'prometheus.yml'),
    JSON.stringify(
      {
        global: { scrape_interval: '2s', scrape_timeout: '2s' },
        scrape_configs: [
          { job_name: 'apiserver', scheme: 'https', ...auth, static_configs: [{ targets: [host] }] },
          // Debian builds Prometheus without kubernetes_sd: the nodes are listed here, one target each, with the
          // node-proxy path upstream's example relabelling makes of __meta_kubernetes_node_name.
          {
            job_name: 'nodes',
            scheme: 'https',
            ...auth,
            static_configs: NODES_UNDER_TEST.map((node) => ({ targets: [host], labels: { node, __metrics_path__: `/api/v1/nodes/${node}/proxy/metrics` } })),
          },
        ],
      },
      null,
      2,
    ),
  );
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prom = spawn(
    PROMETHEUS,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prom.stderr!.on('data', (b: Buffer) => (promLog = (promLog + b.toString()).slice(-8000)));
});

after(async () => {
  if (prom && prom.exitCode === null && prom.signalCode === null) {
    const exited = new Promise((r) => prom!.once('exit', r));
    prom.kill('SIGTERM');
    const t = setTimeout(() => prom!.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
  for (const s of agents) s.close();
  await tc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a real Prometheus scrapes the API server and every agent through the node proxy: all targets up, the named series there', { skip: missing }, async () => {
  // Every target discovered and up: the API server by address, each node through kubernetes_sd and the node proxy.
  const targets = await eventually(
    'every Prometheus target up',
    async () => {
      if (prom!.exitCode !== null) throw new Error(`prometheus exited ${prom!.exitCode}`);
      const d = (await api('/api/v1/targets?state=active').catch(() => undefined)) as
        | { activeTargets: { labels: Record<string, string>; health: string; lastError: string; scrapeUrl: string }[] }
        | undefined;
      const t = d?.activeTargets ?? [];
      return t.length === 1 + NODES_UNDER_TEST.length && t.every((x) => x.health === 'up') && t;
    },
    60_000,
  ).catch((e) => {
    throw new Error(`${e.message}\nprometheus log:\n${promLog}`);
  });
  const urls = targets.map((t) => t.scrapeUrl).sort();
  for (const n of NODES_UNDER_TEST) assert.ok(urls.includes(`${tc.s.url}/api/v1/nodes/${n}/proxy/metrics`), urls.join('\n'));
  // up == 1 for every target, as PromQL sees it.
  const up = (await api('/api/v1/query?query=up')) as { result: { metric: Record<string, string>; value: [number, string] }[] };
  assert.equal(up.result.length, 1 + NODES_UNDER_TEST.length);
  assert.ok(
    up.result.every((r) => r.value[1] === '1'),
    JSON.stringify(up.result),
  );
  for (const name of SERIES) {
    const d = await eventually(
      `series ${name}`,
      async () => {
        const r = (await api(`/api/v1/query?query=${encodeURIComponent(`count(${name})`)}`)) as { result: { value: [number, string] }[] };
        return r.result.length > 0 && Number(r.result[0].value[1]) > 0 && r;
      },
      15_000,
    );
    assert.ok(d);
  }
  // The agent series come from each node, labelled by the node it was scraped through.
  const pods = (await api(`/api/v1/query?query=${encodeURIComponent('kubelet_running_pods')}`)) as { result: { metric: Record<string, string> }[] };
  assert.deepEqual(pods.result.map((r) => r.metric.node).sort(), [...NODES_UNDER_TEST].sort());
  // The API server counted Prometheus's own scrapes of /metrics (a non-resource GET answered 200).
  await eventually(
    "Prometheus's scrapes counted by the API server",
    async () =>
      ((await api(`/api/v1/query?query=${encodeURIComponent('apiserver_request_total{verb="GET",code="200",resource=""}')}`)) as { result: unknown[] }).result
        .length > 0,
    15_000,
  );
});
