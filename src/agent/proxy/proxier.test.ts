// The service proxy against real nftables in throwaway namespaces: a node with a bridge and pods, a host on
// the node network. Each test builds its own namespaces and removes them, whatever happens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../../util/exec.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeHelper } from '../helper.js';
import { ServiceProxy, type ServiceProxyOptions } from './proxier.js';
import { BRIDGE_IP, HOST_IP, NODE_IP, ProxyLab, SKIP_NOT_ROOT, httpGet, service, slice, udpAsk, waitFor, type Pod } from './testing.js';
import type { EndpointSlice, Service } from '../../api/types.js';

const NODE = 'node-a';

async function withLab(pods: number, fn: (lab: ProxyLab, pods: Pod[], proxy: ServiceProxy) => Promise<void>, opts: { checkMs?: number } = {}): Promise<void> {
  const lab = new ProxyLab();
  const proxy = new ServiceProxy({ nodeName: NODE, nodeIPs: [NODE_IP], netns: lab.nodeNetns, checkMs: opts.checkMs ?? 500, debounceMs: 5 });
  try {
    await lab.start();
    const list: Pod[] = [];
    for (let i = 0; i < pods; i++) list.push(await lab.pod(2 + i));
    await proxy.start();
    await fn(lab, list, proxy);
  } finally {
    await proxy.teardown().catch(() => undefined);
    await lab.cleanup();
  }
}

/** A proxy of the lab's node that programs each change at once and does no periodic checks during a test. */
function steady(lab: ProxyLab): ServiceProxyOptions {
  return { nodeName: NODE, nodeIPs: [NODE_IP], netns: lab.nodeNetns, checkMs: 60_000, resyncMs: 60_000, debounceMs: 0, conntrack: false };
}

async function feed(proxy: ServiceProxy, services: Service[], slices: EndpointSlice[]): Promise<void> {
  proxy.update(services, slices);
  await proxy.settled();
}

/** Names of the pods that answered `n` GETs. */
async function spread(ns: string, url: string, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const a = await httpGet(ns, url);
    assert.ok(a.ok, `GET ${url}: ${a.error}`);
    const who = a.body.split(' ')[0];
    seen.set(who, (seen.get(who) ?? 0) + 1);
  }
  return seen;
}

test('ClusterIP reaches both endpoints over TCP and UDP; removal of an endpoint takes effect', { skip: SKIP_NOT_ROOT }, async () => {
  await withLab(3, async (lab, [a, b, client], proxy) => {
    await lab.http(a), await lab.http(b), await lab.udp(a), await lab.udp(b);
    const ports = [
      { name: 'http', port: 80, targetPort: 8080 },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ];
    const svc = service({ name: 'web', clusterIP: '10.96.0.10', ports });
    const eps = [
      { ip: a.ip, node: NODE },
      { ip: b.ip, node: NODE },
    ];
    await feed(
      proxy,
      [svc],
      [
        slice(
          'web',
          [
            { name: 'http', port: 8080 },
            { name: 'dns', port: 5353, protocol: 'UDP' },
          ],
          eps,
        ),
      ],
    );

    const seen = await spread(client.ns, 'http://10.96.0.10/cgi-bin/id', 20);
    assert.deepEqual([...seen.keys()].sort(), ['pod2', 'pod3'], `both endpoints answer: ${[...seen]}`);
    // Same bridge, no masquerade: the backend sees the client pod's own address.
    assert.equal((await httpGet(client.ns, 'http://10.96.0.10/cgi-bin/id')).body.split(' ')[1], client.ip);

    const udpSeen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await udpAsk(client.ns, '10.96.0.10', 53);
      assert.ok(r.ok, r.error);
      udpSeen.add(r.body.split(' ')[0]);
    }
    assert.deepEqual([...udpSeen].sort(), ['pod2', 'pod3']);

    // A UDP client on a fixed source port keeps its conntrack entry; when its endpoint goes, it must move on.
    const first = await udpAsk(client.ns, '10.96.0.10', 53, 1000, 40000);
    const gone = first.body.split(' ')[0] === 'pod2' ? a : b;
    const stays = gone === a ? b : a;
    await feed(
      proxy,
      [svc],
      [
        slice(
          'web',
          [
            { name: 'http', port: 8080 },
            { name: 'dns', port: 5353, protocol: 'UDP' },
          ],
          [{ ip: stays.ip, node: NODE }],
        ),
      ],
    );
    for (let i = 0; i < 5; i++) {
      assert.equal((await udpAsk(client.ns, '10.96.0.10', 53, 1000, 40000)).body.split(' ')[0], stays === a ? 'pod2' : 'pod3');
    }
    const after = await spread(client.ns, 'http://10.96.0.10/cgi-bin/id', 10);
    assert.deepEqual([...after.keys()], [stays === a ? 'pod2' : 'pod3']);
  });
});

