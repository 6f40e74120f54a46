// ClusterRole aggregation's rule union, without a server (the controller itself runs in src/server/rbac.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregatedRules } from './clusterroleaggregation.js';

test('aggregation: the union of the selected roles, by name, without duplicates or itself', () => {
  const sel = { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' };
  const view = { metadata: { name: 'view', labels: sel }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: sel }] }, rules: [] };
  const b = { metadata: { name: 'b', labels: sel }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }] };
  const a = {
    metadata: { name: 'a', labels: sel },
    rules: [
      { verbs: ['list'], apiGroups: [''], resources: ['pods'] },
      { verbs: ['get'], apiGroups: [''], resources: ['pods'] },
    ],
  };
  const other = { metadata: { name: 'c' }, rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] };
  assert.deepEqual(aggregatedRules(view, [view, b, a, other]), [a.rules[0], a.rules[1]]);
});
