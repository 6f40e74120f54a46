// k8ts's compact protobuf field tables: the grammar, its parser, and the resolved form the codecs walk.
//
// A package table maps a message name to one spec string of space-separated field tokens:
//
//   <jsonName>=<number><type><flags>
//
//   type   s string · i int32 · l int64 · b bool · y bytes · d double
//          @Name        a message in the same package        @pkg.v1.Name  a message elsewhere
//          {t}          map<string, t> where t is one of the types above (no flags inside)
//   flags  *  repeated
//          ?  a Go pointer (or otherwise presence-tracked) field: kept whenever it is on the wire,
//             even as 0, false, "" or {}
//          !  a non-pointer number/bool without `omitempty` in Go's JSON tag: its zero is kept
//          ^  embedded without a JSON name: the message's fields are merged into the parent
//             object (the token's name is only a label)
//
// A spec that starts with `[]` describes a Go named slice type (`type X []string`): its JSON form
// is the array of its one repeated field, not an object.

import { ProtobufError } from '../../util/protowire.js';

export type ScalarType = 'string' | 'int32' | 'int64' | 'bool' | 'bytes' | 'double';

/** Messages whose JSON form is not an object: converted by the codecs, see decode.ts. */
export type SpecialKind = 'Time' | 'MicroTime' | 'Duration' | 'IntOrString' | 'Quantity' | 'RawExtension' | 'FieldsV1';

export interface FieldDef {
  num: number;
  /** Position in MessageDef.fields. */
  index: number;
  /** JSON key (for inline fields only a label). */
  json: string;
  /** Scalar type of the value (of the map value for maps), or 'message'. */
  type: ScalarType | 'message';
  /** Fully qualified table name of the message type, e.g. `core.v1.PodSpec`. */
  message?: string;
  repeated: boolean;
  map: boolean;
  pointer: boolean;
  keepZero: boolean;
  inline: boolean;
}

export interface MessageDef {
  /** Fully qualified table name: `<package alias>.<Message>`. */
  name: string;
  /** Fields in field-number order. */
  fields: FieldDef[];
  byNumber: Map<number, FieldDef>;
  special?: SpecialKind;
  listWrapper: boolean;
}

/** Message name → field spec string. */
export type PackageTable = Readonly<Record<string, string>>;

const SCALARS: Record<string, ScalarType> = { s: 'string', i: 'int32', l: 'int64', b: 'bool', y: 'bytes', d: 'double' };
const TOKEN = /^([A-Za-z_$][\w$]*)=(\d+)(?:([silbyd])|@([\w.]+)|\{(?:([silbyd])|@([\w.]+))\})([*?!^]*)$/;

/** The error for a broken table: a bug in k8ts, not in the input. */
export class SchemaError extends Error {
  readonly code = 'BadSchema';
  constructor(message: string) {
    super(message);
    this.name = 'SchemaError';
  }
}

/** A set of package tables, parsed lazily into MessageDefs. */
export class Schema {
  private readonly specs = new Map<string, string>();
  private readonly parsed = new Map<string, MessageDef>();

  constructor(
    packages: Readonly<Record<string, PackageTable>>,
    private readonly specials: Readonly<Record<string, SpecialKind>> = {},
  ) {
    for (const [alias, table] of Object.entries(packages)) {
      for (const [msg, spec] of Object.entries(table)) this.specs.set(`${alias}.${msg}`, spec);
    }
    for (const name of Object.keys(specials)) {
      if (!this.specs.has(name)) throw new SchemaError(`special message ${name} has no field table`);
    }
  }

  has(name: string): boolean {
    return this.specs.has(name);
  }

  names(): string[] {
    return [...this.specs.keys()];
  }

  get(name: string): MessageDef {
    const hit = this.parsed.get(name);
    if (hit) return hit;
    const spec = this.specs.get(name);
    if (spec === undefined) throw new ProtobufError('UnsupportedKind', `no field table for protobuf message ${name}`);
    const def = parseMessage(name, spec, this.specials[name]);
    this.parsed.set(name, def);
    return def;
  }

  /** Parses every table and checks that every message reference resolves. Throws SchemaError. */
  validate(): void {
    for (const name of this.specs.keys()) {
      const def = this.get(name);
      for (const f of def.fields) {
        if (f.message !== undefined && !this.specs.has(f.message)) {
          throw new SchemaError(`${name}.${f.json}: unknown message ${f.message}`);
        }
        if (f.inline && (f.message === undefined || f.repeated || f.map)) {
          throw new SchemaError(`${name}.${f.json}: only a single message field can be inline`);
        }
      }
    }
  }
}

function parseMessage(name: string, spec: string, special: SpecialKind | undefined): MessageDef {
  const pkg = name.slice(0, name.lastIndexOf('.'));
  let listWrapper = false;
  if (spec.startsWith('[]')) {
    listWrapper = true;
    spec = spec.slice(2);
  }
  const fields: FieldDef[] = [];
  const byNumber = new Map<number, FieldDef>();
  for (const tok of spec.split(' ')) {
    if (tok === '') continue;
    const m = TOKEN.exec(tok);
    if (!m) throw new SchemaError(`${name}: cannot parse field token "${tok}"`);
    const [, json, num, scalar, ref, mapScalar, mapRef, flags] = m;
    const isMap = mapScalar !== undefined || mapRef !== undefined;
    const s = scalar ?? mapScalar;
    const r = ref ?? mapRef;
    const f: FieldDef = {
      num: Number(num),
      index: 0,
      json,
      type: s !== undefined ? SCALARS[s] : 'message',
      message: r === undefined ? undefined : r.includes('.') ? r : `${pkg}.${r}`,
      repeated: flags.includes('*'),
      map: isMap,
      pointer: flags.includes('?'),
      keepZero: flags.includes('!'),
      inline: flags.includes('^'),
    };
    if (f.num < 1 || f.num > 0x1fffffff) throw new SchemaError(`${name}.${json}: bad field number ${num}`);
    if (byNumber.has(f.num)) throw new SchemaError(`${name}: field number ${num} used twice`);
    fields.push(f);
    byNumber.set(f.num, f);
  }
  fields.sort((a, b) => a.num - b.num);
  fields.forEach((f, i) => (f.index = i));
  if (listWrapper && (fields.length !== 1 || !fields[0].repeated)) {
    throw new SchemaError(`${name}: a [] (list) message needs exactly one repeated field`);
  }
  return { name, fields, byNumber, special, listWrapper };
}
