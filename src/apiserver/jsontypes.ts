// The JSON type check of Go's decoder, compiled from the OpenAPI definitions: Kubernetes decodes every
// body into typed Go structs, so a value whose JSON kind its field's Go type cannot hold (an array for a
// string, 1.5 or "80" for an int32, 2^31 for an int32) fails the request before any validation runs.
// One checker per definition, compiled on first use and shared ($ref cycles such as JSONSchemaProps
// included); on success it allocates nothing, and a failure builds its path on the way back up.
// The same walk, when given an Unknowns, also does the rest of decoding a request body (typecheck.ts):
// it marks null struct fields to drop (Go reads them as absent), and collects (and, unless Strict, marks)
// unknown fields, so a body is walked once. CRDs' objects are not its business (their own schemas check them).
import { definitionForKind, definitions, type Schema } from './openapi/schemas.js';

/** The first value Go's decoder could not store, with what its UnmarshalTypeError says about it. */
export interface TypeMismatch {
  /** The JSON kind found: string, bool, array, object, `number` — or `number 1.5` when the target is an integer. */
  value: string;
  /** The innermost Go struct holding the field (`PodSpec`). */
  struct: string;
  /** The struct fields' JSON names from the root, as Go joins them (`spec.containers.ports.containerPort`). */
  field: string;
  /** The Go type that could not hold it (`string`, `int32`, `[]v1.Container`, `map[string]string`). */
  goType: string;
  /** Where exactly, with indices and map keys (`spec.containers[0].ports[1].containerPort`). */
  path: string;
}

/** Go's wording: `json: cannot unmarshal array into Go struct field PodSpec.spec.nodeName of type string`. */
export function mismatchMessage(m: TypeMismatch): string {
  return `json: cannot unmarshal ${m.value} into Go struct field ${m.struct}.${m.field} of type ${m.goType}`;
}

/** A failure on its way up: each struct, list and map it passes through adds its part. */
interface Trail {
  value: string;
  goType: string;
  struct: string;
  fields: string[];
  path: string[];
}

/** What the decoding walk gathers besides a type error: each unknown field's path (its segments, built on
 *  the way back up as a failure's are), and the fields to drop once the whole body fits (null ones, and
 *  unknown ones when `prune`): a type error reports the body as it came. */
export interface Unknowns {
  prune: boolean;
  found: string[][];
  drop: [Record<string, unknown>, string][];
}

/** Drops the fields the walk marked, after it found no type error. */
export function dropMarked(u: Unknowns): void {
  for (const [o, k] of u.drop) delete o[k];
}

/** undefined when the value fits, else where and why it does not; `u` only when decoding a body. */
type Check = (v: unknown, u?: Unknowns) => Trail | undefined;

/** Puts `segment` in front of the unknown fields found since `from` (those under the current value). */
function under(u: Unknowns, from: number, segment: string): void {
  for (let i = from; i < u.found.length; i++) u.found[i].unshift(segment);
}

const jsonKind = (v: unknown): string => (Array.isArray(v) ? 'array' : typeof v === 'boolean' ? 'bool' : typeof v);

const fail = (v: unknown, goType: string, value = jsonKind(v)): Trail => ({ value, goType, struct: '', fields: [], path: [] });

/** Go's package-qualified name of a definition: io.k8s.api.core.v1.PodSpec → v1.PodSpec. */
function goName(def: string): string {
  const parts = def.split('.');
  return `${parts[parts.length - 2]}.${parts[parts.length - 1]}`;
}

const INT32 = 2 ** 31;
const INT64 = 2 ** 63;

/** An integer of Go's width: anything else is `number <literal>`, as strconv.ParseInt refuses it. */
function integer(goType: string, bound: number): Check {
  return (v) => {
    if (typeof v === 'number' && Number.isInteger(v) && v >= -bound && v < bound) return undefined;
    return typeof v === 'number' ? fail(v, goType, `number ${v}`) : fail(v, goType);
  };
}

const STRING: Check = (v) => (typeof v === 'string' ? undefined : fail(v, 'string'));
const BYTES: Check = (v) => (typeof v === 'string' ? undefined : fail(v, '[]uint8'));
const BOOL: Check = (v) => (typeof v === 'boolean' ? undefined : fail(v, 'bool'));
const FLOAT: Check = (v) => (typeof v === 'number' ? undefined : fail(v, 'float64'));
const INT32_CHECK = integer('int32', INT32);
const INT64_CHECK = integer('int64', INT64);
const ANY: Check = () => undefined;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Types with a JSON decoder of their own, by definition name (the generated definitions show most of them
 *  only as `string` or `object`). */
