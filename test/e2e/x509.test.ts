// Client certificates against a started k8ts server: the admin kubeconfig's certificate with kubectl
// 1.27/1.32/1.33, client-node and python3-kubernetes; a user's CN and O reaching RBAC; certificates
// from another CA, without clientAuth or without a CN refused with 401; the token kubeconfig kept.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startServer, type TestServer } from './harness.js';

/** Debian's python3-kubernetes (importing python.test would run its suite here too). */
const PYTHON = '/usr/bin/python3';
const pythonSkip = () =>
  existsSync('/usr/lib/python3/dist-packages/kubernetes/__init__.py') ? false : 'python3-kubernetes is not installed (make setup installs it)';

const SSR = 'apiVersion: authentication.k8s.io/v1\nkind: SelfSubjectReview\n';

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

describe('client certificates', () => {
  let s: TestServer;
  let dir: string;
  let ca: string;
  /** A key and certificate for SUBJ signed by the CA at CAKEY/CACRT with the given extensions. */
  const issue = (name: string, subj: string, caCrt: string, caKey: string, ext = 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n') => {
    const key = join(dir, `${name}.key`);
    const crt = join(dir, `${name}.crt`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', join(dir, `${name}.csr`), '-subj', subj]);
    openssl([
      'x509',
      '-req',
      '-in',
      join(dir, `${name}.csr`),
      '-CA',
      caCrt,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      crt,
      '-days',
      '1',
      '-extfile',
      join(dir, `${name}.ext`),
    ]);
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(crt, 'utf8') };
  };
  /** A kubeconfig for the server whose user is the given certificate. */
  const certKubeconfig = (name: string, c: { key: string; cert: string }) => {
    const p = join(dir, `${name}.kubeconfig`);
    const b64 = (x: string) => Buffer.from(x).toString('base64');
    writeFileSync(
      p,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: ${s.url}\n    certificate-authority-data: ${b64(ca)}\n` +
        `users:\n- name: u\n  user:\n    client-certificate-data: ${b64(c.cert)}\n    client-key-data: ${b64(c.key)}\n` +
        'contexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n',
    );
    return p;
  };
  /** One GET presenting CERT (no token); the status code and body. */
  const get = (path: string, c?: { key: string; cert: string }) =>
    new Promise<{ code: number; body: string }>((resolve, reject) => {
      const u = new URL(s.url);
      const req = request({ host: u.hostname, port: u.port, path, ca, ...(c ?? {}), agent: false }, (res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  const whoami = async (kubeconfig: string, version = '1.32') => {
    const r = await s.kubectl(['create', '-f', '-', '-o', 'json'], { version, input: SSR, env: { KUBECONFIG: kubeconfig } });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).status.userInfo as { username: string; groups: string[] };
  };

  before(async () => {
    s = await startServer();
    dir = mkdtempSync(join(tmpdir(), 'k8ts-x509-'));
    ca = readFileSync(join(s.dataDir, 'pki/ca.crt'), 'utf8');
  });
  after(async () => {
    await s?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the admin kubeconfig carries a client certificate: kubernetes-admin in system:masters, with kubectl 1.27, 1.32 and 1.33', async () => {
    const text = readFileSync(s.kubeconfig, 'utf8');
    assert.match(text, /client-certificate-data: /);
    assert.doesNotMatch(text, /token:/);
    for (const v of ['1.27', '1.32', '1.33']) {
      const u = await whoami(s.kubeconfig, v);
      assert.equal(u.username, 'kubernetes-admin', v);
      assert.deepEqual(u.groups, ['system:masters', 'system:authenticated'], v);
      const ns = await s.kubectl(['get', 'namespaces', '-o', 'name'], { version: v });
      assert.equal(ns.code, 0, ns.stderr);
      assert.match(ns.stdout, /namespace\/kube-system/);
    }
    const w = await s.kubectl(['auth', 'whoami'], { version: '1.33' });
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /Username\s+kubernetes-admin/);
    assert.match(w.stdout, /Groups\s+\[system:masters system:authenticated\]/);
  });

  test('the token kubeconfig is kept beside it', async () => {
    const u = await whoami(join(s.dataDir, 'kubeconfig-token'));
    assert.notEqual(u.username, 'kubernetes-admin');
    assert.ok(u.groups.includes('system:masters'));
  });

  test('client-node reads the certificate kubeconfig', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(s.kubeconfig);
    const list = await kc.makeApiClient(k8s.CoreV1Api).listNamespace();
    assert.ok(list.items.some((n) => n.metadata?.name === 'default'));
    const review = await kc
      .makeApiClient(k8s.AuthenticationV1Api)
      .createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    assert.equal(review.status?.userInfo?.username, 'kubernetes-admin');
  });

  test('python3-kubernetes reads the certificate kubeconfig', { skip: pythonSkip() }, () => {
    const script =
      'import sys\nfrom kubernetes import client, config\nconfig.load_kube_config(sys.argv[1])\n' +
      'print(sorted(n.metadata.name for n in client.CoreV1Api().list_namespace().items))\n';
    const r = spawnSync(PYTHON, ['-c', script, s.kubeconfig], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /'kube-system'/);
  });

  test('a user certificate: CN is the user, each O a group, and RBAC decides with them', async () => {
    const alice = issue('alice', '/O=dev/O=qa/CN=alice', join(s.dataDir, 'pki/ca.crt'), join(s.dataDir, 'pki/ca.key'));
    const kc = certKubeconfig('alice', alice);
    const u = await whoami(kc);
    assert.equal(u.username, 'alice');
    assert.deepEqual(u.groups, ['dev', 'qa', 'system:authenticated']);
    const denied = await s.kubectl(['get', 'pods', '-n', 'default'], { env: { KUBECONFIG: kc } });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /User "alice" cannot list resource "pods" in API group "" in the namespace "default"/);
    const bind = await s.kubectl(['create', 'rolebinding', 'dev-view', '-n', 'default', '--clusterrole=view', '--group=dev']);
    assert.equal(bind.code, 0, bind.stderr);
    // The binding reaches the authorizer through its informer: poll briefly.
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      ok = (await s.kubectl(['get', 'pods', '-n', 'default'], { env: { KUBECONFIG: kc } })).code === 0;
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(ok, 'the group dev bound to view may list pods');
    const del = await s.kubectl(['delete', 'rolebinding', 'dev-view', '-n', 'default'], { env: { KUBECONFIG: kc } });
    assert.match(del.stderr, /User "alice" cannot delete/);
  });

  test('a certificate from another CA is refused with 401, even naming kubernetes-admin in system:masters', async () => {
    const otherKey = join(dir, 'other-ca.key');
    const otherCrt = join(dir, 'other-ca.crt');
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      otherKey,
      '-out',
      otherCrt,
      '-days',
      '1',
      '-subj',
      '/CN=k8ts-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    const forged = issue('forged', '/O=system:masters/CN=kubernetes-admin', otherCrt, otherKey);
    const r = await get('/api/v1/namespaces', forged);
    assert.equal(r.code, 401);
    assert.equal(JSON.parse(r.body).reason, 'Unauthorized');
    // Offered credentials that fail are a 401 even where anonymous requests are allowed (/version).
    assert.equal((await get('/version', forged)).code, 401);
    assert.equal((await get('/version')).code, 200);
    const k = await s.kubectl(['get', 'namespaces'], { env: { KUBECONFIG: certKubeconfig('forged', forged) } });
    assert.notEqual(k.code, 0);
    assert.match(k.stderr, /Unauthorized/);
  });

  test('certificates of the cluster CA not for client auth, or without a CN, are refused with 401', async () => {
    const pkiCrt = join(s.dataDir, 'pki/ca.crt');
    const pkiKey = join(s.dataDir, 'pki/ca.key');
    const serverOnly = issue('serveronly', '/O=system:masters/CN=mallory', pkiCrt, pkiKey, 'extendedKeyUsage=serverAuth\n');
    assert.equal((await get('/api/v1/namespaces', serverOnly)).code, 401);
    const noCn = issue('nocn', '/O=system:masters', pkiCrt, pkiKey);
    assert.equal((await get('/api/v1/namespaces', noCn)).code, 401);
    // The same CA's proper client certificate passes the same path.
    const ok = issue('ok', '/O=system:masters/CN=carol', pkiCrt, pkiKey);
    assert.equal((await get('/api/v1/namespaces', ok)).code, 200);
  });
});
