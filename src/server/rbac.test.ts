// RBAC against a real API server: users from a token file, the default roles, 403s worded as upstream,
// watch / deletecollection / subresources, escalation refused, impersonation with and without the
// verb, the reviews, aggregation and the bootstrap reconcile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { RestClient } from '../client/rest.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, eventually, type TestCluster } from '../controllers/testutil.js';
import type { SelfSubjectReview } from 'kubernetes-types/authentication/v1.js';
import type { NonResourceRule, SelfSubjectAccessReview, SubjectAccessReview } from 'kubernetes-types/authorization/v1.js';
import type { Status } from 'kubernetes-types/meta/v1.js';
import type { ClusterRole, ClusterRoleBinding, ClusterRoleList, RoleBinding } from 'kubernetes-types/rbac/v1.js';
import { callAs, mustReply as must, type Reply } from '../testing/https-call.js';
import { LocalClient } from '../apiserver/localclient.js';
import { CLUSTERROLEBINDINGS, CLUSTERROLES } from '../api/kinds.js';
import { reconcileBootstrapPolicy } from '../apiserver/authz/bootstrap.js';

let tc: TestCluster;
let dir: string;
let tokDir: string;
let ca: string;

const call = (token: string, method: string, path: string, body?: unknown, headers: Record<string, string | string[]> = {}): Promise<Reply> =>
  callAs(tc.s.url, ca, token, method, path, body, headers);

const ADMIN = () => tc.s.token;
const VIEWER = 'viewer-token-0123456789';
const DEV = 'dev-token-0123456789';
const rbacPath = (ns: string | undefined, plural: string) => `/apis/rbac.authorization.k8s.io/v1/${ns ? `namespaces/${ns}/` : ''}${plural}`;
const binding = (name: string, kind: string, role: string, subjects: unknown[]) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: role },
  subjects,
});
const userSubject = (name: string) => ({ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name });

/** A refusal or a 422 as these tests read it: a Status whose message they match. */
type Refused = Status & { message: string };
/** A SelfSubjectRulesReview's answer, written here because kubernetes-types' ResourceRule has lost
 *  `resources` and `verbs` (upstream's authorization/v1 ResourceRule has both, `verbs` required). */
interface RulesReview {
  status: { resourceRules: { apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; verbs: string[] }[]; nonResourceRules: NonResourceRule[] };
}

before(async () => {
  tokDir = mkdtempSync(join(tmpdir(), 'k8ts-rbac-'));
  const tokens = join(tokDir, 'tokens.csv');
  writeFileSync(tokens, `${VIEWER},viewer,uid-v,"viewers"\n${DEV},dev,uid-d\n`, { mode: 0o600 });
  tc = await startCluster({ tokenAuthFile: tokens });
  ca = readFileSync(tc.s.caPath, 'utf8');
  dir = tc.s.kubeconfigPath.replace(/\/kubeconfig$/, '');
  for (const ns of ['team', 'other']) await must(call(ADMIN(), 'POST', '/api/v1/namespaces', { metadata: { name: ns } }), 201);
  await must(
    call(
      ADMIN(),
      'POST',
      rbacPath('team', 'rolebindings'),
      binding('viewers-view', 'ClusterRole', 'view', [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'viewers' }]),
    ),
    201,
  );
  await must(call(ADMIN(), 'POST', '/api/v1/namespaces/team/pods', { metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }), 201);
});

after(async () => {
  await tc?.close();
  if (tokDir) rmSync(tokDir, { recursive: true, force: true });
});

