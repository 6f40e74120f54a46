// The lab topology for real: a bridge on the host and two node namespaces that reach the host and each
// other, with exactly their own addresses, and nothing added to the host but the node network's route.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { run } from '../util/exec.js';
import { type ClusterPlan, releasePlan, reservePlan } from './plan.js';
import { runSteps } from './steps.js';
import { createBridge, destroyTopology, topologySteps } from './topology.js';
import { NEEDS_ROOT, captureLog, hostLinks, netnsList, ping, tempHome, uniqueName } from './testkit.js';

const hostForwardingAtStart = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1';

/** The host's routes except those on lab links (ours are checked exactly; other tests' clusters come and go). */
async function routesNotOnLabLinks(): Promise<string> {
  const all = JSON.parse((await run(['ip', '-j', 'route', 'show', 'table', 'all'])).stdout) as { dev?: string }[];
  return JSON.stringify(all.filter((r) => !r.dev || !/^k8ts\d+(n\d+)?$/.test(r.dev)));
}

describe('topology', { skip: NEEDS_ROOT }, () => {
  let home: { home: string; cleanup(): Promise<void> };
  let plan: ClusterPlan;
  before(async () => {
    home = await tempHome();
    plan = await reservePlan({ name: uniqueName(), nodes: 2, home: home.home });
  });
  after(async () => {
    if (plan) {
      await destroyTopology(plan);
      await releasePlan(plan);
    }
    await home?.cleanup();
  });

  test('two nodes on a host bridge: pings, addresses, routes, sysctls', async () => {
    const ours = [plan.bridge, ...plan.nodes.map((n) => n.hostVeth)];
    const before = await routesNotOnLabLinks();
    const { lines, log } = captureLog();
    await runSteps(topologySteps(plan), { log });
    assert.equal(lines.length, 2);
    assert.match(lines[0], new RegExp(`^✓ Creating node network ${plan.bridge} ${plan.nodeNetwork.replace(/\./g, '\\.')} \\(\\d+ ms\\)$`));
    assert.match(lines[1], /^✓ Creating 2 nodes: node1 \S+, node2 \S+ \(\d+ ms\)$/);

    for (const n of plan.nodes) await ping(n.ip);
    await ping(plan.nodes[1].ip, plan.nodes[0].netns);
    await ping(plan.nodes[0].ip, plan.nodes[1].netns);

    for (const n of plan.nodes) {
      const addrs = (
        JSON.parse((await run(['ip', '-n', n.netns, '-4', '-j', 'addr', 'show'])).stdout) as {
          ifname: string;
          addr_info: { local: string; prefixlen: number }[];
        }[]
      )
        .flatMap((l) => l.addr_info.map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`))
        .sort();
      assert.deepEqual(addrs, ['eth0 ' + n.ip + '/24', 'lo 127.0.0.1/8']);
      const routes = (await run(['ip', '-n', n.netns, '-4', 'route', 'show'])).stdout
        .trim()
        .split('\n')
        .map((l) => l.trim());
      assert.deepEqual(routes, [`default via ${plan.hostIP} dev eth0`, `${plan.nodeNetwork} dev eth0 proto kernel scope link src ${n.ip}`]);
      const sysctl = (
        await run([
          'nsenter',
          `--net=/run/netns/${n.netns}`,
          '--',
          'sh',
          '-c',
          'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/all/rp_filter /proc/sys/net/ipv4/conf/default/rp_filter',
        ])
      ).stdout;
      assert.deepEqual(sysctl.split('\n').filter(Boolean), ['1', '2', '2']);
    }
    // Forwarding was switched on inside the nodes only.
    assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1', hostForwardingAtStart);

    // On the host: the bridge's one connected route (plus the kernel's local/broadcast entries for its own
    // address), nothing on the veths, no IPv6, and every other route exactly as before.
    const onOurs = (
      JSON.parse((await run(['ip', '-j', 'route', 'show', 'table', 'all'])).stdout) as { dev?: string; dst: string; table?: string; type?: string }[]
    )
      .filter((r) => r.dev && ours.includes(r.dev))
      .map((r) => `${r.type ?? 'unicast'} ${r.dst} ${r.dev} ${r.table ?? 'main'}`)
      .sort();
    const top = plan.nodeNetwork.replace(/\.0\/24$/, '.255');
    assert.deepEqual(
      onOurs,
      [`broadcast ${top} ${plan.bridge} local`, `local ${plan.hostIP} ${plan.bridge} local`, `unicast ${plan.nodeNetwork} ${plan.bridge} main`].sort(),
    );
    assert.equal(await routesNotOnLabLinks(), before);
    const master = JSON.parse((await run(['ip', '-j', 'link', 'show', 'master', plan.bridge])).stdout) as { ifname: string }[];
    assert.deepEqual(master.map((l) => l.ifname).sort(), plan.nodes.map((n) => n.hostVeth).sort());

    const removed = await destroyTopology(plan);
    assert.deepEqual(removed.netns.sort(), plan.nodes.map((n) => n.netns).sort());
    assert.ok(removed.links.includes(plan.bridge));
    assert.ok(!(await netnsList()).some((n) => n.startsWith(plan.netnsPrefix)));
    assert.ok(!(await hostLinks()).some((l) => l === plan.bridge || l.startsWith(`${plan.stem}n`)));
    assert.equal(await routesNotOnLabLinks(), before);
    assert.deepEqual(await destroyTopology(plan), { netns: [], links: [] }, 'a second destroy finds nothing and does not fail');
  });

  test('destroy tolerates a half-made topology', async () => {
    await createBridge(plan);
    await run(['ip', 'netns', 'add', plan.nodes[1].netns]);
    const removed = await destroyTopology(plan);
    assert.deepEqual(removed, { netns: [plan.nodes[1].netns], links: [plan.bridge] });
    assert.ok(!(await hostLinks()).includes(plan.bridge));
    assert.ok(!(await netnsList()).includes(plan.nodes[1].netns));
  });
});
