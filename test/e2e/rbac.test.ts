// RBAC with the real kubectl against a real k8ts server: `auth can-i [--list]`, `auth whoami`, `--as` /
// `--as-group`, the RBAC tables and describe, a user bound to view refused a delete, and a chart-like
// set (ServiceAccount, Role, RoleBinding) applied and then holding exactly what it grants.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, kubectlBinary, type TestServer } from './harness.js';

const skip = kubectlBinary('1.32') ? false : 'kubectl.1.32 is not on this machine (the pinned binaries sit beside the kubectl dispatcher)';
const VIEWER = 'e2e-viewer-token-5f1c';
const DEV = 'e2e-dev-token-9a2b';

let s: TestServer;
let tokDir: string;

async function ok(args: string[], input?: string): Promise<string> {
  const r = await s.kubectl(args, { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function eventuallyOk(args: string[], want: RegExp): Promise<string> {
  let last = '';
  for (let i = 0; i < 50; i++) {
    const r = await s.kubectl(args);
    last = r.stdout + r.stderr;
    if (want.test(last)) return last;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.fail(`kubectl ${args.join(' ')}: never matched ${want}:\n${last}`);
}

const CHART = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
  namespace: team
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: app-config-reader
  namespace: team
rules:
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames: ["app-secret"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: app-config-reader
  namespace: team
subjects:
- kind: ServiceAccount
  name: app
  namespace: team
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: app-config-reader
`;

describe('RBAC with kubectl 1.32', { skip }, () => {
  before(async () => {
    tokDir = mkdtempSync(join(tmpdir(), 'k8ts-rbac-e2e-'));
    const f = join(tokDir, 'tokens.csv');
    writeFileSync(f, `${VIEWER},viewer,v-1,"viewers"\n${DEV},dev,d-1\n`, { mode: 0o600 });
    s = await startServer({ extraArgs: ['--token-auth-file', f] });
    await ok(['create', 'namespace', 'team']);
    await ok(['create', 'rolebinding', 'viewers-view', '-n', 'team', '--clusterrole', 'view', '--group', 'viewers']);
    await ok(['run', 'p1', '-n', 'team', '--image', 'busybox', '--restart', 'Never']);
  });
  after(async () => {
    await s?.stop();
    if (tokDir) rmSync(tokDir, { recursive: true, force: true });
  });

  test('get and describe the RBAC kinds', async () => {
    const crs = await ok(['get', 'clusterroles']);
    assert.match(crs, /^NAME\s+CREATED AT$/m);
    assert.match(crs, /^cluster-admin\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    assert.match(crs, /^system:basic-user\s+/m);
    const rb = await ok(['get', 'rolebindings', '-n', 'team', '-o', 'wide']);
    assert.match(rb, /^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS$/m);
    assert.match(rb, /^viewers-view\s+ClusterRole\/view\s+\S+\s+viewers\s*$/m);
    const crb = await ok(['get', 'clusterrolebinding', 'cluster-admin', '-o', 'wide']);
    assert.match(crb, /^cluster-admin\s+ClusterRole\/cluster-admin\s+\S+\s+system:masters/m);
    const d = await eventuallyOk(['describe', 'clusterrole', 'view'], /pods\/log\s+\[\]\s+\[\]\s+\[get list watch\]/);
    assert.match(d, /^Name:\s+view$/m);
    assert.match(d, /rbac\.authorization\.k8s\.io\/aggregate-to-edit=true/);
  });

  test('auth whoami', async () => {
    // The admin kubeconfig holds a client certificate, as kubeadm's and kind's do.
    const admin = await ok(['auth', 'whoami']);
    assert.match(admin, /^Username\s+kubernetes-admin$/m);
    assert.match(admin, /^Groups\s+\[system:masters system:authenticated\]$/m);
    const v = await ok(['auth', 'whoami', '--token', VIEWER, '-o', 'json']);
    assert.deepEqual(JSON.parse(v).status.userInfo, { username: 'viewer', uid: 'v-1', groups: ['viewers', 'system:authenticated'] });
  });

  test('auth can-i and can-i --list for a user bound to view', async () => {
    assert.equal((await ok(['auth', 'can-i', 'list', 'pods', '-n', 'team', '--token', VIEWER])).trim(), 'yes');
    const no = await s.kubectl(['auth', 'can-i', 'delete', 'pods', '-n', 'team', '--token', VIEWER]);
    assert.equal(no.code, 1);
    assert.equal(no.stdout.trim(), 'no');
    assert.equal((await s.kubectl(['auth', 'can-i', 'get', 'pods', '-n', 'default', '--token', VIEWER])).stdout.trim(), 'no');
    assert.equal((await ok(['auth', 'can-i', 'get', '/version', '--token', VIEWER])).trim(), 'yes');
    assert.equal((await ok(['auth', 'can-i', '*', '*'])).trim(), 'yes');
    const list = await ok(['auth', 'can-i', '--list', '-n', 'team', '--token', VIEWER]);
    assert.match(list, /^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$/m);
    assert.match(list, /^pods\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    assert.match(list, /^selfsubjectaccessreviews\.authorization\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]$/m);
    assert.match(list, /^\s+\[\/api\/\*\]\s+\[\]\s+\[get\]$/m);
  });

  test("a user bound to view cannot delete: kubectl prints upstream's 403", async () => {
    const r = await s.kubectl(['delete', 'pod', 'p1', '-n', 'team', '--token', VIEWER]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      'Error from server (Forbidden): pods "p1" is forbidden: User "viewer" cannot delete resource "pods" in API group "" in the namespace "team"',
    );
    const l = await s.kubectl(['logs', 'p1', '-n', 'team', '--token', DEV]);
    assert.match(l.stderr, /pods "p1" is forbidden: User "dev" cannot get resource "pods" in API group "" in the namespace "team"/);
  });

  test('--as and --as-group: the admin acts as others; dev without impersonate is refused', async () => {
    assert.match(await ok(['get', 'pods', '-n', 'team', '--as', 'viewer', '--as-group', 'viewers']), /^p1\s/m);
    const as = await s.kubectl(['get', 'pods', '-n', 'team', '--as', 'viewer']);
    assert.match(as.stderr, /pods is forbidden: User "viewer" cannot list resource "pods" in API group "" in the namespace "team"/);
    assert.match(await ok(['auth', 'whoami', '--as', 'viewer', '--as-group', 'viewers']), /^Groups\s+\[viewers system:authenticated\]$/m);
    const no = await s.kubectl(['get', 'pods', '-n', 'team', '--token', DEV, '--as', 'viewer']);
    assert.equal(
      no.stderr.trim(),
      'Error from server (Forbidden): users "viewer" is forbidden: User "dev" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
  });

  test('a chart-like ServiceAccount + Role + RoleBinding applies and grants exactly its rules', async () => {
    const out = await ok(['apply', '-f', '-'], CHART);
    assert.match(out, /serviceaccount\/app created/);
    assert.match(out, /role\.rbac\.authorization\.k8s\.io\/app-config-reader created/);
    assert.match(out, /rolebinding\.rbac\.authorization\.k8s\.io\/app-config-reader created/);
    assert.match(await ok(['apply', '-f', '-'], CHART), /role\.rbac\.authorization\.k8s\.io\/app-config-reader unchanged/);
    const sa = 'system:serviceaccount:team:app';
    await eventuallyOk(['auth', 'can-i', 'list', 'configmaps', '-n', 'team', '--as', sa], /^yes$/m);
    assert.equal((await s.kubectl(['auth', 'can-i', 'delete', 'configmaps', '-n', 'team', '--as', sa])).stdout.trim(), 'no');
    assert.equal((await ok(['auth', 'can-i', 'get', 'secret/app-secret', '-n', 'team', '--as', sa])).trim(), 'yes');
    assert.equal((await s.kubectl(['auth', 'can-i', 'get', 'secret/other', '-n', 'team', '--as', sa])).stdout.trim(), 'no');
    assert.equal((await s.kubectl(['auth', 'can-i', 'list', 'configmaps', '-n', 'default', '--as', sa])).stdout.trim(), 'no');
    const r = await s.kubectl(['get', 'configmaps', '-n', 'team', '--as', sa, '--as-group', 'system:serviceaccounts']);
    assert.equal(r.code, 0, r.stderr);
  });
});
