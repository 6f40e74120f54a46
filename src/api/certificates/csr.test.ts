// The CSR parser, the client signers' rules and the CA signer, with requests and checks made by openssl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC_KEY, openssl, opensslCsr } from './testkit.js';
import { CaSigner, SIGNER_APISERVER_CLIENT, SIGNER_KUBELET_CLIENT, parseCsrPem, signerRules, verifyCsrSignature } from './csr.js';

let dir: string;
function csr(name: string, subj: string, opts: { rsa?: boolean; addext?: string[] } = {}): string {
  return opensslCsr(dir, name, subj, opts.rsa ? ['-newkey', 'rsa:2048'] : EC_KEY, opts.addext);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'k8ts-csr-unit-'));
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=test-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('parses subject, organizations and SANs of EC and RSA requests, and verifies their signatures', async () => {
  const p = parseCsrPem(csr('n', '/O=system:nodes/CN=system:node:n1'));
  assert.equal(p.commonName, 'system:node:n1');
  assert.deepEqual(p.organizations, ['system:nodes']);
  assert.deepEqual(p.sans, []);
  assert.equal(await verifyCsrSignature(p), true);
  const r = parseCsrPem(csr('r', '/O=a/O=b/CN=rsa-user', { rsa: true, addext: ['subjectAltName=DNS:x.example,IP:192.0.2.1'] }));
  assert.deepEqual(r.organizations, ['a', 'b']);
  assert.deepEqual(r.sans, ['dns:x.example', 'ip:192.0.2.1']);
  assert.equal(await verifyCsrSignature(r), true);
});

test('a request whose signature does not match its key fails verification', async () => {
  const pem = csr('t', '/CN=tampered');
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 5] ^= 0xff; // inside the signature bits
  const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  assert.equal(await verifyCsrSignature(parseCsrPem(bad)), false);
});

test('hostile PEM is refused with a message naming what is wrong', () => {
  assert.throws(() => parseCsrPem(''), /PEM block type must be CERTIFICATE REQUEST/);
  assert.throws(() => parseCsrPem(readFileSync(join(dir, 'ca.crt'), 'utf8')), /must be CERTIFICATE REQUEST, not CERTIFICATE/);
  assert.throws(() => parseCsrPem('-----BEGIN CERTIFICATE REQUEST-----\n$(reboot)\n-----END CERTIFICATE REQUEST-----'), /not base64/);
  assert.throws(() => parseCsrPem('-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----'), /not a PKCS#10 certificate request/);
  // Two users in one subject would be read one way by one reader and another way by the next.
  assert.throws(() => parseCsrPem(csr('cn2', '/O=system:nodes/CN=system:node:a/CN=system:node:b')), /2 common names; at most one is allowed/);
});

test('the kubelet client signer: O exactly system:nodes, CN system:node:<name>, no SANs, client usages only', () => {
  const ok = parseCsrPem(csr('k', '/O=system:nodes/CN=system:node:k'));
  assert.deepEqual(signerRules(SIGNER_KUBELET_CLIENT, ok, ['digital signature', 'client auth']), []);
  assert.deepEqual(signerRules(SIGNER_KUBELET_CLIENT, ok, ['key encipherment', 'digital signature', 'client auth']), []);
  const fields = (signer: string, p: ReturnType<typeof parseCsrPem>, u: string[]) => signerRules(signer, p, u).map((e) => e.field);
  assert.deepEqual(fields(SIGNER_KUBELET_CLIENT, ok, ['digital signature', 'server auth']), ['spec.usages']);
  assert.deepEqual(fields(SIGNER_KUBELET_CLIENT, parseCsrPem(csr('k2', '/O=system:nodes/CN=alice')), ['digital signature', 'client auth']), ['spec.request']);
  assert.deepEqual(
    fields(SIGNER_KUBELET_CLIENT, parseCsrPem(csr('k3', '/O=system:nodes/O=system:masters/CN=system:node:k')), ['digital signature', 'client auth']),
    ['spec.request'],
  );
  assert.deepEqual(fields(SIGNER_KUBELET_CLIENT, parseCsrPem(csr('k4', '/O=system:nodes/CN=system:node:')), ['digital signature', 'client auth']), [
    'spec.request',
  ]);
  assert.deepEqual(
    fields(SIGNER_KUBELET_CLIENT, parseCsrPem(csr('k5', '/O=system:nodes/CN=system:node:k', { addext: ['subjectAltName=DNS:k'] })), [
      'digital signature',
      'client auth',
    ]),
    ['spec.request'],
  );
  assert.deepEqual(fields(SIGNER_APISERVER_CLIENT, ok, ['client auth', 'server auth']), ['spec.usages']);
  assert.deepEqual(fields(SIGNER_APISERVER_CLIENT, ok, ['digital signature']), ['spec.usages']);
  assert.deepEqual(fields('example.com/other', ok, ['server auth']), []);
});

test('the CA signs a client certificate openssl verifies for client use, with the subject and only the usages asked', async () => {
  const signer = await CaSigner.load(readFileSync(join(dir, 'ca.crt'), 'utf8'), readFileSync(join(dir, 'ca.key'), 'utf8'));
  const p = parseCsrPem(csr('s', '/O=ops/CN=dave', { addext: ['subjectAltName=DNS:dropped.example'] }));
  const pem = await signer.sign(p, ['digital signature', 'client auth'], 3600);
  openssl(['verify', '-CAfile', join(dir, 'ca.crt'), '-purpose', 'sslclient'], pem);
  const text = openssl(['x509', '-noout', '-text'], pem);
  assert.match(text, /Subject: O ?= ?ops, CN ?= ?dave/);
  assert.match(text, /TLS Web Client Authentication/);
  assert.doesNotMatch(text, /TLS Web Server Authentication|dropped\.example/);
  assert.match(text, /CA:FALSE/);
  // Capped by the CA's own expiry (2 days) even when a year is asked.
  const long = await signer.sign(p, ['client auth'], 365 * 86400);
  const end = new Date(openssl(['x509', '-noout', '-enddate'], long).trim().replace('notAfter=', '')).getTime();
  assert.ok(end - Date.now() < 3 * 86400_000);
});
