// Decodes kubectl's protobuf request bodies (`k8s\0` + runtime.Unknown) into Kubernetes JSON objects.
//
// Zero values. Go's protobuf encoder writes every non-pointer field, even when it is empty, so the
// wire says nothing about whether a client meant a non-pointer field. The rule, per field:
//   - absent on the wire → absent;
//   - a pointer field (`?` in the tables: *int32, *bool, *string, *Struct, *IntOrString, …) that is
//     present → kept whatever its value: `replicas: 0`, `privileged: false`, `emptyDir: {}`;
//   - a non-pointer string or bytes that is empty → dropped;
//   - a non-pointer number or bool that is 0/false → dropped, unless its Go JSON tag lacks
//     `omitempty` (`!` in the tables: containerPort, port, weight, …), where Go's own JSON keeps it;
//   - a non-pointer message that holds Go's zero value → dropped: {}, an object whose only members are
//     kept zeros of `!` fields (e.g. a ReplicaSet's `status: {replicas: 0}`), a zero Time/MicroTime,
//     a zero IntOrString, a "0" Quantity (Go would print `{}`/`null`/`0`/`"0"`: the same as unset);
//   - repeated fields and maps are kept when they have at least one element (empty ones cannot be
//     told apart from absent on the wire); list elements are never dropped.
// For numbers and bools this is exactly what the Go client's JSON encoder would have sent, so a
// protobuf body decodes to the JSON body the same command sends to older servers; a dropped
// non-pointer 0 means 0 to every reader of the object (e.g. Scale `spec.replicas`).

import { ProtoReader, ProtobufError, WireType, wireTypeName, DEFAULT_MAX_DEPTH } from '../../util/protowire.js';
import type { FieldDef, MessageDef, Schema, ScalarType } from './schema.js';
import { K8S_SCHEMA, messageForKind } from './k8s-messages.js';
import { formatDuration, formatMicroTime, formatTime } from './special.js';

/** The four bytes that start every Kubernetes protobuf body: "k8s" and a NUL. */
export const K8S_PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
export const K8S_PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

export interface DecodeOptions {
  schema?: Schema;
  /** Limit on message nesting (default 64). */
  maxDepth?: number;
}

/** True if the body starts with the Kubernetes protobuf magic. */
export function isK8sProtobuf(body: Uint8Array): boolean {
  return body.length >= 4 && body[0] === 0x6b && body[1] === 0x38 && body[2] === 0x73 && body[3] === 0x00;
}

/** The parts of a runtime.Unknown envelope. */
export interface K8sEnvelope {
  apiVersion: string;
  kind: string;
  raw: Uint8Array;
  contentEncoding: string;
  contentType: string;
}

/** Reads the magic and the runtime.Unknown envelope, without decoding `raw`. */
export function readEnvelope(body: Uint8Array, maxDepth = DEFAULT_MAX_DEPTH, depth = 0): K8sEnvelope {
  if (!isK8sProtobuf(body)) {
    throw new ProtobufError('BadMagic', 'body does not start with the Kubernetes protobuf magic "k8s\\0"', 0);
  }
  const env: K8sEnvelope = { apiVersion: '', kind: '', raw: new Uint8Array(0), contentEncoding: '', contentType: '' };
  if (depth > maxDepth) throw new ProtobufError('TooDeep', `messages nested deeper than ${maxDepth}`);
  const r = new ProtoReader(body, 4, body.length, depth, maxDepth);
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field >= 1 && field <= 4 && wire !== WireType.LengthDelimited) {
      throw new ProtobufError('WireTypeMismatch', `runtime.Unknown field ${field}: expected length-delimited, got ${wireTypeName(wire)}`, r.pos);
    }
    switch (field) {
      case 1: {
        const t = r.sub();
        while (!t.done()) {
          const f = t.tag();
          if ((f.field === 1 || f.field === 2) && f.wire !== WireType.LengthDelimited) {
            throw new ProtobufError('WireTypeMismatch', `runtime.TypeMeta field ${f.field}: expected length-delimited, got ${wireTypeName(f.wire)}`, t.pos);
          }
          if (f.field === 1) env.apiVersion = t.string();
          else if (f.field === 2) env.kind = t.string();
          else t.skip(f.wire);
        }
        break;
      }
      case 2:
        env.raw = r.bytes();
        break;
      case 3:
        env.contentEncoding = r.string();
        break;
      case 4:
        env.contentType = r.string();
        break;
      default:
        r.skip(wire);
    }
  }
  return env;
}

