// Field sets of server-side apply and their FieldsV1 form: path elements `f:<field>`, `k:<key json>` (an
// element of a list merged by key), `v:<value json>` (an element of a set), `i:<index>`; "." marks a member
// that also has children.
import { invalid } from './errors.js';
import { deepEqual, hasOwn, isObject, setKey, stableStringify, type JsonObject } from './json.js';
import { childSchema, type SchemaNode } from './schema.js';

/** A path as serialized FieldsV1 elements, e.g. ['f:spec', 'f:containers', 'k:{"name":"web"}', 'f:image']. */
export type FieldPath = readonly string[];

interface Node {
  member: boolean;
  children: Map<string, Node>;
}

const RANK: Record<string, number> = { f: 0, k: 1, v: 2, i: 3 };

export class FieldSet {
  private readonly root: Node = { member: false, children: new Map() };

  insert(path: FieldPath): void {
    let n = this.root;
    for (const pe of path) {
      let next = n.children.get(pe);
      if (!next) n.children.set(pe, (next = { member: false, children: new Map() }));
      n = next;
    }
    if (path.length) n.member = true;
  }

  has(path: FieldPath): boolean {
    return this.find(path)?.member ?? false;
  }

  /** Drops path as a member (its children stay), pruning nodes left empty. */
  remove(path: FieldPath): void {
    const n = this.find(path);
    if (!n || path.length === 0) return;
    n.member = false;
    this.prune(path);
  }

  /** Drops path and everything under it. */
  removeTree(path: FieldPath): void {
    if (path.length === 0) {
      this.root.children.clear();
      return;
    }
    this.find(path.slice(0, -1))?.children.delete(path[path.length - 1]);
    this.prune(path.slice(0, -1));
  }

  isEmpty(): boolean {
    return this.root.children.size === 0;
  }

  /** Members without children: the values a manager sets, as opposed to the containers it fills. */
  leaves(): FieldPath[] {
    const out: FieldPath[] = [];
    const walk = (n: Node, path: string[]): void => {
      if (n.member && n.children.size === 0) out.push(path);
      for (const [pe, c] of n.children) walk(c, [...path, pe]);
    };
    walk(this.root, []);
    return out;
  }

  toFieldsV1(): JsonObject {
    const emit = (n: Node): JsonObject => {
      const out: JsonObject = {};
      if (n.member && n.children.size) out['.'] = {};
      for (const pe of [...n.children.keys()].sort(comparePathElements)) setKey(out, pe, emit(n.children.get(pe)!));
      return out;
    };
    return emit(this.root);
  }

  /** Reads FieldsV1; anything malformed in a stored entry is skipped rather than failing the request. */
  static fromFieldsV1(v: unknown): FieldSet {
    const set = new FieldSet();
    const read = (obj: unknown, n: Node): void => {
      if (!isObject(obj)) return;
      for (const k of Object.keys(obj)) {
        if (k === '.') {
          n.member = true;
          continue;
        }
        if (!/^[fkvi]:/.test(k)) continue;
        const c: Node = { member: false, children: new Map() };
        read(obj[k], c);
        if (isObject(obj[k]) && Object.keys(obj[k] as JsonObject).length === 0) c.member = true;
        if (c.member || c.children.size) n.children.set(k, c);
      }
    };
    read(v, set.root);
    set.root.member = false;
    return set;
  }

  /** Deletes the nodes along path, deepest first, that are neither members nor have children. */
  private prune(path: FieldPath): void {
    for (let i = path.length; i > 0; i--) {
      const n = this.find(path.slice(0, i));
      if (!n || n.member || n.children.size) return;
      this.find(path.slice(0, i - 1))?.children.delete(path[i - 1]);
    }
  }

  private find(path: FieldPath): Node | undefined {
    let n: Node | undefined = this.root;
    for (const pe of path) {
      n = n.children.get(pe);
      if (!n) return undefined;
    }
    return n;
  }
}

