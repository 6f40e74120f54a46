import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Endpoints, Event, Lease, NetworkPolicy } from '../types.js';
import { decoded } from '../../testing/decoded.js';
import { errorText } from '../validation.js';
import { endpointsStrategy as ep } from './endpoints.js';
import { endpointSliceStrategy as eps } from './endpointslice.js';
import { networkPolicyStrategy as np } from './networkpolicy.js';
import { eventStrategy as ev } from './event.js';
import { leaseStrategy as lease } from './lease.js';

const NOW = Date.parse('2024-05-01T10:00:00Z');
const meta = (name: string) => ({ name, namespace: 'default', creationTimestamp: '2024-05-01T09:55:00Z' });

test('endpoints: protocol default, subset validation, the Endpoints column', () => {
  const o: Endpoints = {
    metadata: meta('web'),
    subsets: [{ addresses: [{ ip: '10.244.1.5' }, { ip: '10.244.2.7' }], ports: [{ port: 80 }, { name: 'x', port: 81 }] }],
  };
  ep.defaults!(o);
  assert.equal(o.subsets?.[0].ports?.[0].protocol, 'TCP');
  assert.deepEqual(ep.validate!(o).map(errorText), ['subsets[0].ports[0].name: Required value']);
  assert.deepEqual(ep.row(o, NOW), ['web', '10.244.1.5:80,10.244.2.7:80,10.244.1.5:81 + 1 more...', '5m']);
  assert.deepEqual(ep.row({ metadata: meta('none') }, NOW).slice(1, 2), ['<none>']);
  assert.deepEqual(ep.row({ metadata: meta('v6'), subsets: [{ addresses: [{ ip: 'fd00::1' }], ports: [{ port: 53 }] }] }, NOW).slice(1, 2), ['[fd00::1]:53']);
  assert.deepEqual(ep.row({ metadata: meta('headless'), subsets: [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }] }] }, NOW).slice(1, 2), [
    '10.0.0.1,10.0.0.2',
  ]);
  const bad: Endpoints = {
    metadata: meta('bad'),
    subsets: [{}, { addresses: [{ ip: '127.0.0.1', hostname: 'Host' }], ports: [{ port: 0, protocol: 'TCP' }] }],
  };
  assert.deepEqual(ep.validate!(bad).map(errorText), [
    'subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`',
    `subsets[1].addresses[0].hostname: Invalid value: "Host": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    'subsets[1].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
    'subsets[1].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
  ]);
});

test('endpointslice: defaults, address types, immutable addressType, table', () => {
  const o: EndpointSlice = {
    metadata: meta('web-abc12'),
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.244.1.5'] }, { addresses: ['10.244.1.6'] }, { addresses: ['10.244.2.7'] }, { addresses: ['10.244.2.8'] }],
    ports: [{ port: 80 }, { name: 'https', port: 443, protocol: 'TCP' }],
  };
  eps.defaults!(o);
  assert.deepEqual(o.ports?.[0], { port: 80, name: '', protocol: 'TCP' });
  assert.deepEqual(eps.validate!(o), []);
  assert.deepEqual(eps.row(o, NOW), ['web-abc12', 'IPv4', '80,443', '10.244.1.5,10.244.1.6,10.244.2.7 + 1 more...', '5m']);
  assert.deepEqual(eps.row({ metadata: meta('e'), addressType: 'IPv4', endpoints: [], ports: [{ name: 'dns' }, {}] }, NOW).slice(2, 4), ['dns,*', '<unset>']);
  // Malformed on purpose: no addressType.
  assert.deepEqual(
    eps.validate!(
      decoded<EndpointSlice>({
        metadata: meta('x'),
        endpoints: [{ addresses: [] }],
        ports: [
          { name: 'a', protocol: 'TCP' },
          { name: 'a', protocol: 'ICMP' },
        ],
      }),
    ).map(errorText),
    [
      'addressType: Required value',
      'endpoints[0].addresses: Required value: must contain at least 1 address',
      'ports[1].name: Duplicate value: "a"',
      'ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
    ],
  );
  assert.deepEqual(eps.validate!({ metadata: meta('x'), addressType: 'IPX', endpoints: [] }).map(errorText), [
    'addressType: Unsupported value: "IPX": supported values: "FQDN", "IPv4", "IPv6"',
  ]);
  assert.deepEqual(eps.validate!({ metadata: meta('x'), addressType: 'IPv4', endpoints: [{ addresses: ['fd00::1'] }] }).map(errorText), [
    'endpoints[0].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address',
  ]);
  assert.deepEqual(eps.validateUpdate!({ ...o, addressType: 'IPv6' }, o).map(errorText), ['addressType: Invalid value: "IPv6": field is immutable']);
});

test('networkpolicy: policyTypes default, ports, peers, table', () => {
  const o: NetworkPolicy = {
    metadata: meta('deny'),
    spec: { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ ports: [{ port: 5432 }], from: [{ podSelector: {} }] }] },
  };
  np.defaults!(o);
  assert.deepEqual(o.spec?.policyTypes, ['Ingress']);
  assert.equal(o.spec?.ingress?.[0].ports?.[0].protocol, 'TCP');
  assert.deepEqual(np.validate!(o), []);
  // Incomplete on purpose: no podSelector, which defaults fill in.
  const eg = decoded<NetworkPolicy>({ metadata: meta('e'), spec: { egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }] } });
  np.defaults!(eg);
  assert.deepEqual(eg.spec?.policyTypes, ['Ingress', 'Egress']);
  assert.deepEqual(eg.spec?.podSelector, {});
  assert.deepEqual(np.validate!(eg), []);
  assert.deepEqual(np.row(o, NOW), ['deny', 'app=db', '5m']);
  assert.deepEqual(np.row(eg, NOW), ['e', '<none>', '5m']);
  const bad: NetworkPolicy = {
    metadata: meta('bad'),
    spec: {
      podSelector: {},
      policyTypes: ['Sideways'],
      ingress: [
        {
          ports: [
            { port: 80, endPort: 70 },
            { port: 'web', endPort: 90 },
          ],
          from: [{}, { ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/8'] }, podSelector: {} }],
        },
      ],
    },
  };
  assert.deepEqual(np.validate!(bad).map(errorText), [
    'spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`',
    'spec.ingress[0].ports[1].endPort: Invalid value: 90: may not be specified when `port` is non-numeric',
    'spec.ingress[0].from[0]: Required value: must specify a peer',
    'spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`',
    'spec.ingress[0].from[1]: Forbidden: may not specify both ipBlock and another peer',
    'spec.policyTypes[0]: Unsupported value: "Sideways": supported values: "Ingress", "Egress"',
  ]);
});

