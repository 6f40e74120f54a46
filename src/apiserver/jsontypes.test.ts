// The JSON type check against Go's decoder: every JSON kind against every Go type, in structs, lists and
// maps, through $ref cycles, with Go's wording; and the API server refusing a wrong type on create,
// update and patch before anything is stored.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { kindDefinition, mismatchMessage, typeMismatch, type TypeMismatch } from './jsontypes.js';
import { decodeStrictly } from './typecheck.js';
import { ApiError } from '../api/status.js';
import { definitions, type Schema } from './openapi/schemas.js';
import { API_VERSION_PACKAGES, K8S_SCHEMA, KINDS, messageForKind } from './protobuf/k8s-messages.js';
import type { FieldDef, MessageDef } from './protobuf/schema.js';

const JSON_VALUES: Record<string, unknown> = { string: 'x', number: 7, bool: true, array: ['x'], object: { a: 'x' } };

/** The mismatch for `value` put at `at` (a dotted path into a Pod), or undefined. */
function podWith(at: string, value: unknown): TypeMismatch | undefined {
  const pod: Record<string, unknown> = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } };
  const keys = at.split('.');
  let o = pod as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[keys[keys.length - 1]] = value;
  return typeMismatch('v1', 'Pod', pod);
}

describe('every JSON kind against every Go type', () => {
  // A field of each Go type in a Pod, and the JSON kinds it takes.
  const fields: { at: string; goType: string; struct: string; takes: string[] }[] = [
    { at: 'spec.nodeName', goType: 'string', struct: 'PodSpec', takes: ['string'] },
    { at: 'spec.hostNetwork', goType: 'bool', struct: 'PodSpec', takes: ['bool'] },
    { at: 'spec.priority', goType: 'int32', struct: 'PodSpec', takes: ['number'] },
    { at: 'spec.activeDeadlineSeconds', goType: 'int64', struct: 'PodSpec', takes: ['number'] },
    { at: 'spec.nodeSelector', goType: 'map[string]string', struct: 'PodSpec', takes: ['object'] },
    { at: 'spec.containers', goType: '[]v1.Container', struct: 'PodSpec', takes: ['array'] },
    { at: 'spec.dnsConfig', goType: 'v1.PodDNSConfig', struct: 'PodSpec', takes: ['object'] },
    { at: 'metadata.creationTimestamp', goType: 'string', struct: 'ObjectMeta', takes: ['string'] },
  ];
  for (const f of fields) {
    for (const [kind, value] of Object.entries(JSON_VALUES)) {
      test(`${kind} into ${f.at} (${f.goType})`, () => {
        const m = podWith(f.at, kind === 'array' && f.goType.startsWith('[]') ? [{ name: 'c' }] : value);
        if (f.takes.includes(kind)) return assert.equal(m, undefined);
        assert.ok(m, `${kind} into ${f.goType} must fail`);
        assert.equal(m.value, kind === 'number' ? (f.goType.startsWith('int') ? 'number 7' : 'number') : kind);
        assert.equal(m.goType, f.goType);
        assert.equal(m.struct, f.struct);
        assert.equal(m.field, f.at);
        assert.equal(mismatchMessage(m), `json: cannot unmarshal ${m.value} into Go struct field ${f.struct}.${f.at} of type ${f.goType}`);
      });
    }
  }

  test('null is allowed anywhere: Go leaves the field zero', () => {
    for (const at of ['spec', 'spec.nodeName', 'spec.containers', 'spec.priority', 'metadata.labels', 'metadata.creationTimestamp']) {
      assert.equal(podWith(at, null), undefined, at);
    }
    assert.equal(podWith('metadata.labels', { a: null }), undefined);
    assert.equal(podWith('spec.containers', [null, { name: 'c', args: [null] }]), undefined);
  });

  test('unknown fields are not the type check’s business', () => {
    assert.equal(podWith('spec.noSuchField', [1, { a: true }]), undefined);
  });
});

