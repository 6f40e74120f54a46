// The scheduler's plugins one by one, on upstream's cases (pkg/scheduler/framework/plugins/*_test.go as
// the model): each filter's verdict and words, each score's order, and the framework's message.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod, PodSpec, Taint } from '../../api/types.js';
import { SchedulerCache } from './cache.js';
import { type Cycle, type Plugin, fitError, schedulePod } from './framework.js';
import { podInfo } from './podinfo.js';
import { DEFAULT_PLUGINS } from './plugins/index.js';
import { interPodAffinity } from './plugins/interpodaffinity.js';
import { nodeAffinity } from './plugins/nodeaffinity.js';
import { nodeName } from './plugins/nodename.js';
import { nodePorts } from './plugins/nodeports.js';
import { nodeResourcesFit } from './plugins/noderesources.js';
import { taintToleration } from './plugins/tainttoleration.js';
import { podTopologySpread } from './plugins/topologyspread.js';
import { nodeUnschedulable } from './plugins/unschedulable.js';
import { podRequests } from './resources.js';

let seq = 0;
function node(
  name: string,
  labels: Record<string, string> = {},
  o: { cpu?: string; memory?: string; pods?: string; taints?: Taint[]; unschedulable?: boolean; ready?: string; extra?: Record<string, string> } = {},
): Node {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    spec: { taints: o.taints, unschedulable: o.unschedulable },
    status: {
      allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110', ...o.extra },
      conditions: [{ type: 'Ready', status: o.ready ?? 'True' }],
    },
  };
}

function pod(spec: Partial<PodSpec> = {}, labels: Record<string, string> = {}, ns = 'default', name = `p${++seq}`): Pod {
  return { metadata: { name, namespace: ns, labels }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } };
}

const req = (cpu?: string, memory?: string) => ({
  name: 'c',
  image: 'busybox',
  resources: { requests: { ...(cpu ? { cpu } : {}), ...(memory ? { memory } : {}) } },
});

/** A cache with these nodes and these pods bound (pod → node name). */
function cluster(nodes: Node[], bound: [Pod, string][] = []): SchedulerCache {
  const c = new SchedulerCache();
  for (const n of nodes) c.setNode(n);
  for (const [p, n] of bound) {
    const b = { ...p, spec: { ...p.spec!, nodeName: n } };
    c.setPod(b, `${b.metadata.namespace}/${b.metadata.name}`);
  }
  return c;
}

const nsLabels: Record<string, Record<string, string>> = { default: {}, team: { team: 'a' }, other: { team: 'b' } };

function cycle(c: SchedulerCache, p: Pod): Cycle {
  return { pod: podInfo(p, `${p.metadata.namespace}/${p.metadata.name}`), cache: c, nodes: c.nodeList(), namespaceLabels: (ns) => nsLabels[ns] };
}

/** Filter verdicts per node: node name → reasons ([] = fits). */
function filter(plugin: Plugin, c: SchedulerCache, p: Pod): Record<string, string[]> {
  const cy = cycle(c, p);
  const run = plugin.forPod(cy);
  const out: Record<string, string[]> = {};
  for (const n of cy.nodes) out[n.name] = typeof run === 'string' ? [run] : (run?.filter?.(n) ?? []);
  return out;
}

/** Normalised scores per node. */
function scores(plugin: Plugin, c: SchedulerCache, p: Pod): Record<string, number> {
  const cy = cycle(c, p);
  const run = plugin.forPod(cy);
  assert.ok(run && typeof run !== 'string' && run.score, `${plugin.name} scores this pod`);
  const s = cy.nodes.map((n) => run.score!(n));
  run.normalize?.(s);
  return Object.fromEntries(cy.nodes.map((n, i) => [n.name, s[i]]));
}

