import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap, Namespace, Node, Secret } from '../types.js';

import { errorText } from '../validation.js';
import { RESOURCES } from '../resources.js';
import { genericTable, STRATEGIES, strategyFor } from './index.js';
import { namespaceStrategy as ns } from './namespace.js';
import { nodeStrategy as node } from './node.js';
import { configMapStrategy as cm } from './configmap.js';
import { secretStrategy as secret } from './secret.js';
import { serviceAccountStrategy as sa } from './serviceaccount.js';

const NOW = Date.parse('2024-05-01T10:00:00Z');
const meta = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}), creationTimestamp: '2024-05-01T09:59:30Z' });

test('every served resource has a strategy; other kinds get Name + Age', () => {
  for (const r of RESOURCES) assert.ok(STRATEGIES[r.plural], r.plural);
  for (const s of Object.values(STRATEGIES)) {
    assert.ok(s.columns.some((c) => c.format === 'name' && c.name === 'Name'));
    for (const c of s.columns) assert.deepEqual(Object.keys(c).sort(), ['description', 'format', 'name', 'priority', 'type']);
  }
  assert.equal(strategyFor('widgets'), genericTable);
  assert.deepEqual(
    genericTable.columns.map((c) => [c.name, c.format]),
    [
      ['Name', 'name'],
      ['Age', ''],
    ],
  );
  assert.deepEqual(genericTable.row({ metadata: meta('x') }, NOW), ['x', '30s']);
});

test('namespace: label, phase, finalizer names, status phase rule, table and fields', () => {
  const o: Namespace = { metadata: meta('team-a'), spec: { finalizers: ['kubernetes'] } };
  ns.defaults!(o);
  assert.deepEqual(o.metadata.labels, { 'kubernetes.io/metadata.name': 'team-a' });
  assert.equal(o.status?.phase, 'Active');
  assert.deepEqual(ns.validate!(o), []);
  assert.deepEqual(ns.validate!({ ...o, spec: { finalizers: ['custom'] } }).map(errorText), [
    'spec.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified',
  ]);
  assert.deepEqual(ns.validateStatus!({ ...o, status: { phase: 'Terminating' } }, o).map(errorText), [
    'status.Phase: Invalid value: "Terminating": may only be \'Active\' if `deletionTimestamp` is empty',
  ]);
  const deleting = { ...o, metadata: { ...o.metadata, deletionTimestamp: '2024-05-01T10:00:00Z' }, status: { phase: 'Terminating' } };
  assert.deepEqual(ns.validateStatus!(deleting, o), []);
  assert.deepEqual(
    ns.columns.map((c) => [c.name, c.description]),
    [
      ['Name', ns.columns[0].description],
      ['Status', 'The status of the namespace'],
      ['Age', ns.columns[2].description],
    ],
  );
  assert.deepEqual(ns.row(o, NOW), ['team-a', 'Active', '30s']);
  assert.deepEqual(ns.row(deleting, NOW), ['team-a', 'Terminating', '30s']);
  assert.deepEqual(ns.fields!(o), { 'status.phase': 'Active' });
});