const SPECIAL: Record<string, (self: string) => Check> = {
  // Its own decoder takes a quoted string or the raw number; anything else fails ParseQuantity.
  'io.k8s.apimachinery.pkg.api.resource.Quantity': (self) => (v) => (typeof v === 'string' || typeof v === 'number' ? undefined : fail(v, goName(self))),
  // A string, or else decoded as an int32 (so 1.5 and 2^31 fail as an int32 would).
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': () => (v) => (typeof v === 'string' ? undefined : INT32_CHECK(v)),
  // Time and Duration decode the JSON into a Go string first.
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': () => STRING,
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': () => STRING,
  'io.k8s.apimachinery.pkg.apis.meta.v1.Duration': () => STRING,
  // Raw JSON kept as it came.
  'io.k8s.apimachinery.pkg.runtime.RawExtension': () => ANY,
  'io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1': () => ANY,
  'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON': () => ANY,
  // The CRD schema's unions: a schema object, or a bool, a list of schemas, a list of strings.
  'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool': (self) => union(self, (v) => typeof v === 'boolean', JSON_SCHEMA_PROPS),
  'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray': (self) =>
    union(self, (v) => Array.isArray(v), JSON_SCHEMA_PROPS, { type: 'array', items: { $ref: JSON_SCHEMA_PROPS } }),
  'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray': (self) =>
    union(self, (v) => Array.isArray(v), JSON_SCHEMA_PROPS, { type: 'array', items: { type: 'string' } }),
};
const JSON_SCHEMA_PROPS = 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps';

/** An object is checked as `objectDef`; otherwise `other(v)` says whether the other form applies, and
 *  `otherSchema` (when given) checks inside it. */
function union(self: string, other: (v: unknown) => boolean, objectDef: string, otherSchema?: Schema): Check {
  const obj = ref(objectDef);
  const inner = otherSchema ? compile(otherSchema) : ANY;
  return (v, u) => (isObject(v) ? obj(v, u) : other(v) ? inner(v, u) : fail(v, goName(self)));
}

/** Fields the definitions (kubernetes-types 1.30) still have and the served API no longer does: unknown
 *  fields to a body, as to kube-apiserver 1.32 (the protobuf tables agree; jsontypes.test.ts holds the two
 *  to the same fields). */
const REMOVED: Record<string, readonly string[]> = {
  'io.k8s.api.core.v1.PodResourceClaim': ['source'],
};

const compiled = new Map<string, Check>();
const goTypes = new Map<string, string>();

/** The checker of a named definition, compiled once; a definition met again while it is being compiled
 *  (a $ref cycle) gets a forwarder to the finished one. */
function ref(name: string): Check {
  const done = compiled.get(name);
  if (done) return done;
  let real: Check | undefined;
  compiled.set(name, (v, u) => real!(v, u));
  real = SPECIAL[name]?.(name) ?? structCheck(name, definitions()[name]);
  compiled.set(name, real);
  return real;
}

/** Go's name for the type a schema describes (used in messages only). */
function goTypeOf(s: Schema): string {
  if (s.$ref) {
    let t = goTypes.get(s.$ref);
    if (t === undefined) {
      const def = definitions()[s.$ref];
      t = s.$ref in SPECIAL || def?.properties || def?.type === 'object' ? goName(s.$ref) : def ? goTypeOf(def) : goName(s.$ref);
      goTypes.set(s.$ref, t);
    }
    return t;
  }
  if (s.type === 'array') return `[]${s.items ? goTypeOf(s.items) : 'interface {}'}`;
  if (s.type === 'object') return s.additionalProperties ? `map[string]${goTypeOf(s.additionalProperties)}` : 'map[string]interface {}';
  if (s.type === 'string') return s.format === 'byte' ? '[]uint8' : 'string';
  if (s.type === 'boolean') return 'bool';
  if (s.type === 'integer') return s.format === 'int32' ? 'int32' : 'int64';
  return 'float64';
}

function compile(s: Schema): Check {
  if (s.$ref) return ref(s.$ref);
  if (s.allOf?.length === 1) return compile(s.allOf[0]);
  switch (s.type) {
    case 'string':
      return s.format === 'byte' ? BYTES : STRING;
    case 'boolean':
      return BOOL;
    case 'integer':
      return s.format === 'int32' ? INT32_CHECK : INT64_CHECK;
    // A number without a known width (kubernetes-types says only `number`): any number, so no valid
    // value is ever refused.
    case 'number':
      return FLOAT;
    case 'array':
      return listCheck(s);
    case 'object':
      return s.additionalProperties ? mapCheck(s) : s.properties ? objectCheck('', s) : plainObject(goTypeOf(s));
    default:
      return ANY;
  }
}

