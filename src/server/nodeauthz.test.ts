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
import { CONFIGMAPS, LEASES, NODES, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS, SECRETS } from '../api/kinds.js';
import type { Secret } from '../api/types.js';
import { bootstrapTokenSecret, generateBootstrapToken } from '../api/bootstraptoken.js';
import { ensureNodeCredentials } from '../agent/identity.js';
import { errorCode } from '../client/types.js';

let tc: TestCluster;
let dir: string;
let n1: RestClient;
let n2: RestClient;
const NS = 'default';

const code = async (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (e) => errorCode(e),
  );
const message = async (p: Promise<unknown>) =>
  p.then(
    () => '',
    (e) => (e instanceof Error ? e.message : String(e)),
  );
/** The Status message alone (the client puts the verb and object before it). */
const statusMessage = async (p: Promise<unknown>) => (await message(p)).replace(/^[A-Z]+ \S*: /, '');

before(async () => {
  tc = await startCluster();
  const ca = readFileSync(tc.s.caPath, 'utf8');
  const t = generateBootstrapToken();
  await tc.c.create(SECRETS, 'kube-system', bootstrapTokenSecret(t, { ttlSeconds: 600 }) as Secret);
  dir = mkdtempSync(join(tmpdir(), 'k8ts-nodeauthz-'));
  const join1 = await ensureNodeCredentials({
    server: tc.s.url,
    ca,
    nodeName: 'n1',
    dataDir: join(dir, 'n1'),
    bootstrapToken: t.token,
    log: () => {},
    timeoutMs: 20_000,
  });
  const join2 = await ensureNodeCredentials({
    server: tc.s.url,
    ca,
    nodeName: 'n2',
    dataDir: join(dir, 'n2'),
    bootstrapToken: t.token,
    log: () => {},
    timeoutMs: 20_000,
  });
  n1 = new RestClient({ server: tc.s.url, ca, cert: join1.cert, key: join1.key });
  n2 = new RestClient({ server: tc.s.url, ca, cert: join2.cert, key: join2.key });
  for (const [c, name] of [
    [n1, 'n1'],
    [n2, 'n2'],
  ] as const) {
    await c.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } } });
  }
  for (const [name, node] of [
    ['s1', 'n1'],
    ['s2', 'n2'],
  ]) {
    await tc.c.create(SECRETS, NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { k: name } } as Secret);
    await tc.c.create(CONFIGMAPS, NS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${name}` }, data: { k: name } });
    await tc.c.create(PODS, NS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p-${node}` },
      spec: {
        nodeName: node,
        volumes: [{ name: 's', secret: { secretName: name } }],
        containers: [{ name: 'c', image: 'busybox', envFrom: [{ configMapRef: { name: `c${name}` } }] }],
      },
    });
  }
});

after(async () => {
  n1?.close();
  n2?.close();
  await tc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a node reads the Secrets and ConfigMaps its pods use, and not another node's", async () => {
  await eventually("n1 may read its pod's secret", async () => (await code(n1.get(SECRETS, NS, 's1'))) === 200);
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
  const lease = (name: string) => ({
    apiVersion: 'coordination.k8s.io/v1' as const,
    kind: 'Lease' as const,
    metadata: { name, namespace: 'kube-node-lease' },
    spec: { holderIdentity: name },
  });
  assert.equal(await code(n1.create(LEASES, 'kube-node-lease', lease('n1'))), 200);
  assert.equal(await code(n1.create(LEASES, 'kube-node-lease', lease('n2'))), 403);
  assert.equal(await code(n2.create(LEASES, 'kube-node-lease', lease('n2'))), 200);
  assert.equal(await code(n1.patch(LEASES, 'kube-node-lease', 'n2', 'merge', { spec: { holderIdentity: 'n1' } })), 403);
  assert.equal(await code(n1.delete(LEASES, 'kube-node-lease', 'n2')), 403);
  assert.equal(await code(n1.create(LEASES, 'kube-system', { ...lease('n1'), metadata: { name: 'n1', namespace: 'kube-system' } })), 403);
});

