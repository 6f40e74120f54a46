// CertificateSigningRequests against a started k8ts server with the real kubectl and openssl-made
// requests: approve → signed by the cluster CA → the certificate authenticates; deny; node client
// requests from a bootstrapper approved automatically; hostile requests refused with 422 naming the field.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type TestServer } from './harness.js';

const BOOTSTRAP_TOKEN = 'b0075tr4p-70k3n-0f-7h3-73s7-bootstrapper';
const VIEWER_TOKEN = 'v1ew3r-70k3n-0f-7h3-csr-73s7-viewer';

function openssl(args: string[], input?: string): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe('certificatesigningrequests', () => {
  let s: TestServer;
  let dir: string;
  /** A new P-256 key and a PEM request for SUBJ (with optional -addext lines). */
  const request = (name: string, subj: string, addext: string[] = []) => {
    const key = join(dir, `${name}.key`);
    openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      join(dir, `${name}.csr`),
      '-subj',
      subj,
      ...addext.flatMap((e) => ['-addext', e]),
    ]);
    return { key: readFileSync(key, 'utf8'), csr: readFileSync(join(dir, `${name}.csr`), 'utf8') };
  };
  const manifest = (name: string, pem: string, signer: string, usages: string[]) =>
    JSON.stringify({
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name },
      spec: { request: Buffer.from(pem).toString('base64'), signerName: signer, usages, username: 'forged-user', groups: ['system:masters'] },
    });
  const kubeconfigAs = (name: string, user: string) => {
    const text = readFileSync(s.kubeconfig, 'utf8').replace(/ {4}client-certificate-data: \S+\n {4}client-key-data: \S+\n/, `    ${user}\n`);
    const p = join(dir, `${name}.kubeconfig`);
    writeFileSync(p, text);
    return p;
  };
  const getCsr = async (name: string) => {
    const r = await s.kubectl(['get', 'csr', name, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const waitFor = async <T>(what: string, f: () => Promise<T | undefined>): Promise<T> => {
    for (let i = 0; i < 100; i++) {
      const v = await f();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const whoami = async (kubeconfig: string) => {
    const r = await s.kubectl(['create', '-f', '-', '-o', 'json'], {
      input: 'apiVersion: authentication.k8s.io/v1\nkind: SelfSubjectReview\n',
      env: { KUBECONFIG: kubeconfig },
    });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).status.userInfo as { username: string; groups: string[] };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k8ts-csr-'));
    const tokens = join(dir, 'tokens.csv');
    writeFileSync(tokens, `${BOOTSTRAP_TOKEN},system:bootstrap:abcdef,boot-uid,"system:bootstrappers"\n${VIEWER_TOKEN},csr-viewer,viewer-uid\n`);
    s = await startServer({ extraArgs: ['--token-auth-file', tokens] });
  });
  after(async () => {
    await s?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('approve: the cluster CA signs a kube-apiserver-client request and the certificate authenticates as its CN and O', async () => {
    const r = request('dave', '/O=ops/CN=dave');
    const c = await s.kubectl(['create', '-f', '-'], {
      input: manifest('dave', r.csr, 'kubernetes.io/kube-apiserver-client', ['client auth', 'digital signature']),
    });
    assert.equal(c.code, 0, c.stderr);
    const created = await getCsr('dave');
    // The requester is who authenticated, not what the body claimed.
    assert.equal(created.spec.username, 'kubernetes-admin');
    assert.deepEqual(created.spec.groups, ['system:masters', 'system:authenticated']);
    assert.equal(created.status?.certificate, undefined);
    const listed = await s.kubectl(['get', 'csr', 'dave']);
    assert.match(listed.stdout, /dave\s+\S+\s+kubernetes.io\/kube-apiserver-client\s+kubernetes-admin\s+<none>\s+Pending/);
    const a = await s.kubectl(['certificate', 'approve', 'dave']);
    assert.equal(a.code, 0, a.stderr);
    const cert = await waitFor('the certificate', async () => (await getCsr('dave')).status?.certificate as string | undefined);
    const pem = Buffer.from(cert, 'base64').toString();
    openssl(['verify', '-CAfile', join(s.dataDir, 'pki/ca.crt'), '-purpose', 'sslclient'], pem);
    const text = openssl(['x509', '-noout', '-subject', '-ext', 'extendedKeyUsage'], pem);
    assert.match(text, /O ?= ?ops, CN ?= ?dave/);
    assert.match(text, /TLS Web Client Authentication/);
    const b64 = (x: string) => Buffer.from(x).toString('base64');
    const u = await whoami(kubeconfigAs('dave', `client-certificate-data: ${b64(pem)}\n    client-key-data: ${b64(r.key)}`));
    assert.equal(u.username, 'dave');
    assert.deepEqual(u.groups, ['ops', 'system:authenticated']);
    assert.match((await s.kubectl(['get', 'csr', 'dave'])).stdout, /Approved,Issued/);
    // Approved stays approved: /status may not drop it.
    const st = await s.kubectl(['get', 'csr', 'dave', '-o', 'jsonpath={.status.conditions[0].type}']);
    assert.equal(st.stdout, 'Approved');
  });

  test('deny: no certificate is issued, and Approved and Denied exclude each other', async () => {
    const r = request('eve', '/CN=eve');
    assert.equal((await s.kubectl(['create', '-f', '-'], { input: manifest('eve', r.csr, 'kubernetes.io/kube-apiserver-client', ['client auth']) })).code, 0);
    const d = await s.kubectl(['certificate', 'deny', 'eve']);
    assert.equal(d.code, 0, d.stderr);
    const got = await getCsr('eve');
    assert.deepEqual(
      got.status.conditions.map((c: { type: string }) => c.type),
      ['Denied'],
    );
    await new Promise((res) => setTimeout(res, 500));
    assert.equal((await getCsr('eve')).status.certificate, undefined);
    const both = await s.kubectl(['certificate', 'approve', 'eve']);
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /Approved and Denied conditions are mutually exclusive|already denied/i);
  });

  test("a bootstrapper's node client request is approved and signed automatically; the node authenticates as system:node:<name>", async () => {
    const bind = await s.kubectl([
      'create',
      'clusterrolebinding',
      'csr-test-bootstrap',
      '--clusterrole=system:node-bootstrapper',
      '--group=system:bootstrappers',
    ]);
    assert.equal(bind.code, 0, bind.stderr);
    const boot = kubeconfigAs('boot', `token: ${BOOTSTRAP_TOKEN}`);
    const r = request('node1', '/O=system:nodes/CN=system:node:node1');
    const c = await s.kubectl(['create', '-f', '-'], {
      input: manifest('node-csr-1', r.csr, 'kubernetes.io/kube-apiserver-client-kubelet', ['digital signature', 'client auth']),
      env: { KUBECONFIG: boot },
    });
    assert.equal(c.code, 0, c.stderr);
    const cert = await waitFor('the node certificate', async () => (await getCsr('node-csr-1')).status?.certificate as string | undefined);
    const got = await getCsr('node-csr-1');
    assert.equal(got.spec.username, 'system:bootstrap:abcdef');
    const approved = got.status.conditions.find((x: { type: string }) => x.type === 'Approved');
    assert.equal(approved.reason, 'AutoApproved');
    const b64 = (x: string) => Buffer.from(x).toString('base64');
    const u = await whoami(kubeconfigAs('node1', `client-certificate-data: ${cert}\n    client-key-data: ${b64(r.key)}`));
    assert.equal(u.username, 'system:node:node1');
    assert.deepEqual(u.groups, ['system:nodes', 'system:authenticated']);
  });

  test('a node client request from someone not allowed nodeclient stays pending', async () => {
    const bind = await s.kubectl(['create', 'clusterrolebinding', 'csr-test-viewer', '--clusterrole=system:node-bootstrapper', '--user=csr-viewer']);
    assert.equal(bind.code, 0, bind.stderr);
    const r = request('node2', '/O=system:nodes/CN=system:node:node2');
    const c = await s.kubectl(['create', '-f', '-'], {
      input: manifest('node-csr-2', r.csr, 'kubernetes.io/kube-apiserver-client-kubelet', ['digital signature', 'client auth']),
      env: { KUBECONFIG: kubeconfigAs('viewer', `token: ${VIEWER_TOKEN}`) },
    });
    assert.equal(c.code, 0, c.stderr);
    await new Promise((res) => setTimeout(res, 1000));
    const got = await getCsr('node-csr-2');
    assert.equal(got.status?.conditions, undefined);
    assert.equal(got.status?.certificate, undefined);
  });

  test('approving takes approve on the signer, not only update on /approval', async () => {
    const r = request('gina', '/CN=gina');
    assert.equal((await s.kubectl(['create', '-f', '-'], { input: manifest('gina', r.csr, 'kubernetes.io/kube-apiserver-client', ['client auth']) })).code, 0);
    for (const a of [
      [
        'create',
        'clusterrole',
        'csr-test-approval',
        '--verb=get,list,update,patch',
        '--resource=certificatesigningrequests,certificatesigningrequests.certificates.k8s.io/approval',
      ],
      ['create', 'clusterrolebinding', 'csr-test-approval', '--clusterrole=csr-test-approval', '--user=csr-viewer'],
    ]) {
      const c = await s.kubectl(a);
      assert.equal(c.code, 0, c.stderr);
    }
    const viewer = kubeconfigAs('approver', `token: ${VIEWER_TOKEN}`);
    const no = await s.kubectl(['certificate', 'approve', 'gina'], { env: { KUBECONFIG: viewer } });
    assert.notEqual(no.code, 0);
    assert.match(no.stderr, /user not permitted to approve requests with signerName "kubernetes.io\/kube-apiserver-client"/);
    assert.equal((await getCsr('gina')).status?.conditions, undefined);
    const b = await s.kubectl([
      'create',
      'clusterrolebinding',
      'csr-test-signer',
      '--clusterrole=system:certificates.k8s.io:kube-apiserver-client-approver',
      '--user=csr-viewer',
    ]);
    assert.equal(b.code, 0, b.stderr);
    const yes = await waitFor('approval allowed', async () => {
      const x = await s.kubectl(['certificate', 'approve', 'gina'], { env: { KUBECONFIG: viewer } });
      return x.code === 0 ? x : undefined;
    });
    assert.match(yes.stdout, /approved/);
  });

  test('hostile requests are refused with 422 naming the field', async () => {
    const create = (name: string, body: string) => s.kubectl(['create', '-f', '-'], { input: body.replace('"name":"x"', `"name":"${name}"`) });
    const good = request('h', '/O=system:nodes/CN=system:node:h');
    const cases: [string, string, RegExp][] = [
      [
        'bad-pem',
        manifest('x', '-----BEGIN CERTIFICATE REQUEST-----\nnot base64 at all!\n-----END CERTIFICATE REQUEST-----\n', 'kubernetes.io/kube-apiserver-client', [
          'client auth',
        ]),
        /spec\.request: Invalid value/,
      ],
      [
        'garbage-der',
        manifest('x', '-----BEGIN CERTIFICATE REQUEST-----\nAAAAAAAA\n-----END CERTIFICATE REQUEST-----\n', 'kubernetes.io/kube-apiserver-client', [
          'client auth',
        ]),
        /spec\.request: Invalid value: .*PKCS#10/,
      ],
      [
        'a-cert',
        manifest('x', readFileSync(join(s.dataDir, 'pki/ca.crt'), 'utf8'), 'kubernetes.io/kube-apiserver-client', ['client auth']),
        /spec\.request: .*PEM block type must be CERTIFICATE REQUEST, not CERTIFICATE/,
      ],
      [
        'wrong-cn',
        manifest('x', request('w', '/O=system:nodes/CN=alice').csr, 'kubernetes.io/kube-apiserver-client-kubelet', ['digital signature', 'client auth']),
        /spec\.request: Invalid value: "alice": common name must begin with "system:node:"/,
      ],
      [
        'wrong-o',
        manifest('x', request('o', '/O=system:masters/CN=system:node:h').csr, 'kubernetes.io/kube-apiserver-client-kubelet', [
          'digital signature',
          'client auth',
        ]),
        /spec\.request: .*organization must be \["system:nodes"\]/,
      ],
      [
        'with-san',
        manifest(
          'x',
          request('san', '/O=system:nodes/CN=system:node:h', ['subjectAltName=DNS:evil.example']).csr,
          'kubernetes.io/kube-apiserver-client-kubelet',
          ['digital signature', 'client auth'],
        ),
        /spec\.request: .*subject alternative names are not allowed/,
      ],
      [
        'server-usage',
        manifest('x', good.csr, 'kubernetes.io/kube-apiserver-client-kubelet', ['digital signature', 'server auth']),
        /spec\.usages: Invalid value/,
      ],
      [
        'client-server',
        manifest('x', request('cs', '/CN=frank').csr, 'kubernetes.io/kube-apiserver-client', ['client auth', 'server auth']),
        /spec\.usages: Invalid value/,
      ],
      [
        'unknown-usage',
        manifest('x', good.csr, 'kubernetes.io/kube-apiserver-client-kubelet', ['root shell']),
        /spec\.usages\[0\]: Unsupported value: "root shell"/,
      ],
      ['no-usages', manifest('x', good.csr, 'kubernetes.io/kube-apiserver-client-kubelet', []), /spec\.usages: Required value/],
      ['bad-signer', manifest('x', good.csr, 'not a signer', ['client auth']), /spec\.signerName: Invalid value: "not a signer"/],
    ];
    for (const [name, body, want] of cases) {
      const r = await create(`hostile-${name}`, body);
      assert.notEqual(r.code, 0, name);
      assert.match(r.stderr, /is invalid/, name);
      assert.match(r.stderr, want, `${name}: ${r.stderr}`);
      assert.equal((await s.kubectl(['get', 'csr', `hostile-${name}`])).code, 1, `${name} was stored`);
    }
    // The raw code is 422 with reason Invalid and the field in the causes.
    const raw = await s.kubectl(['create', '-f', '-', '-v=6'], { input: cases[0][1].replace('"name":"x"', '"name":"hostile-raw"') });
    assert.match(raw.stderr, /422 Unprocessable Entity/);
  });
});
