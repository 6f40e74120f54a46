// The control plane's loops against a real API server (memory store): node IPAM, the scheduler and
// node lifecycle, observed through the API as a user would.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServer, type RunningServer } from '../server/server.js';
import { RestClient, configFromKubeconfig } from '../client/rest.js';
import { EVENTS, LEASES, NODES, PODS } from '../api/kinds.js';
import type { Event, Node, Pod, PodSpec } from '../api/types.js';
import { must } from '../testing/must.js';
import { eventually } from './testutil.js';

function nodeObj(name: string, labels: Record<string, string> = {}, ready = true): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    status: {
      capacity: { cpu: '2', memory: '4Gi', pods: '3' },
      allocatable: { cpu: '2', memory: '4Gi', pods: '3' },
      conditions: [
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason: 'KubeletReady',
          message: 'ok',
          lastHeartbeatTime: new Date().toISOString(),
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    },
  };
}

function podObj(name: string, extra: Partial<PodSpec> = {}): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...extra } };
}

describe('control plane loops', () => {
  let s: RunningServer;
  let c: RestClient;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k8ts-cp-'));
    s = await runServer({
      dataDir: dir,
      store: 'memory',
      listen: [{ host: '127.0.0.1', port: 0 }],
      clusterCidr: '10.250.0.0/22',
      nodeMonitorGracePeriodMs: 1500,
    });
    c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
  });
  after(async () => {
    c?.close();
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("node IPAM gives each node its own /24 and reuses a deleted node's", async () => {
    for (const n of ['ipam-a', 'ipam-b', 'ipam-c']) await c.create(NODES, undefined, nodeObj(n));
    const cidrs = await eventually('pod CIDRs', async () => {
      const got = await Promise.all(['ipam-a', 'ipam-b', 'ipam-c'].map(async (n) => (await c.get(NODES, undefined, n))?.spec?.podCIDR));
      return got.every(Boolean) && got;
    });
    assert.equal(new Set(cidrs).size, 3);
    for (const x of cidrs as string[]) assert.match(x, /^10\.250\.[0-3]\.0\/24$/);
    const freed = (await c.get(NODES, undefined, 'ipam-b'))?.spec?.podCIDR;
    await c.delete(NODES, undefined, 'ipam-b');
    await c.create(NODES, undefined, nodeObj('ipam-d'));
    const d = await eventually('ipam-d CIDR', async () => (await c.get(NODES, undefined, 'ipam-d'))?.spec?.podCIDR);
    assert.equal(d, freed);
    // The range is now full (4 x /24 in a /22): a fifth node waits with an event.
    await c.create(NODES, undefined, nodeObj('ipam-e'));
    await c.create(NODES, undefined, nodeObj('ipam-f'));
    const ev = await eventually('CIDRNotAvailable event', async () => (await c.list(EVENTS, 'default')).items.find((e) => e.reason === 'CIDRNotAvailable'));
    assert.match(ev.message ?? '', /has no free \/24/);
    for (const n of ['ipam-a', 'ipam-c', 'ipam-d', 'ipam-e', 'ipam-f']) await c.delete(NODES, undefined, n);
  });

  test('the scheduler spreads pods over ready nodes, honours nodeSelector and says why it cannot', async () => {
    await c.create(NODES, undefined, nodeObj('s1', { zone: 'a' }));
    await c.create(NODES, undefined, nodeObj('s2', { zone: 'b' }));
    await c.create(NODES, undefined, nodeObj('s3', { zone: 'c' }, false));
    for (let i = 0; i < 4; i++) await c.create(PODS, 'default', podObj(`spread-${i}`));
    const bound = await eventually('4 pods bound', async () => {
      const pods = (await c.list(PODS, 'default')).items.filter((p) => p.metadata.name!.startsWith('spread-'));
      return pods.every((p) => p.spec?.nodeName) && pods;
    });
    const per = new Map<string, number>();
    for (const p of bound) {
      const node = must(p.spec?.nodeName, 'nodeName');
      per.set(node, (per.get(node) ?? 0) + 1);
    }
    assert.deepEqual([...per].sort(), [
      ['s1', 2],
      ['s2', 2],
    ]);
    const scheduled = must(
      bound[0].status?.conditions?.find((x) => x.type === 'PodScheduled'),
      'a PodScheduled condition',
    );
    assert.equal(scheduled.status, 'True');

    await c.create(PODS, 'default', podObj('picky', { nodeSelector: { zone: 'b' } }));
    assert.equal(await eventually('picky bound', async () => (await c.get(PODS, 'default', 'picky'))?.spec?.nodeName), 's2');

    // s2 is now full (3 pods); zone b has no other node; s3 is not ready.
    await c.create(PODS, 'default', podObj('stuck', { nodeSelector: { zone: 'b' } }));
    const ev = await eventually('FailedScheduling', async () =>
      (await c.list(EVENTS, 'default', { fieldSelector: 'involvedObject.name=stuck' })).items.find((e) => e.reason === 'FailedScheduling'),
    );
    assert.equal(ev.type, 'Warning');
    const message = must(ev.message, 'an event message');
    assert.match(message, /^0\/3 nodes are available: /);
    assert.match(message, /Too many pods/);
    assert.match(message, /didn't match Pod's node affinity\/selector/);
    const stuck = must(await c.get(PODS, 'default', 'stuck'), 'pod stuck');
    assert.equal(stuck.spec?.nodeName, undefined);
    assert.equal(stuck.status?.phase, 'Pending');
    assert.equal(stuck.status?.conditions?.find((x) => x.type === 'PodScheduled')?.reason, 'Unschedulable');

    // Room appears: the pending pod is bound without anyone touching it.
    await c.delete(PODS, 'default', 'picky', { gracePeriodSeconds: 0 });
    assert.equal(await eventually('stuck bound', async () => (await c.get(PODS, 'default', 'stuck'))?.spec?.nodeName), 's2');
    for (const p of (await c.list(PODS, 'default')).items) await c.delete(PODS, 'default', p.metadata.name!, { gracePeriodSeconds: 0 });
    for (const n of ['s1', 's2', 's3']) await c.delete(NODES, undefined, n);
  });

  test('a node whose lease goes stale becomes NotReady and tainted, and recovers', async () => {
    await c.create(NODES, undefined, nodeObj('lc'));
    const lease = await c.create(LEASES, 'kube-node-lease', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'lc' },
      spec: {
        holderIdentity: 'lc',
        leaseDurationSeconds: 40,
        renewTime: new Date()
          .toISOString()
          .replace('Z', '000Z')
          .replace(/\.(\d{3})000Z$/, '.$1000Z'),
      },
    });
    assert.ok(lease);
    const tainted = await eventually(
      'unreachable taint',
      async () => {
        const n = await c.get(NODES, undefined, 'lc');
        return n?.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute') && n;
      },
      15_000,
    );
    assert.equal(tainted.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'Unknown');
    // The agent comes back: renews the lease (well within the grace period) and posts Ready.
    const renew = () => c.patch(LEASES, 'kube-node-lease', 'lc', 'merge', { spec: { renewTime: new Date().toISOString().replace(/Z$/, '000Z') } });
    await renew();
    const renewer = setInterval(() => void renew().catch(() => {}), 200);
    try {
      await c.patch(
        NODES,
        undefined,
        'lc',
        'merge',
        { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'back' }] } },
        'status',
      );
      await eventually('taint removed', async () => !(await c.get(NODES, undefined, 'lc'))?.spec?.taints?.length);
    } finally {
      clearInterval(renewer);
    }
    await c.delete(NODES, undefined, 'lc');
  });
});

