// The authorizer's pieces without a server: rule matching (wildcards, subresources, resourceNames,
// non-resource URLs), request attributes as RequestInfo derives them, the index, escalation coverage,
// the token file and the 403 wording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PolicyRule } from '../../api/types.js';
import { forbidden, requestAttributes, type Attributes } from './attributes.js';
import { RbacAuthorizer } from './rbac.js';
import { ruleAllows, uncovered } from './rules.js';
import { parseTokenFile } from '../tokenfile.js';

const alice = { name: 'alice', groups: ['dev', 'system:authenticated'] };
const attrs = (method: string, path: string, query = ''): Attributes => requestAttributes(alice, method, path, new URLSearchParams(query));

test('request attributes: verbs, namespaces, subresources, collections, non-resource paths', () => {
  const cases: [string, string, string, Partial<Attributes>][] = [
    ['GET', '/api/v1/namespaces/ns1/pods', '', { verb: 'list', namespace: 'ns1', resource: 'pods', name: '' }],
    ['GET', '/api/v1/namespaces/ns1/pods', 'watch=1', { verb: 'watch', resource: 'pods' }],
    ['GET', '/api/v1/namespaces/ns1/pods', 'watch=true&fieldSelector=metadata.name%3Dp1', { verb: 'watch', name: 'p1' }],
    ['GET', '/api/v1/namespaces/ns1/pods/p1', '', { verb: 'get', name: 'p1' }],
    ['GET', '/api/v1/namespaces/ns1/pods/p1/log', '', { verb: 'get', resource: 'pods', subresource: 'log', name: 'p1' }],
    ['POST', '/api/v1/namespaces/ns1/pods/p1/exec', '', { verb: 'create', subresource: 'exec' }],
    ['DELETE', '/api/v1/namespaces/ns1/pods', '', { verb: 'deletecollection', resource: 'pods' }],
    ['DELETE', '/api/v1/namespaces/ns1/pods/p1', '', { verb: 'delete', name: 'p1' }],
    ['PATCH', '/apis/apps/v1/namespaces/ns1/deployments/d/scale', '', { verb: 'patch', apiGroup: 'apps', resource: 'deployments', subresource: 'scale' }],
    ['PUT', '/api/v1/namespaces/ns1/finalize', '', { verb: 'update', resource: 'namespaces', name: 'ns1', namespace: 'ns1', subresource: 'finalize' }],
    ['GET', '/api/v1/namespaces/ns1', '', { verb: 'get', resource: 'namespaces', name: 'ns1', namespace: 'ns1' }],
    ['GET', '/api/v1/nodes', '', { verb: 'list', resource: 'nodes', namespace: '' }],
    ['GET', '/api/v1/nodes/n1/proxy/stats', '', { verb: 'get', resource: 'nodes', name: 'n1', subresource: 'proxy' }],
    ['GET', '/api/v1/proxy/nodes/n1/x', '', { verb: 'proxy', resource: 'nodes', name: 'n1', subresource: '' }],
    ['GET', '/api/v1/watch/namespaces/ns1/pods', '', { verb: 'watch', namespace: 'ns1', resource: 'pods' }],
  ];
  for (const [m, p, q, want] of cases) {
    const a = attrs(m, p, q);
    assert.equal(a.resourceRequest, true, `${m} ${p}`);
    const got: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(want)) assert.equal(got[k], v, `${m} ${p}?${q}: ${k}`);
  }
  for (const p of ['/version', '/api', '/apis', '/apis/apps', '/api/v1', '/apis/apps/v1', '/openapi/v3/apis/apps/v1', '/healthz']) {
    const a = attrs('GET', p);
    assert.equal(a.resourceRequest, false, p);
    assert.equal(a.verb, 'get');
    assert.equal(a.path, p);
  }
});

