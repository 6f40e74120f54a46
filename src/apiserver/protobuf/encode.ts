// Encodes Kubernetes JSON objects as protobuf with the same tables the decoder uses (the inverse of decode.ts).

import { ProtoWriter, ProtobufError } from '../../util/protowire.js';
import type { FieldDef, MessageDef, Schema } from './schema.js';
import { K8S_SCHEMA, messageForKind } from './k8s-messages.js';
import { K8S_PROTOBUF_MAGIC } from './decode.js';
import { parseDuration, parseTimestamp } from './special.js';

export interface EncodeOptions {
  schema?: Schema;
  /**
   * Write every absent non-pointer field with its zero value, as Go's generated encoder does
   * (`""`, `0`, `false`, empty structs, zero Times). Lets tests produce kubectl-like bodies.
   */
  goZeroValues?: boolean;
}

/**
 * Encodes an object with `apiVersion` and `kind` as a Kubernetes protobuf body: the magic and a
 * runtime.Unknown holding the message. Keys the tables do not know are an error, not silently lost.
 */
export function encodeK8sProtobuf(obj: Record<string, unknown>, opts: EncodeOptions = {}): Buffer {
  const schema = opts.schema ?? K8S_SCHEMA;
  const { apiVersion, kind, ...rest } = obj;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    throw new ProtobufError('UnsupportedKind', 'the object needs string apiVersion and kind to be encoded');
  }
  const name = messageForKind(apiVersion, kind);
  if (name === undefined || !schema.has(name)) {
    throw new ProtobufError('UnsupportedKind', `cannot encode ${kind} in ${apiVersion} as protobuf: k8ts has no table for it`);
  }
  const raw = encodeMessage(name, rest, opts);
  const w = new ProtoWriter(raw.length + 64);
  w.raw(K8S_PROTOBUF_MAGIC);
  w.message(1, (t) => t.string(1, apiVersion).string(2, kind));
  w.bytes(2, raw);
  w.string(3, '');
  w.string(4, '');
  return w.finish();
}

/** Encodes a JSON value as the bare protobuf message `name` of the schema (e.g. `core.v1.Pod`). */
export function encodeMessage(name: string, value: unknown, opts: EncodeOptions = {}): Buffer {
  const schema = opts.schema ?? K8S_SCHEMA;
  const w = new ProtoWriter();
  new Encoder(schema, opts.goZeroValues ?? false).body(w, schema.get(name), value, '');
  return w.finish();
}

class Encoder {
  constructor(
    private readonly schema: Schema,
    private readonly goZeros: boolean,
  ) {}

  /** Writes the fields of message `def` for `value` (no tag, no length). */
  body(w: ProtoWriter, def: MessageDef, value: unknown, path: string): void {
    if (def.special) return this.special(w, def, value, path);
    if (def.listWrapper) {
      if (!Array.isArray(value)) throw invalid(path, `${def.name} is a list`, value);
      this.field(w, def.fields[0], value, path);
      return;
    }
    if (!isObject(value)) throw invalid(path, `${def.name} is an object`, value);
    const used = new Set<string>();
    this.fields(w, def, value, path, used);
    for (const k of Object.keys(value)) {
      if (!used.has(k) && value[k] !== null && value[k] !== undefined) {
        throw new ProtobufError('InvalidValue', `${join(path, k)}: ${def.name} has no field "${k}"`);
      }
    }
  }

  private fields(w: ProtoWriter, def: MessageDef, obj: Record<string, unknown>, path: string, used: Set<string>): void {
    for (const f of def.fields) {
      if (f.inline) {
        const sub = this.schema.get(f.message!);
        w.message(f.num, (w2) => this.fields(w2, sub, obj, path, used));
        continue;
      }
      used.add(f.json);
      const v = obj[f.json];
      if (v === undefined || v === null) {
        if (this.goZeros && !f.pointer && !f.repeated && !f.map) this.zero(w, f);
        continue;
      }
      this.field(w, f, v, join(path, f.json));
    }
  }

