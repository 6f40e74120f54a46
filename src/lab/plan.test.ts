// Cluster plans: the first cluster's defaults, a second cluster beside it, host-wide claims, refusals.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { overlaps, parseCidr } from '../util/cidr.js';
import { LabError } from './errors.js';
import type { HostNet } from './hostnet.js';
import { type ClusterPlan, listPlans, loadPlan, planCluster, planRanges, releasePlan, reservePlan, savePlan } from './plan.js';
import { claimPath } from './claims.js';
import { parseRoutes } from './hostnet.js';
import { NEEDS_ROOT, tempHome, uniqueName } from './testkit.js';

const emptyHost: HostNet = { routes: [], addresses: [], links: [], netns: [] };

function isLab(code: string) {
  return (e: unknown) => e instanceof LabError && e.code === code;
}

describe('plan allocation (simulated host)', () => {
  let home: string;
  let runDir: string;
  let cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    const h = await tempHome();
    const r = await tempHome();
    home = h.home;
    runDir = join(r.home, 'lab');
    cleanups = [h.cleanup, r.cleanup];
  });
  after(async () => {
    for (const c of cleanups) await c();
  });

  test('two clusters side by side get distinct networks, CIDRs, bridges, ports and namespaces', async () => {
    const a = await planCluster({ name: 'alpha', nodes: 2, backend: 'host-gw', store: 'sqlite', home, runDir, host: emptyHost });
    assert.equal(a.index, 0);
    assert.equal(a.nodeNetwork, '172.30.0.0/24');
    assert.equal(a.bridge, 'k8ts0');
    assert.equal(a.hostIP, '172.30.0.1');
    assert.deepEqual(
      a.nodes.map((n) => [n.name, n.ip, n.netns, n.hostVeth]),
      [
        ['node1', '172.30.0.11', 'k8ts0-alpha-node1', 'k8ts0n1'],
        ['node2', '172.30.0.12', 'k8ts0-alpha-node2', 'k8ts0n2'],
      ],
    );
    assert.equal(a.clusterCIDR, '10.244.0.0/16');
    assert.equal(a.nodeCIDRMaskSize, 24);
    assert.equal(a.serviceCIDR, '10.96.0.0/16');
    assert.equal(a.kubernetesServiceIP, '10.96.0.1');
    assert.equal(a.dnsServiceIP, '10.96.0.10');
    assert.deepEqual(a.lbPool, { first: '172.30.0.200', last: '172.30.0.250' });
    assert.deepEqual(a.apiServer, { addresses: ['172.30.0.1', '127.0.0.1'], port: 6443 });
    assert.equal(a.etcd, undefined);
    assert.equal(a.dir, join(home, 'alpha'));
    await savePlan(a);
    assert.deepEqual(JSON.parse(readFileSync(join(home, 'alpha', 'cluster.json'), 'utf8')), a);
    assert.ok(existsSync(claimPath(runDir, 0)));

    const b = await planCluster({ name: 'beta', nodes: 3, backend: 'vxlan', store: 'etcd', home, runDir, host: emptyHost });
    assert.equal(b.index, 1);
    assert.equal(b.nodeNetwork, '172.30.1.0/24');
    assert.equal(b.bridge, 'k8ts1');
    assert.equal(b.clusterCIDR, '10.245.0.0/16');
    assert.equal(b.serviceCIDR, '10.97.0.0/16');
    assert.equal(b.apiServer.port, 6444);
    assert.deepEqual(b.etcd, { clientPort: 2381, peerPort: 2382 });
    assert.equal(b.backend, 'vxlan');
    await savePlan(b);

    for (const ra of planRanges(a)) for (const rb of planRanges(b)) assert.ok(!overlaps(parseCidr(ra), parseCidr(rb)), `${ra} vs ${rb}`);
    const names = [a, b].flatMap((p) => [p.bridge, ...p.nodes.map((n) => n.hostVeth)]);
    assert.equal(new Set(names).size, names.length);
    for (const n of names) assert.ok(n.length <= 15, n);
    assert.ok(!b.netnsPrefix.startsWith(a.netnsPrefix) && !a.netnsPrefix.startsWith(b.netnsPrefix));
    assert.deepEqual(
      (await listPlans(home)).map((p) => p.name),
      ['alpha', 'beta'],
    );
    assert.deepEqual(await loadPlan(home, 'beta'), b);

    // Released, index 0 is free again and the next plan takes it.
    await releasePlan(a);
    assert.ok(!existsSync(a.dir));
    assert.ok(!existsSync(claimPath(runDir, 0)));
    const c = await planCluster({ name: 'gamma', nodes: 1, home, runDir, host: emptyHost });
    assert.equal(c.index, 0);
    await releasePlan(b);
  });

  test('a name already up is refused with a clear message', async () => {
    const p = await reservePlan({ name: 'dup', nodes: 1, home, runDir, host: emptyHost });
    try {
      await assert.rejects(planCluster({ name: 'dup', nodes: 1, home, runDir, host: emptyHost }), (e: unknown) => {
        assert.ok(isLab('ClusterExists')(e));
        assert.match((e as Error).message, /cluster "dup" is already up .*k8ts down dup/);
        return true;
      });
      await assert.rejects(savePlan(p), isLab('ClusterExists'));
    } finally {
      await releasePlan(p);
    }
  });

  test('indexes whose names or ranges the host already uses are skipped', async () => {
    const host: HostNet = {
      routes: parseRoutes(
        JSON.stringify([
          { dst: '10.244.0.0/16', dev: 'cni0' },
          { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
        ]),
      ),
      addresses: [],
      links: ['k8ts1'],
      netns: ['k8ts2-leftover-node1'],
    };
    const p = await planCluster({ name: 'skip', nodes: 1, home, runDir, host });
    assert.equal(p.index, 3);
    assert.equal(p.nodeNetwork, '172.30.3.0/24');
    const full: HostNet = { ...emptyHost, routes: parseRoutes(JSON.stringify([{ dst: '172.30.0.0/16', dev: 'x' }])) };
    await assert.rejects(planCluster({ name: 'full', nodes: 1, home, runDir, host: full }), isLab('LabFull'));
  });

  test('claims are host-wide: another K8TS_HOME does not get the same index; stale claims are reused', async () => {
    const other = await tempHome();
    try {
      const a = await reservePlan({ name: 'same', nodes: 1, home, runDir, host: emptyHost });
      const b = await reservePlan({ name: 'same', nodes: 1, home: other.home, runDir, host: emptyHost });
      assert.notEqual(a.index, b.index);
      assert.notEqual(a.bridge, b.bridge);
      assert.notEqual(a.nodes[0].netns, b.nodes[0].netns);
      // An override that overlaps the other home's cluster is refused.
      await assert.rejects(planCluster({ name: 'ov', nodes: 1, home, runDir, host: emptyHost, clusterCIDR: b.clusterCIDR }), isLab('RangeCollision'));
      await releasePlan(a);
      await releasePlan(b);

      // A claim by a dead process with no cluster.json behind it is stale.
      mkdirSync(runDir, { recursive: true });
      writeFileSync(
        claimPath(runDir, 0),
        JSON.stringify({ index: 0, name: 'ghost', dir: join(other.home, 'ghost'), pid: 2 ** 22 + 1, ranges: ['172.30.0.0/24'], createdAt: '' }),
      );
      const c = await reservePlan({ name: 'after-ghost', nodes: 1, home, runDir, host: emptyHost });
      assert.equal(c.index, 0);
      assert.equal(JSON.parse(readFileSync(claimPath(runDir, 0), 'utf8')).name, 'after-ghost');
      await releasePlan(c);

      // A live claim (this process) is respected even without cluster.json yet.
      assert.ok(!existsSync(runDir), 'the last release removes the claim directory');
      mkdirSync(runDir, { recursive: true });
      writeFileSync(
        claimPath(runDir, 0),
        JSON.stringify({
          index: 0,
          name: 'busy',
          dir: join(other.home, 'busy'),
          pid: process.pid,
          ranges: ['172.30.0.0/24', '10.244.0.0/16', '10.96.0.0/16'],
          createdAt: '',
        }),
      );
      const d = await planCluster({ name: 'next', nodes: 1, home, runDir, host: emptyHost });
      assert.equal(d.index, 1);
      const stolen: ClusterPlan = { ...d, index: 0, stem: 'k8ts0' };
      await assert.rejects(savePlan(stolen), isLab('IndexTaken'));
      assert.ok(!existsSync(d.dir), 'a failed save leaves no state directory');
      rmSync(claimPath(runDir, 0));
    } finally {
      await other.cleanup();
    }
  });

  test('bad names and options are refused', async () => {
    for (const name of ['', 'UPPER', '-lead', 'trail-', 'a/b', 'x'.repeat(41), 'dot.ted']) {
      await assert.rejects(planCluster({ name, nodes: 1, home, runDir, host: emptyHost }), isLab('InvalidName'), name);
    }
    for (const nodes of [0, -1, 1.5, 190]) await assert.rejects(planCluster({ name: 'n', nodes, home, runDir, host: emptyHost }), isLab('InvalidOption'));
    await assert.rejects(planCluster({ name: 'n', nodes: 1, home, runDir, host: emptyHost, nodeNetwork: '172.31.0.0/25' }), isLab('InvalidOption'));
    await assert.rejects(planCluster({ name: 'n', nodes: 1, home, runDir, host: emptyHost, serviceCIDR: '10.96.0.1/16' }), isLab('InvalidOption'));
    await assert.rejects(planCluster({ name: 'n', nodes: 1, home, runDir, host: emptyHost, backend: 'flannel' as never }), isLab('InvalidOption'));
    const big = await planCluster({ name: 'big', nodes: 189, home, runDir, host: emptyHost });
    assert.equal(big.nodes.at(-1)!.ip, '172.30.0.199');
  });
});

describe('plan allocation on this host', { skip: NEEDS_ROOT }, () => {
  test('two reserved plans on the real host are distinct and avoid every host route', async () => {
    const { home, cleanup } = await tempHome();
    const plans: ClusterPlan[] = [];
    try {
      plans.push(await reservePlan({ name: uniqueName(), nodes: 2, home }));
      plans.push(await reservePlan({ name: uniqueName(), nodes: 2, home }));
      const [a, b] = plans;
      assert.notEqual(a.index, b.index);
      assert.notEqual(a.apiServer.port, b.apiServer.port);
      for (const ra of planRanges(a)) for (const rb of planRanges(b)) assert.ok(!overlaps(parseCidr(ra), parseCidr(rb)));
      assert.ok(existsSync(claimPath(a.runDir, a.index)) && existsSync(claimPath(b.runDir, b.index)));
    } finally {
      for (const p of plans) await releasePlan(p);
      await cleanup();
    }
  });
});
