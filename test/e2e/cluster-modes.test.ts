// The cluster.test.ts scenario in the other network modes: pods across nodes over VXLAN (MTU lowered to
// fit), and with the reference CNI plugins (bridge + host-local) in place of ours.
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, WEB, busybox, clusterFixture, nodeNetns, podIP, remoteAddr, sh, skip } from './clusterkit.js';

describe('a VXLAN cluster with the real kubectl', { skip }, () => {
  const get = clusterFixture(`vx${process.pid % 10000}`, ['--backend', 'vxlan']);
  let c: Cluster;
  before(() => (c = get()));

  test('pods on different nodes reach each other over the overlay, with the MTU lowered to fit', async () => {
    await c.ok(['apply', '-f', '-'], busybox('a', 'node1', 'sleep 3600') + busybox('b', 'node2', WEB));
    await c.ok(['wait', '--for=condition=Ready', 'pod/a', 'pod/b', '--timeout=60s']);
    const [a, b] = [await podIP(c, 'a'), await podIP(c, 'b')];
    assert.match(await c.ok(['exec', 'a', '--', 'ping', '-c', '2', '-W', '2', b]), /2 packets received/);
    assert.equal(remoteAddr(await c.ok(['exec', 'a', '--', 'wget', '-qO-', `http://${b}:8080/cgi-bin/ip`])), a);
    assert.match(await c.ok(['exec', 'a', '--', 'ip', 'link', 'show', 'eth0']), /mtu 1450/);
    const routes = sh(['ip', '-n', nodeNetns(c, 'node1'), 'route']).stdout;
    assert.match(routes, /dev k8ts\.vxlan/);
  });
});

describe('the same scenario with the reference CNI plugins (bridge + host-local) in place of ours', {
  skip: skip || (existsSync('/usr/lib/cni/bridge') ? false : 'containernetworking-plugins is not installed'),
}, () => {
  const get = clusterFixture(`ref${process.pid % 10000}`, ['--cni', 'reference']);
  let c: Cluster;
  before(() => (c = get()));

  test("pods get IPs from their node's CIDR and reach each other without NAT, as with ours", async () => {
    await c.ok(['apply', '-f', '-'], busybox('a', 'node1', 'sleep 3600') + busybox('b', 'node2', WEB) + busybox('c', 'node1', WEB));
    await c.ok(['wait', '--for=condition=Ready', 'pod/a', 'pod/b', 'pod/c', '--timeout=60s']);
    const [a, b, cc] = [await podIP(c, 'a'), await podIP(c, 'b'), await podIP(c, 'c')];
    const prefix = async (n: string) => (await c.ok(['get', 'node', n, '-o', 'jsonpath={.spec.podCIDR}'])).trim().split('.').slice(0, 3).join('.');
    assert.equal(a.split('.').slice(0, 3).join('.'), await prefix('node1'));
    assert.equal(b.split('.').slice(0, 3).join('.'), await prefix('node2'));
    assert.equal(remoteAddr(await c.ok(['exec', 'a', '--', 'wget', '-qO-', `http://${b}:8080/cgi-bin/ip`])), a);
    assert.equal(remoteAddr(await c.ok(['exec', 'a', '--', 'wget', '-qO-', `http://${cc}:8080/cgi-bin/ip`])), a);
    // Deleting a pod releases its IP in host-local's store, as ours does.
    await c.ok(['delete', 'pod', 'c', '--grace-period=1']);
    const store = join(c.plan.nodes[0].dir, 'ipam-host-local', 'k8ts');
    assert.ok(!existsSync(join(store, cc)), `host-local still holds ${cc}`);
  });
});