describe('NodeResourcesFit', () => {
  test('requests: containers summed, init containers as a maximum, sidecars added, overhead on top', () => {
    const p = pod({
      containers: [req('100m', '100Mi'), req('200m')],
      initContainers: [req('1', '50Mi'), { ...req('50m', '10Mi'), restartPolicy: 'Always' }, req('500m')],
      overhead: { cpu: '10m' },
    });
    const r = podRequests(p);
    // max(300m + sidecar 50m, init 1 (before the sidecar), 500m + 50m) + 10m overhead = 1010m
    assert.equal(r.get('cpu'), 1010);
    assert.equal(r.get('memory'), 110 * 1024 * 1024);
  });

  test('insufficient resources are named one by one, the pod count as Too many pods', () => {
    const c = cluster(
      [node('n1', {}, { cpu: '1', memory: '1Gi', pods: '2', extra: { 'example.com/gpu': '1' } })],
      [[pod({ containers: [req('600m', '512Mi')] }), 'n1']],
    );
    assert.deepEqual(filter(nodeResourcesFit, c, pod({ containers: [req('300m', '256Mi')] })).n1, []);
    assert.deepEqual(filter(nodeResourcesFit, c, pod({ containers: [req('500m', '600Mi')] })).n1, ['Insufficient cpu', 'Insufficient memory']);
    assert.deepEqual(
      filter(nodeResourcesFit, c, pod({ containers: [{ name: 'c', image: 'busybox', resources: { requests: { 'example.com/gpu': '2' } } }] })).n1,
      ['Insufficient example.com/gpu'],
    );
    // An init container's request counts even though it does not run beside the others.
    assert.deepEqual(filter(nodeResourcesFit, c, pod({ initContainers: [req('500m')] })).n1, ['Insufficient cpu']);
    c.setPod({ ...pod(), spec: { containers: [], nodeName: 'n1' } }, 'default/filler');
    assert.deepEqual(filter(nodeResourcesFit, c, pod()).n1, ['Too many pods']);
  });

  test('a finished pod frees its room; an assumed pod takes it before the API confirms', () => {
    const c = cluster([node('n1', {}, { cpu: '1' })]);
    const big = pod({ containers: [req('800m')] });
    c.assume(podInfo(big, 'default/big'), 'n1');
    assert.deepEqual(filter(nodeResourcesFit, c, pod({ containers: [req('300m')] })).n1, ['Insufficient cpu']);
    c.setPod({ ...big, spec: { ...big.spec!, nodeName: 'n1' }, status: { phase: 'Succeeded' } }, 'default/big');
    assert.deepEqual(filter(nodeResourcesFit, c, pod({ containers: [req('300m')] })).n1, []);
    assert.equal(c.isAssumed('default/big'), false);
  });

  test('least allocated scores the emptier node higher', () => {
    const c = cluster([node('n1'), node('n2')], [[pod({ containers: [req('2', '4Gi')] }), 'n1']]);
    const s = scores(nodeResourcesFit, c, pod({ containers: [req('500m', '1Gi')] }));
    assert.ok(s.n2 > s.n1, JSON.stringify(s));
  });
});

describe('NodeAffinity', () => {
  const nodes = [node('a', { zone: 'z1', gen: '3' }), node('b', { zone: 'z2', gen: '5' }), node('c', {})];
  const c = cluster(nodes);
  const required = (...terms: object[]) =>
    ({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } }) as Partial<PodSpec>;
  const fits = (spec: Partial<PodSpec>) =>
    Object.entries(filter(nodeAffinity, c, pod(spec)))
      .filter(([, r]) => !r.length)
      .map(([n]) => n);
  const ERR = "node(s) didn't match Pod's node affinity/selector";

  test('nodeSelector and every operator', () => {
    assert.deepEqual(fits({ nodeSelector: { zone: 'z1' } }), ['a']);
    assert.deepEqual(fits(required({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1', 'z2'] }] })), ['a', 'b']);
    assert.deepEqual(fits(required({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['z1'] }] })), ['b', 'c']);
    assert.deepEqual(fits(required({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] })), ['a', 'b']);
    assert.deepEqual(fits(required({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] })), ['c']);
    assert.deepEqual(fits(required({ matchExpressions: [{ key: 'gen', operator: 'Gt', values: ['4'] }] })), ['b']);
    assert.deepEqual(fits(required({ matchExpressions: [{ key: 'gen', operator: 'Lt', values: ['4'] }] })), ['a']);
    // Gt on a value that is not an integer matches nothing.
    assert.deepEqual(fits(required({ matchExpressions: [{ key: 'zone', operator: 'Gt', values: ['1'] }] })), []);
  });

  test('terms are ORed, requirements ANDed, an empty term matches nothing, matchFields on metadata.name', () => {
    assert.deepEqual(
      fits(
        required(
          { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] },
          { matchExpressions: [{ key: 'gen', operator: 'In', values: ['5'] }] },
        ),
      ),
      ['a', 'b'],
    );
    assert.deepEqual(
      fits(
        required({
          matchExpressions: [
            { key: 'zone', operator: 'In', values: ['z1'] },
            { key: 'gen', operator: 'In', values: ['5'] },
          ],
        }),
      ),
      [],
    );
    assert.deepEqual(fits(required({})), []);
    assert.deepEqual(fits(required({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['c'] }] })), ['c']);
    assert.deepEqual(fits(required({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['c'] }] })), ['a', 'b']);
    assert.deepEqual(filter(nodeAffinity, c, pod({ nodeSelector: { zone: 'nowhere' } })).a, [ERR]);
  });

  test('preferred terms score by weight', () => {
    const s = scores(
      nodeAffinity,
      c,
      pod({
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 10, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] } },
              { weight: 40, preference: { matchExpressions: [{ key: 'gen', operator: 'Gt', values: ['4'] }] } },
            ],
          },
        },
      }),
    );
    assert.deepEqual(s, { a: 25, b: 100, c: 0 });
  });
});

