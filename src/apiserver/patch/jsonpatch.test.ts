import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch, parseJsonPointer } from './jsonpatch.js';
import { PatchError } from './errors.js';

function rejects(fn: () => unknown, code: PatchError['code'], ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PatchError, `expected PatchError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

// The cases of RFC 6902 appendix A, each with data written for this test.
test('A.1 add an object member', () => {
  assert.deepEqual(applyJsonPatch({ kind: 'Pod' }, [{ op: 'add', path: '/apiVersion', value: 'v1' }]), { kind: 'Pod', apiVersion: 'v1' });
});

test('A.2 add an array element', () => {
  assert.deepEqual(applyJsonPatch({ args: ['-v', '-q'] }, [{ op: 'add', path: '/args/1', value: '--debug' }]), { args: ['-v', '--debug', '-q'] });
});

test('A.3 remove an object member', () => {
  assert.deepEqual(applyJsonPatch({ a: 1, b: 2 }, [{ op: 'remove', path: '/b' }]), { a: 1 });
});

test('A.4 remove an array element', () => {
  assert.deepEqual(applyJsonPatch({ ports: [80, 443, 8080] }, [{ op: 'remove', path: '/ports/1' }]), { ports: [80, 8080] });
});

test('A.5 replace a value', () => {
  assert.deepEqual(applyJsonPatch({ spec: { replicas: 1 } }, [{ op: 'replace', path: '/spec/replicas', value: 3 }]), { spec: { replicas: 3 } });
});

test('A.6 move a value', () => {
  const doc = { old: { image: 'nginx', tag: '1.25' }, next: {} };
  assert.deepEqual(applyJsonPatch(doc, [{ op: 'move', from: '/old/tag', path: '/next/tag' }]), { old: { image: 'nginx' }, next: { tag: '1.25' } });
});

test('A.7 move an array element', () => {
  assert.deepEqual(applyJsonPatch({ steps: ['build', 'test', 'ship', 'lint'] }, [{ op: 'move', from: '/steps/3', path: '/steps/1' }]), {
    steps: ['build', 'lint', 'test', 'ship'],
  });
});

test('A.8 test succeeds on equal values', () => {
  const doc = { name: 'web', ports: [{ port: 80 }] };
  assert.deepEqual(
    applyJsonPatch(doc, [
      { op: 'test', path: '/name', value: 'web' },
      { op: 'test', path: '/ports', value: [{ port: 80 }] },
    ]),
    doc,
  );
});

test('A.9 test fails on a different value (422)', () => {
  rejects(
    () => applyJsonPatch({ name: 'web' }, [{ op: 'test', path: '/name', value: 'db' }]),
    'Invalid',
    'operation 0 (test)',
    'test failed',
    '"/name"',
    '"web"',
    '"db"',
  );
});

test('A.10 add a nested object', () => {
  assert.deepEqual(applyJsonPatch({ metadata: {} }, [{ op: 'add', path: '/metadata/labels', value: { app: 'web' } }]), {
    metadata: { labels: { app: 'web' } },
  });
});

test('A.11 members an operation does not define are ignored', () => {
  assert.deepEqual(applyJsonPatch({ a: 1 }, [{ op: 'add', path: '/b', value: 2, comment: 'ignored', xyz: [1] }]), { a: 1, b: 2 });
});

test('A.12 add to a missing parent fails (422)', () => {
  rejects(() => applyJsonPatch({ a: 1 }, [{ op: 'add', path: '/missing/child', value: 1 }]), 'Invalid', '"/missing/child"', '"/missing" does not exist');
});

test('A.13 an operation without a usable op fails', () => {
  rejects(() => applyJsonPatch({}, [{ path: '/a', value: 1 }]), 'Invalid', 'operation 0', 'missing "op"');
  rejects(() => applyJsonPatch({}, [{ op: 'upsert', path: '/a', value: 1 }]), 'Invalid', 'unknown op "upsert"');
});

test('A.14 ~0 and ~1 are unescaped in the right order', () => {
  const doc = { '~1': 'tilde-one', '/': 'slash', 'a~b': 'tilde' };
  assert.deepEqual(
    applyJsonPatch(doc, [
      { op: 'test', path: '/~01', value: 'tilde-one' },
      { op: 'test', path: '/~1', value: 'slash' },
      { op: 'test', path: '/a~0b', value: 'tilde' },
    ]),
    doc,
  );
  assert.deepEqual(parseJsonPointer('/metadata/annotations/example.com~1note'), ['metadata', 'annotations', 'example.com/note']);
});

test('A.15 test compares types: the string "10" is not the number 10', () => {
  rejects(() => applyJsonPatch({ n: 10 }, [{ op: 'test', path: '/n', value: '10' }]), 'Invalid', 'test failed');
});

test('A.16 add an array as a value', () => {
  assert.deepEqual(applyJsonPatch({ list: [1] }, [{ op: 'add', path: '/list/-', value: [2, 3] }]), { list: [1, [2, 3]] });
});

test('the "-" index appends, and only add accepts it', () => {
  assert.deepEqual(applyJsonPatch({ xs: ['a'] }, [{ op: 'add', path: '/xs/-', value: 'b' }]), { xs: ['a', 'b'] });
  rejects(() => applyJsonPatch({ xs: ['a'] }, [{ op: 'remove', path: '/xs/-' }]), 'Invalid', '"-" is not an index');
  rejects(() => applyJsonPatch({ xs: ['a'] }, [{ op: 'replace', path: '/xs/-', value: 1 }]), 'Invalid');
  rejects(() => applyJsonPatch({ xs: ['a'] }, [{ op: 'test', path: '/xs/-', value: 'a' }]), 'Invalid', 'does not exist');
});

test('array indices are strict: no leading zeros, no out-of-bounds insert', () => {
  rejects(() => applyJsonPatch({ xs: [1, 2] }, [{ op: 'replace', path: '/xs/01', value: 9 }]), 'Invalid');
  rejects(() => applyJsonPatch({ xs: [1, 2] }, [{ op: 'add', path: '/xs/3', value: 9 }]), 'Invalid', 'index 3 is out of bounds (array length 2)');
  assert.deepEqual(applyJsonPatch({ xs: [1, 2] }, [{ op: 'add', path: '/xs/2', value: 9 }]), { xs: [1, 2, 9] });
  rejects(() => applyJsonPatch({ xs: [1, 2] }, [{ op: 'remove', path: '/xs/2' }]), 'Invalid', 'out of bounds');
});

test('replace and remove need an existing target', () => {
  rejects(() => applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '/b', value: 2 }]), 'Invalid', 'operation 0 (replace)', '"/b" does not exist');
  rejects(() => applyJsonPatch({ a: 1 }, [{ op: 'remove', path: '/b' }]), 'Invalid', '"/b" does not exist');
});

test('the whole document: replace and add swap it, remove is refused', () => {
  assert.deepEqual(applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }]), { b: 2 });
  assert.deepEqual(applyJsonPatch({ a: 1 }, [{ op: 'add', path: '', value: [1] }]), [1]);
  rejects(() => applyJsonPatch({ a: 1 }, [{ op: 'remove', path: '' }]), 'Invalid', 'whole document');
});

test('copy duplicates deeply; move cannot go into its own child', () => {
  const out = applyJsonPatch({ a: { x: [1] } }, [
    { op: 'copy', from: '/a', path: '/b' },
    { op: 'add', path: '/b/x/-', value: 2 },
  ]);
  assert.deepEqual(out, { a: { x: [1] }, b: { x: [1, 2] } });
  rejects(() => applyJsonPatch({ a: { b: {} } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]), 'Invalid', 'prefix');
  rejects(() => applyJsonPatch({ a: 1 }, [{ op: 'copy', from: '/nope', path: '/b' }]), 'Invalid', '"/nope" does not exist');
  rejects(() => applyJsonPatch({ a: 1 }, [{ op: 'move', path: '/b' }]), 'Invalid', 'missing "from"');
});

test('add and replace need a value, which may be null', () => {
  rejects(() => applyJsonPatch({}, [{ op: 'add', path: '/a' }]), 'Invalid', 'missing "value"');
  assert.deepEqual(applyJsonPatch({}, [{ op: 'add', path: '/a', value: null }]), { a: null });
});

test('pointers must start with "/" and escape "~"', () => {
  rejects(() => applyJsonPatch({ a: 1 }, [{ op: 'remove', path: 'a' }]), 'Invalid', 'must be empty or start with "/"');
  rejects(() => applyJsonPatch({ a: 1 }, [{ op: 'remove', path: '/a~2' }]), 'Invalid', '"~" must be followed by 0 or 1');
});

test('a body that is not a list of operation objects is a bad request (400)', () => {
  rejects(() => applyJsonPatch({}, { op: 'add', path: '/a', value: 1 }), 'BadRequest', 'must be a JSON array');
  rejects(() => applyJsonPatch({}, ['add']), 'BadRequest', 'operation 0 must be a JSON object, got string');
  rejects(() => applyJsonPatch({}, [{ op: 'add', path: 7, value: 1 }]), 'BadRequest', '"path" must be a string, got number');
});

test('operations apply in order and the input is never mutated', () => {
  const doc = { metadata: { labels: { a: '1' } }, list: [{ n: 1 }] };
  const ops = [
    { op: 'add', path: '/metadata/labels/b', value: { nested: [1] } },
    { op: 'remove', path: '/list/0' },
  ];
  const before = structuredClone({ doc, ops });
  const out = applyJsonPatch(doc, ops) as { metadata: { labels: Record<string, unknown> } };
  assert.deepEqual({ doc, ops }, before);
  (out.metadata.labels.b as { nested: number[] }).nested.push(2);
  assert.deepEqual(ops, before.ops, 'the result shares no structure with the patch');
});

test('a failing operation leaves nothing half-applied in the input', () => {
  const doc = { a: 1 };
  rejects(
    () =>
      applyJsonPatch(doc, [
        { op: 'add', path: '/b', value: 2 },
        { op: 'test', path: '/a', value: 2 },
      ]),
    'Invalid',
    'operation 1 (test)',
  );
  assert.deepEqual(doc, { a: 1 });
});

test('keys like __proto__ are stored as plain members', () => {
  const out = applyJsonPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]) as Record<string, unknown>;
  assert.deepEqual(Object.keys(out), ['__proto__']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
});