test('event: legacy validation, Last Seen/Object columns, field selectors', () => {
  const e: Event = {
    metadata: { name: 'web.17a1', namespace: 'default' },
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web', uid: 'u1', apiVersion: 'v1', resourceVersion: '12', fieldPath: 'spec.containers{web}' },
    reason: 'Pulled',
    message: '  Successfully pulled image "nginx"\n',
    type: 'Normal',
    count: 3,
    source: { component: 'kubelet', host: 'node1' },
    firstTimestamp: '2024-05-01T09:00:00Z',
    lastTimestamp: '2024-05-01T09:59:00Z',
  };
  assert.deepEqual(ev.validate!(e), []);
  assert.deepEqual(ev.validate!({ ...e, involvedObject: { ...e.involvedObject, namespace: 'other' } }).map(errorText), [
    'involvedObject.namespace: Invalid value: "other": does not match event.namespace',
  ]);
  assert.deepEqual(ev.validate!({ ...e, eventTime: '2024-05-01T09:00:00.000000Z', reason: '' }).map(errorText), [
    'reportingController: Required value',
    `reportingController: Invalid value: "": name part must be non-empty`,
    `reportingController: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
    'reportingInstance: Required value',
    'action: Required value',
    'reason: Required value',
  ]);
  assert.deepEqual(
    ev.columns.map((c) => [c.name, c.priority, c.format]),
    [
      ['Last Seen', 0, ''],
      ['Type', 0, ''],
      ['Reason', 0, ''],
      ['Object', 0, ''],
      ['Subobject', 1, ''],
      ['Source', 1, ''],
      ['Message', 0, ''],
      ['First Seen', 1, ''],
      ['Count', 1, ''],
      ['Name', 1, 'name'],
    ],
  );
  assert.deepEqual(ev.row(e, NOW), [
    '60s',
    'Normal',
    'Pulled',
    'pod/web',
    'spec.containers{web}',
    'kubelet, node1',
    'Successfully pulled image "nginx"',
    '60m',
    3,
    'web.17a1',
  ]);
  // New-style events: eventTime and series, reporting controller as source.
  const series: Event = {
    metadata: { name: 'x', namespace: 'default' },
    involvedObject: { kind: 'Node', name: 'node1' },
    reason: 'Starting',
    eventTime: '2024-05-01T09:50:00.000000Z',
    series: { count: 4, lastObservedTime: '2024-05-01T09:58:00.000000Z' },
    reportingComponent: 'kubelet',
    type: 'Normal',
  };
  assert.deepEqual(ev.row(series, NOW).slice(0, 9), ['2m', 'Normal', 'Starting', 'node/node1', '', 'kubelet', '', '10m', 4]);
  // Malformed on purpose: an event without involvedObject.
  assert.deepEqual(
    ev
      .row({ metadata: { name: 'y' }, involvedObject: { kind: 'Cluster' } }, NOW)
      .slice(0, 4)
      .concat(ev.row(decoded<Event>({ metadata: { name: 'y' } }), NOW).slice(8, 9)),
    ['<unknown>', '', '', 'cluster', 1],
  );
  assert.deepEqual(ev.fields!(e), {
    'involvedObject.kind': 'Pod',
    'involvedObject.namespace': 'default',
    'involvedObject.name': 'web',
    'involvedObject.uid': 'u1',
    'involvedObject.apiVersion': 'v1',
    'involvedObject.resourceVersion': '12',
    'involvedObject.fieldPath': 'spec.containers{web}',
    reason: 'Pulled',
    reportingComponent: '',
    source: 'kubelet',
    type: 'Normal',
  });
});

test('lease: durations and the Holder column', () => {
  const l: Lease = { metadata: meta('node1'), spec: { holderIdentity: 'node1', leaseDurationSeconds: 40, leaseTransitions: 0 } };
  assert.deepEqual(lease.validate!(l), []);
  assert.deepEqual(lease.validate!({ ...l, spec: { leaseDurationSeconds: 0, leaseTransitions: -1 } }).map(errorText), [
    'spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0',
    'spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0',
  ]);
  assert.deepEqual(lease.row(l, NOW), ['node1', 'node1', '5m']);
  assert.deepEqual(lease.row({ metadata: meta('free'), spec: {} }, NOW), ['free', '', '5m']);
  assert.deepEqual(
    lease.columns.map((c) => c.name),
    ['Name', 'Holder', 'Age'],
  );
});
