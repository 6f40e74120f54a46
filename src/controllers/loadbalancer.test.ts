// The LoadBalancer IP pool against a real API server: assignment, requested IPs, exhaustion with an event,
// release on delete and type change with reuse, and a server restart that keeps every assignment.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Service, ServiceSpec } from '../api/types.js';
import { runServer } from '../server/server.js';
import { RestClient, configFromKubeconfig } from '../client/rest.js';
import type { Client } from '../client/types.js';
import { ipToInt, intToIp, parseIPRange, PoolError } from './loadbalancer.js';
import { EVENTS, eventually, SERVICES, sleep, startCluster, type TestCluster } from './testutil.js';

const NS = 'default';

function lb(name: string, extra: ServiceSpec = {}, annotations?: Record<string, string>): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80 }], ...extra },
  };
}

const ipOf = async (c: Client, name: string): Promise<string | undefined> => (await c.get(SERVICES, NS, name))?.status?.loadBalancer?.ingress?.[0]?.ip;
const waitIP = (c: Client, name: string) => eventually(`${name} IP`, () => ipOf(c, name));
const eventFor = (c: Client, name: string, reason: string, re?: RegExp) =>
  eventually(`${reason} on ${name}`, async () =>
    (await c.list(EVENTS, NS, { fieldSelector: `involvedObject.name=${name}` })).items.find((e) => e.reason === reason && (!re || re.test(e.message ?? ''))),
  );

test('pool ranges parse and fail with a code', () => {
  assert.deepEqual(parseIPRange('172.30.0.200-172.30.0.250'), { first: '172.30.0.200', last: '172.30.0.250' });
  assert.equal(intToIp(ipToInt('255.0.10.1')!), '255.0.10.1');
  for (const bad of ['172.30.0.200', '1.2.3.4-1.2.3', '1.2.3.9-1.2.3.1', 'a-b-c']) {
    assert.throws(
      () => parseIPRange(bad),
      (e: unknown) => e instanceof PoolError && e.code === 'InvalidLoadBalancerPool',
    );
  }
});