test('the default roles and bindings are there, view is aggregated', async () => {
  const list = await must<ClusterRoleList>(call(ADMIN(), 'GET', rbacPath(undefined, 'clusterroles')), 200);
  const names = list.items.map((i) => i.metadata?.name);
  for (const n of [
    'cluster-admin',
    'admin',
    'edit',
    'view',
    'system:basic-user',
    'system:discovery',
    'system:public-info-viewer',
    'system:kube-controller-manager',
    'system:kube-scheduler',
    'system:node-proxier',
    'system:node',
    'k8ts:node-agent',
  ])
    assert.ok(names.includes(n), n);
  const crb = await must<ClusterRoleBinding>(call(ADMIN(), 'GET', `${rbacPath(undefined, 'clusterrolebindings')}/cluster-admin`), 200);
  assert.deepEqual(crb.subjects, [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:masters' }]);
  await eventually('view and edit aggregated', async () => {
    const view = await must<ClusterRole>(call(ADMIN(), 'GET', `${rbacPath(undefined, 'clusterroles')}/view`), 200);
    assert.ok(
      view.rules?.some((r) => r.resources?.includes('pods') && r.verbs.includes('list')),
      JSON.stringify(view.rules),
    );
    const edit = await must<ClusterRole>(call(ADMIN(), 'GET', `${rbacPath(undefined, 'clusterroles')}/edit`), 200);
    assert.ok(
      edit.rules?.some((r) => r.resources?.includes('pods/exec') && r.verbs.includes('create')),
      'edit holds exec',
    );
    assert.ok(
      edit.rules?.some((r) => r.resources?.includes('pods/log')),
      'edit aggregates view',
    );
    return true;
  });
});

test('a user bound to view reads, watches and logs but cannot delete, deletecollection or exec (403 as upstream)', async () => {
  await must(call(VIEWER, 'GET', '/api/v1/namespaces/team/pods'), 200);
  await must(call(VIEWER, 'GET', '/api/v1/namespaces/team/pods/p1'), 200);
  await must(call(VIEWER, 'GET', '/api/v1/namespaces/team/pods?watch=1'), 200);
  const del = await must<Refused>(call(VIEWER, 'DELETE', '/api/v1/namespaces/team/pods/p1'), 403);
  assert.equal(del.message, 'pods "p1" is forbidden: User "viewer" cannot delete resource "pods" in API group "" in the namespace "team"');
  assert.equal(del.reason, 'Forbidden');
  assert.deepEqual(del.details, { name: 'p1', kind: 'pods' });
  const dc = await must<Refused>(call(VIEWER, 'DELETE', '/api/v1/namespaces/team/pods'), 403);
  assert.equal(dc.message, 'pods is forbidden: User "viewer" cannot deletecollection resource "pods" in API group "" in the namespace "team"');
  const ex = await must<Refused>(call(VIEWER, 'POST', '/api/v1/namespaces/team/pods/p1/exec?command=id'), 403);
  assert.equal(ex.message, 'pods "p1" is forbidden: User "viewer" cannot create resource "pods/exec" in API group "" in the namespace "team"');
  // pods/log passes authorization (the pod has no node, so the log itself is not there)
  assert.notEqual((await call(VIEWER, 'GET', '/api/v1/namespaces/team/pods/p1/log')).code, 403);
  const other = await must<Refused>(call(VIEWER, 'GET', '/api/v1/namespaces/other/pods?watch=true'), 403);
  assert.equal(other.message, 'pods is forbidden: User "viewer" cannot watch resource "pods" in API group "" in the namespace "other"');
  const secrets = await must<Refused>(call(VIEWER, 'GET', '/api/v1/namespaces/team/secrets'), 403);
  assert.match(secrets.message, /cannot list resource "secrets"/);
  const nodes = await must<Refused>(call(VIEWER, 'GET', '/api/v1/nodes'), 403);
  assert.equal(nodes.message, 'nodes is forbidden: User "viewer" cannot list resource "nodes" in API group "" at the cluster scope');
  // discovery is everyone's; other paths are not
  await must(call(VIEWER, 'GET', '/apis'), 200);
  await must(call(VIEWER, 'GET', '/version'), 200);
  const m = await must<Refused>(call(VIEWER, 'GET', '/metrics'), 403);
  assert.equal(m.message, 'forbidden: User "viewer" cannot get path "/metrics"');
  // a connection upgrade is authorized before it is forwarded
  const up = await must<Refused>(
    call(VIEWER, 'GET', '/api/v1/namespaces/team/pods/p1/exec?command=id', undefined, { connection: 'Upgrade', upgrade: 'websocket' }),
    403,
  );
  assert.match(up.message, /cannot (get|create) resource "pods\/exec"/);
});

test('escalation: no granting what you do not hold, unless escalate or bind', async () => {
  const role = (name: string, rules: unknown[]) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules });
  // dev may manage roles and bindings in team, and read pods there; nothing else
  await must(
    call(
      ADMIN(),
      'POST',
      rbacPath('team', 'roles'),
      role('rbac-manager', [
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['create', 'get', 'update', 'patch', 'delete'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      ]),
    ),
    201,
  );
  await must(call(ADMIN(), 'POST', rbacPath('team', 'rolebindings'), binding('dev-rbac', 'Role', 'rbac-manager', [userSubject('dev')])), 201);
  await eventually('dev bound', async () => must(call(DEV, 'GET', '/api/v1/namespaces/team/pods'), 200));
  // a role within what dev holds: fine
  await must(call(DEV, 'POST', rbacPath('team', 'roles'), role('pod-reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }])), 201);
  // more than dev holds: refused, naming what is missing
  const esc = await must<Refused>(
    call(DEV, 'POST', rbacPath('team', 'roles'), role('pod-killer', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'delete'] }])),
    403,
  );
  assert.equal(
    esc.message,
    'roles.rbac.authorization.k8s.io "pod-killer" is forbidden: user "dev" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}',
  );
  // widening an existing role by patch: refused too
  await must(call(DEV, 'PATCH', `${rbacPath('team', 'roles')}/pod-reader`, { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] }), 403);
  // a binding to a role dev does not hold (admin): refused; to one within: fine
  const b = await must<Refused>(call(DEV, 'POST', rbacPath('team', 'rolebindings'), binding('grab-admin', 'ClusterRole', 'admin', [userSubject('dev')])), 403);
  assert.match(b.message, /^rolebindings\.rbac\.authorization\.k8s\.io "grab-admin" is forbidden: user "dev" .* not currently held/);
  await must(call(DEV, 'POST', rbacPath('team', 'rolebindings'), binding('readers', 'Role', 'pod-reader', [userSubject('viewer')])), 201);
  // a binding to a missing role names it
  const missing = await must<Refused>(call(DEV, 'POST', rbacPath('team', 'rolebindings'), binding('ghost', 'Role', 'nope', [userSubject('dev')])), 403);
  assert.match(missing.message, /role\.rbac\.authorization\.k8s\.io "nope" not found/);
  // bind on the admin ClusterRole, escalate on roles: both let dev through
  await must(
    call(
      ADMIN(),
      'POST',
      rbacPath('team', 'roles'),
      role('binder', [
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'], resourceNames: ['admin'] },
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate'] },
      ]),
    ),
    201,
  );
  await must(call(ADMIN(), 'POST', rbacPath('team', 'rolebindings'), binding('dev-binder', 'Role', 'binder', [userSubject('dev')])), 201);
  await eventually('dev may bind admin', async () =>
    must(call(DEV, 'POST', rbacPath('team', 'rolebindings'), binding('grab-admin', 'ClusterRole', 'admin', [userSubject('dev')])), 201),
  );
  await must(call(DEV, 'POST', rbacPath('team', 'roles'), role('pod-killer', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'delete'] }])), 201);
  // cluster-wide: dev holds nothing at cluster scope
  const cr = await call(DEV, 'POST', rbacPath(undefined, 'clusterroles'), {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'dev-cr' },
    rules: [],
  });
  assert.equal(cr.code, 403);
});