describe('numbers as Go reads them', () => {
  test('int32 takes integers in [-2^31, 2^31)', () => {
    for (const ok of [0, -1, 2 ** 31 - 1, -(2 ** 31)]) assert.equal(podWith('spec.priority', ok), undefined, String(ok));
    for (const bad of [2 ** 31, -(2 ** 31) - 1, 1.5, 1e10]) {
      const m = podWith('spec.priority', bad);
      assert.equal(m?.value, `number ${bad}`);
      assert.equal(m?.goType, 'int32');
    }
  });

  test('int64 takes integers in [-2^63, 2^63) and no fractions', () => {
    assert.equal(podWith('spec.activeDeadlineSeconds', 2 ** 53), undefined);
    assert.equal(podWith('spec.activeDeadlineSeconds', -(2 ** 63)), undefined);
    assert.equal(podWith('spec.activeDeadlineSeconds', 2 ** 63)?.value, `number ${2 ** 63}`);
    assert.equal(podWith('spec.activeDeadlineSeconds', 0.5)?.goType, 'int64');
  });
});

describe('types with a decoder of their own', () => {
  test('IntOrString: a string, or an int32', () => {
    const port = (targetPort: unknown) => typeMismatch('v1', 'Service', { spec: { ports: [{ port: 80, targetPort }] } });
    assert.equal(port('http'), undefined);
    assert.equal(port(8080), undefined);
    for (const [v, value] of [
      [1.5, 'number 1.5'],
      [2 ** 31, `number ${2 ** 31}`],
      [true, 'bool'],
      [[80], 'array'],
      [{}, 'object'],
    ] as const) {
      const m = port(v);
      assert.equal(m?.value, value);
      assert.equal(m?.goType, 'int32');
      assert.equal(m?.path, 'spec.ports[0].targetPort');
      assert.equal(mismatchMessage(m!), `json: cannot unmarshal ${value} into Go struct field ServicePort.spec.ports.targetPort of type int32`);
    }
  });

  test('Quantity: a string or a number', () => {
    const limit = (cpu: unknown) => podWith('spec.containers', [{ name: 'c', resources: { limits: { cpu } } }]);
    for (const ok of ['500m', '1Gi', 2, 0.5]) assert.equal(limit(ok), undefined, String(ok));
    for (const bad of [true, ['1'], { v: 1 }]) {
      const m = limit(bad);
      assert.equal(m?.goType, 'resource.Quantity');
      assert.equal(m?.path, 'spec.containers[0].resources.limits["cpu"]');
      assert.equal(m?.field, 'spec.containers.resources.limits');
      assert.equal(m?.struct, 'ResourceRequirements');
    }
  });

  test('RawExtension and FieldsV1 take any JSON', () => {
    const managed = (fieldsV1: unknown) => podWith('metadata.managedFields', [{ manager: 'm', fieldsType: 'FieldsV1', fieldsV1 }]);
    for (const v of [{ 'f:spec': {} }, 'x', 1, [1]]) assert.equal(managed(v), undefined);
    assert.equal(typeMismatch('apps/v1', 'ControllerRevision', { data: [1, 'x'], revision: 1 }), undefined);
    assert.equal(typeMismatch('apps/v1', 'ControllerRevision', { data: {}, revision: 'x' })?.goType, 'int64');
  });
});

