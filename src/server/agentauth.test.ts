// The agent's endpoint and the API server's calls to it, end to end against a real control plane: nodes
// join with bootstrap tokens, get serving certificates from the cluster CA through kubelet-serving CSRs
// (approved only for the node's own addresses), the API server verifies them and calls as
// kube-apiserver-kubelet-client, and the agent lets in only what TokenReview + SubjectAccessReview allow,
// with the kubelet's answers. Hostile callers: no credential, a foreign CA, a user without nodes/proxy,
// another node; hostile agents: self-signed, or presenting another address's certificate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type TestCluster } from '../controllers/testutil.js';
import { type TestAgent, joinTestAgent } from './testagent.js';
import { StreamServer, type StreamServerDeps } from '../agent/streamserver.js';
import { AUTHORIZED_TTL_MS, CallerAuth, UNAUTHORIZED_TTL_MS, callerAttributes } from '../agent/callerauth.js';
import { AgentMetrics } from '../agent/metrics.js';
import { Runtime } from '../agent/runtime/runtime.js';
import { makeNodeCsr, requestServingCredentials } from '../agent/identity.js';
import { CLUSTERROLEBINDINGS, CLUSTERROLES, CSRS, NODES } from '../api/kinds.js';
import type { CertificateSigningRequest } from '../api/types.js';
import { RestClient } from '../client/rest.js';
import { getTextAs } from '../testing/https-call.js';
import { issue, makeCa, writeKeyAndCert } from '../api/certificates/issue.js';
import type { TokenReview } from 'kubernetes-types/authentication/v1.js';

let tc: TestCluster;
let dir: string;
let ca: string;
let deps: StreamServerDeps;
const agents: TestAgent[] = [];
const extra: StreamServer[] = [];
let n1: TestAgent;
let n2: TestAgent;
const DEV = 'dev-token-agentauth-0123456789';
const OPS = 'ops-token-agentauth-0123456789';

interface Reply {
  code: number;
  body: string;
  type?: string;
}

/** A request straight to an agent's endpoint, verifying its certificate against the cluster CA. */
function agentCall(port: number, path: string, o: { token?: string; cert?: string | Buffer; key?: string | Buffer; method?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const rq = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: o.method ?? 'GET',
        ca,
        cert: o.cert,
        key: o.key,
        agent: false,
        headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), type: res.headers['content-type'] }));
      },
    );
    rq.on('error', reject);
    rq.end();
  });
}

/** A request to the API server as the admin. */
const apiCall = (path: string, token = tc.s.token): Promise<Reply> => getTextAs(tc.s.url, ca, token, path);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'k8ts-agentauth-'));
  const tokens = join(dir, 'tokens.csv');
  writeFileSync(tokens, `${DEV},dev,uid-dev\n${OPS},ops,uid-ops,"operators"\n`, { mode: 0o600 });
  tc = await startCluster({ tokenAuthFile: tokens });
  ca = readFileSync(tc.s.caPath, 'utf8');
  const runtime = new Runtime({ stateDir: join(dir, 'runtime'), imagesDir: join(dir, 'images') });
  const metrics = new AgentMetrics({ runningPods: () => 1, containers: async () => ({}) });
  deps = { runtime, pod: () => undefined, netnsOf: () => undefined, metrics: () => metrics.expose(), queries: { whoami: async () => ({ node: 'answered' }) } };
  n1 = await joinTestAgent(tc.s, { name: 'aa-n1', dir, admin: tc.c, deps });
  n2 = await joinTestAgent(tc.s, { name: 'aa-n2', dir, admin: tc.c, deps });
  agents.push(n1, n2);
  // ops may reach nodes' proxy and metrics (what system:kubelet-api-admin grants, narrowed); dev nothing.
  await tc.c.create(CLUSTERROLES, undefined, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'aa-node-proxy' },
    rules: [{ apiGroups: [''], resources: ['nodes/proxy', 'nodes/metrics'], verbs: ['get'] }],
  });
  await tc.c.create(CLUSTERROLEBINDINGS, undefined, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'aa-node-proxy' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'aa-node-proxy' },
    subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'operators' }],
  });
});

