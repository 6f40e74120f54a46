// The official clients with DaemonSets, StatefulSets and ControllerRevisions on a started k8ts server:
// client-node 1.4 and python3-kubernetes create them and watch them (no nodes: StatefulSet pods wait).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { startServer, type TestServer } from './harness.js';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness.js';

const PYTHON = '/usr/bin/python3';
const pythonSkip = (): string | false =>
  existsSync(PYTHON) && existsSync('/usr/lib/python3/dist-packages/kubernetes/__init__.py')
    ? false
    : 'python3-kubernetes is not installed (make setup installs it)';

const template = (app: string) => ({ metadata: { labels: { app } }, spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] } });

describe('official clients with DaemonSets and StatefulSets', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    await s?.stop();
  });

  test('client-node creates a DaemonSet and a StatefulSet and watches the StatefulSet get its revision', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(s.kubeconfig);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const ds = await apps.createNamespacedDaemonSet({
      namespace: 'default',
      body: { metadata: { name: 'js-ds' }, spec: { selector: { matchLabels: { app: 'js-ds' } }, template: template('js-ds') } },
    });
    assert.equal(ds.spec?.updateStrategy?.type, 'RollingUpdate');
    const watch = new k8s.Watch(kc);
    let done!: (rev: string) => void;
    const revision = new Promise<string>((r) => (done = r));
    const req = await watch.watch(
      '/apis/apps/v1/namespaces/default/statefulsets',
      {},
      (_type: string, o: k8s.V1StatefulSet) => {
        if (o.metadata?.name === 'js-sts' && o.status?.updateRevision) done(o.status.updateRevision);
      },
      () => {},
    );
    try {
      await apps.createNamespacedStatefulSet({
        namespace: 'default',
        body: {
          metadata: { name: 'js-sts' },
          spec: { serviceName: 'js-sts', replicas: 2, selector: { matchLabels: { app: 'js-sts' } }, template: template('js-sts') },
        },
      });
      const rev = await Promise.race([revision, new Promise<string>((_, rej) => setTimeout(() => rej(new Error('no status')), 10_000))]);
      assert.match(rev, /^js-sts-[bcdfghjklmnpqrstvwxz2456789]+$/);
      const revs = await apps.listNamespacedControllerRevision({ namespace: 'default', labelSelector: 'app=js-sts' });
      assert.deepEqual(
        revs.items.map((r) => [r.metadata?.name, r.revision]),
        [[rev, 1]],
      );
      await assert.rejects(
        apps.patchNamespacedDaemonSet(
          { name: 'js-ds', namespace: 'default', body: { spec: { selector: { matchLabels: { app: 'x' } } } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        ),
        (e: { code?: number; body?: string }) => e.code === 422 && /spec\.selector/.test(String(e.body)),
      );
    } finally {
      req.abort();
    }
  });

  test('python3-kubernetes creates and watches them', { skip: pythonSkip() }, async () => {
    const r = spawnSync(PYTHON, ['-u', join(ROOT, 'test/e2e/python/sets_client.py'), s.kubeconfig, 'py-sets'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { PATH: '/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1' },
    });
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 0, out);
    assert.match(out, /ok watch statefulset status\n/);
    assert.match(out, /PASS\n$/);
  });
});
