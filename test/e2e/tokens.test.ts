// Service-account tokens with the real kubectl against a real k8ts server: `kubectl create token` (1.27,
// 1.32, 1.33) with --duration, --audience and a pod binding, the token used by kubectl and by curl with the
// cluster CA from the host (the in-pod wget is the agent's projected volume, on branch pod-inside), the
// token dead once its pod is gone, issuer discovery read anonymously.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, kubectlBinary, type TestServer } from './harness.js';
import { eventually } from '../../src/testing/eventually.js';
import type { Pod, PodList } from 'kubernetes-types/core/v1.js';

const run = promisify(execFile);
const skip = kubectlBinary('1.32') ? false : 'kubectl.1.32 is not on this machine (the pinned binaries sit beside the kubectl dispatcher)';

let s: TestServer;
let caPath: string;

async function ok(args: string[], version = '1.32'): Promise<string> {
  const r = await s.kubectl(args, { version });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The claims of a service-account token, as far as these tests read them. */
interface TokenClaims {
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  'kubernetes.io': { pod?: { name: string } };
}

function claims(token: string): TokenClaims {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

/** curl from the host with the token and the cluster CA, as a pod would with its mounted files. */
async function curl(path: string, token?: string): Promise<{ code: number; body: string }> {
  const args = ['-sS', '--max-time', '10', '--cacert', caPath, '-o', '-', '-w', '\n%{http_code}', `${s.url}${path}`];
  if (token) args.push('-H', `Authorization: Bearer ${token}`);
  const { stdout } = await run('curl', args);
  const nl = stdout.lastIndexOf('\n');
  return { code: Number(stdout.slice(nl + 1)), body: stdout.slice(0, nl) };
}

describe('kubectl create token against k8ts server', { skip }, () => {
  before(async () => {
    s = await startServer();
    const kc = await ok(['config', 'view', '--raw', '-o', 'jsonpath={.clusters[0].cluster.certificate-authority-data}']);
    caPath = join(s.home, '..', 'ca.crt');
    writeFileSync(caPath, Buffer.from(kc, 'base64'));
    await ok(['create', 'namespace', 'tok']);
    await eventually('default SA in tok', async () => (await s.kubectl(['get', 'sa', 'default', '-n', 'tok'])).code === 0, 15_000);
    // What a token may do is RBAC's: the namespace's accounts may read it.
    await ok(['create', 'rolebinding', 'sa-view', '-n', 'tok', '--clusterrole', 'view', '--group', 'system:serviceaccounts:tok']);
  });
  after(async () => {
    await s?.stop();
  });

  for (const version of ['1.27', '1.32', '1.33']) {
    test(`kubectl ${version} create token --duration --audience`, { skip: kubectlBinary(version) ? false : `kubectl.${version} missing` }, async () => {
      const t = (
        await ok(
          ['create', 'token', 'default', '-n', 'tok', '--duration', '20m', '--audience', 'https://kubernetes.default.svc.cluster.local', '--audience', 'vault'],
          version,
        )
      ).trim();
      const c = claims(t);
      assert.equal(c.sub, 'system:serviceaccount:tok:default');
      assert.deepEqual(c.aud, ['https://kubernetes.default.svc.cluster.local', 'vault']);
      assert.equal(c.exp - c.iat, 1200);
      // The token is a user of the API: kubectl with it (and the kubeconfig's CA) reads the namespace.
      assert.equal((await ok(['get', 'sa', '-n', 'tok', '-o', 'name', '--token', t], version)).trim(), 'serviceaccount/default');
    });
  }

  test('a token bound to a pod works from the host with the CA and stops when the pod is deleted', async () => {
    await ok(['run', 'holder', '-n', 'tok', '--image', 'busybox', '--restart', 'Never', '--', 'sleep', '3600']);
    const spec = (JSON.parse(await ok(['get', 'pod', 'holder', '-n', 'tok', '-o', 'json'])) as Pod).spec!;
    assert.equal(spec.serviceAccountName, 'default');
    const vol = spec.volumes!.find((v) => v.name.startsWith('kube-api-access-'));
    assert.ok(vol, 'the ServiceAccount admission mounted the token volume');
    assert.deepEqual(spec.containers[0].volumeMounts, [{ name: vol.name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }]);

    const t = (await ok(['create', 'token', 'default', '-n', 'tok', '--bound-object-kind', 'Pod', '--bound-object-name', 'holder'])).trim();
    assert.equal(claims(t)['kubernetes.io'].pod!.name, 'holder');
    const r = await curl('/api/v1/namespaces/tok/pods', t);
    assert.equal(r.code, 200, r.body);
    assert.deepEqual(
      (JSON.parse(r.body) as PodList).items.map((p) => p.metadata!.name),
      ['holder'],
    );
    // Not scheduled (no nodes here): the delete is immediate, and the token with it.
    await ok(['delete', 'pod', 'holder', '-n', 'tok', '--wait=true']);
    const after = await curl('/api/v1/namespaces/tok/pods', t);
    assert.equal(after.code, 401, after.body);
    assert.equal(JSON.parse(after.body).reason, 'Unauthorized');
    const k = await s.kubectl(['get', 'pods', '-n', 'tok', '--token', t]);
    assert.notEqual(k.code, 0);
    assert.match(k.stderr, /Unauthorized|must be logged in/);
  });

  test('bad token requests: kubectl names the problem', async () => {
    const short = await s.kubectl(['create', 'token', 'default', '-n', 'tok', '--duration', '1m']);
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /may not specify a duration less than 10 minutes/);
    const none = await s.kubectl(['create', 'token', 'nobody', '-n', 'tok']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /serviceaccounts "nobody" not found/);
    const gone = await s.kubectl(['create', 'token', 'default', '-n', 'tok', '--bound-object-kind', 'Pod', '--bound-object-name', 'ghost']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /pods "ghost" not found/);
  });

  test('issuer discovery is for service accounts (anonymous 403, as upstream), and a wrong-audience or forged token is 401', async () => {
    const good = (await ok(['create', 'token', 'default', '-n', 'tok'])).trim();
    const cfg = await curl('/.well-known/openid-configuration', good);
    assert.equal(cfg.code, 200, cfg.body);
    const doc = JSON.parse(cfg.body);
    assert.equal(doc.issuer, 'https://kubernetes.default.svc.cluster.local');
    const jwks = JSON.parse((await curl('/openid/v1/jwks', good)).body);
    assert.equal(jwks.keys[0].kty, 'EC');
    assert.equal(jwks.keys[0].alg, 'ES256');
    // upstream binds system:service-account-issuer-discovery to system:serviceaccounts only.
    const anon = await curl('/openid/v1/jwks');
    assert.equal(anon.code, 403, anon.body);
    assert.equal(JSON.parse(anon.body).message, 'forbidden: User "system:anonymous" cannot get path "/openid/v1/jwks"');
    const vault = (await ok(['create', 'token', 'default', '-n', 'tok', '--audience', 'vault'])).trim();
    assert.equal((await curl('/api/v1/namespaces/tok/pods', vault)).code, 401);
    const [h, p] = good.split('.');
    assert.equal((await curl('/api/v1/namespaces/tok/pods', `${h}.${p}.${'A'.repeat(86)}`)).code, 401);
    // Anything else stays closed to an anonymous caller: authorized, and refused by RBAC.
    const pods = await curl('/api/v1/namespaces/tok/pods');
    assert.equal(pods.code, 403, pods.body);
    assert.equal(
      JSON.parse(pods.body).message,
      'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "tok"',
    );
  });
});
