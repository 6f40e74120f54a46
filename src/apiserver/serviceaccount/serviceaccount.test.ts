// Bound service-account tokens against a real API server (memory store, the real controllers): the
// TokenRequest subresource, authentication of its tokens and their revocation with the pod or account,
// hostile tokens, issuer discovery, the root-CA publisher and the ServiceAccount admission on pods.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt, jwtVerify, SignJWT, generateKeyPair, base64url, type JSONWebKeySet } from 'jose';
import type { TokenRequest } from 'kubernetes-types/authentication/v1.js';
import type { Status } from 'kubernetes-types/meta/v1.js';
import { runServer, type RunningServer } from '../../server/server.js';
import { RestClient, configFromKubeconfig } from '../../client/rest.js';
import { CONFIGMAPS, NAMESPACES, PODS, ROLEBINDINGS, SERVICEACCOUNTS } from '../../api/kinds.js';
import { ClientError } from '../../client/types.js';
import { eventually } from '../../testing/eventually.js';
import type { IncomingMessage } from 'node:http';

/** An answer: its body as the kind the caller names (`call<TokenRequest>`), unchecked; the test asserts on it. */
interface Answer<T = unknown> {
  code: number;
  body: T;
}

/** The discovery document at /.well-known/openid-configuration, as far as these tests read it. */
interface OidcConfig {
  issuer: string;
  jwks_uri: string;
  response_types_supported: string[];
  subject_types_supported: string[];
  id_token_signing_alg_values_supported: string[];
}

/** The private claims of a service-account token (`kubernetes.io`), as the API server writes them. */
interface ServiceAccountClaims {
  'kubernetes.io': { namespace?: string; pod?: { name: string; uid: string }; node?: { name: string; uid: string }; warnafter?: number };
}

