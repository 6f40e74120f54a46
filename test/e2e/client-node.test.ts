// The official JavaScript client (@kubernetes/client-node 1.4) lists, creates, patches and watches pods.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { startServer, type TestServer } from './harness.js';

describe('@kubernetes/client-node against k8ts', () => {
  let s: TestServer;
  let kc: k8s.KubeConfig;
  before(async () => {
    s = await startServer();
    kc = new k8s.KubeConfig();
    kc.loadFromFile(s.kubeconfig);
  });
  after(async () => {
    await s?.stop();
  });

  test('list, create, patch, watch pods', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const empty = await core.listNamespacedPod({ namespace: 'default' });
    assert.equal(empty.items.length, 0);
    const events: string[] = [];
    const watch = new k8s.Watch(kc);
    let seen!: () => void;
    const gotModified = new Promise<void>((r) => (seen = r));
    const req = await watch.watch(
      '/api/v1/namespaces/default/pods',
      { resourceVersion: empty.metadata?.resourceVersion },
      (type: string, obj: k8s.V1Pod) => {
        events.push(`${type} ${obj.metadata?.name} ${obj.metadata?.labels?.stage ?? ''}`.trim());
        if (type === 'MODIFIED' && obj.metadata?.labels?.stage === 'two') seen();
      },
      () => {},
    );
    try {
      const created = await core.createNamespacedPod({
        namespace: 'default',
        body: {
          metadata: { name: 'js', labels: { stage: 'one' } },
          spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', '1000'] }] },
        },
      });
      assert.equal(created.metadata?.name, 'js');
      assert.equal(created.status?.phase, 'Pending');
      assert.ok(created.metadata?.uid);
      const patched = await core.patchNamespacedPod(
        { name: 'js', namespace: 'default', body: { metadata: { labels: { stage: 'two' } } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      assert.equal(patched.metadata?.labels?.stage, 'two');
      const list = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'stage=two' });
      assert.deepEqual(
        list.items.map((p) => p.metadata?.name),
        ['js'],
      );
      await Promise.race([gotModified, new Promise((_, rej) => setTimeout(() => rej(new Error(`no MODIFIED event: ${events}`)), 5000))]);
      // The scheduler may also touch the pod (no nodes: PodScheduled=False), so other MODIFIED events can come between.
      assert.equal(events[0], 'ADDED js one');
      assert.ok(events.includes('MODIFIED js two'), events.join(', '));
      await core.deleteNamespacedPod({ name: 'js', namespace: 'default' });
      await assert.rejects(core.readNamespacedPod({ name: 'js', namespace: 'default' }), (e: unknown) => e instanceof k8s.ApiException && e.code === 404);
    } finally {
      req.abort();
    }
  });
});
