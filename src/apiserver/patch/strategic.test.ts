import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyStrategicMergePatch } from './strategic.js';
import { PatchError } from './errors.js';
import { schemaFor, schemaKinds } from './schema.js';
import { RESOURCES, groupVersion } from '../../api/resources.js';

/** A document as the patch codec sees it: any kind (Pods, Deployments, a custom Widget), with patch directives
 *  (`$patch`, `$setElementOrder/…`) in it. The issue leaves the codecs untyped inside, and so their tests. */
// biome-ignore lint/suspicious/noExplicitAny: an arbitrary JSON document read down arbitrary paths (a codec's test, see above).
type Obj = Record<string, any>;

const smp = (doc: unknown, patch: unknown, kind = 'Pod', apiVersion = 'v1'): Obj => {
  const before = structuredClone({ doc, patch });
  const out = applyStrategicMergePatch(doc, patch, kind, apiVersion);
  assert.deepEqual({ doc, patch }, before, 'inputs must not be mutated');
  assertNoDirectives(out);
  return out;
};

function assertNoDirectives(v: unknown, path = ''): void {
  if (Array.isArray(v)) v.forEach((e, i) => assertNoDirectives(e, `${path}[${i}]`));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      assert.ok(!k.startsWith('$'), `directive ${k} stored at ${path}`);
      assertNoDirectives(x, `${path}.${k}`);
    }
  }
}

