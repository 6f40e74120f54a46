// Node failure and placement on a real 3-node lab with the real kubectl: pods spread by anti-affinity land
// one per node and run; kill -9 of one node's agent makes the node Unknown and tainted
// node.kubernetes.io/unreachable (NoSchedule + NoExecute); its pods are evicted once their (shortened,
// 8 s) default tolerationSeconds run out, a pod that tolerates the taint without a limit stays, and new
// pods avoid the node; when the agent is back the taints go and the evicted pods finish.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { clusterFixture, restartLabProcess, skip, until } from './clusterkit.js';

const TOLERATION_SECONDS = 8;

const pod = (name: string, spec: object, labels: Record<string, string> = {}) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', command: ['sleep', '3600'] }], ...spec },
  });

describe('node failure on a 3-node lab', { skip }, () => {
  const get = clusterFixture(`nodes${process.pid % 10000}`, [
    '--nodes',
    '3',
    '--node-monitor-grace-period',
    '15',
    '--default-toleration-seconds',
    String(TOLERATION_SECONDS),
  ]);

  test('anti-affinity places one pod per node; a killed node taints, evicts after tolerationSeconds, and recovers', async () => {
    const c = get();
    const nodes = (await c.ok(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(' ');
    assert.equal(nodes.length, 3);
    const anti = {
      affinity: {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'one' } }, topologyKey: 'kubernetes.io/hostname' }],
        },
      },
    };
    for (const n of ['one-1', 'one-2', 'one-3']) await c.ok(['apply', '-f', '-'], pod(n, anti, { app: 'one' }));
    await c.ok(['wait', '--for=condition=Ready', 'pod/one-1', 'pod/one-2', 'pod/one-3', '--timeout=90s']);
    const where = JSON.parse(await c.ok(['get', 'pods', '-l', 'app=one', '-o', 'json'])).items.map(
      (p: { metadata: { name: string }; spec: { nodeName: string } }) => [p.metadata.name, p.spec.nodeName],
    );
    assert.deepEqual(where.map((w: string[]) => w[1]).sort(), [...nodes].sort());
    // The default tolerations, shortened for the lab by the server's flags.
    const tol = JSON.parse(await c.ok(['get', 'pod', 'one-1', '-o', 'jsonpath={.spec.tolerations}']));
    assert.deepEqual(tol.map((t: { key: string; tolerationSeconds: number }) => [t.key, t.tolerationSeconds]).sort(), [
      ['node.kubernetes.io/not-ready', TOLERATION_SECONDS],
      ['node.kubernetes.io/unreachable', TOLERATION_SECONDS],
    ]);

    const victim = nodes[2];
    const victimPod = where.find((w: string[]) => w[1] === victim)[0];
    await c.ok(
      ['apply', '-f', '-'],
      pod('stays', { nodeName: victim, tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }] }),
    );
    await c.ok(['wait', '--for=condition=Ready', 'pod/stays', '--timeout=60s']);

    await restartLabProcess(c, `agent-${victim}`, async () => {
      const tainted = await until(
        'unreachable NoExecute taint',
        async () => {
          const n = JSON.parse(await c.ok(['get', 'node', victim, '-o', 'json']));
          return (
            (n.spec.taints ?? []).some((t: { key: string; effect: string }) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute') && n
          );
        },
        40_000,
      );
      assert.equal(tainted.status.conditions.find((x: { type: string }) => x.type === 'Ready').status, 'Unknown');
      const added = Date.parse(tainted.spec.taints.find((t: { effect: string }) => t.effect === 'NoExecute').timeAdded);
      assert.match(await c.ok(['get', 'node', victim]), /NotReady/);
      // Evicted once the toleration runs out (not before), marked with the DisruptionTarget condition.
      const evicted = await until(
        `${victimPod} evicted`,
        async () => {
          const p = JSON.parse(await c.ok(['get', 'pod', victimPod, '-o', 'json']));
          return p.metadata.deletionTimestamp && p;
        },
        40_000,
      );
      const cond = evicted.status.conditions.find((x: { type: string }) => x.type === 'DisruptionTarget');
      assert.equal(cond?.reason, 'DeletionByTaintManager');
      assert.ok(
        Date.parse(cond.lastTransitionTime) >= added + (TOLERATION_SECONDS - 1) * 1000,
        `evicted at ${cond.lastTransitionTime}, taint added ${tainted.spec.taints[1].timeAdded}`,
      );
      const ev = await c.ok([
        'get',
        'events',
        '--field-selector',
        `involvedObject.name=${victimPod},reason=TaintManagerEviction`,
        '-o',
        'jsonpath={.items[0].message}',
      ]);
      assert.equal(ev, `Marking for deletion Pod default/${victimPod}`);
      // The pod that tolerates the taint without a limit stays; a new pod avoids the node.
      assert.equal((await c.ok(['get', 'pod', 'stays', '-o', 'jsonpath={.metadata.deletionTimestamp}'])).trim(), '');
      await c.ok(['apply', '-f', '-'], pod('newcomer', {}));
      const placed = await until('newcomer bound', async () => (await c.ok(['get', 'pod', 'newcomer', '-o', 'jsonpath={.spec.nodeName}'])).trim());
      assert.notEqual(placed, victim);
    });
    // The agent is back: Ready again, the taints go, the evicted pod finishes its deletion.
    await until('taints removed', async () => !JSON.parse(await c.ok(['get', 'node', victim, '-o', 'json'])).spec.taints?.length, 60_000);
    await until(`${victimPod} gone`, async () => (await c.k(['get', 'pod', victimPod])).code !== 0, 60_000);
    await c.ok(['delete', 'pods', '--all', '--wait=false']);
  });
});
