// Images end to end on a real cluster: registries (Debian's docker-registry) on the lab's host bridge
// address, reached by the nodes through `k8ts up --registries`; a python web server image built from this
// machine's Debian files served through a Service; an imagePullSecret; the kubelet's reasons for failed
// pulls as kubectl describe shows them; status.images; `k8ts image import` of a docker save archive.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pack } from 'tar-stream';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { K8TS } from './harness.js';
import { busybox, clusterFixture, restartLabProcess, sh, skip as clusterSkip, sleep, until } from './clusterkit.js';
import { pushImage, pythonImage, pythonScriptImage, startRegistry, tarOf, type BuiltImage, type TestRegistry } from '../../src/agent/images/testing.js';
import type { Node } from 'kubernetes-types/core/v1.js';

const work = mkdtempSync(join(tmpdir(), 'k8ts-e2e-images-'));
const initial = join(work, 'registries.yaml');
// Valid from the start (up proves it); the test points it at its registries once they listen.
writeFileSync(initial, 'mirrors:\n  registry.k8ts.test:\n    endpoint: ["http://127.0.0.1:1"]\n');
const skip = clusterSkip || (sh(['which', 'docker-registry']).code !== 0 ? 'docker-registry is not installed (make setup)' : false);

describe('images on a cluster', { skip, timeout: 600_000 }, () => {
  const cluster = clusterFixture('e2eimg', ['--registries', initial]);
  let open: TestRegistry;
  let locked: TestRegistry;
  let py: BuiltImage;

  before(async () => {
    const c = cluster();
    const host = c.plan.hostIP as string;
    open = await startRegistry({ dir: join(work, 'open'), host });
    locked = await startRegistry({ dir: join(work, 'locked'), host, htpasswd: { user: 'alice', password: 's3cret' } });
    py = await pythonImage({ index: 'hello from a registry through a mirror\n' });
    await pushImage({ url: open.url }, 'mirror/team/python', '1', py);
    await pushImage({ url: locked.url, auth: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` }, 'private/python', '1', py);
    writeFileSync(
      join(c.home, c.name, 'registries.yaml'),
      `mirrors:
  registry.k8ts.test:
    endpoint: ["http://${open.addr}"]
    rewrite:
      "^team/(.*)": "mirror/team/$1"
  "${locked.addr}":
    endpoint: ["http://${locked.addr}"]
`,
    );
    // The agents read registries.yaml at start, as k3s's do.
    for (const n of c.plan.nodes) await restartLabProcess(c, `agent-${n.name}`);
    await sleep(2000);
  });
  after(async () => {
    await open?.stop();
    await locked?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('a pod from a registry, through a mirror with a rewrite, serves a page through a Service; Pulled event, imageID, image user', async () => {
    const c = cluster();
    await c.ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  containers:
  - name: web
    image: registry.k8ts.test/team/python:1
    env: [{name: GREETING, value: from-pod}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
${busybox('client', 'node2', 'sleep 3600')}`,
    );
    await c.ok(['wait', '--for=condition=Ready', 'pod/web', 'pod/client', '--timeout=120s']);
    const page = await until(
      'the page through the Service',
      async () => (await c.k(['exec', 'client', '--', 'timeout', '5', 'wget', '-qO-', 'http://web/'])).stdout,
    );
    assert.equal(page, 'hello from a registry through a mirror\n');
    const st = JSON.parse(await c.ok(['get', 'pod', 'web', '-o', 'json'])).status.containerStatuses[0];
    assert.equal(st.image, 'registry.k8ts.test/team/python:1');
    assert.equal(st.imageID, `registry.k8ts.test/team/python@${py.manifestDigest}`);
    const ids = await c.ok([
      'exec',
      'web',
      '--',
      '/usr/bin/python3',
      '-S',
      '-c',
      'import os; print(os.getuid(), os.getgid(), os.getgroups(), os.getcwd(), os.environ["GREETING"])',
    ]);
    assert.equal(ids.trim(), '1000 1000 [50] /srv from-pod');
    const ev = await c.ok([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=web',
      '-o',
      'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}',
    ]);
    assert.match(ev, /Pulling: Pulling image "registry.k8ts.test\/team\/python:1"/);
    assert.match(
      ev,
      /Pulled: Successfully pulled image "registry.k8ts.test\/team\/python:1" in [\d.]+m?s \([\d.]+m?s including waiting\)\. Image size: \d+ bytes\./,
    );
    const images = await until(
      'the image in the Node status',
      async () => {
        const n: Node = JSON.parse(await c.ok(['get', 'node', 'node1', '-o', 'json']));
        return (n.status!.images ?? []).find((i) => i.names!.includes('registry.k8ts.test/team/python:1'));
      },
      60_000,
    );
    assert.ok(images!.names!.includes(`registry.k8ts.test/team/python@${py.manifestDigest}`));
    assert.ok(images!.sizeBytes! > 0);
    // The built-in busybox, which each node makes at the end of its start, is listed beside it.
    const n: Node = JSON.parse(await c.ok(['get', 'node', 'node1', '-o', 'json']));
    assert.ok(
      (n.status!.images ?? []).some((i) => i.names!.includes('docker.io/library/busybox:latest')),
      JSON.stringify(n.status!.images),
    );
  });

  it('an imagePullSecret pulls from a registry with basic auth; without it, ErrImagePull then ImagePullBackOff naming the 401', async () => {
    const c = cluster();
    await c.ok(['create', 'secret', 'docker-registry', 'regcred', `--docker-server=${locked.addr}`, '--docker-username=alice', '--docker-password=s3cret']);
    const pod = (name: string, secret: boolean, image = `${locked.addr}/private/python:1`, policy = '') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 1
  ${secret ? 'imagePullSecrets: [{name: regcred}]' : ''}
  containers:
  - name: main
    image: ${image}
    ${policy ? `imagePullPolicy: ${policy}` : ''}
---
`;
    await c.ok(
      ['apply', '-f', '-'],
      pod('with-secret', true) +
        pod('no-secret', false) +
        pod('no-tag', true, `${locked.addr}/private/python:nope`) +
        pod('never', false, 'registry.k8ts.test/team/absent:1', 'Never') +
        pod('bad-name', false, 'Not/A/Valid:Name'),
    );
    await c.ok(['wait', '--for=condition=Ready', 'pod/with-secret', '--timeout=120s']);
    const waiting = async (name: string, reason: RegExp) =>
      until(
        `${name} waiting with ${reason}`,
        async () => {
          const s = JSON.parse(await c.ok(['get', 'pod', name, '-o', 'json'])).status.containerStatuses?.[0]?.state?.waiting;
          return s && reason.test(s.reason) ? s : undefined;
        },
        60_000,
      );
    const w1 = await waiting('no-secret', /^ImagePullBackOff$/);
    assert.match(w1.message, /Back-off pulling image ".*private\/python:1": ErrImagePull: .*401 Unauthorized.*anonymously/);
    const w2 = await waiting('no-tag', /^(ErrImagePull|ImagePullBackOff)$/);
    assert.match(w2.message, /manifest nope not found/);
    const w3 = await waiting('never', /^ErrImageNeverPull$/);
    assert.equal(w3.message, 'Container image "registry.k8ts.test/team/absent:1" is not present with pull policy of Never');
    const w4 = await waiting('bad-name', /^InvalidImageName$/);
    assert.match(w4.message, /couldn't parse image name/);
    const d = await c.ok(['describe', 'pod', 'no-secret']);
    assert.match(d, /Failed to pull image ".*private\/python:1": failed to pull image .*401 Unauthorized/);
    assert.match(d, /Back-off pulling image/);
    await c.ok(['delete', 'pod', 'with-secret', 'no-secret', 'no-tag', 'never', 'bad-name', '--wait=true']);
  });

  it('k8ts image import puts a docker save archive on every node; k8ts image ls lists it', async () => {
    const c = cluster();
    // A docker save archive: manifest.json, the config, uncompressed layer tars.
    const layer = await tarOf([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
      ...['sh', 'cat', 'sleep'].map((a) => ({ name: `bin/${a}`, type: 'link' as const, linkname: 'bin/busybox' })),
      { name: 'srv/', type: 'directory' },
      { name: 'srv/imported.txt', data: 'imported\n' },
    ]);
    const file = join(work, 'save.tar');
    const p = pack();
    const out = pipeline(p, createWriteStream(file));
    const { createHash } = await import('node:crypto');
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const config = Buffer.from(
      JSON.stringify({
        architecture: process.arch === 'x64' ? 'amd64' : process.arch,
        os: 'linux',
        config: { Env: ['PATH=/bin'], Cmd: ['sh', '-c', 'cat /srv/imported.txt; sleep 3600'] },
        rootfs: { type: 'layers', diff_ids: [sha(layer)] },
      }),
    );
    p.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: 'config.json', RepoTags: ['example.local/imported:v1'], Layers: ['l1/layer.tar'] }]));
    p.entry({ name: 'config.json' }, config);
    p.entry({ name: 'l1/layer.tar' }, layer);
    p.finalize();
    await out;
    const env = { ...process.env, K8TS_HOME: c.home };
    const r = sh([K8TS, 'image', 'import', '--name', c.name, file], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /✓ Imported example\.local\/imported:v1 into node1 \(\d+ ms\)/);
    assert.match(r.stderr, /✓ Imported example\.local\/imported:v1 into node2/);
    const ls = sh([K8TS, 'image', 'ls', '--name', c.name], env).stdout;
    assert.match(ls, /node2\s+example\.local\/imported:v1/);
    assert.match(ls, /docker\.io\/library\/busybox:latest \(built-in/);
    void busybox;
    await c.ok(['run', 'imported', '--image=example.local/imported:v1', '--image-pull-policy=Never', '--overrides={"spec":{"nodeName":"node2"}}']);
    await c.ok(['wait', '--for=condition=Ready', 'pod/imported', '--timeout=60s']);
    const log = await until('the log', async () => (await c.ok(['logs', 'imported'])).trim());
    assert.equal(log, 'imported');
  });
  it('the official Python client runs in a pod with in-cluster config: its mounted token and CA reach the API through the kubernetes Service, RBAC decides', async () => {
    const c = cluster();
    // What a workload does with client-python: load_incluster_config() (KUBERNETES_SERVICE_HOST/PORT, the
    // mounted token and CA), list its namespace's pods, try a write that its role does not allow.
    const script = `import os, sys
from kubernetes import client, config
from kubernetes.config.incluster_config import InClusterConfigLoader
d = os.environ.get('SA_DIR')
if d:
    InClusterConfigLoader(token_filename=d + '/token', cert_filename=d + '/ca.crt').load_and_set()
else:
    config.load_incluster_config()
    d = '/var/run/secrets/kubernetes.io/serviceaccount'
ns = open(d + '/namespace').read().strip()
v1 = client.CoreV1Api()
print('host', os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT'])
print('pods', ' '.join(sorted(p.metadata.name for p in v1.list_namespaced_pod(ns).items)))
try:
    v1.delete_namespaced_config_map('nothing-here', ns)
except client.exceptions.ApiException as e:
    print('delete', e.status, e.reason)
sys.stdout.flush()
`;
    await c.ok(['create', 'rolebinding', 'incluster-view', '--clusterrole', 'view', '--serviceaccount', 'default:default']);
    // The module closure is what the script loads on this host running the same request path (the API server's
    // own address, a token of the same account): every module the pod will need, and no others.
    const server = new URL((await c.ok(['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'])).trim());
    const sa = join(work, 'sa');
    rmSync(sa, { recursive: true, force: true });
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), (await c.ok(['create', 'token', 'default'])).trim());
    writeFileSync(
      join(sa, 'ca.crt'),
      Buffer.from((await c.ok(['config', 'view', '--raw', '--minify', '-o', 'jsonpath={.clusters[0].cluster.certificate-authority-data}'])).trim(), 'base64'),
    );
    writeFileSync(join(sa, 'namespace'), 'default');
    const img = await pythonScriptImage(script, { SA_DIR: sa, KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port || '443' });
    await pushImage({ url: open.url }, 'mirror/team/incluster', '1', img);
    await c.ok(['run', 'incluster', '--image=registry.k8ts.test/team/incluster:1', '--restart=Never']);
    const phase = await until(
      'the in-cluster client finished',
      async () => {
        const p = (await c.ok(['get', 'pod', 'incluster', '-o', 'jsonpath={.status.phase}'])).trim();
        return p === 'Succeeded' || p === 'Failed' ? p : undefined;
      },
      90_000,
    );
    const log = await c.ok(['logs', 'incluster']);
    assert.equal(phase, 'Succeeded', `the client failed:\n${log}`);
    const svc = JSON.parse(await c.ok(['get', 'svc', 'kubernetes', '-o', 'json']));
    assert.match(log, new RegExp(`^host ${svc.spec.clusterIP.replace(/\./g, '\\.')} 443$`, 'm'), 'the client used the kubernetes Service from its environment');
    assert.match(log, /^pods .*\bincluster\b/m, 'the list through the Service with the mounted token and CA');
    assert.match(log, /^delete 403 Forbidden$/m, "view may not delete: RBAC decided for the pod's account");
    await c.ok(['delete', 'pod', 'incluster', '--wait=false']);
    await c.ok(['delete', 'rolebinding', 'incluster-view']);
  });
});
