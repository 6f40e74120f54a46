// Real kubectl 1.32/1.33 `create <generator>` commands send protobuf; this checks what they decode to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeK8sProtobuf, isK8sProtobuf, K8S_PROTOBUF_CONTENT_TYPE } from './decode.js';
import { ProtobufError } from '../../util/protowire.js';
import { kubectlBinary, sendJson, skipReason, startHarness, type CapturedRequest } from '../../testing/kubectl-harness.js';

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
  // beyond the brief's six: pointer zeros, `!` zeros, subresource bodies
  {
    args: ['create', 'poddisruptionbudget', 'p', '--selector=app=x', '--min-available=0'],
    path: '/apis/policy/v1/namespaces/default/poddisruptionbudgets',
    printed: 'poddisruptionbudget.policy/p created',
    decoded: {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'p' },
      spec: { minAvailable: 0, selector: { matchLabels: { app: 'x' } } },
    },
  },
  {
    args: ['create', 'priorityclass', 'pc', '--value=0'],
    path: '/apis/scheduling.k8s.io/v1/priorityclasses',
    printed: 'priorityclass.scheduling.k8s.io/pc created',
    decoded: { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'pc' }, value: 0, preemptionPolicy: 'PreemptLowerPriority' },
  },
  {
    args: ['create', 'service', 'nodeport', 'np', '--tcp=80:8080', '--node-port=30080'],
    path: '/api/v1/namespaces/default/services',
    printed: 'service/np created',
    decoded: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'np', labels: { app: 'np' } },
      spec: { ports: [{ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }], selector: { app: 'np' }, type: 'NodePort' },
    },
  },
  {
    args: ['create', 'cronjob', 'cj', '--image=busybox', '--schedule=*/5 * * * *'],
    path: '/apis/batch/v1/namespaces/default/cronjobs',
    printed: 'cronjob.batch/cj created',
    decoded: {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'cj' },
      spec: {
        schedule: '*/5 * * * *',
        jobTemplate: { metadata: { name: 'cj' }, spec: { template: { spec: { containers: [{ name: 'cj', image: 'busybox' }], restartPolicy: 'OnFailure' } } } },
      },
    },
  },
  {
    args: ['create', 'rolebinding', 'rb', '--role=r', '--serviceaccount=default:sa'],
    path: '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings',
    printed: 'rolebinding.rbac.authorization.k8s.io/rb created',
    decoded: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'rb' },
      subjects: [{ kind: 'ServiceAccount', name: 'sa', namespace: 'default' }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' },
    },
  },
  {
    args: ['create', 'token', 'sa', '--duration=10m', '--audience=a'],
    path: '/api/v1/namespaces/default/serviceaccounts/sa/token',
    printed: 'token-for-test',
    decoded: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['a'], expirationSeconds: 600 } },
  },
];

for (const version of ['1.32', '1.33']) {
  const KUBECTL = kubectlBinary(version);
  test(`kubectl ${version} create <generator> bodies are protobuf and decode to the intended objects`, { skip: skipReason(version) }, async (t) => {
    const decoded = new Map<CapturedRequest, Record<string, unknown>>();
    const h = await startHarness((req, res) => {
      if (req.method !== 'POST') return false;
      try {
        const obj = decodeK8sProtobuf(req.body);
        decoded.set(req, obj);
        // answer as a server would: the object back, JSON (kubectl accepts JSON answers)
        const status = obj.kind === 'TokenRequest' ? { status: { token: 'token-for-test', expirationTimestamp: '2030-01-01T00:00:00Z' } } : {};
        sendJson(res, 201, { ...obj, metadata: { ...(obj.metadata as object), uid: 'u-1', resourceVersion: '1' }, ...status });
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
          if (c.args[1] !== 'token') assert.match(query, /fieldManager=kubectl-create/);
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
}
