// Anonymous requests with the real kubectl, as kube-apiserver answers them (--anonymous-auth, default on):
// a kubeconfig with no user reads /version and the health checks (system:public-info-viewer), and gets
// upstream's 403 for discovery and pods; a refused token stays 401 "You must be logged in";
// --anonymous-auth=false makes every credential-less request a 401.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, kubectlBinary, type TestServer } from './harness.js';

const skip = kubectlBinary('1.32') ? false : 'kubectl.1.32 is not on this machine (the pinned binaries sit beside the kubectl dispatcher)';

/**
 * A kubeconfig naming the cluster and its CA and no credential. kubectl cannot send a request with no
 * Authorization over TLS: for a user with no token, certificate or plugin it prompts for a basic-auth
 * name (client-go's prompting loader), so the user here has only a name. A Basic header is no credential
 * to kube-apiserver (basic auth is gone since 1.19) nor to k8ts: the request is anonymous.
 */
function anonymousKubeconfig(s: TestServer): string {
  return s.file(
    'anon.kubeconfig',
    `apiVersion: v1
kind: Config
clusters:
- name: k8ts
  cluster:
    server: ${s.url}
    certificate-authority: ${join(s.dataDir, 'pki', 'ca.crt')}
users:
- name: nobody
  user:
    username: nobody
contexts:
- name: anon
  context: {cluster: k8ts, user: nobody}
current-context: anon
`,
  );
}

/** One HTTPS request with no credential (or the given headers); the status and body. */
function raw(s: TestServer, method: string, path: string, headers: Record<string, string> = {}): Promise<{ code: number; body: string }> {
  const u = new URL(path, s.url);
  const ca = readFileSync(join(s.dataDir, 'pki', 'ca.crt'));
  return new Promise((resolve, reject) => {
    const rq = request({ host: u.hostname, port: u.port, path: u.pathname, method, ca, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
    rq.on('error', reject);
    rq.end();
  });
}

describe('anonymous requests (--anonymous-auth default)', { skip }, () => {
  let s: TestServer;
  let anon: Record<string, string>;
  const k = (args: string[]) => s.kubectl(args, { env: anon });

  before(async () => {
    s = await startServer();
    anon = { KUBECONFIG: anonymousKubeconfig(s) };
  });

  after(async () => {
    await s?.stop();
  });

  test('kubectl with no user reads /version and the health checks', async () => {
    const v = await k(['get', '--raw', '/version']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(JSON.parse(v.stdout).gitVersion, /^v1\./);
    for (const p of ['/healthz', '/livez', '/readyz', '/version/']) {
      const r = await k(['get', '--raw', p]);
      assert.equal(r.code, 0, `${p}: ${r.stderr}`);
    }
    // The individual checks are not public: system:public-info-viewer names the paths exactly, as upstream's.
    const check = await k(['get', '--raw', '/readyz/ping']);
    assert.notEqual(check.code, 0);
    assert.match(check.stderr, /Error from server \(Forbidden\): forbidden: User "system:anonymous" cannot get path "\/readyz\/ping"/);
  });

  test("kubectl with no user: discovery and pods are upstream's 403, whoami too", async () => {
    const api = await k(['get', '--raw', '/api']);
    assert.notEqual(api.code, 0);
    assert.match(api.stderr, /Error from server \(Forbidden\): forbidden: User "system:anonymous" cannot get path "\/api"/);
    const listed = await k(['get', '--raw', '/api/v1/namespaces/default/pods']);
    assert.notEqual(listed.code, 0);
    assert.match(
      listed.stderr,
      /Error from server \(Forbidden\): pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default"/,
    );
    // `get pods` needs discovery first, which is for system:authenticated only (upstream since 1.14): kubectl's
    // discovery client words that 403 "unknown", as it does against kube-apiserver (the same body and headers).
    const pods = await k(['get', 'pods']);
    assert.notEqual(pods.code, 0);
    assert.match(pods.stderr, /couldn't get current server API group list: unknown/);
    assert.match(pods.stderr, /Error from server \(Forbidden\): unknown/);
    // system:basic-user (SelfSubjectReview) is for system:authenticated only too.
    const who = await k(['auth', 'whoami']);
    assert.notEqual(who.code, 0);
    assert.match(who.stderr, /the selfsubjectreviews API is not enabled in the cluster or you do not have permission to call it/);
    const ssr = await raw(s, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews');
    assert.equal(ssr.code, 403);
    assert.equal(
      JSON.parse(ssr.body).message,
      'selfsubjectreviews.authentication.k8s.io is forbidden: User "system:anonymous" cannot create resource "selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope',
    );
  });

  test('a token offered and refused is 401, never anonymous', async () => {
    const tokenOnly = s.file('bad.kubeconfig', readFileSync(anon.KUBECONFIG, 'utf8').replace('username: nobody', 'token: not-a-token'));
    const bad = await s.kubectl(['get', 'pods'], { env: { KUBECONFIG: tokenOnly } });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /error: You must be logged in to the server/);
    const v = await s.kubectl(['get', '--raw', '/version'], { env: { KUBECONFIG: tokenOnly } });
    assert.notEqual(v.code, 0);
    assert.match(v.stderr, /You must be logged in to the server/);
    const r = await raw(s, 'GET', '/healthz', { authorization: 'Bearer not-a-token' });
    assert.equal(r.code, 401);
    assert.deepEqual(JSON.parse(r.body), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
  });

  test('the anonymous user is held to GET: other verbs on the public paths are 403 as upstream', async () => {
    const post = await raw(s, 'POST', '/healthz');
    assert.equal(post.code, 403);
    assert.equal(JSON.parse(post.body).message, 'forbidden: User "system:anonymous" cannot post path "/healthz"');
    const metrics = await raw(s, 'GET', '/metrics');
    assert.equal(metrics.code, 403);
    assert.equal(JSON.parse(metrics.body).message, 'forbidden: User "system:anonymous" cannot get path "/metrics"');
    // A connection upgrade (exec over WebSocket) is authorized the same way: 403, not 401.
    const exec = await raw(s, 'GET', '/api/v1/namespaces/default/pods/x/exec', {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-protocol': 'v5.channel.k8s.io',
    });
    assert.equal(exec.code, 403);
    assert.equal(
      JSON.parse(exec.body).message,
      'pods "x" is forbidden: User "system:anonymous" cannot get resource "pods/exec" in API group "" in the namespace "default"',
    );
    // Impersonating someone else is a verb anonymous does not hold either.
    const imp = await raw(s, 'GET', '/api/v1/namespaces', { 'impersonate-user': 'admin' });
    assert.equal(imp.code, 403);
    assert.match(JSON.parse(imp.body).message, /User "system:anonymous" cannot impersonate resource "users"/);
  });
});

describe('--anonymous-auth=false', { skip }, () => {
  let s: TestServer;

  before(async () => {
    s = await startServer({ extraArgs: ['--anonymous-auth=false'] });
  });

  after(async () => {
    await s?.stop();
  });

  test('every credential-less request is a 401, the health checks and /version too', async () => {
    const v = await s.kubectl(['get', '--raw', '/version'], { env: { KUBECONFIG: anonymousKubeconfig(s) } });
    assert.notEqual(v.code, 0);
    assert.match(v.stderr, /error: You must be logged in to the server \(Unauthorized\)/);
    for (const p of ['/healthz', '/readyz', '/livez', '/version', '/api/v1/pods']) assert.equal((await raw(s, 'GET', p)).code, 401, p);
    // The admin still reads everything.
    const ok = await s.kubectl(['get', '--raw', '/healthz']);
    assert.equal(ok.code, 0, ok.stderr);
  });
});
