// Structural decoding of request objects, as Kubernetes' Go decoder does it: every field must have the
// type the API declares (400 otherwise), and unknown fields are refused (fieldValidation=Strict), reported
// (Warn) or dropped (Ignore). A built-in kind is walked once, by the checker compiled from its OpenAPI
// definition (jsontypes.ts); a kind without one falls back to k8ts's protobuf tables.
import { K8S_SCHEMA, messageForKind } from './protobuf/k8s-messages.js';
import type { FieldDef, MessageDef } from './protobuf/schema.js';
import { errors } from '../api/status.js';
import { invalid } from '../api/fielderror.js';
import { type Unknowns, dropMarked, kindDefinition, mismatchMessage, pathString, typeMismatch } from './jsontypes.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export function fieldValidationMode(q: URLSearchParams): FieldValidation {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw errors.badRequest(`fieldValidation: invalid value ${JSON.stringify(v)}: must be one of "Ignore", "Warn" or "Strict"`);
}

const fieldMaps = new WeakMap<MessageDef, Map<string, FieldDef>>();

/** JSON name → field, with embedded (inline) messages' fields merged in. */
function fieldsOf(def: MessageDef): Map<string, FieldDef> {
  let m = fieldMaps.get(def);
  if (m) return m;
  m = new Map();
  for (const f of def.fields) {
    if (f.inline) for (const [k, v] of fieldsOf(K8S_SCHEMA.get(f.message!))) m.set(k, v);
    else m.set(f.json, f);
  }
  fieldMaps.set(def, m);
  return m;
}

interface Ctx {
  prune: boolean;
  unknown: string[];
  errors: string[];
}

const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function walkMessage(v: unknown, def: MessageDef, path: string, ctx: Ctx, top = false): void {
  if (v === null) return;
  switch (def.special) {
    case 'Time':
    case 'MicroTime':
    case 'Duration':
      if (typeof v !== 'string') ctx.errors.push(`${path}: expected a string, got ${kindOf(v)}`);
      return;
    case 'IntOrString':
      if (typeof v !== 'string' && !(typeof v === 'number' && Number.isInteger(v)))
        ctx.errors.push(`${path}: expected an integer or a string, got ${kindOf(v)}`);
      return;
    case 'Quantity':
      if (typeof v !== 'string' && typeof v !== 'number') ctx.errors.push(`${path}: expected a quantity string, got ${kindOf(v)}`);
      return;
    case 'RawExtension':
    case 'FieldsV1':
      return;
    default:
      break;
  }
  if (def.listWrapper) {
    const f = def.fields[0];
    if (!Array.isArray(v)) ctx.errors.push(`${path}: expected an array, got ${kindOf(v)}`);
    else v.forEach((x, i) => checkValue(x, f, `${path}[${i}]`, ctx));
    return;
  }
  if (typeof v !== 'object' || Array.isArray(v)) {
    ctx.errors.push(`${path || 'the object'}: expected an object, got ${kindOf(v)}`);
    return;
  }
  const fields = fieldsOf(def);
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (top && (key === 'apiVersion' || key === 'kind')) {
      if (typeof o[key] !== 'string') ctx.errors.push(`${key}: expected a string, got ${kindOf(o[key])}`);
      continue;
    }
    // A null field is an absent field, as Go's decoder reads it.
    if (o[key] === null) {
      delete o[key];
      continue;
    }
    const f = fields.get(key);
    const p = join(path, key);
    if (!f) {
      ctx.unknown.push(p);
      if (ctx.prune) delete o[key];
      continue;
    }
    checkField(o[key], f, p, ctx);
  }
}