test('impersonation: 403 without the verb, the impersonated user with it', async () => {
  const no = await must<Refused>(call(DEV, 'GET', '/api/v1/namespaces/team/pods', undefined, { 'impersonate-user': 'viewer' }), 403);
  assert.equal(no.message, 'users "viewer" is forbidden: User "dev" cannot impersonate resource "users" in API group "" at the cluster scope');
  await must(
    call(ADMIN(), 'POST', rbacPath(undefined, 'clusterroles'), {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'impersonate-viewer' },
      rules: [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: ['viewer'] }],
    }),
    201,
  );
  await must(
    call(ADMIN(), 'POST', rbacPath(undefined, 'clusterrolebindings'), {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'dev-impersonates' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'impersonate-viewer' },
      subjects: [userSubject('dev')],
    }),
    201,
  );
  await eventually('dev may impersonate viewer', async () => {
    const who = await must<SelfSubjectReview>(
      call(
        DEV,
        'POST',
        '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
        { 'impersonate-user': 'viewer' },
      ),
      201,
    );
    assert.deepEqual(who.status?.userInfo, { username: 'viewer', groups: ['system:authenticated'] });
    return true;
  });
  // as viewer (no group asked for) the viewers binding does not apply: groups come only from the headers
  await must(call(DEV, 'GET', '/api/v1/namespaces/team/configmaps', undefined, { 'impersonate-user': 'viewer' }), 403);
  const g = await must<Refused>(
    call(DEV, 'GET', '/api/v1/namespaces/team/pods', undefined, { 'impersonate-user': 'viewer', 'impersonate-group': 'viewers' }),
    403,
  );
  assert.equal(g.message, 'groups "viewers" is forbidden: User "dev" cannot impersonate resource "groups" in API group "" at the cluster scope');
  // dev holds admin in team since the escalation test (edit's impersonate on serviceaccounts), not in other
  const sa = await must<Refused>(call(DEV, 'GET', '/api/v1/namespaces/other/pods', undefined, { 'impersonate-user': 'system:serviceaccount:other:bot' }), 403);
  assert.equal(
    sa.message,
    'serviceaccounts "bot" is forbidden: User "dev" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "other"',
  );
  const asSa = await must<Refused>(call(DEV, 'GET', '/api/v1/namespaces/team/pods', undefined, { 'impersonate-user': 'system:serviceaccount:team:bot' }), 403);
  assert.equal(asSa.message, 'pods is forbidden: User "system:serviceaccount:team:bot" cannot list resource "pods" in API group "" in the namespace "team"');
  await must(call(DEV, 'GET', '/api/v1/namespaces/team/pods', undefined, { 'impersonate-group': 'viewers' }), 400);
  // the admin (system:masters) may impersonate anyone, and then has only their rights
  const asViewer = await must<Refused>(
    call(ADMIN(), 'DELETE', '/api/v1/namespaces/team/pods/p1', undefined, { 'impersonate-user': 'viewer', 'impersonate-group': 'viewers' }),
    403,
  );
  assert.match(asViewer.message, /User "viewer" cannot delete/);
});