/**
 * Decodes a Kubernetes protobuf body (magic + runtime.Unknown) into the object's JSON form, with
 * `apiVersion` and `kind` taken from the envelope. Throws ProtobufError on anything malformed or
 * unsupported (code 'UnsupportedKind' for a kind k8ts has no table for).
 */
export function decodeK8sProtobuf(body: Uint8Array, opts: DecodeOptions = {}): Record<string, unknown> {
  return decodeAtDepth(body, opts.schema ?? K8S_SCHEMA, opts.maxDepth ?? DEFAULT_MAX_DEPTH, 0);
}

function decodeAtDepth(body: Uint8Array, schema: Schema, maxDepth: number, depth: number): Record<string, unknown> {
  const env = readEnvelope(body, maxDepth, depth);
  if (env.kind === '' || env.apiVersion === '') {
    throw new ProtobufError(
      'UnsupportedKind',
      `the envelope names no ${env.kind === '' ? 'kind' : 'apiVersion'} (typeMeta is ${JSON.stringify({ apiVersion: env.apiVersion, kind: env.kind })})`,
    );
  }
  if (env.contentEncoding !== '') {
    throw new ProtobufError('UnsupportedEncoding', `contentEncoding ${JSON.stringify(env.contentEncoding)} is not supported`);
  }
  let obj: Record<string, unknown>;
  if (env.contentType === 'application/json') {
    obj = parseJsonObject(env.raw, `${env.kind} raw`);
  } else if (env.contentType === '' || env.contentType === K8S_PROTOBUF_CONTENT_TYPE) {
    const name = messageForKind(env.apiVersion, env.kind);
    if (name === undefined || !schema.has(name)) {
      throw new ProtobufError('UnsupportedKind', `cannot decode protobuf for ${env.kind} in ${env.apiVersion}: k8ts has no table for it`);
    }
    const v = new Decoder(schema).message(new ProtoReader(env.raw, 0, env.raw.length, depth, maxDepth), schema.get(name), '');
    obj = isPlainObject(v) ? v : {};
  } else {
    throw new ProtobufError('UnsupportedEncoding', `contentType ${JSON.stringify(env.contentType)} is not supported`);
  }
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return { apiVersion: env.apiVersion, kind: env.kind, ...rest };
}

/** Decodes one message of the schema (e.g. `core.v1.Pod`) from its bare protobuf bytes. */
export function decodeMessage(name: string, bytes: Uint8Array, opts: DecodeOptions = {}): unknown {
  const schema = opts.schema ?? K8S_SCHEMA;
  const r = new ProtoReader(bytes, 0, bytes.length, 0, opts.maxDepth ?? DEFAULT_MAX_DEPTH);
  return new Decoder(schema).message(r, schema.get(name), '');
}

const EXPECTED_WIRE: Record<ScalarType | 'message', WireType> = {
  string: WireType.LengthDelimited,
  bytes: WireType.LengthDelimited,
  message: WireType.LengthDelimited,
  int32: WireType.Varint,
  int64: WireType.Varint,
  bool: WireType.Varint,
  double: WireType.Fixed64,
};

/** Raw value of a special message's fields, by field number. */
type RawFields = Map<number, unknown>;

class Decoder {
  constructor(private readonly schema: Schema) {}

  /** Decodes one message; returns its JSON value (undefined for a zero Time and the like). */
  message(r: ProtoReader, def: MessageDef, path: string): unknown {
    if (def.special) return this.special(r, def, path);
    const values: unknown[] = new Array(def.fields.length);
    // pieces of a non-repeated message field seen more than once are merged, as protobuf says
    let pieces: Map<number, Uint8Array[]> | undefined;
    while (!r.done()) {
      const at = r.pos;
      const t = r.rawTag();
      const field = t >>> 3;
      const wire: WireType = t & 7;
      const f = def.byNumber.get(field);
      if (f === undefined) {
        r.skip(wire);
        continue;
      }
      const i = f.index;
      const where = (): string => `${path}${path ? '.' : ''}${f.json}`;
      if (f.repeated && !f.map && f.type !== 'message' && f.type !== 'string' && f.type !== 'bytes' && wire === WireType.LengthDelimited) {
        const list = (values[i] ??= []) as unknown[];
        const p = r.sub();
        while (!p.done()) list.push(scalar(p, f.type));
        continue;
      }
      const expected = f.map ? WireType.LengthDelimited : EXPECTED_WIRE[f.type];
      if (wire !== expected) {
        throw new ProtobufError(
          'WireTypeMismatch',
          `${def.name} field ${where()} (#${field}): expected ${wireTypeName(expected)}, got ${wireTypeName(wire)}`,
          at,
        );
      }
      if (f.map) {
        const obj = (values[i] ??= {}) as Record<string, unknown>;
        const [k, v] = this.mapEntry(r.sub(), f, where());
        // a zero Time as a map value is Go's null: leave the key out
        if (v !== undefined) setKey(obj, k, v);
      } else if (f.type === 'message') {
        if (f.repeated) {
          const list = (values[i] ??= []) as unknown[];
          const sub = this.schema.get(f.message!);
          const v = this.message(r.sub(), sub, `${where()}[${list.length}]`);
          list.push(v === undefined ? null : v);
        } else {
          const b = r.bytes();
          pieces ??= new Map();
          const list = pieces.get(i);
          if (list) list.push(b);
          else pieces.set(i, [b]);
        }
      } else if (f.repeated) {
        ((values[i] ??= []) as unknown[]).push(scalar(r, f.type));
      } else {
        values[i] = scalar(r, f.type);
      }
    }
    if (pieces)
      for (const [i, list] of pieces) {
        const f = def.fields[i];
        values[i] = this.message(this.nested(r, list), this.schema.get(f.message!), `${path}${path ? '.' : ''}${f.json}`);
      }
    return this.assemble(def, values);
  }

