// JSON Patch (RFC 6902) over parsed JSON, with JSON Pointer (RFC 6901) paths; the input is never mutated.
import { badRequest, invalid, type PatchError } from './errors.js';
import { deepClone, deepEqual, hasOwn, isObject, jsonType, setKey, type JsonObject } from './json.js';

export type JsonPatchOpName = 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';

export interface JsonPatchOp {
  op: JsonPatchOpName;
  path: string;
  from?: string;
  value?: unknown;
}

const OPS: ReadonlySet<string> = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);
const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/**
 * Splits a JSON Pointer into unescaped reference tokens ("" → [] is the whole document).
 * Throws PatchError Invalid: Kubernetes answers 422 for a patch whose paths are unusable.
 */
export function parseJsonPointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw invalid(`JSON pointer ${JSON.stringify(pointer)} must be empty or start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => {
      if (/~(?![01])/.test(raw)) throw invalid(`JSON pointer ${JSON.stringify(pointer)}: "~" must be followed by 0 or 1 in ${JSON.stringify(raw)}`);
      return raw.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/**
 * Applies a JSON patch. `ops` is the parsed request body: it must be an array of objects (else BadRequest,
 * as Kubernetes answers 400 when the body does not decode as a patch); every operation that cannot be
 * applied throws Invalid (Kubernetes: 422), naming the operation's index, name and path.
 */
export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  const list = decodeOps(ops);
  let root = deepClone(doc);
  list.forEach((raw, i) => {
    root = applyOne(root, raw, i);
  });
  return root;
}

function decodeOps(ops: unknown): JsonObject[] {
  if (!Array.isArray(ops)) throw badRequest(`json patch must be a JSON array of operations, got ${jsonType(ops)}`);
  ops.forEach((op, i) => {
    if (!isObject(op)) throw badRequest(`json patch operation ${i} must be a JSON object, got ${jsonType(op)}`);
    for (const member of ['op', 'path', 'from']) {
      if (hasOwn(op, member) && typeof op[member] !== 'string') {
        throw badRequest(`json patch operation ${i}: "${member}" must be a string, got ${jsonType(op[member])}`);
      }
    }
  });
  return ops as JsonObject[];
}

function applyOne(root: unknown, raw: JsonObject, index: number): unknown {
  const name = raw.op as string | undefined;
  const where = `json patch operation ${index}${name !== undefined ? ` (${name})` : ''}`;
  const fail = (msg: string): PatchError => invalid(`${where}: ${msg}`);
  if (name === undefined) throw fail('missing "op"');
  if (!OPS.has(name)) throw fail(`unknown op ${JSON.stringify(name)}: expected add, remove, replace, move, copy or test`);
  if (raw.path === undefined) throw fail('missing "path"');
  const path = raw.path as string;
  const tokens = pointer(path, fail);
  const value = (): unknown => {
    if (!hasOwn(raw, 'value')) throw fail('missing "value"');
    return deepClone(raw.value);
  };
  const fromTokens = (): string[] => {
    if (raw.from === undefined) throw fail('missing "from"');
    return pointer(raw.from as string, fail);
  };

  switch (name as JsonPatchOpName) {
    case 'add':
      return add(root, tokens, value(), path, fail);
    case 'remove':
      if (tokens.length === 0) throw fail('path "" (the whole document) cannot be removed');
      remove(root, tokens, path, fail);
      return root;
    case 'replace': {
      const v = value();
      if (tokens.length === 0) return v;
      const { parent, key } = locate(root, tokens, path, fail);
      if (Array.isArray(parent)) parent[existingIndex(parent, key, path, fail)] = v;
      else setKey(parent, existingKey(parent, key, path, fail), v);
      return root;
    }
    case 'move': {
      const from = fromTokens();
      const fromPath = raw.from as string;
      if (from.length < tokens.length && from.every((t, i) => t === tokens[i])) {
        throw fail(`"from" ${JSON.stringify(fromPath)} is a prefix of "path" ${JSON.stringify(path)}: a value cannot be moved into itself`);
      }
      const moved = get(root, from, fromPath, fail);
      if (from.length === 0) return add(undefined, tokens, moved, path, fail);
      remove(root, from, fromPath, fail);
      return add(root, tokens, moved, path, fail);
    }
    case 'copy': {
      const from = fromTokens();
      return add(root, tokens, deepClone(get(root, from, raw.from as string, fail)), path, fail);
    }
    case 'test': {
      if (!hasOwn(raw, 'value')) throw fail('missing "value"');
      const expected = raw.value;
      const actual = get(root, tokens, path, fail);
      if (!deepEqual(actual, expected)) {
        throw fail(`test failed: value at ${JSON.stringify(path)} is ${brief(actual)}, expected ${brief(expected)}`);
      }
      return root;
    }
  }
}

function pointer(p: string, fail: (m: string) => PatchError): string[] {
  try {
    return parseJsonPointer(p);
  } catch (e) {
    throw fail((e as Error).message);
  }
}

/** The container holding the last token, which must exist and be an object or an array. */
function locate(root: unknown, tokens: string[], path: string, fail: (m: string) => PatchError): { parent: JsonObject | unknown[]; key: string } {
  let cur = root;
  for (let i = 0; i < tokens.length - 1; i++) {
    cur = child(cur, tokens[i], tokens, i, path, fail);
  }
  if (!Array.isArray(cur) && !isObject(cur)) {
    throw fail(`path ${JSON.stringify(path)}: ${JSON.stringify(prefix(tokens, tokens.length - 1))} is a ${jsonType(cur)}, not an object or array`);
  }
  return { parent: cur, key: tokens[tokens.length - 1] };
}

function child(cur: unknown, token: string, tokens: string[], i: number, path: string, fail: (m: string) => PatchError): unknown {
  const here = prefix(tokens, i + 1);
  if (Array.isArray(cur)) {
    if (!ARRAY_INDEX.test(token) || Number(token) >= cur.length) throw fail(`path ${JSON.stringify(path)}: ${JSON.stringify(here)} does not exist`);
    return cur[Number(token)];
  }
  if (isObject(cur)) {
    if (!hasOwn(cur, token)) throw fail(`path ${JSON.stringify(path)}: ${JSON.stringify(here)} does not exist`);
    return cur[token];
  }
  throw fail(`path ${JSON.stringify(path)}: ${JSON.stringify(prefix(tokens, i))} is a ${jsonType(cur)}, not an object or array`);
}

function get(root: unknown, tokens: string[], path: string, fail: (m: string) => PatchError): unknown {
  let cur = root;
  tokens.forEach((t, i) => {
    cur = child(cur, t, tokens, i, path, fail);
  });
  return cur;
}

function add(root: unknown, tokens: string[], value: unknown, path: string, fail: (m: string) => PatchError): unknown {
  if (tokens.length === 0) return value;
  const { parent, key } = locate(root, tokens, path, fail);
  if (Array.isArray(parent)) {
    if (key === '-') {
      parent.push(value);
    } else {
      if (!ARRAY_INDEX.test(key)) throw fail(`path ${JSON.stringify(path)}: ${JSON.stringify(key)} is not an array index`);
      const i = Number(key);
      if (i > parent.length) throw fail(`path ${JSON.stringify(path)}: index ${i} is out of bounds (array length ${parent.length})`);
      parent.splice(i, 0, value);
    }
  } else {
    setKey(parent, key, value);
  }
  return root;
}

function remove(root: unknown, tokens: string[], path: string, fail: (m: string) => PatchError): void {
  const { parent, key } = locate(root, tokens, path, fail);
  if (Array.isArray(parent)) parent.splice(existingIndex(parent, key, path, fail), 1);
  else delete parent[existingKey(parent, key, path, fail)];
}

function existingIndex(arr: unknown[], key: string, path: string, fail: (m: string) => PatchError): number {
  if (!ARRAY_INDEX.test(key)) throw fail(`path ${JSON.stringify(path)}: ${JSON.stringify(key)} is not an index of an existing array element`);
  const i = Number(key);
  if (i >= arr.length) throw fail(`path ${JSON.stringify(path)}: index ${i} is out of bounds (array length ${arr.length})`);
  return i;
}

function existingKey(obj: JsonObject, key: string, path: string, fail: (m: string) => PatchError): string {
  if (!hasOwn(obj, key)) throw fail(`path ${JSON.stringify(path)} does not exist`);
  return key;
}

function prefix(tokens: string[], n: number): string {
  return tokens
    .slice(0, n)
    .map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`)
    .join('');
}

function brief(v: unknown): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