test('reviews: self access, subject access, rules, whoami', async () => {
  const ssar = (token: string, attrs: unknown) =>
    must<SelfSubjectAccessReview>(
      call(token, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: attrs,
      }),
      201,
    );
  assert.equal((await ssar(VIEWER, { resourceAttributes: { namespace: 'team', verb: 'list', resource: 'pods' } })).status?.allowed, true);
  const no = await ssar(VIEWER, { resourceAttributes: { namespace: 'team', verb: 'delete', resource: 'pods' } });
  assert.equal(no.status?.allowed, false);
  assert.equal(no.kind, 'SelfSubjectAccessReview');
  assert.equal((await ssar(VIEWER, { nonResourceAttributes: { path: '/version', verb: 'get' } })).status?.allowed, true);
  const bad = await must<Refused>(
    call(VIEWER, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: {},
    }),
    422,
  );
  assert.match(bad.message, /exactly one of nonResourceAttributes or resourceAttributes must be specified/);
  // SubjectAccessReview is for those allowed to create it (the admin here), not for the viewer
  await must(
    call(VIEWER, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: 'x' },
    }),
    403,
  );
  const sar = await must<SubjectAccessReview>(
    call(ADMIN(), 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: 'someone', groups: ['viewers'], resourceAttributes: { namespace: 'team', verb: 'get', resource: 'pods', name: 'p1' } },
    }),
    201,
  );
  assert.deepEqual(sar.status, { allowed: true, reason: 'RBAC: allowed by RoleBinding "viewers-view/team" of ClusterRole "view" to Group "viewers"' });
  const rules = await must<RulesReview>(
    call(VIEWER, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectRulesReview',
      spec: { namespace: 'team' },
    }),
    201,
  );
  assert.ok(rules.status.resourceRules.some((r) => r.resources?.includes('pods') && r.verbs.includes('watch')));
  assert.ok(rules.status.resourceRules.some((r) => r.resources?.includes('selfsubjectaccessreviews')));
  assert.ok(rules.status.nonResourceRules.some((r) => r.nonResourceURLs?.includes('/api/*')));
  const who = await must<SelfSubjectReview>(
    call(VIEWER, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
    201,
  );
  assert.deepEqual(who.status?.userInfo, { username: 'viewer', uid: 'uid-v', groups: ['viewers', 'system:authenticated'] });
  await must(call(VIEWER, 'GET', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'), 403);
  await must(call(ADMIN(), 'GET', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'), 405);
});

test('validation: rules, roleRef and subjects are checked (422 naming the field)', async () => {
  const bad = await must<Refused>(
    call(ADMIN(), 'POST', rbacPath('team', 'roles'), {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'bad' },
      rules: [
        { verbs: [], apiGroups: [''], resources: ['pods'] },
        { verbs: ['get'], nonResourceURLs: ['/x'] },
      ],
    }),
    422,
  );
  assert.match(bad.message, /rules\[0\]\.verbs: Required value: verbs must contain at least one value/);
  assert.match(bad.message, /rules\[1\]\.nonResourceURLs: Invalid value: \[\]string\{"\/x"\}: namespaced rules cannot apply to non-resource URLs/);
  const rb = await must<Refused>(
    call(ADMIN(), 'POST', rbacPath(undefined, 'clusterrolebindings'), {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'bad' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'x' },
      subjects: [
        { kind: 'ServiceAccount', name: 'sa' },
        { kind: 'Robot', name: 'r' },
      ],
    }),
    422,
  );
  assert.match(rb.message, /roleRef\.kind: Unsupported value: "Role": supported values: "ClusterRole"/);
  assert.match(rb.message, /subjects\[0\]\.namespace: Required value/);
  assert.match(rb.message, /subjects\[1\]\.kind: Unsupported value: "Robot"/);
  const created = await must<RoleBinding>(
    call(ADMIN(), 'POST', rbacPath('team', 'rolebindings'), {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'defaults' },
      roleRef: { kind: 'ClusterRole', name: 'view' },
      subjects: [
        { kind: 'User', name: 'u' },
        { kind: 'ServiceAccount', name: 'sa' },
      ],
    }),
    201,
  );
  assert.equal(created.roleRef.apiGroup, 'rbac.authorization.k8s.io');
  assert.deepEqual(
    created.subjects?.map((s) => s.apiGroup),
    ['rbac.authorization.k8s.io', ''],
  );
  const ch = await must<Refused>(
    call(ADMIN(), 'PATCH', `${rbacPath('team', 'rolebindings')}/defaults`, {
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    }),
    422,
  );
  assert.match(ch.message, /roleRef: Invalid value: .*cannot change roleRef/);
});