test('rule matching: wildcards, */subresource, resourceNames, nonResourceURLs with a * suffix', () => {
  const r = (x: PolicyRule) => x;
  assert.ok(ruleAllows(attrs('GET', '/api/v1/namespaces/a/pods'), r({ verbs: ['list'], apiGroups: [''], resources: ['pods'] })));
  assert.ok(!ruleAllows(attrs('GET', '/api/v1/namespaces/a/pods'), r({ verbs: ['list'], apiGroups: ['apps'], resources: ['pods'] })));
  assert.ok(ruleAllows(attrs('DELETE', '/api/v1/namespaces/a/pods'), r({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] })));
  assert.ok(
    !ruleAllows(attrs('DELETE', '/api/v1/namespaces/a/pods'), r({ verbs: ['delete'], apiGroups: [''], resources: ['pods'] })),
    'delete is not deletecollection',
  );
  // subresources: pods does not cover pods/log; */log does; pods/* is not a wildcard
  const log = attrs('GET', '/api/v1/namespaces/a/pods/p/log');
  assert.ok(!ruleAllows(log, r({ verbs: ['get'], apiGroups: [''], resources: ['pods'] })));
  assert.ok(ruleAllows(log, r({ verbs: ['get'], apiGroups: [''], resources: ['pods/log'] })));
  assert.ok(ruleAllows(log, r({ verbs: ['get'], apiGroups: [''], resources: ['*/log'] })));
  assert.ok(!ruleAllows(log, r({ verbs: ['get'], apiGroups: [''], resources: ['pods/*'] })));
  // resourceNames: a named get matches, a list (no name) never does
  const named = r({ verbs: ['get', 'list'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['c1'] });
  assert.ok(ruleAllows(attrs('GET', '/api/v1/namespaces/a/configmaps/c1'), named));
  assert.ok(!ruleAllows(attrs('GET', '/api/v1/namespaces/a/configmaps/c2'), named));
  assert.ok(!ruleAllows(attrs('GET', '/api/v1/namespaces/a/configmaps'), named));
  assert.ok(ruleAllows(attrs('GET', '/api/v1/namespaces/a/configmaps', 'fieldSelector=metadata.name=c1'), named), 'a list narrowed to one name is that name');
  // non-resource URLs
  const urls = r({ verbs: ['get'], nonResourceURLs: ['/healthz', '/apis/*'] });
  assert.ok(ruleAllows(attrs('GET', '/healthz'), urls));
  assert.ok(!ruleAllows(attrs('GET', '/healthz/etcd'), urls));
  assert.ok(ruleAllows(attrs('GET', '/apis/apps'), urls));
  assert.ok(ruleAllows(attrs('GET', '/apis/'), urls));
  assert.ok(!ruleAllows(attrs('GET', '/apis'), urls));
  assert.ok(!ruleAllows(attrs('POST', '/healthz'), urls));
  assert.ok(!ruleAllows(attrs('GET', '/api/v1/namespaces/a/pods'), urls), 'a URL rule never allows a resource');
});

test('the index: bindings by user, group and service account; Role vs ClusterRole; updates and deletes', () => {
  const z = new RbacAuthorizer();
  z.setClusterRole({ metadata: { name: 'view' }, rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] }] });
  z.setRole({ metadata: { name: 'cm-writer', namespace: 'a' }, rules: [{ verbs: ['create'], apiGroups: [''], resources: ['configmaps'] }] });
  z.setBinding(
    {
      metadata: { name: 'v', namespace: 'a' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ kind: 'Group', name: 'dev', apiGroup: 'rbac.authorization.k8s.io' }],
    },
    true,
  );
  z.setBinding(
    {
      metadata: { name: 'w', namespace: 'a' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-writer' },
      subjects: [{ kind: 'ServiceAccount', name: 'bot' }],
    },
    true,
  );
  assert.equal(z.authorize(attrs('GET', '/api/v1/namespaces/a/pods')).allowed, true);
  assert.match(z.authorize(attrs('GET', '/api/v1/namespaces/a/pods')).reason, /^RBAC: allowed by RoleBinding "v\/a" of ClusterRole "view" to Group "dev"$/);
  assert.equal(z.authorize(attrs('GET', '/api/v1/namespaces/b/pods')).allowed, false, 'a RoleBinding is one namespace');
  assert.equal(z.authorize(attrs('GET', '/api/v1/pods')).allowed, false, 'nor cluster-wide');
  const bot = { name: 'system:serviceaccount:a:bot', groups: [] };
  assert.equal(z.authorize(requestAttributes(bot, 'POST', '/api/v1/namespaces/a/configmaps', new URLSearchParams())).allowed, true);
  assert.equal(z.authorize(requestAttributes(bot, 'POST', '/api/v1/namespaces/a/secrets', new URLSearchParams())).allowed, false);
  z.deleteRole({ metadata: { name: 'cm-writer', namespace: 'a' } });
  const d = z.authorize(requestAttributes(bot, 'POST', '/api/v1/namespaces/a/configmaps', new URLSearchParams()));
  assert.deepEqual(d, { allowed: false, reason: 'RBAC: role.rbac.authorization.k8s.io "cm-writer" not found' });
  z.setBinding(
    {
      metadata: { name: 'v', namespace: 'a' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ kind: 'User', name: 'bob', apiGroup: 'rbac.authorization.k8s.io' }],
    },
    true,
  );
  assert.equal(z.authorize(attrs('GET', '/api/v1/namespaces/a/pods')).allowed, false, 'an updated binding drops the old subject');
  z.deleteBinding({ metadata: { name: 'v', namespace: 'a' } }, true);
  assert.deepEqual(z.counts, { roles: 0, clusterRoles: 1, bindings: 1 });
  assert.equal(z.authorize(requestAttributes({ name: 'root', groups: ['system:masters'] }, 'DELETE', '/api/v1/nodes/x', new URLSearchParams())).allowed, true);
});

