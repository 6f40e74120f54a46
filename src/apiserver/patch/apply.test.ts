import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverSideApply, BEFORE_FIRST_APPLY, LAST_APPLIED_ANNOTATION } from './apply.js';
import { PatchError } from './errors.js';

/** A document as the patch codec sees it: any kind (Pods, Deployments, a custom Widget), with patch directives
 *  (`$patch`, `$setElementOrder/…`) in it. The issue leaves the codecs untyped inside, and so their tests. */
// biome-ignore lint/suspicious/noExplicitAny: an arbitrary JSON document read down arbitrary paths (a codec's test, see above).
type Obj = Record<string, any>;

const T1 = new Date('2024-05-01T10:00:00.123Z');
const T2 = new Date('2024-05-02T11:30:00Z');

function podConfig(image = 'nginx:1.25'): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
    spec: { containers: [{ name: 'nginx', image, ports: [{ containerPort: 80 }] }] },
  };
}

function apply(live: Obj | undefined, applied: Obj, manager: string, force = false, now = T1, opts: { subresource?: string } = {}): Obj {
  const before = structuredClone({ live, applied });
  const out = serverSideApply(live, applied, manager, force, 'Pod', 'v1', { now, ...opts });
  assert.deepEqual({ live, applied }, before, 'inputs must not be mutated');
  return out;
}

function conflict(fn: () => unknown): PatchError {
  let err: PatchError | undefined;
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PatchError, String(e));
    assert.equal(e.code, 'Conflict');
    assert.equal(e.httpStatus, 409);
    err = e;
    return true;
  });
  return err!;
}

const entryOf = (obj: Obj, manager: string, operation = 'Apply') =>
  obj.metadata.managedFields.find((e: Obj) => e.manager === manager && e.operation === operation);
const NGINX = 'k:{"name":"nginx"}';

test('create: the object is the configuration, owned by the manager in FieldsV1 form', () => {
  const out = apply(undefined, podConfig(), 'kubectl');
  assert.deepEqual(out.spec, podConfig().spec);
  assert.deepEqual(out.metadata.managedFields, [
    {
      manager: 'kubectl',
      operation: 'Apply',
      apiVersion: 'v1',
      time: '2024-05-01T10:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:labels': { 'f:app': {} } },
        'f:spec': {
          'f:containers': { [NGINX]: { '.': {}, 'f:image': {}, 'f:name': {}, 'f:ports': { 'k:{"containerPort":80}': { '.': {}, 'f:containerPort': {} } } } },
        },
      },
    },
  ]);
});

test('the same manager re-applying changes its fields without conflict and refreshes its entry', () => {
  const live = apply(undefined, podConfig(), 'kubectl');
  const out = apply(live, podConfig('nginx:1.27'), 'kubectl', false, T2);
  assert.equal(out.spec.containers[0].image, 'nginx:1.27');
  assert.equal(out.metadata.managedFields.length, 1);
  assert.equal(out.metadata.managedFields[0].time, '2024-05-02T11:30:00Z');
});