test('NodePort from a host on the node network: Cluster masquerades, Local keeps the client address', { skip: SKIP_NOT_ROOT }, async () => {
  await withLab(2, async (lab, [a, b], proxy) => {
    await lab.http(a), await lab.http(b);
    const cluster = service({ name: 'np', type: 'NodePort', clusterIP: '10.96.0.20', ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] });
    const local = service({
      name: 'npl',
      type: 'NodePort',
      clusterIP: '10.96.0.21',
      externalTrafficPolicy: 'Local',
      ports: [{ port: 80, targetPort: 8080, nodePort: 30081 }],
    });
    // Only `a` is on this node for the Local service; `b` is said to be elsewhere.
    await feed(
      proxy,
      [cluster, local],
      [
        slice(
          'np',
          [{ port: 8080 }],
          [
            { ip: a.ip, node: NODE },
            { ip: b.ip, node: NODE },
          ],
        ),
        slice(
          'npl',
          [{ port: 8080 }],
          [
            { ip: a.ip, node: NODE },
            { ip: b.ip, node: 'node-b' },
          ],
        ),
      ],
    );
    const viaCluster = await httpGet(lab.host, `http://${NODE_IP}:30080/cgi-bin/id`);
    assert.ok(viaCluster.ok, viaCluster.error);
    assert.equal(viaCluster.body.split(' ')[1], BRIDGE_IP, 'Cluster policy: masqueraded to the node address on the bridge');
    for (let i = 0; i < 6; i++) {
      const viaLocal = await httpGet(lab.host, `http://${NODE_IP}:30081/cgi-bin/id`);
      assert.ok(viaLocal.ok, viaLocal.error);
      assert.equal(viaLocal.body, `pod2 ${HOST_IP}`, 'Local policy: only the local endpoint, client address kept');
    }
    // The ClusterIP of the Local service still spreads over all endpoints.
    const seen = await spread(a.ns, 'http://10.96.0.21/cgi-bin/id', 16);
    assert.equal(seen.size, 2);
  });
});

test('hairpin: a pod reaches itself through its own service', { skip: SKIP_NOT_ROOT }, async () => {
  await withLab(1, async (lab, [a], proxy) => {
    await lab.http(a);
    await feed(
      proxy,
      [service({ name: 'self', clusterIP: '10.96.0.30', ports: [{ port: 80, targetPort: 8080 }] })],
      [slice('self', [{ port: 8080 }], [{ ip: a.ip, node: NODE }])],
    );
    const r = await httpGet(a.ns, 'http://10.96.0.30/cgi-bin/id');
    assert.ok(r.ok, r.error);
    assert.equal(r.body, `pod2 ${BRIDGE_IP}`, 'answered by itself, seen from the node (masqueraded)');
  });
});

