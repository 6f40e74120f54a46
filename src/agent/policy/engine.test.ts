// The policy engine in the kernel: a throwaway node namespace with a bridge, pod namespaces behind it and
// a host on the node network (the proxy's fixture), real servers, real nftables, real conntrack, the real
// drop log. Each case is judged by a real connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { KObject, NetworkPolicy, Pod } from '../../api/types.js';
import { run, spawnProcess } from '../../util/exec.js';
import { ProxyLab, SKIP_NOT_ROOT, httpGet, udpAsk, waitFor, service, slice, HOST_IP, type Pod as LabPod } from '../proxy/testing.js';
import { ServiceProxy } from '../proxy/proxier.js';
import { PolicyEngine } from './engine.js';
import { parseIPv4 as ip4 } from '../../util/cidr.js';

const NODE = 'n1';
const tag = randomBytes(3).toString('hex');
let lab: ProxyLab;
let engine: PolicyEngine;
let proxy: ServiceProxy;
let web: LabPod; // shop/web app=web, named port http=8080
let client: LabPod; // shop/client app=client
let other: LabPod; // other/x app=x
let udpSrv: LabPod; // shop/dns app=dns (UDP 5353)
const events: { obj: KObject; reason: string; message: string }[] = [];
const objs = new Map<string, KObject>();

function podObj(p: LabPod, ns: string, labels: Record<string, string>, ports: { name: string; containerPort: number; protocol?: string }[] = []): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: ns, uid: `uid-${p.name}`, labels },
    spec: { nodeName: NODE, containers: [{ name: 'c', ports }] },
    status: { phase: 'Running', podIP: p.ip },
  };
}

function policy(name: string, ns: string, spec: NonNullable<NetworkPolicy['spec']>): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns, uid: `np-${name}` }, spec };
}

async function apply(p: NetworkPolicy): Promise<void> {
  engine.onPolicy(objs.has(`${p.metadata.namespace}/${p.metadata.name}`) ? 'MODIFIED' : 'ADDED', p);
  objs.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
  await engine.settled();
}

async function remove(...names: string[]): Promise<void> {
  for (const n of names) {
    const o = objs.get(n);
    if (!o) continue;
    objs.delete(n);
    engine.onPolicy('DELETED', o);
  }
  await engine.settled();
}

const reach = async (from: LabPod | 'host' | 'node', to: LabPod | string, port = 8080, ms = 1200) => {
  const ns = from === 'host' ? lab.host : from === 'node' ? lab.node : from.ns;
  const ip = typeof to === 'string' ? to : to.ip;
  return (await httpGet(ns, `http://${ip}:${port}/cgi-bin/id`, ms)).ok;
};

before(async () => {
  if (SKIP_NOT_ROOT) return;
  lab = await new ProxyLab().start();
  await run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']);
  web = await lab.pod(5);
  client = await lab.pod(6);
  other = await lab.pod(7);
  udpSrv = await lab.pod(8);
  await lab.http(web, 8080);
  await lab.http(web, 9090);
  await lab.http(other, 8080);
  await lab.udp(udpSrv, 5353);
  await lab.http(udpSrv, 5353);
  engine = new PolicyEngine({
    nodeName: NODE,
    netns: lab.nodeNetns,
    table: `k8tsnp-${tag}`,
    guardTable: `k8tsnpg-${tag}`,
    event: (obj, _t, reason, message) => events.push({ obj, reason, message }),
    log: () => undefined,
  });
  for (const [name, labels] of [
    ['shop', { team: 'a' }],
    ['other', { team: 'b' }],
  ] as const)
    engine.onNamespace('ADDED', { metadata: { name, labels } });
  engine.onPod('ADDED', podObj(web, 'shop', { app: 'web' }, [{ name: 'http', containerPort: 8080 }]));
  engine.onPod('ADDED', podObj(client, 'shop', { app: 'client' }));
  engine.onPod('ADDED', podObj(other, 'other', { app: 'x' }));
  engine.onPod('ADDED', podObj(udpSrv, 'shop', { app: 'dns' }));
  await engine.start();
  proxy = new ServiceProxy({ nodeName: NODE, nodeIPs: ['10.0.0.1'], netns: lab.nodeNetns, table: `k8tspxnp-${tag}`, log: () => undefined });
  proxy.update(
    [service({ name: 'web', namespace: 'shop', clusterIP: '10.96.7.7', ports: [{ port: 80, targetPort: 8080 }] })],
    [slice('web', [{ port: 8080 }], [{ ip: web.ip, node: NODE }], 'web-x', 'shop')],
  );
  await proxy.start();
});

