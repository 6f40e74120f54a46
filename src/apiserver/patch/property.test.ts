// Property tests: random documents and patches either apply or fail with PatchError, never anything else,
// and never change their inputs or share structure with them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyJsonPatch } from './jsonpatch.js';
import { applyMergePatch } from './mergepatch.js';
import { applyStrategicMergePatch } from './strategic.js';
import { serverSideApply } from './apply.js';
import { PatchError } from './errors.js';

const RUNS = { numRuns: 1500 };

/**
 * Runs fn on inputs; PatchError is an accepted outcome. Checks inputs are unchanged, even after a result is
 * scribbled on; fn runs a second time for the clean result it returns (every function here is deterministic).
 */
function outcome<T>(inputs: unknown[], fn: () => T): T | PatchError {
  const before = JSON.stringify(inputs);
  let out: T;
  try {
    out = fn();
  } catch (e) {
    if (e instanceof PatchError) {
      assert.ok(['BadRequest', 'Invalid', 'Conflict'].includes(e.code));
      assert.ok(e.message.length > 0);
      assert.equal(JSON.stringify(inputs), before);
      return e;
    }
    throw e;
  }
  assert.equal(JSON.stringify(inputs), before, 'inputs were mutated');
  scribble(out);
  assert.equal(JSON.stringify(inputs), before, 'the result shares structure with an input');
  return fn();
}

function scribble(v: unknown): void {
  if (Array.isArray(v)) {
    v.forEach(scribble);
    v.push('scribbled');
  } else if (v && typeof v === 'object') {
    for (const k of Object.keys(v)) scribble((v as Record<string, unknown>)[k]);
    (v as Record<string, unknown>)['scribbled!'] = true;
  }
}

function directives(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap(directives);
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [...(k.startsWith('$') ? [k] : []), ...directives(x)]);
  return [];
}

// ---- generators ----

const KEYS = [
  'metadata',
  'spec',
  'status',
  'containers',
  'name',
  'image',
  'env',
  'value',
  'finalizers',
  'labels',
  'a',
  'b',
  '0',
  '__proto__',
  'constructor',
  '~',
  '/',
];
const DIRECTIVE_KEYS = [
  '$patch',
  '$retainKeys',
  '$setElementOrder/containers',
  '$setElementOrder/finalizers',
  '$deleteFromPrimitiveList/finalizers',
  '$setElementOrder',
  '$bogus',
];
const scalar = fc.oneof(
  fc.constantFrom('a', 'b', 'nginx', 'delete', 'replace', 'merge', 'name', ''),
  fc.integer({ min: -1, max: 3 }),
  fc.boolean(),
  fc.constant(null),
);

function tree(keys: string[]) {
  return fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('obj'), tie('arr')),
    obj: fc.dictionary(fc.constantFrom(...keys), tie('value'), { maxKeys: 4 }),
    arr: fc.array(tie('value'), { maxLength: 4 }),
  }));
}

const plain = tree(KEYS);
const withDirectives = tree([...KEYS, ...DIRECTIVE_KEYS]);

