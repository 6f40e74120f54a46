// The OpenAPI definitions at run time: the generated file (generate.ts) with the list/map extensions
// (extensions.ts) laid on, lookups by kind, the closure of a set of definitions, and the one place that
// knows which fields Go leaves out when empty (dropEmpty).
import { existsSync, readFileSync } from 'node:fs';
import { DEFINITIONS_FILE, type GeneratedDefinitions, type Schema, inputsHash, writeDefinitions } from './generate.js';
import { ATOMIC_STRUCTS, FIELD_EXTENSIONS, KEEP_EMPTY } from './extensions.js';
import { METRICS_DEFINITIONS } from './metrics.js';

export type { Schema } from './generate.js';

const PKG_PREFIX: Record<string, string> = {
  core: 'io.k8s.api.core',
  apps: 'io.k8s.api.apps',
  batch: 'io.k8s.api.batch',
  coordination: 'io.k8s.api.coordination',
  discovery: 'io.k8s.api.discovery',
  networking: 'io.k8s.api.networking',
  policy: 'io.k8s.api.policy',
  meta: 'io.k8s.apimachinery.pkg.apis.meta',
};

/** `core.v1.Pod` → `io.k8s.api.core.v1.Pod`. */
function definitionName(short: string): string {
  const [pkg, ...rest] = short.split('.');
  const prefix = PKG_PREFIX[pkg];
  if (!prefix) throw new Error(`openapi extensions: unknown package in ${short}`);
  return `${prefix}.${rest.join('.')}`;
}

function load(): GeneratedDefinitions {
  if (existsSync(DEFINITIONS_FILE)) {
    const g = JSON.parse(readFileSync(DEFINITIONS_FILE, 'utf8')) as GeneratedDefinitions;
    if (g.inputs === inputsHash()) return g;
  }
  // A checkout built with tsc alone, or rebuilt since: make the file now (needs the typescript
  // devDependency, which every checkout has).
  return writeDefinitions();
}

function decorate(defs: Record<string, Schema>): void {
  for (const [key, spec] of Object.entries(FIELD_EXTENSIONS)) {
    const dot = key.lastIndexOf('.');
    const def = defs[definitionName(key.slice(0, dot))];
    const prop = def?.properties?.[key.slice(dot + 1)];
    // Fields newer than the kubernetes-types version are absent from the definitions too.
    if (!prop) continue;
    for (const tok of spec.split(' ')) {
      const [what, value] = tok.split('=');
      const [kind, keys] = value.split(':');
      if (what === 'patch') {
        prop['x-kubernetes-patch-strategy'] = kind;
        if (keys) prop['x-kubernetes-patch-merge-key'] = keys;
      } else if (what === 'list') {
        prop['x-kubernetes-list-type'] = kind;
        if (keys) prop['x-kubernetes-list-map-keys'] = keys.split(',');
      } else if (what === 'map') {
        prop['x-kubernetes-map-type'] = kind;
      } else throw new Error(`openapi extensions: ${key}: unknown ${what}`);
    }
  }
  for (const s of ATOMIC_STRUCTS) {
    const def = defs[definitionName(s)];
    if (def) def['x-kubernetes-map-type'] = 'atomic';
  }
}

let cached: { source: string; defs: Record<string, Schema>; byKind: Map<string, string> } | undefined;

function state() {
  if (cached) return cached;
  const g = load();
  Object.assign(g.definitions, structuredClone(METRICS_DEFINITIONS));
  decorate(g.definitions);
  const byKind = new Map<string, string>();
  for (const [name, d] of Object.entries(g.definitions)) {
    for (const gvk of (d['x-kubernetes-group-version-kind'] as { group: string; version: string; kind: string }[] | undefined) ?? []) {
      // Kinds published under several packages (none today) keep the first, which is the API's own.
      const k = `${gvk.group}/${gvk.version}/${gvk.kind}`;
      if (!byKind.has(k)) byKind.set(k, name);
    }
  }
  cached = { source: g.source, defs: g.definitions, byKind };
  return cached;
}