after(async () => {
  for (const a of agents) a.close();
  for (const s of extra) s.close();
  await tc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the serving certificate is from the cluster CA for the node's own address, asked for by the node and approved as its own", async () => {
  const cert = new X509Certificate(n1.serving.cert);
  assert.ok(cert.verify(new X509Certificate(ca).publicKey), 'signed by the cluster CA');
  assert.equal(cert.subjectAltName, 'IP Address:127.0.0.1');
  assert.match(cert.subject, /CN=system:node:aa-n1/);
  assert.ok(cert.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), 'server auth');
  assert.ok(!cert.keyUsage?.includes('1.3.6.1.5.5.7.3.2'), 'not client auth');
  const csr = (await tc.c.list(CSRS)).items.find((c) => c.spec.signerName === 'kubernetes.io/kubelet-serving' && c.spec.username === 'system:node:aa-n1');
  assert.ok(csr, 'a kubelet-serving CSR made by the node');
  assert.ok(csr!.status?.conditions?.some((c) => c.type === 'Approved' && c.reason === 'AutoApproved'));
});

test('the API server reaches the agent over verified TLS as kube-apiserver-kubelet-client; the decision is cached', async () => {
  const before = n1.auth.sent.accessReviews;
  const r = await apiCall('/api/v1/nodes/aa-n1/proxy/metrics');
  assert.equal(r.code, 200, r.body);
  assert.match(r.body, /kubelet_running_pods 1/);
  assert.equal(n1.auth.sent.accessReviews, before + 1, "one SubjectAccessReview for the API server's identity");
  assert.equal((await apiCall('/api/v1/nodes/aa-n1/proxy/k8ts/whoami')).code, 200);
  assert.equal((await apiCall('/api/v1/nodes/aa-n1/proxy/metrics')).code, 200);
  // metrics then proxy (another subresource), then metrics again from the cache.
  assert.equal(n1.auth.sent.accessReviews, before + 2);
});

test('no credential, or a certificate from another CA: 401 Unauthorized, as the kubelet answers', async () => {
  const none = await agentCall(n1.streams.port, '/metrics');
  assert.equal(none.code, 401);
  assert.equal(none.body, 'Unauthorized');
  // A foreign CA's certificate naming the API server's identity (and system:masters) proves nothing.
  const f = join(dir, 'foreign');
  execFileSync('mkdir', ['-p', f]);
  const foreignCa = await makeCa('foreign-ca', 1);
  const client = await issue(foreignCa, { subject: { cn: 'kube-apiserver-kubelet-client', o: ['system:masters'] }, usage: 'client', days: 1 });
  writeKeyAndCert(client, join(f, 'c.key'), join(f, 'c.crt'));
  const foreign = await agentCall(n1.streams.port, '/exec/default/p/c?command=id', {
    cert: readFileSync(join(f, 'c.crt')),
    key: readFileSync(join(f, 'c.key')),
    method: 'POST',
  });
  assert.equal(foreign.code, 401);
  assert.equal(foreign.body, 'Unauthorized');
  const badToken = await agentCall(n1.streams.port, '/metrics', { token: 'not-a-token-anyone-issued' });
  assert.equal(badToken.code, 401);
});

test("a valid user without nodes/proxy is refused 403 in the kubelet's words; one with it gets in (token checked by TokenReview)", async () => {
  const dev = await agentCall(n1.streams.port, '/k8ts/whoami', { token: DEV });
  assert.equal(dev.code, 403);
  assert.equal(dev.body, 'Forbidden (user=dev, verb=get, resource=nodes, subresource=proxy)');
  assert.match(dev.type ?? '', /^text\/plain/);
  const devMetrics = await agentCall(n1.streams.port, '/metrics', { token: DEV });
  assert.equal(devMetrics.body, 'Forbidden (user=dev, verb=get, resource=nodes, subresource=metrics)');
  const devExec = await agentCall(n1.streams.port, '/exec/default/p/c?command=id', { token: DEV, method: 'POST' });
  assert.equal(devExec.body, 'Forbidden (user=dev, verb=create, resource=nodes, subresource=proxy)');
  const ops = await agentCall(n1.streams.port, '/k8ts/whoami', { token: OPS });
  assert.equal(ops.code, 200, ops.body);
  assert.deepEqual(JSON.parse(ops.body), { node: 'answered' });
  // get only: creating (exec) is still refused for ops.
  assert.equal((await agentCall(n1.streams.port, '/exec/default/p/c?command=id', { token: OPS, method: 'POST' })).code, 403);
  // Through the API server, dev is refused there already (nodes/proxy on the API), before any agent is asked.
  const viaApi = await apiCall('/api/v1/nodes/aa-n1/proxy/metrics', DEV);
  assert.equal(viaApi.code, 403);
});

