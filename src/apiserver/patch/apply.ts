// Server-side apply, first version: the apply configuration is merged into the live object with
// strategic-merge semantics, field ownership is recorded in metadata.managedFields (FieldsV1), and changing
// a field another manager owns is a 409 conflict unless forced.
import { findResourceByKind } from '../../api/resources.js';
import { badRequest, invalid, PatchError, type PatchErrorCause } from './errors.js';
import { fieldSetOf, FieldSet, pathString, valueAt, type FieldPath } from './fieldset.js';
import { deepClone, deepEqual, hasOwn, isObject, stableStringify, type JsonObject } from './json.js';
import { schemaFor } from './schema.js';
import { applyStrategicMergePatch } from './strategic.js';

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
  subresource?: string;
}

export interface ApplyOptions {
  /** Timestamp recorded in the manager's entry (default: now). */
  now?: Date;
  /** 'status' when applying to the status subresource: only status is taken from the configuration. */
  subresource?: string;
}

/** Owner of the fields of an object that existed before anyone tracked ownership. */
export const BEFORE_FIRST_APPLY = 'before-first-apply';
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
const ANNOTATIONS_SIZE_LIMIT = 256 * 1024;

/** Fields no manager owns: identity and bookkeeping the server controls. */
const STRIPPED: FieldPath[] = [
  ['f:apiVersion'],
  ['f:kind'],
  ['f:metadata'],
  ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion'].map((f) => [
    'f:metadata',
    `f:${f}`,
  ]),
];

interface Owner {
  entry: JsonObject;
  set: FieldSet;
  changed: boolean;
}

interface Conflict {
  owner: Owner;
  path: FieldPath;
}

/**
 * Applies `applied` for `manager` and returns the new object (live is undefined on create). Throws
 * PatchError: BadRequest for configurations that cannot be an apply body, Invalid for list elements
 * without their key, Conflict (with FieldManagerConflict causes) when a field owned by another manager
 * would change and force is false.
 */
export function serverSideApply(
  live: object | undefined,
  applied: object,
  manager: string,
  force: boolean,
  kind: string,
  apiVersion: string,
  opts: ApplyOptions = {},
): JsonObject {
  if (!isObject(applied)) throw badRequest('an apply configuration must be a JSON object');
  if (live !== undefined && !isObject(live)) throw badRequest('the live object must be a JSON object');
  const cur = live as JsonObject | undefined;
  if (!manager) throw invalid('fieldManager: Required value: is required for apply patch');
  checkConfig(applied, kind, apiVersion);
  const schema = schemaFor(kind, apiVersion);
  const onStatus = opts.subresource === 'status';
  const hasStatus = findResourceByKind(apiVersion, kind)?.hasStatus ?? false;

  // The status subresource takes only status; the main resource of a kind with one never takes status.
  const config: JsonObject = onStatus ? (applied.status === undefined ? {} : { status: deepClone(applied.status) }) : deepClone(applied);
  if (!onStatus && hasStatus) delete config.status;
  const appliedSet = owned(fieldSetOf(config, schema, true), hasStatus, onStatus);

  const merged = applyStrategicMergePatch(cur ?? {}, config, kind, apiVersion);
  const owners = cur ? ownersOf(cur, schema, hasStatus, onStatus, apiVersion) : [];
  const mine = (o: Owner) => o.entry.manager === manager && o.entry.operation === 'Apply' && (o.entry.subresource ?? '') === (opts.subresource ?? '');

  const conflicts: Conflict[] = [];
  for (const path of appliedSet.leaves()) {
    if (deepEqual(valueAt(cur, path), valueAt(merged, path))) continue;
    for (const owner of owners) if (!mine(owner) && owner.set.has(path)) conflicts.push({ owner, path });
  }
  if (conflicts.length && !force && !forgivenByLastApplied(cur, manager, conflicts, schema, hasStatus, onStatus)) {
    throw conflictError(conflicts);
  }
  for (const { owner, path } of conflicts) {
    owner.set.remove(path);
    owner.changed = true;
  }

  const entry: ManagedFieldsEntry = {
    manager,
    operation: 'Apply',
    apiVersion,
    time: rfc3339(opts.now ?? new Date()),
    fieldsType: 'FieldsV1',
    fieldsV1: appliedSet.toFieldsV1(),
    ...(opts.subresource ? { subresource: opts.subresource } : {}),
  };
  const managed: unknown[] = [];
  let placed = false;
  for (const o of owners) {
    if (mine(o)) {
      if (!appliedSet.isEmpty()) managed.push(entry);
      placed = true;
    } else if (!o.changed) {
      managed.push(o.entry);
    } else if (!o.set.isEmpty()) {
      managed.push({ ...o.entry, fieldsV1: o.set.toFieldsV1() });
    }
  }
  if (!placed && !appliedSet.isEmpty()) managed.push(entry);

  const meta = isObject(merged.metadata) ? merged.metadata : (merged.metadata = {});
  if (managed.length) meta.managedFields = managed;
  else delete meta.managedFields;
  if (manager === 'kubectl') refreshLastApplied(cur, meta, applied);
  return merged;
}

function checkConfig(applied: JsonObject, kind: string, apiVersion: string): void {
  if (applied.kind !== undefined && applied.kind !== kind)
    throw badRequest(`apply configuration has kind ${JSON.stringify(applied.kind)}, expected ${JSON.stringify(kind)}`);
  if (applied.apiVersion !== undefined && applied.apiVersion !== apiVersion) {
    throw badRequest(`apply configuration has apiVersion ${JSON.stringify(applied.apiVersion)}, expected ${JSON.stringify(apiVersion)}`);
  }
  if (isObject(applied.metadata) && hasOwn(applied.metadata, 'managedFields') && applied.metadata.managedFields != null) {
    throw badRequest('metadata.managedFields must be nil in an apply configuration');
  }
  const directive = findDirective(applied, '');
  if (directive) throw badRequest(`apply configurations cannot carry patch directives: found ${JSON.stringify(directive.key)} at ${directive.path || '.'}`);
}

