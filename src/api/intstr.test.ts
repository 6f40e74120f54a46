// Int-or-percent values as upstream's apps validation and intstr scale them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { intOrPercentValue, scaledValue } from './intstr.js';

test('intOrPercentValue: percents and integers by their number, anything else 0', () => {
  assert.equal(intOrPercentValue('25%'), 25);
  assert.equal(intOrPercentValue(3), 3);
  assert.equal(intOrPercentValue('3'), 3);
  assert.equal(intOrPercentValue('x%'), 0);
  assert.equal(intOrPercentValue(undefined), 0);
  assert.equal(intOrPercentValue({}), 0);
});

test('scaledValue: percents of the total rounded as asked; numbers as they are', () => {
  assert.equal(scaledValue('25%', 10, true), 3);
  assert.equal(scaledValue('25%', 10, false), 2);
  assert.equal(scaledValue('50%', 5, true), 3);
  assert.equal(scaledValue('10%', 1, true), 1);
  assert.equal(scaledValue('0%', 100, true), 0);
  assert.equal(scaledValue(2, 10, true), 2);
  assert.equal(scaledValue(undefined, 10, true), 0);
  assert.equal(scaledValue('abc', 10, true), 0);
});