test('no endpoints: connections are refused at once (TCP reset, ICMP for UDP), also on the NodePort', { skip: SKIP_NOT_ROOT }, async () => {
  await withLab(1, async (lab, [client], proxy) => {
    await feed(
      proxy,
      [
        service({
          name: 'empty',
          type: 'NodePort',
          clusterIP: '10.96.0.40',
          ports: [
            { port: 80, nodePort: 30090 },
            { name: 'u', port: 53, protocol: 'UDP' },
          ],
        }),
      ],
      [],
    );
    const r = await httpGet(client.ns, 'http://10.96.0.40/');
    assert.equal(r.ok, false);
    assert.match(r.error, /refused/i);
    assert.ok(r.ms < 1000, `refused in ${r.ms} ms`);
    const n = await httpGet(lab.host, `http://${NODE_IP}:30090/`);
    assert.match(n.error, /refused/i);
    assert.ok(n.ms < 1000, `NodePort refused in ${n.ms} ms`);
    // UDP: ICMP port unreachable makes the client's recv fail quickly rather than wait out its timeout.
    const src =
      `const s=require('dgram').createSocket('udp4');s.on('error',e=>{console.log(e.code);process.exit(0)});` +
      `s.connect(53,'10.96.0.40',()=>{s.send('q');setTimeout(()=>s.send('q'),100)});setTimeout(()=>{console.log('timeout');process.exit(0)},2000);`;
    const { stdout } = await run(['nsenter', `--net=${client.netns}`, '--', process.execPath, '-e', src]);
    assert.equal(stdout.trim(), 'ECONNREFUSED');
  });
});

test('session affinity ClientIP sticks to one endpoint', { skip: SKIP_NOT_ROOT }, async () => {
  await withLab(3, async (lab, [a, b, client], proxy) => {
    await lab.http(a), await lab.http(b);
    const svc = service({ name: 'sticky', clusterIP: '10.96.0.50', ports: [{ port: 80, targetPort: 8080 }], sessionAffinity: { timeoutSeconds: 60 } });
    await feed(
      proxy,
      [svc],
      [
        slice(
          'sticky',
          [{ port: 8080 }],
          [
            { ip: a.ip, node: NODE },
            { ip: b.ip, node: NODE },
          ],
        ),
      ],
    );
    const seen = await spread(client.ns, 'http://10.96.0.50/cgi-bin/id', 12);
    assert.equal(seen.size, 1, `one endpoint for one client: ${[...seen]}`);
    // The host, another client, also sticks (to whichever it drew).
    const fromHost = await spread(lab.host, 'http://10.96.0.50/cgi-bin/id', 6);
    assert.equal(fromHost.size, 1);
    // Turning affinity off spreads again.
    await feed(
      proxy,
      [service({ name: 'sticky', clusterIP: '10.96.0.50', ports: [{ port: 80, targetPort: 8080 }] })],
      [
        slice(
          'sticky',
          [{ port: 8080 }],
          [
            { ip: a.ip, node: NODE },
            { ip: b.ip, node: NODE },
          ],
        ),
      ],
    );
    assert.equal((await spread(client.ns, 'http://10.96.0.50/cgi-bin/id', 20)).size, 2);
  });
});

test('rules lost to `nft flush ruleset` come back within seconds', { skip: SKIP_NOT_ROOT }, async () => {
  await withLab(2, async (lab, [a, client], proxy) => {
    await lab.http(a);
    await feed(
      proxy,
      [service({ name: 'web', clusterIP: '10.96.0.60', ports: [{ port: 80, targetPort: 8080 }] })],
      [slice('web', [{ port: 8080 }], [{ ip: a.ip, node: NODE }])],
    );
    assert.ok((await httpGet(client.ns, 'http://10.96.0.60/cgi-bin/id')).ok);
    await run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'nft', 'flush', 'ruleset']);
    const t0 = Date.now();
    await waitFor(async () => (await httpGet(client.ns, 'http://10.96.0.60/cgi-bin/id', 1000)).ok, 5000, 100);
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(proxy.stats.recoveries, 1);
  });
});

