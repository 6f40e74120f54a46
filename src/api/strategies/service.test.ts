import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from '../types.js';
import { must } from '../../testing/must.js';
import { errorText } from '../validation.js';
import { serviceStrategy as s } from './service.js';

const NOW = Date.parse('2024-05-01T10:00:00Z');

/** A service as the API server decodes it: the specs are what a client may send, wrong types included
 *  (validation's hostile input), so they are taken as decoded JSON and not checked here. */
function svc(spec: Record<string, unknown>, status?: Record<string, unknown>): Service {
  const o = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default', creationTimestamp: '2024-05-01T09:00:00Z' }, spec } as Service;
  if (status) o.status = status;
  return o;
}

function defaulted(spec: Record<string, unknown>, status?: Record<string, unknown>): Service {
  const o = svc(structuredClone(spec), status);
  s.defaults!(o);
  return o;
}

const errors = (spec: Record<string, unknown>) => s.validate!(defaulted(spec)).map(errorText);

test('service defaults: ClusterIP', () => {
  assert.deepEqual(defaulted({ selector: { app: 'web' }, ports: [{ port: 80 }] }).spec, {
    selector: { app: 'web' },
    ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    type: 'ClusterIP',
    sessionAffinity: 'None',
    internalTrafficPolicy: 'Cluster',
    ipFamilyPolicy: 'SingleStack',
    ipFamilies: ['IPv4'],
  });
});

test('service defaults per type', () => {
  const np = must(defaulted({ type: 'NodePort', ports: [{ port: 80, targetPort: 'http' }] }).spec);
  assert.equal(np.externalTrafficPolicy, 'Cluster');
  assert.equal(np.ports?.[0].targetPort, 'http');
  const lb = defaulted({ type: 'LoadBalancer', ports: [{ port: 443, protocol: 'TCP' }] }, { loadBalancer: { ingress: [{ ip: '172.30.0.200' }] } });
  assert.equal(lb.spec?.allocateLoadBalancerNodePorts, true);
  assert.equal(lb.spec?.externalTrafficPolicy, 'Cluster');
  assert.deepEqual(lb.status?.loadBalancer?.ingress, [{ ip: '172.30.0.200', ipMode: 'VIP' }]);
  const en = defaulted({ type: 'ExternalName', externalName: 'example.com' }).spec;
  assert.deepEqual(en, { type: 'ExternalName', externalName: 'example.com', sessionAffinity: 'None' });
  const headless = must(defaulted({ clusterIP: 'None', ports: [{ port: 80 }] }).spec);
  assert.deepEqual([headless.clusterIPs, headless.ipFamilyPolicy, headless.ipFamilies], [['None'], 'RequireDualStack', ['IPv4']]);
  const headlessSel = must(defaulted({ clusterIP: 'None', selector: { a: 'b' }, ports: [{ port: 80 }] }).spec);
  assert.equal(headlessSel.ipFamilyPolicy, 'SingleStack');
  const v6 = must(defaulted({ clusterIP: 'fd00::10', ports: [{ port: 80 }] }).spec);
  assert.deepEqual([v6.clusterIPs, v6.ipFamilies], [['fd00::10'], ['IPv6']]);
  const affinity = must(defaulted({ sessionAffinity: 'ClientIP', ports: [{ port: 80 }] }).spec);
  assert.deepEqual(affinity.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } });
});

