// The openssl certificate helper: what it makes (checked by node:crypto), and values that would change the
// meaning of openssl's -subj or subjectAltName syntax refused before openssl runs.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeCert, sanText, subjectText } from './opensslcert.js';

const dir = mkdtempSync(join(tmpdir(), 'k8ts-opensslcert-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a CA, and a client and a server certificate it signs, with the subject, names and usages asked', async () => {
  const ca = { keyFile: join(dir, 'ca.key'), certFile: join(dir, 'ca.crt') };
  await makeCert({ ...ca, subject: { cn: 'test-ca' }, days: 2, usage: 'ca' });
  await makeCert({
    keyFile: join(dir, 'c.key'),
    certFile: join(dir, 'c.crt'),
    subject: { cn: 'jane', o: ['dev', 'system:masters'] },
    days: 1,
    usage: 'client',
    issuer: ca,
  });
  await makeCert({
    keyFile: join(dir, 's.key'),
    certFile: join(dir, 's.crt'),
    subject: { cn: 'srv' },
    days: 1,
    sans: ['127.0.0.1', '::1', 'Srv.example'],
    usage: 'server',
    issuer: ca,
  });
  const caCert = new X509Certificate(readFileSync(ca.certFile));
  assert.equal(caCert.ca, true);
  const c = new X509Certificate(readFileSync(join(dir, 'c.crt')));
  const s = new X509Certificate(readFileSync(join(dir, 's.crt')));
  assert.ok(c.verify(caCert.publicKey) && s.verify(caCert.publicKey));
  assert.equal(c.subject, 'O=dev\nO=system:masters\nCN=jane');
  assert.deepEqual(c.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.deepEqual(s.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.equal(s.subjectAltName, 'IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:Srv.example');
  assert.equal(c.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(statSync(join(dir, 'c.key')).mode & 0o777, 0o600);
  // Only the keys, certificates and the CA's serial file are left: the scratch request and extensions are gone.
  assert.deepEqual(readdirSync(dir).sort(), ['c.crt', 'c.key', 'ca.crt', 'ca.key', 'ca.srl', 's.crt', 's.key']);
});

test('hostile subject values and names are refused before openssl runs, naming the value', async () => {
  for (const cn of ['a/O=system:masters', 'a\nb', 'x=y', 'a+CN=b', '', 'a\\', 'x'.repeat(65)]) {
    assert.throws(() => subjectText({ cn }), /certificate subject CN=/, cn);
  }
  assert.throws(() => subjectText({ cn: 'ok', o: ['system:masters/CN=admin'] }), /certificate subject O="system:masters\/CN=admin"/);
  for (const n of ['1.2.3.4,DNS:evil', 'a b', 'evil\nDNS:x', '-x.example', 'a..b', '']) {
    assert.throws(() => sanText([n]), /is neither an IP address nor a DNS name/, n);
  }
  assert.equal(sanText(['10.0.0.1', 'localhost', '10.0.0.1']), 'IP:10.0.0.1,DNS:localhost');
  const file = join(dir, 'never.crt');
  await assert.rejects(makeCert({ keyFile: join(dir, 'never.key'), certFile: file, subject: { cn: 'x' }, days: 1, sans: ['1.2.3.4,DNS:evil'] }), /neither/);
  await assert.rejects(makeCert({ keyFile: join(dir, 'never.key'), certFile: file, subject: { cn: 'x' }, days: 0 }), /at least 1/);
  assert.throws(() => statSync(file), /ENOENT/);
});
