// The work queue: deduplication, one worker per key, every worker busy when there is work, retries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { WorkQueueMetricsProvider } from './workqueuemetrics.js';
import { parseExposition, sumOf } from '../util/promtext.js';
import { eventually } from '../testing/eventually.js';
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
  const q = new WorkQueue(
    async () => {
      calls++;
      if (calls === 1) {
        q.add('x');
        await sleep(10);
      }
      if (calls === 2) throw new Error('boom');
    },
    2,
    () => {},
  );
  q.start();
  q.add('x');
  await sleep(100);
  assert.ok(calls >= 3, `calls ${calls}`);
  q.stop();
});

test("the queue reports client-go's workqueue metrics under its name, exactly", async () => {
  const registry = new Registry();
  const provider = new WorkQueueMetricsProvider(registry);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let failOnce = true;
  const handled: string[] = [];
  const q = new WorkQueue(
    async (k) => {
      if (k === 'a') await gate;
      if (k === 'b' && failOnce) {
        failOnce = false;
        throw new Error('first try fails');
      }
      handled.push(k);
    },
    { workers: 1, metrics: provider.forQueue('test'), baseDelayMs: 1 },
  );
  const read = async () => parseExposition(await registry.metrics());
  q.add('a');
  q.add('a'); // deduplicated: one add
  q.add('b');
  q.start();
  await eventually('a is being handled', async () => sumOf(await read(), 'workqueue_depth', { name: 'test' }) === 1);
  q.add('a'); // while a is handled: counted once, waits in depth
  q.add('a');
  let e = await read();
  assert.equal(sumOf(e, 'workqueue_adds_total', { name: 'test' }), 3);
  assert.equal(sumOf(e, 'workqueue_depth', { name: 'test' }), 2);
  release();
  await eventually('all handled', async () => handled.filter((k) => k === 'a').length === 2 && handled.includes('b'));
  e = await read();
  assert.equal(sumOf(e, 'workqueue_depth', { name: 'test' }), 0);
  assert.equal(sumOf(e, 'workqueue_retries_total', { name: 'test' }), 1);
  // a, b, a again, and b's retry (an add after its back-off).
  assert.equal(sumOf(e, 'workqueue_adds_total', { name: 'test' }), 4);
  assert.equal(sumOf(e, 'workqueue_queue_duration_seconds_count', { name: 'test' }), 4);
  assert.equal(sumOf(e, 'workqueue_work_duration_seconds_count', { name: 'test' }), 4);
  assert.equal(e.types.get('workqueue_work_duration_seconds'), 'histogram');
  q.add('c');
  q.stop();
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(sumOf(await read(), 'workqueue_depth', { name: 'test' }), 0, 'a stopped queue leaves no depth behind');
  // Another registry sees none of it.
  const other = new Registry();
  new WorkQueueMetricsProvider(other).forQueue('test');
  assert.equal(sumOf(parseExposition(await other.metrics()), 'workqueue_adds_total', { name: 'test' }), 0);
});