describe('TaintToleration and NodeUnschedulable', () => {
  const t = (key: string, effect: string, value?: string): Taint => ({ key, effect, value });
  const c = cluster([
    node('clean'),
    node('dedicated', {}, { taints: [t('dedicated', 'NoSchedule', 'gpu')] }),
    node('evicting', {}, { taints: [t('maint', 'NoExecute')] }),
    node('soft', {}, { taints: [t('cheap', 'PreferNoSchedule')] }),
    node('notready', {}, { ready: 'False' }),
    node('cordoned', {}, { unschedulable: true }),
  ]);

  test("untolerated NoSchedule/NoExecute taints keep a pod out, in upstream's words", () => {
    const r = filter(taintToleration, c, pod());
    assert.deepEqual(r.dedicated, ['node(s) had untolerated taint {dedicated: gpu}']);
    assert.deepEqual(r.evicting, ['node(s) had untolerated taint {maint: }']);
    assert.deepEqual(r.soft, []);
    // The Ready condition counts as its taint before the node lifecycle controller writes it.
    assert.deepEqual(r.notready, ['node(s) had untolerated taint {node.kubernetes.io/not-ready: }']);
    assert.deepEqual(filter(nodeUnschedulable, c, pod()).cordoned, ['node(s) were unschedulable']);
  });

  test('tolerations: Equal compares the value, Exists ignores it, an empty key with Exists tolerates all', () => {
    assert.deepEqual(
      filter(taintToleration, c, pod({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] })).dedicated,
      [],
    );
    assert.deepEqual(filter(taintToleration, c, pod({ tolerations: [{ key: 'dedicated', value: 'cpu' }] })).dedicated.length, 1);
    assert.deepEqual(filter(taintToleration, c, pod({ tolerations: [{ key: 'dedicated', operator: 'Exists' }] })).dedicated, []);
    assert.deepEqual(filter(taintToleration, c, pod({ tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }] })).dedicated.length, 1);
    const all = filter(taintToleration, c, pod({ tolerations: [{ operator: 'Exists' }] }));
    assert.ok(Object.values(all).every((r) => r.length === 0));
    assert.equal(
      nodeUnschedulable.forPod(cycle(c, pod({ tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] }))),
      undefined,
    );
  });

  test('PreferNoSchedule taints lower the score unless tolerated', () => {
    const s = scores(taintToleration, c, pod());
    assert.equal(s.soft, 0);
    assert.equal(s.clean, 100);
    assert.equal(scores(taintToleration, c, pod({ tolerations: [{ key: 'cheap', operator: 'Exists', effect: 'PreferNoSchedule' }] })).soft, 100);
  });
});

describe('NodeName and NodePorts', () => {
  test('a named node is the only fit; a taken host port keeps a pod out', () => {
    const c = cluster(
      [node('n1'), node('n2')],
      [[pod({ containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80, hostPort: 8080 }] }] }), 'n1']],
    );
    const named = pod({ nodeName: 'n2' });
    assert.deepEqual(filter(nodeName, c, named), { n1: ["node(s) didn't match the requested node name"], n2: [] });
    const wantsPort = pod({ containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80, hostPort: 8080, hostIP: '10.0.0.1' }] }] });
    assert.deepEqual(filter(nodePorts, c, wantsPort), { n1: ["node(s) didn't have free ports for the requested pod ports"], n2: [] });
    const udp = pod({ containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80, hostPort: 8080, protocol: 'UDP' }] }] });
    assert.deepEqual(filter(nodePorts, c, udp), { n1: [], n2: [] });
  });
});

