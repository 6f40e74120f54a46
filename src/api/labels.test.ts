import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLabels, formatLabelSelector, selectorMatches, selectorString } from './labels.js';

test('selectors match labels with every operator', () => {
  const labels = { app: 'web', tier: 'front' };
  assert.ok(selectorMatches({ matchLabels: { app: 'web' } }, labels));
  assert.ok(!selectorMatches({ matchLabels: { app: 'db' } }, labels));
  assert.ok(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, labels));
  assert.ok(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['a'] }] }, labels));
  assert.ok(!selectorMatches({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }, labels));
  assert.ok(selectorMatches({ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, labels));
  assert.ok(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, labels));
  assert.ok(selectorMatches({}, labels));
  assert.ok(!selectorMatches(undefined, labels));
});

test('selector and label text as kubectl tables show them', () => {
  assert.equal(
    selectorString({
      matchLabels: { tier: 'front', app: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'dev'] },
        { key: 'zz', operator: 'DoesNotExist' },
      ],
    }),
    'app=web,env in (dev,prod),tier=front,!zz',
  );
  assert.equal(formatLabelSelector({}), '<none>');
  assert.equal(formatLabelSelector(undefined), '<none>');
  assert.equal(formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Bogus' }] }), '<error>');
  assert.equal(formatLabels({ b: '2', a: '1' }), 'a=1,b=2');
  assert.equal(formatLabels({}), '<none>');
});