test('there is no shared node token; the API server meets agents as kube-apiserver-kubelet-client in system:masters', async () => {
  assert.equal(existsSync(join(dir, 'node.token')), false, 'no node.token is made');
  const c = new RestClient({
    server: tc.s.url,
    ca,
    cert: readFileSync(join(dir, 'pki/apiserver-kubelet-client.crt')),
    key: readFileSync(join(dir, 'pki/apiserver-kubelet-client.key')),
  });
  try {
    const me = (
      await c.postPath<SelfSubjectReview>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'SelfSubjectReview',
      })
    ).status?.userInfo;
    assert.equal(me?.username, 'kube-apiserver-kubelet-client');
    assert.deepEqual(me?.groups, ['system:masters', 'system:authenticated']);
  } finally {
    c.close();
  }
});

test("bootstrap reconcile puts back a default role's missing rules and keeps additions; autoupdate=false is left alone", async () => {
  const c = new LocalClient(tc.s.api.registry);
  const basic = (await c.get(CLUSTERROLES, undefined, 'system:basic-user'))!;
  const extra = { verbs: ['get'], apiGroups: [''], resources: ['configmaps'] };
  await c.update(CLUSTERROLES, undefined, { ...basic, rules: [extra] });
  const changed = await reconcileBootstrapPolicy(c);
  assert.deepEqual(changed, ['clusterrole/system:basic-user updated']);
  const after1 = (await c.get(CLUSTERROLES, undefined, 'system:basic-user'))!;
  assert.deepEqual(after1.rules![0], extra);
  assert.ok(after1.rules!.some((r) => r.resources?.includes('selfsubjectaccessreviews')));
  const disc = (await c.get(CLUSTERROLES, undefined, 'system:discovery'))!;
  await c.update(CLUSTERROLES, undefined, {
    ...disc,
    metadata: { ...disc.metadata, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'false' } },
    rules: [],
  });
  assert.deepEqual(await reconcileBootstrapPolicy(c), []);
  await c.delete(CLUSTERROLES, undefined, 'system:discovery');
  assert.deepEqual(await reconcileBootstrapPolicy(c), ['clusterrole/system:discovery created']);
});

