// The steps runner: one line per step, and on failure every completed step undone in reverse order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../util/exec.js';
import { LabError } from './errors.js';
import { type Step, StepError, runSteps } from './steps.js';
import { captureLog } from './testkit.js';

function recorder() {
  const events: string[] = [];
  const step = (name: string, fail?: () => Promise<void>): Step => ({
    name,
    execute: async () => {
      events.push(`do ${name}`);
      if (fail) await fail();
    },
    undo: () => {
      events.push(`undo ${name}`);
    },
  });
  return { events, step };
}

test('every step runs in order and prints one ✓ line with its duration', async () => {
  const { events, step } = recorder();
  const { lines, log } = captureLog();
  await runSteps([step('Creating node network k8ts0 172.30.0.0/24'), step('Creating 2 nodes')], { log });
  assert.deepEqual(events, ['do Creating node network k8ts0 172.30.0.0/24', 'do Creating 2 nodes']);
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^✓ Creating node network k8ts0 172\.30\.0\.0\/24 \(\d+ ms\)$/);
  assert.match(lines[1], /^✓ Creating 2 nodes \(\d+ ms\)$/);
});

test('a failing command undoes the failed step and every completed one, in reverse, and names the step', async () => {
  const { events, step } = recorder();
  const { lines, log } = captureLog();
  const steps = [
    step('one'),
    step('two'),
    step('three', async () => {
      await run(['sh', '-c', 'echo boom >&2; exit 3']);
    }),
    step('four'),
  ];
  await assert.rejects(runSteps(steps, { log }), (e: unknown) => {
    assert.ok(e instanceof StepError && e instanceof LabError);
    assert.equal(e.code, 'StepFailed');
    assert.equal(e.step, 'three');
    assert.deepEqual(e.command, ['sh', '-c', 'echo boom >&2; exit 3']);
    assert.equal(e.stderr, 'boom\n');
    assert.match(e.message, /^three: command failed \(exit 3\): sh -c .*\nboom/);
    assert.deepEqual(e.undoErrors, []);
    return true;
  });
  assert.deepEqual(events, ['do one', 'do two', 'do three', 'undo three', 'undo two', 'undo one']);
  assert.match(lines[2], /^✗ three \(\d+ ms\)$/);
  assert.deepEqual(
    lines.slice(3).map((l) => l.replace(/ \(\d+ ms\)$/, '')),
    ['✓ Undo: three', '✓ Undo: two', '✓ Undo: one'],
  );
});

test('an undo that fails is reported without hiding the original failure; the other undos still run', async () => {
  const events: string[] = [];
  const steps: Step[] = [
    { name: 'a', execute: () => {}, undo: () => void events.push('undo a') },
    {
      name: 'b',
      execute: () => {},
      undo: () => {
        throw new Error('cannot undo b');
      },
    },
    {
      name: 'c',
      execute: () => {
        throw new Error('c broke');
      },
    },
  ];
  const { lines, log } = captureLog();
  await assert.rejects(runSteps(steps, { log }), (e: unknown) => {
    assert.ok(e instanceof StepError);
    assert.equal(e.step, 'c');
    assert.equal((e.cause as Error).message, 'c broke');
    assert.equal(e.undoErrors.length, 1);
    assert.equal(e.undoErrors[0].step, 'b');
    assert.match(e.message, /^c: c broke; undoing "b" also failed: cannot undo b$/);
    return true;
  });
  assert.deepEqual(events, ['undo a']);
  assert.ok(lines.some((l) => /^✗ Undo: b/.test(l)));
});

test('retain keeps what was made', async () => {
  const { events, step } = recorder();
  await assert.rejects(
    runSteps(
      [
        step('one'),
        step('two', async () => {
          throw new Error('no');
        }),
      ],
      { log: () => {}, retain: true },
    ),
    StepError,
  );
  assert.deepEqual(events, ['do one', 'do two']);
});