export function definitions(): Readonly<Record<string, Schema>> {
  return state().defs;
}

export function definitionsSource(): string {
  return state().source;
}

/** The definition name of a kind, e.g. ('', 'v1', 'Pod') → io.k8s.api.core.v1.Pod. */
export function definitionForKind(group: string, version: string, kind: string): string | undefined {
  return state().byKind.get(`${group}/${version}/${kind}`);
}

/** The definitions a schema refers to. */
function refs(s: Schema, out: string[]): void {
  if (s.$ref) out.push(s.$ref);
  for (const x of s.allOf ?? []) refs(x, out);
  if (s.items) refs(s.items, out);
  if (s.additionalProperties) refs(s.additionalProperties, out);
  for (const p of Object.values(s.properties ?? {})) refs(p, out);
}

/** The named definitions and every definition reachable from them. */
export function closure(names: Iterable<string>): string[] {
  const defs = definitions();
  const seen = new Set<string>();
  const stack = [...names];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n) || !defs[n]) continue;
    seen.add(n);
    const out: string[] = [];
    refs(defs[n], out);
    stack.push(...out);
  }
  return [...seen].sort();
}

// ---- omitempty ----

/** Per field of a type: whether Go omits it when empty, and the type of the objects inside it. */
interface FieldRule {
  drop: boolean;
  child?: TypeRules;
  /** A map whose values are objects of `child` (none among the served kinds, but cheap to get right). */
  mapOfObjects: boolean;
}
type TypeRules = Map<string, FieldRule>;

const rulesCache = new Map<string, TypeRules | null>();

function rulesFor(defName: string): TypeRules | undefined {
  const hit = rulesCache.get(defName);
  if (hit !== undefined) return hit ?? undefined;
  const def = definitions()[defName];
  if (!def?.properties) {
    rulesCache.set(defName, null);
    return undefined;
  }
  const rules: TypeRules = new Map();
  // Set before the fields are compiled: types refer to themselves (JSONSchemaProps-like cycles).
  rulesCache.set(defName, rules);
  const required = new Set(def.required ?? []);
  const short = defName.replace(/^io\.k8s\.api\./, '').replace(/^io\.k8s\.apimachinery\.pkg\.apis\./, '');
  for (const [field, p] of Object.entries(def.properties)) {
    const isList = p.type === 'array';
    const isMap = p.type === 'object' && p.additionalProperties !== undefined;
    const drop = (isList || isMap) && !required.has(field) && !KEEP_EMPTY.has(`${short}.${field}`);
    const inner = isList ? p.items : isMap ? p.additionalProperties : p;
    const child = inner?.$ref ? rulesFor(inner.$ref) : undefined;
    if (drop || child) rules.set(field, { drop, child, mapOfObjects: isMap && child !== undefined });
  }
  return rules;
}

function isEmpty(v: object): boolean {
  if (Array.isArray(v)) return v.length === 0;
  for (const _ in v) return false;
  return true;
}

function dropIn(value: unknown, rules: TypeRules, depth: number): void {
  if (depth > 100 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const v of value) dropIn(v, rules, depth + 1);
    return;
  }
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    const rule = rules.get(key);
    if (!rule) continue;
    const v = o[key];
    if (v === null || typeof v !== 'object') continue;
    if (rule.drop && isEmpty(v)) {
      delete o[key];
      continue;
    }
    if (!rule.child) continue;
    if (rule.mapOfObjects) for (const x of Object.values(v)) dropIn(x, rule.child, depth + 1);
    else dropIn(v, rule.child, depth + 1);
  }
}

/** Removes, in place and at any depth, every empty list or map whose Go field is `omitempty`, as Go's
 *  encoder leaves them out: what a client reads back is then what Kubernetes would have written (so
 *  `kubectl diff` after an apply that sent `annotations: {}` sees no difference). */
export function dropEmpty(group: string, version: string, kind: string, obj: unknown): void {
  const def = definitionForKind(group, version, kind);
  const rules = def ? rulesFor(def) : undefined;
  if (rules) dropIn(obj, rules, 0);
}
