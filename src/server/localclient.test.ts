// The server's in-process client runs as the server's own loops, never as the user whose request woke them:
// a controller write made while a node's request context is current is judged as the controller's (the
// node's own writes over HTTP stay under NodeRestriction: nodeauthz.test.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requestUser } from '../api/authorization.js';
import { NODES } from '../api/kinds.js';
import type { Node } from '../api/types.js';
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