test('node: table cells for status, roles, addresses and system info', () => {
  const n: Node = {
    metadata: { ...meta('node1'), labels: { 'node-role.kubernetes.io/control-plane': '', 'node-role.kubernetes.io/worker': '', 'kubernetes.io/role': 'edge' } },
    spec: { unschedulable: true, podCIDRs: ['10.244.1.0/24'] },
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False' },
        { type: 'Ready', status: 'True' },
      ],
      addresses: [
        { type: 'InternalIP', address: '172.30.0.11' },
        { type: 'Hostname', address: 'node1' },
      ],
      nodeInfo: {
        kubeletVersion: 'v1.32.0-k8ts',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        kernelVersion: '6.1.0',
        containerRuntimeVersion: 'runc://1.1.5',
        architecture: 'amd64',
        operatingSystem: 'linux',
        kubeProxyVersion: '',
        bootID: '',
        machineID: '',
        systemUUID: '',
      },

      capacity: { cpu: '2', memory: '4Gi', pods: '110' },
    },
  };
  node.defaults!(n);
  assert.deepEqual(n.status?.allocatable, { cpu: '2', memory: '4Gi', pods: '110' });
  assert.deepEqual(node.row(n, NOW), [
    'node1',
    'Ready,SchedulingDisabled',
    'control-plane,edge,worker',
    '30s',
    'v1.32.0-k8ts',
    '172.30.0.11',
    '<none>',
    'Debian GNU/Linux 12 (bookworm)',
    '6.1.0',
    'runc://1.1.5',
  ]);
  assert.deepEqual(node.row({ metadata: meta('n2'), status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }, NOW).slice(1, 5), [
    'NotReady',
    '<none>',
    '30s',
    '',
  ]);
  assert.deepEqual(
    node
      .row({ metadata: meta('n3') }, NOW)
      .slice(1, 2)
      .concat(node.row({ metadata: meta('n3') }, NOW).slice(7)),
    ['Unknown', '<unknown>', '<unknown>', '<unknown>'],
  );
  assert.deepEqual(
    node.columns.map((c) => [c.name, c.priority]),
    [
      ['Name', 0],
      ['Status', 0],
      ['Roles', 0],
      ['Age', 0],
      ['Version', 0],
      ['Internal-IP', 1],
      ['External-IP', 1],
      ['OS-Image', 1],
      ['Kernel-Version', 1],
      ['Container-Runtime', 1],
    ],
  );
  assert.deepEqual(node.fields!(n), { 'spec.unschedulable': 'true' });
  assert.deepEqual(node.validate!(n), []);
});

test('node: taints, pod CIDRs and the update rules', () => {
  const n: Node = {
    metadata: meta('node1'),
    spec: {
      podCIDRs: ['10.244.1.0/24', '10.244.2.0/24'],
      taints: [
        { key: 'k', effect: 'NoSchedule' },
        { key: 'k', value: 'v', effect: 'NoSchedule' },
        { key: 'x', effect: 'Sometimes' },
      ],
    },
  };
  assert.deepEqual(node.validate!(n).map(errorText), [
    'metadata.taints[1]: Duplicate value: core.Taint{Key:"k", Value:"v", Effect:"NoSchedule", TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair',
    'metadata.taints[2].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
    'spec.podCIDRs: Invalid value: []string{"10.244.1.0/24", "10.244.2.0/24"}: may specify no more than one CIDR for each IP family',
  ]);
  const old: Node = { metadata: meta('node1'), spec: { podCIDRs: ['10.244.1.0/24'], providerID: 'k8ts://node1' } };
  assert.deepEqual(node.validateUpdate!({ ...old, spec: { ...old.spec, unschedulable: true } }, old), []);
  assert.deepEqual(node.validateUpdate!({ ...old, spec: { podCIDRs: ['10.244.9.0/24'], providerID: 'other' } }, old).map(errorText), [
    'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid',
    'spec.providerID: Forbidden: node updates may not change providerID except from "" to valid',
  ]);
  // Setting the pod CIDR the first time is allowed.
  assert.deepEqual(node.validateUpdate!({ ...old, spec: { podCIDRs: ['10.244.3.0/24'] } }, { metadata: meta('node1'), spec: {} }), []);
  const dup = {
    ...old,
    status: {
      addresses: [
        { type: 'InternalIP', address: '1.2.3.4' },
        { type: 'InternalIP', address: '1.2.3.4' },
      ],
    },
  };
  assert.deepEqual(node.validateStatus!(dup, old).map(errorText), [
    'status.addresses[1]: Duplicate value: core.NodeAddress{Type:"InternalIP", Address:"1.2.3.4"}',
  ]);
  assert.deepEqual(node.validateStatus!({ ...old, status: { capacity: { cpu: '-1' } } }, old).map(errorText), [
    'status.capacity.cpu: Invalid value: "-1": must be greater than or equal to 0',
  ]);
});