test('k8ts:node-agent is reconciled to exactly its rules: what an older version granted every node (PV writes) goes', async () => {
  const c = new LocalClient(tc.s.api.registry);
  const role = (await c.get(CLUSTERROLES, undefined, 'k8ts:node-agent'))!;
  const want = structuredClone(role.rules);
  assert.ok(
    !role.rules!.some((r) => r.resources?.some((x) => x.startsWith('persistentvolume') || x === 'secrets' || x === 'configmaps')),
    'no volume, claim, secret or configmap rule for every node: the Node authorizer grants those per pod',
  );
  await c.update(CLUSTERROLES, undefined, {
    ...role,
    rules: [...role.rules!, { verbs: ['get', 'list', 'watch', 'update', 'patch'], apiGroups: [''], resources: ['persistentvolumes'] }],
  });
  assert.deepEqual(await reconcileBootstrapPolicy(c), ['clusterrole/k8ts:node-agent updated']);
  assert.deepEqual((await c.get(CLUSTERROLES, undefined, 'k8ts:node-agent'))!.rules, want);
  // system:node holds upstream's NodeRules and, as upstream, is bound to no one.
  const sysNode = (await c.get(CLUSTERROLES, undefined, 'system:node'))!;
  assert.ok(sysNode.rules!.some((r) => r.resources?.includes('persistentvolumes') && r.verbs?.join() === 'get'));
  assert.deepEqual((await c.get(CLUSTERROLEBINDINGS, undefined, 'system:node'))!.subjects ?? [], []);
  assert.deepEqual((await c.get(CLUSTERROLEBINDINGS, undefined, 'system:service-account-issuer-discovery'))!.subjects, [
    { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:serviceaccounts' },
  ]);
  assert.deepEqual((await c.get(CLUSTERROLEBINDINGS, undefined, 'system:discovery'))!.subjects, [
    { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:authenticated' },
  ]);
});