describe('InterPodAffinity', () => {
  const zones = [node('a1', { zone: 'a' }), node('a2', { zone: 'a' }), node('b1', { zone: 'b' }), node('x', {})];
  const term = (labels: Record<string, string>, topologyKey = 'zone', extra = {}) => ({ labelSelector: { matchLabels: labels }, topologyKey, ...extra });
  const fits = (c: SchedulerCache, p: Pod) =>
    Object.entries(filter(interPodAffinity, c, p))
      .filter(([, r]) => !r.length)
      .map(([n]) => n);

  test('required affinity: only domains that hold a matching pod', () => {
    const c = cluster(zones, [[pod({}, { app: 'db' }), 'a1']]);
    const p = pod({ affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'db' })] } } }, { app: 'web' });
    assert.deepEqual(fits(c, p), ['a1', 'a2']);
    assert.deepEqual(filter(interPodAffinity, c, p).b1, ["node(s) didn't match pod affinity rules"]);
  });

  test('required affinity: the first pod of a group that matches its own term may go anywhere with the key', () => {
    const c = cluster(zones);
    const p = pod({ affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'web' })] } } }, { app: 'web' });
    assert.deepEqual(fits(c, p), ['a1', 'a2', 'b1']);
    const other = pod({ affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'db' })] } } }, { app: 'web' });
    assert.deepEqual(fits(c, other), []);
  });

  test("required anti-affinity, and existing pods' anti-affinity against the new pod", () => {
    const c = cluster(zones, [
      [pod({}, { app: 'web' }), 'a1'],
      [
        pod(
          { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'batch' }, 'kubernetes.io/hostname')] } } },
          { app: 'lonely' },
        ),
        'b1',
      ],
    ]);
    const web = pod({ affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'web' })] } } }, { app: 'web' });
    assert.deepEqual(fits(c, web), ['b1', 'x']);
    assert.deepEqual(filter(interPodAffinity, c, web).a2, ["node(s) didn't match pod anti-affinity rules"]);
    const batch = pod({}, { app: 'batch' });
    assert.deepEqual(filter(interPodAffinity, c, batch).b1, ["node(s) didn't satisfy existing pods anti-affinity rules"]);
    assert.deepEqual(fits(c, batch), ['a1', 'a2', 'x']);
  });

  test("namespaces: the pod's own by default, listed ones, or a namespaceSelector", () => {
    const c = cluster(zones, [[pod({}, { app: 'db' }, 'team'), 'b1']]);
    const affine = (extra: object) =>
      pod({ affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term({ app: 'db' }, 'zone', extra)] } } }, { app: 'web' });
    assert.deepEqual(fits(c, affine({})), []);
    assert.deepEqual(fits(c, affine({ namespaces: ['team'] })), ['b1']);
    assert.deepEqual(fits(c, affine({ namespaceSelector: { matchLabels: { team: 'a' } } })), ['b1']);
    assert.deepEqual(fits(c, affine({ namespaceSelector: { matchLabels: { team: 'b' } } })), []);
    assert.deepEqual(fits(c, affine({ namespaceSelector: {} })), ['b1']);
  });

  test('preferred affinity and anti-affinity order the domains', () => {
    const c = cluster(zones, [
      [pod({}, { app: 'cache' }), 'a1'],
      [pod({}, { app: 'noisy' }), 'b1'],
    ]);
    const s = scores(
      interPodAffinity,
      c,
      pod({
        affinity: {
          podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: term({ app: 'cache' }) }] },
          podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: term({ app: 'noisy' }) }] },
        },
      }),
    );
    assert.deepEqual(s, { a1: 100, a2: 100, b1: 0, x: 50 });
  });
});

