// The pod start trace: steps noted while a pod is traced, one line when it runs, and that line read back
// as bench/cluster.ts reads it from an agent's log (a step met twice is summed; other log lines skipped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { format } from 'node:util';
import { PodTrace, parsePodTrace } from './podtrace.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a traced pod prints one line with its steps in order, parsed back', async () => {
  const out: string[] = [];
  const t = new PodTrace((f, ...a) => out.push(`K8TS:PODS 1: ${format(f, ...a)}`), true);
  const uid = '6fc08297-bc85-460c-9e63-d28956b1670c';
  t.seen(uid);
  await sleep(5);
  t.dequeued(uid);
  await t.step(uid, 'sandbox', () => t.step(uid, 'cni', () => sleep(5)));
  await t.step(uid, 'container', () => sleep(1));
  await t.step(uid, 'container', () => sleep(1));
  t.dequeued(uid); // a later sync: the queue wait is noted once
  t.running(uid, 'ns/p');
  t.running(uid, 'ns/p'); // printed once
  assert.equal(out.length, 1);
  const [line] = parsePodTrace(['k8ts agent node1: ready', ...out].join('\n'));
  assert.equal(line.key, 'ns/p');
  assert.deepEqual([...line.steps.keys()], ['queue', 'cni', 'sandbox', 'container']);
  assert.ok(line.steps.get('queue')!.ms >= 4, 'the queue wait runs from seen to the first sync');
  assert.ok(line.steps.get('sandbox')!.ms >= line.steps.get('cni')!.ms, 'a step holds the steps inside it');
  assert.ok(line.steps.get('container')!.ms >= 2, 'a step met twice is summed');
  assert.ok(line.totalMs >= line.steps.get('sandbox')!.start + line.steps.get('sandbox')!.ms);
});

test('untraced pods cost nothing and print nothing; a forgotten pod prints nothing', async () => {
  const out: string[] = [];
  const off = new PodTrace((f, ...a) => out.push(format(f, ...a)), false);
  off.seen('a');
  assert.equal(await off.step('a', 'image', async () => 7), 7);
  off.running('a', 'ns/a');
  const on = new PodTrace((f, ...a) => out.push(format(f, ...a)), true);
  on.seen('b');
  on.forget('b');
  on.running('b', 'ns/b');
  assert.deepEqual(out, []);
});
