// The work queue: deduplication, one worker per key, every worker busy when there is work, retries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from './workqueue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('all workers run in parallel, never two on one key', async () => {
  let running = 0;
  let peak = 0;
  const perKey = new Map<string, number>();
  const done: string[] = [];
  const q = new WorkQueue(async (k) => {
    running++;
    perKey.set(k, (perKey.get(k) ?? 0) + 1);
    assert.equal(perKey.get(k), 1, `two workers on ${k}`);
    peak = Math.max(peak, running);
    await sleep(30);
    perKey.set(k, perKey.get(k)! - 1);
    running--;
    done.push(k);
  }, 8);
  q.start();
  await sleep(5);
  for (let i = 0; i < 16; i++) q.add(`k${i}`);
  q.add('k0');
  await sleep(150);
  assert.equal(peak, 8);
  assert.equal(done.filter((k) => k === 'k0').length, 1, 'a key queued twice before it ran runs once');
  q.add('k0');
  await sleep(60);
  assert.equal(done.filter((k) => k === 'k0').length, 2);
  q.stop();
});

test('a key added while it runs runs again after; failures retry with back-off', async () => {
  let calls = 0;
  const q = new WorkQueue(async () => {
    calls++;
    if (calls === 1) {
      q.add('x');
      await sleep(10);
    }
    if (calls === 2) throw new Error('boom');
  }, 2, () => {});
  q.start();
  q.add('x');
  await sleep(100);
  assert.ok(calls >= 3, `calls ${calls}`);
  q.stop();
});
