import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SelectorError, labelSelectorFromSpec, labelSelectorToString, parseFieldSelector, parseLabelSelector, type LabelRequirement } from './selectors.js';
import { labelKeyErrors, labelValueErrors } from './labelsyntax.js';

function selectorError(fn: () => unknown, code: SelectorError['code'], ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SelectorError, `expected SelectorError, got ${String(e)}`);
    assert.equal(e.code, code);
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

// [selector, labels, expected match]
const matchTable: [string, Record<string, string> | undefined, boolean][] = [
  ['', undefined, true],
  ['', { any: 'thing' }, true],
  ['app=web', { app: 'web' }, true],
  ['app=web', { app: 'db' }, false],
  ['app=web', {}, false],
  ['app=web', undefined, false],
  ['app==web', { app: 'web' }, true],
  ['app!=web', { app: 'db' }, true],
  ['app!=web', {}, true],
  ['app!=web', { app: 'web' }, false],
  ['env in (prod, staging)', { env: 'staging' }, true],
  ['env in (prod,staging)', { env: 'dev' }, false],
  ['env in (prod)', {}, false],
  ['env notin (prod)', {}, true],
  ['env notin (prod)', { env: 'dev' }, true],
  ['env notin (prod)', { env: 'prod' }, false],
  ['app', { app: '' }, true],
  ['app', { other: 'x' }, false],
  ['!app', { other: 'x' }, true],
  ['!app', { app: 'x' }, false],
  ['app=web,tier!=db', { app: 'web', tier: 'fe' }, true],
  ['app=web,tier!=db', { app: 'web', tier: 'db' }, false],
  ['  app = web ,\t!legacy\n', { app: 'web' }, true],
  ['  app = web ,\t!legacy\n', { app: 'web', legacy: 'y' }, false],
  ['x in (a,,b)', { x: '' }, true],
  ['x in ()', { x: '' }, true],
  ['x in ()', { x: 'a' }, false],
  ['x=', { x: '' }, true],
  ['x=', {}, false],
  ['example.com/app=web', { 'example.com/app': 'web' }, true],
  ['in in (in, notin)', { in: 'notin' }, true],
  ['replicas>2', { replicas: '3' }, true],
  ['replicas>2', { replicas: '2' }, false],
  ['replicas<10', { replicas: '9' }, true],
  ['replicas<10', { replicas: 'many' }, false],
  ['replicas<10', {}, false],
  ['constructor', {}, false],
  ['!toString', {}, true],
];

for (const [sel, labels, want] of matchTable) {
  test(`label selector ${JSON.stringify(sel)} ${want ? 'matches' : 'does not match'} ${JSON.stringify(labels)}`, () => {
    assert.equal(parseLabelSelector(sel).matches(labels), want);
  });
}

test('parsed requirements, sorted by key, with operators named as Kubernetes names them', () => {
  const s = parseLabelSelector('tier notin (b,a,a), app==web, !legacy, zone, n>1, env!=dev, x=y');
  assert.deepEqual(s.requirements, [
    { key: 'app', operator: 'DoubleEquals', values: ['web'] },
    { key: 'env', operator: 'NotEquals', values: ['dev'] },
    { key: 'legacy', operator: 'DoesNotExist', values: [] },
    { key: 'n', operator: 'GreaterThan', values: ['1'] },
    { key: 'tier', operator: 'NotIn', values: ['a', 'b'] },
    { key: 'x', operator: 'Equals', values: ['y'] },
    { key: 'zone', operator: 'Exists', values: [] },
  ] satisfies LabelRequirement[]);
  assert.equal(s.isEmpty(), false);
  assert.equal(parseLabelSelector('   ').isEmpty(), true);
});

test('the string form is canonical and parses back to the same selector', () => {
  assert.equal(labelSelectorToString(parseLabelSelector('tier!=db, app = web')), 'app=web,tier!=db');
  assert.equal(String(parseLabelSelector('x in (b, a),!y,z,w==1,n<5')), 'n<5,w==1,x in (a,b),!y,z');
  assert.equal(parseLabelSelector('').toString(), '');
});