describe('lists, maps and where a failure is', () => {
  test('nested lists and maps: Go names the fields, the path adds indices and keys', () => {
    const m = podWith('spec.containers', [{ name: 'a' }, { name: 'b', env: [{ name: 'E', valueFrom: { fieldRef: { fieldPath: 7 } } }] }]);
    assert.equal(m?.struct, 'ObjectFieldSelector');
    assert.equal(m?.field, 'spec.containers.env.valueFrom.fieldRef.fieldPath');
    assert.equal(m?.path, 'spec.containers[1].env[0].valueFrom.fieldRef.fieldPath');
    const cm = typeMismatch('v1', 'ConfigMap', { data: { 'a.b': 'x', c: ['y'] } });
    assert.equal(mismatchMessage(cm!), 'json: cannot unmarshal array into Go struct field ConfigMap.data of type string');
    assert.equal(cm?.path, 'data["c"]');
    assert.equal(podWith('spec.containers', [{ name: 'c', args: ['a', 1] }])?.path, 'spec.containers[0].args[1]');
  });

  test('the first wrong value in document order is the one reported, as Go saves the first error', () => {
    const m = podWith('spec', { nodeName: 1, priority: 'x', containers: [] });
    assert.equal(m?.field, 'spec.nodeName');
  });

  test('$ref cycles: JSONSchemaProps inside JSONSchemaProps, and its unions', () => {
    const crd = (schema: unknown) =>
      typeMismatch('apiextensions.k8s.io/v1', 'CustomResourceDefinition', {
        spec: {
          group: 'g',
          names: { kind: 'K', plural: 'ks' },
          scope: 'Namespaced',
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema } }],
        },
      });
    const deep = { type: 'object', properties: { a: { type: 'object', properties: { b: { type: 'array', items: { type: 'string', maxLength: 5 } } } } } };
    assert.equal(crd(deep), undefined);
    assert.equal(crd({ additionalProperties: false, items: [{ type: 'string' }], default: [1, 'x'], enum: ['a', 1] }), undefined);
    assert.equal(crd({ additionalProperties: { type: 'string' } }), undefined);
    const m = crd({ properties: { a: { properties: { b: { maxLength: 'five' } } } } });
    assert.equal(m?.struct, 'JSONSchemaProps');
    assert.equal(m?.value, 'string');
    assert.equal(m?.path, 'spec.versions[0].schema.openAPIV3Schema.properties["a"].properties["b"].maxLength');
    assert.equal(crd({ additionalProperties: 'yes' })?.goType, 'v1.JSONSchemaPropsOrBool');
    assert.equal(crd({ items: true })?.goType, 'v1.JSONSchemaPropsOrArray');
  });

  test('kinds without a definition (custom resources) are left to their own schemas', () => {
    assert.equal(typeMismatch('example.com/v1', 'Widget', { spec: { size: [1] } }), undefined);
  });

  test('kinds the protobuf tables do not describe are checked too', () => {
    assert.equal(typeMismatch('storage.k8s.io/v1', 'StorageClass', { provisioner: ['x'] })?.struct, 'StorageClass');
  });
});

describe('decodeStrictly answers as kube-apiserver does', () => {
  const status = (f: () => unknown): ApiError => {
    try {
      f();
    } catch (e) {
      if (e instanceof ApiError) return e;
      throw e;
    }
    assert.fail('expected an ApiError');
  };
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { nodeName: ['n1'], containers: [{ name: 'c', image: 'i' }] } };

  test('a body: 400 BadRequest, the kind and Go’s message', () => {
    const e = status(() => decodeStrictly(pod, 'v1', 'Pod', 'Strict'));
    assert.equal(e.code, 400);
    assert.equal(e.reason, 'BadRequest');
    assert.equal(
      e.message,
      'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal array into Go struct field PodSpec.spec.nodeName of type string',
    );
  });

  test('a patch’s result: 422 Invalid on `patch`, with the patched object', () => {
    const e = status(() => decodeStrictly(pod, 'v1', 'Pod', 'Warn', 'patch'));
    assert.equal(e.code, 422);
    assert.equal(e.reason, 'Invalid');
    assert.equal(e.details?.causes?.[0].field, 'patch');
    assert.match(
      e.message,
      /^ "" is invalid: patch: Invalid value: "\{.*nodeName.*\}": json: cannot unmarshal array into Go struct field PodSpec\.spec\.nodeName of type string$/,
    );
  });

  test('unknown fields still follow fieldValidation once the types are right', () => {
    const ok = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }], extra: 1 } };
    assert.deepEqual(decodeStrictly(structuredClone(ok), 'v1', 'Pod', 'Warn'), ['unknown field "spec.extra"']);
    assert.equal(status(() => decodeStrictly(structuredClone(ok), 'v1', 'Pod', 'Strict')).message, 'strict decoding error: unknown field "spec.extra"');
  });
});

