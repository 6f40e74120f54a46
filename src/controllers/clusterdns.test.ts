// kube-dns for node-local DNS against a real API server: the service exists with the asked-for IP, its
// slice and Endpoints list the nodes and follow their readiness, and deleted pieces come back.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../api/types.js';
import { ENDPOINTS, eventually, NODES, SERVICES, sleep, SLICES, startCluster, type TestCluster } from './testutil.js';

const NS = 'kube-system';

function node(name: string, ip: string | undefined, ready: boolean): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: {
      addresses: [...(ip ? [{ type: 'InternalIP', address: ip }] : []), { type: 'Hostname', address: name }],
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

describe('cluster DNS endpoints', () => {
  let t: TestCluster;
  before(async () => {
    t = await startCluster({ dnsServiceIP: '10.96.0.10' });
  });
  after(async () => {
    await t?.close();
  });

  const slice = () => t.c.get(SLICES, NS, 'kube-dns');
  const view = async () => ((await slice())?.endpoints ?? []).map((e) => `${e.nodeName}=${e.addresses[0]}:${e.conditions?.ready}`).join(' ');

  test('the kube-dns service and its node endpoints', async () => {
    const svc = await eventually('kube-dns', () => t.c.get(SERVICES, NS, 'kube-dns'));
    assert.equal(svc.spec?.clusterIP, '10.96.0.10');
    assert.equal(svc.spec?.selector, undefined);
    assert.equal(svc.spec?.internalTrafficPolicy, 'Local');
    assert.deepEqual(svc.metadata.labels, { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true' });
    assert.deepEqual(
      svc.spec?.ports?.map((p) => [p.name, p.port, p.protocol, p.targetPort]),
      [
        ['dns', 53, 'UDP', 53],
        ['dns-tcp', 53, 'TCP', 53],
      ],
    );

    const empty = await eventually('empty slice', slice);
    assert.deepEqual(empty.endpoints ?? [], []);
    assert.equal(empty.metadata.labels!['kubernetes.io/service-name'], 'kube-dns');
    assert.equal(empty.metadata.labels!['endpointslice.kubernetes.io/managed-by'], 'clusterdns.k8ts.io');
    assert.deepEqual(empty.ports, [
      { name: 'dns', port: 53, protocol: 'UDP' },
      { name: 'dns-tcp', port: 53, protocol: 'TCP' },
    ]);
    assert.equal(empty.metadata.ownerReferences![0].uid, svc.metadata.uid);

    await t.c.create(NODES, undefined, node('dns-a', '172.30.0.11', true));
    await t.c.create(NODES, undefined, node('dns-b', '172.30.0.12', false));
    await t.c.create(NODES, undefined, node('dns-c', undefined, true));
    await eventually('two nodes', async () => (await view()) === 'dns-a=172.30.0.11:true dns-b=172.30.0.12:false');
    const ep = await eventually(
      'endpoints',
      async () => (await t.c.get(ENDPOINTS, NS, 'kube-dns'))?.subsets?.[0]?.notReadyAddresses && t.c.get(ENDPOINTS, NS, 'kube-dns'),
    );
    assert.deepEqual(ep!.subsets, [
      {
        addresses: [{ ip: '172.30.0.11', nodeName: 'dns-a' }],
        notReadyAddresses: [{ ip: '172.30.0.12', nodeName: 'dns-b' }],
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      },
    ]);

    // Readiness follows the node's Ready condition.
    const cond = (ready: boolean) => ({
      status: {
        conditions: [
          {
            type: 'Ready',
            status: ready ? 'True' : 'False',
            reason: 'r',
            message: 'm',
            lastHeartbeatTime: new Date().toISOString(),
            lastTransitionTime: new Date().toISOString(),
          },
        ],
      },
    });
    await t.c.patch(NODES, undefined, 'dns-b', 'merge', cond(true), 'status');
    await t.c.patch(NODES, undefined, 'dns-a', 'merge', cond(false), 'status');
    await eventually('swapped', async () => (await view()) === 'dns-a=172.30.0.11:false dns-b=172.30.0.12:true');
    await eventually('endpoints swapped', async () => (await t.c.get(ENDPOINTS, NS, 'kube-dns'))?.subsets?.[0]?.addresses?.[0]?.nodeName === 'dns-b');

    // Unchanged nodes: no rewrite (a heartbeat-only status update changes nothing we show).
    const rv = (await slice())!.metadata.resourceVersion;
    await t.c.patch(NODES, undefined, 'dns-b', 'merge', { metadata: { labels: { touched: 'yes' } } });
    await sleep(300);
    assert.equal((await slice())!.metadata.resourceVersion, rv);

    await t.c.delete(NODES, undefined, 'dns-a');
    await eventually('a gone', async () => (await view()) === 'dns-b=172.30.0.12:true');
  });

  test('deleted pieces come back', async () => {
    await t.c.delete(SLICES, NS, 'kube-dns');
    await t.c.delete(ENDPOINTS, NS, 'kube-dns');
    await eventually('slice back', async () => (await view()) === 'dns-b=172.30.0.12:true');
    await eventually('endpoints back', async () => (await t.c.get(ENDPOINTS, NS, 'kube-dns'))?.subsets?.length === 1);
    const old = (await t.c.get(SERVICES, NS, 'kube-dns'))!;
    await t.c.delete(SERVICES, NS, 'kube-dns');
    const svc = await eventually('service back', async () => {
      const s = await t.c.get(SERVICES, NS, 'kube-dns');
      return s && s.metadata.uid !== old.metadata.uid && s;
    });
    assert.equal(svc.spec?.clusterIP, '10.96.0.10');
    // The slice now belongs to the new service.
    await eventually('slice owner', async () => (await slice())?.metadata.ownerReferences?.[0]?.uid === svc.metadata.uid);
    // A selector added by hand would hand the service to the endpoint controllers: taken away again.
    await t.c.patch(SERVICES, NS, 'kube-dns', 'merge', { spec: { selector: { app: 'x' } } });
    await eventually('selector gone', async () => !(await t.c.get(SERVICES, NS, 'kube-dns'))?.spec?.selector);
    assert.equal(await view(), 'dns-b=172.30.0.12:true');
    for (const n of ['dns-b', 'dns-c']) await t.c.delete(NODES, undefined, n);
    await eventually('no nodes', async () => (await view()) === '');
  });
});