test("a node cannot use another node's agent (nor its own: nodes are not granted nodes/proxy)", async () => {
  const r = await agentCall(n2.streams.port, '/metrics', { cert: n1.credentials.cert, key: n1.credentials.key });
  assert.equal(r.code, 403);
  assert.equal(r.body, 'Forbidden (user=system:node:aa-n1, verb=get, resource=nodes, subresource=metrics)');
  const exec = await agentCall(n2.streams.port, '/exec/default/p/c?command=id', { cert: n1.credentials.cert, key: n1.credentials.key, method: 'POST' });
  assert.equal(exec.body, 'Forbidden (user=system:node:aa-n1, verb=create, resource=nodes, subresource=proxy)');
  // Nor through the API server (the Node authorizer lets nodes read Node objects, not their subresources).
  const viaApi = await new Promise<number>((resolve, reject) => {
    const rq = request(
      new URL('/api/v1/nodes/aa-n2/proxy/metrics', tc.s.url),
      { ca, cert: n1.credentials.cert, key: n1.credentials.key, agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    rq.on('error', reject);
    rq.end();
  });
  assert.equal(viaApi, 403);
  // A node's serving certificate is no client certificate (server auth only): unauthenticated.
  const serving = await agentCall(n2.streams.port, '/metrics', { cert: n1.serving.cert, key: readFileSync(join(dir, 'aa-n1', 'pki', 'node-serving.key')) });
  assert.equal(serving.code, 401);
});

test("serving CSRs for addresses or names that are not the requesting node's are Denied by the approver; malformed ones are 422", async () => {
  const o = { server: tc.s.url, ca, nodeName: 'aa-n1', dataDir: join(dir, 'aa-n1-bad'), log: () => {}, timeoutMs: 20_000 };
  await assert.rejects(
    requestServingCredentials(n1.client, { ...o, names: { ips: ['10.9.9.9'], dnsNames: [] } }),
    /Denied: NodeServingCertificateRefused subjectAltNames \["10\.9\.9\.9"\] are not addresses of node "aa-n1"/,
  );
  await assert.rejects(
    requestServingCredentials(n1.client, { ...o, names: { ips: ['127.0.0.1'], dnsNames: ['kubernetes.default.svc'] } }),
    /Denied: .*\["kubernetes\.default\.svc"\] are not addresses/,
  );
  // n1 asking for n2's certificate, with n2's own address.
  await assert.rejects(
    requestServingCredentials(n1.client, { ...o, nodeName: 'aa-n2', names: { ips: ['127.0.0.1'], dnsNames: [] } }),
    /Denied: .*names system:node:aa-n2 but was made by "system:node:aa-n1"/,
  );
  // No SAN at all, or client usages on the serving signer: refused at the door.
  const { csrPem } = await makeNodeCsr('aa-n1');
  const bad = (usages: string[]) =>
    ({
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { generateName: 'aa-bad-' },
      spec: { request: Buffer.from(csrPem).toString('base64'), signerName: 'kubernetes.io/kubelet-serving', usages },
    }) as CertificateSigningRequest;
  await assert.rejects(n1.client.create(CSRS, undefined, bad(['digital signature', 'server auth'])), /DNS or IP subjectAltName is required/);
  const { csrPem: withSan } = await makeNodeCsr('aa-n1', { ips: ['127.0.0.1'], dnsNames: [] });
  await assert.rejects(
    n1.client.create(CSRS, undefined, {
      ...bad(['digital signature', 'client auth']),
      spec: { ...bad([]).spec, request: Buffer.from(withSan).toString('base64'), usages: ['digital signature', 'client auth'] },
    }),
    /usages must be \["digital signature", "server auth"\]/,
  );
});

test('the API server refuses an agent on a self-signed certificate or presenting a certificate for another address', async () => {
  // Self-signed (what an agent serves until its certificate is issued).
  const selfSigned = new StreamServer(deps, new CallerAuth({ nodeName: 'aa-self', post: (p, b) => tc.c.postPath(p, b) }));
  extra.push(selfSigned);
  execFileSync('mkdir', ['-p', join(dir, 'self')]);
  await selfSigned.start(join(dir, 'self'), '127.0.0.1', { ca }, 0);
  // Another address: a genuine serving certificate, for 127.0.0.2, served at 127.0.0.1.
  const n3 = await joinTestAgent(tc.s, { name: 'aa-n3', dir, admin: tc.c, deps, ip: '127.0.0.2' });
  agents.push(n3);
  const impostor = new StreamServer(deps, new CallerAuth({ nodeName: 'aa-imp', post: (p, b) => tc.c.postPath(p, b) }));
  extra.push(impostor);
  await impostor.start(
    join(dir, 'imp'),
    '127.0.0.1',
    { ca, cert: n3.serving.cert, key: readFileSync(join(dir, 'aa-n3', 'pki', 'node-serving.key'), 'utf8') },
    0,
  );
  for (const [name, port] of [
    ['aa-self', selfSigned.port],
    ['aa-imp', impostor.port],
  ] as const) {
    await tc.c.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name } });
    await tc.c.patch(
      NODES,
      undefined,
      name,
      'merge',
      { status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: port } } } },
      'status',
    );
  }
  const s = await apiCall('/api/v1/nodes/aa-self/proxy/metrics');
  assert.equal(s.code, 503, s.body);
  assert.match(JSON.parse(s.body).message, /cannot reach the agent of node "aa-self" at 127\.0\.0\.1:\d+: self[- ]signed certificate/);
  const i = await apiCall('/api/v1/nodes/aa-imp/proxy/metrics');
  assert.equal(i.code, 503, i.body);
  assert.match(JSON.parse(i.body).message, /Hostname\/IP does not match certificate's altnames: IP: 127\.0\.0\.1 is not in the cert's list: 127\.0\.0\.2/);
  // The genuine one at its own address works.
  assert.equal((await apiCall('/api/v1/nodes/aa-n3/proxy/metrics')).code, 200);
});