describe('event ttl', () => {
  test('events older than the TTL are deleted, newer ones stay', async () => {
    const { EventTtl } = await import('./eventttl.js');
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-ttl-'));
    const s = await runServer({ dataDir: dir, store: 'memory', listen: [{ host: '127.0.0.1', port: 0 }], eventTtlMs: 3_600_000 });
    const c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
    try {
      const ev = (name: string, last: string): Event => ({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: 'default' },
        involvedObject: { kind: 'Pod', namespace: 'default', name: 'p' },
        reason: 'Test',
        message: name,
        type: 'Normal',
        firstTimestamp: last,
        lastTimestamp: last,
        count: 1,
        source: { component: 'test' },
      });
      const old = new Date(Date.now() - 2 * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
      const fresh = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
      await c.create(EVENTS, 'default', ev('old', old));
      await c.create(EVENTS, 'default', ev('fresh', fresh));
      const { SharedInformerFactory } = await import('../client/factory.js');
      const ttl = new EventTtl({ client: c, informers: new SharedInformerFactory(c) }, 3_600_000);
      assert.equal(await ttl.sweep(), 1);
      const names = (await c.list(EVENTS, 'default')).items.map((e) => e.metadata.name);
      assert.ok(names.includes('fresh'));
      assert.ok(!names.includes('old'));
    } finally {
      c.close();
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
