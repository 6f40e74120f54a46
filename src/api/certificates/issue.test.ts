// The in-process PKI checked by openssl, the tool that used to make it: chains verify, each certificate
// carries the usages and names TLS and the x509 authenticator need, and keys are PKCS#8 P-256.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issue, makeCa, selfSigned } from './issue.js';
import { openssl } from './testkit.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'k8ts-issue-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a CA and a server leaf: openssl verifies the chain for TLS server use, with every name as a SAN', async () => {
  const ca = await makeCa('k8ts-ca', 10);
  const server = await issue(ca, {
    subject: { cn: 'kube-apiserver' },
    usage: 'server',
    names: ['localhost', '127.0.0.1', 'fd00::1', 'kubernetes.default'],
    days: 10,
  });
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 's.crt'), server.certPem);
  assert.match(openssl(['verify', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.crt'), join(dir, 's.crt')]), /s\.crt: OK/);
  const x = new X509Certificate(server.certPem);
  assert.equal(x.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:FD00:0:0:0:0:0:0:1, DNS:kubernetes.default');
  assert.ok(x.checkIssued(new X509Certificate(ca.certPem)));
  assert.equal(x.checkHost('kubernetes.default'), 'kubernetes.default');
  assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
  const caX = new X509Certificate(ca.certPem);
  assert.equal(caX.ca, true);
  assert.ok(x.validTo && new Date(x.validTo) <= new Date(caX.validTo), 'a leaf never outlives its CA');
  const key = createPrivateKey(server.keyPem);
  assert.equal(key.asymmetricKeyType, 'ec');
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.match(server.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
});

test('a client leaf: groups as O before the user as CN (as kubeadm writes admin.conf), clientAuth only', async () => {
  const ca = await makeCa('k8ts-ca', 10);
  const c = await issue(ca, { subject: { o: ['system:masters', 'team-a'], cn: 'kubernetes-admin' }, usage: 'client', days: 10 });
  writeFileSync(join(dir, 'ca2.crt'), ca.certPem);
  writeFileSync(join(dir, 'c.crt'), c.certPem);
  assert.match(openssl(['verify', '-purpose', 'sslclient', '-CAfile', join(dir, 'ca2.crt'), join(dir, 'c.crt')]), /c\.crt: OK/);
  assert.throws(() => openssl(['verify', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca2.crt'), join(dir, 'c.crt')]), /unsuitable certificate purpose/);
  const x = new X509Certificate(c.certPem);
  assert.deepEqual(x.subject.split('\n'), ['O=system:masters', 'O=team-a', 'CN=kubernetes-admin']);
  assert.equal(x.subjectAltName, undefined);
});

test('a subject value that is not a plain name is refused, not sent', async () => {
  const ca = await makeCa('k8ts-ca', 10);
  for (const v of ['team, "a"', 'x+CN=admin', 'a\nb', '', ' lead', 'a=b', 'a\\b']) {
    await assert.rejects(issue(ca, { subject: { cn: v }, usage: 'client', days: 1 }), /certificate subject value .* only letters/, JSON.stringify(v));
    await assert.rejects(issue(ca, { subject: { cn: 'u', o: [v] }, usage: 'client', days: 1 }), /certificate subject value/, JSON.stringify(v));
  }
  await assert.rejects(makeCa('ca,O=x', 1), /certificate subject value/);
});

test('names that are neither an IP address nor a DNS name are refused, naming the name', async () => {
  const ca = await makeCa('k8ts-ca', 10);
  for (const n of ['1.2.3.4,DNS:evil', 'a b', 'evil\nDNS:x', '-x.example', 'a..b', '', 'x'.repeat(254)]) {
    await assert.rejects(
      issue(ca, { subject: { cn: 's' }, usage: 'server', names: [n], days: 1 }),
      /is neither an IP address nor a DNS name/,
      JSON.stringify(n),
    );
    await assert.rejects(
      selfSigned({ subject: { cn: 's' }, usage: 'server', names: [n], days: 1 }),
      /is neither an IP address nor a DNS name/,
      JSON.stringify(n),
    );
  }
});

test("a self-signed server leaf (the agent's stand-in): its own issuer, serverAuth, the names asked; openssl verifies it against itself", async () => {
  const s = await selfSigned({ subject: { cn: 'k8ts-agent' }, usage: 'server', names: ['10.0.0.7'], days: 1 });
  const x = new X509Certificate(s.certPem);
  assert.equal(x.issuer, 'CN=k8ts-agent');
  assert.equal(x.ca, false);
  assert.equal(x.subjectAltName, 'IP Address:10.0.0.7');
  assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.ok(x.checkPrivateKey(createPrivateKey(s.keyPem)));
  writeFileSync(join(dir, 'self.crt'), s.certPem);
  assert.match(openssl(['verify', '-partial_chain', '-purpose', 'sslserver', '-CAfile', join(dir, 'self.crt'), join(dir, 'self.crt')]), /self\.crt: OK/);
});