after(async () => {
  if (SKIP_NOT_ROOT) return;
  await proxy?.teardown();
  await engine?.teardown();
  await lab?.cleanup();
});

test('no policy: everything reaches everything', { skip: SKIP_NOT_ROOT }, async () => {
  assert.ok(await reach(client, web));
  assert.ok(await reach(other, web));
  assert.ok(await reach('host', web));
});

test('default deny ingress: only the node itself (probes) gets in; the drop is logged with its reason', { skip: SKIP_NOT_ROOT }, async () => {
  assert.ok(await engine.dropLogReady(5000), 'tcpdump bound to the NFLOG group');
  await apply(policy('default-deny', 'shop', { podSelector: {} }));
  assert.equal(await reach(client, web), false);
  assert.equal(await reach(other, web), false);
  assert.equal(await reach('host', web), false);
  assert.ok(await reach('node', web), "the pod's own node always gets in");
  await waitFor(async () => events.some((e) => e.reason === 'PolicyDenied' && e.obj.metadata.name === web.name), 5000);
  const ev = events.find((e) => e.reason === 'PolicyDenied' && e.obj.metadata.name === web.name)!;
  assert.match(ev.message, /^denied ingress from 10\.\d+\.\d+\.\d+:\d+ to :8080\/TCP: no policy of namespace shop allows it \(isolated by default-deny\)$/);
  const drops = engine.recentDrops();
  assert.ok(drops.some((d) => d.direction === 'ingress' && d.object === `shop/${web.name}` && d.dport === 8080));
  assert.equal(engine.loggedByDirection.ingress, drops.filter((d) => d.direction === 'ingress').length, 'the metric counts what the log read');
  const c = await engine.counters();
  assert.ok(c.policies.find((p) => p.policy === 'shop/default-deny' && p.direction === 'ingress')!.packets > 0);
});

test('allow by pod label on a named port; other namespace and other port stay out; a ClusterIP is judged against the backend', {
  skip: SKIP_NOT_ROOT,
}, async () => {
  await apply(
    policy('allow-client', 'shop', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }] }],
    }),
  );
  assert.ok(await reach(client, web));
  assert.equal(await reach(client, web, 9090), false, 'port 9090 is not the named port');
  assert.equal(await reach(other, web), false);
  assert.ok(await reach(client, '10.96.7.7', 80), 'through the ClusterIP, judged against the backend');
  assert.equal(await reach(other, '10.96.7.7', 80), false);
});

test('namespace selector and pod selector in one peer (AND) versus two peers (OR)', { skip: SKIP_NOT_ROOT }, async () => {
  await apply(
    policy('allow-client', 'shop', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: { matchLabels: { app: 'client' } } }] }],
    }),
  );
  assert.equal(await reach(other, web), false, 'other/x is in team b but not app=client');
  assert.equal(await reach(client, web), false, 'shop/client is app=client but not in team b');
  await apply(
    policy('allow-client', 'shop', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }, { podSelector: { matchLabels: { app: 'client' } } }] }],
    }),
  );
  assert.ok(await reach(other, web));
  assert.ok(await reach(client, web));
});

