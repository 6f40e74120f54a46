import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Ingress, IngressClass } from '../types.js';
import { decoded } from '../../testing/decoded.js';
import { errorText } from '../validation.js';
import { defaultIngressClass, ingressClassStrategy as icls, ingressStrategy as ing, validateIngressCreate } from './ingress.js';

const NOW = Date.parse('2024-05-01T10:00:00Z');
const meta = (name: string, extra: object = {}) => ({ name, namespace: 'default', creationTimestamp: '2024-05-01T09:55:00Z', ...extra });
const backend = { service: { name: 'web', port: { number: 80 } } };

test('ingress: a valid object, then every rule Kubernetes checks, with its wording', () => {
  const ok: Ingress = {
    metadata: meta('web'),
    spec: {
      ingressClassName: 'nginx',
      tls: [{ hosts: ['*.example.com'], secretName: 'tls' }],
      rules: [
        {
          host: 'a.example.com',
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend },
              { pathType: 'ImplementationSpecific', backend: { resource: { apiGroup: 'k8s.example.com', kind: 'Bucket', name: 'static' } } },
            ],
          },
        },
        { host: '*.example.com', http: { paths: [{ path: '/x', pathType: 'Exact', backend: { service: { name: 'web', port: { name: 'http' } } } }] } },
      ],
    },
  };
  assert.deepEqual(ing.validate!(ok), []);
  assert.deepEqual(ing.validate!({ metadata: meta('e'), spec: {} }).map(errorText), [
    'spec: Invalid value: []: either `defaultBackend` or `rules` must be specified',
  ]);
  // Malformed on purpose: paths without pathType, a resource without kind.
  const bad = decoded<Ingress>({
    metadata: meta('bad'),
    spec: {
      ingressClassName: 'Nginx',
      defaultBackend: { service: { name: 'web' } },
      tls: [{ hosts: ['A.example.com'], secretName: 'Bad' }],
      rules: [
        { host: '10.0.0.1', http: { paths: [] } },
        {
          host: 'foo.*.com',
          http: {
            paths: [
              { path: 'rel', pathType: 'Prefix', backend },
              { path: '/a//b/..', pathType: 'Exact', backend },
              { path: '/x', backend },
              { path: '/x', pathType: 'Regex', backend },
              { path: '/x', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http', number: 80 } }, resource: { kind: 'K', name: 'n' } } },
              { path: '/x', pathType: 'Prefix', backend: { service: { name: '1web', port: { number: 70000 } } } },
              { path: '/x', pathType: 'Prefix', backend: {} },
              { path: '/x', pathType: 'Prefix', backend: { resource: { name: 'a/b' } } },
            ],
          },
        },
      ],
    },
  });
  assert.deepEqual(ing.validate!(bad).map(errorText), [
    'spec.defaultBackend: Required value: port name or number is required',
    'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address',
    'spec.rules[0].http.paths: Required value',
    `spec.rules[1].host: Invalid value: "foo.*.com": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    'spec.rules[1].http.paths[0].path: Invalid value: "rel": must be an absolute path',
    `spec.rules[1].http.paths[1].path: Invalid value: "/a//b/..": must not contain '//'`,
    `spec.rules[1].http.paths[1].path: Invalid value: "/a//b/..": cannot end with '/..'`,
    'spec.rules[1].http.paths[2].pathType: Required value: pathType must be specified',
    'spec.rules[1].http.paths[3].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"',
    'spec.rules[1].http.paths[4].backend: Invalid value: "": cannot set both resource and service backends',
    `spec.rules[1].http.paths[5].backend.service.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
    'spec.rules[1].http.paths[5].backend.service.port.number: Invalid value: 70000: must be between 1 and 65535, inclusive',
    'spec.rules[1].http.paths[6].backend: Invalid value: "": resource or service backend is required',
    'spec.rules[1].http.paths[7].backend.resource.kind: Required value: kind is required',
    `spec.rules[1].http.paths[7].backend.resource.name: Invalid value: "a/b": may not contain '/'`,
    `spec.tls[0].hosts[0]: Invalid value: "A.example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    `spec.tls[0].secretName: Invalid value: "Bad": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    `spec.ingressClassName: Invalid value: "Nginx": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
  ]);
  assert.deepEqual(
    validateIngressCreate({ metadata: meta('x', { annotations: { 'kubernetes.io/ingress.class': 'nginx' } }), spec: { ingressClassName: 'nginx' } }).map(
      errorText,
    ),
    ['annotations.kubernetes.io/ingress.class: Invalid value: "nginx": can not be set when the class field is also set'],
  );
});

test('ingress: the table as kubectl prints it', () => {
  const o: Ingress = {
    metadata: meta('web'),
    spec: { rules: [{ host: 'a' }, {}, { host: 'b' }, { host: 'c' }, { host: 'd' }] },
    status: { loadBalancer: { ingress: [{ ip: '192.168.100.100' }, { hostname: 'lb.example.com' }] } },
  };
  assert.deepEqual(
    ing.columns.map((c) => c.name),
    ['Name', 'Class', 'Hosts', 'Address', 'Ports', 'Age'],
  );
  assert.deepEqual(ing.row(o, NOW), ['web', '<none>', 'a,b,c + 2 more...', '192.168.100.1...', '80', '5m']);
  assert.deepEqual(ing.row({ metadata: meta('t'), spec: { ingressClassName: 'nginx', defaultBackend: {}, tls: [{}] } }, NOW), [
    't',
    'nginx',
    '*',
    '',
    '80, 443',
    '5m',
  ]);
});

test('ingress class: controller, parameters, scope default, immutable controller, table', () => {
  const c: IngressClass = {
    metadata: meta('nginx'),
    spec: { controller: 'k8s.io/ingress-nginx', parameters: { apiGroup: 'k8s.example.com', kind: 'Params', name: 'p' } },
  };
  icls.defaults!(c);
  assert.equal(c.spec?.parameters?.scope, 'Cluster');
  assert.deepEqual(icls.validate!(c), []);
  assert.deepEqual(icls.row(c, NOW), ['nginx', 'k8s.io/ingress-nginx', 'Params.k8s.example.com/p', '5m']);
  const bad: IngressClass = { metadata: meta('x'), spec: { controller: 'no-slash', parameters: { kind: 'P', name: 'p', scope: 'Namespace' } } };
  assert.deepEqual(icls.validate!(bad).map(errorText), [
    'spec.controller: Invalid value: "no-slash": must be a domain-prefixed path (such as "acme.io/foo")',
    "spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'",
  ]);
  assert.deepEqual(
    icls.validate!({ metadata: meta('y'), spec: { controller: 'a.io/b', parameters: { kind: 'P', name: 'p', scope: 'Cluster', namespace: 'x' } } }).map(
      errorText,
    ),
    ["spec.parameters.namespace: Forbidden: `parameters.scope` is set to 'Cluster'"],
  );
  assert.deepEqual(
    icls.validate!({ metadata: meta('z'), spec: { controller: 'a.io/b', parameters: { kind: 'P', name: 'p', scope: 'Global' } } }).map(errorText),
    ['spec.parameters.scope: Unsupported value: "Global": supported values: "Cluster", "Namespace"'],
  );
  assert.deepEqual(icls.validateUpdate!({ ...c, spec: { controller: 'k8s.io/other' } }, c).map(errorText), [
    'spec.controller: Invalid value: "k8s.io/other": field is immutable',
  ]);
});

test('the default class admission: only for Ingresses that name no class; the newest default wins', () => {
  const cls = (name: string, created: string, isDefault: string | undefined): IngressClass => ({
    metadata: { name, creationTimestamp: created, annotations: isDefault === undefined ? {} : { 'ingressclass.kubernetes.io/is-default-class': isDefault } },
    spec: {},
  });
  const classes = [cls('old', '2024-01-01T00:00:00Z', 'true'), cls('new', '2024-02-01T00:00:00Z', 'true'), cls('other', '2024-03-01T00:00:00Z', 'false')];
  const a: Ingress = { metadata: meta('a'), spec: {} };
  defaultIngressClass(a, classes);
  assert.equal(a.spec?.ingressClassName, 'new');
  const b: Ingress = { metadata: meta('b'), spec: { ingressClassName: 'mine' } };
  defaultIngressClass(b, classes);
  assert.equal(b.spec?.ingressClassName, 'mine');
  const c: Ingress = { metadata: meta('c', { annotations: { 'kubernetes.io/ingress.class': 'legacy' } }), spec: {} };
  defaultIngressClass(c, classes);
  assert.equal(c.spec?.ingressClassName, undefined);
  const d: Ingress = { metadata: meta('d'), spec: {} };
  defaultIngressClass(d, [classes[2]]);
  assert.equal(d.spec?.ingressClassName, undefined);
});
