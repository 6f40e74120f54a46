// WorkQueue: workers run in parallel after idling, keys are never processed twice at once, failures retry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from './queue.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

test('every worker takes work after the queue was idle', async () => {
  let active = 0;
  let peak = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new WorkQueue(async () => {
    active++;
    peak = Math.max(peak, active);
    await gate;
    active--;
  }, 4);
  q.start();
  await tick(); // all four workers are now idle, waiting for keys
  for (const k of ['a', 'b', 'c', 'd', 'e']) q.add(k);
  await tick(20);
  assert.equal(peak, 4, 'four keys in flight at once with four workers');
  release();
  await tick(20);
  q.stop();
});

test('a key is not processed by two workers at once, and a re-add while active runs once more', async () => {
  const runs: string[] = [];
  let inFlight = 0;
  let overlap = false;
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  const q = new WorkQueue(async (k) => {
    inFlight++;
    if (inFlight > 1) overlap = true;
    runs.push(k);
    await gate;
    inFlight--;
  }, 3);
  q.start();
  q.add('x');
  await tick();
  q.add('x');
  q.add('x');
  await tick();
  assert.equal(runs.length, 1);
  const first = release;
  gate = new Promise<void>((r) => (release = r));
  first();
  await tick(20);
  assert.equal(runs.length, 2, 'the adds made while active fold into one more run');
  release();
  await tick(20);
  assert.equal(overlap, false);
  q.stop();
});

test('a failing key comes back after a back-off', async () => {
  let calls = 0;
  const errors: unknown[] = [];
  const q = new WorkQueue(async () => {
    calls++;
    if (calls === 1) throw new Error('first time fails');
  }, 2, (_k, e) => errors.push(e));
  q.start();
  q.add('k');
  await tick(60);
  assert.equal(errors.length, 1);
  assert.equal(calls, 2);
  q.stop();
});
