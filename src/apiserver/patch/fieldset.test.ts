import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldSet, fieldSetOf, pathString, valueAt } from './fieldset.js';
import { schemaFor } from './schema.js';
import { PatchError } from './errors.js';

const POD = schemaFor('Pod', 'v1');

test('FieldsV1 round trip: "." marks members that have children, leaves are {}', () => {
  const v1 = {
    'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
    'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
  };
  const set = FieldSet.fromFieldsV1(v1);
  assert.equal(set.has(['f:metadata', 'f:labels']), true);
  assert.equal(set.has(['f:metadata']), false);
  assert.equal(set.has(['f:spec', 'f:containers', 'k:{"name":"web"}', 'f:image']), true);
  assert.deepEqual(set.toFieldsV1(), v1);
  assert.deepEqual(set.leaves().map(pathString), ['.metadata.labels.app', '.spec.containers[name="web"].image', '.spec.containers[name="web"].name']);
});

test('malformed stored FieldsV1 is skipped, not fatal', () => {
  const set = FieldSet.fromFieldsV1({ 'f:a': 'nonsense', 'x:b': {}, 'f:c': {} });
  assert.deepEqual(set.toFieldsV1(), { 'f:c': {} });
  assert.equal(FieldSet.fromFieldsV1(null).isEmpty(), true);
});

test('remove drops a member and prunes emptied parents; removeTree drops a subtree', () => {
  const set = FieldSet.fromFieldsV1({ 'f:spec': { 'f:a': {}, 'f:b': { 'f:c': {} } }, 'f:status': { 'f:phase': {} } });
  set.remove(['f:spec', 'f:b', 'f:c']);
  assert.deepEqual(set.toFieldsV1(), { 'f:spec': { 'f:a': {} }, 'f:status': { 'f:phase': {} } });
  set.removeTree(['f:status']);
  assert.deepEqual(set.toFieldsV1(), { 'f:spec': { 'f:a': {} } });
  set.remove(['f:spec', 'f:a']);
  assert.equal(set.isEmpty(), true);
});

test('fieldSetOf: keyed lists give k: elements, merged primitive lists give v: values, other lists are atomic', () => {
  const pod = {
    metadata: { finalizers: ['x'], labels: {} },
    spec: { containers: [{ name: 'web', args: ['a', 'b'], ports: [{ containerPort: 80 }] }], tolerations: [{ key: 't' }], nodeName: null },
  };
  assert.deepEqual(fieldSetOf(pod, POD, true).toFieldsV1(), {
    'f:metadata': { 'f:finalizers': { 'v:"x"': {} }, 'f:labels': {} },
    'f:spec': {
      'f:containers': {
        'k:{"name":"web"}': { '.': {}, 'f:args': {}, 'f:name': {}, 'f:ports': { 'k:{"containerPort":80}': { '.': {}, 'f:containerPort': {} } } },
      },
      'f:nodeName': {},
      'f:tolerations': {},
    },
  });
  assert.throws(
    () => fieldSetOf({ spec: { containers: [{ image: 'x' }] } }, POD, true),
    (e: unknown) => e instanceof PatchError && e.code === 'Invalid',
  );
  assert.deepEqual(fieldSetOf({ spec: { containers: [{ image: 'x' }] } }, POD, false).toFieldsV1(), { 'f:spec': { 'f:containers': {} } });
});

test('paths print as Kubernetes prints them and resolve in objects', () => {
  const obj = { metadata: { finalizers: ['a/b'] }, spec: { containers: [{ name: 'web', image: 'nginx' }], ports: [{ port: 80 }] } };
  const img = ['f:spec', 'f:containers', 'k:{"name":"web"}', 'f:image'];
  assert.equal(pathString(img), '.spec.containers[name="web"].image');
  assert.equal(valueAt(obj, img), 'nginx');
  assert.equal(valueAt(obj, ['f:spec', 'f:containers', 'k:{"name":"db"}', 'f:image']), undefined);
  assert.equal(pathString(['f:metadata', 'f:finalizers', 'v:"a/b"']), '.metadata.finalizers[="a/b"]');
  assert.equal(valueAt(obj, ['f:metadata', 'f:finalizers', 'v:"a/b"']), 'a/b');
  assert.equal(pathString(['f:spec', 'f:ports', 'k:{"port":80}']), '.spec.ports[port=80]');
  assert.equal(valueAt(obj, ['f:spec', 'f:ports', 'i:0', 'f:port']), 80);
});
