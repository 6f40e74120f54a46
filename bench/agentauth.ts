// What the agent's webhook-mode authorization costs per request: GETs to a joined agent's endpoint as
// kube-apiserver-kubelet-client, with the decision cached (the anchor: TLS + the handler) and with the cache
// missed (one SubjectAccessReview to the API server before each), and through the API server's node proxy
// with the cache warm — all in the same run on one real control plane.
// Run: npx tsc -p tsconfig.json && node dist/bench/agentauth.js [requests per row, default 300]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../src/controllers/testutil.js';
import { joinTestAgent } from '../src/server/testagent.js';
import { Runtime } from '../src/agent/runtime/runtime.js';
import { fmt, summarize, table } from './lib.js';

const N = Number(process.argv[2] ?? 300);
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function timed(n: number, f: () => Promise<number>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const code = await f();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (code !== 200) throw new Error(`answered ${code}`);
  }
  return ms.sort((a, b) => a - b);
}

function get(agent: Agent, host: string, port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const rq = request({ host, port, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    rq.on('error', reject);
    rq.end();
  });
}

const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-agentauth-'));
const tc = await startCluster();
try {
  const runtime = new Runtime({ stateDir: join(dir, 'runtime'), imagesDir: join(dir, 'images') });
  const a = await joinTestAgent(tc.s, {
    name: 'bench-n1',
    dir,
    admin: tc.c,
    deps: { runtime, pod: () => undefined, netnsOf: () => undefined, queries: { ping: async () => ({ ok: true }) } },
  });
  const data = tc.s.kubeconfigPath.replace(/\/kubeconfig$/, '');
  const ca = readFileSync(tc.s.caPath, 'utf8');
  const kc = new Agent({
    keepAlive: true,
    ca,
    cert: readFileSync(join(data, 'pki/apiserver-kubelet-client.crt')),
    key: readFileSync(join(data, 'pki/apiserver-kubelet-client.key')),
  });
  const api = new URL(tc.s.url);
  const adminAgent = new Agent({ keepAlive: true, ca });
  const direct = () => get(kc, '127.0.0.1', a.streams.port, '/k8ts/ping');
  // Warm-up: connections and the first decision.
  await timed(20, direct);
  const cached = await timed(N, direct);
  // A cache miss costs the agent one SubjectAccessReview round trip: this row makes that same call (the
  // agent's own client, the body the agent sends) before each cached GET.
  const sars = a.auth.sent.accessReviews;
  const uncached = await timed(N, async () => {
    await a.client.postPath('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: 'kube-apiserver-kubelet-client',
        groups: ['system:masters', 'system:authenticated'],
        resourceAttributes: { verb: 'get', version: 'v1', resource: 'nodes', subresource: 'proxy', name: 'bench-n1' },
      },
    });
    return direct();
  });
  if (a.auth.sent.accessReviews !== sars) throw new Error('the cached rows asked the API server');
  const proxied = await timed(N, () =>
    get(adminAgent, api.hostname, Number(api.port), '/api/v1/nodes/bench-n1/proxy/k8ts/ping', { authorization: `Bearer ${tc.s.token}` }),
  );
  const s = (x: number[]) => summarize(x);
  const base = s(cached).p50;
  console.log(
    table([
      ['row', 'p50 ms', 'p99 ms', 'vs anchor (p50)'],
      ['anchor: agent GET, decision cached', fmt(s(cached).p50, 3), fmt(s(cached).p99, 3), '1.00'],
      ['agent GET + one SubjectAccessReview (a cache miss)', fmt(s(uncached).p50, 3), fmt(s(uncached).p99, 3), fmt(s(uncached).p50 / base)],
      ['through the node proxy, decision cached', fmt(s(proxied).p50, 3), fmt(s(proxied).p99, 3), fmt(s(proxied).p50 / base)],
    ]),
  );
  console.log(`requests per row: ${N}; SubjectAccessReviews sent by the agent in the run: ${a.auth.sent.accessReviews}; load: ${load()}`);
  a.close();
  kc.destroy();
  adminAgent.destroy();
} finally {
  await tc.close();
  rmSync(dir, { recursive: true, force: true });
}
