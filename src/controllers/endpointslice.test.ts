// The EndpointSlice and Endpoints controllers against a real API server: slices and Endpoints follow pods
// and services as a user changes them, and are not rewritten when nothing changed.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Service, ServicePort, ServiceSpec } from '../api/types.js';
import { must } from '../testing/must.js';
import { ENDPOINTSLICE_CONTROLLER } from './endpointslice.js';
import { ENDPOINTS, eventually, makePod, NODES, PODS, SERVICES, setReady, sleep, SLICES, startCluster, type TestCluster } from './testutil.js';

const NS = 'default';

function service(name: string, selector: Record<string, string> | undefined, ports: ServicePort[], extra: ServiceSpec = {}): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, labels: { team: 'net' } }, spec: { selector, ports, ...extra } };
}

type Ep = {
  ip: string;
  ready: boolean | undefined;
  serving: boolean | undefined;
  terminating: boolean | undefined;
  pod: string;
  node?: string;
  hostname?: string;
};

describe('endpoint controllers', () => {
  let t: TestCluster;
  before(async () => {
    t = await startCluster();
    // The test pods are bound to these: pods on nodes that do not exist are garbage after a while.
    for (const name of ['n1', 'n2']) await t.c.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name } });
  });
  after(async () => {
    await t?.close();
  });

  const slicesOf = async (svc: string) => (await t.c.list(SLICES, NS, { labelSelector: `kubernetes.io/service-name=${svc}` })).items;
  /** All endpoints of a service's slices, flattened and sorted, with each slice's ports. */
  const flat = async (svc: string): Promise<Ep[]> =>
    (await slicesOf(svc))
      .filter((s) => s.metadata.labels?.['endpointslice.kubernetes.io/managed-by'])
      .flatMap((s) =>
        (s.endpoints ?? []).map((e) => ({
          ip: e.addresses[0],
          ready: e.conditions?.ready,
          serving: e.conditions?.serving,
          terminating: e.conditions?.terminating,
          pod: must(e.targetRef?.name, 'targetRef'),
          ...(e.nodeName ? { node: e.nodeName } : {}),
          ...(e.hostname ? { hostname: e.hostname } : {}),
        })),
      )
      .sort((a, b) => a.pod.localeCompare(b.pod));
  const until = <T>(what: string, f: () => Promise<T | undefined | false>) => eventually(what, f);
  const deletePods = async (prefix: string) => {
    for (const p of (await t.c.list(PODS, NS)).items)
      if (p.metadata.name!.startsWith(prefix)) await t.c.delete(PODS, NS, p.metadata.name!, { gracePeriodSeconds: 0 });
  };

  test('a slice follows pods that are created, turn unready, terminate and go', async () => {
    await t.c.create(SERVICES, NS, service('web', { app: 'web' }, [{ name: 'http', port: 80, targetPort: 8080 }]));
    // No pods yet: one empty slice says "no endpoints" rather than "not yet seen".
    const empty = await until('placeholder slice', async () => (await slicesOf('web')).length === 1 && (await slicesOf('web'))[0]);
    assert.deepEqual(empty.endpoints ?? [], []);

    await makePod(t.c, NS, 'web-1', { labels: { app: 'web' }, ip: '10.244.1.10', node: 'n1' });
    await makePod(t.c, NS, 'web-2', { labels: { app: 'web' }, ip: '10.244.2.10', node: 'n2', ready: false });
    await makePod(t.c, NS, 'other', { labels: { app: 'other' }, ip: '10.244.2.11' });
    await until('two endpoints', async () => (await flat('web')).length === 2);
    assert.deepEqual(await flat('web'), [
      { ip: '10.244.1.10', ready: true, serving: true, terminating: false, pod: 'web-1', node: 'n1' },
      { ip: '10.244.2.10', ready: false, serving: false, terminating: false, pod: 'web-2', node: 'n2' },
    ]);
    const [s] = await slicesOf('web');
    assert.equal(s.metadata.name, empty.metadata.name, 'the placeholder slice is reused');
    assert.match(s.metadata.name!, /^web-[a-z0-9]{5}$/);
    assert.equal(s.addressType, 'IPv4');
    assert.deepEqual(s.ports, [{ name: 'http', protocol: 'TCP', port: 8080 }]);
    assert.equal(s.metadata.labels!['endpointslice.kubernetes.io/managed-by'], ENDPOINTSLICE_CONTROLLER);
    assert.equal(s.metadata.labels!.team, 'net');
    const svc = (await t.c.get(SERVICES, NS, 'web'))!;
    assert.deepEqual(
      s.metadata.ownerReferences!.map((r) => [r.kind, r.name, r.uid, r.controller]),
      [['Service', 'web', svc.metadata.uid, true]],
    );
    const tr = s.endpoints.find((e) => e.targetRef?.name === 'web-1')?.targetRef;
    assert.deepEqual(tr, { kind: 'Pod', namespace: NS, name: 'web-1', uid: (await t.c.get(PODS, NS, 'web-1'))!.metadata.uid });

    // Readiness flips both ways through the status subresource.
    await setReady(t.c, NS, 'web-2', true);
    await setReady(t.c, NS, 'web-1', false);
    await until('readiness swapped', async () => {
      const e = await flat('web');
      return e.length === 2 && !e[0].ready && e[1].ready && e;
    });

    // A graceful delete leaves the pod terminating: still serving, no longer ready.
    await t.c.delete(PODS, NS, 'web-2', { gracePeriodSeconds: 30 });
    const term = await until('terminating', async () => (await flat('web')).find((e) => e.pod === 'web-2' && e.terminating));
    assert.deepEqual(term, { ip: '10.244.2.10', ready: false, serving: true, terminating: true, pod: 'web-2', node: 'n2' });
    await t.c.delete(PODS, NS, 'web-2', { gracePeriodSeconds: 0 });
    await until('web-2 gone', async () => (await flat('web')).length === 1);

    // A finished pod is no endpoint, even with its IP still in status.
    await t.c.patch(PODS, NS, 'web-1', 'merge', { status: { phase: 'Succeeded' } }, 'status');
    await until('web-1 gone', async () => (await flat('web')).length === 0);
    assert.equal((await slicesOf('web')).length, 1);
    await t.c.delete(SERVICES, NS, 'web');
    await deletePods('web-');
    await deletePods('other');
  });

  test('named and numeric target ports: pods resolving a name differently land in different slices', async () => {
    await t.c.create(
      SERVICES,
      NS,
      service('named', { app: 'named' }, [
        { name: 'http', port: 80, targetPort: 'web' },
        { name: 'metrics', port: 9100, targetPort: 9100, appProtocol: 'http' },
      ]),
    );
    await makePod(t.c, NS, 'named-a', { labels: { app: 'named' }, ip: '10.244.1.20', ports: [{ name: 'web', containerPort: 8080 }] });
    await makePod(t.c, NS, 'named-b', { labels: { app: 'named' }, ip: '10.244.1.21', ports: [{ name: 'web', containerPort: 9090 }] });
    await makePod(t.c, NS, 'named-c', { labels: { app: 'named' }, ip: '10.244.1.22', ports: [{ name: 'web', containerPort: 8080 }] });
    // The name with another protocol does not count: only the numeric port is left for this pod.
    await makePod(t.c, NS, 'named-d', { labels: { app: 'named' }, ip: '10.244.1.23', ports: [{ name: 'web', containerPort: 8080, protocol: 'UDP' }] });
    const slices = await until('three slices', async () => {
      const s = await slicesOf('named');
      return s.length === 3 && s.reduce((n, x) => n + (x.endpoints ?? []).length, 0) === 4 && s;
    });
    const view = slices
      .map((s) => ({ ports: s.ports, pods: s.endpoints.map((e) => must(e.targetRef?.name, 'targetRef')).sort() }))
      .sort((a, b) => a.pods[0].localeCompare(b.pods[0]));
    const metrics = { name: 'metrics', protocol: 'TCP', port: 9100, appProtocol: 'http' };
    assert.deepEqual(view, [
      { ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, metrics], pods: ['named-a', 'named-c'] },
      { ports: [{ name: 'http', protocol: 'TCP', port: 9090 }, metrics], pods: ['named-b'] },
      { ports: [metrics], pods: ['named-d'] },
    ]);
    const ep = await until('endpoints', async () => (await t.c.get(ENDPOINTS, NS, 'named'))?.subsets?.length === 3 && (await t.c.get(ENDPOINTS, NS, 'named')));
    const subsets = must(ep.subsets)
      .map((s) => ({ ips: (s.addresses ?? []).map((a) => a.ip), ports: (s.ports ?? []).map((p) => `${p.name}:${p.port}`) }))
      .sort((a, b) => a.ips[0].localeCompare(b.ips[0]));
    assert.deepEqual(subsets, [
      { ips: ['10.244.1.20', '10.244.1.22'], ports: ['http:8080', 'metrics:9100'] },
      { ips: ['10.244.1.21'], ports: ['http:9090', 'metrics:9100'] },
      { ips: ['10.244.1.23'], ports: ['metrics:9100'] },
    ]);
    await t.c.delete(SERVICES, NS, 'named');
    await deletePods('named-');
  });

  test('the same port over TCP and UDP', async () => {
    await t.c.create(
      SERVICES,
      NS,
      service('dnsish', { app: 'dnsish' }, [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 'dns-tcp' },
      ]),
    );
    await makePod(t.c, NS, 'dnsish-1', {
      labels: { app: 'dnsish' },
      ip: '10.244.1.30',
      ports: [
        { name: 'dns', containerPort: 5353, protocol: 'UDP' },
        { name: 'dns-tcp', containerPort: 5353, protocol: 'TCP' },
      ],
    });
    const [s] = await until('slice', async () => (await slicesOf('dnsish')).find((x) => x.endpoints?.length === 1) && (await slicesOf('dnsish')));
    assert.deepEqual(s.ports, [
      { name: 'dns', protocol: 'UDP', port: 5353 },
      { name: 'dns-tcp', protocol: 'TCP', port: 5353 },
    ]);
    const ep = await until('endpoints', async () => !!(await t.c.get(ENDPOINTS, NS, 'dnsish'))?.subsets?.length && (await t.c.get(ENDPOINTS, NS, 'dnsish')));
    assert.deepEqual(ep.subsets?.[0].ports, [
      { name: 'dns', port: 5353, protocol: 'UDP' },
      { name: 'dns-tcp', port: 5353, protocol: 'TCP' },
    ]);
    await t.c.delete(SERVICES, NS, 'dnsish');
    await deletePods('dnsish-');
  });

  test('more than 100 pods split into slices, and one more pod rewrites one slice only', async () => {
    await t.c.create(SERVICES, NS, service('big', { app: 'big' }, [{ port: 80 }]));
    for (let i = 0; i < 230; i++)
      await makePod(t.c, NS, `big-${String(i).padStart(3, '0')}`, { labels: { app: 'big' }, ip: `10.244.${3 + (i >> 8)}.${i % 256}` });
    let seen = '';
    const slices = await until('230 endpoints', async () => {
      const s = await slicesOf('big');
      seen = s.map((x) => `${x.metadata.name}:${(x.endpoints ?? []).length}`).join(' ');
      return s.reduce((n, x) => n + (x.endpoints ?? []).length, 0) === 230 && s;
    }).catch((e) => assert.fail(`${e.message}; slices: ${seen}`));
    assert.deepEqual(
      slices.map((s) => s.endpoints.length).sort((a, b) => a - b),
      [30, 100, 100],
    );
    const ips = slices.flatMap((s) => s.endpoints.map((e) => e.addresses[0]));
    assert.equal(new Set(ips).size, 230);
    for (const s of slices) assert.ok(s.endpoints.length <= 100);

    // Nothing changes: touching pods in ways that do not matter writes nothing.
    const rvs = new Map(slices.map((s) => [s.metadata.name, s.metadata.resourceVersion]));
    const events: string[] = [];
    const { resourceVersion } = await t.c.list(SLICES, NS);
    const w = await t.c.watch(
      SLICES,
      NS,
      resourceVersion,
      { onEvent: (type, o) => events.push(`${type} ${o.metadata.name}`), onError: () => {} },
      { labelSelector: 'kubernetes.io/service-name=big' },
    );
    try {
      for (let i = 0; i < 5; i++) await t.c.patch(PODS, NS, `big-00${i}`, 'merge', { metadata: { annotations: { touched: String(i) } } });
      await setReady(t.c, NS, 'big-010', true);
      await sleep(500);
      assert.deepEqual(events, []);
      for (const s of await slicesOf('big')) assert.equal(s.metadata.resourceVersion, rvs.get(s.metadata.name));

      // One pod more: only the slice with room is written; none is created or deleted.
      await makePod(t.c, NS, 'big-999', { labels: { app: 'big' }, ip: '10.244.9.9' });
      await until('231 endpoints', async () => (await slicesOf('big')).reduce((n, x) => n + (x.endpoints ?? []).length, 0) === 231);
      await sleep(300);
      assert.equal(events.length, 1, events.join());
      assert.match(events[0], /^MODIFIED /);
      // One pod fewer in a full slice: that slice alone.
      events.length = 0;
      await t.c.delete(PODS, NS, 'big-000', { gracePeriodSeconds: 0 });
      await until('230 again', async () => (await slicesOf('big')).reduce((n, x) => n + (x.endpoints ?? []).length, 0) === 230);
      await sleep(300);
      assert.equal(events.length, 1, events.join());
    } finally {
      w.close();
    }
    await t.c.delete(SERVICES, NS, 'big');
    await until('big slices gone', async () => (await slicesOf('big')).length === 0);
    await deletePods('big-');
  });

  test('selector changes, lost selectors, deleted services, deleted slices', async () => {
    await makePod(t.c, NS, 'blue-1', { labels: { color: 'blue' }, ip: '10.244.1.40' });
    await makePod(t.c, NS, 'green-1', { labels: { color: 'green' }, ip: '10.244.1.41' });
    await t.c.create(SERVICES, NS, service('sel', { color: 'blue' }, [{ port: 80 }]));
    await until('blue', async () => (await flat('sel')).map((e) => e.pod).join() === 'blue-1');
    await t.c.patch(SERVICES, NS, 'sel', 'merge', { spec: { selector: { color: 'green' } } });
    await until('green', async () => (await flat('sel')).map((e) => e.pod).join() === 'green-1');
    await until('endpoints green', async () => (await t.c.get(ENDPOINTS, NS, 'sel'))?.subsets?.[0]?.addresses?.[0]?.ip === '10.244.1.41');
    assert.deepEqual((await t.c.get(ENDPOINTS, NS, 'sel'))?.subsets?.[0].ports, [{ port: 80, protocol: 'TCP' }], 'an unnamed port has no name');

    // Someone deletes our slice: it comes back.
    const [s] = await slicesOf('sel');
    await t.c.delete(SLICES, NS, s.metadata.name!);
    await until('slice recreated', async () => (await flat('sel')).map((e) => e.pod).join() === 'green-1');
    // Someone edits our Endpoints: put right again.
    const ep = (await t.c.get(ENDPOINTS, NS, 'sel'))!;
    await t.c.update(ENDPOINTS, NS, { ...ep, subsets: [{ addresses: [{ ip: '10.244.9.99' }], ports: [{ port: 1, protocol: 'TCP' }] }] });
    await until('endpoints repaired', async () => (await t.c.get(ENDPOINTS, NS, 'sel'))?.subsets?.[0]?.addresses?.[0]?.ip === '10.244.1.41');

    // Without a selector, the slices are the user's business: ours go, a user's stays.
    await t.c.create(SLICES, NS, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'sel-manual', labels: { 'kubernetes.io/service-name': 'sel' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['192.0.2.10'] }],
      ports: [{ port: 80 }],
    });
    await t.c.patch(SERVICES, NS, 'sel', 'merge', { spec: { selector: null } });
    await until('managed slice gone', async () => (await slicesOf('sel')).map((x) => x.metadata.name).join() === 'sel-manual');
    await sleep(200);
    assert.ok(await t.c.get(ENDPOINTS, NS, 'sel'), 'Endpoints of a selector-less service are left alone');

    await t.c.patch(SERVICES, NS, 'sel', 'merge', { spec: { selector: { color: 'blue' } } });
    await until('blue again', async () => (await flat('sel')).map((e) => e.pod).join() === 'blue-1');
    await t.c.delete(SERVICES, NS, 'sel');
    await until('managed slices gone', async () => (await slicesOf('sel')).map((x) => x.metadata.name).join() === 'sel-manual');
    await until('endpoints gone', async () => !(await t.c.get(ENDPOINTS, NS, 'sel')));
    await t.c.delete(SLICES, NS, 'sel-manual');
    await deletePods('blue-');
    await deletePods('green-');
  });

  test('hostnames, publishNotReadyAddresses and the Endpoints view of readiness', async () => {
    await t.c.create(SERVICES, NS, service('hl', { app: 'hl' }, [{ name: 'http', port: 80 }], { clusterIP: 'None' }));
    await makePod(t.c, NS, 'hl-0', { labels: { app: 'hl' }, ip: '10.244.1.50', node: 'n1', hostname: 'hl-0', subdomain: 'hl' });
    await makePod(t.c, NS, 'hl-1', { labels: { app: 'hl' }, ip: '10.244.1.51', node: 'n2', hostname: 'hl-1', subdomain: 'elsewhere', ready: false });
    await makePod(t.c, NS, 'hl-2', { labels: { app: 'hl' }, ip: '10.244.1.52', node: 'n2' });
    await until('three', async () => (await flat('hl')).length === 3);
    assert.deepEqual(
      (await flat('hl')).map((e) => [e.pod, e.hostname ?? '-', e.ready]),
      [
        ['hl-0', 'hl-0', true],
        ['hl-1', '-', false],
        ['hl-2', '-', true],
      ],
    );
    const [s] = await slicesOf('hl');
    assert.equal(s.metadata.labels!['service.kubernetes.io/headless'], '');

    const ep = await until('endpoints', async () => {
      const e = await t.c.get(ENDPOINTS, NS, 'hl');
      return e?.subsets?.[0]?.notReadyAddresses && e;
    });
    const hl0uid = (await t.c.get(PODS, NS, 'hl-0'))!.metadata.uid;
    assert.deepEqual(ep.subsets, [
      {
        addresses: [
          { ip: '10.244.1.50', hostname: 'hl-0', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: NS, name: 'hl-0', uid: hl0uid } },
          { ip: '10.244.1.52', nodeName: 'n2', targetRef: { kind: 'Pod', namespace: NS, name: 'hl-2', uid: (await t.c.get(PODS, NS, 'hl-2'))!.metadata.uid } },
        ],
        notReadyAddresses: [
          { ip: '10.244.1.51', nodeName: 'n2', targetRef: { kind: 'Pod', namespace: NS, name: 'hl-1', uid: (await t.c.get(PODS, NS, 'hl-1'))!.metadata.uid } },
        ],
        ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      },
    ]);
    assert.equal(ep.metadata.labels!['endpointslice.kubernetes.io/skip-mirror'], 'true');

    // A terminating pod leaves Endpoints at once (slices keep it as terminating).
    await t.c.delete(PODS, NS, 'hl-2', { gracePeriodSeconds: 30 });
    await until('hl-2 out of Endpoints', async () => (await t.c.get(ENDPOINTS, NS, 'hl'))?.subsets?.[0]?.addresses?.length === 1);
    assert.equal((await flat('hl')).find((e) => e.pod === 'hl-2')?.terminating, true);

    await t.c.patch(SERVICES, NS, 'hl', 'merge', { spec: { publishNotReadyAddresses: true } });
    await until('all ready', async () => (await flat('hl')).every((e) => e.ready));
    await until('all addresses', async () => (await t.c.get(ENDPOINTS, NS, 'hl'))?.subsets?.[0]?.addresses?.length === 3);
    await t.c.delete(SERVICES, NS, 'hl');
    await deletePods('hl-');
  });

  test('an ExternalName service gets no slices', async () => {
    await makePod(t.c, NS, 'ext-1', { labels: { app: 'ext' }, ip: '10.244.1.60' });
    await t.c.create(SERVICES, NS, service('ext', { app: 'ext' }, [{ port: 80 }], { type: 'ExternalName', externalName: 'example.com' }));
    await t.c.create(SERVICES, NS, service('ext-probe', { app: 'ext' }, [{ port: 80 }]));
    // By the time the neighbour has its slice, the ExternalName service has been looked at too.
    await until('neighbour slice', async () => (await flat('ext-probe')).length === 1);
    await sleep(200);
    assert.equal((await slicesOf('ext')).length, 0);
    assert.equal(await t.c.get(ENDPOINTS, NS, 'ext'), undefined);
    await t.c.delete(SERVICES, NS, 'ext');
    await t.c.delete(SERVICES, NS, 'ext-probe');
    await deletePods('ext-');
  });
});
