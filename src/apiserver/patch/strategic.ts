// Strategic merge patch as the Kubernetes API server applies it (k8s.io/apimachinery strategicpatch,
// server side): maps merge, null deletes, tagged lists merge by key or as sets, directives are obeyed
// and never stored. The input object and patch are never mutated.
import { badRequest, invalid } from './errors.js';
import { deepClone, hasOwn, isObject, jsonType, setKey, type JsonObject } from './json.js';
import { childSchema, schemaFor, type SchemaNode } from './schema.js';

const PATCH = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ELEMENT_ORDER = '$setElementOrder';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList';

/** Marks "no value": a field a patch removed, or a new value that a `$patch: delete` cancelled. */
const ABSENT = Symbol('absent');
type Result = unknown | typeof ABSENT;

/**
 * Applies a strategic merge patch to an object of the given kind. Kinds without a schema merge their maps
 * and replace their lists, as a JSON merge patch would, but directives are still obeyed.
 * Throws PatchError: BadRequest for malformed patches, Invalid for patches that cannot apply.
 */
export function applyStrategicMergePatch(doc: unknown, patch: unknown, kind: string, apiVersion: string): JsonObject {
  if (!isObject(patch)) throw badRequest(`strategic merge patch must be a JSON object, got ${jsonType(patch)}`);
  if (!isObject(doc)) throw badRequest(`the object to patch must be a JSON object, got ${jsonType(doc)}`);
  return mergeMap(deepClone(doc), patch, schemaFor(kind, apiVersion), '');
}

/** Merges patch into orig, which this module owns (a copy) and may change in place. */
function mergeMap(orig: JsonObject, patch: JsonObject, node: SchemaNode | undefined, path: string): JsonObject {
  if (hasOwn(patch, PATCH)) {
    const d = patch[PATCH];
    if (d === 'delete') return {};
    if (d === 'replace') {
      const { [PATCH]: _directive, ...content } = patch;
      return mergeMap({}, content, node, path);
    }
    if (d !== 'merge') throw badRequest(`${where(path)}: unknown "$patch" directive ${JSON.stringify(d)}: expected "replace", "delete" or "merge"`);
  }
  applyRetainKeys(orig, patch, path);
  const ordered = applySetElementOrder(orig, patch, node, path);
  const deletions: [string, unknown][] = [];
  for (const k of Object.keys(patch)) {
    if (k === PATCH || k === RETAIN_KEYS || ordered.has(k) || k.startsWith(SET_ELEMENT_ORDER)) continue;
    if (k.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      deletions.push([directiveField(k, DELETE_FROM_PRIMITIVE_LIST, path), patch[k]]);
      continue;
    }
    if (k.startsWith('$')) throw badRequest(`${where(path)}: unknown patch directive ${JSON.stringify(k)}`);
    const v = patch[k];
    if (v === null) {
      delete orig[k];
      continue;
    }
    const r = mergeValue(hasOwn(orig, k) ? orig[k] : ABSENT, v, childSchema(node, k), join(path, k));
    if (r === ABSENT) delete orig[k];
    else setKey(orig, k, r);
  }
  // After the additions, so that a list both extended and trimmed by one patch ends without the deleted values.
  for (const [field, list] of deletions) deleteFromPrimitiveList(orig, field, list, join(path, field));
  return orig;
}

function mergeValue(cur: Result, v: unknown, node: SchemaNode | undefined, path: string): Result {
  if (isObject(v)) return isObject(cur) ? mergeMap(cur, v, node, path) : fresh(v, node, path);
  if (Array.isArray(v)) {
    if (node?.meta?.merge) return mergeList(Array.isArray(cur) ? cur : [], v, node, path);
    return freshList(v, node, path);
  }
  return v;
}

/** A patch map where the object has nothing: directives resolved, nulls dropped. */
function fresh(v: JsonObject, node: SchemaNode | undefined, path: string): Result {
  if (v[PATCH] === 'delete') return ABSENT;
  return mergeMap({}, v, node, path);
}

/**
 * A list that replaces the object's list. Elements carrying `$patch` are dropped, as the API server
 * drops directive-carrying maps from values it takes over whole.
 */
function freshList(v: unknown[], node: SchemaNode | undefined, path: string): unknown[] {
  const out: unknown[] = [];
  v.forEach((e, i) => {
    if (isObject(e)) {
      if (hasOwn(e, PATCH)) return;
      const r = fresh(e, node, `${path}[${i}]`);
      if (r !== ABSENT) out.push(r);
    } else if (Array.isArray(e)) {
      out.push(freshList(e, undefined, `${path}[${i}]`));
    } else {
      out.push(e);
    }
  });
  return out;
}