test('403 wording as upstream: namespaced, cluster scope, subresource, named, non-resource', () => {
  const msg = (m: string, p: string, q = '') => forbidden(attrs(m, p, q)).message;
  assert.equal(
    msg('DELETE', '/api/v1/namespaces/a/pods/p1'),
    'pods "p1" is forbidden: User "alice" cannot delete resource "pods" in API group "" in the namespace "a"',
  );
  assert.equal(msg('GET', '/api/v1/nodes'), 'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope');
  assert.equal(
    msg('POST', '/api/v1/namespaces/a/pods/p1/exec'),
    'pods "p1" is forbidden: User "alice" cannot create resource "pods/exec" in API group "" in the namespace "a"',
  );
  assert.equal(
    msg('DELETE', '/apis/apps/v1/namespaces/a/deployments'),
    'deployments.apps is forbidden: User "alice" cannot deletecollection resource "deployments" in API group "apps" in the namespace "a"',
  );
  assert.equal(msg('GET', '/metrics'), 'forbidden: User "alice" cannot get path "/metrics"');
  const e = forbidden(attrs('GET', '/apis/apps/v1/namespaces/a/deployments/d'));
  assert.deepEqual(e.toStatus().details, { name: 'd', group: 'apps', kind: 'deployments' });
});

test('escalation coverage: wildcards cover, resourceNames narrow, URLs', () => {
  const owner: PolicyRule[] = [
    { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods', 'configmaps'] },
    { verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['s1'] },
  ];
  assert.deepEqual(uncovered(owner, [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]), []);
  assert.deepEqual(uncovered(owner, [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['s1'] }]), []);
  assert.equal(uncovered(owner, [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }]).length, 1);
  assert.equal(uncovered(owner, [{ verbs: ['*'], apiGroups: [''], resources: ['pods'] }]).length, 1, 'a wildcard asked for needs a wildcard held');
  assert.equal(uncovered(owner, [{ verbs: ['get', 'delete'], apiGroups: [''], resources: ['pods'] }]).length, 1);
  assert.deepEqual(
    uncovered(
      [
        { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
        { verbs: ['*'], nonResourceURLs: ['*'] },
      ],
      [
        { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
        { verbs: ['get'], nonResourceURLs: ['/x/*'] },
      ],
    ),
    [],
  );
  assert.equal(uncovered([{ verbs: ['get'], nonResourceURLs: ['/x/*'] }], [{ verbs: ['get'], nonResourceURLs: ['/y'] }]).length, 1);
});

test("token file: kube-apiserver's CSV, groups quoted, mistakes named by line", () => {
  const m = parseTokenFile('# users\nt1,alice,u1,"dev,ops"\n\nt2,bob,u2\nt3,carol,,viewers\n');
  assert.deepEqual(m.get('t1'), { name: 'alice', uid: 'u1', groups: ['dev', 'ops'] });
  assert.deepEqual(m.get('t2'), { name: 'bob', uid: 'u2', groups: [] });
  assert.deepEqual(m.get('t3'), { name: 'carol', groups: ['viewers'] });
  assert.throws(() => parseTokenFile('t1,alice'), /line 1: expected token,user,uid/);
  assert.throws(() => parseTokenFile('x,a,1\nx,b,2'), /line 2: duplicate token/);
  assert.throws(() => parseTokenFile('x,a,1,"dev'), /line 1: unterminated quoted field/);
  assert.throws(() => parseTokenFile(',a,1'), /line 1: the token is empty/);
});
