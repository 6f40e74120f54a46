// The shared renewal loop of the agent's certificates, with real certificates: a test CA (api/certificates/issue.ts)
// signs short-lived node certificates for CSRs made by identity.ts, stored and loaded back as the agent stores
// and loads its own. Checked: renewal at the point drawn once in 70–90 % of the life (not earlier on a re-check),
// the new pair on disk and in use and handed on, back-off on refusal that starts over after a success, ready(),
// and nothing after stop. The CSR round trip through a real API server is src/server/identity.test.ts's and
// agentauth.test.ts's.
import assert from 'node:assert/strict';
import { X509Certificate, type KeyObject, createPrivateKey, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeCa } from '../api/certificates/issue.js';
import { type Certificate, OID, ext, fromPem, makeCertificate, parseCertificate, parseRequest } from '../api/certificates/x509.js';
import { CertificateManager } from './certmanager.js';
import { NODE_CLIENT_CERT, NODE_CLIENT_KEY, type NodeCredentials, loadNodeCredentials, makeNodeCsr } from './identity.js';

const NODE = 'cm-n1';
let dir: string;
let caPem: string;
let caCert: Certificate;
let caKey: KeyObject;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'k8ts-certmanager-'));
  const ca = await makeCa('certmanager-test-ca', 1);
  caPem = ca.certPem;
  caCert = parseCertificate(fromPem(caPem, 'CERTIFICATE'));
  caKey = createPrivateKey(ca.keyPem);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** What the signer would do, with a life of lifeS seconds from the current whole second (X.509 dates are
 *  whole seconds): a new key and CSR for system:node:<NODE>, signed by the test CA, stored in dataDir's pki
 *  and loaded back through loadNodeCredentials (chain, key match, name, dates checked). */
async function issue(dataDir: string, lifeS: number): Promise<NodeCredentials> {
  const { keyPem, csrPem } = await makeNodeCsr(NODE);
  const csr = parseRequest(fromPem(csrPem, 'CERTIFICATE REQUEST'));
  const notBefore = Math.floor(Date.now() / 1000) * 1000;
  const cert = makeCertificate({
    serial: Buffer.concat([Buffer.from([1]), randomBytes(8)]),
    subject: csr.subject.raw,
    issuer: caCert.subject.raw,
    notBefore: new Date(notBefore),
    notAfter: new Date(notBefore + lifeS * 1000),
    spki: csr.spki,
    signingKey: caKey,
    extensions: [ext.extKeyUsage([OID.clientAuth])],
  });
  mkdirSync(join(dataDir, 'pki'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, 'pki', NODE_CLIENT_KEY), keyPem, { mode: 0o600 });
  writeFileSync(join(dataDir, 'pki', NODE_CLIENT_CERT), cert, { mode: 0o600 });
  const got = loadNodeCredentials(dataDir, NODE, caPem);
  if ('why' in got) throw new Error(got.why);
  return got;
}

