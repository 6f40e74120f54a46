// Allocation through a real API server on SQLite: the `kubernetes` service and its endpoints, allocations
// that survive a restart on the same data dir without being handed out twice, and the repair loop on
// start fixing a claim left without a service and a service left without a claim.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServer, type RunningServer } from '../../server/server.js';
import { RestClient, configFromKubeconfig } from '../../client/rest.js';
import { ENDPOINTS as EP, ENDPOINTSLICES as SLICE, SERVICES as SVC } from '../../api/kinds.js';
import type { Service } from '../../api/types.js';
import { SqliteStore } from '../../store/sqlite.js';
import { ClusterIPAllocator } from './clusterip.js';
import { NodePortAllocator } from './nodeport.js';
import { eventually } from '../../testing/eventually.js';
import { clusterIPOf, nodePortOf, serviceFixture as svc } from './testing.js';

describe('service allocation in a real server on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-svcalloc-'));
  const dataDir = join(dir, 'data');
  let s: RunningServer | undefined;
  let c: RestClient | undefined;
  const start = async () => {
    s = await runServer({ dataDir, store: 'sqlite', listen: [{ host: '127.0.0.1', port: 0 }], advertiseAddress: '192.0.2.50' });
    c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
  };
  const stop = async () => {
    c?.close();
    c = undefined;
    await s?.close();
    s = undefined;
  };
  after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the kubernetes service, its EndpointSlice and Endpoints point at the API server', async () => {
    await start();
    const port = Number(new URL(s!.url).port);
    const k = (await c!.get(SVC, 'default', 'kubernetes'))!;
    assert.equal(k.spec?.clusterIP, '10.96.0.1');
    assert.equal(k.spec?.type, 'ClusterIP');
    assert.equal(k.spec?.selector, undefined);
    assert.deepEqual(
      k.spec?.ports?.map((p) => [p.name, p.protocol, p.port, p.targetPort]),
      [['https', 'TCP', 443, port]],
    );
    const slice = (await c!.get(SLICE, 'default', 'kubernetes'))!;
    assert.equal(slice.metadata.labels?.['kubernetes.io/service-name'], 'kubernetes');
    assert.equal(slice.addressType, 'IPv4');
    assert.deepEqual(
      slice.endpoints.map((e) => [e.addresses, e.conditions?.ready]),
      [[['192.0.2.50'], true]],
    );
    assert.deepEqual(
      slice.ports?.map((p) => [p.name, p.port, p.protocol]),
      [['https', port, 'TCP']],
    );
    const ep = (await c!.get(EP, 'default', 'kubernetes'))!;
    assert.deepEqual(ep.subsets, [{ addresses: [{ ip: '192.0.2.50' }], ports: [{ name: 'https', port, protocol: 'TCP' }] }]);
  });

  test('the kubernetes objects come back when deleted and are put right when changed', async () => {
    const port = Number(new URL(s!.url).port);
    const old = (await c!.get(SVC, 'default', 'kubernetes'))!;
    await c!.delete(SVC, 'default', 'kubernetes');
    const again = await eventually('kubernetes service recreated', async () => {
      const k = await c!.get(SVC, 'default', 'kubernetes');
      return k && k.metadata.uid !== old.metadata.uid && k;
    });
    assert.equal(again.spec?.clusterIP, '10.96.0.1');
    await c!.patch(SLICE, 'default', 'kubernetes', 'merge', { endpoints: [{ addresses: ['192.0.2.99'], conditions: { ready: false } }] });
    await c!.patch(SVC, 'default', 'kubernetes', 'merge', { spec: { ports: [{ name: 'https', port: 443, targetPort: 1234, protocol: 'TCP' }] } });
    await c!.delete(EP, 'default', 'kubernetes');
    await eventually('slice fixed', async () => (await c!.get(SLICE, 'default', 'kubernetes'))?.endpoints?.[0]?.addresses?.[0] === '192.0.2.50');
    await eventually('service fixed', async () => (await c!.get(SVC, 'default', 'kubernetes'))?.spec?.ports?.[0]?.targetPort === port);
    await eventually('endpoints recreated', async () => (await c!.get(EP, 'default', 'kubernetes'))?.subsets?.[0]?.addresses?.[0]?.ip === '192.0.2.50');
  });

  test('allocations survive a restart, are not handed out twice, and the repair on start fixes leftovers', async () => {
    const before: Service[] = [];
    for (let i = 0; i < 12; i++) before.push(await c!.create(SVC, 'default', svc(`r${i}`, { type: 'NodePort' })));
    const keep = before[0];
    const lost = before[1];
    await stop();

    // While it is down: a claim whose service never got written (a crash after claiming), and a service
    // whose claim is gone (a crash between the two steps of a delete and create, or a lost key).
    const store = await SqliteStore.open({ dataDir });
    const ips = new ClusterIPAllocator(store, '10.96.0.0/16');
    const ports = new NodePortAllocator(store, '30000-32767');
    const orphan = '10.96.200.200';
    await store.create(
      ips.claims.keyOf(orphan),
      JSON.stringify({
        kind: 'ServiceIPClaim',
        metadata: { name: orphan },
        owner: { namespace: 'default', name: 'ghost', uid: 'no-such-uid' },
        claimedAt: '2020-01-01T00:00:00Z',
      }),
    );
    const lostIPClaim = (await ips.claims.get(clusterIPOf(lost)))!;
    assert.ok(await ips.claims.delete(clusterIPOf(lost), lostIPClaim.revision));
    const lostPortClaim = (await ports.claims.get(String(nodePortOf(lost))))!;
    assert.ok(await ports.claims.delete(lostPortClaim.value, lostPortClaim.revision));
    await store.close();

    await start();
    const port = Number(new URL(s!.url).port);
    const store2 = s!.store;
    const ips2 = new ClusterIPAllocator(store2, '10.96.0.0/16');
    const ports2 = new NodePortAllocator(store2, '30000-32767');
    // The repair runs when this server takes the API server's singleton Lease, right after start.
    // One pass fixes IPs, then ports: wait for the end of it.
    await eventually(
      'the repair pass after start',
      async () =>
        (await ips2.claims.get(orphan)) === undefined &&
        (await ips2.claims.get(clusterIPOf(lost)))?.owner.uid === lost.metadata.uid &&
        (await ports2.claims.get(String(nodePortOf(lost))))?.owner.uid === lost.metadata.uid,
    );
    assert.equal(await ips2.claims.get(orphan), undefined, 'the orphan claim is released');
    assert.equal((await ips2.claims.get(clusterIPOf(lost)))?.owner.uid, lost.metadata.uid, 'the lost IP claim is back');
    assert.equal((await ports2.claims.get(String(nodePortOf(lost))))?.owner.uid, lost.metadata.uid, 'the lost port claim is back');
    for (const b of before) {
      assert.equal((await ips2.claims.get(clusterIPOf(b)))?.owner.uid, b.metadata.uid);
      assert.equal((await ports2.claims.get(String(nodePortOf(b))))?.owner.uid, b.metadata.uid);
    }
    // The kubernetes service follows the server to its new port.
    await eventually('targetPort follows the new port', async () => (await c!.get(SVC, 'default', 'kubernetes'))?.spec?.ports?.[0]?.targetPort === port);
    // Requests for values held before the restart are refused; new services get other values.
    await assert.rejects(c!.create(SVC, 'default', svc('dup', { clusterIP: clusterIPOf(keep) })), /provided IP is already allocated/);
    await assert.rejects(c!.create(SVC, 'default', svc('dup', { clusterIP: clusterIPOf(lost) })), /provided IP is already allocated/);
    await assert.rejects(
      c!.create(SVC, 'default', svc('dup', { type: 'NodePort', ports: [{ port: 80, nodePort: nodePortOf(keep) }] })),
      /provided port is already allocated/,
    );
    const after: Service[] = [];
    for (let i = 0; i < 12; i++) after.push(await c!.create(SVC, 'default', svc(`n${i}`, { type: 'NodePort' })));
    const all = (await c!.list(SVC)).items;
    const ipsUsed = all.map((x) => x.spec?.clusterIP);
    const portsUsed = all.flatMap((x) => (x.spec?.ports ?? []).map((p) => p.nodePort).filter(Boolean));
    assert.equal(new Set(ipsUsed).size, ipsUsed.length, `no IP twice: ${ipsUsed}`);
    assert.equal(new Set(portsUsed).size, portsUsed.length, `no node port twice: ${portsUsed}`);
    assert.ok(ipsUsed.includes('10.96.0.1'));
    // Delete gives the values back for reuse.
    await c!.delete(SVC, 'default', keep.metadata.name!);
    const reuse = await c!.create(
      SVC,
      'default',
      svc('reuse', { clusterIP: clusterIPOf(keep), type: 'NodePort', ports: [{ port: 80, nodePort: nodePortOf(keep) }] }),
    );
    assert.equal(reuse.spec?.clusterIP, clusterIPOf(keep));
  });
});