function plainObject(goType: string): Check {
  return (v) => (isObject(v) ? undefined : fail(v, goType));
}

function listCheck(s: Schema): Check {
  const goType = goTypeOf(s);
  let item: Check | undefined;
  return (v, u) => {
    if (!Array.isArray(v)) return fail(v, goType);
    item ??= s.items ? compile(s.items) : ANY;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (x === null) continue;
      const from = u ? u.found.length : 0;
      const t = item(x, u);
      if (t) {
        t.path.unshift(`[${i}]`);
        return t;
      }
      if (u && u.found.length > from) under(u, from, `[${i}]`);
    }
    return undefined;
  };
}

function mapCheck(s: Schema): Check {
  const goType = goTypeOf(s);
  let value: Check | undefined;
  return (v, u) => {
    if (!isObject(v)) return fail(v, goType);
    value ??= compile(s.additionalProperties!);
    for (const k in v) {
      const x = v[k];
      if (x === null) continue;
      const from = u ? u.found.length : 0;
      const t = value(x, u);
      if (t) {
        t.path.unshift(`[${JSON.stringify(k)}]`);
        return t;
      }
      if (u && u.found.length > from) under(u, from, `[${JSON.stringify(k)}]`);
    }
    return undefined;
  };
}

function structCheck(name: string, def: Schema | undefined): Check {
  if (!def) return ANY;
  if (def.type !== 'object' || def.additionalProperties) return compile(def);
  return objectCheck(name, def);
}

/** A Go struct: each known field checked by its own type; when decoding, a null field is dropped (Go reads
 *  it as absent) and an unknown one collected. Field checkers compile on the struct's first use, so a kind
 *  compiles only the definitions it reaches. */
function objectCheck(name: string, def: Schema): Check {
  const goType = name ? goName(name) : 'struct {}';
  const structName = name ? name.slice(name.lastIndexOf('.') + 1) : '';
  let fields: Map<string, Check> | undefined;
  return (v, u) => {
    if (!isObject(v)) return fail(v, goType);
    fields ??= new Map(
      Object.entries(def.properties ?? {})
        .filter(([k]) => !REMOVED[name]?.includes(k))
        .map(([k, p]) => [k, compile(p)]),
    );
    for (const k in v) {
      const x = v[k];
      if (x === null) {
        u?.drop.push([v, k]);
        continue;
      }
      const check = fields.get(k);
      if (!check) {
        if (u) {
          u.found.push([k]);
          if (u.prune) u.drop.push([v, k]);
        }
        continue;
      }
      const from = u ? u.found.length : 0;
      const t = check(x, u);
      if (t) {
        t.fields.unshift(k);
        t.path.unshift(k);
        if (!t.struct) t.struct = structName;
        return t;
      }
      if (u && u.found.length > from) under(u, from, k);
    }
    return undefined;
  };
}

/** The definition of a built-in kind, undefined for others (CRDs: their schemas check them). */
export function kindDefinition(apiVersion: string, kind: string): string | undefined {
  const slash = apiVersion.indexOf('/');
  return definitionForKind(slash < 0 ? '' : apiVersion.slice(0, slash), apiVersion.slice(slash + 1), kind);
}

/** Joins a path's segments as Go and kube-apiserver print them: `spec.containers[0].ports["x"]`. */
export function pathString(segments: string[]): string {
  return segments.map((p, i) => (i === 0 || p.startsWith('[') ? p : `.${p}`)).join('');
}

/** The first value of obj, an object of a built-in kind, that its Go type cannot hold; undefined when
 *  every value fits or the kind has no definition (CRDs: their schemas check them). Given `u`, the walk
 *  also collects unknown fields and the fields to drop into it (see Unknowns); the object is unchanged. */
export function typeMismatch(apiVersion: string, kind: string, obj: unknown, u?: Unknowns): TypeMismatch | undefined {
  const def = kindDefinition(apiVersion, kind);
  if (!def) return undefined;
  const t = ref(def)(obj, u);
  if (!t) return undefined;
  return {
    value: t.value,
    struct: t.struct,
    field: t.fields.join('.'),
    goType: t.goType,
    path: pathString(t.path),
  };
}