/** Merges a list whose field has patchStrategy merge: by merge key for objects, as a set for primitives. */
function mergeList(orig: unknown[], patch: unknown[], node: SchemaNode, path: string): unknown[] {
  if (orig.length === 0 && patch.length === 0) return orig;
  const all = [...orig, ...patch];
  if (all.some(Array.isArray)) throw invalid(`${where(path)}: lists of lists are not supported`);
  const maps = isObject(all[0]);
  if (all.some((e) => isObject(e) !== maps))
    throw badRequest(`${where(path)}: list elements are not all of one type (objects mixed with ${maps ? 'primitive values' : 'objects'})`);
  if (!maps) {
    const merged = [...new Set(all)];
    return orderMerged(merged, patch, orig, identity);
  }
  const key = node.meta?.mergeKey;
  if (!key) throw badRequest(`${where(path)}: a list of objects cannot merge here: the field merges as a set of primitive values`);
  const idOf = keyOf(key);

  let base = orig;
  let replace = false;
  const regular: JsonObject[] = [];
  patch.forEach((el, i) => {
    const e = el as JsonObject;
    if (!hasOwn(e, PATCH) || e[PATCH] === 'merge') {
      regular.push(e);
      return;
    }
    const d = e[PATCH];
    if (d === 'delete') {
      if (!hasOwn(e, key)) throw badRequest(`${where(path)}[${i}]: a "$patch": "delete" element must carry the merge key ${JSON.stringify(key)}`);
      base = base.filter((o) => !(isObject(o) && hasOwn(o, key) && o[key] === e[key]));
    } else if (d === 'replace') {
      replace = true;
    } else {
      throw badRequest(`${where(path)}[${i}]: unknown "$patch" directive ${JSON.stringify(d)}: expected "replace", "delete" or "merge"`);
    }
  });
  if (replace) {
    regular.forEach((e, i) => {
      if (!hasOwn(e, key)) throw badRequest(`${where(path)}[${i}]: element has no merge key ${JSON.stringify(key)}`);
    });
    return freshList(regular, node, path);
  }

  const serverOrder = base.map(idOf);
  base = base.slice();
  regular.forEach((e, i) => {
    if (!hasOwn(e, key)) throw badRequest(`${where(path)}[${i}]: element has no merge key ${JSON.stringify(key)}`);
    const at = base.findIndex((o) => isObject(o) && hasOwn(o, key) && o[key] === e[key]);
    const p = `${path}[${key}=${JSON.stringify(e[key])}]`;
    if (at >= 0) {
      base[at] = mergeMap(base[at] as JsonObject, e, node, p);
    } else {
      const r = fresh(e, node, p);
      if (r !== ABSENT) base.push(r);
    }
  });
  return orderMerged(base, regular.map(idOf), serverOrder, idOf);
}

/**
 * The order Kubernetes gives a merged list: items the patch names come in the patch's order; the others
 * keep their live order, each placed before the first patch item that came after it in the live list.
 */
function orderMerged(merged: unknown[], patchOrder: unknown[], serverOrder: unknown[], idOf: (x: unknown) => unknown): unknown[] {
  const patchPos = firstPositions(patchOrder);
  const serverPos = firstPositions(serverOrder);
  const byPos = (pos: Map<unknown, number>) => (a: unknown, b: unknown) => (pos.get(idOf(a)) ?? Infinity) - (pos.get(idOf(b)) ?? Infinity);
  const fromPatch = merged.filter((m) => patchPos.has(idOf(m))).sort(byPos(patchPos));
  const serverOnly = merged.filter((m) => !patchPos.has(idOf(m))).sort(byPos(serverPos));
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < fromPatch.length) {
    if (j >= fromPatch.length) {
      out.push(serverOnly[i++]);
    } else if (i >= serverOnly.length) {
      out.push(fromPatch[j++]);
    } else {
      const l = serverPos.get(idOf(serverOnly[i]));
      const r = serverPos.get(idOf(fromPatch[j]));
      out.push(l !== undefined && r !== undefined && l < r ? serverOnly[i++] : fromPatch[j++]);
    }
  }
  return out;
}

function firstPositions(ids: unknown[]): Map<unknown, number> {
  const m = new Map<unknown, number>();
  ids.forEach((id, i) => {
    if (!m.has(id)) m.set(id, i);
  });
  return m;
}

const identity = (x: unknown): unknown => x;

/** Identity of a list element: its merge-key value; an element without one is only itself. */
function keyOf(key: string): (x: unknown) => unknown {
  return (x) => (isObject(x) && hasOwn(x, key) ? x[key] : x);
}

/** `$retainKeys`: the map keeps only the listed fields; the patch may only set listed fields. */
function applyRetainKeys(orig: JsonObject, patch: JsonObject, path: string): void {
  if (!hasOwn(patch, RETAIN_KEYS)) return;
  const list = patch[RETAIN_KEYS];
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) {
    throw badRequest(`${where(path)}: invalid patch format of retainKeys: "$retainKeys" must be a list of field names, got ${JSON.stringify(list)}`);
  }
  const keep = new Set(list as string[]);
  for (const k of Object.keys(patch)) {
    if (patch[k] !== null && !k.startsWith('$') && !keep.has(k)) {
      throw badRequest(`${where(path)}: invalid patch format of retainKeys: field ${JSON.stringify(k)} is set by the patch but not listed in "$retainKeys"`);
    }
  }
  for (const k of Object.keys(orig)) if (!keep.has(k)) delete orig[k];
}

