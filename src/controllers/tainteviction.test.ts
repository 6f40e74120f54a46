// When taint-based eviction deletes a pod, on upstream's cases (taint_eviction_test.go as the model), and
// the budget arithmetic of the disruption controller (disruption_test.go).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PodDisruptionBudget, Pod, Taint, Toleration } from '../api/types.js';
import { evictionTime } from './tainteviction.js';
import { budgetCounts, scaled } from './disruption.js';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const taint = (key: string, effect = 'NoExecute'): Taint => ({ key, effect, timeAdded: '2025-01-01T00:00:00Z' });
const tol = (key: string, seconds?: number, effect = 'NoExecute'): Toleration => ({
  key,
  operator: 'Exists',
  effect,
  ...(seconds === undefined ? {} : { tolerationSeconds: seconds }),
});

test('taint eviction: untolerated at once, tolerated for tolerationSeconds, unlimited stays, NoSchedule ignored', () => {
  const at = T0 + 1000;
  assert.equal(evictionTime([taint('a', 'NoSchedule')], [], at), undefined);
  assert.equal(evictionTime([taint('a')], [], at), at);
  assert.equal(evictionTime([taint('a')], [tol('b', 10)], at), at);
  assert.equal(evictionTime([taint('a')], [tol('a', 10)], at), T0 + 10_000);
  assert.equal(evictionTime([taint('a')], [tol('a')], at), undefined);
  // Two taints: the shortest limit among the matched tolerations counts; an unlimited one does not extend it.
  assert.equal(evictionTime([taint('a'), taint('b')], [tol('a'), tol('b', 30)], at), T0 + 30_000);
  assert.equal(evictionTime([taint('a'), taint('b')], [tol('a', 5), tol('b', 30)], at), T0 + 5_000);
  // One untolerated taint among tolerated ones evicts at once; zero or negative seconds too.
  assert.equal(evictionTime([taint('a'), taint('b')], [tol('a')], at), at);
  assert.equal(evictionTime([taint('a')], [tol('a', 0)], at), at);
  assert.equal(evictionTime([taint('a')], [tol('a', -5)], at), at);
  // A toleration for another effect does not match; an empty-key Exists matches everything.
  assert.equal(evictionTime([taint('a')], [tol('a', undefined, 'NoSchedule')], at), at);
  assert.equal(evictionTime([taint('a'), taint('b')], [{ operator: 'Exists' }], at), undefined);
  // A taint without timeAdded counts from now.
  assert.equal(evictionTime([{ key: 'a', effect: 'NoExecute' }], [tol('a', 2)], at), at + 2000);
});

const pods = (n: number): Pod[] => Array.from({ length: n }, (_, i) => ({ metadata: { name: `p${i}` } }));
const pdb = (spec: PodDisruptionBudget['spec']): PodDisruptionBudget => ({ metadata: { name: 'b' }, spec });

test('disruption budgets: percentages round up, maxUnavailable and percentages ask the controllers', async () => {
  assert.equal(scaled('50%', 5), 3);
  assert.equal(scaled('10%', 1), 1);
  assert.equal(scaled(2, 10), 2);
  const never = async () => assert.fail('controllers asked for an integer minAvailable');
  assert.deepEqual(await budgetCounts(pdb({ minAvailable: 2 }), pods(3), never), { expectedPods: 3, desiredHealthy: 2 });
  assert.deepEqual(await budgetCounts(pdb({ minAvailable: '50%' }), pods(3), async () => 5), { expectedPods: 5, desiredHealthy: 3 });
  assert.deepEqual(await budgetCounts(pdb({ maxUnavailable: 1 }), pods(3), async () => 4), { expectedPods: 4, desiredHealthy: 3 });
  assert.deepEqual(await budgetCounts(pdb({ maxUnavailable: '30%' }), pods(3), async () => 10), { expectedPods: 10, desiredHealthy: 7 });
  assert.deepEqual(await budgetCounts(pdb({ maxUnavailable: 5 }), pods(3), async () => 3), { expectedPods: 3, desiredHealthy: 0 });
  assert.deepEqual(await budgetCounts(pdb({}), pods(3), never), { expectedPods: 0, desiredHealthy: 0 });
});
