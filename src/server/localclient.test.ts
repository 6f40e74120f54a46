// The server's in-process client runs as the server's own loops, never as the user whose request woke them:
// a controller write made while a node's request context is current is judged as the controller's (the
// node's own writes over HTTP stay under NodeRestriction: nodeauthz.test.ts). Its lists are consistent reads
// from the watch cache, each item a copy of its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requestUser } from '../api/authorization.js';
import { CONFIGMAPS, NAMESPACES, NODES } from '../api/kinds.js';
import type { ConfigMap, Namespace, Node } from '../api/types.js';
import { LocalClient } from '../apiserver/localclient.js';
import { startCluster, type TestCluster } from '../controllers/testutil.js';

let tc: TestCluster;
before(async () => {
  tc = await startCluster();
});
after(async () => {
  await tc?.close();
});

test("a write through the local client inside a node's request context is not judged as that node's", async () => {
  const local = new LocalClient(tc.s.api.registry);
  await local.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'lc-n1' } } as Node);
  const node = { name: 'system:node:lc-n2', groups: ['system:nodes', 'system:authenticated'] };
  // As the node lifecycle controller would, woken by an event of lc-n2's request: taint another node.
  const tainted = await requestUser.run(node, () =>
    local.patch(NODES, undefined, 'lc-n1', 'merge', { spec: { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }] } }),
  );
  assert.equal(tainted.spec?.taints?.[0]?.key, 'node.kubernetes.io/unreachable');
  // Watch handlers run outside the writer's context too.
  let seen: unknown = 'unset';
  const w = await local.watch(NODES, undefined, String(tc.s.api.registry.cache.revision), {
    onEvent: () => {
      seen = requestUser.getStore();
    },
    onError: () => undefined,
  });
  await requestUser.run(node, () => local.patch(NODES, undefined, 'lc-n1', 'merge', { metadata: { labels: { x: 'y' } } }));
  for (let i = 0; i < 100 && seen === 'unset'; i++) await new Promise((r) => setTimeout(r, 10));
  w.close();
  assert.equal(seen, undefined);
  await local.delete(NODES, undefined, 'lc-n1');
});

test('a list is consistent, from the watch cache, and each item a private copy, past one slice of the event loop', async () => {
  const local = new LocalClient(tc.s.api.registry);
  const ns = 'lc-list';
  await local.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } as Namespace);
  const n = 1_203;
  for (let i = 0; i < n; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, (_, j) =>
        local.create(CONFIGMAPS, ns, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `cm-${i + j}`, labels: { odd: String((i + j) % 2) } },
          data: { k: 'v' },
        } as ConfigMap),
      ),
    );
  }
  // Written just before the list: a consistent read has it.
  const last = await local.create(CONFIGMAPS, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-last' } } as ConfigMap);
  const l = await local.list(CONFIGMAPS, ns);
  assert.equal(l.items.length, n + 1);
  assert.ok(Number(l.resourceVersion) >= Number(last.metadata.resourceVersion));
  assert.ok(l.items.some((c) => c.metadata.name === 'cm-last'));
  assert.equal(l.items[0].kind, 'ConfigMap');
  assert.equal(l.items[0].apiVersion, 'v1');
  // Private copies: what one caller changes, neither the cache nor the next list sees.
  const first = l.items.find((c) => c.metadata.name === 'cm-0')!;
  first.data!.k = 'changed';
  first.metadata.labels!.odd = 'changed';
  const again = await local.list(CONFIGMAPS, ns, { labelSelector: 'odd=0' });
  assert.equal(again.items.length, Math.ceil(n / 2));
  const cm0 = again.items.find((c) => c.metadata.name === 'cm-0')!;
  assert.equal(cm0.data!.k, 'v');
  assert.equal((await local.get(CONFIGMAPS, ns, 'cm-0'))!.data!.k, 'v');
  await local.delete(NAMESPACES, undefined, ns);
});