test('teardown removes the table and touches no other table', { skip: SKIP_NOT_ROOT }, async () => {
  const lab = new ProxyLab();
  try {
    await lab.start();
    const nft = (...a: string[]) => run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'nft', ...a]);
    await nft('add', 'table', 'ip', 'k8ts-nat');
    await nft('add', 'chain', 'ip', 'k8ts-nat', 'postrouting');
    const proxy = new ServiceProxy({ nodeName: NODE, nodeIPs: [NODE_IP], netns: lab.nodeNetns });
    await proxy.start();
    proxy.update([service({ name: 'x', clusterIP: '10.96.0.70', ports: [{ port: 80 }] })], []);
    await proxy.settled();
    assert.match((await nft('list', 'tables')).stdout, /k8ts-proxy/);
    await proxy.teardown();
    const tables = (await nft('list', 'tables')).stdout;
    assert.doesNotMatch(tables, /k8ts-proxy/);
    assert.match(tables, /table ip k8ts-nat/);
  } finally {
    await lab.cleanup();
  }
});

test('10,000 services load, and a spot check of a few works', { skip: SKIP_NOT_ROOT }, async () => {
  await withLab(3, async (lab, [a, b, client], proxy) => {
    await lab.http(a), await lab.http(b);
    const services: Service[] = [];
    const slices: EndpointSlice[] = [];
    for (let i = 0; i < 10_000; i++) {
      const ip = `10.96.${16 + (i >> 8)}.${i & 255}`;
      services.push(service({ name: `s${i}`, clusterIP: ip, ports: [{ port: 80, targetPort: 8080 }] }));
      slices.push(
        slice(
          `s${i}`,
          [{ port: 8080 }],
          [
            { ip: a.ip, node: NODE },
            { ip: b.ip, node: NODE },
          ],
        ),
      );
    }
    await feed(proxy, services, slices);
    assert.equal(proxy.stats.servicePorts, 10_000);
    for (const i of [0, 4321, 9999]) {
      const r = await httpGet(client.ns, `http://10.96.${16 + (i >> 8)}.${i & 255}/cgi-bin/id`);
      assert.ok(r.ok, `service ${i}: ${r.error}`);
    }
    // One change at that size programs only the difference and works.
    slices[9999] = slice('s9999', [{ port: 8080 }], [{ ip: b.ip, node: NODE }]);
    await feed(proxy, services, slices);
    assert.equal(proxy.stats.fullSyncs, 1);
    const seen = await spread(client.ns, `http://10.96.${16 + (9999 >> 8)}.${9999 & 255}/cgi-bin/id`, 6);
    assert.deepEqual([...seen.keys()], ['pod3']);
  });
});

test('the periodic comparison leaves a correct table alone and repairs an outside edit', { skip: SKIP_NOT_ROOT }, async () => {
  const lab = new ProxyLab();
  const proxy = new ServiceProxy({ nodeName: NODE, nodeIPs: [NODE_IP], netns: lab.nodeNetns, resyncMs: 300, checkMs: 60_000 });
  const nft = (...a: string[]) => run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'nft', ...a]);
  try {
    await lab.start();
    await proxy.start();
    proxy.update(
      [
        service({ name: 'w', type: 'NodePort', clusterIP: '10.96.0.80', ports: [{ port: 80, nodePort: 30100 }], sessionAffinity: { timeoutSeconds: 30 } }),
        service({ name: 'e', clusterIP: '10.96.0.81', ports: [{ port: 80 }] }),
      ],
      [
        slice(
          'w',
          [{ port: 8080 }],
          [
            { ip: '10.244.0.2', node: NODE },
            { ip: '10.244.0.3', node: 'other' },
          ],
        ),
      ],
    );
    await proxy.settled();
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(proxy.stats.recoveries, 0, `no drift expected: ${proxy.stats.lastError ?? ''}`);
    await nft('delete', 'element', 'ip', 'k8ts-proxy', 'noeps', '{ 10.96.0.81 . tcp . 80 }');
    await waitFor(async () => proxy.stats.recoveries === 1, 3000);
    await waitFor(async () => /10\.96\.0\.81/.test((await nft('list', 'set', 'ip', 'k8ts-proxy', 'noeps')).stdout), 3000);
  } finally {
    await proxy.teardown().catch(() => undefined);
    await lab.cleanup();
  }
});