test('another manager changing an owned field conflicts (409, FieldManagerConflict causes)', () => {
  const live = apply(undefined, podConfig(), 'kubectl');
  const err = conflict(() => apply(live, podConfig('nginx:1.27'), 'deployer'));
  assert.deepEqual(err.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl"', field: '.spec.containers[name="nginx"].image' }]);
  assert.equal(err.message, 'Apply failed with 1 conflict: conflict with "kubectl": .spec.containers[name="nginx"].image');
  assert.deepEqual(err.toStatus().details, { causes: err.causes });
});

test('force takes the field over: the old owner loses it, the new owner gets it', () => {
  const live = apply(undefined, podConfig(), 'kubectl');
  const out = apply(live, podConfig('nginx:1.27'), 'deployer', true);
  assert.equal(out.spec.containers[0].image, 'nginx:1.27');
  const old = entryOf(out, 'kubectl').fieldsV1['f:spec']['f:containers'][NGINX];
  assert.equal(old['f:image'], undefined);
  assert.deepEqual(old['f:name'], {});
  assert.deepEqual(entryOf(out, 'deployer').fieldsV1['f:spec']['f:containers'][NGINX]['f:image'], {});
});

test('applying the same value co-owns the field; new fields never conflict', () => {
  const live = apply(undefined, podConfig(), 'kubectl');
  const cfg = podConfig();
  cfg.metadata.labels = { team: 'blue' };
  const out = apply(live, cfg, 'deployer');
  assert.deepEqual(out.metadata.labels, { app: 'web', team: 'blue' });
  for (const m of ['kubectl', 'deployer']) assert.deepEqual(entryOf(out, m).fieldsV1['f:spec']['f:containers'][NGINX]['f:image'], {});
});

test('several conflicts are listed per manager', () => {
  const live = apply(undefined, podConfig(), 'alpha');
  const withLabel = apply(live, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', labels: { tier: 'fe' } } }, 'beta');
  const cfg = podConfig('other');
  cfg.metadata.labels = { app: 'changed', tier: 'be' };
  const err = conflict(() => apply(withLabel, cfg, 'gamma'));
  assert.equal(err.causes.length, 3);
  assert.equal(
    err.message,
    [
      'Apply failed with 3 conflicts: conflicts with "alpha":',
      '- .metadata.labels.app',
      '- .spec.containers[name="nginx"].image',
      'conflicts with "beta":',
      '- .metadata.labels.tier',
    ].join('\n'),
  );
});

test('Update owners are named with their apiVersion and time', () => {
  const live = apply(undefined, podConfig(), 'kubectl');
  live.metadata.managedFields = [
    {
      manager: 'kubectl-client-side-apply',
      operation: 'Update',
      apiVersion: 'v1',
      time: '2024-01-01T00:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:spec': { 'f:containers': { [NGINX]: { 'f:image': {} } } } },
    },
  ];
  const err = conflict(() => apply(live, podConfig('x'), 'kubectl'));
  assert.equal(err.causes[0].message, 'conflict with "kubectl-client-side-apply" using v1 at 2024-01-01T00:00:00Z');
});

test('an object nobody tracked is owned by before-first-apply', () => {
  const { managedFields: _mf, ...meta } = apply(undefined, podConfig(), 'x').metadata;
  const live: Obj = { ...podConfig(), metadata: { ...meta, uid: 'u1', resourceVersion: '7' } };
  const err = conflict(() => apply(live, podConfig('nginx:2'), 'deployer'));
  assert.equal(err.causes[0].message, `conflict with "${BEFORE_FIRST_APPLY}" using v1`);
  // Same values plus a new label: accepted; before-first-apply keeps what it owned.
  const cfg = podConfig();
  cfg.metadata.labels.extra = 'yes';
  const out = apply(live, cfg, 'deployer');
  const bfa = entryOf(out, BEFORE_FIRST_APPLY, 'Update');
  assert.deepEqual(bfa.fieldsV1['f:spec']['f:containers'][NGINX]['f:image'], {});
  assert.equal(bfa.time, undefined);
  assert.ok(entryOf(out, 'deployer'));
  // Forced: before-first-apply loses the field.
  const forced = apply(live, podConfig('nginx:2'), 'deployer', true);
  assert.equal(entryOf(forced, BEFORE_FIRST_APPLY, 'Update').fieldsV1['f:spec']['f:containers'][NGINX]['f:image'], undefined);
});

test('kubectl moving from client-side apply takes over fields its last-applied annotation lists, and keeps the annotation current', () => {
  const lastApplied = JSON.stringify(podConfig()) + '\n';
  const live: Obj = { ...podConfig(), metadata: { ...podConfig().metadata, annotations: { [LAST_APPLIED_ANNOTATION]: lastApplied } } };
  conflict(() => apply(live, podConfig('nginx:2'), 'someone-else'));
  const out = apply(live, podConfig('nginx:2'), 'kubectl');
  assert.equal(out.spec.containers[0].image, 'nginx:2');
  const refreshed = out.metadata.annotations[LAST_APPLIED_ANNOTATION];
  assert.ok(refreshed.endsWith('}\n'));
  assert.deepEqual(JSON.parse(refreshed), podConfig('nginx:2'));
  assert.ok(refreshed.indexOf('"apiVersion"') < refreshed.indexOf('"kind"'), 'keys are sorted as Go writes a map');
  // Fields the annotation does not list still conflict.
  const other = podConfig('nginx:2');
  other.spec.containers[0].ports = [{ containerPort: 80, name: 'http' }];
  const withName = structuredClone(live);
  withName.spec.containers[0].ports[0].name = 'web';
  conflict(() => apply(withName, other, 'kubectl'));
});

test('the kubectl-last-applied follow-up apply (annotation only, same value) succeeds', () => {
  const lastApplied = JSON.stringify(podConfig()) + '\n';
  const live: Obj = { ...podConfig(), metadata: { ...podConfig().metadata, annotations: { [LAST_APPLIED_ANNOTATION]: lastApplied } } };
  const first = apply(live, podConfig(), 'kubectl');
  const body = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', annotations: { [LAST_APPLIED_ANNOTATION]: first.metadata.annotations[LAST_APPLIED_ANNOTATION] } },
  };
  const out = apply(first, body, 'kubectl-last-applied');
  assert.deepEqual(entryOf(out, 'kubectl-last-applied').fieldsV1, { 'f:metadata': { 'f:annotations': { [`f:${LAST_APPLIED_ANNOTATION}`]: {} } } });
});

