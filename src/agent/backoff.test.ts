// The kubelet's back-off on a clock the test moves: 10 s doubling to the 5 min cap, and an entry forgiven
// once more than twice the cap (600 s) passed without a failure, measured at the next failure's time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.js';

test('10 s doubling to the 300 s cap; held back until the delay passes', () => {
  let now = 1_000_000;
  const b = new Backoff(10_000, 300_000, () => now);
  const delays = [];
  for (let i = 0; i < 7; i++) {
    delays.push(b.next('p/c'));
    assert.equal(b.remaining('p/c'), delays[i]);
    now += delays[i] - 1;
    assert.equal(b.remaining('p/c'), 1);
    now += 1;
    assert.equal(b.remaining('p/c'), 0);
  }
  assert.deepEqual(delays, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  assert.equal(b.remaining('other'), 0, 'keys are independent');
});

test('a failure more than twice the cap after the last update starts afresh; exactly twice does not', () => {
  let now = 0;
  const b = new Backoff(10_000, 300_000, () => now);
  for (let i = 0; i < 6; i++) b.next('k');
  assert.equal(b.get('k')?.delay, 300_000);
  // A container that started at the last update and finished exactly 600 s later: still at the cap.
  now += 600_000;
  assert.equal(b.next('k', now), 300_000);
  // One that finished 600 s + 1 ms after: it ran fine for longer than twice the cap.
  now += 600_001;
  assert.equal(b.next('k', now), 10_000);
  assert.equal(b.next('k'), 20_000);
  // The event time counts, not when the agent got round to it: a container that finished 601 s after the
  // last update is forgiven even when the sync sees it later; one that finished at 599 s is not.
  const last = now;
  now = last + 700_000;
  assert.equal(b.next('k', last + 599_000), 40_000);
  const last2 = now;
  now = last2 + 900_000;
  assert.equal(b.next('k', last2 + 600_001), 10_000);
});

test('an entry idle for more than twice the cap is gone: get, remaining and gc drop it; forget drops a prefix', () => {
  let now = 0;
  const b = new Backoff(10_000, 300_000, () => now);
  b.next('uid1/a');
  b.next('uid1/b');
  b.next('uid2/a');
  b.forget('uid1/');
  assert.equal(b.size, 1);
  now += 600_000;
  assert.ok(b.get('uid2/a'));
  now += 1;
  b.gc();
  assert.equal(b.size, 0);
  b.next('x');
  now += 600_001;
  assert.equal(b.get('x'), undefined);
  assert.equal(b.remaining('x'), 0);
});