test("labels under node-restriction.kubernetes.io/ and taints are not a node's to set or change", async () => {
  const set = await message(n1.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'secure' } } }));
  assert.match(set, /node "n1" is not allowed to modify labels: node-restriction.kubernetes.io\/pool/);
  await tc.c.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'secure' } } });
  assert.equal(await code(n1.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'other' } } })), 403);
  assert.equal(await code(n1.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { 'node-restriction.kubernetes.io/pool': null } } })), 403);
  // Other labels still change; the restricted one stays.
  assert.equal(await code(n1.patch(NODES, undefined, 'n1', 'merge', { metadata: { labels: { c: 'd' } } })), 200);
  assert.equal((await tc.c.get(NODES, undefined, 'n1'))!.metadata.labels?.['node-restriction.kubernetes.io/pool'], 'secure');
  assert.match(
    await message(n1.patch(NODES, undefined, 'n1', 'merge', { spec: { taints: [{ key: 'x', effect: 'NoSchedule' }] } })),
    /not allowed to modify taints/,
  );
  // Registering with a restricted label is refused too.
  await tc.c.delete(NODES, undefined, 'n2');
  assert.match(
    await message(
      n2.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n2', labels: { 'node-restriction.kubernetes.io/x': 'y' } } }),
    ),
    /not allowed to set the following labels: node-restriction.kubernetes.io\/x/,
  );
});