// [selector, fragments the message must contain]
const errorTable: [string, string[]][] = [
  ['app=web foo', ["found 'foo', expected: ',' or 'end of string'"]],
  ['app in web', ["found 'web', expected: '('"]],
  ['app in (a b)', ["found 'b', expected: ',' or ')'"]],
  ['app in (a', ["found '', expected: ',', ')' or identifier"]],
  [',app', ["found ',', expected: !, identifier, or 'end of string'"]],
  ['app,', ["found '', expected: identifier after ','"]],
  ['=x', ["found '='"]],
  ['app(', ["found '(', expected: in, notin, =, ==, !=, gt, lt"]],
  ['!a=b', ["found '=', expected: ',' or 'end of string'"]],
  ['app=(x)', ["found '(', expected: identifier"]],
  ['Bad_Key_=x', ['"Bad_Key_"', 'name part must consist of alphanumeric characters']],
  ['a/b/c=1', ['"a/b/c"', 'optional DNS subdomain prefix']],
  ['Example.com/a=1', ['"Example.com/a"', 'prefix part a lowercase RFC 1123 subdomain']],
  ['/a=1', ['prefix part must be non-empty']],
  [`${'k'.repeat(64)}=1`, ['name part must be no more than 63 bytes']],
  ['app=-web', ['values[0][app]', '"-web"', 'a valid label must be an empty string']],
  [`app=${'v'.repeat(64)}`, ['must be no more than 63 bytes']],
  ['app in (ok, bad!)', ["found '!'"]],
  ['n<x', ["for 'Gt', 'Lt' operators, the value must be an integer"]],
];

for (const [sel, fragments] of errorTable) {
  test(`label selector ${JSON.stringify(sel.length > 40 ? `${sel.slice(0, 40)}…` : sel)} is rejected`, () => {
    selectorError(() => parseLabelSelector(sel), 'InvalidLabelSelector', JSON.stringify(sel), ...fragments);
  });
}

test('label key and value syntax', () => {
  for (const ok of ['a', 'A-b_c.d', 'example.com/name', 'a.b-c.d/X9', '1']) assert.deepEqual(labelKeyErrors(ok), [], ok);
  for (const bad of ['', '-a', 'a-', 'a b', 'ex_ample.com/a', 'a/', `${'p'.repeat(254)}/a`]) assert.notDeepEqual(labelKeyErrors(bad), [], bad);
  for (const ok of ['', 'a', 'a.b_c-d', '0']) assert.deepEqual(labelValueErrors(ok), [], ok);
  for (const bad of ['_a', 'a b', 'é', 'v'.repeat(64)]) assert.notDeepEqual(labelValueErrors(bad), [], bad);
});

test('metav1.LabelSelector: matchLabels and matchExpressions', () => {
  const s = labelSelectorFromSpec({
    matchLabels: { app: 'web' },
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['fe', 'be'] },
      { key: 'legacy', operator: 'DoesNotExist' },
      { key: 'zone', operator: 'Exists', values: [] },
      { key: 'env', operator: 'NotIn', values: ['dev'] },
    ],
  });
  assert.equal(s.matches({ app: 'web', tier: 'fe', zone: 'a' }), true);
  assert.equal(s.matches({ app: 'web', tier: 'fe', zone: 'a', env: 'dev' }), false);
  assert.equal(s.matches({ app: 'web', tier: 'fe', zone: 'a', legacy: '1' }), false);
  assert.equal(s.matches({ app: 'web', tier: 'db', zone: 'a' }), false);
  assert.equal(s.toString(), 'app=web,env notin (dev),!legacy,tier in (be,fe),zone');
  const all = labelSelectorFromSpec({});
  assert.equal(all.isEmpty(), true);
  assert.equal(all.matches(undefined), true);
  const none = labelSelectorFromSpec(null);
  assert.equal(none.isEmpty(), false);
  assert.equal(none.matches({}), false);
});

