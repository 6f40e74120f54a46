// Real kubectl 1.32 `create <generator>` commands send protobuf; this checks what they decode to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeK8sProtobuf, isK8sProtobuf, K8S_PROTOBUF_CONTENT_TYPE } from './decode.js';
import { ProtobufError } from './wire.js';
import { kubectlBinary, sendJson, startHarness, type CapturedRequest } from './kubectl-harness.js';

const KUBECTL = kubectlBinary('1.32');

interface Case {
  args: string[];
  path: string;
  printed: string;
  decoded: Record<string, unknown>;
}

const CASES: Case[] = [
  {
    args: ['create', 'deployment', 'hello', '--image=nginx:1.27', '--replicas=2'],
    path: '/apis/apps/v1/namespaces/default/deployments',
    printed: 'deployment.apps/hello created',
    decoded: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'hello', labels: { app: 'hello' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'hello' } },
        template: { metadata: { labels: { app: 'hello' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } },
      },
    },
  },
  {
    args: ['create', 'namespace', 'x'],
    path: '/api/v1/namespaces',
    printed: 'namespace/x created',
    decoded: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } },
  },
  {
    args: ['create', 'configmap', 'c', '--from-literal=a=b'],
    path: '/api/v1/namespaces/default/configmaps',
    printed: 'configmap/c created',
    decoded: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } },
  },
  {
    args: ['create', 'secret', 'generic', 's', '--from-literal=k=v'],
    path: '/api/v1/namespaces/default/secrets',
    printed: 'secret/s created',
    decoded: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { k: Buffer.from('v').toString('base64') } },
  },
  {
    args: ['create', 'service', 'clusterip', 's1', '--tcp=80:8080'],
    path: '/api/v1/namespaces/default/services',
    printed: 'service/s1 created',
    decoded: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's1', labels: { app: 's1' } },
      spec: { ports: [{ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 }], selector: { app: 's1' }, type: 'ClusterIP' },
    },
  },
  {
    args: ['create', 'job', 'j', '--image=busybox'],
    path: '/apis/batch/v1/namespaces/default/jobs',
    printed: 'job.batch/j created',
    decoded: {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'j' },
      spec: { template: { spec: { containers: [{ name: 'j', image: 'busybox' }], restartPolicy: 'Never' } } },
    },
  },
];

test('kubectl 1.32 create <generator> bodies are protobuf and decode to the intended objects', { skip: KUBECTL ? false : 'kubectl.1.32 not found beside kubectl on PATH' }, async (t) => {
  const decoded = new Map<CapturedRequest, Record<string, unknown>>();
  const h = await startHarness((req, res) => {
    if (req.method !== 'POST') return false;
    try {
      const obj = decodeK8sProtobuf(req.body);
      decoded.set(req, obj);
      // answer as a server would: the object back, JSON (kubectl accepts JSON answers)
      sendJson(res, 201, { ...obj, metadata: { ...(obj.metadata as object), uid: 'u-1', resourceVersion: '1' } });
    } catch (e) {
      const message = e instanceof ProtobufError ? `${e.code}: ${e.message}` : String(e);
      sendJson(res, 415, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'UnsupportedMediaType', code: 415, message });
    }
    return true;
  });
  try {
    for (const c of CASES) {
      await t.test(c.args.join(' '), async () => {
        const before = h.requests.length;
        const r = await h.kubectl(KUBECTL!, c.args);
        assert.equal(r.code, 0, `kubectl failed: ${r.stderr}`);
        assert.equal(r.stdout.trim(), c.printed);
        const posts = h.requests.slice(before).filter((q) => q.method === 'POST');
        assert.equal(posts.length, 1);
        const post = posts[0];
        const [path, query] = post.url.split('?');
        assert.equal(path, c.path);
        assert.match(query, /fieldManager=kubectl-create/);
        assert.equal(post.headers['content-type'], K8S_PROTOBUF_CONTENT_TYPE);
        assert.ok(isK8sProtobuf(post.body), 'body starts with k8s\\0');
        const obj = decoded.get(post);
        assert.deepEqual(obj, c.decoded);
        assert.doesNotMatch(JSON.stringify(obj), /1970|creationTimestamp/);
      });
    }
  } finally {
    await h.close();
  }
});
