// The real kubectl 1.32 against a real k8ts server: every command a user reaches for first, each
// checked by what kubectl printed.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startServer, kubectlBinary, type TestServer } from './harness.js';
import type { Pod } from 'kubernetes-types/core/v1.js';

const skip = kubectlBinary('1.32') ? false : 'kubectl.1.32 is not on this machine (the pinned binaries sit beside the kubectl dispatcher)';

let s: TestServer;

async function ok(args: string[], opts: Parameters<TestServer['kubectl']>[1] = {}): Promise<string> {
  const r = await s.kubectl(args, opts);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

const pod = (name: string, ns: string, labels: Record<string, string> = {}, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  labels: ${JSON.stringify(labels)}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
    ports:
    - containerPort: 80${extra}
`;

describe('kubectl 1.32 against k8ts server', { skip }, () => {
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    await s?.stop();
  });

  test('version, api-resources, cluster-info', async () => {
    assert.match(await ok(['version']), /Server Version: v1\.32\.0-k8ts/);
    const res = await ok(['api-resources']);
    assert.match(res, /^pods\s+po\s+v1\s+true\s+Pod$/m);
    assert.match(res, /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
    assert.match(res, /^leases\s+coordination\.k8s\.io\/v1\s+true\s+Lease$/m);
    assert.match(res, /^endpointslices\s+discovery\.k8s\.io\/v1\s+true\s+EndpointSlice$/m);
    assert.match(res, /^namespaces\s+ns\s+v1\s+false\s+Namespace$/m);
    const ci = await ok(['cluster-info']);
    assert.ok(ci.includes(`Kubernetes control plane`) && ci.includes(s.url), ci);
  });

  test('default namespaces and their default service accounts exist', async () => {
    const ns = await ok(['get', 'ns', '-o', 'name']);
    for (const n of ['default', 'kube-system', 'kube-public']) assert.ok(ns.includes(`namespace/${n}`), ns);
    for (let i = 0; i < 50; i++) {
      const r = await s.kubectl(['get', 'sa', 'default', '-n', 'kube-system', '-o', 'name']);
      if (r.code === 0) return assert.equal(r.stdout.trim(), 'serviceaccount/default');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail('default service account never appeared');
  });

  test('apply creates, then configures, then leaves unchanged', async () => {
    await ok(['create', 'namespace', 'apply1']);
    const f = s.file('apply1.yaml', pod('web', 'apply1', { app: 'web', tier: 'front' }));
    assert.match(await ok(['apply', '-f', f]), /^pod\/web created$/m);
    const f2 = s.file('apply1b.yaml', pod('web', 'apply1', { app: 'web' }).replace('image: busybox', 'image: busybox:1.36'));
    assert.match(await ok(['apply', '-f', f2]), /^pod\/web configured$/m);
    assert.match(await ok(['apply', '-f', f2]), /^pod\/web unchanged$/m);
    const labels = JSON.parse(await ok(['get', 'pod', 'web', '-n', 'apply1', '-o', 'jsonpath={.metadata.labels}']));
    assert.deepEqual(labels, { app: 'web' });
    assert.equal(await ok(['get', 'pod', 'web', '-n', 'apply1', '-o', 'jsonpath={.spec.containers[0].image}']), 'busybox:1.36');
    const last = await ok(['get', 'pod', 'web', '-n', 'apply1', '-o', 'jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}']);
    assert.equal(JSON.parse(last).spec.containers[0].image, 'busybox:1.36');
  });

  test('server-side apply creates and updates', async () => {
    await ok(['create', 'namespace', 'ssa']);
    const f = s.file('ssa.yaml', `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: ssa\ndata:\n  a: "1"\n`);
    assert.match(await ok(['apply', '--server-side', '-f', f]), /configmap\/cfg serverside-applied/);
    const f2 = s.file('ssa2.yaml', `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: ssa\ndata:\n  a: "2"\n  b: "3"\n`);
    assert.match(await ok(['apply', '--server-side', '-f', f2]), /configmap\/cfg serverside-applied/);
    assert.equal(await ok(['get', 'cm', 'cfg', '-n', 'ssa', '-o', 'jsonpath={.data.a},{.data.b}']), '2,3');
  });

  test('get in every output format, with -l and -A', async () => {
    await ok(['create', 'namespace', 'get1']);
    await ok(['apply', '-f', s.file('get1.yaml', pod('a', 'get1', { app: 'x' }) + '---\n' + pod('b', 'get1', { app: 'y' }))]);
    const table = await ok(['get', 'pods', '-n', 'get1']);
    assert.match(table, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
    assert.match(table, /^a\s+0\/1\s+Pending\s+0\s+\d+s$/m);
    const wide = await ok(['get', 'pods', '-n', 'get1', '-o', 'wide']);
    assert.match(wide, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/m);
    assert.match(wide, /^a\s+0\/1\s+Pending\s+0\s+\d+s\s+<none>\s+<none>\s+<none>\s+<none>$/m);
    const y = await ok(['get', 'pod', 'a', '-n', 'get1', '-o', 'yaml']);
    assert.match(y, /^kind: Pod$/m);
    assert.match(y, /^ {2}name: a$/m);
    assert.match(y, /^ {2}uid: [0-9a-f-]{36}$/m);
    const j: { kind: string; items: Pod[] } = JSON.parse(await ok(['get', 'pods', '-n', 'get1', '-o', 'json']));
    assert.equal(j.kind, 'List');
    assert.deepEqual(j.items.map((p) => p.metadata!.name).sort(), ['a', 'b']);
    assert.equal(j.items[0].kind, 'Pod');
    assert.equal(await ok(['get', 'pods', '-n', 'get1', '-o', 'jsonpath={.items[*].metadata.name}']), 'a b');
    assert.equal(await ok(['get', 'pods', '-n', 'get1', '-o', 'name']), 'pod/a\npod/b\n');
    assert.equal(await ok(['get', 'pods', '-n', 'get1', '-l', 'app=y', '-o', 'name']), 'pod/b\n');
    assert.equal(await ok(['get', 'pods', '-n', 'get1', '-l', 'app in (x,y),app!=x', '-o', 'name']), 'pod/b\n');
    assert.equal(await ok(['get', 'pods', '-n', 'get1', '-l', '!app', '-o', 'name']), '');
    const all = await ok(['get', 'pods', '-A']);
    assert.match(all, /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
    assert.match(all, /^get1\s+a\s+0\/1\s+Pending/m);
    const labels = await ok(['get', 'pods', '-n', 'get1', '--show-labels']);
    assert.match(labels, /^a\s+.*app=x$/m);
    const sorted = await ok(['get', 'pods', '-n', 'get1', '--sort-by=.metadata.name', '-o', 'name']);
    assert.equal(sorted, 'pod/a\npod/b\n');
    const none = await s.kubectl(['get', 'pods', '-n', 'nothing-here']);
    assert.equal(none.code, 0);
    assert.match(none.stderr, /No resources found in nothing-here namespace/);
    const missing = await s.kubectl(['get', 'pod', 'nope', '-n', 'get1']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Error from server \(NotFound\): pods "nope" not found/);
  });

  test('get -w prints a row for each change', async () => {
    await ok(['create', 'namespace', 'watch1']);
    const bin = kubectlBinary('1.32')!;
    const child = spawn(bin, ['get', 'pods', '-n', 'watch1', '-w'], { env: { PATH: process.env.PATH!, HOME: s.home, KUBECONFIG: s.kubeconfig } });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await new Promise((r) => setTimeout(r, 700));
      await ok(['apply', '-f', s.file('watch1.yaml', pod('w1', 'watch1'))]);
      await ok(['label', 'pod', 'w1', '-n', 'watch1', 'seen=yes']);
      for (let i = 0; i < 100 && (out.match(/^w1\s/gm) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok((out.match(/^w1\s+0\/1\s+Pending/gm) ?? []).length >= 2, `watch output:\n${out}`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('describe pod, service and node', async () => {
    await ok(['create', 'namespace', 'desc']);
    await ok([
      'apply',
      '-f',
      s.file(
        'desc.yaml',
        pod('d', 'desc', { app: 'd' }) +
          `---
apiVersion: v1
kind: Service
metadata:
  name: dsvc
  namespace: desc
spec:
  selector:
    app: d
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Node
metadata:
  name: node-x
  labels:
    kubernetes.io/hostname: node-x
`,
      ),
    ]);
    const p = await ok(['describe', 'pod', 'd', '-n', 'desc']);
    assert.match(p, /^Name:\s+d$/m);
    assert.match(p, /^Namespace:\s+desc$/m);
    assert.match(p, /^Status:\s+Pending$/m);
    assert.match(p, /^\s+Image:\s+busybox$/m);
    assert.match(p, /^\s+Port:\s+80\/TCP$/m);
    // No node is Ready in this API-only cluster, and the scheduler says so in the pod's events.
    assert.match(p, /Warning\s+FailedScheduling\s+.*default-scheduler\s+/);
    const sv = await ok(['describe', 'service', 'dsvc', '-n', 'desc']);
    assert.match(sv, /^Name:\s+dsvc$/m);
    assert.match(sv, /^Selector:\s+app=d$/m);
    assert.match(sv, /^Port:\s+http\s+80\/TCP$/m);
    assert.match(sv, /^TargetPort:\s+8080\/TCP$/m);
    const n = await ok(['describe', 'node', 'node-x']);
    assert.match(n, /^Name:\s+node-x$/m);
    assert.match(n, /kubernetes\.io\/hostname=node-x/);
  });

  test('label, annotate, and the three patch types', async () => {
    await ok(['create', 'namespace', 'patch1']);
    await ok(['apply', '-f', s.file('patch1.yaml', pod('p', 'patch1', { app: 'p' }))]);
    assert.match(await ok(['label', 'pod', 'p', '-n', 'patch1', 'color=blue']), /^pod\/p labeled$/m);
    assert.match(await ok(['label', 'pod', 'p', '-n', 'patch1', 'color=red', '--overwrite']), /^pod\/p labeled$/m);
    const conflict = await s.kubectl(['label', 'pod', 'p', '-n', 'patch1', 'color=green']);
    assert.equal(conflict.code, 1);
    assert.match(conflict.stderr, /already has a value \(red\)/);
    assert.match(await ok(['annotate', 'pod', 'p', '-n', 'patch1', 'note=hello world']), /^pod\/p annotated$/m);
    assert.equal(await ok(['get', 'pod', 'p', '-n', 'patch1', '-o', 'jsonpath={.metadata.labels.color} {.metadata.annotations.note}']), 'red hello world');
    assert.match(
      await ok(['patch', 'pod', 'p', '-n', 'patch1', '-p', '{"spec":{"containers":[{"name":"main","image":"busybox:1.35"}]}}']),
      /^pod\/p patched$/m,
    );
    assert.equal(
      await ok(['get', 'pod', 'p', '-n', 'patch1', '-o', 'jsonpath={.spec.containers[0].image} {.spec.containers[0].command[0]}']),
      'busybox:1.35 sleep',
    );
    assert.match(
      await ok(['patch', 'pod', 'p', '-n', 'patch1', '--type=merge', '-p', '{"metadata":{"labels":{"color":null,"size":"l"}}}']),
      /^pod\/p patched$/m,
    );
    assert.equal(await ok(['get', 'pod', 'p', '-n', 'patch1', '-o', 'jsonpath={.metadata.labels}']), '{"app":"p","size":"l"}');
    assert.match(
      await ok([
        'patch',
        'pod',
        'p',
        '-n',
        'patch1',
        '--type=json',
        '-p',
        '[{"op":"replace","path":"/metadata/labels/size","value":"s"},{"op":"add","path":"/metadata/labels/x","value":"1"}]',
      ]),
      /^pod\/p patched$/m,
    );
    assert.equal(await ok(['get', 'pod', 'p', '-n', 'patch1', '-o', 'jsonpath={.metadata.labels.size}{.metadata.labels.x}']), 's1');
    const bad = await s.kubectl(['patch', 'pod', 'p', '-n', 'patch1', '--type=json', '-p', '[{"op":"test","path":"/metadata/labels/size","value":"xl"}]']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /The request is invalid: .*test failed/);
    const immutable = await s.kubectl(['patch', 'pod', 'p', '-n', 'patch1', '-p', '{"spec":{"restartPolicy":"Never"}}']);
    assert.equal(immutable.code, 1);
    assert.match(immutable.stderr, /is invalid/);
  });

  test('edit through KUBE_EDITOR', async () => {
    await ok(['create', 'namespace', 'edit1']);
    await ok(['create', 'configmap', 'ed', '-n', 'edit1', '--from-literal=k=old']);
    const editor = s.file('editor.sh', '#!/bin/sh\nsed -i "s/k: old/k: new/" "$1"\n');
    await import('node:fs').then((fs) => fs.chmodSync(editor, 0o755));
    assert.match(await ok(['edit', 'configmap', 'ed', '-n', 'edit1'], { env: { KUBE_EDITOR: editor } }), /^configmap\/ed edited$/m);
    assert.equal(await ok(['get', 'cm', 'ed', '-n', 'edit1', '-o', 'jsonpath={.data.k}']), 'new');
  });

  test('create namespace, configmap, secret, deployment (protobuf bodies) and scale', async () => {
    assert.match(await ok(['create', 'namespace', 'gen1']), /^namespace\/gen1 created$/m);
    assert.match(await ok(['create', 'configmap', 'c1', '-n', 'gen1', '--from-literal=a=b']), /^configmap\/c1 created$/m);
    assert.equal(await ok(['get', 'cm', 'c1', '-n', 'gen1', '-o', 'jsonpath={.data.a}']), 'b');
    assert.match(await ok(['create', 'secret', 'generic', 's1', '-n', 'gen1', '--from-literal=k=v']), /^secret\/s1 created$/m);
    assert.equal(await ok(['get', 'secret', 's1', '-n', 'gen1', '-o', 'jsonpath={.data.k}']), Buffer.from('v').toString('base64'));
    assert.match(await ok(['create', 'deployment', 'hello', '-n', 'gen1', '--image=busybox', '--replicas=2']), /^deployment\.apps\/hello created$/m);
    const d = JSON.parse(await ok(['get', 'deploy', 'hello', '-n', 'gen1', '-o', 'json']));
    assert.equal(d.spec.replicas, 2);
    assert.deepEqual(d.spec.selector.matchLabels, { app: 'hello' });
    assert.equal(d.spec.template.spec.containers[0].image, 'busybox');
    assert.ok(!String(d.metadata.creationTimestamp).startsWith('1970'));
    assert.match(await ok(['get', 'deploy', '-n', 'gen1']), /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nhello\s+0\/2\s+[0-2]\s+0\s+\d+s$/m);
    assert.match(await ok(['scale', 'deployment', 'hello', '-n', 'gen1', '--replicas=3']), /^deployment\.apps\/hello scaled$/m);
    assert.equal(await ok(['get', 'deploy', 'hello', '-n', 'gen1', '-o', 'jsonpath={.spec.replicas}']), '3');
    assert.match(await ok(['scale', 'deployment', 'hello', '-n', 'gen1', '--replicas=4', '--current-replicas=3']), /scaled/);
    const stale = await s.kubectl(['scale', 'deployment', 'hello', '-n', 'gen1', '--replicas=5', '--current-replicas=3']);
    assert.equal(stale.code, 1);
    assert.match(await ok(['wait', '--for=jsonpath={.spec.replicas}=4', 'deployment/hello', '-n', 'gen1', '--timeout=10s']), /condition met/);
  });

  test('delete by file, by name, by label; wait --for=delete', async () => {
    await ok(['create', 'namespace', 'del1']);
    const f = s.file('del1.yaml', pod('f1', 'del1', { app: 'f' }));
    await ok(['apply', '-f', f]);
    await ok([
      'apply',
      '-f',
      s.file('del1b.yaml', pod('n1', 'del1', { app: 'n' }) + '---\n' + pod('l1', 'del1', { app: 'l' }) + '---\n' + pod('l2', 'del1', { app: 'l' })),
    ]);
    assert.match(await ok(['delete', '-f', f]), /^pod "f1" deleted$/m);
    assert.match(await ok(['delete', 'pod', 'n1', '-n', 'del1']), /^pod "n1" deleted$/m);
    const waiter = s.kubectl(['wait', '--for=delete', 'pod/l2', '-n', 'del1', '--timeout=20s']);
    await new Promise((r) => setTimeout(r, 300));
    const byLabel = await ok(['delete', 'pods', '-l', 'app=l', '-n', 'del1']);
    assert.match(byLabel, /^pod "l1" deleted$/m);
    assert.match(byLabel, /^pod "l2" deleted$/m);
    const w = await waiter;
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /pod\/l2 condition met/);
    assert.equal(await ok(['get', 'pods', '-n', 'del1', '-o', 'name']), '');
    const again = await s.kubectl(['delete', 'pod', 'n1', '-n', 'del1']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Error from server \(NotFound\): pods "n1" not found/);
  });

  test('deleting a namespace deletes what is in it', async () => {
    await ok(['create', 'namespace', 'casc']);
    await ok(['apply', '-f', s.file('casc.yaml', pod('c1', 'casc'))]);
    await ok(['create', 'configmap', 'cm', '-n', 'casc', '--from-literal=a=1']);
    assert.match(await ok(['delete', 'namespace', 'casc', '--timeout=30s']), /^namespace "casc" deleted$/m);
    const gone = await s.kubectl(['get', 'ns', 'casc']);
    assert.equal(gone.code, 1);
    assert.equal(await ok(['get', 'cm,pods', '-n', 'casc', '-o', 'name']), '');
    const create = await s.kubectl(['create', 'configmap', 'x', '-n', 'casc', '--from-literal=a=1']);
    assert.equal(create.code, 1);
    assert.match(create.stderr, /namespaces "casc" not found/);
    const forbidden = await s.kubectl(['delete', 'namespace', 'default']);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /Forbidden/);
  });

  test('invalid objects are refused with the field that is wrong', async () => {
    const r = await s.kubectl([
      'apply',
      '-f',
      s.file(
        'bad.yaml',
        `apiVersion: v1
kind: Pod
metadata:
  name: Bad_Name
spec:
  containers:
  - name: c
`,
      ),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /The Pod "Bad_Name" is invalid/);
    assert.match(r.stderr, /metadata\.name: Invalid value: "Bad_Name"/);
    assert.match(r.stderr, /spec\.containers\[0\]\.image: Required value/);
  });

  test('node addresses and pod CIDRs that would reach ip and nft are refused (422 naming the field), and nothing is stored', async () => {
    const r = await s.kubectl([
      'apply',
      '-f',
      s.file(
        'badnode.yaml',
        `apiVersion: v1
kind: Node
metadata:
  name: evil
spec:
  podCIDR: "10.244.9.0/24 via 1.1.1.1"
`,
      ),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /The Node "evil" is invalid/);
    assert.match(r.stderr, /spec\.podCIDRs\[0\]: Invalid value: "10\.244\.9\.0\/24 via 1\.1\.1\.1"/);
    assert.equal((await s.kubectl(['get', 'node', 'evil'])).code, 1);
    await ok(['apply', '-f', s.file('node.yaml', 'apiVersion: v1\nkind: Node\nmetadata:\n  name: plain\n')]);
    const patch = JSON.stringify({ status: { addresses: [{ type: 'InternalIP', address: '192.0.2.9 dev lo\nroute flush all' }] } });
    const p = await s.kubectl(['patch', 'node', 'plain', '--subresource=status', '--type=merge', '-p', patch]);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /status\.addresses\[0\]\.address: Invalid value: "192\.0\.2\.9 dev lo\\nroute flush all": must be a valid IP address/);
    assert.equal(await ok(['get', 'node', 'plain', '-o', 'jsonpath={.status.addresses}']), '');
    await ok(['delete', 'node', 'plain']);
  });

  test('a value of the wrong JSON type is refused before validation (400 in Go decoder words), and nothing is stored', async () => {
    const deployment = (replicas: string) =>
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: typed\nspec:\n  replicas: ${replicas}\n  selector: {matchLabels: {app: typed}}\n` +
      '  template:\n    metadata: {labels: {app: typed}}\n    spec: {containers: [{name: c, image: busybox}]}\n';
    const cases: { get: string[]; yaml: string; message: string }[] = [
      {
        get: ['pod', 'typed'],
        yaml: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: typed\nspec:\n  nodeName: [n1]\n  containers: [{name: c, image: busybox}]\n',
        message: 'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal array into Go struct field PodSpec.spec.nodeName of type string',
      },
      {
        get: ['service', 'typed'],
        yaml: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: typed\nspec:\n  ports: [{port: "80"}]\n',
        message:
          'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32',
      },
      {
        get: ['deployment', 'typed'],
        yaml: deployment('1.5'),
        message:
          'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32',
      },
      {
        get: ['configmap', 'typed'],
        yaml: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typed\ndata: {a: 1}\n',
        message: 'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string',
      },
    ];
    for (const c of cases) {
      for (const verb of [['apply'], ['create'], ['apply', '--server-side']]) {
        const r = await s.kubectl([...verb, '-f', '-'], { input: c.yaml });
        assert.equal(r.code, 1, `${verb.join(' ')} ${c.get[0]}: ${r.stdout}${r.stderr}`);
        assert.ok(r.stderr.includes('(BadRequest)') && r.stderr.includes(c.message), `${verb.join(' ')} ${c.get[0]}: ${r.stderr}`);
        const get = await s.kubectl(['get', ...c.get]);
        assert.equal(get.code, 1, `${c.get.join(' ')} was stored`);
        assert.match(get.stderr, /NotFound/);
      }
    }
    // A patch whose result has a wrong type: 422 on `patch` (Kubernetes' patch handler), the stored object unchanged.
    await ok(['apply', '-f', '-'], { input: deployment('1') });
    for (const type of ['merge', 'strategic', 'json']) {
      const patch = type === 'json' ? '[{"op":"replace","path":"/spec/replicas","value":"2"}]' : '{"spec":{"replicas":"2"}}';
      const r = await s.kubectl(['patch', 'deployment', 'typed', '--type', type, '-p', patch]);
      assert.equal(r.code, 1, `${type}: ${r.stdout}`);
      assert.match(
        r.stderr,
        /patch: Invalid value: ".*": json: cannot unmarshal string into Go struct field DeploymentSpec\.spec\.replicas of type int32/,
        type,
      );
    }
    assert.equal(await ok(['get', 'deployment', 'typed', '-o', 'jsonpath={.spec.replicas}']), '1');
    await ok(['delete', 'deployment', 'typed']);
  });
});