describe('load-balancer IP pool', () => {
  let t: TestCluster;
  before(async () => {
    t = await startCluster({ lbPool: { first: '172.30.0.200', last: '172.30.0.202' } });
  });
  after(async () => {
    await t?.close();
  });

  test('assigns, honours requests, says when the pool is empty, releases and reuses', async () => {
    const { c } = t;
    await c.create(SERVICES, NS, lb('lb-a'));
    assert.equal(await waitIP(c, 'lb-a'), '172.30.0.200');
    const a = (await c.get(SERVICES, NS, 'lb-a'))!;
    assert.deepEqual(a.status?.loadBalancer?.ingress, [{ ip: '172.30.0.200', ipMode: 'VIP' }]);
    const ok = await eventFor(c, 'lb-a', 'IPAllocated');
    assert.equal(ok.type, 'Normal');
    assert.match(ok.message ?? '', /172\.30\.0\.200/);

    // The annotation and the deprecated spec field both ask for a particular IP.
    await c.create(SERVICES, NS, lb('lb-b', {}, { 'k8ts.io/loadbalancer-ip': '172.30.0.202' }));
    await c.create(SERVICES, NS, lb('lb-c', { loadBalancerIP: '172.30.0.201' }));
    assert.equal(await waitIP(c, 'lb-b'), '172.30.0.202');
    assert.equal(await waitIP(c, 'lb-c'), '172.30.0.201');

    // Another controller's class is not ours to serve.
    await c.create(SERVICES, NS, lb('lb-other', { loadBalancerClass: 'example.com/other' }));
    // Nothing left: the service says so.
    await c.create(SERVICES, NS, lb('lb-d'));
    const ev = await eventFor(c, 'lb-d', 'AllocationFailed');
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.message, 'no available IP in pool 172.30.0.200-172.30.0.202');
    assert.equal(await ipOf(c, 'lb-d'), undefined);

    // Requests that cannot be met.
    await c.create(SERVICES, NS, lb('lb-out', {}, { 'k8ts.io/loadbalancer-ip': '10.1.2.3' }));
    assert.match((await eventFor(c, 'lb-out', 'AllocationFailed')).message ?? '', /requested IP 10\.1\.2\.3 is not in pool 172\.30\.0\.200-172\.30\.0\.202/);
    await c.create(SERVICES, NS, lb('lb-taken', { loadBalancerIP: '172.30.0.200' }));
    assert.match((await eventFor(c, 'lb-taken', 'AllocationFailed')).message ?? '', /172\.30\.0\.200 is already in use by default\/lb-a/);

    // Deleting a holder frees its IP, and the service that has been waiting gets it.
    await c.delete(SERVICES, NS, 'lb-out');
    await c.delete(SERVICES, NS, 'lb-taken');
    await c.delete(SERVICES, NS, 'lb-a');
    assert.equal(await waitIP(c, 'lb-d'), '172.30.0.200');

    // A type change releases (the API server clears the status) and the waiter gets the IP.
    await c.create(SERVICES, NS, lb('lb-e'));
    await eventFor(c, 'lb-e', 'AllocationFailed');
    await c.patch(SERVICES, NS, 'lb-c', 'merge', { spec: { type: 'ClusterIP', loadBalancerIP: null } });
    assert.equal(await waitIP(c, 'lb-e'), '172.30.0.201');
    assert.equal(await ipOf(c, 'lb-c'), undefined);
    // Back to LoadBalancer: it waits again, without stealing.
    await c.patch(SERVICES, NS, 'lb-c', 'merge', { spec: { type: 'LoadBalancer' } });
    await eventFor(c, 'lb-c', 'AllocationFailed', /no available IP/);
    await sleep(200);
    assert.equal(await ipOf(c, 'lb-other'), undefined);
    const held = await Promise.all(['lb-b', 'lb-c', 'lb-d', 'lb-e'].map((n) => ipOf(c, n)));
    assert.deepEqual(held, ['172.30.0.202', undefined, '172.30.0.200', '172.30.0.201']);
    for (const n of ['lb-b', 'lb-c', 'lb-d', 'lb-e', 'lb-other']) await c.delete(SERVICES, NS, n);
  });
});

test('a restarted server keeps every assignment and hands out only free IPs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-lb-'));
  const opts = { dataDir: dir, store: 'sqlite' as const, listen: [{ host: '127.0.0.1', port: 0 }], lbPool: { first: '172.30.0.200', last: '172.30.0.209' } };
  let s = await runServer(opts);
  let c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
  try {
    for (const n of ['r1', 'r2', 'r3']) await c.create(SERVICES, NS, lb(n));
    const before = await Promise.all(['r1', 'r2', 'r3'].map((n) => waitIP(c, n)));
    assert.equal(new Set(before).size, 3);
    // r2 leaves a gap at the start of the pool once r1 is gone.
    await c.delete(SERVICES, NS, 'r1');
    await sleep(100);
    c.close();
    await s.close();

    s = await runServer(opts);
    c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
    for (const n of ['r4', 'r5', 'r6']) await c.create(SERVICES, NS, lb(n));
    const after = await Promise.all(['r2', 'r3', 'r4', 'r5', 'r6'].map((n) => waitIP(c, n)));
    assert.deepEqual(after.slice(0, 2), before.slice(1));
    assert.equal(new Set(after).size, 5, `no IP twice: ${after.join()}`);
    assert.ok(after.slice(2).includes(before[0]), 'the freed IP is handed out again');
    // A new request moves the service to the asked-for IP and frees the old one.
    const old4 = after[2];
    await c.patch(SERVICES, NS, 'r4', 'merge', { metadata: { annotations: { 'k8ts.io/loadbalancer-ip': '172.30.0.209' } } });
    await eventually('r4 moved', async () => (await ipOf(c, 'r4')) === '172.30.0.209');
    await c.create(SERVICES, NS, lb('r7', { loadBalancerIP: old4 }));
    assert.equal(await waitIP(c, 'r7'), old4);
  } finally {
    c.close();
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
