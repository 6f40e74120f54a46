// The node's TLS bootstrap against a real API server: a bootstrap token gets a certificate for
// system:node:<name> (auto-approved), stored 0600 and reused; a tampered or foreign certificate is not
// used; renewal as the node itself; a bootstrap token cannot get another user's certificate approved.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { ClientError } from '../client/types.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type TestCluster } from '../controllers/testutil.js';
import { RestClient } from '../client/rest.js';
import { SECRETS, CSRS } from '../api/kinds.js';
import type { Secret } from '../api/types.js';
import { bootstrapTokenSecret, generateBootstrapToken } from '../api/bootstraptoken.js';
import {
  ensureNodeCredentials,
  joinNotYet,
  loadNodeCredentials,
  requestNodeCredentials,
  renewalDeadline,
  NODE_CLIENT_CERT,
  NODE_CLIENT_KEY,
} from '../agent/identity.js';
import type { SelfSubjectReview } from 'kubernetes-types/authentication/v1.js';

let tc: TestCluster;
let ca: string;
let token: string;
let dir: string;
const log = () => {};

const whoami = async (c: RestClient) =>
  (
    await c.postPath<SelfSubjectReview>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    })
  ).status!.userInfo!;

before(async () => {
  tc = await startCluster();
  ca = readFileSync(tc.s.caPath, 'utf8');
  const t = generateBootstrapToken();
  await tc.c.create(SECRETS, 'kube-system', bootstrapTokenSecret(t, { ttlSeconds: 3600 }) as Secret);
  token = t.token;
  dir = mkdtempSync(join(tmpdir(), 'k8ts-identity-'));
});

after(async () => {
  await tc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a bootstrap token gets system:node:<name> a certificate, stored 0600, reused on the next start', async () => {
  const dataDir = join(dir, 'n1');
  const got = await ensureNodeCredentials({ server: tc.s.url, ca, nodeName: 'n1', dataDir, bootstrapToken: token, log, timeoutMs: 20_000 });
  for (const f of [NODE_CLIENT_CERT, NODE_CLIENT_KEY]) assert.equal(statSync(join(dataDir, 'pki', f)).mode & 0o777, 0o600, f);
  assert.equal(statSync(join(dataDir, 'pki')).mode & 0o777, 0o700);
  const c = new RestClient({ server: tc.s.url, ca, cert: got.cert, key: got.key });
  try {
    const me = await whoami(c);
    assert.equal(me.username, 'system:node:n1');
    assert.deepEqual(me.groups, ['system:nodes', 'system:authenticated']);
  } finally {
    c.close();
  }
  const csrs = (await tc.c.list(CSRS)).items;
  const mine = csrs.find((x) => x.spec.username === 'system:bootstrap:' + token.slice(0, 6));
  assert.ok(mine, 'the CSR was made by the bootstrap token user');
  assert.ok(mine!.status?.conditions?.some((x) => x.type === 'Approved' && x.reason === 'AutoApproved'));
  // The next start needs no token: the stored pair is used as it is.
  const again = await ensureNodeCredentials({ server: tc.s.url, ca, nodeName: 'n1', dataDir, log });
  assert.equal(again.cert, got.cert);
});

test('stored credentials for another node, from another CA, or with a mismatched key are not used', async () => {
  const dataDir = join(dir, 'n2');
  await ensureNodeCredentials({ server: tc.s.url, ca, nodeName: 'n2', dataDir, bootstrapToken: token, log, timeoutMs: 20_000 });
  assert.match(String((loadNodeCredentials(dataDir, 'n3', ca) as { why: string }).why), /system:node:n3/);
  const other = await ensureNodeCredentials({ server: tc.s.url, ca, nodeName: 'n4', dataDir: join(dir, 'n4'), bootstrapToken: token, log, timeoutMs: 20_000 });
  writeFileSync(join(dataDir, 'pki', NODE_CLIENT_KEY), other.key);
  assert.match(String((loadNodeCredentials(dataDir, 'n2', ca) as { why: string }).why), /key does not match/);
  writeFileSync(join(dataDir, 'pki', NODE_CLIENT_CERT), 'garbage');
  assert.match(String((loadNodeCredentials(dataDir, 'n2', ca) as { why: string }).why), /do not parse/);
  // Without a token, unusable stored credentials are an error naming the fix.
  await assert.rejects(ensureNodeCredentials({ server: tc.s.url, ca, nodeName: 'n2', dataDir, log }), /--bootstrap-token-file/);
  // A wrong bootstrap token is refused by the server (401), nothing is stored.
  await assert.rejects(
    ensureNodeCredentials({ server: tc.s.url, ca, nodeName: 'n5', dataDir: join(dir, 'n5'), bootstrapToken: 'aaaaaa.bbbbbbbbbbbbbbbb', log, timeoutMs: 5_000 }),
    /401|Unauthorized/,
  );
});

