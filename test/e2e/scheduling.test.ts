// The scheduler, cordon/drain with PodDisruptionBudgets and the admission of scheduling constraints, with
// the real kubectl 1.32 against a real k8ts server whose nodes are API objects (no agents: pods are bound
// and marked Ready here, as a kubelet would). Placement on a real multi-node lab is in nodes.test.ts.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, kubectlBinary, type TestServer } from './harness.js';

const skip = kubectlBinary('1.32') ? false : 'kubectl.1.32 is not on this machine (the pinned binaries sit beside the kubectl dispatcher)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let s: TestServer;

async function ok(args: string[], input?: string, timeoutMs?: number): Promise<string> {
  const r = await s.kubectl(args, { input, timeoutMs });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function until<T>(what: string, f: () => Promise<T>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    last = await f().catch((e) => e);
    if (last && !(last instanceof Error)) return last as T;
    await sleep(150);
  }
  throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

const node = (name: string, labels: Record<string, string>, cpu = '2') =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    status: {
      capacity: { cpu, memory: '4Gi', pods: '110' },
      allocatable: { cpu, memory: '4Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'test node' }],
    },
  });

/** Node objects have no agent: keep their Leases fresh so the node lifecycle controller leaves them Ready. */
function keepAlive(names: string[]): NodeJS.Timeout {
  const beat = () => {
    const t = new Date()
      .toISOString()
      .replace(/Z$/, '000Z')
      .replace(/\.(\d{3})000Z$/, '.$1000Z');
    for (const n of names) {
      void s.kubectl(['apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: n, namespace: 'kube-node-lease' },
          spec: { holderIdentity: n, leaseDurationSeconds: 40, renewTime: t },
        }),
      });
    }
  };
  beat();
  return setInterval(beat, 10_000);
}

const podYaml = (name: string, labels: Record<string, string>, spec: object = {}) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'sched', labels },
    spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }], terminationGracePeriodSeconds: 0, ...spec },
  });

async function nodeOf(pod: string): Promise<string> {
  return until(`${pod} bound`, async () => (await ok(['get', 'pod', pod, '-n', 'sched', '-o', 'jsonpath={.spec.nodeName}'])).trim());
}

/** What a kubelet would report: the pod Running and Ready. */
async function markReady(pod: string): Promise<void> {
  const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await ok([
    'patch',
    'pod',
    pod,
    '-n',
    'sched',
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({
      status: {
        phase: 'Running',
        conditions: [
          { type: 'Ready', status: 'True', lastTransitionTime: t },
          { type: 'PodScheduled', status: 'True', lastTransitionTime: t },
        ],
      },
    }),
  ]);
}

