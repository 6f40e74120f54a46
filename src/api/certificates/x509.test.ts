// x509.ts and der.ts against openssl: requests openssl makes (EC, RSA, Ed25519; every kind of alternative
// name) read and verified here, and certificates and requests made here read and verified by openssl; the
// DER reader's refusals of what DER does not allow, and a request mutated byte by byte never read any other way
// than as a DerError or a request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DerError, readElement, readOid, readOnly, children } from './der.js';
import { EC_KEY, openssl, opensslCsr } from './testkit.js';
import { KEY_USAGE, OID, encodeName, ext, fromPem, makeCertificate, makeRequest, parseCertificate, parseRequest, spkiOf, verifyRequest } from './x509.js';

let dir: string;
function opensslCsrDer(name: string, subj: string, newkey: string[], addext: string[] = []): Buffer {
  return fromPem(opensslCsr(dir, name, subj, newkey, addext), 'CERTIFICATE REQUEST');
}
const EC = EC_KEY;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'k8ts-x509-unit-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('requests openssl makes with EC, RSA and Ed25519 keys are read and their signatures verified', () => {
  for (const [name, key] of [
    ['ec', EC],
    ['p384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1', '-sha384']],
    ['rsa', ['-newkey', 'rsa:2048']],
    ['ed', ['-newkey', 'ed25519']],
  ] as const) {
    const r = parseRequest(opensslCsrDer(name, '/O=a/O=b/OU=ignored/CN=user-1', [...key]));
    assert.deepEqual(r.subject.commonNames, ['user-1'], name);
    assert.deepEqual(r.subject.organizations, ['a', 'b'], name);
    assert.equal(verifyRequest(r), true, name);
    const bad = Buffer.from(r.signature);
    bad[bad.length >> 1] ^= 0x01;
    assert.equal(verifyRequest({ ...r, signature: bad }), false, `${name}: a changed signature`);
    assert.equal(
      verifyRequest({ ...r, info: Buffer.concat([r.info.subarray(0, -1), Buffer.from([r.info[r.info.length - 1] ^ 1])]) }),
      false,
      `${name}: changed contents`,
    );
  }
});

test('every kind of alternative name in a request: DNS, IPv4, IPv6 (printed as Go prints it), email, URI, and others as "other"', () => {
  const r = parseRequest(
    opensslCsrDer('sans', '/CN=s', EC, [
      'subjectAltName=DNS:a.example,IP:192.0.2.7,IP:2001:db8:0:0:1:0:0:1,IP:::ffff:192.0.2.1,IP:::,email:x@example.com,URI:spiffe://c/ns/a,RID:1.2.3.4,otherName:1.2.3.4;UTF8:x',
    ]),
  );
  assert.deepEqual(
    r.altNames.map((n) => `${n.type}:${n.value}`),
    [
      'dns:a.example',
      'ip:192.0.2.7',
      'ip:2001:db8::1:0:0:1',
      'ip:::ffff:c000:201',
      'ip:::',
      'email:x@example.com',
      'uri:spiffe://c/ns/a',
      'other:[8]',
      'other:[0]',
    ],
  );
});

test('a certificate made here: openssl verifies the chain and reads its subject, usages, names and dates past 2049', () => {
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caName = encodeName('x509-test-ca');
  const caSpki = spkiOf(ca.publicKey);
  const caPem = makeCertificate({
    serial: randomBytes(16),
    issuer: caName,
    subject: caName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date('2051-01-02T03:04:05Z'),
    spki: caSpki,
    extensions: [ext.basicConstraints(true), ext.keyUsage([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]), ext.subjectKeyId(caSpki)],
    signingKey: ca.privateKey,
  });
  const caCert = parseCertificate(fromPem(caPem, 'CERTIFICATE'));
  assert.deepEqual(caCert.subject.commonNames, ['x509-test-ca']);
  assert.equal(new X509Certificate(caPem).validTo, 'Jan  2 03:04:05 2051 GMT');
  writeFileSync(join(dir, 'ca.crt'), caPem);
  const leaf = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = makeCertificate({
    serial: Buffer.from([0xff, 1, 2]),
    issuer: caCert.subject.raw,
    subject: encodeName('leaf', ['g1', 'g2']),
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    spki: spkiOf(leaf.publicKey),
    extensions: [
      ext.keyUsage([KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment, KEY_USAGE.decipherOnly]),
      ext.extKeyUsage([OID.serverAuth, OID.clientAuth]),
      ext.subjectAltName([
        { type: 'dns', value: 'leaf.example' },
        { type: 'ip', value: '10.1.2.3' },
        { type: 'ip', value: 'fd00::1' },
        { type: 'ip', value: '::ffff:10.0.0.1' },
      ]),
      ext.authorityKeyId(caCert.subjectKeyId!),
    ],
    signingKey: ca.privateKey,
  });
  assert.match(openssl(['verify', '-CAfile', join(dir, 'ca.crt'), '-purpose', 'sslserver'], pem), /OK/);
  const text = openssl(['x509', '-noout', '-text'], pem);
  assert.match(text, /Subject: O ?= ?g1, O ?= ?g2, CN ?= ?leaf/);
  assert.match(text, /Serial Number: 8323330 \(0x7f0102\)/, 'the serial is made positive');
  assert.match(text, /Digital Signature, Key Encipherment, Decipher Only/);
  assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(text, /DNS:leaf\.example, IP Address:10\.1\.2\.3, IP Address:FD00:0:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:A00:1/);
  const caText = openssl(['x509', '-noout', '-text'], caPem);
  assert.match(caText, /CA:TRUE/);
  assert.match(caText, /Certificate Sign, CRL Sign/);
  assert.match(caText, /Not After : Jan {2}2 03:04:05 2051 GMT/);
});