test('changes made after a full rewrite leave the same table as a full rewrite of the result', { skip: SKIP_NOT_ROOT }, async () => {
  // A full rewrite writes keys differently from incremental changes (protocol numbers, maps filled after the
  // rules); the changes must still find and replace exactly what it wrote.
  const lab = new ProxyLab();
  const opts = { ...steady(lab), bridgeNetfilter: false };
  const proxies: ServiceProxy[] = [];
  const contents = () => tableContents(lab);
  const ports = [
    { name: 'http', port: 80, nodePort: 30080 },
    { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
  ];
  const slicePorts = [
    { name: 'http', port: 8080 },
    { name: 'dns', port: 5353, protocol: 'UDP' },
  ];
  const svcs = [
    service({ name: 'a', type: 'NodePort', clusterIP: '10.96.0.1', externalIPs: ['192.0.2.1'], ports }),
    service({ name: 'b', type: 'NodePort', clusterIP: '10.96.0.2', ports: [{ port: 81, nodePort: 30081 }] }),
  ];
  try {
    await lab.start();
    const first = new ServiceProxy(opts);
    proxies.push(first);
    first.update(svcs, [
      slice('a', slicePorts, [
        { ip: '10.244.0.2', node: NODE },
        { ip: '10.244.0.3', node: NODE },
      ]),
    ]);
    await first.start();
    assert.equal(first.stats.fullSyncs, 1);
    // One endpoint swapped, one service gone, one gaining an endpoint: deletes and adds of what the rewrite wrote.
    const slices = [
      slice('a', slicePorts, [
        { ip: '10.244.0.2', node: NODE },
        { ip: '10.244.0.4', node: NODE },
      ]),
      slice('b', [{ port: 8081 }], [{ ip: '10.244.0.5', node: NODE }]),
    ];
    first.update([svcs[1]], slices);
    await first.settled();
    first.update(svcs, slices);
    await first.settled();
    assert.equal(first.stats.fullSyncs, 1, `changes stay incremental: ${first.stats.lastError ?? ''}`);
    const changed = await contents();
    await first.teardown();
    const second = new ServiceProxy(opts);
    proxies.push(second);
    second.update(svcs, slices);
    await second.start();
    assert.deepEqual(changed, await contents());
    assert.ok(changed['set backends'].length === 9 && changed['set npbackends'].length === 5, JSON.stringify(changed));
  } finally {
    for (const p of proxies) await p.teardown().catch(() => undefined);
    await lab.cleanup();
  }
});

test('by netlink: a full sync with no table and changes of elements make the same table as nft writes, and traffic flows', {
  skip: SKIP_NOT_ROOT,
}, async () => {
  const lab = new ProxyLab();
  const helperDir = mkdtempSync(join(tmpdir(), 'k8tspx-helper-'));
  const helper = new NodeHelper(helperDir);
  const logs: string[] = [];
  const opts = { ...steady(lab), log: (l: string) => logs.push(l) };
  const proxies: ServiceProxy[] = [];
  const make = (helperOpt: ServiceProxyOptions['helper']) => {
    const p = new ServiceProxy({ ...opts, helper: helperOpt });
    proxies.push(p);
    return p;
  };
  try {
    await lab.start();
    const [a, b, client] = [await lab.pod(2), await lab.pod(3), await lab.pod(4)];
    await lab.http(a), await lab.http(b);
    const { services, slices } = everyKind(a.ip, b.ip);

    const viaNetlink = make(helper);
    viaNetlink.update(services, slices);
    await viaNetlink.start();
    assert.equal(viaNetlink.stats.lastFullVia, 'netlink', logs.join('\n'));
    const written = await tableContents(lab);
    for (const c of ['services', 'nodeports', 'backends', 'npbackends', 'noeps', 'npnoeps', 'hairpin'])
      assert.ok(written[`set ${c}`]?.length, `${c} has elements: ${JSON.stringify(written)}`);
    const r = await httpGet(client.ns, 'http://10.96.0.1/cgi-bin/id');
    assert.ok(r.ok && /^pod[23] /.test(r.body), `a ClusterIP made by netlink answers: ${r.error}`);

    // Changes after it are differences by nft, and find what the batch wrote (protocol names vs numbers).
    slices[0] = slice('a', SLICE_PORTS, [{ ip: b.ip, node: NODE }]);
    viaNetlink.update(services, slices);
    await viaNetlink.settled();
    assert.equal(viaNetlink.stats.fullSyncs, 1, viaNetlink.stats.lastError ?? '');
    assert.ok(viaNetlink.stats.lastNftMs === 0 && viaNetlink.stats.lastNetlinkMs > 0, `the change went by netlink: ${JSON.stringify(viaNetlink.stats)}`);
    assert.deepEqual([...(await spread(client.ns, 'http://10.96.0.1/cgi-bin/id', 4)).keys()], ['pod3']);
    // Session affinity brings chains and sets of its own: that change is written by nft.
    services.push(service({ name: 'sticky', clusterIP: '10.96.0.7', ports: [{ port: 80, targetPort: 8080 }], sessionAffinity: { timeoutSeconds: 30 } }));
    slices.push(slice('sticky', [{ port: 8080 }], [{ ip: a.ip, node: NODE }]));
    viaNetlink.update(services, slices);
    await viaNetlink.settled();
    assert.ok(viaNetlink.stats.lastNftMs > 0, `the affinity change went by nft: ${JSON.stringify(viaNetlink.stats)}`);
    assert.ok((await httpGet(client.ns, 'http://10.96.0.7/cgi-bin/id')).body.startsWith('pod2 '));
    const changed = await tableContents(lab);
    await viaNetlink.teardown();

    // The same objects written whole by nft: the same table.
    const viaNft = make(null);
    viaNft.update(services, slices);
    await viaNft.start();
    assert.equal(viaNft.stats.lastFullVia, 'nft');
    assert.deepEqual(await tableContents(lab), changed);
    await viaNft.stop();

    // Over a live table (an agent restarting) the rewrite must be one transaction: nft, even with a helper.
    const restarted = make(helper);
    restarted.update(services, slices);
    await restarted.start();
    assert.equal(restarted.stats.lastFullVia, 'nft', restarted.stats.lastError);
    assert.deepEqual(await tableContents(lab), changed);
    await restarted.teardown();

    // A batch the kernel refuses leaves no half table: the whole table is written by nft instead.
    // (The table is made by the real helper; the elements' batch is the one refused.)
    let calls = 0;
    const refusing = {
      nfnl: (what: string, batch: Buffer, netns: string) =>
        ++calls === 1 ? helper.nfnl(what, batch, netns) : Promise.reject(new Error('refused for the test')),
    } as unknown as NodeHelper;
    const fallback = make(refusing);
    fallback.update(services, slices);
    await fallback.start();
    assert.equal(fallback.stats.lastFullVia, 'nft');
    assert.match(logs.join('\n'), /netlink batch failed, writing the whole table by nft: refused for the test/);
    assert.deepEqual(await tableContents(lab), changed);
  } finally {
    for (const p of proxies) await p.teardown().catch(() => undefined);
    await helper.close();
    rmSync(helperDir, { recursive: true, force: true });
    await lab.cleanup();
  }
});

test('by netlink: the probe finds a live table without a process, and a flushed ruleset is rewritten', { skip: SKIP_NOT_ROOT }, async () => {
  const lab = new ProxyLab();
  const helperDir = mkdtempSync(join(tmpdir(), 'k8tspx-helper-'));
  const helper = new NodeHelper(helperDir);
  const proxy = new ServiceProxy({ ...steady(lab), checkMs: 200, helper });
  try {
    await lab.start();
    const [a, client] = [await lab.pod(2), await lab.pod(3)];
    await lab.http(a);
    proxy.update(
      [service({ name: 'web', clusterIP: '10.96.0.61', ports: [{ port: 80, targetPort: 8080 }] })],
      [slice('web', [{ port: 8080 }], [{ ip: a.ip, node: NODE }])],
    );
    await proxy.start();
    const before = helper.requests;
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(proxy.stats.recoveries, 0, proxy.stats.lastError ?? '');
    assert.ok(helper.requests - before >= 3, `the probes went through the helper: ${helper.requests - before} requests`);
    await run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'nft', 'flush', 'ruleset']);
    await waitFor(async () => (await httpGet(client.ns, 'http://10.96.0.61/cgi-bin/id', 1000)).ok, 5000, 100);
    assert.equal(proxy.stats.recoveries, 1);
  } finally {
    await proxy.teardown().catch(() => undefined);
    await helper.close();
    rmSync(helperDir, { recursive: true, force: true });
    await lab.cleanup();
  }
});

