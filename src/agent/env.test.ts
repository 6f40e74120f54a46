// A container's environment as the kubelet makes it: $(VAR) expansion, the order of sources, service
// links, every valueFrom, and the CreateContainerConfigError messages for what is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerConfigError, containerEnv, expand, expandArgs, serviceLinkEnv } from './env.js';
import type { ConfigMap, Pod, Secret, Service } from '../api/types.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const cms: Record<string, ConfigMap> = {
  'ns/cfg': { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'ns' }, data: { MODE: 'fast', 'x.y': '1' } },
};
const secrets: Record<string, Secret> = {
  'ns/sec': { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sec', namespace: 'ns' }, data: { TOKEN: b64('t0k') } },
};
const objects = { configMap: (ns: string, n: string) => cms[`${ns}/${n}`], secret: (ns: string, n: string) => secrets[`${ns}/${n}`] };
const node = { nodeName: 'n1', nodeIP: '10.0.0.1', cpu: 2, memory: 1 << 30 };
const svc = (ns: string, name: string, ip: string, ports: unknown[]): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns },
  spec: { clusterIP: ip, ports: ports as never },
});
const services = [
  svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443, protocol: 'TCP' }]),
  svc('ns', 'my-db', '10.96.0.9', [{ name: 'sql', port: 5432 }]),
  svc('other', 'elsewhere', '10.96.0.8', [{ port: 80 }]),
  svc('ns', 'headless', 'None', [{ port: 80 }]),
];

const pod = (c: object, spec: object = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns', uid: 'u', labels: { app: 'x' } },
  spec: { containers: [{ name: 'c', image: 'i', ...c }], ...spec } as never,
});
const envOf = (p: Pod) => new Map(containerEnv(p, p.spec!.containers[0], { objects, node, services, podIP: '10.244.0.5' }).map((e) => [e.name, e.value]));

test('$(VAR) expansion: defined names, $$ escapes, unknown and unclosed references kept', () => {
  const vars: Record<string, string> = { A: 'a', B: 'b' };
  const lk = (n: string) => vars[n];
  assert.equal(expand('$(A)-$(B)', lk), 'a-b');
  assert.equal(expand('$$(A) $(C) $(A', lk), '$(A) $(C) $(A');
  assert.equal(expand('$A $ $', lk), '$A $ $');
  assert.equal(expand('$()', lk), '$()');
  assert.deepEqual(expandArgs(['echo', '$(A)'], [{ name: 'A', value: '1' }]), ['echo', '1']);
});

test("service links: the kubernetes service always, the namespace's own with enableServiceLinks, headless ones never", () => {
  const all = serviceLinkEnv(pod({}), services);
  assert.equal(all.get('KUBERNETES_SERVICE_HOST'), '10.96.0.1');
  assert.equal(all.get('KUBERNETES_SERVICE_PORT'), '443');
  assert.equal(all.get('KUBERNETES_SERVICE_PORT_HTTPS'), '443');
  assert.equal(all.get('KUBERNETES_PORT_443_TCP'), 'tcp://10.96.0.1:443');
  assert.equal(all.get('MY_DB_SERVICE_HOST'), '10.96.0.9');
  assert.equal(all.get('MY_DB_PORT_5432_TCP_ADDR'), '10.96.0.9');
  assert.equal(all.has('ELSEWHERE_SERVICE_HOST'), false);
  assert.equal(all.has('HEADLESS_SERVICE_HOST'), false);
  const off = serviceLinkEnv(pod({}, { enableServiceLinks: false }), services);
  assert.equal(off.has('MY_DB_SERVICE_HOST'), false);
  assert.equal(off.get('KUBERNETES_SERVICE_HOST'), '10.96.0.1');
});

test('every source, later ones winning, values expanded from earlier ones', () => {
  const env = envOf(
    pod({
      envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'C_' }, { secretRef: { name: 'sec' } }],
      env: [
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'MODE' } } },
        { name: 'MSG', value: '$(MODE)/$(TOKEN)/$(C_MODE)' },
        { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } },
        { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k', optional: true } } },
        { name: 'TOKEN', value: 'override' },
      ],
    }),
  );
  assert.equal(env.get('C_MODE'), 'fast');
  assert.equal(env.get('C_x.y'), '1');
  assert.equal(env.get('MSG'), 'fast/t0k/fast');
  assert.equal(env.get('TOKEN'), 'override');
  assert.equal(env.get('NAME'), 'p');
  assert.equal(env.get('APP'), 'x');
  assert.equal(env.get('IP'), '10.244.0.5');
  assert.equal(env.get('MEM'), String(1 << 30), "no limit: the node's allocatable");
  assert.equal(env.has('OPT'), false);
});

test("missing non-optional sources are CreateContainerConfigError with the kubelet's messages", () => {
  const cases: [object, string][] = [
    [{ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'gone', key: 'k' } } }] }, 'secret "gone" not found'],
    [{ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'sec', key: 'k' } } }] }, "couldn't find key k in Secret ns/sec"],
    [{ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] }, "couldn't find key k in ConfigMap ns/cfg"],
    [{ envFrom: [{ configMapRef: { name: 'gone' } }] }, 'configmap "gone" not found'],
    [{ env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.bogus' } } }] }, 'unsupported fieldPath: spec.bogus'],
  ];
  for (const [c, msg] of cases)
    assert.throws(
      () => envOf(pod(c)),
      (e: unknown) => e instanceof ContainerConfigError && e.message === msg,
      msg,
    );
});