test('a label change re-judges at once, and cuts the established connection it no longer allows', { skip: SKIP_NOT_ROOT }, async () => {
  await apply(
    policy('allow-client', 'shop', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }],
    }),
  );
  assert.ok(await reach(client, web));
  // A long-lived connection from client to web:9090 (nc keeps it open and reports when it is cut).
  const nc = spawnProcess(['nsenter', `--net=${client.netns}`, '--', 'busybox', 'nc', web.ip, '9090'], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    await waitFor(
      async () =>
        (await run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'conntrack', '-L', '-p', 'tcp', '--dport', '9090', '--state', 'ESTABLISHED'])).stdout.includes(
          web.ip,
        ),
      3000,
    );
    engine.onPod('MODIFIED', podObj(client, 'shop', { app: 'not-client' }));
    await engine.settled();
    await engine.revoked();
    assert.equal(await reach(client, web), false);
    const left = (await run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'conntrack', '-L', '-p', 'tcp', '--dport', '9090']).catch((e) => e)).stdout ?? '';
    assert.doesNotMatch(left, new RegExp(`dst=${web.ip.replace(/\./g, '\\.')} .*ESTABLISHED`), 'the established entry is gone');
    // Whatever the client sends now is dropped: a new TCP flow must start with SYN.
    nc.child.stdin!.write('GET / HTTP/1.0\r\n\r\n');
    const got = await Promise.race([
      new Promise((r) => nc.child.stdout!.once('data', () => r('data'))),
      new Promise((r) => setTimeout(() => r('nothing'), 1500)),
    ]);
    assert.equal(got, 'nothing');
  } finally {
    nc.child.kill('SIGKILL');
    await nc.exited;
    engine.onPod('MODIFIED', podObj(client, 'shop', { app: 'client' }));
    await engine.settled();
  }
  assert.ok(await reach(client, web));
});

test('UDP-only rule does not admit TCP; endPort ranges', { skip: SKIP_NOT_ROOT }, async () => {
  await apply(policy('dns-udp', 'shop', { podSelector: { matchLabels: { app: 'dns' } }, ingress: [{ ports: [{ protocol: 'UDP', port: 5353 }] }] }));
  assert.ok((await udpAsk(client.ns, udpSrv.ip, 5353, 1000)).ok);
  assert.equal(await reach(client, udpSrv, 5353), false, 'TCP 5353 is not allowed by a UDP rule');
  await apply(
    policy('dns-udp', 'shop', { podSelector: { matchLabels: { app: 'dns' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 5000, endPort: 5400 }] }] }),
  );
  assert.ok(await reach(client, udpSrv, 5353));
  assert.equal((await udpAsk(client.ns, udpSrv.ip, 5353, 800)).ok, false);
  await remove('shop/dns-udp');
});

test('egress: default deny from a pod, an ipBlock with except, egress to its own node always allowed', { skip: SKIP_NOT_ROOT }, async () => {
  await remove('shop/allow-client', 'shop/default-deny');
  assert.ok(await reach(other, web));
  await apply(
    policy('egress', 'other', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/24', except: [`${web.ip}/32`] } }] }],
    }),
  );
  assert.equal(await reach(other, web), false, 'web is in the except');
  assert.ok(await reach(other, udpSrv, 5353), 'another address in the block');
  assert.equal(await reach(other, HOST_IP, 80, 800), false);
  const own = await run(['nsenter', `--net=${other.netns}`, '--', 'busybox', 'ping', '-c', '1', '-W', '1', '10.244.0.1']).then(
    () => true,
    () => false,
  );
  assert.ok(own, 'the pod reaches its own node');
  await remove('other/egress');
});