function rejects(fn: () => unknown, code: PatchError['code'], ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PatchError, `expected PatchError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

const names = (list: { name: string }[]) => list.map((c) => c.name);

function livePod(): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web',
      namespace: 'default',
      uid: '6b1d2a52-0000-4000-8000-000000000001',
      resourceVersion: '41',
      labels: { app: 'web', tier: 'frontend' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"old":true}\n' },
      finalizers: ['example.com/a', 'example.com/b', 'example.com/c'],
    },
    spec: {
      containers: [
        {
          name: 'nginx',
          image: 'nginx:1.25',
          ports: [{ containerPort: 80, protocol: 'TCP' }],
          env: [
            { name: 'LOG', value: 'info' },
            { name: 'COLOR', value: 'blue' },
          ],
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'cache', mountPath: '/cache' },
          ],
          resources: {},
          terminationMessagePath: '/dev/termination-log',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      volumes: [
        { name: 'data', emptyDir: {} },
        { name: 'cache', emptyDir: { medium: 'Memory' } },
      ],
      tolerations: [
        { key: 'a', operator: 'Exists' },
        { key: 'b', operator: 'Exists' },
      ],
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      nodeName: 'node1',
    },
    status: {
      phase: 'Running',
      podIP: '10.244.1.5',
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'PodScheduled', status: 'True' },
      ],
    },
  };
}

test('kubectl three-way patch (KUBECTL-WIRE §7.2): label removed, port dropped, env and a container added', () => {
  const newManifest =
    '{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{},"labels":{"app":"web"},"name":"web","namespace":"default"},"spec":{"containers":[{"env":[{"name":"MODE","value":"prod"}],"image":"nginx:1.25","name":"nginx"},{"image":"busybox","name":"sidecar"}]}}\n';
  const patch = {
    metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': newManifest }, labels: { tier: null } },
    spec: {
      '$setElementOrder/containers': [{ name: 'nginx' }, { name: 'sidecar' }],
      containers: [
        { name: 'nginx', env: [{ name: 'MODE', value: 'prod' }], ports: null },
        { name: 'sidecar', image: 'busybox' },
      ],
    },
  };
  const live = livePod();
  const out = smp(live, patch);
  assert.deepEqual(out.metadata.labels, { app: 'web' });
  assert.equal(out.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], newManifest);
  assert.deepEqual(names(out.spec.containers), ['nginx', 'sidecar']);
  const nginx = out.spec.containers[0];
  assert.equal(nginx.ports, undefined);
  assert.equal(nginx.image, 'nginx:1.25');
  assert.equal(nginx.imagePullPolicy, 'IfNotPresent', 'server-set fields survive');
  assert.deepEqual(nginx.env, [
    { name: 'MODE', value: 'prod' },
    { name: 'LOG', value: 'info' },
    { name: 'COLOR', value: 'blue' },
  ]);
  assert.deepEqual(out.spec.containers[1], { name: 'sidecar', image: 'busybox' });
  // Everything the patch does not name is untouched.
  assert.deepEqual(out.status, live.status);
  assert.deepEqual(out.spec.volumes, live.spec.volumes);
  assert.equal(out.metadata.resourceVersion, '41');
});

test('kubectl set image / patch -p: one field of one container changes, nothing else', () => {
  const live = livePod();
  const out = smp(live, { spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } });
  const want = livePod();
  want.spec.containers[0].image = 'nginx:1.27';
  assert.deepEqual(out, want);
});

test('kubectl three-way patch removing a container with $patch: delete', () => {
  const live = smp(livePod(), {
    spec: { '$setElementOrder/containers': [{ name: 'nginx' }, { name: 'sidecar' }], containers: [{ name: 'sidecar', image: 'busybox' }] },
  });
  assert.deepEqual(names(live.spec.containers), ['nginx', 'sidecar']);
  const out = smp(live, { spec: { '$setElementOrder/containers': [{ name: 'nginx' }], containers: [{ name: 'sidecar', $patch: 'delete' }] } });
  assert.deepEqual(names(out.spec.containers), ['nginx']);
  // kubectl patch style, without an order list.
  assert.deepEqual(names(smp(live, { spec: { containers: [{ name: 'nginx', $patch: 'delete' }] } }).spec.containers), ['sidecar']);
});

test('without $setElementOrder, items new to the list come first (as the API server orders them)', () => {
  const out = smp({ spec: { containers: [{ name: 'a' }, { name: 'b' }] } }, { spec: { containers: [{ name: 'c' }, { name: 'b', image: 'x' }] } });
  assert.deepEqual(names(out.spec.containers), ['c', 'a', 'b']);
  assert.deepEqual(names(smp({ spec: { containers: [{ name: 'a' }] } }, { spec: { containers: [{ name: 'z' }] } }).spec.containers), ['z', 'a']);
});

test('$setElementOrder reorders a merged list, live-only items keep their place', () => {
  const live = { spec: { containers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] } };
  assert.deepEqual(names(smp(live, { spec: { '$setElementOrder/containers': [{ name: 'c' }, { name: 'a' }, { name: 'b' }] } }).spec.containers), [
    'c',
    'a',
    'b',
  ]);
  // A new item lands where the order list puts it.
  const added = smp(
    { spec: { containers: [{ name: 'a' }, { name: 'b' }] } },
    {
      spec: { '$setElementOrder/containers': [{ name: 'a' }, { name: 'new' }, { name: 'b' }], containers: [{ name: 'new', image: 'x' }] },
    },
  );
  assert.deepEqual(names(added.spec.containers), ['a', 'new', 'b']);
  // x is not in the order list: it stays ahead of b, which followed it in the live list.
  const serverOnly = smp(
    { spec: { containers: [{ name: 'a' }, { name: 'x' }, { name: 'b' }] } },
    { spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }] } },
  );
  assert.deepEqual(names(serverOnly.spec.containers), ['x', 'b', 'a']);
  // Several live-only items stay together, ahead of the first ordered item that followed them.
  const many = smp(
    { spec: { containers: ['1', '2', '7', '9', '8', '3', '4'].map((name) => ({ name })) } },
    { spec: { '$setElementOrder/containers': ['2', '1', '4', '3'].map((name) => ({ name })) } },
  );
  assert.deepEqual(names(many.spec.containers), ['2', '1', '7', '9', '8', '4', '3']);
  // Primitive lists: a live-only value goes after the ordered ones that preceded it.
  const fin = smp({ metadata: { finalizers: ['f1', 'f2', 'f4'] } }, { metadata: { '$setElementOrder/finalizers': ['f1', 'f2', 'f3'], finalizers: ['f3'] } });
  assert.deepEqual(fin.metadata.finalizers, ['f1', 'f2', 'f3', 'f4']);
});

test('$setElementOrder must list the patch items in the same order', () => {
  rejects(
    () =>
      smp(
        { spec: { containers: [{ name: 'a' }, { name: 'b' }] } },
        {
          spec: {
            '$setElementOrder/containers': [{ name: 'a' }, { name: 'b' }],
            containers: [
              { name: 'b', image: 'x' },
              { name: 'a', image: 'y' },
            ],
          },
        },
      ),
    'BadRequest',
    'spec.containers',
    'does not match "$setElementOrder/containers"',
  );
  rejects(() => smp({}, { spec: { '$setElementOrder/containers': { name: 'a' } } }), 'BadRequest', 'must be a list');
  rejects(() => smp({}, { spec: { '$setElementOrder/containers': ['a'] } }), 'BadRequest', 'merge key "name"');
  rejects(() => smp({}, { spec: { $setElementOrder: [] } }), 'BadRequest', 'invalid patch format of setElementOrder list');
});

test('lists merge by their Kubernetes merge keys: env by name, ports by containerPort, volumeMounts by mountPath', () => {
  const out = smp(livePod(), {
    spec: {
      containers: [
        {
          name: 'nginx',
          env: [
            { name: 'COLOR', value: 'red' },
            { name: 'NEW', value: '1' },
          ],
          ports: [
            { containerPort: 443, protocol: 'TCP' },
            { containerPort: 80, name: 'http' },
          ],
          volumeMounts: [
            { name: 'data', mountPath: '/data', readOnly: true },
            { name: 'cache', mountPath: '/cache', $patch: 'delete' },
          ],
        },
      ],
    },
  });
  const c = out.spec.containers[0];
  assert.deepEqual(c.env, [
    { name: 'LOG', value: 'info' },
    { name: 'COLOR', value: 'red' },
    { name: 'NEW', value: '1' },
  ]);
  assert.deepEqual(c.ports, [
    { containerPort: 443, protocol: 'TCP' },
    { containerPort: 80, protocol: 'TCP', name: 'http' },
  ]);
  assert.deepEqual(c.volumeMounts, [{ name: 'data', mountPath: '/data', readOnly: true }]);
});

test('volumes merge by name; lists without a merge key (tolerations) are replaced', () => {
  const out = smp(livePod(), {
    spec: {
      volumes: [
        { name: 'cache', emptyDir: {} },
        { name: 'extra', configMap: { name: 'cm' } },
      ],
      tolerations: [{ key: 'c', operator: 'Exists' }],
    },
  });
  assert.deepEqual(out.spec.volumes, [
    { name: 'data', emptyDir: {} },
    { name: 'cache', emptyDir: { medium: 'Memory' } },
    { name: 'extra', configMap: { name: 'cm' } },
  ]);
  assert.deepEqual(out.spec.tolerations, [{ key: 'c', operator: 'Exists' }]);
});

test('$retainKeys clears the fields it does not list (Deployment strategy, a volume source)', () => {
  const deploy = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } };
  assert.deepEqual(smp(deploy, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } }, 'Deployment', 'apps/v1').spec.strategy, {
    type: 'Recreate',
  });
  const vol = smp(livePod(), { spec: { volumes: [{ name: 'data', $retainKeys: ['name', 'hostPath'], hostPath: { path: '/srv' } }] } });
  assert.deepEqual(vol.spec.volumes[0], { name: 'data', hostPath: { path: '/srv' } });
  rejects(
    () => smp(deploy, { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: { maxSurge: 2 } } } }, 'Deployment', 'apps/v1'),
    'BadRequest',
    'spec.strategy',
    '"rollingUpdate"',
    'not listed',
  );
  rejects(() => smp(deploy, { spec: { strategy: { $retainKeys: 'type' } } }, 'Deployment', 'apps/v1'), 'BadRequest', 'retainKeys');
});

test('finalizers merge as a set; $deleteFromPrimitiveList removes values', () => {
  const live = livePod();
  assert.deepEqual(smp(live, { metadata: { finalizers: ['example.com/d', 'example.com/a'] } }).metadata.finalizers, [
    'example.com/d',
    'example.com/a',
    'example.com/b',
    'example.com/c',
  ]);
  assert.deepEqual(smp(live, { metadata: { '$deleteFromPrimitiveList/finalizers': ['example.com/b'] } }).metadata.finalizers, [
    'example.com/a',
    'example.com/c',
  ]);
  // What kubectl sends when one finalizer is replaced by another in the manifest.
  const swapped = smp(live, {
    metadata: {
      '$setElementOrder/finalizers': ['example.com/a', 'example.com/c', 'example.com/d'],
      '$deleteFromPrimitiveList/finalizers': ['example.com/b'],
      finalizers: ['example.com/d'],
    },
  });
  assert.deepEqual(swapped.metadata.finalizers, ['example.com/a', 'example.com/c', 'example.com/d']);
  assert.equal(smp({ metadata: {} }, { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } }).metadata.finalizers, undefined);
  rejects(() => smp(live, { metadata: { '$deleteFromPrimitiveList/finalizers': 'x' } }), 'BadRequest', 'invalid patch format of primitive list');
});

test('ownerReferences merge by uid, conditions by type', () => {
  const live = {
    metadata: { ownerReferences: [{ uid: 'u1', kind: 'ReplicaSet', name: 'rs1' }] },
    status: {
      conditions: [
        { type: 'Ready', status: 'False' },
        { type: 'Initialized', status: 'True' },
      ],
    },
  };
  const out = smp(live, {
    metadata: { ownerReferences: [{ uid: 'u2', kind: 'ReplicaSet', name: 'rs2' }] },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  assert.deepEqual(
    out.metadata.ownerReferences.map((o: Obj) => o.uid),
    ['u2', 'u1'],
  );
  assert.deepEqual(out.status.conditions, [
    { type: 'Ready', status: 'True' },
    { type: 'Initialized', status: 'True' },
  ]);
});

test('Deployment pod templates use the Pod merge keys; Service ports merge by port', () => {
  const deploy = { spec: { template: { spec: { containers: [{ name: 'app', env: [{ name: 'A', value: '1' }] }] } } } };
  const out = smp(
    deploy,
    {
      spec: {
        template: {
          metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'now' } },
          spec: { containers: [{ name: 'app', env: [{ name: 'B', value: '2' }] }] },
        },
      },
    },
    'Deployment',
    'apps/v1',
  );
  assert.deepEqual(out.spec.template.spec.containers[0].env, [
    { name: 'B', value: '2' },
    { name: 'A', value: '1' },
  ]);
  assert.equal(out.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'], 'now');
  const svc = {
    spec: {
      ports: [
        { port: 80, targetPort: 8080 },
        { port: 443, targetPort: 8443 },
      ],
    },
  };
  assert.deepEqual(smp(svc, { spec: { ports: [{ port: 443, targetPort: 9443 }] } }, 'Service').spec.ports, [
    { port: 80, targetPort: 8080 },
    { port: 443, targetPort: 9443 },
  ]);
});

test('kinds without a schema replace lists, but still obey directives', () => {
  const obj = { spec: { items: [{ name: 'a' }], m: { x: 1, y: 2 } } };
  const out = smp(obj, { spec: { items: [{ name: 'b' }], m: { y: null, z: 3 } } }, 'Widget', 'example.com/v1');
  assert.deepEqual(out, { spec: { items: [{ name: 'b' }], m: { x: 1, z: 3 } } });
  assert.deepEqual(smp(obj, { spec: { m: { $patch: 'replace', q: 1 } } }, 'Widget', 'example.com/v1').spec.m, { q: 1 });
  assert.equal(schemaFor('Widget', 'example.com/v1'), undefined);
});

test('$patch: replace on a map and on a merged list; $patch: delete on a map', () => {
  const live = livePod();
  assert.deepEqual(smp(live, { spec: { containers: [{ name: 'only', image: 'x' }, { $patch: 'replace' }] } }).spec.containers, [{ name: 'only', image: 'x' }]);
  const withSel = { spec: { nodeSelector: { a: '1', b: '2' } } };
  assert.deepEqual(smp(withSel, { spec: { nodeSelector: { $patch: 'replace', c: '3' } } }).spec.nodeSelector, { c: '3' });
  assert.deepEqual(smp(withSel, { spec: { nodeSelector: { $patch: 'delete' } } }).spec.nodeSelector, {});
  assert.deepEqual(smp(withSel, { spec: { nodeSelector: { $patch: 'merge', c: '3' } } }).spec.nodeSelector, { a: '1', b: '2', c: '3' });
});

test('directives inside new values are resolved, never stored', () => {
  const out = smp(livePod(), {
    spec: {
      containers: [
        {
          name: 'new',
          image: 'x',
          '$setElementOrder/env': [{ name: 'A' }],
          env: [
            { name: 'A', value: '1' },
            { name: 'GONE', $patch: 'delete' },
          ],
          resources: { $patch: 'replace', limits: { cpu: '1' } },
          securityContext: { runAsUser: null, privileged: false },
        },
      ],
      affinity: { $patch: 'delete' },
    },
  });
  const added = out.spec.containers.find((c: Obj) => c.name === 'new');
  assert.deepEqual(added, {
    name: 'new',
    image: 'x',
    env: [{ name: 'A', value: '1' }],
    resources: { limits: { cpu: '1' } },
    securityContext: { privileged: false },
  });
  assert.equal('affinity' in out.spec, false);
});

test('null deletes, maps merge recursively, scalars and type changes replace', () => {
  const out = smp({ a: { b: 1, c: { d: 2 } }, e: [1], f: 'x' }, { a: { b: null, c: { g: 3 } }, e: { now: 'map' }, f: 7, h: null });
  assert.deepEqual(out, { a: { c: { d: 2, g: 3 } }, e: { now: 'map' }, f: 7 });
});

test('malformed patches are bad requests (400)', () => {
  rejects(() => smp({}, [1]), 'BadRequest', 'must be a JSON object, got array');
  rejects(() => smp({}, null), 'BadRequest', 'got null');
  rejects(() => smp([], {}), 'BadRequest', 'object to patch');
  rejects(() => smp({}, { spec: { $patch: 'explode' } }), 'BadRequest', 'spec', 'unknown "$patch" directive "explode"');
  rejects(() => smp({}, { spec: { $frobnicate: 1 } }), 'BadRequest', 'unknown patch directive "$frobnicate"');
  rejects(() => smp(livePod(), { spec: { containers: [{ image: 'no-name' }] } }), 'BadRequest', 'spec.containers[0]', 'no merge key "name"');
  rejects(() => smp(livePod(), { spec: { containers: [{ $patch: 'delete' }] } }), 'BadRequest', 'merge key "name"');
  rejects(() => smp(livePod(), { spec: { containers: [{ image: 'x' }, { $patch: 'replace' }] } }), 'BadRequest', 'spec.containers[0]', 'merge key "name"');
  rejects(() => smp(livePod(), { spec: { containers: [{ name: 'a', $patch: 'twist' }] } }), 'BadRequest', 'unknown "$patch" directive "twist"');
  rejects(() => smp(livePod(), { metadata: { finalizers: [{ name: 'x' }] } }), 'BadRequest', 'metadata.finalizers');
});

test('lists of lists cannot merge (422)', () => {
  rejects(() => smp({ metadata: { finalizers: ['a'] } }, { metadata: { finalizers: [['b']] } }), 'Invalid', 'metadata.finalizers', 'lists of lists');
});

test('the result shares no structure with the live object or the patch', () => {
  const live = livePod();
  const patch = { spec: { containers: [{ name: 'side', image: 'b', env: [{ name: 'X', value: '1' }] }] } };
  const out = smp(live, patch);
  out.spec.containers[0].env.push({ name: 'Z' });
  out.spec.containers[1].env.push({ name: 'Z' });
  out.status.conditions.pop();
  assert.deepEqual(live, livePod());
  assert.deepEqual(patch.spec.containers[0].env, [{ name: 'X', value: '1' }]);
});

test('every kind k8ts serves that can be patched has a schema entry', () => {
  const kinds = new Set(schemaKinds());
  const patchable = RESOURCES.filter((r) => r.verbs.includes('patch'));
  assert.ok(patchable.length > 20, 'the patchable kinds are found');
  for (const r of patchable) assert.ok(kinds.has(`${groupVersion(r)}/${r.kind}`), `${r.kind} has no strategic-merge schema`);
});