const POINTERS = [
  '',
  '/',
  '/a',
  '/a/0',
  '/a/-',
  '/a/b',
  '/0',
  '/01',
  '/-',
  '/spec/containers/0/name',
  '/~0',
  '/~1',
  '/~2',
  '/__proto__',
  '/constructor',
  'a',
  '/a/1/b',
];
const pointer = fc.oneof(fc.constantFrom(...POINTERS), fc.string({ maxLength: 6 }));
const jsonPatchOp = fc.record(
  {
    op: fc.oneof(fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test'), fc.constantFrom('bogus', 7 as unknown as string)),
    path: pointer,
    from: pointer,
    value: plain.value,
  },
  { requiredKeys: [] },
);

const cname = fc.constantFrom('a', 'b', 'c');
const env = fc.array(fc.record({ name: fc.constantFrom('X', 'Y'), value: fc.constantFrom('1', '2') }), { maxLength: 3 });
const container = fc.record({ name: cname, image: fc.constantFrom('i1', 'i2'), env }, { requiredKeys: ['name'] });
const pod = fc.record(
  {
    metadata: fc.record(
      {
        finalizers: fc.array(fc.constantFrom('f1', 'f2', 'f3'), { maxLength: 3 }),
        labels: fc.dictionary(fc.constantFrom('app', 'tier'), fc.constantFrom('x', 'y'), { noNullPrototype: true }),
      },
      { requiredKeys: [] },
    ),
    spec: fc.record({ containers: fc.array(container, { maxLength: 3 }), nodeName: fc.constantFrom('n1', 'n2') }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

const containerPatch = fc.oneof(
  container,
  fc.record({ name: cname, $patch: fc.constantFrom('delete', 'replace', 'merge', 'bogus') }),
  fc.constant({ $patch: 'replace' }),
  fc.record({ image: fc.constantFrom('i3') }),
  fc.record({
    name: cname,
    env: fc.array(
      fc.oneof(
        fc.record({ name: fc.constantFrom('X', 'Y'), value: fc.constantFrom('3') }),
        fc.record({ name: fc.constantFrom('X', 'Z'), $patch: fc.constant('delete') }),
      ),
      { maxLength: 2 },
    ),
  }),
);
const podPatch = fc.record(
  {
    metadata: fc.record(
      {
        finalizers: fc.array(fc.constantFrom('f1', 'f2', 'f4'), { maxLength: 2 }),
        '$deleteFromPrimitiveList/finalizers': fc.array(fc.constantFrom('f1', 'f2'), { maxLength: 2 }),
        '$setElementOrder/finalizers': fc.array(fc.constantFrom('f1', 'f2', 'f3', 'f4'), { maxLength: 4 }),
        labels: fc.dictionary(fc.constantFrom('app', 'tier'), fc.option(fc.constantFrom('x', 'z'), { nil: null })),
        $retainKeys: fc.constantFrom(['finalizers', 'labels'], ['labels']),
      },
      { requiredKeys: [] },
    ),
    spec: fc.record(
      {
        containers: fc.option(fc.array(containerPatch, { maxLength: 3 }), { nil: null }),
        '$setElementOrder/containers': fc.array(fc.record({ name: cname }), { maxLength: 3 }),
        nodeName: fc.option(fc.constantFrom('n3'), { nil: null }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

// ---- properties ----

test('property: JSON patch applies or throws PatchError, never mutating its inputs', () => {
  fc.assert(
    fc.property(plain.value, fc.oneof(fc.array(jsonPatchOp, { maxLength: 4 }), plain.value), (doc, ops) => {
      outcome([doc, ops], () => applyJsonPatch(doc, ops));
    }),
    RUNS,
  );
});

test('property: an empty JSON patch returns an equal copy', () => {
  fc.assert(
    fc.property(plain.value, (doc) => {
      const out = applyJsonPatch(doc, []);
      assert.equal(JSON.stringify(out), JSON.stringify(doc));
      if (doc !== null && typeof doc === 'object') assert.notEqual(out, doc);
    }),
    RUNS,
  );
});

test('property: merge patch always applies, never mutating its inputs', () => {
  fc.assert(
    fc.property(plain.value, plain.value, (target, patch) => {
      const out = outcome([target, patch], () => applyMergePatch(target, patch));
      assert.ok(!(out instanceof PatchError));
    }),
    RUNS,
  );
});

test('property: strategic merge patch of random trees applies or throws PatchError, stores no directive', () => {
  fc.assert(
    fc.property(
      plain.obj,
      withDirectives.value,
      fc.constantFrom(['Pod', 'v1'], ['Deployment', 'apps/v1'], ['Widget', 'x/v1']),
      (doc, patch, [kind, apiVersion]) => {
        const out = outcome([doc, patch], () => applyStrategicMergePatch(doc, patch, kind, apiVersion));
        if (!(out instanceof PatchError)) assert.deepEqual(directives(out), []);
      },
    ),
    RUNS,
  );
});

test('property: strategic merge patch of pod-shaped patches keeps merge keys unique and stores no directive', () => {
  fc.assert(
    fc.property(pod, podPatch, (live, patch) => {
      const out = outcome([live, patch], () => applyStrategicMergePatch(live, patch, 'Pod', 'v1'));
      if (out instanceof PatchError) return;
      assert.deepEqual(directives(out), []);
      const liveNames = (live.spec?.containers ?? []).map((c) => c.name);
      // A "$patch": "replace" list is taken as given, duplicates included, as Kubernetes does.
      const replaces = JSON.stringify(patch.spec?.containers ?? []).includes('"replace"');
      if (new Set(liveNames).size === liveNames.length && !replaces) {
        const names = ((out.spec as { containers?: { name: string }[] } | undefined)?.containers ?? []).map((c) => c.name);
        assert.equal(new Set(names).size, names.length, `duplicate containers ${names}`);
      }
      const fins = (out.metadata as { finalizers?: string[] } | undefined)?.finalizers;
      if (fins && new Set(live.metadata?.finalizers ?? []).size === (live.metadata?.finalizers ?? []).length) {
        assert.equal(new Set(fins).size, fins.length, `duplicate finalizers ${fins}`);
      }
    }),
    RUNS,
  );
});

const mapsOnly = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, scalar, tie('obj'), fc.array(scalar, { maxLength: 3 })),
  obj: fc.dictionary(fc.constantFrom('spec', 'a', 'b', 'containers', 'labels', 'name'), tie('value'), { maxKeys: 4 }),
}));

test('property: for kinds without a schema and patches without directives, strategic merge equals JSON merge patch', () => {
  fc.assert(
    fc.property(plain.obj, mapsOnly.obj, (doc, patch) => {
      assert.deepEqual(applyStrategicMergePatch(doc, patch, 'Widget', 'example.com/v1'), applyMergePatch(doc, patch));
    }),
    RUNS,
  );
});

test('property: server-side apply succeeds, conflicts or rejects with PatchError; re-applying is idempotent', () => {
  const now = new Date('2024-01-01T00:00:00Z');
  fc.assert(
    fc.property(fc.option(pod, { nil: undefined }), pod, pod, fc.boolean(), (seed, first, second, force) => {
      const live = seed === undefined ? undefined : outcome([seed], () => serverSideApply(undefined, seed, 'seeder', false, 'Pod', 'v1', { now }));
      if (live instanceof PatchError) return;
      const r1 = outcome([live, first], () => serverSideApply(live, first, 'one', false, 'Pod', 'v1', { now }));
      if (r1 instanceof PatchError) return;
      const r2 = outcome([r1, second], () => serverSideApply(r1, second, 'two', force, 'Pod', 'v1', { now }));
      if (r2 instanceof PatchError) {
        assert.ok(!(force && r2.code === 'Conflict'), 'force never conflicts');
        return;
      }
      const again = serverSideApply(r2, second, 'two', false, 'Pod', 'v1', { now });
      assert.deepEqual(again, r2);
    }),
    { numRuns: 800 },
  );
});