test('nft flush ruleset: isolated pods stay closed while the policy table is missing, others keep working; back within seconds', {
  skip: SKIP_NOT_ROOT,
}, async () => {
  await apply(policy('default-deny', 'shop', { podSelector: {} }));
  await apply(
    policy('allow-client', 'shop', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }],
    }),
  );
  assert.ok(await reach(client, web));
  await engine.programmer.guard!.settled();
  const g = await engine.programmer.guard!.list();
  assert.ok(g?.ingress.has(ip4(web.ip)) && g.ingress.has(ip4(client.ip)) && !g.ingress.has(ip4(other.ip)), 'the guard holds the isolated pods');
  // Hold the recovery back, to look at the window itself.
  await engine.programmer.stop();
  await run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'nft', 'flush', 'ruleset']);
  const tables = (await run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'nft', 'list', 'tables'])).stdout;
  assert.match(tables, new RegExp(`table ip k8tsnpg-${tag}`), 'the owned guard table survives a flush');
  assert.doesNotMatch(tables, new RegExp(`table ip k8tsnp-${tag}\\b`));
  assert.equal(await reach(other, web, 8080, 800), false, 'denied stays denied');
  assert.equal(await reach(client, web, 8080, 800), false, 'fail closed: new flows to an isolated pod wait for the policy table');
  assert.ok(await reach(web, other), 'a pod that is not isolated for that direction is not affected');
  const recoveries = engine.programmer.stats.recoveries;
  engine.programmer.watch();
  await waitFor(async () => engine.programmer.stats.recoveries > recoveries, 5000);
  await engine.settled();
  await waitFor(() => reach(client, web), 3000);
  assert.equal(await reach(other, web), false);
  await remove('shop/allow-client', 'shop/default-deny');
});

test('a SYN let through before a new pod was isolated, and delivered to it after (it waited for ARP), gets no answer back', {
  skip: SKIP_NOT_ROOT,
}, async () => {
  // The pod's link is on the bridge but has no address yet: the node judges the host's SYN (nothing isolates
  // that address yet), routes it to the bridge and queues it while it asks who has the address.
  const late = await lab.pod(9);
  const inLate = (args: string[]) => run(['ip', '-n', late.ns, ...args]);
  await inLate(['addr', 'flush', 'dev', 'eth0']);
  await run(['ip', '-n', lab.node, 'neigh', 'flush', 'to', late.ip]).catch(() => undefined);
  engine.onNamespace('ADDED', { metadata: { name: 'late', labels: {} } });
  await apply(policy('deny-late', 'late', { podSelector: {}, policyTypes: ['Ingress'] }));
  const asked = httpGet(lab.host, `http://${late.ip}:8080/cgi-bin/id`, 4000);
  await new Promise((r) => setTimeout(r, 150));
  // As the pod loop does: the sandbox's address is isolated before anything in the pod listens.
  await engine.localPodReady({ ...podObj(late, 'late', {}), status: {} }, late.ip);
  // By then the queued SYN is dropped with its neighbour entry, and its flow is gone from conntrack.
  const inNode = (argv: string[]) =>
    run(['nsenter', `--net=${lab.nodeNetns}`, '--', ...argv]).then(
      (r) => r.stdout,
      (e) => String(e.stdout ?? ''),
    );
  assert.doesNotMatch(await inNode(['ip', 'neigh', 'show', 'to', late.ip]), /INCOMPLETE/, 'nothing waits for the pod address any more');
  assert.doesNotMatch(await inNode(['conntrack', '-L', '--reply-src', late.ip]), /SYN_SENT/, 'the SYN let in before isolation has no flow');
  await inLate(['addr', 'add', `${late.ip}/24`, 'dev', 'eth0']);
  await inLate(['route', 'add', 'default', 'via', '10.244.0.1']);
  await lab.http(late, 8080);
  // The node's next ARP probe (within a second) finds the pod and hands it the queued SYN; its answer
  // belongs to a flow the node let in before the pod was isolated.
  const got = await asked;
  assert.equal(got.ok, false, `the host reached the isolated pod: ${got.body}`);
  assert.equal(await reach('host', late, 8080, 1500), false);
  await remove('late/deny-late');
});
