// Bootstrap tokens against a real API server: validation (422 naming the field), the authenticator with
// hostile tokens (malformed, wrong secret, expired, wrong usage, deleted), what a bootstrapper may do,
// and the token cleaner.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startCluster, eventually, type TestCluster } from '../controllers/testutil.js';
import type { SelfSubjectReview } from 'kubernetes-types/authentication/v1.js';
import type { Status } from 'kubernetes-types/meta/v1.js';
import { callAs, json, type Reply } from '../testing/https-call.js';
import { parseBootstrapToken, generateBootstrapToken } from '../api/bootstraptoken.js';
import { parseDuration } from '../cli/token.js';
import { BOOTSTRAP_TOKEN_FILE_TTL_S, putBootstrapToken } from './server.js';
import { SECRETS as SECRETS_KIND } from '../api/kinds.js';

let tc: TestCluster;
let ca: string;

const call = (token: string, method: string, path: string, body?: unknown, headers: Record<string, string | string[]> = {}): Promise<Reply> =>
  callAs(tc.s.url, ca, token, method, path, body, headers);

const SECRETS = '/api/v1/namespaces/kube-system/secrets';
const secret = (name: string, stringData: Record<string, string>, ns = 'kube-system') => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: ns },
  type: 'bootstrap.kubernetes.io/token',
  stringData,
});
const good = (id: string, sec: string, extra: Record<string, string> = {}) =>
  secret(`bootstrap-token-${id}`, { 'token-id': id, 'token-secret': sec, 'usage-bootstrap-authentication': 'true', ...extra });
const whoami = (token: string) =>
  call(token, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });

before(async () => {
  tc = await startCluster();
  ca = readFileSync(tc.s.caPath, 'utf8');
});

after(async () => {
  await tc?.close();
});

test('token shape: only [a-z0-9]{6}.[a-z0-9]{16}', () => {
  assert.deepEqual(parseBootstrapToken('abcdef.0123456789abcdef'), { id: 'abcdef', secret: '0123456789abcdef' });
  for (const bad of [
    '',
    'abcdef',
    'abcdef.',
    'ABCDEF.0123456789abcdef',
    'abcde.0123456789abcdef',
    'abcdef.0123456789abcde',
    'abcdef.0123456789abcdef0',
    'abcdef:0123456789abcdef',
    ' abcdef.0123456789abcdef',
    'abcdef.0123456789abcdef\n',
    '../../x.0123456789abcdef',
  ]) {
    assert.equal(parseBootstrapToken(bad), undefined, JSON.stringify(bad));
  }
  const g = generateBootstrapToken();
  assert.ok(parseBootstrapToken(g.token));
  assert.notEqual(generateBootstrapToken().token, g.token);
});

test('--ttl parses Go durations and refuses the rest', () => {
  assert.equal(parseDuration('24h'), 86400);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('90s'), 90);
  for (const bad of ['', '24', 'h', '1d', '-1h', '1h ', '1h;rm']) assert.throws(() => parseDuration(bad), /--ttl/, bad);
});

test('a bootstrap token Secret is validated at create: 422 naming the field', async () => {
  const cases: [unknown, string][] = [
    [good('abc', '0123456789abcdef'), 'data[token-id]'],
    [good('abcdef', 'short'), 'data[token-secret]'],
    [secret('bootstrap-token-abcdef', { 'token-secret': '0123456789abcdef' }), 'data[token-id]'],
    [secret('bootstrap-token-abcdef', { 'token-id': 'abcdef' }), 'data[token-secret]'],
    [secret('bootstrap-token-zzzzzz', { 'token-id': 'abcdef', 'token-secret': '0123456789abcdef' }), 'metadata.name'],
    [good('abcdef', '0123456789abcdef', { expiration: 'tomorrow' }), 'data[expiration]'],
    [good('abcdef', '0123456789abcdef', { 'usage-bootstrap-authentication': 'yes' }), 'data[usage-bootstrap-authentication]'],
    [good('abcdef', '0123456789abcdef', { 'usage-bootstrap-everything': 'true' }), 'data[usage-bootstrap-everything]'],
    [good('abcdef', '0123456789abcdef', { 'auth-extra-groups': 'system:masters' }), 'data[auth-extra-groups]'],
    [good('abcdef', '0123456789abcdef', { 'auth-extra-groups': 'system:bootstrappers:ok,system:masters' }), 'data[auth-extra-groups]'],
  ];
  for (const [obj, field] of cases) {
    const r = await call(tc.s.token, 'POST', SECRETS, obj);
    assert.equal(r.code, 422, JSON.stringify(r.body));
    const st = json<Status>(r);
    assert.equal(st.reason, 'Invalid');
    assert.ok(
      st.details?.causes?.some((c) => c.field === field),
      `${field}: ${JSON.stringify(st.details?.causes)}`,
    );
    // The token secret is never echoed back.
    assert.ok(!JSON.stringify(r.body).includes('0123456789abcdef'), JSON.stringify(r.body));
  }
  const other = await call(tc.s.token, 'POST', '/api/v1/namespaces/default/secrets', {
    ...good('abcdef', '0123456789abcdef'),
    metadata: { name: 'bootstrap-token-abcdef', namespace: 'default' },
  });
  assert.equal(other.code, 422);
  assert.ok(json<Status>(other).details?.causes?.some((c) => c.field === 'metadata.namespace'));
});

