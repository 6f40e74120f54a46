import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMergePatch, applyMergePatchToObject } from './mergepatch.js';
import { PatchError } from './errors.js';

// One row per rule of RFC 7386's example table, with data written for this test: [target, patch, result].
const cases: [string, unknown, unknown, unknown][] = [
  ['a member is replaced', { image: 'nginx:1' }, { image: 'nginx:2' }, { image: 'nginx:2' }],
  ['a member is added', { image: 'nginx' }, { tag: '2' }, { image: 'nginx', tag: '2' }],
  ['null removes a member', { image: 'nginx' }, { image: null }, {}],
  ['null removes only that member', { image: 'nginx', tag: '2' }, { image: null }, { tag: '2' }],
  ['a scalar replaces an array', { args: ['-v'] }, { args: '-q' }, { args: '-q' }],
  ['an array replaces a scalar', { args: '-q' }, { args: ['-v'] }, { args: ['-v'] }],
  [
    'objects merge recursively, nested null deletes',
    { spec: { replicas: 1, paused: true } },
    { spec: { replicas: 2, paused: null } },
    { spec: { replicas: 2 } },
  ],
  ['arrays are replaced, never merged', { ports: [{ port: 80, name: 'http' }] }, { ports: [443] }, { ports: [443] }],
  ['an array target is replaced by an array patch', ['a', 'b'], ['c'], ['c']],
  ['an array patch replaces an object', { a: 1 }, ['x'], ['x']],
  ['a null patch yields null', { a: 1 }, null, null],
  ['a scalar patch yields the scalar', { a: 1 }, 'text', 'text'],
  ['nulls already in the target stay', { keep: null }, { add: 1 }, { keep: null, add: 1 }],
  ['an object patch on an array target starts from {} and drops its nulls', [1, 2], { name: 'x', gone: null }, { name: 'x' }],
  ['nulls inside new objects are dropped', {}, { a: { b: { c: null } } }, { a: { b: {} } }],
];

for (const [name, target, patch, want] of cases) {
  test(`RFC 7386: ${name}`, () => {
    assert.deepEqual(applyMergePatch(target, patch), want);
  });
}

test('inputs are never mutated and the result shares nothing with them', () => {
  const target = { metadata: { labels: { a: '1' } }, spec: { list: [1] } };
  const patch = { metadata: { labels: { b: '2', a: null } }, spec: { obj: { deep: [1] } } };
  const before = structuredClone({ target, patch });
  const out = applyMergePatch(target, patch) as { spec: { list: number[]; obj: { deep: number[] } } };
  assert.deepEqual({ target, patch }, before);
  out.spec.list.push(2);
  out.spec.obj.deep.push(2);
  assert.deepEqual({ target, patch }, before);
});

test('kubectl label-style patch on an object', () => {
  const pod = { metadata: { name: 'web', labels: { app: 'web', tier: 'fe' } } };
  assert.deepEqual(applyMergePatchToObject(pod, { metadata: { labels: { tier: null, env: 'prod' } } }), {
    metadata: { name: 'web', labels: { app: 'web', env: 'prod' } },
  });
});

test('on a Kubernetes object: null and scalars are bad requests, an array is invalid', () => {
  for (const [patch, code] of [
    [null, 'BadRequest'],
    [3, 'BadRequest'],
    ['x', 'BadRequest'],
    [[1], 'Invalid'],
  ] as const) {
    assert.throws(
      () => applyMergePatchToObject({ a: 1 }, patch),
      (e: unknown) => e instanceof PatchError && e.code === code,
    );
  }
});
