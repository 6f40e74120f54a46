// A Node's Ready condition as an agent reports it, against a real API server: NotReady at registration
// (the pod network is not set up yet), Ready once the agent posts it, and kept across a re-registration
// (an agent restart leaves the node's network running); a hollow node, with nothing to set up, registers Ready.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type TestCluster } from '../controllers/testutil.js';
import { NETWORK_NOT_READY, postReady, registerNode } from '../agent/node.js';
import { NODES } from '../api/kinds.js';

let tc: TestCluster;
before(async () => {
  tc = await startCluster();
});
after(async () => {
  await tc?.close();
});

const ready = async (name: string) => (await tc.c.get(NODES, undefined, name))?.status?.conditions?.find((c) => c.type === 'Ready');

test('an agent registers its Node NotReady, posts Ready when its network is set up, and a restart keeps Ready', async () => {
  await registerNode(tc.c, 'n1', '172.30.9.11', 'runc://1.1.0', false);
  const first = await ready('n1');
  assert.equal(first?.status, 'False');
  assert.equal(first?.reason, 'KubeletNotReady');
  assert.equal(first?.message, NETWORK_NOT_READY);
  await postReady(tc.c, 'n1', true, 'k8ts agent is posting ready status');
  assert.equal((await ready('n1'))?.status, 'True');
  await registerNode(tc.c, 'n1', '172.30.9.11', 'runc://1.1.0', false);
  assert.equal((await ready('n1'))?.status, 'True');
});

test('a hollow node registers Ready', async () => {
  await registerNode(tc.c, 'h1', '10.255.0.1', 'hollow://0.1.0', true);
  assert.equal((await ready('h1'))?.status, 'True');
});
