// Smoke test for the oldest and newest pinned kubectl: discovery negotiation (v2beta1 vs v2), OpenAPI
// v2 protobuf (1.27) vs v3 (1.33), apply, get, patch, delete.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, kubectlBinary, type TestServer } from './harness.js';

for (const version of ['1.27', '1.33']) {
  const skip = kubectlBinary(version) ? false : `kubectl.${version} is not on this machine`;
  describe(`kubectl ${version} smoke`, { skip }, () => {
    let s: TestServer;
    const k = async (args: string[]) => {
      const r = await s.kubectl(args, { version });
      assert.equal(r.code, 0, `kubectl.${version} ${args.join(' ')}:\n${r.stderr}`);
      return r.stdout;
    };
    before(async () => {
      s = await startServer();
    });
    after(async () => {
      await s?.stop();
    });

    test('discovery, apply, get, patch, delete', async () => {
      assert.match(await k(['version']), /v1\.32\.0-k8ts/);
      const res = await k(['api-resources']);
      assert.match(res, /^pods\s+po\s+v1\s+true\s+Pod$/m);
      assert.match(res, /^replicasets\s+rs\s+apps\/v1\s+true\s+ReplicaSet$/m);
      const f = s.file(
        'p.yaml',
        'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  containers:\n  - name: c\n    image: busybox\n',
      );
      assert.match(await k(['apply', '-f', f]), /pod\/web created/);
      const f2 = s.file(
        'p2.yaml',
        'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web2}\nspec:\n  containers:\n  - name: c\n    image: busybox\n',
      );
      assert.match(await k(['apply', '-f', f2]), /pod\/web configured/);
      assert.match(await k(['get', 'pods']), /^web\s+0\/1\s+Pending\s+0\s+\d+s$/m);
      assert.equal(await k(['get', 'pods', '-l', 'app=web2', '-o', 'name']), 'pod/web\n');
      assert.match(await k(['patch', 'pod', 'web', '-p', '{"metadata":{"labels":{"v":"1"}}}']), /pod\/web patched/);
      assert.match(await k(['create', 'deployment', 'd', '--image=busybox']), /deployment\.apps\/d created/);
      assert.match(await k(['scale', 'deployment', 'd', '--replicas=2']), /scaled/);
      assert.match(await k(['delete', '-f', f2]), /pod "web" deleted/);
      assert.match(await k(['delete', 'deployment', 'd']), /deployment\.apps "d" deleted/);
    });
  });
}