test("TokenReview answers as kube-apiserver: the token's user, unauthenticated for a bad one, 400 without a token, 403 without the right", async () => {
  const c = tc.c;
  const review = (token: string, audiences?: string[]) =>
    c.postPath<TokenReview>('/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, ...(audiences ? { audiences } : {}) },
    });
  const ok = await review(OPS);
  assert.equal(ok.status!.authenticated, true);
  assert.deepEqual(ok.status!.user, { username: 'ops', uid: 'uid-ops', groups: ['operators', 'system:authenticated'] });
  const bad = await review('nope');
  assert.equal(bad.status!.authenticated, undefined);
  assert.equal(bad.status!.error, 'invalid bearer token');
  const other = await review(OPS, ['https://elsewhere.example']);
  assert.equal(other.status!.authenticated, undefined);
  await assert.rejects(review(''), /token is required for TokenReview in authentication/);
  const dev = new RestClient({ server: tc.s.url, ca, token: DEV });
  try {
    await assert.rejects(
      dev.postPath('/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: OPS } }),
      /cannot create resource "tokenreviews"/,
    );
  } finally {
    dev.close();
  }
});

test("the kubelet's attribute mapping and cache lifetimes: allowed 5 min, denied 30 s, against the real API server", async () => {
  assert.deepEqual(callerAttributes('GET', '/stats/summary'), { verb: 'get', subresource: 'stats' });
  assert.deepEqual(callerAttributes('GET', '/metrics/resource'), { verb: 'get', subresource: 'metrics' });
  assert.deepEqual(callerAttributes('GET', '/metricsx'), { verb: 'get', subresource: 'proxy' });
  assert.deepEqual(callerAttributes('GET', '/logs/'), { verb: 'get', subresource: 'log' });
  assert.deepEqual(callerAttributes('GET', '/containerLogs/default/p/c'), { verb: 'get', subresource: 'proxy' });
  assert.deepEqual(callerAttributes('POST', '/exec/default/p/c'), { verb: 'create', subresource: 'proxy' });
  assert.deepEqual(callerAttributes('DELETE', '/pods'), { verb: 'delete', subresource: 'proxy' });
  assert.deepEqual(callerAttributes('BREW', '/spec/'), { verb: '', subresource: 'spec' });
  let now = 1_000_000;
  let posts = 0;
  const auth = new CallerAuth({
    nodeName: 'aa-n1',
    now: () => now,
    post: (p, b) => {
      posts++;
      return tc.c.postPath(p, b);
    },
  });
  const ops = { name: 'ops', groups: ['operators', 'system:authenticated'] };
  const dev = { name: 'dev', groups: ['system:authenticated'] };
  const get = { verb: 'get', subresource: 'proxy' };
  assert.equal(await auth.authorize(ops, get), true);
  assert.equal(await auth.authorize(dev, get), false);
  assert.equal(posts, 2);
  now += UNAUTHORIZED_TTL_MS - 1;
  await auth.authorize(ops, get);
  await auth.authorize(dev, get);
  assert.equal(posts, 2, 'both cached');
  now += 2;
  assert.equal(await auth.authorize(dev, get), false);
  assert.equal(posts, 3, 'the denial is asked again after 30 s');
  await auth.authorize(ops, get);
  assert.equal(posts, 3, 'the allowance still cached');
  now += AUTHORIZED_TTL_MS;
  await auth.authorize(ops, get);
  assert.equal(posts, 4, 'asked again after 5 min');
});
