import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, KObject, ReplicaSet } from '../types.js';
import { errorText } from '../validation.js';
import { deploymentStrategy as d } from './deployment.js';
import { replicaSetStrategy as rs } from './replicaset.js';

const NOW = Date.parse('2024-05-01T10:00:00Z');

/** A workload as the API server decodes it: the specs are what a client may send, wrong types included
 *  (validation's hostile input), so they are taken as decoded JSON and not checked here. */
function workload<T extends KObject>(kind: string, spec: Record<string, unknown>, status?: Record<string, unknown>): T {
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name: 'web', namespace: 'default', creationTimestamp: '2024-04-29T10:00:00Z' },
    spec,
    ...(status ? { status } : {}),
  } as T;
}

const template = (labels: Record<string, string> | undefined = { app: 'web' }, more: Record<string, unknown> = {}) => ({
  metadata: labels ? { labels } : {},
  spec: { containers: [{ name: 'web', image: 'nginx:1.25' }], ...more },
});

function deployment(spec: Record<string, unknown>, status?: Record<string, unknown>): Deployment {
  const o = workload<Deployment>('Deployment', structuredClone(spec), status);
  d.defaults!(o);
  return o;
}

function replicaSet(spec: Record<string, unknown>, status?: Record<string, unknown>): ReplicaSet {
  const o = workload<ReplicaSet>('ReplicaSet', structuredClone(spec), status);
  rs.defaults!(o);
  return o;
}

const dErrors = (spec: Record<string, unknown>) => d.validate!(deployment(spec)).map(errorText);
const rsErrors = (spec: Record<string, unknown>) => rs.validate!(replicaSet(spec)).map(errorText);

test('deployment defaults: replicas, rolling update 25%/25%, history, deadline, template pod spec', () => {
  const o = deployment({ selector: { matchLabels: { app: 'web' } }, template: template() });
  assert.deepEqual(o.spec, {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
    revisionHistoryLimit: 10,
    progressDeadlineSeconds: 600,
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'nginx:1.25',
            imagePullPolicy: 'IfNotPresent',
            terminationMessagePath: '/dev/termination-log',
            terminationMessagePolicy: 'File',
            resources: {},
          },
        ],
        dnsPolicy: 'ClusterFirst',
        restartPolicy: 'Always',
        securityContext: {},
        terminationGracePeriodSeconds: 30,
        schedulerName: 'default-scheduler',
      },
    },
  });
  const recreate = deployment({ replicas: 0, strategy: { type: 'Recreate' }, selector: { matchLabels: { app: 'web' } }, template: template() });
  assert.deepEqual([recreate.spec?.replicas, recreate.spec?.strategy], [0, { type: 'Recreate' }]);
});