test('node: addresses and pod CIDRs that would reach ip -batch and nft -f are refused, naming the field', () => {
  const hostile = ['192.0.2.9 dev lo\nroute flush all', '10.0.0.1; flush ruleset', ' 10.0.0.1', '10.0.0.1\n', '010.0.0.1', '10.0.0.256', '$(reboot)', ''];
  for (const address of hostile) {
    const errs = node.validate!({ metadata: meta('n'), status: { addresses: [{ type: 'InternalIP', address }] } }).map(errorText);
    assert.equal(errs.length, 1, `${JSON.stringify(address)}: ${errs}`);
    assert.match(errs[0], /^status\.addresses\[0\]\.address: (Invalid value|Required value)/);
  }
  assert.deepEqual(
    node.validate!({
      metadata: meta('n'),
      status: {
        addresses: [
          { type: 'Hostname', address: 'node-1.lab' },
          { type: 'InternalIP', address: '172.30.0.11' },
          { type: 'ExternalIP', address: '2001:db8::1' },
        ],
      },
    }),
    [],
  );
  assert.deepEqual(
    node.validate!({
      metadata: meta('n'),
      status: {
        addresses: [
          { type: 'Hostname', address: 'a b\nc' },
          { type: 'Magic', address: '1.2.3.4' },
        ],
      },
    }).map(errorText),
    [
      "status.addresses[0].address: Invalid value: \"a b\\nc\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      'status.addresses[1].type: Unsupported value: "Magic": supported values: "Hostname", "InternalIP", "ExternalIP", "InternalDNS", "ExternalDNS"',
    ],
  );
  // The status subresource (where agents write addresses) checks them too.
  const old: Node = { metadata: meta('n'), spec: {} };
  assert.match(
    node.validateStatus!({ ...old, status: { addresses: [{ type: 'InternalIP', address: '1.2.3.4 dev lo' }] } }, old).map(errorText)[0],
    /^status\.addresses\[0\]\.address: Invalid value: "1\.2\.3\.4 dev lo"/,
  );
  for (const cidr of ['10.244.1.0/24 dev lo', '10.244.1.7/24', '10.244.1.0', '010.244.1.0/24', '10.244.1.0/24\n', '10.244.1.0/33']) {
    const n: Node = { metadata: meta('n'), spec: { podCIDR: cidr } };
    node.defaults!(n);
    const errs = node.validate!(n).map(errorText);
    assert.ok(errs.length >= 1 && errs.every((e) => e.startsWith('spec.podCIDRs[0]: Invalid value')), `${JSON.stringify(cidr)}: ${errs}`);
  }
  assert.deepEqual(node.validate!({ metadata: meta('n'), spec: { podCIDR: '10.244.1.7/24', podCIDRs: ['10.244.1.0/24'] } }).map(errorText), [
    'spec.podCIDR: Invalid value: "10.244.1.7/24": must be a network address in canonical form (did you mean "10.244.1.0/24"?)',
    'spec.podCIDR: Invalid value: "10.244.1.7/24": must be the first of spec.podCIDRs ("10.244.1.0/24")',
  ]);
  // podCIDR and podCIDRs are kept in step, so both spellings are immutable.
  const set: Node = { metadata: meta('n'), spec: { podCIDR: '10.244.1.0/24' } };
  node.defaults!(set);
  assert.deepEqual(set.spec?.podCIDRs, ['10.244.1.0/24']);
  const moved: Node = { metadata: meta('n'), spec: { podCIDR: '10.244.2.0/24' } };
  node.defaults!(moved);
  assert.deepEqual(node.validateUpdate!(moved, set).map(errorText), ['spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid']);
});

