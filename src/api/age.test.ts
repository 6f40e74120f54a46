import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration, since } from './age.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const Y = 365 * D;

test('humanDuration follows Kubernetes rounding at each boundary', () => {
  const cases: [number, string][] = [
    [-2 * S, '<invalid>'],
    [-1999, '0s'],
    [-1 * S, '0s'],
    [-500, '0s'],
    [0, '0s'],
    [4 * S, '4s'],
    [4 * S + 999, '4s'],
    [119 * S, '119s'],
    [2 * M, '2m'],
    [3 * M + 12 * S, '3m12s'],
    [9 * M + 59 * S, '9m59s'],
    [10 * M, '10m'],
    [10 * M + 30 * S, '10m'],
    [179 * M + 59 * S, '179m'],
    [3 * H, '3h'],
    [5 * H + 10 * M, '5h10m'],
    [5 * H, '5h'],
    [7 * H + 59 * M, '7h59m'],
    [8 * H, '8h'],
    [47 * H + 59 * M, '47h'],
    [2 * D, '2d'],
    [2 * D + 5 * H, '2d5h'],
    [7 * D + 23 * H, '7d23h'],
    [8 * D, '8d'],
    [729 * D, '729d'],
    [730 * D, '2y'],
    [3 * Y + 45 * D, '3y45d'],
    [7 * Y + 364 * D, '7y364d'],
    [8 * Y, '8y'],
    [8 * Y + 200 * D, '8y'],
    [12 * Y, '12y'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms}ms`);
});

test('since measures from an RFC 3339 timestamp and reports missing ones', () => {
  const now = Date.parse('2024-05-01T10:00:00Z');
  assert.equal(since('2024-05-01T09:56:48Z', now), '3m12s');
  assert.equal(since('2024-04-29T10:00:00.123456Z', now), '47h');
  assert.equal(since('2024-05-01T10:00:05Z', now), '<invalid>');
  assert.equal(since(undefined, now), '<unknown>');
  assert.equal(since('', now), '<unknown>');
  assert.equal(since('not a time', now), '<unknown>');
});
