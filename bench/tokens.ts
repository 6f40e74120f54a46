// Service-account tokens on a spawned `k8ts server` (SQLite): TokenRequest latency at a fixed 100/s (plain
// and pod-bound) beside a GET of the same ServiceAccount at the same rate (the anchor), then what
// authenticating a service-account token adds to a request beside the admin token (static, constant-time
// compare): the same GET, interleaved, each token in turn. Prints the load.
//   node dist/bench/tokens.js [--rate 100] [--seconds 10] [--auth-requests 3000]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, startServer, summarize, table } from './lib.js';

const args = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const RATE = arg('rate', 100);
const SECONDS = arg('seconds', 10);
const AUTH_N = arg('auth-requests', 3000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-tokens-'));
const server = await startServer(dir, 'sqlite');
const { url, dataDir } = server;

try {
  const admin = new Client(url, readFileSync(join(dataDir, 'admin.token'), 'utf8').trim(), readFileSync(join(dataDir, 'pki/ca.crt')));
  const SA = '/api/v1/namespaces/default/serviceaccounts/default';
  for (let i = 0; (await admin.call('GET', SA)).code !== 200; i++) {
    if (i > 200) throw new Error('the default ServiceAccount never appeared');
    await sleep(50);
  }
  // A pod to bind tokens to (no nodes: it stays Pending, which is all a binding needs).
  const pod = await admin.call('POST', '/api/v1/namespaces/default/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'bench-holder' },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
  });
  if (pod.code !== 201) throw new Error(`pod: ${pod.text}`);
  const tokenBody = (bound: boolean) => ({
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: bound ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'bench-holder' } } : {},
  });

  /** Open loop: one request every 1/RATE s for SECONDS, whatever the answers' latency. */
  async function atRate(label: string, send: () => Promise<{ code: number; ms: number }>, want: number): Promise<(string | number)[]> {
    const n = RATE * SECONDS;
    const ms: number[] = [];
    const pending: Promise<void>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const due = t0 + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(
        send().then((r) => {
          if (r.code !== want) throw new Error(`${label}: HTTP ${r.code}`);
          ms.push(r.ms);
        }),
      );
    }
    await Promise.all(pending);
    const achieved = n / ((performance.now() - t0) / 1000);
    const s = summarize(ms);
    return [label, s.n, achieved, s.p50, s.p99, s.max];
  }

  // Warm both paths (JIT, the key, the connection pool).
  for (let i = 0; i < 200; i++) {
    await admin.call('POST', `${SA}/token`, tokenBody(i % 2 === 0));
    await admin.call('GET', SA);
  }
  const loadBefore = load();
  const rows: (string | number)[][] = [['case (open loop)', 'n', 'achieved /s', 'p50 ms', 'p99 ms', 'max ms']];
  rows.push(await atRate('anchor: GET the ServiceAccount', () => admin.call('GET', SA), 200));
  rows.push(await atRate('TokenRequest', () => admin.call('POST', `${SA}/token`, tokenBody(false)), 201));
  rows.push(await atRate('TokenRequest bound to a pod', () => admin.call('POST', `${SA}/token`, tokenBody(true)), 201));
  const anchorP99 = rows[1][4] as number;
  console.log(`TokenRequest at ${RATE}/s for ${SECONDS} s (goal: p99 <= 5 ms)`);
  console.log(table(rows.map((r, i) => (i === 0 ? [...r, 'p99 / anchor'] : [...r, (r[4] as number) / anchorP99]))));

  // Authentication: the same GET with three credentials, interleaved so load drifts hit all alike.
  // RBAC is enforced: the service account may read itself, and nothing else, so the same GET is allowed to all three.
  const role = await admin.call('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'bench-read-sa' },
    rules: [{ apiGroups: [''], resources: ['serviceaccounts'], resourceNames: ['default'], verbs: ['get'] }],
  });
  const binding = await admin.call('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'bench-read-sa' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'bench-read-sa' },
    subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'default' }],
  });
  if (role.code !== 201 || binding.code !== 201) throw new Error(`rbac: ${role.text} ${binding.text}`);
  const mint = async (bound: boolean) => JSON.parse((await admin.call('POST', `${SA}/token`, tokenBody(bound))).text).status.token as string;
  const ca = readFileSync(join(dataDir, 'pki/ca.crt'));
  const clients: [string, Client][] = [
    ['anchor: admin token (static)', admin],
    ['service-account token', new Client(url, await mint(false), ca)],
    ['pod-bound service-account token', new Client(url, await mint(true), ca)],
  ];
  const times = clients.map(() => [] as number[]);
  for (let round = 0; round < 100; round++) for (const [, c] of clients) await c.call('GET', SA);
  for (let i = 0; i < AUTH_N; i++) {
    for (let k = 0; k < clients.length; k++) {
      const r = await clients[k][1].call('GET', SA);
      if (r.code !== 200) throw new Error(`${clients[k][0]}: HTTP ${r.code}`);
      times[k].push(r.ms);
    }
  }
  const a = summarize(times[0]);
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const auth: (string | number)[][] = [
    ['credential (GET the ServiceAccount, sequential)', 'n', 'mean ms', 'p50 ms', 'p99 ms', 'added p50 ms', 'added mean ms'],
  ];
  clients.forEach(([label], k) => {
    const s = summarize(times[k]);
    auth.push([label, s.n, mean(times[k]), s.p50, s.p99, s.p50 - a.p50, mean(times[k]) - mean(times[0])]);
  });
  console.log(`\nToken authentication, ${AUTH_N} requests per credential interleaved (goal: adds <= 0.5 ms)`);
  console.log(table(auth));
  console.log(`\nload: ${loadBefore} before, ${load()} after, on ${cpus().length} CPUs`);
  for (const [, c] of clients) c.close();
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
