// The Node authorizer and NodeRestriction against a real API server, with two nodes holding their own
// certificates (joined with a bootstrap token): each reads only what its pods use, changes only its own
// Node, Lease and pods' status, and may not touch labels under node-restriction.kubernetes.io/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, eventually, type TestCluster } from '../controllers/testutil.js';
import { RestClient } from '../client/rest.js';
import { CONFIGMAPS, LEASES, NODES, PODS, SECRETS } from '../api/kinds.js';
import type { Secret } from '../api/types.js';
import { bootstrapTokenSecret, generateBootstrapToken } from '../api/bootstraptoken.js';
import { ensureNodeCredentials } from '../agent/identity.js';
import { errorCode } from '../client/types.js';

let tc: TestCluster;
let dir: string;
let n1: RestClient;
let n2: RestClient;
const NS = 'default';

const code = async (p: Promise<unknown>) => p.then(() => 200, (e) => errorCode(e));
const message = async (p: Promise<unknown>) => p.then(() => '', (e) => (e instanceof Error ? e.message : String(e)));

before(async () => {
  tc = await startCluster();
  const ca = readFileSync(tc.s.caPath, 'utf8');
  const t = generateBootstrapToken();
  await tc.c.create(SECRETS, 'kube-system', bootstrapTokenSecret(t, { ttlSeconds: 600 }) as Secret);
  dir = mkdtempSync(join(tmpdir(), 'k8ts-nodeauthz-'));
  const join1 = await ensureNodeCredentials({ server: tc.s.url, ca, nodeName: 'n1', dataDir: join(dir, 'n1'), bootstrapToken: t.token, log: () => {}, timeoutMs: 20_000 });
  const join2 = await ensureNodeCredentials({ server: tc.s.url, ca, nodeName: 'n2', dataDir: join(dir, 'n2'), bootstrapToken: t.token, log: () => {}, timeoutMs: 20_000 });
  n1 = new RestClient({ server: tc.s.url, ca, cert: join1.cert, key: join1.key });
  n2 = new RestClient({ server: tc.s.url, ca, cert: join2.cert, key: join2.key });
  for (const [c, name] of [[n1, 'n1'], [n2, 'n2']] as const) {
    await c.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } } });
  }
  for (const [name, node] of [['s1', 'n1'], ['s2', 'n2']]) {
    await tc.c.create(SECRETS, NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { k: name } } as Secret);
    await tc.c.create(CONFIGMAPS, NS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${name}` }, data: { k: name } });
    await tc.c.create(PODS, NS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: `p-${node}` }, spec: { nodeName: node,
      volumes: [{ name: 's', secret: { secretName: name } }],
      containers: [{ name: 'c', image: 'busybox', envFrom: [{ configMapRef: { name: `c${name}` } }] }] } });
  }
});

after(async () => {
  n1?.close();
  n2?.close();
  await tc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a node reads the Secrets and ConfigMaps its pods use, and not another node\'s', async () => {
  await eventually('n1 may read its pod\'s secret', async () => (await code(n1.get(SECRETS, NS, 's1'))) === 200);
  assert.equal(await code(n1.get(SECRETS, NS, 's2')), 403);
  assert.match(await message(n1.get(SECRETS, NS, 's2')), /User "system:node:n1" cannot get resource "secrets".*no relationship/);
  assert.equal(await code(n2.get(SECRETS, NS, 's2')), 200);
  assert.equal(await code(n2.get(SECRETS, NS, 's1')), 403);
  assert.equal(await code(n1.get(CONFIGMAPS, NS, 'cs1')), 200);
  assert.equal(await code(n1.get(CONFIGMAPS, NS, 'cs2')), 403);
  // Listing or watching them all is refused; one by name (the kubelet's single-object watch) is not.
  assert.equal(await code(n1.list(SECRETS, NS)), 403);
  assert.equal(await code(n1.list(SECRETS)), 403);
  assert.equal(await code(n1.list(SECRETS, NS, { fieldSelector: 'metadata.name=s1' })), 200);
  assert.equal(await code(n1.list(SECRETS, NS, { fieldSelector: 'metadata.name=s2' })), 403);
  assert.equal(await code(n1.list(SECRETS, NS, { fieldSelector: 'metadata.name=s1,metadata.name=s2' })), 403);
  // Writes of Secrets are no node's.
  assert.equal(await code(n1.create(SECRETS, NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } } as Secret)), 403);
  // When the pod goes, so does the access.
  await tc.c.delete(PODS, NS, 'p-n2', { gracePeriodSeconds: 0 });
  await eventually('n2 loses s2', async () => (await code(n2.get(SECRETS, NS, 's2'))) === 403);
});

test('a node changes only its own Node and Lease', async () => {
  assert.equal(await code(n1.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { a: 'b' } } })), 200);
  assert.equal(await code(n1.patch(NODES, undefined, 'n2', 'merge', { metadata: { labels: { a: 'b' } } })), 403);
  assert.equal(await code(n1.patch(NODES, undefined, 'n2', 'merge', { status: { capacity: { cpu: '999' } } }, 'status')), 403);
  assert.equal(await code(n1.delete(NODES, undefined, 'n2')), 403);
  // Registering another node: the name is in the body, NodeRestriction refuses it.
  const reg = await message(n1.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n9' } }));
  assert.match(reg, /node "n1" is not allowed to modify node "n9"/);
  const lease = (name: string) => ({ apiVersion: 'coordination.k8s.io/v1' as const, kind: 'Lease' as const, metadata: { name, namespace: 'kube-node-lease' }, spec: { holderIdentity: name } });
  assert.equal(await code(n1.create(LEASES, 'kube-node-lease', lease('n1'))), 200);
  assert.equal(await code(n1.create(LEASES, 'kube-node-lease', lease('n2'))), 403);
  assert.equal(await code(n2.create(LEASES, 'kube-node-lease', lease('n2'))), 200);
  assert.equal(await code(n1.patch(LEASES, 'kube-node-lease', 'n2', 'merge', { spec: { holderIdentity: 'n1' } })), 403);
  assert.equal(await code(n1.delete(LEASES, 'kube-node-lease', 'n2')), 403);
  assert.equal(await code(n1.create(LEASES, 'kube-system', { ...lease('n1'), metadata: { name: 'n1', namespace: 'kube-system' } })), 403);
});

test('labels under node-restriction.kubernetes.io/ and taints are not a node\'s to set or change', async () => {
  const set = await message(n1.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'secure' } } }));
  assert.match(set, /node "n1" is not allowed to modify labels: node-restriction.kubernetes.io\/pool/);
  await tc.c.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'secure' } } });
  assert.equal(await code(n1.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'other' } } })), 403);
  assert.equal(await code(n1.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { 'node-restriction.kubernetes.io/pool': null } } })), 403);
  // Other labels still change; the restricted one stays.
  assert.equal(await code(n1.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { c: 'd' } } })), 200);
  assert.equal((await tc.c.get(NODES, undefined, 'n1'))!.metadata.labels?.['node-restriction.kubernetes.io/pool'], 'secure');
  assert.match(await message(n1.patch(NODES, undefined, 'n1', 'merge', { spec: { taints: [{ key: 'x', effect: 'NoSchedule' }] } })), /not allowed to modify taints/);
  // Registering with a restricted label is refused too.
  await tc.c.delete(NODES, undefined, 'n2');
  assert.match(await message(n2.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n2', labels: { 'node-restriction.kubernetes.io/x': 'y' } } })),
    /not allowed to set the following labels: node-restriction.kubernetes.io\/x/);
});

test('a node updates the status only of pods bound to it, deletes only those, and creates only mirror pods', async () => {
  await tc.c.create(PODS, NS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'q-n1' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] } });
  await tc.c.create(PODS, NS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'q-n2' }, spec: { nodeName: 'n2', containers: [{ name: 'c', image: 'busybox' }] } });
  await eventually('the graph has q-n1', async () => (await code(n1.patch(PODS, NS, 'q-n1', 'merge', { status: { message: 'mine' } }, 'status'))) === 200);
  assert.equal(await code(n1.patch(PODS, NS, 'q-n2', 'merge', { status: { phase: 'Failed' } }, 'status')), 403);
  assert.equal(await code(n1.patch(PODS, NS, 'q-n1', 'merge', { metadata: { labels: { x: 'y' } } })), 403);
  assert.equal(await code(n1.delete(PODS, NS, 'q-n2')), 403);
  assert.equal(await code(n1.postPath(`/api/v1/namespaces/${NS}/pods/q-n2/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'q-n2', namespace: NS } })), 403);
  const pod = (name: string, extra: Record<string, unknown> = {}, annotations: Record<string, string> = { 'kubernetes.io/config.mirror': 'x' }) => ({ apiVersion: 'v1' as const, kind: 'Pod' as const,
    metadata: { name, annotations }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }], ...extra } });
  assert.match(await message(n1.create(PODS, NS, pod('m1', {}, {}))), /can only create mirror pods/);
  assert.match(await message(n1.create(PODS, NS, pod('m2', { nodeName: 'n2' }))), /spec.nodeName set to itself/);
  assert.match(await message(n1.create(PODS, NS, pod('m3', { volumes: [{ name: 's', secret: { secretName: 's2' } }] }))), /can not create pods that reference secrets/);
  assert.match(await message(n1.create(PODS, NS, pod('m4', { serviceAccountName: 'default' }))), /service account/);
  assert.equal(await code(n1.delete(PODS, NS, 'q-n1')), 200);
});

test('a node asks for tokens only for the service accounts its pods use', async () => {
  await tc.c.create(PODS, NS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'sa-n1' }, spec: { nodeName: 'n1', serviceAccountName: 'default', containers: [{ name: 'c', image: 'busybox' }] } });
  const req = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [] } };
  await eventually('n1 may ask for default\'s token', async () => (await code(n1.postPath(`/api/v1/namespaces/${NS}/serviceaccounts/default/token`, req))) !== 403);
  assert.equal(await code(n1.postPath('/api/v1/namespaces/kube-system/serviceaccounts/default/token', req)), 403);
});