  /** A reader over one or more concatenated pieces of a nested message. */
  private nested(parent: ProtoReader, list: Uint8Array[]): ProtoReader {
    if (list.length === 1) {
      const b = list[0];
      return parent.child(b.byteOffset - parent.buf.byteOffset, b.byteOffset - parent.buf.byteOffset + b.length);
    }
    const joined = Buffer.concat(list);
    if (parent.depth + 1 > parent.maxDepth) throw new ProtobufError('TooDeep', `messages nested deeper than ${parent.maxDepth}`);
    return new ProtoReader(joined, 0, joined.length, parent.depth + 1, parent.maxDepth);
  }

  private mapEntry(r: ProtoReader, f: FieldDef, path: string): [string, unknown] {
    let key = '';
    let raw: unknown;
    let has = false;
    while (!r.done()) {
      const at = r.pos;
      const { field, wire } = r.tag();
      if (field === 1) {
        if (wire !== WireType.LengthDelimited)
          throw new ProtobufError('WireTypeMismatch', `${path}: map key must be length-delimited, got ${wireTypeName(wire)}`, at);
        key = r.string();
      } else if (field === 2) {
        const expected = EXPECTED_WIRE[f.type];
        if (wire !== expected)
          throw new ProtobufError('WireTypeMismatch', `${path}: map value expected ${wireTypeName(expected)}, got ${wireTypeName(wire)}`, at);
        raw = f.type === 'message' ? this.message(r.sub(), this.schema.get(f.message!), `${path}[${JSON.stringify(key)}]`) : scalar(r, f.type);
        has = true;
      } else {
        r.skip(wire);
      }
    }
    if (!has) {
      // a missing value is the type's zero value
      raw = f.type === 'message' ? this.message(r.child(r.pos, r.pos), this.schema.get(f.message!), path) : zeroOf(f.type);
    }
    return [key, jsonScalar(raw, f.type)];
  }

  /** Applies the zero-value rule and inlining; returns the message's JSON object. */
  private assemble(def: MessageDef, values: unknown[]): unknown {
    if (def.listWrapper) return (values[0] as unknown[] | undefined)?.map((v) => jsonScalar(v, def.fields[0].type)) ?? [];
    const out: Record<string, unknown> = {};
    // stays true while everything kept is a zero that Go's JSON prints anyway (`!` fields)
    let goZero = true;
    const fields = def.fields;
    for (let i = 0; i < fields.length; i++) {
      const v = values[i];
      if (v === undefined) continue;
      const f = fields[i];
      if (f.repeated) {
        out[f.json] = f.type === 'bytes' ? (v as Uint8Array[]).map(base64) : v;
        goZero = false;
      } else if (f.map) {
        setKey(out, f.json, v);
        goZero = false;
      } else if (f.inline) {
        if (isPlainObject(v)) for (const [k, x] of Object.entries(v)) setKey(out, k, x);
        if (!isZero(v, f)) goZero = false;
      } else if (f.pointer || !isZero(v, f)) {
        setKey(out, f.json, jsonScalar(v, f.type));
        if (f.pointer || (v !== 0 && v !== false)) goZero = false;
      }
    }
    if (goZero) GO_ZERO.add(out);
    return out;
  }