test('deployment validation: valid and invalid specs with exact messages', () => {
  const sel = { matchLabels: { app: 'web' } };
  assert.deepEqual(dErrors({ selector: sel, template: template({ app: 'web', extra: 'x' }) }), []);
  assert.deepEqual(dErrors({ selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] }, template: template() }), []);
  const cases: [string, Record<string, unknown>, string[]][] = [
    [
      'selector mismatch',
      { selector: sel, template: template({ app: 'other' }) },
      ['spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`'],
    ],
    [
      'selector missing',
      { template: template() },
      [
        'spec.selector: Required value',
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`',
      ],
    ],
    [
      'empty selector',
      { selector: {}, template: template() },
      [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment',
      ],
    ],
    ['negative replicas', { replicas: -1, selector: sel, template: template() }, ['spec.replicas: Invalid value: -1: must be greater than or equal to 0']],
    [
      'restart policy',
      { selector: sel, template: template({ app: 'web' }, { restartPolicy: 'Never' }) },
      ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'],
    ],
    [
      'deadline',
      { selector: sel, template: template({ app: 'web' }, { activeDeadlineSeconds: 10 }) },
      ['spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported'],
    ],
    [
      'template container',
      { selector: sel, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web' }] } } },
      ['spec.template.spec.containers[0].image: Required value'],
    ],
    // A selector that does not convert stops there: the template is not checked against it.
    [
      'selector label',
      { selector: { matchLabels: { 'a b': 'x' } }, template: template({ 'a b': 'x' }) },
      [
        "spec.selector.matchLabels: Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"a b":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: invalid label selector',
      ],
    ],
    [
      'template labels',
      { selector: sel, template: template({ app: 'web', 'a b': 'x' }) },
      [
        "spec.template.labels: Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
      ],
    ],
    [
      'both zero',
      { selector: sel, template: template(), strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '0%' } } },
      ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0'],
    ],
    [
      'over 100%',
      { selector: sel, template: template(), strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '120%' } } },
      ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"120%"}: must not be greater than 100%'],
    ],
    [
      'bad percent',
      { selector: sel, template: template(), strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '1/2' } } },
      [
        "spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"1/2\"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
      ],
    ],
    [
      'recreate with rolling update',
      { selector: sel, template: template(), strategy: { type: 'Recreate', rollingUpdate: {} } },
      ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"],
    ],
    [
      'strategy type',
      { selector: sel, template: template(), strategy: { type: 'BlueGreen' } },
      [
        'spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:"BlueGreen", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: "Recreate", "RollingUpdate"',
      ],
    ],
    [
      'progress deadline',
      { selector: sel, template: template(), minReadySeconds: 600 },
      ['spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds'],
    ],
  ];
  for (const [name, spec, want] of cases) assert.deepEqual(dErrors(spec), want, name);
});

test('deployment updates: the selector is immutable, the template may change', () => {
  const old = deployment({ selector: { matchLabels: { app: 'web' } }, template: template() });
  const image = structuredClone(old);
  image.spec!.template.spec!.containers[0].image = 'nginx:1.26';
  assert.deepEqual(d.validateUpdate!(image, old), []);
  const moved = structuredClone(old);
  moved.spec!.selector = { matchLabels: { app: 'web', v: '2' } };
  assert.deepEqual(d.validateUpdate!(moved, old).map(errorText), [
    'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "v":"2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable',
  ]);
  // An annotation change (rollback) is a new generation even with the same spec.
  const annotated = structuredClone(old);
  annotated.metadata.generation = 4;
  const next = structuredClone(annotated);
  next.metadata.annotations = { 'kubernetes.io/change-cause': 'x' };
  d.prepareForUpdate!(next, annotated);
  assert.equal(next.metadata.generation, 5);
});

test('deployment status checks', () => {
  const o = deployment({ selector: { matchLabels: { app: 'web' } }, template: template() });
  const good = { ...o, status: { replicas: 3, updatedReplicas: 3, readyReplicas: 2, availableReplicas: 2, observedGeneration: 1 } };
  assert.deepEqual(d.validateStatus!(good, o), []);
  const bad = { ...o, status: { replicas: 1, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 2, unavailableReplicas: -1 } };
  assert.deepEqual(d.validateStatus!(bad, o).map(errorText), [
    'status.unavailableReplicas: Invalid value: -1: must be greater than or equal to 0',
    'status.updatedReplicas: Invalid value: 2: cannot be greater than status.replicas',
    'status.availableReplicas: Invalid value: 2: cannot be greater than status.replicas',
    'status.availableReplicas: Invalid value: 2: cannot be greater than readyReplicas',
  ]);
  const collided = { ...o, status: { collisionCount: 2 } };
  assert.deepEqual(d.validateStatus!({ ...o, status: { collisionCount: 1 } }, collided).map(errorText), [
    'status.collisionCount: Invalid value: 1: cannot be decremented',
  ]);
});

test('deployment table', () => {
  assert.deepEqual(
    d.columns.map((c) => [c.name, c.type, c.priority]),
    [
      ['Name', 'string', 0],
      ['Ready', 'string', 0],
      ['Up-to-date', 'string', 0],
      ['Available', 'string', 0],
      ['Age', 'string', 0],
      ['Containers', 'string', 1],
      ['Images', 'string', 1],
      ['Selector', 'string', 1],
    ],
  );
  const o = deployment(
    {
      replicas: 3,
      selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            { name: 'web', image: 'nginx:1.25' },
            { name: 'log', image: 'busybox' },
          ],
        },
      },
    },
    { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 },
  );
  assert.deepEqual(d.row(o, NOW), ['web', '2/3', 3, 2, '2d', 'web,log', 'nginx:1.25,busybox', 'app=web,tier notin (db)']);
  const fresh = deployment({ selector: { matchLabels: { app: 'web' } }, template: template() });
  assert.deepEqual(d.row(fresh, NOW).slice(1, 4), ['0/1', 0, 0]);
});

test('replicaset: defaults, validation, immutable selector, status, table and fields', () => {
  const o = replicaSet({ selector: { matchLabels: { app: 'web' } }, template: template() }, { replicas: 2, readyReplicas: 1 });
  assert.equal(o.spec?.replicas, 1);
  assert.equal(o.spec?.template?.spec?.restartPolicy, 'Always');
  assert.deepEqual(rs.validate!(o), []);
  assert.deepEqual(rsErrors({ replicas: -2, minReadySeconds: -1, selector: { matchLabels: { app: 'web' } }, template: template({ app: 'x' }) }), [
    'spec.replicas: Invalid value: -2: must be greater than or equal to 0',
    'spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0',
    'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`',
  ]);
  const moved = structuredClone(o);
  moved.spec!.selector = { matchLabels: { app: 'api' } };

  assert.equal(rs.validateUpdate!(moved, o).length, 1);
  assert.deepEqual(rs.validateStatus!({ ...o, status: { replicas: 1, fullyLabeledReplicas: 2 } }, o).map(errorText), [
    'status.fullyLabeledReplicas: Invalid value: 2: cannot be greater than status.replicas',
  ]);
  assert.deepEqual(
    rs.columns.map((c) => [c.name, c.type, c.priority]),
    [
      ['Name', 'string', 0],
      ['Desired', 'integer', 0],
      ['Current', 'integer', 0],
      ['Ready', 'integer', 0],
      ['Age', 'string', 0],
      ['Containers', 'string', 1],
      ['Images', 'string', 1],
      ['Selector', 'string', 1],
    ],
  );
  assert.deepEqual(rs.row(o, NOW), ['web', 1, 2, 1, '2d', 'web', 'nginx:1.25', 'app=web']);
  assert.deepEqual(rs.fields!(o), { 'status.replicas': '2' });
});