test('a request made here: openssl verifies its signature and reads its subject and names', () => {
  const k = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = makeRequest(encodeName('system:node:n1', ['system:nodes']), k.privateKey, k.publicKey, [
    ext.subjectAltName([
      { type: 'dns', value: 'n1' },
      { type: 'ip', value: '172.30.0.2' },
    ]),
  ]);
  const text = spawnSync('openssl', ['req', '-verify', '-noout', '-text'], { encoding: 'utf8', input: pem });
  assert.equal(text.status, 0, text.stderr);
  assert.match(`${text.stdout}${text.stderr}`, /verify OK/i);
  assert.match(text.stdout, /Subject: O ?= ?system:nodes, CN ?= ?system:node:n1/);
  assert.match(text.stdout, /DNS:n1, IP Address:172\.30\.0\.2/);
  // Without extensions the attributes are present and empty, as RFC 2986 wants.
  const plain = makeRequest(encodeName('u'), k.privateKey, k.publicKey);
  const r = parseRequest(fromPem(plain, 'CERTIFICATE REQUEST'));
  assert.equal(verifyRequest(r), true);
  assert.deepEqual(r.altNames, []);
});

test('the DER reader refuses what DER does not allow, naming the offset', () => {
  const cases: [string, number[], RegExp][] = [
    ['indefinite length', [0x30, 0x80, 0, 0], /indefinite length at offset 0/],
    ['long form for a short length', [0x04, 0x81, 0x05, 1, 2, 3, 4, 5], /not in its shortest form/],
    ['a zero in front of a long length', [0x04, 0x82, 0x00, 0x81, ...new Array(0x81).fill(0)], /not in its shortest form/],
    ['a length of 5 bytes', [0x04, 0x85, 1, 1, 1, 1, 1], /a length of 5 bytes/],
    ['high tag number', [0x1f, 0x81, 0x01, 0], /high tag number/],
    ['past the end', [0x30, 0x05, 0x02, 0x01], /runs past its container/],
    ['truncated', [0x30], /truncated element/],
  ];
  for (const [name, bytes, re] of cases)
    assert.throws(
      () => readOnly(Buffer.from(bytes)),
      (e: Error) => e instanceof DerError && re.test(e.message),
      name,
    );
  assert.throws(() => readOnly(Buffer.from([0x05, 0x00, 0x05, 0x00])), /2 bytes after the outermost element/);
  // A child running past its parent, though inside the input.
  assert.throws(() => children(readElement(Buffer.from([0x30, 0x02, 0x04, 0x05, 1, 2, 3, 4, 5]))), /offset 2 runs past its container/);
  assert.throws(() => readOid(readOnly(Buffer.from([0x06, 0x02, 0x80, 0x01]))), /padded arc/);
  assert.throws(() => readOid(readOnly(Buffer.from([0x06, 0x02, 0x2a, 0x86]))), /ends inside an arc/);
  assert.throws(() => readOid(readOnly(Buffer.from([0x06, 0x09, 0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]))), /arc too large/);
  assert.equal(readOid(readOnly(Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x11]))), OID.subjectAltName);
});

test('a request mutated byte by byte, or cut short, is read as a request or refused as DER: never anything else', () => {
  const good = opensslCsrDer('fuzz', '/O=o/CN=c', EC, ['subjectAltName=DNS:f.example,IP:10.0.0.1,email:a@b']);
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(good);
    const n = 1 + (i % 3);
    for (let j = 0; j < n; j++) b[(i * 7919 + j * 104729) % b.length] = (i * 31 + j * 17) & 0xff;
    const cut = i % 5 === 0 ? b.subarray(0, (i * 13) % b.length) : b;
    try {
      const r = parseRequest(cut);
      verifyRequest(r);
    } catch (e) {
      assert.ok(e instanceof DerError, `mutation ${i}: ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
      refused++;
    }
  }
  assert.ok(refused > 1000, `${refused} of 3000 refused`);
});