describe('PodTopologySpread', () => {
  const nodes = [node('a1', { zone: 'a' }), node('b1', { zone: 'b' }), node('c1', { zone: 'c' }), node('nozone', {})];
  const spread = (maxSkew: number, extra: object = {}) =>
    ({
      topologySpreadConstraints: [
        { maxSkew, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } }, ...extra },
      ],
    }) as Partial<PodSpec>;
  const fits = (c: SchedulerCache, p: Pod) =>
    Object.entries(filter(podTopologySpread, c, p))
      .filter(([, r]) => !r.length)
      .map(([n]) => n);
  const web = () => pod({}, { app: 'web' });

  test('maxSkew against the least loaded domain; nodes without the key are unresolvable', () => {
    const c = cluster(nodes, [
      [web(), 'a1'],
      [web(), 'a1'],
      [web(), 'b1'],
    ]);
    assert.deepEqual(fits(c, pod(spread(1), { app: 'web' })), ['c1']);
    assert.deepEqual(fits(c, pod(spread(2), { app: 'web' })), ['b1', 'c1']);
    const r = filter(podTopologySpread, c, pod(spread(1), { app: 'web' }));
    assert.deepEqual(r.a1, ["node(s) didn't match pod topology spread constraints"]);
    assert.deepEqual(r.nozone, ["node(s) didn't match pod topology spread constraints (missing required label)"]);
  });

  test('a pod that its own selector does not match adds nothing to its domain', () => {
    const c = cluster(nodes, [[web(), 'a1']]);
    assert.deepEqual(fits(c, pod(spread(1), { app: 'other' })), ['a1', 'b1', 'c1']);
  });

  test('minDomains: fewer domains than asked make the global minimum 0', () => {
    const two = [node('a1', { zone: 'a' }), node('b1', { zone: 'b' })];
    const c = cluster(two, [
      [web(), 'a1'],
      [web(), 'b1'],
    ]);
    assert.deepEqual(fits(c, pod(spread(1), { app: 'web' })), ['a1', 'b1']);
    assert.deepEqual(fits(c, pod(spread(1, { minDomains: 3 }), { app: 'web' })), []);
  });

  test('nodeAffinityPolicy Honor (default) counts only nodes the pod may use; Ignore counts all', () => {
    const c = cluster(nodes, [
      [web(), 'a1'],
      [web(), 'b1'],
    ]);
    const honor = pod({ ...spread(1), nodeSelector: { zone: 'a' } }, { app: 'web' });
    // Only zone a counts: its 1 pod is the minimum, so a1 may take one more (NodeAffinity keeps the pod
    // off b1 and c1 anyway).
    assert.ok(fits(c, honor).includes('a1'));
    // Counting every zone, c has 0 pods: a second pod in zone a would make the skew 2.
    const ignore = pod({ ...spread(1, { nodeAffinityPolicy: 'Ignore' }), nodeSelector: { zone: 'a' } }, { app: 'web' });
    assert.deepEqual(fits(c, ignore), ['c1']);
  });

  test('ScheduleAnyway scores emptier domains higher', () => {
    const c = cluster(nodes.slice(0, 3), [
      [web(), 'a1'],
      [web(), 'a1'],
      [web(), 'b1'],
    ]);
    const s = scores(
      podTopologySpread,
      c,
      pod(
        {
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'web' } } }],
        },
        { app: 'web' },
      ),
    );
    assert.ok(s.c1 > s.b1 && s.b1 > s.a1, JSON.stringify(s));
  });
});

describe('the framework', () => {
  test("reasons are counted per node and sorted, as upstream's FitError", () => {
    const c = cluster([node('n1', { disk: 'ssd' }, { cpu: '100m' }), node('n2', {}), node('n3', {})]);
    const r = schedulePod(DEFAULT_PLUGINS, cycle(c, pod({ nodeSelector: { disk: 'ssd' }, containers: [req('1')] })));
    assert.equal(r.node, undefined);
    assert.equal(
      r.node === undefined && r.message,
      "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    );
    assert.equal(fitError(0, new Map()), 'no nodes available to schedule pods');
  });

  test('the least loaded node wins; equal nodes are chosen at random', () => {
    const c = cluster([node('n1'), node('n2')], [[pod({ containers: [req('1', '1Gi')] }), 'n1']]);
    assert.equal(schedulePod(DEFAULT_PLUGINS, cycle(c, pod({ containers: [req('100m')] }))).node, 'n2');
    const even = cluster([node('n1'), node('n2')]);
    const picks = new Set<string | undefined>();
    for (let i = 0; i < 40; i++) picks.add(schedulePod(DEFAULT_PLUGINS, cycle(even, pod())).node);
    assert.deepEqual([...picks].sort(), ['n1', 'n2']);
  });
});