describe('service-account tokens', () => {
  let s: RunningServer;
  let c: RestClient;
  let dir: string;
  let ca: Buffer;
  const NS = 'sa-test';

  function call<T = unknown>(method: string, path: string, token: string | undefined, body?: unknown): Promise<Answer<T>> {
    const url = new URL(s.url);
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path,
          method,
          ca,
          headers: {
            Accept: 'application/json',
            ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}),
            ...(data ? { 'Content-Type': 'application/json' } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* not JSON */
            }
            resolve({ code: res.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  const tokenPath = (sa: string, ns = NS) => `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`;
  async function token(sa: string, spec: Record<string, unknown> = {}, ns = NS): Promise<string> {
    const r = await call<TokenRequest>('POST', tokenPath(sa, ns), s.token, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec });
    assert.equal(r.code, 201, JSON.stringify(r.body));
    return r.body.status!.token;
  }
  // A pod list, or the Status refusing it: the tests read only its code, kind and reason.
  const listPods = (t: string) => call<{ kind?: string; reason?: string }>('GET', `/api/v1/namespaces/${NS}/pods`, t);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k8ts-sa-'));
    s = await runServer({ dataDir: dir, store: 'memory', listen: [{ host: '127.0.0.1', port: 0 }] });
    c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
    ca = Buffer.from(configFromKubeconfig(s.kubeconfigPath).ca);
    await c.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await eventually('the default ServiceAccount', () => c.get(SERVICEACCOUNTS, NS, 'default'));
    // The namespace's service accounts may read it (RBAC decides what an authenticated account may do).
    await c.create(ROLEBINDINGS, NS, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'sa-view' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: `system:serviceaccounts:${NS}` }],
    });
  });
  after(async () => {
    c?.close();
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the signing key is kept in the data dir, 0600', () => {
    const st = statSync(join(dir, 'pki', 'service-account.key'));
    assert.equal(st.mode & 0o777, 0o600);
  });

  test('every namespace gets kube-root-ca.crt with the cluster CA, put back when changed or deleted', async () => {
    const cm = await eventually('kube-root-ca.crt', () => c.get(CONFIGMAPS, NS, 'kube-root-ca.crt'));
    assert.equal(cm.data?.['ca.crt'], ca.toString());
    await c.update(CONFIGMAPS, NS, { ...cm, data: { 'ca.crt': 'tampered' } });
    await eventually('restored', async () => (await c.get(CONFIGMAPS, NS, 'kube-root-ca.crt'))?.data?.['ca.crt'] === ca.toString());
    await c.delete(CONFIGMAPS, NS, 'kube-root-ca.crt');
    await eventually('recreated', async () => (await c.get(CONFIGMAPS, NS, 'kube-root-ca.crt'))?.data?.['ca.crt'] === ca.toString());
  });

  test('TokenRequest answers a signed token with upstream claims, and the token authenticates', async () => {
    const sa = (await c.get(SERVICEACCOUNTS, NS, 'default'))!;
    const r = await call<TokenRequest>('POST', tokenPath('default'), s.token, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 1200 },
    });
    assert.equal(r.code, 201);
    assert.equal(r.body.kind, 'TokenRequest');
    assert.equal(r.body.apiVersion, 'authentication.k8s.io/v1');
    assert.deepEqual(r.body.spec.audiences, ['https://kubernetes.default.svc.cluster.local']);
    const claims = decodeJwt(r.body.status!.token);
    assert.equal(claims.iss, 'https://kubernetes.default.svc.cluster.local');
    assert.equal(claims.sub, `system:serviceaccount:${NS}:default`);
    assert.deepEqual(claims.aud, ['https://kubernetes.default.svc.cluster.local']);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 1200);
    assert.equal(claims.nbf, claims.iat);
    assert.deepEqual(claims['kubernetes.io'], { namespace: NS, serviceaccount: { name: 'default', uid: sa.metadata.uid } });
    assert.equal(Date.parse(r.body.status!.expirationTimestamp) / 1000, claims.exp);

    assert.equal((await listPods(r.body.status!.token)).code, 200);
    // The user authorization will read.
    const req = { headers: { authorization: `Bearer ${r.body.status!.token}` } } as IncomingMessage;
    const u = await s.api.authenticate(req);
    assert.equal(u?.name, `system:serviceaccount:${NS}:default`);
    assert.equal(u?.uid, sa.metadata.uid);
    assert.deepEqual(u?.groups, ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated']);
    const admin = { headers: { authorization: `Bearer ${s.token}` } } as IncomingMessage;
    assert.deepEqual((await s.api.authenticate(admin))?.groups, ['system:masters', 'system:authenticated']);
  });

  test('a token for another audience is not accepted by the API server, but verifies against the JWKS', async () => {
    const t = await token('default', { audiences: ['vault'] });
    const r = await listPods(t);
    assert.equal(r.code, 401);
    assert.equal(r.body.reason, 'Unauthorized');
    // The issuer's documents are for service accounts (system:service-account-issuer-discovery), as upstream:
    // anonymous is 403, any valid service-account token reads them.
    const anon = await call<Status>('GET', '/.well-known/openid-configuration', undefined);
    assert.equal(anon.code, 403);
    assert.equal(anon.body.message, 'forbidden: User "system:anonymous" cannot get path "/.well-known/openid-configuration"');
    assert.equal((await call('GET', '/openid/v1/jwks', undefined)).code, 403);
    const reader = await token('default');
    const cfg = await call<OidcConfig>('GET', '/.well-known/openid-configuration', reader);
    assert.equal(cfg.code, 200);
    assert.equal(cfg.body.issuer, 'https://kubernetes.default.svc.cluster.local');
    assert.deepEqual(cfg.body.response_types_supported, ['id_token']);
    assert.deepEqual(cfg.body.subject_types_supported, ['public']);
    assert.deepEqual(cfg.body.id_token_signing_alg_values_supported, ['ES256']);
    assert.match(cfg.body.jwks_uri, /^https:\/\/.+\/openid\/v1\/jwks$/);
    const keys = await call<JSONWebKeySet>('GET', '/openid/v1/jwks', reader);
    assert.equal(keys.code, 200);
    assert.equal(keys.body.keys.length, 1);
    assert.equal(keys.body.keys[0].use, 'sig');
    assert.equal(keys.body.keys[0].d, undefined, 'the JWKS never carries the private key');
    const { payload } = await jwtVerify(t, createLocalJWKSet(keys.body), { issuer: cfg.body.issuer, audience: 'vault' });
    assert.equal(payload.sub, `system:serviceaccount:${NS}:default`);
  });

  test('a pod-bound token names the pod and its node and stops working when the pod is deleted', async () => {
    await c.create(SERVICEACCOUNTS, NS, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'runner' } });
    const pod = await c.create(PODS, NS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'bound' },
      spec: { serviceAccountName: 'runner', nodeName: 'no-such-node', containers: [{ name: 'c', image: 'busybox' }] },
    });
    const t = await token('runner', { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'bound' } });
    const k = decodeJwt<ServiceAccountClaims>(t)['kubernetes.io'];
    assert.deepEqual(k.pod, { name: 'bound', uid: pod.metadata.uid });
    assert.equal(k.node, undefined, 'the node is named only when it exists');
    assert.equal((await listPods(t)).code, 200);
    // A uid that is not the pod's is a conflict, as upstream answers.
    const wrong = await call('POST', tokenPath('runner'), s.token, { spec: { boundObjectRef: { kind: 'Pod', name: 'bound', uid: 'not-the-uid' } } });
    assert.equal(wrong.code, 409);
    // A pod running as another account cannot be bound to this one.
    const other = await call<Status>('POST', tokenPath('default'), s.token, { spec: { boundObjectRef: { kind: 'Pod', name: 'bound' } } });
    assert.equal(other.code, 400);
    assert.match(other.body.message!, /different serviceaccount/);
    await c.delete(PODS, NS, 'bound', { gracePeriodSeconds: 0 });
    await eventually('pod gone', async () => !(await c.get(PODS, NS, 'bound')));
    assert.equal((await listPods(t)).code, 401);
    // A new pod of the same name has a new uid: the old token stays dead.
    await c.create(PODS, NS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'bound' },
      spec: { serviceAccountName: 'runner', containers: [{ name: 'c', image: 'busybox' }] },
    });
    assert.equal((await listPods(t)).code, 401);
    await c.delete(PODS, NS, 'bound', { gracePeriodSeconds: 0 });
  });

  test('a token stops working when its account is deleted, and stays dead when the account is recreated', async () => {
    await c.create(SERVICEACCOUNTS, NS, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'brief' } });
    const t = await token('brief');
    assert.equal((await listPods(t)).code, 200);
    await c.delete(SERVICEACCOUNTS, NS, 'brief');
    assert.equal((await listPods(t)).code, 401);
    await c.create(SERVICEACCOUNTS, NS, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'brief' } });
    assert.equal((await listPods(t)).code, 401);
  });

  test('hostile tokens are 401: forged, expired, not yet valid, alg none, tampered claims, garbage', async () => {
    const good = await token('default');
    const claims = decodeJwt(good);
    const other = await generateKeyPair('ES256');
    const forged = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'x' }).sign(other.privateKey);
    const sa = (await c.get(SERVICEACCOUNTS, NS, 'default'))!;
    const now = Math.floor(Date.now() / 1000);
    const ref = { name: 'default', uid: sa.metadata.uid! };
    const expired = (
      await s.api.issuer!.issue({ namespace: NS, serviceAccount: ref, audiences: s.api.issuer!.apiAudiences, expirationSeconds: 600, now: now - 3600 })
    ).token;
    const future = (
      await s.api.issuer!.issue({ namespace: NS, serviceAccount: ref, audiences: s.api.issuer!.apiAudiences, expirationSeconds: 600, now: now + 3600 })
    ).token;
    const [h, p, sig] = good.split('.');
    const none = `${base64url.encode(JSON.stringify({ alg: 'none' }))}.${p}.`;
    const elevated = `${h}.${base64url.encode(JSON.stringify({ ...claims, sub: 'system:serviceaccount:kube-system:default' }))}.${sig}`;
    const cases: [string, string][] = [
      ['forged', forged],
      ['expired', expired],
      ['not yet valid', future],
      ['alg none', none],
      ['tampered', elevated],
      ['garbage', 'a.b.c'],
      ['not a JWT', 'hello'],
      ['long', `${'A'.repeat(8000)}.e30.x`],
    ];
    for (const [what, t] of cases) {
      const r = await listPods(t);
      assert.equal(r.code, 401, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.kind, 'Status');
    }
    assert.equal((await listPods(good)).code, 200);
  });

  test('TokenRequest refuses bad requests with the code upstream uses', async () => {
    const bad: [Record<string, unknown>, number, RegExp][] = [
      [{ expirationSeconds: 10 }, 422, /less than 10 minutes/],
      [{ expirationSeconds: 2 ** 33 }, 422, /larger than 2\^32/],
      [{ expirationSeconds: 'soon' }, 422, /integer/],
      [{ audiences: 'x' }, 422, /list of strings/],
      [{ boundObjectRef: { kind: 'ConfigMap', name: 'x' } }, 400, /supported kinds are Pod, Secret and Node/],
      [{ boundObjectRef: { kind: 'Pod' } }, 422, /boundObjectRef\.name/],
      [{ boundObjectRef: { kind: 'Pod', name: 'nope' } }, 404, /not found/],
    ];
    for (const [spec, code, msg] of bad) {
      const r = await call<Status>('POST', tokenPath('default'), s.token, { spec });
      assert.equal(r.code, code, JSON.stringify(spec));
      assert.match(r.body.message!, msg);
    }
    assert.equal((await call('POST', tokenPath('nobody'), s.token, { spec: {} })).code, 404);
    assert.equal((await call('GET', tokenPath('default'), s.token)).code, 405);
    // A service-account token is not the admin token: without one, a token request is 401.
    assert.equal((await call('POST', tokenPath('default'), 'nope', { spec: {} })).code, 401);
  });

  test('the ServiceAccount admission mounts the token, CA and namespace, unless automount is off', async () => {
    const p = await c.create(PODS, NS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'auto' },
      spec: {
        initContainers: [{ name: 'i', image: 'busybox' }],
        containers: [
          { name: 'a', image: 'busybox' },
          { name: 'b', image: 'busybox' },
        ],
      },
    });
    assert.equal(p.spec!.serviceAccountName, 'default');
    const vol = p.spec!.volumes!.find((v) => v.name.startsWith('kube-api-access-'))!;
    assert.match(vol.name, /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.deepEqual(
      vol.projected!.sources!.map((x) => Object.keys(x)[0]),
      ['serviceAccountToken', 'configMap', 'downwardAPI'],
    );
    const src = vol.projected!.sources!;
    assert.equal(src[0].serviceAccountToken?.expirationSeconds, 3607);
    assert.equal(src[0].serviceAccountToken?.path, 'token');
    assert.deepEqual(src[1].configMap, { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] });
    assert.equal(src[2].downwardAPI?.items?.[0].fieldRef?.fieldPath, 'metadata.namespace');
    for (const ctr of [...p.spec!.initContainers!, ...p.spec!.containers]) {
      assert.deepEqual(ctr.volumeMounts, [{ name: vol.name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }]);
    }
    // The kubelet's 3607 s request for a pod gets the extended lifetime with warnafter.
    const tr = await call<TokenRequest>('POST', tokenPath('default'), s.token, {
      spec: { expirationSeconds: 3607, boundObjectRef: { kind: 'Pod', name: 'auto' } },
    });
    assert.equal(tr.code, 201);
    const k = decodeJwt<ServiceAccountClaims>(tr.body.status!.token);
    assert.equal(k['kubernetes.io'].warnafter, (k.iat ?? 0) + 3607);
    assert.equal(tr.body.spec.expirationSeconds, 3607);

    const off = await c.create(PODS, NS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'off' },
      spec: { automountServiceAccountToken: false, containers: [{ name: 'a', image: 'busybox' }] },
    });
    assert.equal(off.spec!.serviceAccountName, 'default');
    assert.equal(off.spec!.volumes, undefined);
    await c.create(SERVICEACCOUNTS, NS, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'quiet' }, automountServiceAccountToken: false });
    const quiet = await c.create(PODS, NS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'quiet' },
      spec: { serviceAccountName: 'quiet', containers: [{ name: 'a', image: 'busybox' }] },
    });
    assert.equal(quiet.spec!.volumes, undefined);
    await assert.rejects(
      c.create(PODS, NS, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'nosa' },
        spec: { serviceAccountName: 'missing', containers: [{ name: 'a', image: 'busybox' }] },
      }),
      (e: unknown) => e instanceof ClientError && e.code === 403 && /serviceaccount "missing" not found/.test(e.message),
    );
    for (const n of ['auto', 'off', 'quiet']) await c.delete(PODS, NS, n, { gracePeriodSeconds: 0 });
  });
});

test('the key survives a restart: a token issued before authenticates after (SQLite store)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-sa-restart-'));
  const opts = { dataDir: dir, store: 'sqlite' as const, listen: [{ host: '127.0.0.1', port: 0 }] };
  let s = await runServer(opts);
  try {
    const c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
    await eventually('default SA', () => c.get(SERVICEACCOUNTS, 'default', 'default'));
    c.close();
    const t = (
      await s.api.issuer!.issue({
        namespace: 'default',
        serviceAccount: { name: 'default', uid: (await s.api.objects.get('ServiceAccount', 'default', 'default'))!.metadata.uid! },
        audiences: s.api.issuer!.apiAudiences,
        expirationSeconds: 600,
      })
    ).token;
    const kid = s.api.issuer!.key.kid;
    await s.close();
    s = await runServer(opts);
    assert.equal(s.api.issuer!.key.kid, kid);
    const u = await s.api.authenticate({ headers: { authorization: `Bearer ${t}` } } as IncomingMessage);
    assert.equal(u?.name, 'system:serviceaccount:default:default');
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
