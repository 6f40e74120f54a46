import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProtoWriter, ProtobufError } from '../../util/protowire.js';
import { decodeK8sProtobuf, decodeMessage, isK8sProtobuf, K8S_PROTOBUF_MAGIC, readEnvelope } from './decode.js';
import { encodeK8sProtobuf, encodeMessage } from './encode.js';
import { K8S_SCHEMA, KINDS, API_VERSION_PACKAGES, messageForKind } from './k8s-messages.js';
import { Schema, SchemaError, type FieldDef, type MessageDef } from './schema.js';
import { formatDuration, formatMicroTime, formatTime } from './special.js';

function envelope(apiVersion: string, kind: string, raw: Uint8Array, extra: (w: ProtoWriter) => void = () => {}): Buffer {
  const w = new ProtoWriter();
  w.raw(K8S_PROTOBUF_MAGIC);
  w.message(1, (t) => t.string(1, apiVersion).string(2, kind));
  w.bytes(2, raw);
  extra(w);
  return w.finish();
}

function body(apiVersion: string, kind: string, build: (w: ProtoWriter) => void): Buffer {
  const w = new ProtoWriter();
  build(w);
  return envelope(apiVersion, kind, w.finish());
}

function rejects(fn: () => unknown, code: string, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ProtobufError, `expected ProtobufError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

test('the tables parse, every reference resolves, every kind has a message', () => {
  K8S_SCHEMA.validate();
  for (const [pkg, kinds] of Object.entries(KINDS)) {
    const apiVersion = Object.keys(API_VERSION_PACKAGES).find((v) => API_VERSION_PACKAGES[v] === pkg)!;
    for (const kind of kinds) {
      const name = messageForKind(apiVersion, kind);
      assert.equal(name, `${pkg}.${kind}`);
      assert.ok(K8S_SCHEMA.has(name!), name);
    }
  }
  assert.equal(messageForKind('apps/v1', 'DeleteOptions'), 'meta.v1.DeleteOptions');
  assert.equal(messageForKind('v1', 'PodSpec'), undefined);
  assert.equal(messageForKind('example.com/v1', 'Pod'), undefined);
  assert.ok(K8S_SCHEMA.names().length > 250);
});

test('spot checks of the tables against known Kubernetes facts', () => {
  const field = (msg: string, json: string): FieldDef => {
    const f = K8S_SCHEMA.get(msg).fields.find((x) => x.json === json);
    assert.ok(f, `${msg}.${json}`);
    return f;
  };
  assert.deepEqual([field('apps.v1.DeploymentSpec', 'replicas').num, field('apps.v1.DeploymentSpec', 'replicas').pointer], [1, true]);
  assert.equal(field('core.v1.PodSpec', 'containers').num, 2);
  assert.equal(field('core.v1.PodSpec', 'containers').repeated, true);
  assert.equal(field('core.v1.Volume', 'volumeSource').inline, true);
  assert.equal(field('core.v1.ConfigMapKeySelector', 'localObjectReference').inline, true);
  assert.equal(field('core.v1.Probe', 'handler').inline, true);
  assert.equal(field('core.v1.ContainerPort', 'containerPort').keepZero, true);
  assert.equal(field('core.v1.Secret', 'data').map, true);
  assert.equal(field('core.v1.Secret', 'data').type, 'bytes');
  assert.equal(field('meta.v1.ObjectMeta', 'creationTimestamp').message, 'meta.v1.Time');
  assert.equal(field('meta.v1.ObjectMeta', 'managedFields').num, 17);
  assert.equal(field('coordination.v1.LeaseSpec', 'renewTime').message, 'meta.v1.MicroTime');
  assert.equal(field('networking.v1.IngressClassParametersReference', 'apiGroup').num, 1);
  assert.equal(field('core.v1.ServicePort', 'targetPort').message, 'intstr.IntOrString');
  assert.equal(K8S_SCHEMA.get('authentication.v1.AttestationValue').listWrapper, true);
});

test('a broken table is reported, not silently used', () => {
  assert.throws(() => new Schema({ p: { A: 'x=1@Missing' } }).validate(), SchemaError);
  assert.throws(() => new Schema({ p: { A: 'x=1q' } }).get('p.A'), SchemaError);
  assert.throws(() => new Schema({ p: { A: 'x=1s y=1s' } }).get('p.A'), /used twice/);
  assert.throws(() => new Schema({ p: { A: 'x=1s^' } }).validate(), /inline/);
  rejects(() => new Schema({}).get('p.Nope'), 'UnsupportedKind', /p\.Nope/);
});

// What Go's encoder sends for `kubectl create deployment hello --image=nginx:1.27 --replicas=2`,
// built field by field (every non-pointer field present, pointers only when set).
function goLikeDeployment(replicas: number | undefined): Buffer {
  const objectMeta = (w: ProtoWriter, labels: Record<string, string>, name = '') => {
    w.string(1, name).string(2, '').string(3, '').string(4, '').string(5, '').string(6, '').int64(7, 0);
    w.message(8, () => {}); // zero creationTimestamp: an empty Time
    for (const [k, v] of Object.entries(labels)) w.message(11, (e) => e.string(1, k).string(2, v));
  };
  return body('apps/v1', 'Deployment', (w) => {
    w.message(1, (m) => objectMeta(m, { app: 'hello' }, 'hello'));
    w.message(2, (spec) => {
      if (replicas !== undefined) spec.int32(1, replicas);
      spec.message(2, (sel) => sel.message(1, (e) => e.string(1, 'app').string(2, 'hello')));
      spec.message(3, (tpl) => {
        tpl.message(1, (m) => objectMeta(m, { app: 'hello' }));
        tpl.message(2, (ps) => {
          ps.message(2, (c) => {
            c.string(1, 'nginx').string(2, 'nginx:1.27').string(5, '');
            c.message(8, () => {}); // resources {}
            c.string(13, '').string(14, '').bool(16, false).bool(17, false).bool(18, false).string(20, '');
          });
          ps.string(3, '').string(6, '').string(8, '').string(9, '').string(10, '');
          ps.bool(11, false).bool(12, false).bool(13, false).string(16, '').string(17, '').string(19, '').string(24, '');
        });
      });
      spec.message(4, (st) => st.string(1, ''));
      spec.int32(5, 0).bool(7, false);
    });
    w.message(3, (st) => st.int64(1, 0).int32(2, 0).int32(3, 0).int32(4, 0).int32(5, 0).int32(7, 0));
  });
}

test('a Go-encoded Deployment decodes to the JSON kubectl means, without zero-value noise', () => {
  assert.deepEqual(decodeK8sProtobuf(goLikeDeployment(2)), {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'hello', labels: { app: 'hello' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'hello' } },
      template: { metadata: { labels: { app: 'hello' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } },
    },
  });
});

test('presence decides for pointer fields: replicas 0 on the wire is kept, absent stays absent', () => {
  const spec = (b: Buffer) => decodeK8sProtobuf(b).spec as Record<string, unknown>;
  assert.equal(spec(goLikeDeployment(0)).replicas, 0);
  assert.ok(!('replicas' in spec(goLikeDeployment(undefined))));
});

test('zero-value rule, field by field', () => {
  const dec = (name: string, build: (w: ProtoWriter) => void) => {
    const w = new ProtoWriter();
    build(w);
    return decodeMessage(name, w.finish());
  };
  // non-pointer numbers/bools with omitempty: dropped; pointer: kept
  assert.deepEqual(
    dec('apps.v1.DeploymentSpec', (w) => w.int32(5, 0).bool(7, false).int32(9, 0).int32(6, 0)),
    {
      revisionHistoryLimit: 0,
      progressDeadlineSeconds: 0,
    },
  );
  // no omitempty in Go (`!`): zero kept; omitempty: dropped
  assert.deepEqual(
    dec('core.v1.ContainerPort', (w) => w.string(1, '').int32(2, 0).int32(3, 0).string(4, 'TCP')),
    { containerPort: 0, protocol: 'TCP' },
  );
  // pointer bools and pointer structs kept even when false/empty
  assert.deepEqual(
    dec('core.v1.SecurityContext', (w) =>
      w
        .message(1, () => {})
        .bool(2, false)
        .bool(5, false),
    ),
    {
      capabilities: {},
      privileged: false,
      runAsNonRoot: false,
    },
  );
  // a volume source present but empty is the volume's type
  assert.deepEqual(
    dec('core.v1.Volume', (w) => w.string(1, 'scratch').message(2, (vs) => vs.message(2, (e) => e.string(1, '')))),
    {
      name: 'scratch',
      emptyDir: {},
    },
  );
  // IntOrString: non-pointer zero dropped, pointer zero kept, strings and ints as JSON
  assert.deepEqual(
    dec('core.v1.ServicePort', (w) =>
      w
        .string(2, 'TCP')
        .int32(3, 80)
        .message(4, (p) => p.int64(1, 0).int32(2, 0).string(3, ''))
        .int32(5, 0),
    ),
    {
      protocol: 'TCP',
      port: 80,
    },
  );
  assert.deepEqual(
    dec('networking.v1.NetworkPolicyPort', (w) => w.message(2, (p) => p.int64(1, 0).int32(2, 0))),
    { port: 0 },
  );
  assert.deepEqual(
    dec('core.v1.HTTPGetAction', (w) => w.message(2, (p) => p.int64(1, 1).string(3, 'http'))),
    { port: 'http' },
  );
  // empty non-pointer structs vanish, a "0" Quantity too
  assert.deepEqual(
    dec('core.v1.Container', (w) => w.string(1, 'c').message(8, (r) => r.message(1, (e) => e.string(1, 'cpu').message(2, (q) => q.string(1, '500m'))))),
    {
      name: 'c',
      resources: { limits: { cpu: '500m' } },
    },
  );
  assert.deepEqual(
    dec('core.v1.ResourceFieldSelector', (w) => w.string(2, 'limits.cpu').message(3, (q) => q.string(1, '0'))),
    { resource: 'limits.cpu' },
  );
  // list elements are never dropped, even empty
  assert.deepEqual(
    dec('core.v1.PodSpec', (w) => w.message(22, () => {}).message(22, (t) => t.string(1, 'k'))),
    { tolerations: [{}, { key: 'k' }] },
  );
});

test('times: zero is unset, others are RFC 3339; MicroTime keeps microseconds', () => {
  const meta = decodeMessage(
    'meta.v1.ObjectMeta',
    new ProtoWriter()
      .string(1, 'x')
      .message(8, (t) => t.int64(1, 1_700_000_000).int32(2, 999))
      .message(9, (t) => t.int64(1, 0))
      .finish(),
  );
  assert.deepEqual(meta, { name: 'x', creationTimestamp: '2023-11-14T22:13:20Z' });
  const lease = decodeMessage(
    'coordination.v1.LeaseSpec',
    new ProtoWriter()
      .string(1, 'node-1')
      .int32(2, 40)
      .message(3, () => {})
      .message(4, (t) => t.int64(1, 1_700_000_000).int32(2, 123_456_789))
      .finish(),
  );
  assert.deepEqual(lease, { holderIdentity: 'node-1', leaseDurationSeconds: 40, renewTime: '2023-11-14T22:13:20.123456Z' });
  const pdb = decodeMessage(
    'policy.v1.PodDisruptionBudgetStatus',
    new ProtoWriter()
      .message(2, (e) => e.string(1, 'pod-a').message(2, (t) => t.int64(1, 1_700_000_000)))
      .message(2, (e) => e.string(1, 'pod-b').message(2, () => {}))
      .finish(),
  );
  assert.deepEqual(pdb, { disruptedPods: { 'pod-a': '2023-11-14T22:13:20Z' } });
  rejects(
    () => decodeMessage('meta.v1.ObjectMeta', new ProtoWriter().message(8, (t) => t.int64(1, 1e15)).finish()),
    'InvalidValue',
    /creationTimestamp.*0000\.\.9999/,
  );
});

test('bytes are base64, repeated scalars packed or not, maps tolerate missing keys and values', () => {
  assert.deepEqual(
    decodeK8sProtobuf(
      body('v1', 'Secret', (w) => {
        w.message(1, (m) => m.string(1, 's'));
        w.message(2, (e) => e.string(1, 'k').bytes(2, Buffer.from('v')));
        w.message(2, (e) => e.string(1, 'empty'));
        w.message(4, (e) => e.bytes(2, Buffer.from('no key')));
        w.string(3, 'Opaque');
      }),
    ),
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { k: 'dg==', empty: '' }, type: 'Opaque', stringData: { '': 'no key' } },
  );
  const codes = (build: (w: ProtoWriter) => void) => {
    const w = new ProtoWriter().string(2, 'In');
    build(w);
    return decodeMessage('batch.v1.PodFailurePolicyOnExitCodesRequirement', w.finish());
  };
  assert.deepEqual(
    codes((w) => w.packed(3, 'int32', [1, -2, 300])),
    { operator: 'In', values: [1, -2, 300] },
  );
  assert.deepEqual(
    codes((w) => w.int32(3, 1).int32(3, -2).packed(3, 'int32', [300])),
    { operator: 'In', values: [1, -2, 300] },
  );
  const proto = decodeMessage('meta.v1.ObjectMeta', new ProtoWriter().message(11, (e) => e.string(1, '__proto__').string(2, 'x')).finish()) as Record<
    string,
    Record<string, unknown>
  >;
  assert.equal(Object.getPrototypeOf(proto.labels), Object.prototype);
  assert.deepEqual(Object.keys(proto.labels), ['__proto__']);
});

test('protobuf merge rules: repeated occurrences of a message merge, scalars take the last value', () => {
  const obj = decodeK8sProtobuf(
    body('v1', 'ConfigMap', (w) => {
      w.message(1, (m) => m.string(1, 'first').message(11, (e) => e.string(1, 'a').string(2, '1')));
      w.message(1, (m) => m.string(1, 'second').message(11, (e) => e.string(1, 'b').string(2, '2')));
    }),
  );
  assert.deepEqual(obj.metadata, { name: 'second', labels: { a: '1', b: '2' } });
});

test('unknown fields of every wire type are skipped', () => {
  const obj = decodeK8sProtobuf(
    body('v1', 'Namespace', (w) => {
      w.int32(900, 5).fixed32(901, 1).fixed64(902, 2n).string(903, 'future');
      w.message(1, (m) => m.string(1, 'x').message(950, (f) => f.int32(1, 1)));
    }),
  );
  assert.deepEqual(obj, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } });
});

test('special messages: IntOrString, Quantity, RawExtension, FieldsV1, Duration', () => {
  rejects(() => decodeMessage('intstr.IntOrString', new ProtoWriter().int64(1, 2).finish()), 'InvalidValue', /type 2/);
  assert.equal(decodeMessage('resource.Quantity', new ProtoWriter().string(1, '1Gi').finish()), '1Gi');
  assert.equal(decodeMessage('meta.v1.Duration', new ProtoWriter().int64(1, 5_400_000_000_000).finish()), '1h30m0s');
  const mf = decodeMessage(
    'meta.v1.ManagedFieldsEntry',
    new ProtoWriter()
      .string(1, 'kubectl')
      .string(2, 'Update')
      .string(3, 'v1')
      .message(4, (t) => t.int64(1, 1_700_000_000))
      .string(6, 'FieldsV1')
      .message(7, (f) => f.bytes(1, Buffer.from('{"f:metadata":{"f:labels":{}}}')))
      .finish(),
  );
  assert.deepEqual(mf, {
    manager: 'kubectl',
    operation: 'Update',
    apiVersion: 'v1',
    time: '2023-11-14T22:13:20Z',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:metadata': { 'f:labels': {} } },
  });
  const rev = (raw: Uint8Array) =>
    decodeMessage(
      'apps.v1.ControllerRevision',
      new ProtoWriter()
        .message(2, (r) => r.bytes(1, raw))
        .int64(3, 0)
        .finish(),
    );
  assert.deepEqual(rev(Buffer.from('{"spec":{"a":1}}')), { data: { spec: { a: 1 } }, revision: 0 });
  assert.deepEqual(rev(encodeK8sProtobuf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'inner' } })), {
    data: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'inner' } },
    revision: 0,
  });
  rejects(() => rev(Buffer.from('not json')), 'InvalidValue', /data: RawExtension does not hold JSON/);
});

test('wire type mismatches name the field path', () => {
  rejects(
    () => decodeK8sProtobuf(body('v1', 'Pod', (w) => w.int32(1, 7))),
    'WireTypeMismatch',
    /core\.v1\.Pod field metadata \(#1\): expected length-delimited, got varint/,
  );
  const deep = body('apps/v1', 'Deployment', (w) =>
    w.message(2, (s) => s.message(3, (t) => t.message(2, (p) => p.message(2, (c) => c.string(1, 'a')).message(2, (c) => c.int32(2, 1))))),
  );
  rejects(() => decodeK8sProtobuf(deep), 'WireTypeMismatch', /spec\.template\.spec\.containers\[1\]\.image/);
  rejects(() => decodeMessage('core.v1.ContainerPort', new ProtoWriter().string(3, 'x').finish()), 'WireTypeMismatch', /containerPort/);
});

test('the envelope: magic, typeMeta, unsupported kinds and encodings', () => {
  const ns = new ProtoWriter().message(1, (m) => m.string(1, 'x')).finish();
  assert.ok(isK8sProtobuf(envelope('v1', 'Namespace', ns)));
  assert.ok(!isK8sProtobuf(Buffer.from('{"kind":"Namespace"}')));
  rejects(() => decodeK8sProtobuf(Buffer.from('{"kind":"Namespace"}')), 'BadMagic', /k8s\\0/);
  rejects(() => decodeK8sProtobuf(Buffer.from('k8s')), 'BadMagic');
  rejects(() => decodeK8sProtobuf(envelope('v1', 'Frobnicator', ns)), 'UnsupportedKind', /Frobnicator in v1/);
  rejects(() => decodeK8sProtobuf(envelope('example.com/v1', 'Widget', ns)), 'UnsupportedKind', /Widget in example\.com\/v1/);
  rejects(() => decodeK8sProtobuf(envelope('v1', '', ns)), 'UnsupportedKind', /names no kind/);
  rejects(() => decodeK8sProtobuf(envelope('v1', 'Namespace', ns, (w) => w.string(3, 'gzip'))), 'UnsupportedEncoding', /gzip/);
  rejects(() => decodeK8sProtobuf(envelope('v1', 'Namespace', ns, (w) => w.string(4, 'application/yaml'))), 'UnsupportedEncoding', /application\/yaml/);
  // JSON inside the envelope is accepted; typeMeta wins over what the JSON says
  const json = Buffer.from('{"apiVersion":"v9","kind":"Nope","metadata":{"name":"j"}}');
  assert.deepEqual(decodeK8sProtobuf(envelope('v1', 'Namespace', json, (w) => w.string(4, 'application/json'))), {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'j' },
  });
  assert.deepEqual(decodeK8sProtobuf(envelope('apps/v1', 'DeleteOptions', new ProtoWriter().int64(1, 0).string(4, 'Background').finish())), {
    apiVersion: 'apps/v1',
    kind: 'DeleteOptions',
    gracePeriodSeconds: 0,
    propagationPolicy: 'Background',
  });
  const env = readEnvelope(envelope('v1', 'Namespace', ns));
  assert.deepEqual([env.apiVersion, env.kind, Buffer.from(env.raw)], ['v1', 'Namespace', ns]);
});

test('RawExtensions nested past 64 levels are rejected', () => {
  let inner = encodeK8sProtobuf({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'leaf' } });
  for (let i = 0; i < 40; i++) {
    inner = envelope('apps/v1', 'ControllerRevision', new ProtoWriter().message(2, (r) => r.bytes(1, inner)).finish());
  }
  rejects(() => decodeK8sProtobuf(inner), 'TooDeep', /deeper than 64/);
  // a shallow chain decodes
  let ok = encodeK8sProtobuf({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'leaf' } });
  for (let i = 0; i < 3; i++) ok = envelope('apps/v1', 'ControllerRevision', new ProtoWriter().message(2, (r) => r.bytes(1, ok)).finish());
  assert.equal(JSON.stringify(decodeK8sProtobuf(ok)).match(/ControllerRevision/g)?.length, 4);
});

// ---- property tests ----

/** A small deterministic PRNG so that one fast-check integer drives a whole generated object. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHARS = ['a', 'z', '0', '-', '.', '/', ' ', 'é', '世', '😀', '"', '\\', '\n'];

/**
 * A random JSON value for message `def` that survives decode(encode(x)) unchanged: zero values
 * only where the decoder keeps them (pointers, `!` fields, list elements).
 */
function generate(def: MessageDef, rnd: () => number, depth: number): unknown {
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const str = (nonEmpty: boolean) => {
    const n = int(nonEmpty ? 1 : 0, 6);
    let s = '';
    for (let i = 0; i < n; i++) s += CHARS[int(0, CHARS.length - 1)];
    return s;
  };
  const scalar = (type: string, zeroOk: boolean): unknown => {
    const zero = zeroOk && rnd() < 0.3;
    switch (type) {
      case 'string':
        return zero ? '' : str(true);
      case 'bytes':
        return zero ? '' : Buffer.from(str(true)).toString('base64');
      case 'bool':
        return !zero;
      case 'int32':
        return zero ? 0 : int(-0x80000000, 0x7fffffff) || 1;
      case 'int64':
        return zero ? 0 : int(-(2 ** 52), 2 ** 52) || 7;
      default:
        return 1.5;
    }
  };
  switch (def.special) {
    case 'Time':
      return formatTime(int(1, 253402300799));
    case 'MicroTime':
      return formatMicroTime(int(1, 253402300799), int(0, 999_999) * 1000);
    case 'Duration':
      return formatDuration(BigInt(int(-(2 ** 52), 2 ** 52)) * BigInt(int(1, 1000)));
    case 'IntOrString':
      return rnd() < 0.5 ? int(-1000, 100000) || 8080 : str(true);
    case 'Quantity':
      return ['1', '500m', '1Gi', '2.5', '100M'][int(0, 4)];
    case 'RawExtension':
      return [{ a: int(0, 9) }, ['x', 1, true], 'raw', 12][int(0, 3)];
    case 'FieldsV1':
      return { 'f:metadata': { 'f:labels': { [`f:${str(true)}`]: {} } } };
  }
  if (def.listWrapper) return Array.from({ length: int(0, 3) }, () => str(false));
  const out: Record<string, unknown> = {};
  const p = depth > 6 ? 0.05 : 0.45;
  for (const f of def.fields) {
    if (f.type === 'message' && depth > 9) continue;
    if (rnd() > p) continue;
    const sub = f.type === 'message' ? K8S_SCHEMA.get(f.message!) : undefined;
    const one = (zeroOk: boolean) => (sub ? generate(sub, rnd, depth + 1) : scalar(f.type, zeroOk));
    if (f.inline) {
      const v = one(false) as Record<string, unknown>;
      for (const [k, x] of Object.entries(v)) if (!(k in out)) out[k] = x;
    } else if (f.repeated) {
      out[f.json] = Array.from({ length: int(1, 3) }, () => one(true));
    } else if (f.map) {
      const m: Record<string, unknown> = {};
      for (let i = int(1, 3); i > 0; i--) m[str(false)] = one(true);
      out[f.json] = m;
    } else {
      const v = one(f.pointer || f.keepZero);
      const zero = v === '' || v === 0 || v === false || (sub !== undefined && isGoZero(sub, v));
      if (!f.pointer && zero && !(f.keepZero && (v === 0 || v === false))) continue;
      out[f.json] = v;
    }
  }
  return out;
}

/** The field of `def` (or of a message inlined into it) that a JSON key belongs to. */
function fieldFor(def: MessageDef, key: string): FieldDef | undefined {
  for (const f of def.fields) {
    if (f.inline) {
      const g = fieldFor(K8S_SCHEMA.get(f.message!), key);
      if (g) return g;
    } else if (f.json === key) {
      return f;
    }
  }
  return undefined;
}

/** True if a generated object is Go's zero value for its message: only `!` zeros in it. */
function isGoZero(def: MessageDef, v: unknown): boolean {
  if (def.special || typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.entries(v).every(([k, x]) => fieldFor(def, k)?.keepZero === true && (x === 0 || x === false));
}

/** What Go's encoder adds to a value: the zeros of absent `!` fields in every message present. */
function withGoZeros(def: MessageDef, v: unknown): unknown {
  if (def.special || def.listWrapper || typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
  const walk = (d: MessageDef) => {
    for (const f of d.fields) {
      if (f.inline) walk(K8S_SCHEMA.get(f.message!));
      else if (!(f.json in out) && f.keepZero) out[f.json] = f.type === 'bool' ? false : 0;
      else if (f.json in out && f.type === 'message') {
        const sub = K8S_SCHEMA.get(f.message!);
        const x = out[f.json];
        if (f.map) out[f.json] = Object.fromEntries(Object.entries(x as object).map(([k, y]) => [k, withGoZeros(sub, y)]));
        else if (f.repeated) out[f.json] = (x as unknown[]).map((y) => withGoZeros(sub, y));
        else out[f.json] = withGoZeros(sub, x);
      }
    }
  };
  walk(def);
  return out;
}

const ROOTS = Object.entries(KINDS).flatMap(([pkg, kinds]) => {
  const apiVersion = Object.keys(API_VERSION_PACKAGES).find((v) => API_VERSION_PACKAGES[v] === pkg)!;
  return kinds.map((kind) => ({ apiVersion, kind, name: `${pkg}.${kind}` }));
});

test('every kind round-trips through encode and decode, with and without Go zero values (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: ROOTS.length - 1 }), fc.integer(), (i, seed) => {
      const root = ROOTS[i];
      const obj = { apiVersion: root.apiVersion, kind: root.kind, ...(generate(K8S_SCHEMA.get(root.name), prng(seed), 0) as object) };
      assert.deepEqual(decodeK8sProtobuf(encodeK8sProtobuf(obj)), obj);
      const { apiVersion: _a, kind: _k, ...rest } = obj;
      const goView = { apiVersion: root.apiVersion, kind: root.kind, ...(withGoZeros(K8S_SCHEMA.get(root.name), rest) as object) };
      assert.deepEqual(decodeK8sProtobuf(encodeK8sProtobuf(obj, { goZeroValues: true })), goView);
    }),
    { numRuns: 600 },
  );
});

test('the encoder refuses what it cannot represent', () => {
  rejects(() => encodeMessage('core.v1.ContainerPort', { containerPort: 'eighty' }), 'InvalidValue', /containerPort: expected an int32/);
  rejects(() => encodeMessage('core.v1.Container', { name: 'c', imag: 'typo' }), 'InvalidValue', /has no field "imag"/);
  rejects(() => encodeK8sProtobuf({ apiVersion: 'v1', kind: 'Nope' }), 'UnsupportedKind');
});

test('random bytes never make the decoder throw anything but ProtobufError (property)', () => {
  const kinds = ROOTS.map((r) => [r.apiVersion, r.kind] as const);
  const check = (b: Uint8Array) => {
    try {
      decodeK8sProtobuf(b);
    } catch (e) {
      if (!(e instanceof ProtobufError)) throw e;
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => check(bytes)),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => check(Buffer.concat([K8S_PROTOBUF_MAGIC, bytes]))),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: kinds.length - 1 }), fc.uint8Array({ maxLength: 400 }), (i, raw) => check(envelope(kinds[i][0], kinds[i][1], raw))),
    { numRuns: 3000 },
  );
});

test('corrupted real bodies never make the decoder throw anything but ProtobufError (property)', () => {
  const seeds = [goLikeDeployment(2)];
  for (let s = 0; s < 20; s++) {
    const root = ROOTS[s % ROOTS.length];
    seeds.push(
      encodeK8sProtobuf(
        { apiVersion: root.apiVersion, kind: root.kind, ...(generate(K8S_SCHEMA.get(root.name), prng(s), 0) as object) },
        { goZeroValues: true },
      ),
    );
  }
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 8 }),
      (i, edits) => {
        let b = Buffer.from(seeds[i]);
        for (const [at, byte, op] of edits) {
          const p = 4 + (at % Math.max(1, b.length - 4));
          if (op === 0) b[Math.min(p, b.length - 1)] = byte;
          else if (op === 1) b = b.subarray(0, p);
          else b = Buffer.concat([b.subarray(0, p), Buffer.from([byte]), b.subarray(p)]);
        }
        try {
          decodeK8sProtobuf(b);
        } catch (e) {
          if (!(e instanceof ProtobufError)) throw e;
        }
      },
    ),
    { numRuns: 3000 },
  );
});