test('primitive sets own each value; finalizers merge', () => {
  const cfg = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', finalizers: ['a.example.com/x'] } };
  const live = apply(undefined, cfg, 'one');
  assert.deepEqual(entryOf(live, 'one').fieldsV1, { 'f:metadata': { 'f:finalizers': { 'v:"a.example.com/x"': {} } } });
  const out = apply(live, { ...cfg, metadata: { name: 'web', finalizers: ['b.example.com/y'] } }, 'two');
  assert.deepEqual(out.metadata.finalizers, ['b.example.com/y', 'a.example.com/x']);
});

test('status is neither taken nor owned on the main resource; the status subresource takes only status', () => {
  const cfg = { ...podConfig(), status: { phase: 'Running' } };
  const live = apply(undefined, cfg, 'kubectl');
  assert.equal(live.status, undefined);
  assert.equal(live.metadata.managedFields[0].fieldsV1['f:status'], undefined);
  const st = apply(
    live,
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { nodeName: 'ignored' }, status: { phase: 'Running' } },
    'kubelet',
    false,
    T1,
    { subresource: 'status' },
  );
  assert.equal(st.status.phase, 'Running');
  assert.equal(st.spec.nodeName, undefined);
  const e = entryOf(st, 'kubelet');
  assert.equal(e.subresource, 'status');
  assert.deepEqual(e.fieldsV1, { 'f:status': { 'f:phase': {} } });
});

test('kinds without a status subresource own what they apply everywhere', () => {
  const out: Obj = serverSideApply(
    undefined,
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { k: 'v' } },
    'm',
    false,
    'ConfigMap',
    'v1',
    { now: T1 },
  );
  assert.deepEqual(out.metadata.managedFields[0].fieldsV1, { 'f:data': { 'f:k': {} } });
});

test('bad apply configurations', () => {
  const bad = (applied: Obj, code: PatchError['code'], fragment: string) =>
    assert.throws(
      () => serverSideApply(undefined, applied, 'm', false, 'Pod', 'v1'),
      (e: unknown) => e instanceof PatchError && e.code === code && e.message.includes(fragment),
    );
  bad({ ...podConfig(), metadata: { name: 'web', managedFields: [] } }, 'BadRequest', 'managedFields must be nil');
  bad({ ...podConfig(), kind: 'Service' }, 'BadRequest', 'kind "Service"');
  bad({ ...podConfig(), spec: { containers: [{ image: 'x' }] } }, 'Invalid', '.spec.containers');
  bad({ ...podConfig(), spec: { containers: [{ name: 'a' }, { name: 'a' }] } }, 'Invalid', 'duplicate entries for key [name="a"]');
  bad({ ...podConfig(), spec: { $patch: 'replace' } }, 'BadRequest', '"$patch" at .spec');
  assert.throws(
    () => serverSideApply(undefined, podConfig(), '', false, 'Pod', 'v1'),
    (e: unknown) => e instanceof PatchError && e.code === 'Invalid',
  );
});