/**
 * `$setElementOrder/<field>`: merges <field> and orders the result as listed, live-only items keeping
 * their place. Returns the fields it handled.
 */
function applySetElementOrder(orig: JsonObject, patch: JsonObject, node: SchemaNode | undefined, path: string): Set<string> {
  const handled = new Set<string>();
  for (const k of Object.keys(patch)) {
    if (!k.startsWith(SET_ELEMENT_ORDER)) continue;
    const field = directiveField(k, SET_ELEMENT_ORDER, path);
    const p = join(path, field);
    const order = patch[k];
    if (!Array.isArray(order)) throw badRequest(`${p}: invalid patch format of setElementOrder list: "${k}" must be a list, got ${jsonType(order)}`);
    if (hasOwn(patch, field) && !Array.isArray(patch[field])) {
      throw badRequest(`${p}: "${k}" orders a list, but the patch sets ${field} to ${jsonType(patch[field])}`);
    }
    const child = childSchema(node, field);
    const key = child?.meta?.mergeKey;
    const idOf = key ? keyOf(key) : identity;
    if (key) {
      order.forEach((o, i) => {
        if (!isObject(o) || !hasOwn(o, key)) throw badRequest(`${p}: "${k}"[${i}] must be an object carrying the merge key ${JSON.stringify(key)}`);
      });
    }
    const origList = Array.isArray(orig[field]) && hasOwn(orig, field) ? (orig[field] as unknown[]) : undefined;
    const patchList = hasOwn(patch, field) ? (patch[field] as unknown[]) : undefined;
    checkOrderMatchesPatch(patchList, order, key, idOf, p, k);
    const serverOrder = (origList ?? []).map(idOf);
    let merged: unknown[];
    if (patchList) {
      merged = child?.meta?.merge ? mergeList(origList ?? [], patchList, child, p) : freshList(patchList, child, p);
    } else if (origList) {
      merged = origList;
    } else {
      continue;
    }
    handled.add(field);
    // Objects without a merge key have no identity to order by.
    setKey(orig, field, key || !merged.some(isObject) ? orderMerged(merged, order.map(idOf), serverOrder, idOf) : merged);
  }
  return handled;
}

/** The patch list's items must appear in `$setElementOrder` in the same relative order. */
function checkOrderMatchesPatch(
  patchList: unknown[] | undefined,
  order: unknown[],
  key: string | undefined,
  idOf: (x: unknown) => unknown,
  path: string,
  directive: string,
): void {
  if (!patchList?.length || !order.length) return;
  const items = patchList.filter((e) => !(isObject(e) && hasOwn(e, PATCH)));
  let pi = 0;
  for (let oi = 0; pi < items.length && oi < order.length; oi++) {
    const e = items[pi];
    if (key && !(isObject(e) && hasOwn(e, key))) throw badRequest(`${path}: patch element has no merge key ${JSON.stringify(key)}`);
    if (idOf(e) === idOf(order[oi])) pi++;
  }
  if (pi < items.length) {
    throw badRequest(
      `${path}: the order of the patch list does not match "${directive}": ${JSON.stringify(idOf(items[pi]))} is missing from it or out of order`,
    );
  }
}

function deleteFromPrimitiveList(orig: JsonObject, field: string, list: unknown, path: string): void {
  if (!Array.isArray(list))
    throw badRequest(`${path}: invalid patch format of primitive list: "${DELETE_FROM_PRIMITIVE_LIST}/${field}" must be a list, got ${jsonType(list)}`);
  const cur = hasOwn(orig, field) ? orig[field] : undefined;
  if (!Array.isArray(cur)) return;
  if ([...cur, ...list].some((x) => isObject(x) || Array.isArray(x))) {
    throw badRequest(`${path}: "${DELETE_FROM_PRIMITIVE_LIST}/${field}" applies to lists of primitive values only`);
  }
  setKey(
    orig,
    field,
    cur.filter((x) => !list.includes(x)),
  );
}

/** The field a `$prefix/<field>` directive names. */
function directiveField(key: string, prefix: string, path: string): string {
  const field = key.slice(prefix.length + 1);
  if (key[prefix.length] !== '/' || field === '') {
    const what = prefix === SET_ELEMENT_ORDER ? 'setElementOrder list' : 'primitive list';
    throw badRequest(`${where(path)}: invalid patch format of ${what}: ${JSON.stringify(key)} must be "${prefix}/<field>"`);
  }
  return field;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function where(path: string): string {
  return path || '<object>';
}
