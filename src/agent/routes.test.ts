// The routes k8ts made, listed by rtnetlink dumps through the node helper, are what `ip -j route show proto
// 140` lists, in a network namespace of the test's own.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnRun } from '../util/exec.js';
import { NodeHelper } from './helper.js';
import { ourRoutes, ROUTE_PROTO } from './routes.js';

const root = process.getuid?.() === 0;
const name = `k8ts-routes-${process.pid}-${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'k8ts-routes-'));
const helper = new NodeHelper(dir);

describe('our routes, listed', { skip: !root && 'needs root (a network namespace)' }, () => {
  before(async () => {
    await spawnRun(['ip', 'netns', 'add', name]);
    const lines = [
      'link add eth0 type veth peer name p0',
      'link add k8ts.vxlan type veth peer name p1',
      'addr add 172.30.0.11/24 dev eth0',
      'addr add 10.244.1.0/32 dev k8ts.vxlan',
      'link set eth0 up',
      'link set k8ts.vxlan up',
      'link set p0 up',
      'link set p1 up',
      // host-gw's kind, VXLAN's kind (onlink through the device), a host route: ours.
      `route add 10.244.2.0/24 via 172.30.0.12 dev eth0 proto ${ROUTE_PROTO}`,
      `route add 10.244.3.0/24 via 10.244.3.0 dev k8ts.vxlan onlink proto ${ROUTE_PROTO}`,
      `route add 10.244.9.9/32 dev eth0 proto ${ROUTE_PROTO}`,
      // Not ours: another protocol, another table.
      'route add 10.244.4.0/24 via 172.30.0.14 dev eth0 proto static',
      `route add 10.244.5.0/24 via 172.30.0.15 dev eth0 proto ${ROUTE_PROTO} table 100`,
      `route add 10.244.6.0/24 via 172.30.0.16 dev eth0 proto ${ROUTE_PROTO} table 1000`,
    ];
    await spawnRun(['ip', '-n', name, '-batch', '-'], { input: `${lines.join('\n')}\n` });
  });
  after(async () => {
    await helper.close();
    await spawnRun(['ip', 'netns', 'del', name]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('by the helper exactly as by ip: the main table, our protocol, destination, gateway and device', async () => {
    const netns = `/run/netns/${name}`;
    const byIp = await ourRoutes({ helper: null, netns });
    const byNetlink = await ourRoutes({ helper, netns });
    const sorted = (rows: { dst: string }[]) => [...rows].sort((a, b) => a.dst.localeCompare(b.dst));
    assert.deepEqual(sorted(byNetlink), sorted(byIp));
    assert.deepEqual(sorted(byNetlink), [
      { dst: '10.244.2.0/24', gateway: '172.30.0.12', dev: 'eth0' },
      { dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'k8ts.vxlan' },
      { dst: '10.244.9.9', dev: 'eth0' },
    ]);
  });
});