function findDirective(v: unknown, path: string): { key: string; path: string } | undefined {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const d = findDirective(v[i], `${path}[${i}]`);
      if (d) return d;
    }
  } else if (isObject(v)) {
    for (const k of Object.keys(v)) {
      if (k.startsWith('$')) return { key: k, path };
      const d = findDirective(v[k], `${path}.${k}`);
      if (d) return d;
    }
  }
  return undefined;
}

/** A field set without the fields nobody owns, and without status where it cannot change. */
function owned(set: FieldSet, hasStatus: boolean, onStatus: boolean): FieldSet {
  for (const p of STRIPPED) set.remove(p);
  if (hasStatus && !onStatus) set.removeTree(['f:status']);
  return set;
}

/**
 * The field managers of the live object. An object nobody ever applied or tracked is owned whole by
 * "before-first-apply" (operation Update), as Kubernetes assumes on the first apply to such an object.
 */
function ownersOf(live: JsonObject, schema: ReturnType<typeof schemaFor>, hasStatus: boolean, onStatus: boolean, apiVersion: string): Owner[] {
  const entries = isObject(live.metadata) && Array.isArray(live.metadata.managedFields) ? live.metadata.managedFields : [];
  const owners: Owner[] = entries.filter(isObject).map((entry) => ({ entry: deepClone(entry), set: FieldSet.fromFieldsV1(entry.fieldsV1), changed: false }));
  if (owners.length) return owners;
  const set = owned(fieldSetOf(live, schema, false), hasStatus, onStatus);
  if (set.isEmpty()) return [];
  const entry = { manager: BEFORE_FIRST_APPLY, operation: 'Update', apiVersion, fieldsType: 'FieldsV1', fieldsV1: set.toFieldsV1() };
  // Marked changed so that it is written out with whatever fields it still owns after this apply.
  return [{ entry, set, changed: true }];
}

/**
 * kubectl moving an object from client-side to server-side apply: conflicts on fields its
 * last-applied-configuration annotation lists are taken over, as the Kubernetes API server does for
 * the manager "kubectl".
 */
function forgivenByLastApplied(
  live: JsonObject | undefined,
  manager: string,
  conflicts: Conflict[],
  schema: ReturnType<typeof schemaFor>,
  hasStatus: boolean,
  onStatus: boolean,
): boolean {
  if (manager !== 'kubectl' || !live) return false;
  const text = lastApplied(live);
  if (!text) return false;
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    return false;
  }
  if (!isObject(config)) return false;
  const allowed = owned(fieldSetOf(config, schema, false), hasStatus, onStatus);
  return conflicts.every((c) => allowed.has(c.path));
}

function lastApplied(obj: JsonObject | undefined): string | undefined {
  const ann = isObject(obj?.metadata) && isObject(obj.metadata.annotations) ? obj.metadata.annotations : undefined;
  const v = ann && hasOwn(ann, LAST_APPLIED_ANNOTATION) ? ann[LAST_APPLIED_ANNOTATION] : undefined;
  return typeof v === 'string' && v ? v : undefined;
}

/**
 * For the manager "kubectl", an existing last-applied-configuration annotation is kept equal to the
 * configuration just applied (sorted-key JSON plus newline), and dropped when annotations would exceed 256 KiB.
 */
function refreshLastApplied(live: JsonObject | undefined, meta: JsonObject, applied: JsonObject): void {
  if (!lastApplied(live)) return;
  const copy = deepClone(applied);
  if (isObject(copy.metadata) && isObject(copy.metadata.annotations)) delete copy.metadata.annotations[LAST_APPLIED_ANNOTATION];
  const ann: JsonObject = isObject(meta.annotations) ? meta.annotations : (meta.annotations = {});
  ann[LAST_APPLIED_ANNOTATION] = `${stableStringify(copy)}\n`;
  let size = 0;
  for (const k of Object.keys(ann)) size += Buffer.byteLength(k) + Buffer.byteLength(String(ann[k]));
  if (size > ANNOTATIONS_SIZE_LIMIT) delete ann[LAST_APPLIED_ANNOTATION];
}

/** How Kubernetes names a manager in conflicts: "name", plus `using <apiVersion> [at <time>]` for updaters. */
function describeManager(e: JsonObject): string {
  let s = JSON.stringify(String(e.manager ?? ''));
  if (e.subresource) s += ` with subresource ${JSON.stringify(String(e.subresource))}`;
  if (e.operation === 'Update') {
    s += ` using ${String(e.apiVersion ?? '')}`;
    if (typeof e.time === 'string' && e.time) s += ` at ${e.time}`;
  }
  return s;
}

function conflictError(conflicts: Conflict[]): PatchError {
  const causes: PatchErrorCause[] = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${describeManager(c.owner.entry)}`,
    field: pathString(c.path),
  }));
  if (conflicts.length === 1) {
    return new PatchError('Conflict', `Apply failed with 1 conflict: ${causes[0].message}: ${causes[0].field}`, causes);
  }
  const byManager = new Map<string, string[]>();
  for (const c of causes) {
    const who = c.message.slice('conflict with '.length);
    byManager.set(who, [...(byManager.get(who) ?? []), c.field!]);
  }
  const lines = [...byManager.keys()].sort().flatMap((who) => [`conflicts with ${who}:`, ...byManager.get(who)!.map((f) => `- ${f}`)]);
  return new PatchError('Conflict', `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`, causes);
}

/** RFC 3339 with second precision, as metav1.Time serializes. */
function rfc3339(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}
