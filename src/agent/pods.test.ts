// The pod phase the agent posts, from its containers' states and the restart policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podPhase } from './pods.js';

const c = (o: Partial<Parameters<typeof podPhase>[0]>) => ({ total: 1, running: 0, terminated: 0, failed: 0, waiting: 0, restarted: false, ...o });

test('a pod whose containers all exited is finished only when nothing restarts them', () => {
  assert.equal(podPhase(c({ terminated: 1, failed: 1 }), 'Always'), 'Running');
  assert.equal(podPhase(c({ terminated: 1 }), 'Always'), 'Running');
  assert.equal(podPhase(c({ terminated: 1, failed: 1 }), 'OnFailure'), 'Running');
  assert.equal(podPhase(c({ terminated: 1 }), 'OnFailure'), 'Succeeded');
  assert.equal(podPhase(c({ terminated: 1, failed: 1 }), 'Never'), 'Failed');
  assert.equal(podPhase(c({ total: 2, terminated: 2 }), 'Never'), 'Succeeded');
});

test('running, waiting and restarted containers', () => {
  assert.equal(podPhase(c({ waiting: 1 }), 'Always'), 'Pending');
  assert.equal(podPhase(c({ running: 1 }), 'Always'), 'Running');
  assert.equal(podPhase(c({ total: 2, running: 1, waiting: 1 }), 'Never'), 'Running');
  assert.equal(podPhase(c({ waiting: 1, restarted: true }), 'Always'), 'Running', 'CrashLoopBackOff keeps a started pod Running');
  assert.equal(podPhase(c({ total: 0 }), 'Always'), 'Pending');
});
