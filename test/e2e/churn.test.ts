// Pod churn on one node of a real cluster: 300 pods created and deleted in rounds of 100 never exhaust the
// node's /24, and every address is given back.
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type Cluster, busybox, clusterFixture, sh, skip } from './clusterkit.js';
import type { PodList } from 'kubernetes-types/core/v1.js';

describe('pod churn on a host-gw cluster', { skip }, () => {
  const get = clusterFixture(`ch${process.pid % 10000}`);
  let c: Cluster;
  before(() => (c = get()));

  test('creating and deleting 300 pods on one node never exhausts its /24', async () => {
    for (let round = 0; round < 3; round++) {
      const yaml = Array.from({ length: 100 }, (_, i) => busybox(`churn-${round}-${i}`, 'node2', 'sleep 3600'))
        .join('')
        .replace(/labels: \{app: churn-\d+-\d+\}/g, 'labels: {app: churn}');
      await c.ok(['apply', '-f', '-'], yaml);
      await c.ok(['wait', '--for=condition=Ready', 'pod', '-l', 'app=churn', '--timeout=180s']);
      const ips = new Set((JSON.parse(await c.ok(['get', 'pods', '-l', 'app=churn', '-o', 'json'])) as PodList).items.map((p) => p.status!.podIP));
      assert.equal(ips.size, 100, 'every pod has its own IP');
      await c.ok(['delete', 'pod', '-l', 'app=churn', '--grace-period=1', '--timeout=180s']);
    }
    const held = sh(['ls', join(c.plan.nodes[1].dir, 'ipam', 'k8ts')])
      .stdout.split('\n')
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    const live = (JSON.parse(await c.ok(['get', 'pods', '-o', 'json'])) as PodList).items.filter((p) => p.spec!.nodeName === 'node2');
    assert.equal(held.length, live.length);
  });
});
