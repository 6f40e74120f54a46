import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Node, Service } from '../api/types.js';
import { run } from '../util/exec.js';
import { NEEDS_ROOT, uniqueName } from '../lab/testkit.js';
import { LbAnnouncer, desiredAnnouncements, ownerOf } from './announce.js';

const node = (name: string, ready = true): Node => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown' }] },
});
const lb = (name: string, ip: string, etp = 'Cluster'): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { type: 'LoadBalancer', externalTrafficPolicy: etp, ports: [{ port: 80 }] },
  status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } },
});

test('ownerOf: one owner, the same from every node, moving only when the owner goes away', () => {
  const nodes = ['n1', 'n2', 'n3'].map((name) => ({ name, ready: true }));
  const owners = new Map<string, string>();
  for (let i = 200; i < 250; i++) owners.set(`172.30.0.${i}`, ownerOf(`172.30.0.${i}`, nodes)!);
  // Spread over the nodes, not all on one.
  assert.equal(new Set(owners.values()).size, 3);
  for (const [ip, owner] of owners) {
    const without = nodes.map((n) => (n.name === 'n2' ? { ...n, ready: false } : n));
    const next = ownerOf(ip, without)!;
    if (owner !== 'n2') assert.equal(next, owner, `${ip} moved though its owner ${owner} stayed`);
    else assert.notEqual(next, 'n2');
  }
  assert.equal(ownerOf('172.30.0.200', []), undefined);
});

test('desiredAnnouncements: Cluster policy over ready nodes, Local policy only where an endpoint is ready', () => {
  const nodes = [node('n1'), node('n2'), node('n3', false)];
  const svcs = [lb('a', '172.30.0.201'), lb('b', '172.30.0.202', 'Local'), { ...lb('c', '172.30.0.203'), spec: { type: 'ClusterIP' } }];
  const slices: EndpointSlice[] = [
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'b-x', namespace: 'default', labels: { 'kubernetes.io/service-name': 'b' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.244.2.5'], nodeName: 'n2', conditions: { ready: true } },
        { addresses: ['10.244.3.5'], nodeName: 'n3', conditions: { ready: true } },
      ],
    },
  ];
  const all = ['n1', 'n2', 'n3'].map((n) => [...desiredAnnouncements(n, svcs, nodes, slices)]);
  assert.deepEqual(all[2], [], 'a NotReady node announces nothing');
  assert.deepEqual(all.flat().sort(), ['172.30.0.201', '172.30.0.202'], 'each IP exactly once; ClusterIP services never');
  assert.ok(all[1].includes('172.30.0.202'), 'Local policy: the node with the endpoint');
  // An ingress IP goes into an `ip -batch` line: anything but a canonical IPv4 address is never announced.
  const hostile = ['172.30.0.204/0 dev lo\naddr flush dev eth0', '172.30.0.205 label x', '0172.30.0.206', ' 172.30.0.207'].map((ip, i) => lb(`h${i}`, ip));
  assert.deepEqual(
    ['n1', 'n2'].flatMap((n) => [...desiredAnnouncements(n, hostile, nodes, [])]),
    [],
  );
});

test('LbAnnouncer: the owner holds the IP, a takeover moves the neighbour cache by gratuitous ARP', { skip: NEEDS_ROOT }, async () => {
  const tag = uniqueName('an');
  const [lan, n1, n2, host] = ['lan', 'n1', 'n2', 'h'].map((s) => `${tag}-${s}`);
  const sh = (ns: string, script: string) => run(['nsenter', `--net=/run/netns/${ns}`, '--', 'sh', '-c', script]);
  try {
    for (const ns of [lan, n1, n2, host]) await run(['ip', 'netns', 'add', ns]);
    await sh(lan, 'ip link add name lanbr type bridge && ip link set lanbr up');
    const members: [string, string][] = [
      [n1, '192.0.2.11'],
      [n2, '192.0.2.12'],
      [host, '192.0.2.1'],
    ];
    for (const [i, [ns, ip]] of members.entries()) {
      await sh(lan, `ip link add p${i} type veth peer name eth0 netns ${ns} && ip link set p${i} master lanbr up`);
      await sh(ns, `ip link set eth0 up && ip addr add ${ip}/24 dev eth0`);
    }
    const mac = async (ns: string) =>
      JSON.parse((await run(['nsenter', `--net=/run/netns/${ns}`, '--', 'ip', '-j', 'link', 'show', 'eth0'])).stdout)[0].address as string;
    const neigh = async () => {
      const rows = JSON.parse((await run(['nsenter', `--net=/run/netns/${host}`, '--', 'ip', '-j', 'neigh', 'show', '192.0.2.200'])).stdout) as {
        lladdr?: string;
      }[];
      return rows[0]?.lladdr;
    };
    const a1 = new LbAnnouncer('eth0', () => {}, n1);
    const a2 = new LbAnnouncer('eth0', () => {}, n2);
    assert.deepEqual((await a1.sync(new Set(['192.0.2.200']))).added, ['192.0.2.200']);
    assert.deepEqual([...(await a1.held())], ['192.0.2.200']);
    assert.deepEqual((await a1.sync(new Set(['192.0.2.200']))).added, [], 'converged: nothing to do');
    await run(['nsenter', `--net=/run/netns/${host}`, '--', 'busybox', 'ping', '-c', '1', '-W', '2', '192.0.2.200']);
    assert.equal(await neigh(), await mac(n1));
    // n1's agent is gone (its address stays, as after kill -9); n2 takes over and announces.
    await a2.sync(new Set(['192.0.2.200']));
    assert.equal(await neigh(), await mac(n2), "the host's neighbour entry follows the gratuitous ARP");
    await a1.sync(new Set());
    assert.deepEqual([...(await a1.held())], []);
    await run(['nsenter', `--net=/run/netns/${host}`, '--', 'busybox', 'ping', '-c', '1', '-W', '2', '192.0.2.200']);
    await a2.teardown();
    assert.deepEqual([...(await a2.held())], []);
  } finally {
    for (const ns of [lan, n1, n2, host]) await run(['ip', 'netns', 'del', ns]).catch(() => {});
  }
});