test('a node updates the status only of pods bound to it, deletes only those, and creates only mirror pods', async () => {
  await tc.c.create(PODS, NS, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'q-n1' },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] },
  });
  await tc.c.create(PODS, NS, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'q-n2' },
    spec: { nodeName: 'n2', containers: [{ name: 'c', image: 'busybox' }] },
  });
  await eventually('the graph has q-n1', async () => (await code(n1.patch(PODS, NS, 'q-n1', 'merge', { status: { message: 'mine' } }, 'status'))) === 200);
  assert.equal(await code(n1.patch(PODS, NS, 'q-n2', 'merge', { status: { phase: 'Failed' } }, 'status')), 403);
  assert.equal(await code(n1.patch(PODS, NS, 'q-n1', 'merge', { metadata: { labels: { x: 'y' } } })), 403);
  assert.equal(await code(n1.delete(PODS, NS, 'q-n2')), 403);
  assert.equal(
    await code(
      n1.postPath(`/api/v1/namespaces/${NS}/pods/q-n2/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'q-n2', namespace: NS } }),
    ),
    403,
  );
  const pod = (name: string, extra: Record<string, unknown> = {}, annotations: Record<string, string> = { 'kubernetes.io/config.mirror': 'x' }) => ({
    apiVersion: 'v1' as const,
    kind: 'Pod' as const,
    metadata: { name, annotations },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }], ...extra },
  });
  assert.match(await message(n1.create(PODS, NS, pod('m1', {}, {}))), /can only create mirror pods/);
  assert.match(await message(n1.create(PODS, NS, pod('m2', { nodeName: 'n2' }))), /spec.nodeName set to itself/);
  assert.match(
    await message(n1.create(PODS, NS, pod('m3', { volumes: [{ name: 's', secret: { secretName: 's2' } }] }))),
    /can not create pods that reference secrets/,
  );
  assert.match(await message(n1.create(PODS, NS, pod('m4', { serviceAccountName: 'default' }))), /service account/);
  assert.equal(await code(n1.delete(PODS, NS, 'q-n1')), 200);
});

test('a node asks for tokens only for the service accounts its pods use', async () => {
  await tc.c.create(PODS, NS, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'sa-n1' },
    spec: { nodeName: 'n1', serviceAccountName: 'default', containers: [{ name: 'c', image: 'busybox' }] },
  });
  const req = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [] } };
  await eventually(
    "n1 may ask for default's token",
    async () => (await code(n1.postPath(`/api/v1/namespaces/${NS}/serviceaccounts/default/token`, req))) !== 403,
  );
  assert.equal(await code(n1.postPath('/api/v1/namespaces/kube-system/serviceaccounts/default/token', req)), 403);
});

test("a node gets only the claims and volumes of its own pods, by name: no list, watch or write, upstream's reasons", async () => {
  for (const node of ['n1', 'n2']) {
    await tc.c.create(PERSISTENTVOLUMES, undefined, {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `pv-${node}` },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        storageClassName: '',
        persistentVolumeReclaimPolicy: 'Retain',
        hostPath: { path: `/nonexistent/k8ts-nodeauthz/${node}` },
      },
    });
    await tc.c.create(PERSISTENTVOLUMECLAIMS, NS, {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: `d-${node}` },
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: '', volumeName: `pv-${node}`, resources: { requests: { storage: '1Gi' } } },
    });
    await tc.c.create(PODS, NS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `v-${node}` },
      spec: { nodeName: node, volumes: [{ name: 'd', persistentVolumeClaim: { claimName: `d-${node}` } }], containers: [{ name: 'c', image: 'busybox' }] },
    });
  }
  await eventually('n1 gets its claim', async () => (await code(n1.get(PERSISTENTVOLUMECLAIMS, NS, 'd-n1'))) === 200);
  await eventually('n1 gets its volume', async () => (await code(n1.get(PERSISTENTVOLUMES, undefined, 'pv-n1'))) === 200);
  await eventually('n2 gets its volume', async () => (await code(n2.get(PERSISTENTVOLUMES, undefined, 'pv-n2'))) === 200);
  const none = "no relationship found between node 'n1' and this object";
  assert.equal(
    await statusMessage(n1.get(PERSISTENTVOLUMECLAIMS, NS, 'd-n2')),
    `persistentvolumeclaims "d-n2" is forbidden: User "system:node:n1" cannot get resource "persistentvolumeclaims" in API group "" in the namespace "default": ${none}`,
  );
  assert.equal(
    await statusMessage(n1.get(PERSISTENTVOLUMES, undefined, 'pv-n2')),
    `persistentvolumes "pv-n2" is forbidden: User "system:node:n1" cannot get resource "persistentvolumes" in API group "" at the cluster scope: ${none}`,
  );
  // Listing or watching them, even one by name, is no node's (the kubelet gets them): upstream's reason.
  const getOnly = 'can only get individual resources of this type';
  assert.equal(
    await statusMessage(n1.list(PERSISTENTVOLUMES)),
    `persistentvolumes is forbidden: User "system:node:n1" cannot list resource "persistentvolumes" in API group "" at the cluster scope: ${getOnly}`,
  );
  assert.match(await message(n1.list(PERSISTENTVOLUMES, undefined, { fieldSelector: 'metadata.name=pv-n1' })), new RegExp(`${getOnly}$`));
  assert.match(await message(n1.list(PERSISTENTVOLUMECLAIMS, NS)), new RegExp(`${getOnly}$`));
  assert.equal(await code(n1.list(PERSISTENTVOLUMECLAIMS)), 403);
  // Writes: not even to its own volume (the local-path cleanup runs as the provisioner's helper pod).
  const own = (await tc.c.get(PERSISTENTVOLUMES, undefined, 'pv-n1'))!;
  assert.match(
    await message(n1.update(PERSISTENTVOLUMES, undefined, { ...own, metadata: { ...own.metadata, finalizers: [] } })),
    new RegExp(`cannot update resource "persistentvolumes" in API group "" at the cluster scope: ${getOnly}$`),
  );
  assert.equal(await code(n1.patch(PERSISTENTVOLUMES, undefined, 'pv-n2', 'merge', { metadata: { labels: { x: 'y' } } })), 403);
  assert.equal(await code(n1.delete(PERSISTENTVOLUMES, undefined, 'pv-n1')), 403);
  assert.equal(await code(n1.patch(PERSISTENTVOLUMECLAIMS, NS, 'd-n1', 'merge', { metadata: { labels: { x: 'y' } } })), 403);
  // A claim's status: its own pods' only, and only the fields a resize reports (NodeRestriction).
  assert.equal(
    await code(n1.patch(PERSISTENTVOLUMECLAIMS, NS, 'd-n1', 'merge', { status: { conditions: [{ type: 'Resizing', status: 'True' }] } }, 'status')),
    200,
  );
  assert.match(
    await message(n1.patch(PERSISTENTVOLUMECLAIMS, NS, 'd-n1', 'merge', { status: { phase: 'Lost' } }, 'status')),
    /node "n1" is not allowed to update fields other than status.capacity and status.conditions/,
  );
  assert.match(await message(n1.patch(PERSISTENTVOLUMECLAIMS, NS, 'd-n2', 'merge', { status: { conditions: [] } }, 'status')), new RegExp(`${none}$`));
  // Secrets and ConfigMaps of another node's pods, and writes of its own: upstream's reasons too.
  assert.equal(
    await statusMessage(n1.get(CONFIGMAPS, NS, 'cs2')),
    `configmaps "cs2" is forbidden: User "system:node:n1" cannot get resource "configmaps" in API group "" in the namespace "default": ${none}`,
  );
  const mine = (await tc.c.get(SECRETS, NS, 's1'))!;
  assert.match(
    await message(n1.update(SECRETS, NS, mine)),
    /cannot update resource "secrets" in API group "" in the namespace "default": can only read resources of this type$/,
  );
  assert.match(await message(n1.list(SECRETS, NS)), /: No Object name found$/);
  // The pod goes: so do its claim and volume.
  await tc.c.delete(PODS, NS, 'v-n1', { gracePeriodSeconds: 0 });
  await eventually('n1 loses its volume', async () => (await code(n1.get(PERSISTENTVOLUMES, undefined, 'pv-n1'))) === 403);
  assert.equal(await code(n1.get(PERSISTENTVOLUMECLAIMS, NS, 'd-n1')), 403);
});
