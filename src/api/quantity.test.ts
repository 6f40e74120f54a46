import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareQuantity, formatQuantity, isQuantity, parseQuantity, type Quantity } from './quantity.js';

const q = (s: string | number): Quantity => {
  const r = parseQuantity(s);
  assert.ok(isQuantity(r), String(s));
  return r;
};

test('canonical spelling as Kubernetes prints quantities', () => {
  const cases: [string | number, string][] = [
    ['0.5', '500m'],
    ['1000m', '1'],
    ['1500', '1500'],
    ['2000', '2k'],
    ['1Gi', '1Gi'],
    ['1024Mi', '1Gi'],
    ['1536Mi', '1536Mi'],
    ['100Mi', '100Mi'],
    ['0', '0'],
    ['1e3', '1k'],
    ['250m', '250m'],
    [2, '2'],
    ['-1', '-1'],
    ['0.0000000001', '1n'],
  ];
  for (const [input, want] of cases) assert.equal(formatQuantity(q(input)), want, String(input));
});

test('comparison is exact across suffixes', () => {
  assert.equal(compareQuantity(q('1'), q('1000m')), 0);
  assert.equal(compareQuantity(q('1Gi'), q('1G')), 1);
  assert.equal(compareQuantity(q('500m'), q('0.6')), -1);
});

test('malformed quantities give the Kubernetes error text', () => {
  assert.deepEqual(parseQuantity(''), { error: "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" });
  assert.deepEqual(parseQuantity('1Qi'), { error: "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" });
  assert.deepEqual(parseQuantity('1KK'), { error: "unable to parse quantity's suffix" });
  assert.deepEqual(parseQuantity('1.2.3'), { error: 'unable to parse numeric part of quantity' });
});
