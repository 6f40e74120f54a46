// Node identities end to end: a lab's agents join with a bootstrap token (their CSRs approved
// automatically, shown by kubectl get csr), run pods as system:node:<name>, and a node's identity is
// refused another node's Secret (403) while it reads its own pod's.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { busybox, clusterFixture, sh, skip } from './clusterkit.js';
import type { CertificateSigningRequestList } from 'kubernetes-types/certificates/v1.js';

describe('agents join with a bootstrap token and hold their own identities', { skip }, () => {
  const cluster = clusterFixture('join');

  test("kubectl get csr shows each node's client CSR approved and issued, requested by the bootstrap token", async () => {
    const c = cluster();
    const csrs = (JSON.parse(await c.ok(['get', 'csr', '-o', 'json'])) as CertificateSigningRequestList).items;
    for (const n of ['node1', 'node2']) {
      const x = csrs.find((i) => i.metadata!.name!.startsWith(`node-csr-${n}-`));
      assert.ok(x, `no CSR for ${n}`);
      assert.equal(x.spec.signerName, 'kubernetes.io/kube-apiserver-client-kubelet');
      assert.match(x.spec.username!, /^system:bootstrap:[a-z0-9]{6}$/);
      assert.ok(x.status!.conditions!.some((k) => k.type === 'Approved'));
      assert.ok(x.status!.certificate);
    }
    assert.match(await c.ok(['get', 'csr']), /Approved,Issued/);
  });

  test("pods run with a Secret; a node's own identity reads its pod's Secret and is refused the other node's (403)", async () => {
    const c = cluster();
    await c.ok(['create', 'secret', 'generic', 's1', '--from-literal=k=one']);
    await c.ok(['create', 'secret', 'generic', 's2', '--from-literal=k=two']);
    const vol = (s: string) => `\n    volumeMounts: [{name: s, mountPath: /s}]\n  volumes: [{name: s, secret: {secretName: ${s}}}]`;
    await c.ok(['apply', '-f', '-'], busybox('p1', 'node1', 'cat /s/k; sleep 3600', vol('s1')) + busybox('p2', 'node2', 'cat /s/k; sleep 3600', vol('s2')));
    await c.ok(['wait', '--for=condition=Ready', 'pod/p1', 'pod/p2', '--timeout=120s']);
    assert.equal((await c.ok(['logs', 'p1'])).trim(), 'one');
    // node1's certificate, as the agent stored it.
    const pki = join(c.home, c.name, 'agents', 'node1', 'pki');
    const server = /server:\s*(\S+)/.exec(readFileSync(c.kubeconfig, 'utf8'))![1];
    const ca = join(c.home, c.name, 'server', 'pki', 'ca.crt');
    const curl = (path: string) =>
      sh([
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--cacert',
        ca,
        '--cert',
        join(pki, 'node-client.crt'),
        '--key',
        join(pki, 'node-client.key'),
        `${server}${path}`,
      ]).stdout;
    assert.equal(curl('/api/v1/namespaces/default/secrets/s1'), '200');
    assert.equal(curl('/api/v1/namespaces/default/secrets/s2'), '403');
    assert.equal(curl('/api/v1/secrets'), '403');
    const who = sh([
      'curl',
      '-s',
      '--cacert',
      ca,
      '--cert',
      join(pki, 'node-client.crt'),
      '--key',
      join(pki, 'node-client.key'),
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}',
      `${server}/apis/authentication.k8s.io/v1/selfsubjectreviews`,
    ]).stdout;
    assert.equal(JSON.parse(who).status.userInfo.username, 'system:node:node1');
  });

  test('each agent serves a certificate from the cluster CA (its kubelet-serving CSR) and answers only callers SubjectAccessReview allows', async () => {
    const c = cluster();
    const csrs = (JSON.parse(await c.ok(['get', 'csr', '-o', 'json'])) as CertificateSigningRequestList).items;
    const ca = join(c.home, c.name, 'server', 'pki', 'ca.crt');
    const admin = (f: string) => join(c.home, c.name, 'server', 'pki', f);
    for (const n of c.plan.nodes as { name: string; ip: string }[]) {
      const x = csrs.find((i) => i.spec.signerName === 'kubernetes.io/kubelet-serving' && i.spec.username === `system:node:${n.name}`);
      assert.ok(x, `no serving CSR for ${n.name}`);
      assert.ok(x.status!.conditions!.some((k) => k.type === 'Approved' && k.reason === 'AutoApproved'));
      // curl verifies the agent's certificate against the cluster CA for the node's address.
      const url = `https://${n.ip}:10250/metrics`;
      const anon = sh(['curl', '-s', '-w', '\n%{http_code}', '--cacert', ca, url]);
      assert.equal(anon.code, 0, anon.stderr);
      assert.equal(anon.stdout, 'Unauthorized\n401');
      const pki = join(c.home, c.name, 'agents', n.name === 'node1' ? 'node2' : 'node1', 'pki');
      const other = sh([
        'curl',
        '-s',
        '-w',
        '\n%{http_code}',
        '--cacert',
        ca,
        '--cert',
        join(pki, 'node-client.crt'),
        '--key',
        join(pki, 'node-client.key'),
        url,
      ]);
      assert.equal(other.stdout, `Forbidden (user=system:node:${n.name === 'node1' ? 'node2' : 'node1'}, verb=get, resource=nodes, subresource=metrics)\n403`);
      const ok = sh(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca, '--cert', admin('admin.crt'), '--key', admin('admin.key'), url]);
      assert.equal(ok.stdout, '200');
    }
  });
});