test('service validation: valid services pass', () => {
  assert.deepEqual(errors({ selector: { app: 'web' }, ports: [{ port: 80 }] }), []);
  assert.deepEqual(errors({ clusterIP: 'None', selector: { app: 'web' } }), []);
  assert.deepEqual(errors({ type: 'ExternalName', externalName: 'db.example.com.' }), []);
  assert.deepEqual(
    errors({
      type: 'NodePort',
      ports: [
        { name: 'http', port: 80, nodePort: 30080 },
        { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
      ],
    }),
    [],
  );
  assert.deepEqual(
    errors({
      clusterIP: '10.96.0.10',
      ports: [
        { port: 53, protocol: 'UDP', name: 'dns' },
        { port: 53, protocol: 'TCP', name: 'dns-tcp' },
      ],
    }),
    [],
  );
});

test('service validation: the exact errors Kubernetes reports', () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['ports required', { selector: { a: 'b' } }, ['spec.ports: Required value']],
    ['port range', { ports: [{ port: 0, targetPort: 8080 }] }, ['spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive']],
    ['names when several', { ports: [{ port: 80 }, { port: 443 }] }, ['spec.ports[0].name: Required value', 'spec.ports[1].name: Required value']],
    [
      'duplicate port',
      {
        ports: [
          { name: 'a', port: 80 },
          { name: 'b', port: 80 },
        ],
      },
      [
        'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}',
      ],
    ],
    [
      'duplicate name',
      {
        ports: [
          { name: 'a', port: 80 },
          { name: 'a', port: 81 },
        ],
      },
      ['spec.ports[1].name: Duplicate value: "a"'],
    ],
    ['protocol', { ports: [{ port: 80, protocol: 'ICMP' }] }, ['spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"']],
    [
      'target port name',
      { ports: [{ port: 80, targetPort: 'Web_Port' }] },
      ['spec.ports[0].targetPort: Invalid value: "Web_Port": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'],
    ],
    [
      'type',
      { type: 'Magic', ports: [{ port: 80 }] },
      ['spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'],
    ],
    ['external name required', { type: 'ExternalName' }, ['spec.externalName: Required value']],
    [
      'external name format',
      { type: 'ExternalName', externalName: 'Not_A_Host' },
      [
        `spec.externalName: Invalid value: "Not_A_Host": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
      ],
    ],
    [
      'external name with cluster IP',
      { type: 'ExternalName', externalName: 'a.b', clusterIP: '10.96.0.5' },
      ['spec.clusterIPs: Forbidden: may not be set for ExternalName services'],
    ],
    [
      'cluster IP',
      { clusterIP: 'bogus', ports: [{ port: 80 }] },
      ['spec.clusterIPs[0]: Invalid value: "bogus": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
    ],
    [
      'headless NodePort',
      { type: 'NodePort', clusterIP: 'None', ports: [{ port: 80 }] },
      ['spec.clusterIPs[0]: Invalid value: "None": may not be set to \'None\' for NodePort services'],
    ],
    ['node port on ClusterIP', { ports: [{ port: 80, nodePort: 30080 }] }, ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]],
    [
      'duplicate node port',
      {
        type: 'NodePort',
        ports: [
          { name: 'a', port: 80, nodePort: 30080 },
          { name: 'b', port: 81, nodePort: 30080 },
        ],
      },
      ['spec.ports[1].nodePort: Duplicate value: 30080'],
    ],
    [
      'affinity timeout',
      { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } }, ports: [{ port: 80 }] },
      ['spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400'],
    ],
    [
      'affinity type',
      { sessionAffinity: 'Sticky', ports: [{ port: 80 }] },
      ['spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"'],
    ],
    [
      'selector',
      { selector: { app: 'a b' }, ports: [{ port: 80 }] },
      [
        "spec.selector: Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      ],
    ],
    [
      'external IP',
      { externalIPs: ['127.0.0.1'], ports: [{ port: 80 }] },
      ['spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ],
    [
      'traffic policy',
      { externalTrafficPolicy: 'Local', ports: [{ port: 80 }] },
      ['spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services'],
    ],
    [
      'source ranges',
      { loadBalancerSourceRanges: ['10.0.0.0/8'], ports: [{ port: 80 }] },
      ["spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"],
    ],
    ['families', { ipFamilies: ['IPv4', 'IPv4'], ports: [{ port: 80 }] }, ['spec.ipFamilies[1]: Duplicate value: "IPv4"']],
  ];
  for (const [name, spec, want] of cases) assert.deepEqual(errors(spec), want, name);
});

/** The stored object after an update from old with the given new spec (prepare, defaults, validation). */
function update(oldSpec: Record<string, unknown>, newSpec: Record<string, unknown>): { next: Service; errs: string[] } {
  const old = defaulted(oldSpec);
  const next = svc(structuredClone(newSpec));
  s.prepareForUpdate!(next, old);
  s.defaults!(next);
  return { next, errs: [...s.validate!(next), ...s.validateUpdate!(next, old)].map(errorText) };
}

test('service updates: allocated values are kept, cluster IPs may not change', () => {
  const base = { selector: { app: 'web' }, clusterIP: '10.96.0.10', ports: [{ port: 80 }] };
  const kept = update(base, { selector: { app: 'web2' }, ports: [{ port: 80 }] });
  assert.deepEqual(kept.errs, []);
  assert.equal(kept.next.spec?.clusterIP, '10.96.0.10');
  assert.deepEqual(kept.next.spec?.clusterIPs, ['10.96.0.10']);

  assert.deepEqual(update(base, { ...base, clusterIP: '10.96.0.11' }).errs, [
    'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set',
  ]);

  // To ExternalName: the cluster IP goes with the type change.
  const toName = update(base, { type: 'ExternalName', externalName: 'example.com', clusterIP: '10.96.0.10', ports: [{ port: 80 }] });
  assert.deepEqual(toName.errs, []);
  assert.equal(toName.next.spec?.clusterIP, undefined);
  assert.equal(toName.next.spec?.ipFamilies, undefined);

  // Node ports carry over by port name when a client leaves them out.
  const np = { type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] };
  const npKept = update(np, { type: 'NodePort', ports: [{ name: 'http', port: 8080 }] });
  assert.deepEqual(npKept.errs, []);
  assert.equal(npKept.next.spec?.ports?.[0].nodePort, 30080);
  // Back to ClusterIP: the node ports and external traffic policy are dropped.
  const back = update(
    { ...np, clusterIP: '10.96.0.12' },
    { type: 'ClusterIP', clusterIP: '10.96.0.12', externalTrafficPolicy: 'Cluster', ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
  );
  assert.deepEqual(back.errs, []);
  assert.equal(back.next.spec?.ports?.[0].nodePort, undefined);
  assert.equal(back.next.spec?.externalTrafficPolicy, undefined);
});

test('service status: load-balancer ingress only for LoadBalancer, valid IPs', () => {
  const lb = defaulted({ type: 'LoadBalancer', ports: [{ port: 80 }] }, { loadBalancer: { ingress: [{ ip: '172.30.0.200', ipMode: 'VIP' }] } });
  assert.deepEqual(s.validateStatus!(lb, lb), []);
  const bad = structuredClone(lb);
  must(bad.status?.loadBalancer).ingress = [{ ip: 'nope' }, { hostname: '10.0.0.1' }];
  assert.deepEqual(s.validateStatus!(bad, lb).map(errorText), [
    'status.loadBalancer.ingress[0].ip: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    'status.loadBalancer.ingress[1].hostname: Invalid value: "10.0.0.1": must be a DNS name, not an IP address',
  ]);
  const cip = defaulted({ ports: [{ port: 80 }] }, { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } });
  assert.deepEqual(s.validateStatus!(cip, cip).map(errorText), ["status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"]);
});

test('service table: columns and rows', () => {
  assert.deepEqual(
    s.columns.map((c) => [c.name, c.type, c.priority]),
    [
      ['Name', 'string', 0],
      ['Type', 'string', 0],
      ['Cluster-IP', 'string', 0],
      ['External-IP', 'string', 0],
      ['Port(s)', 'string', 0],
      ['Age', 'string', 0],
      ['Selector', 'string', 1],
    ],
  );
  const row = (spec: Record<string, unknown>, status?: Record<string, unknown>) => s.row(defaulted(spec, status), NOW);
  assert.deepEqual(row({ clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, targetPort: 6443 }] }), [
    'web',
    'ClusterIP',
    '10.96.0.1',
    '<none>',
    '443/TCP',
    '60m',
    '<none>',
  ]);
  assert.deepEqual(
    row({
      type: 'NodePort',
      clusterIP: '10.96.0.2',
      selector: { app: 'web', tier: 'a' },
      ports: [
        { name: 'a', port: 80, nodePort: 30080 },
        { name: 'b', port: 53, protocol: 'UDP' },
      ],
    }),
    ['web', 'NodePort', '10.96.0.2', '<none>', '80:30080/TCP,53/UDP', '60m', 'app=web,tier=a'],
  );
  assert.deepEqual(row({ type: 'LoadBalancer', clusterIP: '10.96.0.3', ports: [{ port: 80, nodePort: 31000 }] }).slice(3, 4), ['<pending>']);
  assert.deepEqual(
    row(
      { type: 'LoadBalancer', clusterIP: '10.96.0.3', externalIPs: ['192.0.2.9'], ports: [{ port: 80 }] },
      { loadBalancer: { ingress: [{ ip: '172.30.0.201' }, { ip: '172.30.0.200' }] } },
    ).slice(3, 4),
    ['172.30.0.200,172.30.0.201,192.0.2.9'],
  );
  assert.deepEqual(row({ type: 'ExternalName', externalName: 'db.example.com' }).slice(1, 5), ['ExternalName', '<none>', 'db.example.com', '<none>']);
  assert.deepEqual(row({ clusterIP: 'None', ports: [{ port: 80 }] }).slice(2, 3), ['None']);
  assert.deepEqual(row({ clusterIP: '10.96.0.4', externalIPs: ['192.0.2.1'], ports: [{ port: 80 }] }).slice(3, 4), ['192.0.2.1']);
});

test('service field selectors', () => {
  assert.deepEqual(s.fields!(defaulted({ clusterIP: 'None', ports: [{ port: 80 }] })), { 'spec.clusterIP': 'None', 'spec.type': 'ClusterIP' });
});