test('metav1.LabelSelector validation errors name the bad part', () => {
  selectorError(
    () => labelSelectorFromSpec({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }),
    'InvalidLabelSelector',
    'matchExpressions[0].operator',
    '"Equals" is not a valid label selector operator',
  );
  selectorError(
    () => labelSelectorFromSpec({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }),
    'InvalidLabelSelector',
    "for 'in', 'notin' operators, values set can't be empty",
  );
  selectorError(
    () => labelSelectorFromSpec({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }),
    'InvalidLabelSelector',
    'values set must be empty for exists and does not exist',
  );
  selectorError(
    () => labelSelectorFromSpec({ matchExpressions: [{ key: 'a b', operator: 'Exists' }] }),
    'InvalidLabelSelector',
    'matchExpressions[0].key',
    '"a b"',
  );
  selectorError(() => labelSelectorFromSpec({ matchLabels: { app: 'no good' } }), 'InvalidLabelSelector', 'matchLabels["app"]', '"no good"');
  selectorError(() => labelSelectorFromSpec({ matchLabels: { app: 3 } } as never), 'InvalidLabelSelector', 'must be a string');
  selectorError(() => labelSelectorFromSpec({ matchExpressions: 'x' } as never), 'InvalidLabelSelector', 'matchExpressions must be a list');
});

test('field selectors: =, ==, != joined by commas; absent fields are the empty string', () => {
  const s = parseFieldSelector('metadata.name==web,status.phase!=Running,spec.nodeName=');
  assert.deepEqual(s.requirements, [
    { field: 'metadata.name', op: '==', value: 'web' },
    { field: 'status.phase', op: '!=', value: 'Running' },
    { field: 'spec.nodeName', op: '=', value: '' },
  ]);
  assert.deepEqual(s.fields, ['metadata.name', 'status.phase', 'spec.nodeName']);
  assert.equal(s.matches({ 'metadata.name': 'web', 'status.phase': 'Pending' }), true);
  assert.equal(s.matches({ 'metadata.name': 'web', 'status.phase': 'Pending', 'spec.nodeName': 'n1' }), false);
  assert.equal(s.matches({ 'metadata.name': 'web', 'status.phase': 'Running' }), false);
  assert.equal(parseFieldSelector('constructor=').matches({}), true);
  assert.equal(parseFieldSelector('').isEmpty(), true);
  assert.equal(parseFieldSelector('').matches({}), true);
  assert.deepEqual(parseFieldSelector('a=1,,a=2').fields, ['a']);
});

test('kubectl-generated field selectors', () => {
  const ev = parseFieldSelector('involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=6b1d,involvedObject.kind=Deployment');
  assert.equal(
    ev.matches({ 'involvedObject.name': 'web', 'involvedObject.namespace': 'default', 'involvedObject.uid': '6b1d', 'involvedObject.kind': 'Deployment' }),
    true,
  );
  assert.equal(
    ev.matches({ 'involvedObject.name': 'web', 'involvedObject.namespace': 'default', 'involvedObject.uid': 'other', 'involvedObject.kind': 'Deployment' }),
    false,
  );
});

test('field selector values escape \\, \\= and \\\\', () => {
  assert.equal(parseFieldSelector('x=a\\,b').requirements[0].value, 'a,b');
  assert.equal(parseFieldSelector('x=a\\=b').requirements[0].value, 'a=b');
  assert.equal(parseFieldSelector('x=a\\\\b').requirements[0].value, 'a\\b');
  const s = parseFieldSelector('x=a\\,b,y!=c\\=d');
  assert.equal(s.requirements.length, 2);
  assert.equal(s.toString(), 'x=a\\,b,y!=c\\=d');
});

test('bad field selectors name the bad term', () => {
  selectorError(() => parseFieldSelector('metadata.name'), 'InvalidFieldSelector', "can't understand 'metadata.name'");
  selectorError(() => parseFieldSelector('x=a,b'), 'InvalidFieldSelector', "can't understand 'b'");
  selectorError(() => parseFieldSelector('x=a=b'), 'InvalidFieldSelector', "unescaped character '='");
  selectorError(() => parseFieldSelector('x=a\\qb'), 'InvalidFieldSelector', "invalid escape sequence: '\\q'");
  selectorError(() => parseFieldSelector('x=a\\'), 'InvalidFieldSelector', 'single');
});

// ---- properties ----

const SELECTOR_CHARS = ['a', 'b', 'x', 'Z', '0', '9', '-', '_', '.', '/', '=', '!', '(', ')', ',', '<', '>', ' ', '\t', 'in', 'notin', '\\', 'é', '"'];
const selectorText = fc.array(fc.constantFrom(...SELECTOR_CHARS), { maxLength: 24 }).map((parts) => parts.join(''));
const labelsArb = fc.option(fc.dictionary(fc.constantFrom('a', 'b', 'x', 'in', 'example.com/a', 'constructor'), fc.constantFrom('', 'a', 'b', '0', '9', 'x')), {
  nil: undefined,
});

