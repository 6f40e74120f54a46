// Informers against a real API server: one list, then watches that resume from the last resourceVersion
// when the connection breaks or the informer (or a controller on it) restarts; counted, so a relist shows.
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { PODS } from '../api/kinds.js';
import type { Pod } from '../api/types.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServer, type RunningServer } from '../server/server.js';
import { eventually } from '../testing/eventually.js';
import { SharedInformerFactory } from './factory.js';
import { RestClient, configFromKubeconfig } from './rest.js';
import { Indexer, byNodeName, NODE_NAME_INDEX } from './indexer.js';

const pod = (name: string, node = 'n1'): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app: 'x' } },
  spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox' }] },
});

/** A TCP proxy to the API server whose connections the test can cut, as a network failure would. */
async function cuttableProxy(target: URL): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    sockets.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    cut: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('informers', () => {
  const cl = {} as { s: RunningServer; c: RestClient; dir: string };
  before(async () => {
    cl.dir = mkdtempSync(join(tmpdir(), 'k8ts-informer-'));
    cl.s = await runServer({ dataDir: cl.dir, store: 'memory', listen: [{ host: '127.0.0.1', port: 0 }], log: () => {} });
    cl.c = new RestClient(configFromKubeconfig(cl.s.kubeconfigPath));
  });
  after(async () => {
    cl.c.close();
    await cl.s.close();
    rmSync(cl.dir, { recursive: true, force: true });
  });

  test('a broken watch and a restarted informer resume from the last resourceVersion: no relist', async () => {
    const proxy = await cuttableProxy(new URL(cl.s.url));
    const cfg = configFromKubeconfig(cl.s.kubeconfigPath);
    const c = new RestClient({ ...cfg, server: `https://127.0.0.1:${proxy.port}` });
    const factory = new SharedInformerFactory(c);
    try {
      await cl.c.create(PODS, 'default', pod('before'));
      const pods = factory.informerFor(PODS);
      assert.equal(factory.informerFor(PODS), pods, 'one informer per resource, whoever asks');
      factory.start();
      await factory.waitForCacheSync();
      assert.ok(pods.lister.get('default', 'before'));
      assert.equal(pods.stats.lists, 1);

      // The network drops every connection (once the watch is live): the watch resumes, and what changed
      // meanwhile arrives.
      await cl.c.create(PODS, 'default', pod('watch-live'));
      await eventually('the watch is live', async () => pods.lister.get('default', 'watch-live'));
      proxy.cut();
      await cl.c.create(PODS, 'default', pod('during-cut'));
      await eventually('the pod made while the watch was down', async () => pods.lister.get('default', 'during-cut'));
      // The informer stops and starts again (a controller restart): it resumes as well.
      pods.stop();
      await cl.c.create(PODS, 'default', pod('while-stopped'));
      await cl.c.delete(PODS, 'default', 'before', { gracePeriodSeconds: 0 });
      pods.start();
      await eventually('the changes made while stopped', async () => pods.lister.get('default', 'while-stopped') && !pods.lister.get('default', 'before'));
      assert.equal(pods.stats.lists, 1, 'no relist');
      assert.equal(pods.stats.relists, 0);
      assert.ok(pods.stats.resumes >= 2, `resumed ${pods.stats.resumes} times`);
    } finally {
      factory.stop();
      c.close();
      await proxy.close();
    }
  });

  test('controllers restarted by a leadership change take the shared caches as they are: no relist', async () => {
    const statsBefore = new Map([...cl.s.informers.stats()].map(([k, v]) => [k, v.lists]));
    assert.ok(statsBefore.size > 0);
    const manager = cl.s.singletons.find((s) => s.lease === 'kube-controller-manager')!;
    await manager.stop();
    assert.equal(manager.leading, false);
    await cl.c.create(PODS, 'default', pod('between-terms'));
    manager.start();
    await eventually('leading again', async () => manager.leading, 15_000);
    for (const [k, v] of cl.s.informers.stats()) {
      if (statsBefore.has(k)) assert.equal(v.lists, statsBefore.get(k), `${k}: no relist after the restart`);
    }
  });

  test('indexes follow every change', () => {
    const idx = new Indexer<Pod>({ [NODE_NAME_INDEX]: byNodeName });
    const p1 = { ...pod('a', 'n1'), metadata: { name: 'a', namespace: 'x' } };
    idx.set(p1);
    idx.set({ ...pod('b', 'n1'), metadata: { name: 'b', namespace: 'x' } });
    assert.deepEqual(
      idx
        .byIndex(NODE_NAME_INDEX, 'n1')
        .map((p) => p.metadata.name)
        .sort(),
      ['a', 'b'],
    );
    idx.set({ ...p1, spec: { ...p1.spec!, nodeName: 'n2' } });
    assert.deepEqual(
      idx.byIndex(NODE_NAME_INDEX, 'n1').map((p) => p.metadata.name),
      ['b'],
    );
    assert.deepEqual(
      idx.byIndex(NODE_NAME_INDEX, 'n2').map((p) => p.metadata.name),
      ['a'],
    );
    idx.deleteKey('x/b');
    assert.deepEqual(idx.byIndex(NODE_NAME_INDEX, 'n1'), []);
    assert.deepEqual(idx.indexValues(NODE_NAME_INDEX), ['n2']);
  });
});

describe('informers past the watch history', () => {
  test('410 Gone (the version left a short watch cache) makes exactly one relist, and the cache and handlers catch up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-informer-gone-'));
    const s = await runServer({ dataDir: dir, store: 'memory', listen: [{ host: '127.0.0.1', port: 0 }], watchCacheEvents: 20, log: () => {} });
    const c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
    const factory = new SharedInformerFactory(c);
    try {
      await c.create(PODS, 'default', pod('old-1'));
      await c.create(PODS, 'default', pod('old-2'));
      const pods = factory.informerFor(PODS);
      const deleted: string[] = [];
      pods.addEventHandler({ onDelete: (p) => deleted.push(p.metadata.name!) });
      factory.start();
      await factory.waitForCacheSync();
      assert.equal(pods.stats.lists, 1);
      pods.stop();
      // More changes than the server keeps: the informer's resourceVersion falls out of the history.
      await c.delete(PODS, 'default', 'old-1', { gracePeriodSeconds: 0 });
      for (let i = 0; i < 40; i++) await c.create(PODS, 'default', pod(`new-${i}`));
      pods.start();
      await eventually('the cache holds what the server holds', async () => pods.lister.list().length === 41 && !pods.lister.get('default', 'old-1'));
      assert.equal(pods.stats.relists, 1, 'one relist, for the 410');
      assert.equal(pods.stats.lists, 2);
      assert.deepEqual(deleted, ['old-1'], 'the object gone while away is delivered as a delete');
      // Back on a live watch: a change after the relist arrives as an event, with no further list.
      await c.create(PODS, 'default', pod('after'));
      await eventually('the pod made after the relist', async () => pods.lister.get('default', 'after'));
      assert.equal(pods.stats.lists, 2);
    } finally {
      factory.stop();
      c.close();
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
