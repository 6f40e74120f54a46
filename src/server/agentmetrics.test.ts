// The agent's /metrics through the API server's node proxy, as Prometheus scrapes a kubelet
// (/api/v1/nodes/NAME/proxy/metrics): a real API server, the agent's real HTTPS endpoint and runtime (empty),
// a Node whose kubelet endpoint is that server; pod starts measured from first sight to Running, once each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type TestCluster } from '../controllers/testutil.js';
import { type TestAgent, joinTestAgent } from './testagent.js';
import { AgentMetrics } from '../agent/metrics.js';
import { Runtime } from '../agent/runtime/runtime.js';
import { parseExposition, sumOf } from '../util/promtext.js';
import { getTextAs } from '../testing/https-call.js';

let tc: TestCluster;
let dir: string;
let agent: TestAgent | undefined;
let metrics: AgentMetrics;
let ca: string;
let sandboxes = 2;
const NODE = 'metrics-n1';

const get = (path: string, token = tc.s.token): Promise<{ code: number; body: string }> => getTextAs(tc.s.url, ca, token, path);

before(async () => {
  tc = await startCluster();
  ca = readFileSync(tc.s.caPath, 'utf8');
  dir = mkdtempSync(join(tmpdir(), 'k8ts-agentmetrics-'));
  const runtime = new Runtime({ stateDir: join(dir, 'runtime'), imagesDir: join(dir, 'images') });
  metrics = new AgentMetrics({
    runningPods: () => sandboxes,
    containers: async () => {
      const by: Record<string, number> = {};
      for (const c of await runtime.list()) by[c.state.status] = (by[c.state.status] ?? 0) + 1;
      return by;
    },
    // The engine's own counting is checked in policy/engine.test.ts against real drops; here, what is exposed.
    policy: { logged: () => ({ ingress: 2, egress: 0, service: 1 }), dropped: async () => ({ ingress: 5, egress: 0 }) },
  });
  // The node joins as an agent does: its own identity, its serving certificate from the cluster CA.
  agent = await joinTestAgent(tc.s, {
    name: NODE,
    dir,
    admin: tc.c,
    deps: { runtime, pod: () => undefined, netnsOf: () => undefined, metrics: () => metrics.expose() },
  });
});

after(async () => {
  agent?.close();
  await tc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the agent metrics answer through the node proxy, with kubelet names and exact values', async () => {
  const uid = 'aaaaaaaa-0000-4000-8000-000000000001';
  metrics.podSeen(uid, 'Pending', false);
  metrics.podSeen(uid, 'Pending', false);
  metrics.podSeen(uid, 'Running', false);
  metrics.podSeen(uid, 'Running', false); // seen again: not a second start
  metrics.podSeen('aaaaaaaa-0000-4000-8000-000000000002', 'Running', false); // running when first seen: no start measured
  sandboxes = 3;
  const r = await get(`/api/v1/nodes/${NODE}/proxy/metrics`);
  assert.equal(r.code, 200, r.body);
  const e = parseExposition(r.body);
  assert.equal(sumOf(e, 'kubelet_running_pods'), 3);
  assert.equal(sumOf(e, 'kubelet_pod_start_duration_seconds_count'), 1);
  assert.equal(e.types.get('kubelet_pod_start_duration_seconds'), 'histogram');
  assert.equal(e.types.get('kubelet_running_containers'), 'gauge');
  assert.ok(e.samples.some((s) => s.name === 'workqueue_depth' && s.labels.name === 'k8ts_agent_pods'));
  assert.ok(e.samples.some((s) => s.name === 'process_cpu_seconds_total'));
  assert.equal(sumOf(e, 'k8ts_networkpolicy_drops_logged_total', { direction: 'ingress' }), 2);
  assert.equal(sumOf(e, 'k8ts_networkpolicy_drops_logged_total', { direction: 'service' }), 1);
  assert.equal(sumOf(e, 'k8ts_networkpolicy_dropped_packets', { direction: 'ingress' }), 5);
  assert.equal(e.types.get('k8ts_networkpolicy_drops_logged_total'), 'counter');
  // The node proxy still forwards only what it lists.
  assert.equal((await get(`/api/v1/nodes/${NODE}/proxy/metricsx`)).code, 404);
  assert.equal((await get(`/api/v1/nodes/${NODE}/proxy/../metrics`)).code, 404);
});