test('a valid token authenticates as system:bootstrap:<id> in system:bootstrappers and its extra groups', async () => {
  const r = await call(tc.s.token, 'POST', SECRETS, good('a1b2c3', 'q1w2e3r4t5y6u7i8', { 'auth-extra-groups': 'system:bootstrappers:k8ts:lab' }));
  assert.equal(r.code, 201, JSON.stringify(r.body));
  const me = await whoami('a1b2c3.q1w2e3r4t5y6u7i8');
  assert.equal(me.code, 201, JSON.stringify(me.body));
  const review = json<SelfSubjectReview>(me);
  assert.equal(review.status?.userInfo?.username, 'system:bootstrap:a1b2c3');
  assert.deepEqual(review.status?.userInfo?.groups, ['system:bootstrappers', 'system:bootstrappers:k8ts:lab', 'system:authenticated']);
  // A bootstrapper may create CSRs, but read no Secret and list no pods.
  assert.equal((await call('a1b2c3.q1w2e3r4t5y6u7i8', 'GET', SECRETS)).code, 403);
  assert.equal((await call('a1b2c3.q1w2e3r4t5y6u7i8', 'GET', '/api/v1/pods')).code, 403);
  assert.equal((await call('a1b2c3.q1w2e3r4t5y6u7i8', 'GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests')).code, 200);
});

test('hostile tokens are 401: wrong secret, unknown id, expired, usage off, being shaped almost right', async () => {
  const past = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
  assert.equal((await call(tc.s.token, 'POST', SECRETS, good('exp111', 'aaaaaaaaaaaaaaaa', { expiration: past }))).code, 201);
  assert.equal((await call(tc.s.token, 'POST', SECRETS, good('use111', 'bbbbbbbbbbbbbbbb', { 'usage-bootstrap-authentication': 'false' }))).code, 201);
  assert.equal(
    (await call(tc.s.token, 'POST', SECRETS, secret('bootstrap-token-nou111', { 'token-id': 'nou111', 'token-secret': 'cccccccccccccccc' }))).code,
    201,
  );
  // The same name as an Opaque Secret is no token.
  assert.equal((await call(tc.s.token, 'POST', SECRETS, { ...good('opq111', 'dddddddddddddddd'), type: 'Opaque' })).code, 201);
  assert.equal((await call(tc.s.token, 'POST', SECRETS, good('fff111', 'eeeeeeeeeeeeeeee'))).code, 201);
  for (const t of [
    'exp111.aaaaaaaaaaaaaaaa',
    'use111.bbbbbbbbbbbbbbbb',
    'nou111.cccccccccccccccc',
    'opq111.dddddddddddddddd',
    'fff111.eeeeeeeeeeeeeeex',
    'fff111.EEEEEEEEEEEEEEEE',
    'zzz999.eeeeeeeeeeeeeeee',
    'fff111.eeeeeeeeeeeeeeeee',
    'fff111.eeeeeeeeeeeeeee',
  ]) {
    const r = await whoami(t);
    assert.equal(r.code, 401, `${t}: ${JSON.stringify(r.body)}`);
  }
  assert.equal((await whoami('fff111.eeeeeeeeeeeeeeee')).code, 201);
  // Deleted: refused at once.
  assert.equal((await call(tc.s.token, 'DELETE', `${SECRETS}/bootstrap-token-fff111`)).code, 200);
  assert.equal((await whoami('fff111.eeeeeeeeeeeeeeee')).code, 401);
});

test('the token cleaner deletes a token once it expires, and leaves unexpired ones', async () => {
  const soon = new Date(Date.now() + 2_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const later = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  assert.equal((await call(tc.s.token, 'POST', SECRETS, good('cln111', 'gggggggggggggggg', { expiration: soon }))).code, 201);
  assert.equal((await call(tc.s.token, 'POST', SECRETS, good('cln222', 'hhhhhhhhhhhhhhhh', { expiration: later }))).code, 201);
  await eventually('the expired token deleted', async () => (await call(tc.s.token, 'GET', `${SECRETS}/bootstrap-token-cln111`)).code === 404, 15_000);
  assert.equal((await call(tc.s.token, 'GET', `${SECRETS}/bootstrap-token-cln222`)).code, 200);
});

test('--bootstrap-token-file: the token is in before the server serves, valid 24 h from when its file was written; a restart never extends it', async () => {
  const t = generateBootstrapToken();
  const writtenAt = Date.now() - 3600_000;
  const started = await startCluster({ bootstrapToken: { token: t.token, writtenAt } });
  try {
    const s = await started.c.get(SECRETS_KIND, 'kube-system', `bootstrap-token-${t.id}`);
    const expiration = Buffer.from(String(s?.data?.expiration ?? ''), 'base64').toString();
    assert.equal(Date.parse(expiration), Math.floor((writtenAt + BOOTSTRAP_TOKEN_FILE_TTL_S * 1000) / 1000) * 1000);
    const me = json<SelfSubjectReview>(
      await callAs(started.s.url, readFileSync(started.s.caPath, 'utf8'), t.token, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'SelfSubjectReview',
      }),
    );
    assert.equal(me.status?.userInfo?.username, `system:bootstrap:${t.id}`);
    // Given again (a restart): the Secret there is left as it is.
    assert.match(await putBootstrapToken(started.c, { token: t.token, writtenAt: Date.now() }), /already/);
    // A file older than the TTL adds nothing.
    const old = generateBootstrapToken();
    assert.match(await putBootstrapToken(started.c, { token: old.token, writtenAt: Date.now() - BOOTSTRAP_TOKEN_FILE_TTL_S * 1000 - 1 }), /older than/);
    assert.equal(await started.c.get(SECRETS_KIND, 'kube-system', `bootstrap-token-${old.id}`), undefined);
  } finally {
    await started.close();
  }
});