  private field(w: ProtoWriter, f: FieldDef, v: unknown, path: string): void {
    if (f.map) {
      if (!isObject(v)) throw invalid(path, 'a map', v);
      for (const k of Object.keys(v).sort()) {
        const x = v[k];
        if (x === undefined) continue;
        w.message(f.num, (e) => {
          e.string(1, k);
          this.one(e, f, 2, x, `${path}[${JSON.stringify(k)}]`);
        });
      }
      return;
    }
    if (f.repeated) {
      if (!Array.isArray(v)) throw invalid(path, 'a list', v);
      v.forEach((x, i) => this.one(w, f, f.num, x, `${path}[${i}]`));
      return;
    }
    this.one(w, f, f.num, v, path);
  }

  /** One value of field f's type under field number `num`. */
  private one(w: ProtoWriter, f: FieldDef, num: number, v: unknown, path: string): void {
    switch (f.type) {
      case 'message': {
        const sub = this.schema.get(f.message!);
        w.message(num, (w2) => this.body(w2, sub, v, path));
        return;
      }
      case 'string':
        if (typeof v !== 'string') throw invalid(path, 'a string', v);
        w.string(num, v);
        return;
      case 'bytes':
        if (typeof v !== 'string') throw invalid(path, 'base64 bytes', v);
        w.bytes(num, Buffer.from(v, 'base64'));
        return;
      case 'bool':
        if (typeof v !== 'boolean') throw invalid(path, 'a boolean', v);
        w.bool(num, v);
        return;
      case 'int32':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw invalid(path, 'an int32', v);
        w.int32(num, v);
        return;
      case 'int64':
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(path, 'an integer', v);
        w.int64(num, v);
        return;
      case 'double':
        if (typeof v !== 'number') throw invalid(path, 'a number', v);
        w.double(num, v);
        return;
    }
  }

  /** The zero value Go writes for an unset non-pointer field. */
  private zero(w: ProtoWriter, f: FieldDef): void {
    switch (f.type) {
      case 'string':
        w.string(f.num, '');
        return;
      case 'bytes':
        return; // a nil []byte is not written
      case 'bool':
        w.bool(f.num, false);
        return;
      case 'int32':
      case 'int64':
        w.int64(f.num, 0);
        return;
      case 'double':
        w.double(f.num, 0);
        return;
      case 'message': {
        const sub = this.schema.get(f.message!);
        w.message(f.num, (w2) => {
          switch (sub.special) {
            case undefined:
              if (!sub.listWrapper) this.fields(w2, sub, {}, '', new Set());
              return;
            case 'IntOrString':
              w2.int64(1, 0).int32(2, 0).string(3, '');
              return;
            case 'Quantity':
              w2.string(1, '0');
              return;
            default:
              return; // zero Time/MicroTime/Duration and nil raw bytes are empty messages
          }
        });
        return;
      }
    }
  }

  private special(w: ProtoWriter, def: MessageDef, v: unknown, path: string): void {
    switch (def.special) {
      case 'Time': {
        if (typeof v !== 'string') throw invalid(path, 'an RFC 3339 time', v);
        const { seconds } = parseTimestamp(v);
        if (seconds !== 0) w.int64(1, seconds);
        return;
      }
      case 'MicroTime': {
        if (typeof v !== 'string') throw invalid(path, 'an RFC 3339 time', v);
        const { seconds, nanos } = parseTimestamp(v);
        if (seconds !== 0) w.int64(1, seconds);
        const micros = nanos - (nanos % 1000);
        if (micros !== 0) w.int32(2, micros);
        return;
      }
      case 'Duration':
        if (typeof v !== 'string') throw invalid(path, 'a duration', v);
        w.int64(1, parseDuration(v));
        return;
      case 'IntOrString':
        if (typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) {
          w.int64(1, 0).int32(2, v);
        } else if (typeof v === 'string') {
          w.int64(1, 1).string(3, v);
        } else {
          throw invalid(path, 'an int32 or a string', v);
        }
        return;
      case 'Quantity':
        if (typeof v !== 'string' && typeof v !== 'number') throw invalid(path, 'a quantity', v);
        w.string(1, String(v));
        return;
      case 'RawExtension':
      case 'FieldsV1':
        w.bytes(1, Buffer.from(JSON.stringify(v), 'utf8'));
        return;
    }
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(path: string, expected: string, v: unknown): ProtobufError {
  const shown = JSON.stringify(v);
  return new ProtobufError('InvalidValue', `${path || '(root)'}: expected ${expected}, got ${shown === undefined ? typeof v : shown.slice(0, 60)}`);
}