test('configmap: keys, overlap with binaryData, 1 MiB, immutability, table', () => {
  const o: ConfigMap = {
    metadata: meta('cfg', 'default'),
    data: { 'app.conf': 'x=1', KEY_2: 'y' },
    binaryData: { blob: Buffer.from([0, 1, 2]).toString('base64') },
  };
  assert.deepEqual(cm.validate!(o), []);
  assert.deepEqual(cm.row(o, NOW), ['cfg', 3, '30s']);
  assert.deepEqual(cm.validate!({ ...o, data: { 'a/b': '1', blob: 'x' } }).map(errorText), [
    "data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    'data[blob]: Invalid value: "blob": duplicate of key present in binaryData',
  ]);
  assert.deepEqual(cm.validate!({ ...o, binaryData: {}, data: { big: 'x'.repeat(1024 * 1024) } }), []);
  assert.deepEqual(cm.validate!({ ...o, binaryData: {}, data: { big: 'x'.repeat(1024 * 1024 + 1) } }).map(errorText), [
    ': Too long: may not be more than 1048576 bytes',
  ]);
  const frozen = { ...o, immutable: true };
  assert.deepEqual(cm.validateUpdate!({ ...frozen }, frozen), []);
  assert.deepEqual(cm.validateUpdate!({ ...frozen, immutable: false, data: { other: '1' } }, frozen).map(errorText), [
    'immutable: Forbidden: field is immutable when `immutable` is set',
    'data: Forbidden: field is immutable when `immutable` is set',
  ]);
  assert.deepEqual(cm.validateUpdate!({ ...o, data: { changed: '1' } }, o), []);
  assert.deepEqual(
    cm.columns.map((c) => [c.name, c.type]),
    [
      ['Name', 'string'],
      ['Data', 'string'],
      ['Age', 'string'],
    ],
  );
});

test('secret: type default, stringData, base64, required keys per type, immutable type, table and fields', () => {
  const o: Secret = {
    metadata: meta('creds', 'default'),
    data: { user: Buffer.from('admin').toString('base64') },
    stringData: { pass: 'hunter2', user: 'root' },
  };
  secret.defaults!(o);
  assert.equal(o.type, 'Opaque');
  assert.equal(o.stringData, undefined);
  assert.deepEqual(o.data, { user: Buffer.from('root').toString('base64'), pass: Buffer.from('hunter2').toString('base64') });
  assert.deepEqual(secret.validate!(o), []);
  assert.deepEqual(secret.row(o, NOW), ['creds', 'Opaque', 2, '30s']);
  assert.deepEqual(secret.fields!(o), { type: 'Opaque' });
  assert.deepEqual(secret.validate!({ ...o, data: { a: 'not base64!', b: 'YWJj' } }).map(errorText), [
    'data[a]: Invalid value: "<secret contents redacted>": illegal base64 data at input byte 3',
  ]);
  assert.deepEqual(secret.validate!({ ...o, type: 'kubernetes.io/tls', data: {} }).map(errorText), [
    'data[tls.crt]: Required value',
    'data[tls.key]: Required value',
  ]);
  assert.deepEqual(secret.validate!({ ...o, type: 'kubernetes.io/basic-auth', data: {} }).map(errorText), [
    'data[username]: Required value',
    'data[password]: Required value',
  ]);
  assert.deepEqual(secret.validate!({ ...o, type: 'kubernetes.io/service-account-token', data: {} }).map(errorText), [
    'metadata.annotations[kubernetes.io/service-account.name]: Required value',
  ]);
  assert.equal(
    secret.validate!({ ...o, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from('{nope').toString('base64') } }).length,
    1,
  );
  assert.deepEqual(secret.validate!({ ...o, data: { big: Buffer.alloc(1024 * 1024 + 1).toString('base64') } }).map(errorText), [
    'data: Too long: may not be more than 1048576 bytes',
  ]);
  assert.deepEqual(secret.validateUpdate!({ ...o, type: 'kubernetes.io/tls' }, o).map(errorText), [
    'type: Invalid value: "kubernetes.io/tls": field is immutable',
  ]);
  assert.deepEqual(
    secret.columns.map((c) => c.name),
    ['Name', 'Type', 'Data', 'Age'],
  );
});

test('service account table', () => {
  assert.deepEqual(sa.row({ metadata: meta('default', 'default'), secrets: [{ name: 'a' }] }, NOW), ['default', 1, '30s']);
  assert.deepEqual(sa.row({ metadata: meta('robot', 'default') }, NOW), ['robot', 0, '30s']);
  assert.deepEqual(
    sa.columns.map((c) => c.name),
    ['Name', 'Secrets', 'Age'],
  );
});