test('renews at the point drawn once in 70–90 % of the life, not at an earlier re-check; the new pair is stored, in use and handed on', async () => {
  const dataDir = join(dir, 'renew');
  const c0 = await issue(dataDir, 4);
  const asked: number[] = [];
  const got: NodeCredentials[] = [];
  // The first draw puts the renewal at 90 %; any later draw would say 70 %. Re-checks every 100 ms must keep 90 %.
  const draws = [1];
  const m = new CertificateManager({
    what: 'node client',
    nodeName: NODE,
    log: () => {},
    jitter: () => draws.shift() ?? 0,
    maxWaitMs: 100,
    onChange: (c) => got.push(c),
    request: async () => {
      asked.push(Date.now());
      return issue(dataDir, 60);
    },
  });
  try {
    m.start(c0);
    assert.equal(m.credentials, c0);
    assert.equal(await m.ready(10), true);
    const due = m.renewAt;
    assert.equal(due, c0.notBefore + 0.9 * (c0.notAfter - c0.notBefore));
    while (!got.length && Date.now() < c0.notAfter + 2000) await sleep(20);
    assert.equal(asked.length, 1, 'one request');
    assert.ok(asked[0] >= due, `asked ${asked[0] - c0.notBefore} ms into a 4000 ms life, before its 90 % point`);
    assert.ok(asked[0] < c0.notAfter, 'asked before the certificate expired');
    const c1 = got[0];
    assert.equal(m.credentials, c1, 'the new certificate is the one in use');
    assert.notEqual(c1.cert, c0.cert);
    assert.ok(new X509Certificate(c1.cert).verify(new X509Certificate(caPem).publicKey), 'signed by the CA');
    assert.equal(readFileSync(join(dataDir, 'pki', NODE_CLIENT_CERT), 'utf8'), c1.cert, 'the stored certificate is the new one');
    const stored = loadNodeCredentials(dataDir, NODE, caPem);
    assert.ok(!('why' in stored) && stored.key === c1.key, 'the stored key matches it');
    // The next renewal is c1's own (60 s life, drawn at 70 %): nothing more now.
    assert.equal(m.renewAt, c1.notBefore + 0.7 * 60_000);
  } finally {
    m.stop();
  }
});

test('a refused request is asked again with back-off, which starts over after a success; stop ends the loop', async () => {
  const dataDir = join(dir, 'backoff');
  const logs: string[] = [];
  const got: string[] = [];
  let asks = 0;
  // Asks 1 and 2 refused, 3 issues a 2 s certificate (renewed at 70 %), 4 refused, 5 issues.
  const m = new CertificateManager({
    what: 'test',
    nodeName: NODE,
    log: (l) => logs.push(l),
    retryFirstMs: 20,
    retryMaxMs: 40,
    jitter: () => 0,
    onChange: (c) => got.push(c.cert),
    request: async () => {
      asks++;
      if (asks === 1 || asks === 2 || asks === 4) throw new Error(`certificate signing request cm-${asks}: Denied: no`);
      return issue(dataDir, asks === 3 ? 2 : 60);
    },
  });
  try {
    m.start();
    assert.equal(m.credentials === undefined, true);
    assert.equal(await m.ready(2000), true);
    assert.equal(asks, 3);
    assert.equal(got.length, 1);
    const deadline = Date.now() + 4000;
    while (got.length < 2 && Date.now() < deadline) await sleep(20);
    assert.equal(asks, 5);
    assert.equal(got.length, 2);
    assert.equal(m.credentials?.cert, got[1]);
    const again = logs
      .filter((l) => l.startsWith(`k8ts agent ${NODE}: test certificate: certificate signing request cm-`))
      .map((l) => / asking again in ([\d.]+) s$/.exec(l)?.[1]);
    assert.deepEqual(again, ['0.02', '0.04', '0.02'], logs.join('\n'));
    m.stop();
    const before = asks;
    await sleep(300);
    assert.equal(asks, before, 'nothing after stop');
  } finally {
    m.stop();
  }
});

test('without a certificate in hand it asks at once; ready() says whether one came in time', async () => {
  const dataDir = join(dir, 'ready');
  let release!: () => void;
  let asks = 0;
  const m = new CertificateManager({
    what: 'test',
    nodeName: NODE,
    log: () => {},
    onChange: () => {},
    request: async () => {
      asks++;
      await new Promise<void>((r) => (release = r));
      return issue(dataDir, 60);
    },
  });
  try {
    m.start();
    assert.equal(await m.ready(50), false);
    assert.equal(m.credentials === undefined, true);
    assert.equal(asks, 1);
    release();
    assert.equal(await m.ready(2000), true);
    assert.match(m.credentials?.cert ?? '', /BEGIN CERTIFICATE/);
    assert.equal(asks, 1);
  } finally {
    m.stop();
  }
});