function checkField(v: unknown, f: FieldDef, path: string, ctx: Ctx): void {
  if (v === null) return;
  if (f.map) {
    if (typeof v !== 'object' || Array.isArray(v)) {
      ctx.errors.push(`${path}: expected an object, got ${kindOf(v)}`);
      return;
    }
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) checkValue(x, f, `${path}[${JSON.stringify(k)}]`, ctx);
    return;
  }
  if (f.repeated) {
    if (!Array.isArray(v)) {
      ctx.errors.push(`${path}: expected an array, got ${kindOf(v)}`);
      return;
    }
    v.forEach((x, i) => checkValue(x, f, `${path}[${i}]`, ctx));
    return;
  }
  checkValue(v, f, path, ctx);
}

function checkValue(v: unknown, f: FieldDef, path: string, ctx: Ctx): void {
  if (v === null) return;
  switch (f.type) {
    case 'message':
      walkMessage(v, K8S_SCHEMA.get(f.message!), path, ctx);
      return;
    case 'string':
    case 'bytes':
      if (typeof v !== 'string') ctx.errors.push(`${path}: expected a string, got ${kindOf(v)}`);
      return;
    case 'bool':
      if (typeof v !== 'boolean') ctx.errors.push(`${path}: expected a boolean, got ${kindOf(v)}`);
      return;
    case 'int32':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** 31) || v > 2 ** 31 - 1)
        ctx.errors.push(`${path}: expected a 32-bit integer, got ${JSON.stringify(v)}`);
      return;
    case 'int64':
      if (typeof v !== 'number' || !Number.isInteger(v)) ctx.errors.push(`${path}: expected an integer, got ${JSON.stringify(v)}`);
      return;
    case 'double':
      if (typeof v !== 'number') ctx.errors.push(`${path}: expected a number, got ${kindOf(v)}`);
      return;
  }
}

/** Checks obj against its kind's declared field types; returns warnings for unknown fields (Warn) after
 *  dropping them. Throws on a value its Go type cannot hold (as Go's decoder: a request body is a 400
 *  BadRequest, the result of a JSON, merge or strategic merge patch a 422 Invalid on `patch`, as
 *  Kubernetes' patch handler words it), or on unknown fields when Strict. */
export function decodeStrictly(
  obj: Record<string, unknown>,
  apiVersion: string,
  kind: string,
  mode: FieldValidation,
  from: 'body' | 'patch' = 'body',
): string[] {
  const name = messageForKind(apiVersion, kind);
  // Kinds the protobuf tables do not know keep their unknown fields, as before the walks were merged.
  const u: Unknowns | undefined = name ? { prune: mode !== 'Strict', found: [], drop: [] } : undefined;
  const wrong = typeMismatch(apiVersion, kind, obj, u);
  if (wrong && from === 'patch') throw errors.invalid('', '', '', [invalid('patch', JSON.stringify(obj), mismatchMessage(wrong))]);
  if (wrong) throw errors.badRequest(`${kind} in version "${apiVersion.split('/').pop()}" cannot be handled as a ${kind}: ${mismatchMessage(wrong)}`);
  if (!name) return [];
  if (u && kindDefinition(apiVersion, kind)) {
    dropMarked(u);
    return unknownFields(u.found.map(pathString), mode);
  }
  const ctx: Ctx = { prune: mode !== 'Strict', unknown: [], errors: [] };
  walkMessage(obj, K8S_SCHEMA.get(name), '', ctx, true);
  if (ctx.errors.length) {
    throw errors.badRequest(`${kind} in version "${apiVersion.split('/').pop()}" cannot be handled as a ${kind}: ${ctx.errors.slice(0, 10).join('; ')}`);
  }
  return unknownFields(ctx.unknown, mode);
}

/** The unknown fields' answer: Strict refuses them, Warn warns of each (they are dropped by then). */
function unknownFields(paths: string[], mode: FieldValidation): string[] {
  if (paths.length && mode === 'Strict') throw errors.badRequest(`strict decoding error: ${paths.map((p) => `unknown field "${p}"`).join(', ')}`);
  return mode === 'Warn' ? paths.map((p) => `unknown field "${p}"`) : [];
}