describe('scheduling, cordon and drain with kubectl 1.32', { skip }, () => {
  let beat: NodeJS.Timeout;
  before(async () => {
    s = await startServer();
    for (const [n, zone] of [
      ['w1', 'a'],
      ['w2', 'a'],
      ['w3', 'b'],
    ])
      await ok(['create', '-f', '-'], node(n, { 'topology.kubernetes.io/zone': zone, disk: n === 'w3' ? 'ssd' : 'hdd' }));
    beat = keepAlive(['w1', 'w2', 'w3']);
    await ok(['create', 'namespace', 'sched']);
  });
  after(async () => {
    clearInterval(beat);
    await s?.stop();
  });

  test('placement by node affinity, anti-affinity, spread and requests; the unschedulable pod says why', async () => {
    await ok(
      ['apply', '-f', '-'],
      podYaml(
        'ssd',
        {},
        {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }],
              },
            },
          },
        },
      ),
    );
    assert.equal(await nodeOf('ssd'), 'w3');
    const anti = (name: string) =>
      podYaml(
        name,
        { app: 'solo' },
        {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'solo' } }, topologyKey: 'kubernetes.io/hostname' }],
            },
          },
        },
      );
    for (const n of ['solo-1', 'solo-2', 'solo-3']) await ok(['apply', '-f', '-'], anti(n));
    const hosts = await Promise.all(['solo-1', 'solo-2', 'solo-3'].map(nodeOf));
    assert.deepEqual([...hosts].sort(), ['w1', 'w2', 'w3']);
    const spread = (name: string) =>
      podYaml(
        name,
        { app: 'spread' },
        {
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'spread' } } },
          ],
        },
      );
    for (const n of ['sp-1', 'sp-2', 'sp-3', 'sp-4']) {
      await ok(['apply', '-f', '-'], spread(n));
      await nodeOf(n);
    }
    const zones = await Promise.all(['sp-1', 'sp-2', 'sp-3', 'sp-4'].map(async (p) => ((await nodeOf(p)) === 'w3' ? 'b' : 'a')));
    assert.equal(zones.filter((z) => z === 'a').length, 2, `zones: ${zones}`);
    // A fourth solo pod fits nowhere; a 3-cpu pod neither: both say why, per node, as upstream.
    await ok(['apply', '-f', '-'], anti('solo-4'));
    await ok(['apply', '-f', '-'], podYaml('huge', {}, { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '3' } } }] }));
    const msg = (pod: string) =>
      until(`FailedScheduling for ${pod}`, async () =>
        (
          await ok([
            'get',
            'events',
            '-n',
            'sched',
            '--field-selector',
            `involvedObject.name=${pod},reason=FailedScheduling`,
            '-o',
            'jsonpath={.items[0].message}',
          ])
        ).trim(),
      );
    assert.equal(
      await msg('solo-4'),
      "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    );
    assert.equal(
      await msg('huge'),
      '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.',
    );
    const describe = await ok(['describe', 'pod', 'huge', '-n', 'sched']);
    assert.match(describe, /FailedScheduling .*0\/3 nodes are available: 3 Insufficient cpu/);
    assert.equal(
      (await ok(['get', 'pod', 'huge', '-n', 'sched', '-o', 'jsonpath={.status.conditions[?(@.type=="PodScheduled")].reason}'])).trim(),
      'Unschedulable',
    );
    // A scheduling gate holds a pod back until it is removed.
    await ok(['apply', '-f', '-'], podYaml('gated', {}, { schedulingGates: [{ name: 'example.com/wait' }] }));
    const gated = await until('SchedulingGated', async () => (await ok(['get', 'pod', 'gated', '-n', 'sched'])).includes('SchedulingGated'));
    assert.ok(gated);
    await ok(['patch', 'pod', 'gated', '-n', 'sched', '--type=json', '-p', '[{"op":"remove","path":"/spec/schedulingGates"}]']);
    await nodeOf('gated');
    await ok(['delete', 'pods', '--all', '-n', 'sched', '--grace-period=0', '--force']);
  });

  test('bad affinity, spread and budget specs are refused with 422 naming the field', async () => {
    const bad = async (manifest: string, want: RegExp) => {
      const r = await s.kubectl(['apply', '-f', '-'], { input: manifest });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, want);
    };
    await bad(
      podYaml('bad1', {}, { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } } }),
      /spec\.affinity\.nodeAffinity\.requiredDuringSchedulingIgnoredDuringExecution\.nodeSelectorTerms: Required value: must have at least one node selector term/,
    );
    await bad(
      podYaml(
        'bad2',
        {},
        {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchExpressions: [{ key: 'gen', operator: 'Gt', values: ['1', '2'] }] }],
              },
            },
          },
        },
      ),
      /nodeSelectorTerms\[0\]\.matchExpressions\[0\]\.values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'/,
    );
    await bad(
      podYaml('bad3', {}, { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: {} }] } } }),
      /spec\.affinity\.podAntiAffinity\.requiredDuringSchedulingIgnoredDuringExecution\[0\]\.topologyKey: Required value: can not be empty/,
    );
    await bad(
      podYaml('bad4', {}, { topologySpreadConstraints: [{ maxSkew: 0, topologyKey: 'zone', whenUnsatisfiable: 'Sometimes' }] }),
      /spec\.topologySpreadConstraints\[0\]\.maxSkew: Invalid value: 0: must be greater than zero.*spec\.topologySpreadConstraints\[0\]\.whenUnsatisfiable: Unsupported value: "Sometimes"/s,
    );
    const pdb = (spec: object) => JSON.stringify({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'bad', namespace: 'sched' }, spec });
    await bad(
      pdb({ minAvailable: 1, maxUnavailable: 1, selector: {} }),
      /The PodDisruptionBudget "bad" is invalid: spec: Invalid value: .*minAvailable and maxUnavailable cannot be both set/,
    );
    await bad(pdb({ minAvailable: '150%' }), /spec\.minAvailable: Invalid value: .*must not be greater than 100%/);
    await bad(pdb({ maxUnavailable: -1 }), /spec\.maxUnavailable: Invalid value: -1: must be greater than or equal to 0/);
    await bad(
      pdb({ minAvailable: 1, selector: { matchExpressions: [{ key: 'app', operator: 'Near' }] } }),
      /spec\.selector\.matchExpressions\[0\]\.operator: Invalid value: "Near": not a valid selector operator/,
    );
  });

  test('cordon, drain blocked by a PodDisruptionBudget, allowed once there is room, uncordon', async () => {
    for (const n of ['web-1', 'web-2']) {
      await ok(['apply', '-f', '-'], podYaml(n, { app: 'web' }, { nodeSelector: { 'kubernetes.io/hostname': 'w1' } }));
      await nodeOf(n);
      await markReady(n);
    }
    await ok(['create', 'poddisruptionbudget', 'web', '-n', 'sched', '--selector=app=web', '--min-available=2']);
    const pdbRow = await until('budget status', async () => {
      const out = await ok(['get', 'pdb', 'web', '-n', 'sched']);
      return /web\s+2\s+N\/A\s+0\s/.test(out) && out;
    });
    assert.ok(pdbRow);
    const st = JSON.parse(await ok(['get', 'pdb', 'web', '-n', 'sched', '-o', 'json'])).status;
    assert.equal(st.currentHealthy, 2);
    assert.equal(st.desiredHealthy, 2);
    assert.equal(st.expectedPods, 2);
    assert.equal(st.disruptionsAllowed, 0);
    assert.deepEqual(
      st.conditions.map((c: { type: string; status: string; reason: string }) => [c.type, c.status, c.reason]),
      [['DisruptionAllowed', 'False', 'InsufficientPods']],
    );

    assert.match(await ok(['cordon', 'w1']), /node\/w1 cordoned/);
    assert.match(await ok(['get', 'node', 'w1']), /Ready,SchedulingDisabled/);
    const blocked = await s.kubectl(['drain', 'w1', '--ignore-daemonsets', '--delete-emptydir-data', '--grace-period=0', '--force', '--timeout=4s'], {
      timeoutMs: 30_000,
    });
    assert.notEqual(blocked.code, 0);
    assert.match(blocked.stderr, /Cannot evict pod as it would violate the pod's disruption budget\./);
    assert.equal((await ok(['get', 'pods', '-n', 'sched', '-l', 'app=web', '-o', 'name'])).trim().split('\n').length, 2);

    // More replicas elsewhere (a third pod on w2): now one may go at a time.
    await ok(['apply', '-f', '-'], podYaml('web-3', { app: 'web' }, { nodeSelector: { 'kubernetes.io/hostname': 'w2' } }));
    assert.equal(await nodeOf('web-3'), 'w2');
    await markReady('web-3');
    await until('one disruption allowed', async () => JSON.parse(await ok(['get', 'pdb', 'web', '-n', 'sched', '-o', 'json'])).status.disruptionsAllowed === 1);
    // drain evicts one, is refused the second until the budget allows again; here it never does (the evicted
    // pod is not replaced), so drain evicts exactly one pod and times out on the other.
    const partial = await s.kubectl(['drain', 'w1', '--grace-period=0', '--force', '--timeout=6s'], { timeoutMs: 30_000 });
    assert.match(partial.stdout + partial.stderr, /evicting pod sched\/web-[12]/);
    assert.match(partial.stdout, /pod\/web-[12] evicted/);
    const left = (await ok(['get', 'pods', '-n', 'sched', '-l', 'app=web', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(' ');
    assert.equal(left.length, 2);
    // A new replica on w2 restores the budget: drain finishes.
    await ok(['apply', '-f', '-'], podYaml('web-4', { app: 'web' }, { nodeSelector: { 'kubernetes.io/hostname': 'w2' } }));
    await nodeOf('web-4');
    await markReady('web-4');
    const done = await ok(['drain', 'w1', '--grace-period=0', '--force', '--timeout=20s'], undefined, 40_000);
    assert.match(done, /node\/w1 drained/);
    const onW1 = (await ok(['get', 'pods', '-n', 'sched', '--field-selector', 'spec.nodeName=w1', '-o', 'name'])).trim();
    assert.equal(onW1, '');
    // While cordoned nothing new lands there; after uncordon it does.
    await ok(['apply', '-f', '-'], podYaml('after', {}, { nodeSelector: { 'kubernetes.io/hostname': 'w1' } }));
    await until('FailedScheduling on the cordoned node', async () =>
      (
        await ok([
          'get',
          'events',
          '-n',
          'sched',
          '--field-selector',
          'involvedObject.name=after,reason=FailedScheduling',
          '-o',
          'jsonpath={.items[0].message}',
        ])
      ).includes('1 node(s) were unschedulable'),
    );
    assert.match(await ok(['uncordon', 'w1']), /node\/w1 uncordoned/);
    assert.equal(await nodeOf('after'), 'w1');
  });
});