function comparePathElements(a: string, b: string): number {
  return (RANK[a[0]] ?? 9) - (RANK[b[0]] ?? 9) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * The fields an object sets, as Kubernetes' apply computes them: every scalar, null, empty map and
 * replaced (atomic) list is a member; lists merged by key contribute one `k:` member per element plus its
 * fields; lists merged as sets contribute one `v:` member per value. With strict, an element missing its
 * key or a duplicate key is an Invalid apply configuration; otherwise such a list counts as atomic.
 */
export function fieldSetOf(obj: unknown, schema: SchemaNode | undefined, strict: boolean): FieldSet {
  const set = new FieldSet();
  collect(obj, schema, [], set, strict);
  return set;
}

function collect(v: unknown, node: SchemaNode | undefined, path: string[], set: FieldSet, strict: boolean): void {
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0) set.insert(path);
    for (const k of keys) collect(v[k], childSchema(node, k), [...path, `f:${k}`], set, strict);
    return;
  }
  if (!Array.isArray(v) || !node?.meta?.merge) {
    set.insert(path);
    return;
  }
  const key = node.meta.mergeKey;
  const items = key ? listItems(v, key, path, strict) : setItems(v, path, strict);
  if (!items) {
    set.insert(path);
    return;
  }
  for (const [pe, el] of items) {
    const p = [...path, pe];
    set.insert(p);
    if (key) for (const k of Object.keys(el as JsonObject)) collect((el as JsonObject)[k], childSchema(node, k), [...p, `f:${k}`], set, strict);
  }
}

function listItems(v: unknown[], key: string, path: string[], strict: boolean): [string, unknown][] | undefined {
  const out: [string, unknown][] = [];
  const seen = new Set<string>();
  for (let i = 0; i < v.length; i++) {
    const el = v[i];
    let problem: string | undefined;
    if (!isObject(el) || !hasOwn(el, key)) {
      problem = `element ${i}: associative list with key ${JSON.stringify(key)} has an element that omits it`;
    } else {
      const pe = `k:${JSON.stringify({ [key]: el[key] })}`;
      if (seen.has(pe)) problem = `duplicate entries for key [${key}=${JSON.stringify(el[key])}]`;
      seen.add(pe);
      out.push([pe, el]);
    }
    if (problem) {
      if (strict) throw invalid(`${pathString(path)}: ${problem}`);
      return undefined;
    }
  }
  return out;
}

function setItems(v: unknown[], path: string[], strict: boolean): [string, unknown][] | undefined {
  if (v.some((el) => isObject(el) || Array.isArray(el))) {
    if (strict) throw invalid(`${pathString(path)}: a set of values cannot hold objects or lists`);
    return undefined;
  }
  return v.map((el) => [`v:${stableStringify(el)}`, el]);
}

/** A path as Kubernetes prints it in conflicts: .spec.containers[name="web"].image, .metadata.finalizers[="x"]. */
export function pathString(path: FieldPath): string {
  return path
    .map((pe) => {
      const body = pe.slice(2);
      switch (pe[0]) {
        case 'f':
          return `.${body}`;
        case 'k': {
          const key = parseJson(body);
          return isObject(key)
            ? `[${Object.keys(key)
                .map((k) => `${k}=${JSON.stringify(key[k])}`)
                .join(',')}]`
            : `[${body}]`;
        }
        case 'v':
          return `[=${body}]`;
        default:
          return `[${body}]`;
      }
    })
    .join('');
}

/** The value a path names in an object, or undefined when absent. */
export function valueAt(obj: unknown, path: FieldPath): unknown {
  let cur = obj;
  for (const pe of path) {
    const body = pe.slice(2);
    if (pe[0] === 'f') {
      if (!isObject(cur) || !hasOwn(cur, body)) return undefined;
      cur = cur[body];
      continue;
    }
    if (!Array.isArray(cur)) return undefined;
    if (pe[0] === 'i') {
      cur = cur[Number(body)];
      continue;
    }
    const want = parseJson(body);
    if (pe[0] === 'k') {
      if (!isObject(want)) return undefined;
      cur = cur.find((el) => isObject(el) && Object.keys(want).every((k) => hasOwn(el, k) && deepEqual(el[k], want[k])));
    } else {
      cur = cur.find((el) => deepEqual(el, want));
    }
  }
  return cur;
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