test('a node renews its certificate as itself (selfnodeclient), and may not get one for another node approved', async () => {
  const dataDir = join(dir, 'n6');
  const first = await ensureNodeCredentials({ server: tc.s.url, ca, nodeName: 'n6', dataDir, bootstrapToken: token, log, timeoutMs: 20_000 });
  const c = new RestClient({ server: tc.s.url, ca, cert: first.cert, key: first.key });
  try {
    const renewed = await requestNodeCredentials(c, { server: tc.s.url, ca, nodeName: 'n6', dataDir, log, timeoutMs: 20_000 });
    assert.notEqual(renewed.cert, first.cert);
    c.setClientCertificate(renewed.cert, renewed.key);
    assert.equal((await whoami(c)).username, 'system:node:n6');
    // n6 asking for n7's certificate: not self, and nodes are no bootstrappers: never approved.
    await assert.rejects(requestNodeCredentials(c, { server: tc.s.url, ca, nodeName: 'n7', dataDir: join(dir, 'n7'), log, timeoutMs: 3_000 }), /timed out/);
  } finally {
    c.close();
  }
  assert.ok(renewalDeadline(first, 0) > first.notBefore + 0.69 * (first.notAfter - first.notBefore));
  assert.ok(renewalDeadline(first, 1) < first.notAfter);
});

test('a node started before its control plane joins once the server answers and its token is in (k8ts up starts both at once)', async () => {
  // A server address where nothing listens yet: connection refused, retried; then the real server.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const lines: string[] = [];
  const refused = ensureNodeCredentials({
    server: `https://127.0.0.1:${port}`,
    ca,
    nodeName: 'early0',
    dataDir: join(dir, 'early0'),
    bootstrapToken: token,
    log: (l) => lines.push(l),
    timeoutMs: 600,
  });
  await assert.rejects(refused, (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  assert.equal(lines.filter((l) => /does not answer yet \(ECONNREFUSED\); trying again/.test(l)).length, 1, lines.join('\n'));

  // A token the server does not know yet: 401, retried, and joined once the Secret is made.
  const t = generateBootstrapToken();
  const said: string[] = [];
  const joining = ensureNodeCredentials({
    server: tc.s.url,
    ca,
    nodeName: 'early1',
    dataDir: join(dir, 'early1'),
    bootstrapToken: t.token,
    log: (l) => said.push(l),
    timeoutMs: 20_000,
  });
  await new Promise((r) => setTimeout(r, 300));
  await tc.c.create(SECRETS, 'kube-system', bootstrapTokenSecret(t, { ttlSeconds: 3600 }) as Secret);
  const got = await joining;
  assert.match(got.cert, /BEGIN CERTIFICATE/);
  assert.ok(
    said.some((l) => /does not accept the bootstrap token yet \(401/.test(l)),
    said.join('\n'),
  );

  // What retrying cannot mend ends the join at once: a 403, a 422, anything unknown.
  assert.equal(joinNotYet(new ClientError(403, 'Forbidden', 'no')), undefined);
  assert.equal(joinNotYet(new ClientError(422, 'Invalid', 'no')), undefined);
  assert.equal(joinNotYet(new Error('self-signed certificate')), undefined);
  assert.match(String(joinNotYet(new ClientError(503, 'ServiceUnavailable', 'starting'))), /not ready yet/);
});