describe('one walk decodes a body', () => {
  const pod = () => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', labels: { a: 'x' }, odd: 1, namespace: null },
    spec: {
      containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80, what: 'x' }] }],
      nodeSelector: { k: 'v' },
      overhead: { cpu: '1' },
      nodeName: null,
    },
  });

  test('unknown fields at any depth, with list indices, in the order met', () => {
    assert.deepEqual(decodeStrictly(pod(), 'v1', 'Pod', 'Warn'), ['unknown field "metadata.odd"', 'unknown field "spec.containers[0].ports[0].what"']);
  });

  test('Warn and Ignore drop unknown and null fields; Strict refuses and names them all', () => {
    for (const mode of ['Warn', 'Ignore'] as const) {
      const p = pod();
      decodeStrictly(p, 'v1', 'Pod', mode);
      assert.deepEqual(p.metadata, { name: 'p', labels: { a: 'x' } }, mode);
      assert.deepEqual(p.spec.containers[0].ports[0], { containerPort: 80 }, mode);
      assert.equal('nodeName' in p.spec, false, mode);
    }
    assert.throws(() => decodeStrictly(pod(), 'v1', 'Pod', 'Strict'), {
      message: 'strict decoding error: unknown field "metadata.odd", unknown field "spec.containers[0].ports[0].what"',
    });
  });

  test('a type error leaves the body as it came (a patch’s error shows it)', () => {
    const p = pod() as Record<string, unknown> & ReturnType<typeof pod>;
    (p.spec as Record<string, unknown>).priority = 'high';
    const before = JSON.stringify(p);
    assert.throws(() => decodeStrictly(p, 'v1', 'Pod', 'Warn', 'patch'), { code: 422 });
    assert.equal(JSON.stringify(p), before);
  });

  test('a field removed since the definitions’ version is unknown, as the protobuf tables say', () => {
    const p = { metadata: { name: 'p' }, spec: { containers: [], resourceClaims: [{ name: 'r', source: {} }] } };
    assert.deepEqual(decodeStrictly(p, 'v1', 'Pod', 'Warn'), ['unknown field "spec.resourceClaims[0].source"']);
  });

  // The walk knows fields from the OpenAPI definitions; the protobuf tables (which encode and decode
  // protobuf bodies) know them too: both must name the same fields for every kind a body may carry.
  test('the OpenAPI definitions and the protobuf tables name the same fields', () => {
    const defs = definitions();
    const resolve = (s: Schema | undefined): Schema | undefined => {
      while (s?.$ref) s = defs[s.$ref];
      return s?.allOf?.length === 1 ? resolve(s.allOf[0]) : s;
    };
    const fieldsOf = (m: MessageDef, out = new Map<string, FieldDef>()): Map<string, FieldDef> => {
      for (const f of m.fields) {
        if (f.inline) fieldsOf(K8S_SCHEMA.get(f.message!), out);
        else out.set(f.json, f);
      }
      return out;
    };
    const seen = new Set<string>();
    const differ: string[] = [];
    const walk = (msg: string, def: string, path: string, schema: Schema | undefined) => {
      if (seen.has(`${msg} ${def}`)) return;
      seen.add(`${msg} ${def}`);
      const m = K8S_SCHEMA.get(msg);
      const s = resolve(schema);
      if (m.special || m.listWrapper || !s) return;
      // TypeMeta's fields (a kind's, or DeleteOptions' in an Eviction): Go's JSON decoder knows them, the
      // protobuf tables leave them out (the protobuf envelope carries them).
      const fields = fieldsOf(m);
      const typeMeta = (k: string) => (k === 'apiVersion' || k === 'kind') && !fields.has(k);
      const known = new Set(Object.keys(s.properties ?? {}).filter((k) => !typeMeta(k) && !(path.endsWith('resourceClaims') && k === 'source')));
      for (const k of fields.keys()) if (!known.has(k)) differ.push(`${path}.${k}: only in the protobuf tables`);
      for (const k of known) if (!fields.has(k)) differ.push(`${path}.${k}: only in the OpenAPI definitions`);
      for (const [k, f] of fields) {
        let p = resolve(s.properties?.[k]);
        if (f.type !== 'message' || !p) continue;
        if (p.type === 'array') p = p.items;
        else if (f.map) p = p.additionalProperties;
        walk(f.message!, p?.$ref ?? `${def}.${k}`, `${path}.${k}`, p);
      }
    };
    let kinds = 0;
    for (const [apiVersion, pkg] of Object.entries(API_VERSION_PACKAGES)) {
      for (const kind of KINDS[pkg] ?? []) {
        const def = kindDefinition(apiVersion, kind);
        if (!def) continue;
        kinds++;
        walk(messageForKind(apiVersion, kind)!, def, kind, { $ref: def });
      }
    }
    assert.ok(kinds > 40, `only ${kinds} kinds compared`);
    assert.deepEqual(differ, []);
  });
});