const SLICE_PORTS = [
  { name: 'http', port: 8080 },
  { name: 'dns', port: 5353, protocol: 'UDP' },
];

/** Services that fill every map and set: NodePorts, external and LoadBalancer IPs, Local policy, no endpoints. */
function everyKind(ipA: string, ipB: string): { services: Service[]; slices: EndpointSlice[] } {
  const ports = [
    { name: 'http', port: 80, targetPort: 8080, nodePort: 30080 },
    { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
  ];
  const services = [
    service({ name: 'a', type: 'NodePort', clusterIP: '10.96.0.1', externalIPs: ['192.0.2.1'], ports }),
    service({
      name: 'lb',
      type: 'LoadBalancer',
      clusterIP: '10.96.0.2',
      loadBalancerIPs: ['192.0.2.2'],
      externalTrafficPolicy: 'Local',
      ports: [{ port: 80, nodePort: 30081 }],
    }),
    service({ name: 'empty', type: 'NodePort', clusterIP: '10.96.0.3', ports: [{ port: 80, nodePort: 30082 }] }),
    service({ name: 'sctp', clusterIP: '10.96.0.4', ports: [{ port: 9, protocol: 'SCTP' }] }),
  ];
  const slices = [
    slice('a', SLICE_PORTS, [
      { ip: ipA, node: NODE },
      { ip: ipB, node: NODE },
    ]),
    slice('lb', [{ port: 8080 }], [{ ip: '10.244.9.9', node: 'other' }]),
    slice('sctp', [{ port: 9, protocol: 'SCTP' }], [{ ip: ipA, node: NODE }]),
  ];
  for (let i = 0; i < 300; i++) {
    services.push(service({ name: `s${i}`, clusterIP: `10.96.${1 + (i >> 8)}.${i & 255}`, ports: [{ port: 1000 + i }] }));
    slices.push(slice(`s${i}`, [{ port: 8080 }], [{ ip: i % 2 ? ipA : ipB, node: NODE }]));
  }
  return { services, slices };
}

/** Every map and set of the proxy's table as sorted element texts (affinity sets empty), and every chain's rules. */
async function tableContents(lab: ProxyLab): Promise<Record<string, string[]>> {
  type Item = { set?: { name: string; elem?: unknown[] }; map?: { name: string; elem?: unknown[] }; rule?: { chain: string; expr: unknown } };
  const { stdout } = await run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'nft', '-j', 'list', 'table', 'ip', 'k8ts-proxy']);
  const out: Record<string, string[]> = {};
  for (const it of JSON.parse(stdout).nftables as Item[]) {
    const s = it.set ?? it.map;
    // An affinity set's members are the clients the packet path saw, not what the proxy wrote.
    if (s) out[`set ${s.name}`] = s.name.startsWith('affs-') ? [] : (s.elem ?? []).map((e) => JSON.stringify(e)).sort();
    if (it.rule) (out[`chain ${it.rule.chain}`] ??= []).push(JSON.stringify(it.rule.expr));
  }
  return out;
}