test('property: random label selector text parses or throws SelectorError, round-trips through its string form', () => {
  fc.assert(
    fc.property(selectorText, labelsArb, (text, labels) => {
      const labelsBefore = JSON.stringify(labels);
      let sel;
      try {
        sel = parseLabelSelector(text);
      } catch (e) {
        if (e instanceof SelectorError) return;
        throw e;
      }
      const again = parseLabelSelector(sel.toString());
      assert.equal(again.toString(), sel.toString());
      assert.equal(again.matches(labels), sel.matches(labels));
      assert.equal(JSON.stringify(labels), labelsBefore);
    }),
    { numRuns: 2000 },
  );
});

const keyArb = fc.constantFrom('app', 'tier', 'example.com/role', 'k-8.s_x');
const valueArb = fc.constantFrom('', 'web', 'db', 'a.b', '42');
const requirementArb = fc.oneof(
  fc.record({ key: keyArb, operator: fc.constantFrom('Equals' as const, 'DoubleEquals' as const, 'NotEquals' as const), values: fc.tuple(valueArb) }),
  fc.record({ key: keyArb, operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.uniqueArray(valueArb, { minLength: 1, maxLength: 3 }) }),
  fc.record({ key: keyArb, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const), values: fc.constant([] as string[]) }),
);
const OP_TEXT = { Equals: '=', DoubleEquals: '==', NotEquals: '!=' } as const;

function reference(r: { key: string; operator: string; values: string[] }, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const v = labels[r.key];
  switch (r.operator) {
    case 'Equals':
    case 'DoubleEquals':
    case 'In':
      return has && r.values.includes(v);
    case 'NotEquals':
    case 'NotIn':
      return !has || !r.values.includes(v);
    case 'Exists':
      return has;
    default:
      return !has;
  }
}

test('property: selectors written from random requirements (random spacing) parse to them and match like a reference', () => {
  const space = fc.constantFrom('', ' ', '  ', '\t');
  fc.assert(
    fc.property(fc.array(fc.tuple(requirementArb, space, space), { maxLength: 5 }), fc.dictionary(keyArb, valueArb), (reqs, labels) => {
      const text = reqs
        .map(([r, s1, s2]) => {
          switch (r.operator) {
            case 'Exists':
              return `${s1}${r.key}${s2}`;
            case 'DoesNotExist':
              return `${s1}!${s2}${r.key}`;
            case 'In':
            case 'NotIn':
              return `${s1}${r.key} ${r.operator === 'In' ? 'in' : 'notin'}${s2}(${r.values.join(`,${s2}`)})`;
            default:
              return `${s1}${r.key}${s2}${OP_TEXT[r.operator]}${s2}${r.values[0]}`;
          }
        })
        .join(',');
      const sel = parseLabelSelector(text);
      assert.equal(sel.requirements.length, reqs.length);
      assert.equal(
        sel.matches(labels),
        reqs.every(([r]) => reference(r, labels)),
      );
    }),
    { numRuns: 1000 },
  );
});

const fieldText = fc
  .array(fc.constantFrom('a', 'b', '.', '=', '==', '!=', '!', ',', '\\', 'metadata.name', 'x', ' '), { maxLength: 16 })
  .map((p) => p.join(''));

test('property: random field selector text parses or throws SelectorError, and its string form parses back the same', () => {
  fc.assert(
    fc.property(fieldText, fc.dictionary(fc.constantFrom('a', 'b', 'metadata.name', 'a.b'), fc.constantFrom('', 'a', ',', '=', '\\')), (text, fields) => {
      let sel;
      try {
        sel = parseFieldSelector(text);
      } catch (e) {
        if (e instanceof SelectorError) return;
        throw e;
      }
      const again = parseFieldSelector(sel.toString());
      assert.equal(again.matches(fields), sel.matches(fields));
      assert.deepEqual(
        again.requirements.map((r) => [r.field, r.op === '!=', r.value]),
        sel.requirements.map((r) => [r.field, r.op === '!=', r.value]),
      );
    }),
    { numRuns: 2000 },
  );
});