  /** Time, MicroTime, Duration, IntOrString, Quantity, RawExtension, FieldsV1. */
  private special(r: ProtoReader, def: MessageDef, path: string): unknown {
    const raw: RawFields = new Map();
    while (!r.done()) {
      const at = r.pos;
      const { field, wire } = r.tag();
      const f = def.byNumber.get(field);
      if (f === undefined) {
        r.skip(wire);
        continue;
      }
      if (wire !== EXPECTED_WIRE[f.type]) {
        throw new ProtobufError(
          'WireTypeMismatch',
          `${path}: ${def.name} field ${f.json}: expected ${wireTypeName(EXPECTED_WIRE[f.type])}, got ${wireTypeName(wire)}`,
          at,
        );
      }
      raw.set(field, def.special === 'Duration' && field === 1 ? r.int64Big() : scalar(r, f.type as ScalarType));
    }
    const where = path || def.name;
    try {
      switch (def.special) {
        case 'Time': {
          const seconds = (raw.get(1) as number | undefined) ?? 0;
          return seconds === 0 ? undefined : formatTime(seconds);
        }
        case 'MicroTime': {
          const seconds = (raw.get(1) as number | undefined) ?? 0;
          const nanos = (raw.get(2) as number | undefined) ?? 0;
          return seconds === 0 && nanos === 0 ? undefined : formatMicroTime(seconds, nanos);
        }
        case 'Duration':
          return formatDuration((raw.get(1) as bigint | undefined) ?? 0n);
        case 'IntOrString': {
          const type = (raw.get(1) as number | undefined) ?? 0;
          if (type === 0) return (raw.get(2) as number | undefined) ?? 0;
          if (type === 1) return (raw.get(3) as string | undefined) ?? '';
          throw new ProtobufError('InvalidValue', `IntOrString type ${type} is neither 0 (int) nor 1 (string)`);
        }
        case 'Quantity':
          return (raw.get(1) as string | undefined) ?? '';
        case 'RawExtension':
        case 'FieldsV1': {
          const bytes = raw.get(1) as Uint8Array | undefined;
          if (bytes === undefined || bytes.length === 0) return undefined;
          if (def.special === 'RawExtension' && isK8sProtobuf(bytes)) {
            return decodeAtDepth(bytes, this.schema, r.maxDepth, r.depth + 1);
          }
          return parseJson(bytes, def.special);
        }
      }
    } catch (e) {
      if (e instanceof ProtobufError && e.code === 'InvalidValue' && !e.message.startsWith(`${where}:`)) {
        throw new ProtobufError('InvalidValue', `${where}: ${e.message}`);
      }
      throw e;
    }
    return undefined;
  }
}

function scalar(r: ProtoReader, type: ScalarType | 'message'): unknown {
  switch (type) {
    case 'string':
      return r.string();
    case 'bytes':
      return r.bytes();
    case 'int32':
      return r.int32();
    case 'int64':
      return r.int64();
    case 'bool':
      return r.bool();
    case 'double':
      return r.double();
    default:
      throw new ProtobufError('InvalidValue', `not a scalar type: ${type}`);
  }
}

function zeroOf(type: ScalarType | 'message'): unknown {
  switch (type) {
    case 'string':
      return '';
    case 'bytes':
      return new Uint8Array(0);
    case 'bool':
      return false;
    default:
      return 0;
  }
}

/** Decoded objects equal to their Go zero value (nothing but `!` zeros in them). */
const GO_ZERO = new WeakSet<object>();

function isZero(v: unknown, f: FieldDef): boolean {
  if (v === '' || v === null) return true;
  if (typeof v === 'object' && GO_ZERO.has(v)) return true;
  // Go writes a zero Quantity as "0"
  if (v === '0' && f.message === 'resource.Quantity') return true;
  if (v instanceof Uint8Array) return v.length === 0;
  if (v === 0 || v === false) return !f.keepZero || f.type === 'message';
  return isPlainObject(v) && Object.keys(v).length === 0;
}

function jsonScalar(v: unknown, type: ScalarType | 'message'): unknown {
  return type === 'bytes' && v instanceof Uint8Array ? base64(v) : v;
}

function base64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Sets a key without letting "__proto__" reach the prototype. */
function setKey(obj: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[k] = v;
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch (e) {
    throw new ProtobufError('InvalidValue', `${what} does not hold JSON: ${(e as Error).message}`);
  }
}

function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  const v = parseJson(bytes, what);
  if (!isPlainObject(v)) throw new ProtobufError('InvalidValue', `${what} is JSON but not an object`);
  return v;
}
