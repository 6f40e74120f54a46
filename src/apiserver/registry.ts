// Generic storage of API objects on the Store: create/get/list/update/delete with Kubernetes semantics
// (metadata, optimistic concurrency, status/spec halves, graceful deletion and finalizers).
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Container, KObject, FieldError, Pod, PodCondition } from '../api/types.js';
import { INGRESSES, isOf, NAMESPACES, PODS } from '../api/kinds.js';
import { type ResourceDef, groupVersion, storageKey, storagePrefix, findResource } from '../api/resources.js';
import { STRATEGIES } from '../api/strategies/index.js';
import { defaultIngressClass, validateIngressCreate } from '../api/strategies/ingress.js';
import { validateEphemeralContainersUpdate } from '../api/strategies/pod.js';
import { defaultStorageClass, PV_PROTECTION_FINALIZER, PVC_PROTECTION_FINALIZER } from '../api/strategies/storage.js';
import type { ResourceStrategy } from '../api/strategy.js';
import { validateObjectMeta, validateObjectMetaUpdate } from '../api/meta.js';
import { type Store, isStoreError } from '../store/types.js';
import { ApiError, errors } from '../api/status.js';
import { decodeObject, type WatchCache } from './watchcache.js';
import { dropEmpty } from './openapi/schemas.js';
import { applyJsonPatch } from './patch/jsonpatch.js';
import { applyMergePatchToObject } from './patch/mergepatch.js';
import { applyStrategicMergePatch } from './patch/strategic.js';
import { decodeStrictly, type FieldValidation } from './typecheck.js';
import { now } from '../util/time.js';
import type { WriteSubresource } from '../client/types.js';

export interface ListQuery {
  labelSelector?: { matches(labels: Record<string, string> | undefined): boolean; isEmpty?(): boolean };
  fieldSelector?: { matches(fields: Record<string, string>): boolean };
  limit?: number;
  continue?: string;
  /** Read at exactly this revision (resourceVersionMatch=Exact). */
  revision?: number;
}

export interface ListResult<T extends KObject = KObject> {
  items: T[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
  /** The server's own writes that set what clients may not (binding: spec.nodeName with status). */
  internal?: boolean;
  /** The body was decoded for this call alone (a request's): the registry changes it in place instead of
   *  copying it. In-process callers leave it unset and keep their object as it was. */
  owned?: boolean;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

/** What a resource's write hooks prepared for one write: commit after the store write succeeded,
 *  revert after it failed. Both are best effort; a repair loop owns what they leave behind. */
export interface WriteTxn {
  commit(): Promise<void>;
  revert(): Promise<void>;
}

/** Side effects a resource needs around its writes, outside its own key (a Service's IPs and node
 *  ports). beforeCreate/beforeUpdate may fill fields of obj/next (allocated values); with dryRun they
 *  check and fill but hold nothing. Typed by the kind of the plural they are registered for (`WriteHooks<Service>`):
 *  they run after validation, so the object has its kind's shape. */
export interface WriteHooks<T extends KObject = KObject> {
  beforeCreate(obj: T, dryRun: boolean): Promise<WriteTxn>;
  beforeUpdate(next: T, cur: T, dryRun: boolean): Promise<WriteTxn>;
  /** An admission check of a status write (throws to refuse it; nothing to commit): NodeRestriction's. */
  checkStatusUpdate?(next: T, cur: T): Promise<void>;
  /** The object is gone from the store. */
  afterDelete(obj: T): Promise<void>;
}

/** Outcome of a delete: the object's last state, and whether it is gone (false: pending finalizers or
 *  a grace period). */
export interface DeleteResult {
  object: KObject;
  deleted: boolean;
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
const IMMORTAL_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)];
  return s;
}

/** A name from generateName as upstream's SimpleNameGenerator makes it: the base cut to 58 characters,
 *  so base + suffix fits a 63-character label (a ReplicaSet's pods: `<deployment>-<hash>-xxxxx`). */
function generatedName(base: string): string {
  return `${base.slice(0, 58)}${randomSuffix()}`;
}

/** What a stored value is: the object without resourceVersion (that is the store's revision). */
function encode(obj: KObject): string {
  const { resourceVersion: _rv, ...meta } = obj.metadata;
  // Stored as Go writes objects (kind, apiVersion, metadata first), so watch events read the same.
  const { kind, apiVersion, metadata: _m, ...rest } = obj;
  return JSON.stringify({ kind, apiVersion, metadata: meta, ...rest });
}

/** A just-written object as decode() would read it back: kind and apiVersion first, resourceVersion last
 *  in metadata (encode() left it out), the rest in the order encode() wrote it. */
function written(obj: KObject, revision: number): KObject {
  const { resourceVersion: _rv, ...meta } = obj.metadata;
  const { kind, apiVersion, metadata: _m, ...rest } = obj;
  return { kind, apiVersion, metadata: { ...meta, resourceVersion: String(revision) }, ...rest } as KObject;
}

export function strategyOf(r: ResourceDef): ResourceStrategy {
  return STRATEGIES[r.plural];
}

/** The fields a field selector can name for an object. */
export function fieldsOf(r: ResourceDef, obj: KObject): Record<string, string> {
  const f: Record<string, string> = { 'metadata.name': obj.metadata.name ?? '' };
  if (r.namespaced) f['metadata.namespace'] = obj.metadata.namespace ?? '';
  const extra = strategyOf(r)?.fields?.(obj);
  return extra ? { ...f, ...extra } : f;
}

interface ContinueToken {
  rv: number;
  start: string;
}

export function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'k8ts/1', rv: t.rv, start: t.start })).toString('base64url');
}

/** A continue token read back, or a 400 naming why it cannot be (malformed, another server's, another list's). */
export function decodeContinue(s: string, prefix: string): ContinueToken {
  const t = parseContinue(s);
  if (!t.start.startsWith(prefix)) throw errors.badRequest('continue key is not valid: it belongs to another list');
  return t;
}

function parseContinue(s: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(s, 'base64url').toString());
    if (t?.v === 'k8ts/1' && Number.isSafeInteger(t.rv) && typeof t.start === 'string') return { rv: t.rv, start: t.start };
  } catch {
    /* fall through */
  }
  throw errors.badRequest('continue key is not valid: the continue token is malformed or was issued by another server');
}

/** What one try of an update starts from: the object, the revision the write compares, and where it came from. */
interface UpdateState {
  cur: KObject;
  revision: number;
  stale: boolean;
  fromCache: boolean;
}

export class Registry {
  /** Write hooks by resource plural (the server role adds the services' allocators). */
  constructor(
    readonly store: Store,
    readonly cache: WatchCache,
    readonly hooks: ReadonlyMap<string, WriteHooks> = new Map(),
  ) {}

  /** Mutating admission on create by resource plural, run first (the ServiceAccount admission on pods). */
  private admissions = new Map<string, ((obj: KObject) => Promise<void>)[]>();

  addAdmission(plural: string, admit: (obj: KObject) => Promise<void>): void {
    this.admissions.set(plural, [...(this.admissions.get(plural) ?? []), admit]);
  }

  /** Runs a resource's afterDelete hook; a failure there must not fail a delete that happened. */
  private async afterDelete(r: ResourceDef, obj: KObject): Promise<void> {
    try {
      await this.hooks.get(r.plural)?.afterDelete(obj);
    } catch (e) {
      console.error(`k8ts registry: after deleting ${r.plural} ${obj.metadata.namespace ?? ''}/${obj.metadata.name}:`, e instanceof Error ? e.message : e);
    }
  }

  private decode<T extends KObject>(kv: { value: string; modRevision: number }, r: ResourceDef<T>): T {
    const { kind: _k, apiVersion: _a, ...rest } = decodeObject(kv.value, kv.modRevision);
    // TypeMeta first, kind before apiVersion, as Go writes every object. The one place a stored object
    // becomes its kind's type: it was validated as that kind when it was written.
    return { kind: r.kind, apiVersion: groupVersion(r), ...rest } as T;
  }

  async get<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, name: string): Promise<T> {
    const kv = await this.store.get(storageKey(r, ns, name));
    if (!kv) throw errors.notFound(r.plural, r.group, name);
    return this.decode(kv, r);
  }

  async tryGet<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, name: string): Promise<T | undefined> {
    const kv = await this.store.get(storageKey(r, ns, name));
    return kv ? this.decode(kv, r) : undefined;
  }

  /** The object from the watch cache — shared, read-only: never change it — else from the store. For checks
   *  that upstream makes from an informer's lister with a live lookup on a miss (admission plugins). */
  async cachedOrLive<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, name: string): Promise<T | undefined> {
    const c = this.cache.object(storageKey(r, ns, name));
    return c ? (c.object as T) : this.tryGet(r, ns, name);
  }

  async list<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, q: ListQuery = {}): Promise<ListResult<T>> {
    const prefix = storagePrefix(r, ns);
    const limit = q.limit && q.limit > 0 ? q.limit : 0;
    let rev: number | undefined = q.revision;
    let after: string | undefined;
    if (q.continue) {
      const t = decodeContinue(q.continue, prefix);
      rev = t.rv;
      after = t.start;
    }
    const filtered = Boolean(q.labelSelector || q.fieldSelector);
    const items: T[] = [];
    let more = false;
    let remaining: number | undefined;
    let lastKey: string | undefined;
    for (;;) {
      const want = limit ? Math.max(limit - items.length, filtered ? 500 : 0) : 0;
      let page;
      try {
        page = await this.store.list(prefix, { limit: want, after, revision: rev });
      } catch (e) {
        if (isStoreError(e, 'Compacted')) {
          if (!q.continue) throw errors.gone(`too old resource version: ${rev} (${e.revision ?? 0})`);
          throw errors.gone(
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
          );
        }
        if (q.revision !== undefined && !q.continue && isStoreError(e, 'Unavailable') && e.revision !== undefined && q.revision > e.revision) {
          throw new ApiError(504, 'Timeout', `Too large resource version: ${q.revision}, current: ${e.revision}`, {
            causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
            retryAfterSeconds: 1,
          });
        }
        throw e;
      }
      rev = page.revision;
      for (let i = 0; i < page.items.length; i++) {
        const kv = page.items[i];
        const obj = this.decode(kv, r);
        lastKey = kv.key;
        if (q.labelSelector && !q.labelSelector.matches(obj.metadata.labels)) continue;
        if (q.fieldSelector && !q.fieldSelector.matches(fieldsOf(r, obj))) continue;
        items.push(obj);
        if (limit && items.length === limit) {
          more = page.more || i < page.items.length - 1;
          if (!filtered && more) remaining = (page.remaining ?? 0) + (page.items.length - 1 - i);
          break;
        }
      }
      if ((limit && items.length === limit) || !page.more || !limit) break;
      after = lastKey;
    }
    const out: ListResult<T> = { items, resourceVersion: String(rev) };
    if (more && lastKey) {
      out.continue = encodeContinue({ rv: rev!, start: lastKey });
      if (remaining !== undefined && remaining > 0) out.remainingItemCount = remaining;
    }
    return out;
  }

  // ---- create ----

  async create(r: ResourceDef, ns: string | undefined, body: KObject, opts: WriteOptions = {}): Promise<KObject> {
    const generated = !body.metadata?.name && body.metadata?.generateName;
    const obj = this.prepareCreate(r, ns, opts.owned ? body : structuredClone(body));
    if (r.namespaced) await this.checkNamespaceWritable(ns!);
    await this.admit(r, obj);
    const strategy = strategyOf(r);
    strategy?.prepareForCreate?.(obj);
    strategy?.defaults?.(obj);
    dropEmpty(r.group, r.version, r.kind, obj);
    this.validate(r, obj, strategy?.validate?.(obj) ?? []);
    const hooks = this.hooks.get(r.plural);
    if (opts.dryRun) {
      if (await this.tryGet(r, ns, obj.metadata.name!)) throw errors.alreadyExists(r.plural, r.group, obj.metadata.name!);
      await hooks?.beforeCreate(obj, true);
      return obj;
    }
    const txn = await hooks?.beforeCreate(obj, false);
    for (let attempt = 0; ; attempt++) {
      try {
        const value = encode(obj);
        const kv = await this.store.create(storageKey(r, ns, obj.metadata.name!), value);
        await txn?.commit();
        // The object as written: the stored JSON is encode(obj) and nothing changed obj since, so the
        // answer is obj with its resourceVersion, without parsing back what was just stringified.
        return written(obj, kv.modRevision);
      } catch (e) {
        if (isStoreError(e, 'KeyExists') && generated && attempt < 8) {
          obj.metadata.name = generatedName(String(obj.metadata.generateName));
          continue;
        }
        await txn?.revert();
        if (isStoreError(e, 'KeyExists')) throw errors.alreadyExists(r.plural, r.group, obj.metadata.name!);
        throw e;
      }
    }
  }

  /** The mutating admission Kubernetes runs on creates that needs other objects: DefaultIngressClass,
   *  DefaultStorageClass, StorageObjectInUseProtection (the pv/pvc-protection finalizers). */
  private async admit(r: ResourceDef, obj: KObject): Promise<void> {
    if (r.group === '') for (const a of this.admissions.get(r.plural) ?? []) await a(obj);
    if (r.group === '' && (r.plural === 'persistentvolumeclaims' || r.plural === 'persistentvolumes')) {
      if (r.plural === 'persistentvolumeclaims')
        defaultStorageClass(obj, (await this.list(findResource('storage.k8s.io', 'v1', 'storageclasses')!, undefined)).items);
      const f = r.plural === 'persistentvolumes' ? PV_PROTECTION_FINALIZER : PVC_PROTECTION_FINALIZER;
      const list = Array.isArray(obj.metadata.finalizers) ? obj.metadata.finalizers : [];
      if (!list.includes(f)) obj.metadata.finalizers = [...list, f];
    }
    if (isOf(INGRESSES, r, obj)) {
      const errs = validateIngressCreate(obj);
      if (errs.length) throw errors.invalid(r.kind, r.group, obj.metadata.name ?? '', errs);
      const classes = findResource('networking.k8s.io', 'v1', 'ingressclasses')!;
      defaultIngressClass(obj, (await this.list(classes, undefined)).items);
    }
  }

  /** The object a create starts from: obj itself (already a copy, or the request's own body), reset. */
  private prepareCreate(r: ResourceDef, ns: string | undefined, obj: KObject): KObject {
    if (!obj.metadata || typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) obj.metadata = {};
    const m = obj.metadata;
    if (r.namespaced) {
      if (m.namespace && m.namespace !== ns) {
        throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      m.namespace = ns;
    } else {
      delete m.namespace;
    }
    if (!m.name && typeof m.generateName === 'string' && m.generateName) m.name = generatedName(m.generateName);
    m.uid = randomUUID();
    m.creationTimestamp = now();
    delete m.resourceVersion;
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete m.selfLink;
    if (r.hasStatus) m.generation = 1;
    else delete m.generation;
    obj.apiVersion = groupVersion(r);
    obj.kind = r.kind;
    resetStatusOnCreate(r, obj);
    return obj;
  }

  private validate(r: ResourceDef, obj: KObject, errs: FieldError[]): void {
    const all = [...validateObjectMeta(obj, r), ...errs];
    if (all.length) throw errors.invalid(r.kind, r.group, obj.metadata?.name ?? obj.metadata?.generateName ?? '', all);
  }

  /** Upstream's NamespaceLifecycle admission: the namespace must exist and not be terminating. Read as upstream
   *  reads it, from the cache first (no store read and decode per create), live from the store when the
   *  cache has not seen it (a namespace created a moment ago). */
  async checkNamespaceWritable(ns: string): Promise<void> {
    const nsDef = findResource('', 'v1', 'namespaces')!;
    const nsObj = await this.cachedOrLive(nsDef, undefined, ns);
    if (!nsObj) throw errors.notFound('namespaces', '', ns);
    if (nsObj.metadata.deletionTimestamp) {
      throw new ApiError(403, 'Forbidden', `unable to create new content in namespace ${ns} because it is being terminated`, {
        name: ns,
        kind: 'namespaces',
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }],
      });
    }
  }

  // ---- update ----

  /** Replace an object (PUT) or its status. body.metadata.resourceVersion, when set, must be current. */
  async update(
    r: ResourceDef,
    ns: string | undefined,
    name: string,
    body: KObject,
    subresource: WriteSubresource | undefined,
    opts: WriteOptions = {},
  ): Promise<KObject> {
    if (!body.metadata || typeof body.metadata !== 'object') body.metadata = {};
    if (body.metadata.name && body.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    if (r.namespaced && body.metadata.namespace && body.metadata.namespace !== ns) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const wantRv = body.metadata.resourceVersion;
    return this.guaranteedUpdate(
      r,
      ns,
      name,
      (cur) => {
        if (wantRv && wantRv !== cur.metadata.resourceVersion) throw errors.conflict(r.plural, r.group, name);
        return structuredClone(body);
      },
      subresource,
      opts,
    );
  }

  /** Read-modify-write with retries on conflict: mutate gets the current object and returns the
   *  desired one (the status/spec split, defaults and validation are applied here).
   *
   *  The first try starts from the object the watch cache holds, as upstream's cacher hands its
   *  GuaranteedUpdate the cached object: no store read and decode per write (at 1,000 nodes, a SQLite read
   *  and a JSON decode on the event loop for each of 100 Lease renewals a second). The write still compares
   *  the revision it read, so a cache behind the store costs a retry, never a lost update; and what the
   *  cached object alone decided (a failure, nothing to write) is decided again on the store's object
   *  before it is answered, as upstream does. */
  async guaranteedUpdate(
    r: ResourceDef,
    ns: string | undefined,
    name: string,
    mutate: (current: KObject) => KObject | Promise<KObject>,
    subresource?: WriteSubresource,
    opts: WriteOptions = {},
  ): Promise<KObject> {
    const key = storageKey(r, ns, name);
    // A dry run writes nothing that would catch a stale read: it starts from the store.
    let state = opts.dryRun ? undefined : this.cachedState(key, r);
    for (let attempt = 0; ; attempt++) {
      if (!state) {
        const kv = await this.store.get(key);
        if (!kv) throw errors.notFound(r.plural, r.group, name);
        state = { cur: this.decode(kv, r), revision: kv.modRevision, stale: kv.stale === true, fromCache: false };
      }
      const { cur, revision, stale, fromCache } = state;
      state = undefined; // a retry reads the store
      // The status and finalize subresources never change what the hooks look after (the spec).
      const hooks = subresource ? undefined : this.hooks.get(r.plural);
      let next: KObject;
      let txn: WriteTxn | undefined;
      try {
        const desired = await mutate(structuredClone(cur));
        next = this.prepareUpdate(r, cur, desired, subresource, opts.internal);
        // An unchanged object is not written again, unless it was read with a provider other than the one that
        // writes (encryption at rest): that write is what moves it to the new key (upstream's `stale`). The
        // cache does not know `stale`: the store's object decides.
        if (!stale && isDeepStrictEqual(stripRv(next), stripRv(cur))) {
          if (fromCache) continue;
          return cur;
        }
        if (subresource === 'status') await this.hooks.get(r.plural)?.checkStatusUpdate?.(next, cur);
        if (opts.dryRun) {
          await hooks?.beforeUpdate(next, cur, true);
          return next;
        }
      } catch (e) {
        if (fromCache) continue;
        throw e;
      }
      // Last finalizer gone from an object being deleted: the update completes the deletion.
      if (next.metadata.deletionTimestamp && !next.metadata.finalizers?.length && !isGracefulPending(r, next) && !hasSpecFinalizers(r, next)) {
        try {
          const del = await this.store.delete(key, revision);
          await this.afterDelete(r, cur);
          const out = { ...next, metadata: { ...next.metadata, resourceVersion: String(del.revision) } };
          return out;
        } catch (e) {
          if (isStoreError(e, 'Conflict') && attempt < 16) continue;
          throw e;
        }
      }
      try {
        txn = await hooks?.beforeUpdate(next, cur, false);
      } catch (e) {
        if (fromCache) continue;
        throw e;
      }
      try {
        const written = await this.store.update(key, encode(next), revision);
        await txn?.commit();
        return this.decode(written, r);
      } catch (e) {
        await txn?.revert();
        if (isStoreError(e, 'Conflict') && attempt < 16) continue;
        if (isStoreError(e, 'Conflict')) throw errors.conflict(r.plural, r.group, name);
        if (isStoreError(e, 'NotFound')) throw errors.notFound(r.plural, r.group, name);
        throw e;
      }
    }
  }

  /** The watch cache's object at key as the first try of an update reads it: a private copy (the cache's is
   *  shared and never changed), TypeMeta first as decode() gives it. */
  private cachedState(key: string, r: ResourceDef): UpdateState | undefined {
    const c = this.cache.object(key);
    if (!c) return undefined;
    const { kind: _k, apiVersion: _a, ...rest } = c.object;
    return { cur: structuredClone({ kind: r.kind, apiVersion: groupVersion(r), ...rest }) as KObject, revision: c.revision, stale: false, fromCache: true };
  }

  private prepareUpdate(r: ResourceDef, cur: KObject, desired: KObject, subresource?: WriteSubresource, internal = false): KObject {
    if (desired.metadata === undefined || desired.metadata === null) desired.metadata = {};
    if (typeof desired.metadata !== 'object' || Array.isArray(desired.metadata)) throw errors.badRequest('metadata must be an object');
    if (desired.metadata.name !== undefined && desired.metadata.name !== cur.metadata.name) {
      throw errors.badRequest(`the name of the object (${String(desired.metadata.name)}) does not match the name on the URL (${cur.metadata.name})`);
    }
    if (r.namespaced && desired.metadata.namespace !== undefined && desired.metadata.namespace !== cur.metadata.namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const strategy = strategyOf(r);
    let next: KObject;
    if (subresource === 'finalize') {
      // namespaces/finalize: only spec.finalizers changes (the namespace controller empties it when the
      // namespace's contents are gone, and the namespace then goes).
      if (r.plural !== 'namespaces') throw errors.pathNotFound();
      const fins = (desired.spec as { finalizers?: unknown } | undefined)?.finalizers;
      next = structuredClone(cur);
      next.spec = { ...(next.spec ?? {}), finalizers: Array.isArray(fins) ? fins : [] };
      const errs = strategy?.validate?.(next) ?? [];
      if (errs.length) throw errors.invalid(r.kind, r.group, cur.metadata.name!, errs);
    } else if (subresource === 'ephemeralcontainers') {
      // Only spec.ephemeralContainers changes, and only by adding: upstream's EphemeralContainers strategy.
      if (!isOf(PODS, r, cur)) throw errors.pathNotFound();
      const pod = structuredClone(cur);
      const eph = (desired.spec as { ephemeralContainers?: unknown } | undefined)?.ephemeralContainers;
      // The client's list goes in as data, unchecked by the type (validation below checks it).
      const spec: Record<string, unknown> = { ...(pod.spec ?? {}), ephemeralContainers: eph };
      if (eph === undefined || eph === null) delete spec.ephemeralContainers;
      Object.assign(pod, { spec });
      next = pod;
      strategy?.defaults?.(pod);
      const errs = [...(strategy?.validate?.(pod) ?? []), ...validateEphemeralContainersUpdate(pod, cur)];
      if (errs.length) throw errors.invalid(r.kind, r.group, cur.metadata.name!, errs);
    } else if (subresource === 'approval') {
      // Only the conditions change; the issued certificate stays (upstream's csrApprovalStrategy).
      if (r.plural !== 'certificatesigningrequests') throw errors.pathNotFound();
      next = structuredClone(cur);
      const conds = (desired.status as { conditions?: unknown } | undefined)?.conditions;
      next.status = { ...(next.status ?? {}), conditions: conds };
      if (conds === undefined || conds === null) delete (next.status as Record<string, unknown>).conditions;
      const errs = strategy?.validateStatus?.(next, cur) ?? [];
      if (errs.length) throw errors.invalid(r.kind, r.group, cur.metadata.name!, errs);
    } else if (subresource === 'status') {
      // Only status changes; metadata and spec stay as they are.
      next = { ...structuredClone(cur), status: desired.status };
      if (r.plural === 'certificatesigningrequests') keepApproval(next, cur);
      const errs = strategy?.validateStatus?.(next, cur) ?? [];
      if (errs.length) throw errors.invalid(r.kind, r.group, cur.metadata.name!, errs);
    } else {
      next = desired;
      const m = next.metadata;
      // Fields the server owns.
      m.uid = cur.metadata.uid;
      m.creationTimestamp = cur.metadata.creationTimestamp;
      m.name = cur.metadata.name;
      if (r.namespaced) m.namespace = cur.metadata.namespace;
      else delete m.namespace;
      m.deletionTimestamp = cur.metadata.deletionTimestamp;
      m.deletionGracePeriodSeconds = cur.metadata.deletionGracePeriodSeconds;
      if (m.deletionTimestamp === undefined) delete m.deletionTimestamp;
      if (m.deletionGracePeriodSeconds === undefined) delete m.deletionGracePeriodSeconds;
      m.generation = cur.metadata.generation;
      if (m.generation === undefined) delete m.generation;
      delete m.selfLink;
      next.apiVersion = groupVersion(r);
      next.kind = r.kind;
      if (r.hasStatus && !internal) {
        if (cur.status === undefined) delete next.status;
        else next.status = cur.status;
      }
      strategy?.prepareForUpdate?.(next, cur);
      strategy?.defaults?.(next);
      const errs = [
        ...validateObjectMeta(next, r),
        ...(strategy?.validate?.(next) ?? []),
        ...validateObjectMetaUpdate(next, cur),
        ...(internal ? [] : (strategy?.validateUpdate?.(next, cur) ?? [])),
      ];
      if (errs.length) throw errors.invalid(r.kind, r.group, cur.metadata.name!, errs);
      if (r.hasStatus && !isDeepStrictEqual(next.spec, cur.spec)) m.generation = (cur.metadata.generation ?? 0) + 1;
      // A terminating object may lose finalizers but not gain new ones.
      if (cur.metadata.deletionTimestamp) {
        const added = (m.finalizers ?? []).filter((f) => !(cur.metadata.finalizers ?? []).includes(f));
        if (added.length) {
          throw errors.invalid(r.kind, r.group, cur.metadata.name!, [
            {
              type: 'FieldValueForbidden',
              field: 'metadata.finalizers',
              message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
            },
          ]);
        }
      }
    }
    dropEmpty(r.group, r.version, r.kind, next);
    return next;
  }

  /** Apply a JSON, merge or strategic merge patch to the live object (retried on conflicts). A
   *  resourceVersion inside the patch is a precondition. Returns the object and unknown-field warnings. */
  async patch(
    r: ResourceDef,
    ns: string | undefined,
    name: string,
    type: 'json' | 'merge' | 'strategic',
    doc: unknown,
    subresource?: Exclude<WriteSubresource, 'finalize'>,
    opts: WriteOptions & { fieldValidation?: FieldValidation } = {},
  ): Promise<{ object: KObject; warnings: string[] }> {
    let warnings: string[] = [];
    const object = await this.guaranteedUpdate(
      r,
      ns,
      name,
      (cur) => {
        const rv = cur.metadata.resourceVersion;
        const next = (
          type === 'json'
            ? applyJsonPatch(cur, doc)
            : type === 'merge'
              ? applyMergePatchToObject(cur, doc)
              : applyStrategicMergePatch(cur, doc, r.kind, groupVersion(r))
        ) as KObject;
        if (!next || typeof next !== 'object' || Array.isArray(next)) throw errors.badRequest('the patch produced something that is not an object');
        const want = (next.metadata as { resourceVersion?: unknown } | undefined)?.resourceVersion;
        if (want !== undefined && want !== rv) throw errors.conflict(r.plural, r.group, name);
        checkTypeMeta(r, next);
        warnings = decodeStrictly(next, groupVersion(r), r.kind, opts.fieldValidation ?? 'Warn', 'patch');
        return next;
      },
      subresource,
      opts,
    );
    return { object, warnings };
  }

  /** Assign a pending pod to a node, once (the scheduler's write, POST pods/NAME/binding). */
  async bind(ns: string, name: string, node: string): Promise<KObject> {
    return this.guaranteedUpdate(
      PODS,
      ns,
      name,
      (pod) => {
        if (!isOf(PODS, PODS, pod)) throw errors.pathNotFound();
        if (pod.metadata.deletionTimestamp) throw errors.conflict('pods', '', name, 'pod is being deleted, cannot be assigned to a host');
        if (pod.spec?.nodeName) throw errors.conflict('pods', '', name, `pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
        // A stored pod was validated: it has a spec with its containers.
        pod.spec = { ...(pod.spec ?? { containers: [] }), nodeName: node };
        const conds: WireCondition[] = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
        conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now() });
        // Go writes the zero lastProbeTime as null, which kubernetes-types' string cannot say.
        pod.status = { ...pod.status, conditions: conds as PodCondition[] };
        // Binding writes spec.nodeName and status together, which no ordinary pod update may do.
        return pod;
      },
      undefined,
      { internal: true },
    );
  }

  // ---- delete ----

  async delete(r: ResourceDef, ns: string | undefined, name: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    const key = storageKey(r, ns, name);
    const dryRun = Boolean(opts.dryRun?.length);
    if (r.plural === 'namespaces' && IMMORTAL_NAMESPACES.has(name)) {
      throw errors.forbidden(`namespaces "${name}" is forbidden: this namespace may not be deleted`);
    }
    for (let attempt = 0; ; attempt++) {
      const kv = await this.store.get(key);
      if (!kv) throw errors.notFound(r.plural, r.group, name);
      const cur = this.decode(kv, r);
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== cur.metadata.uid) {
        throw errors.conflict(r.plural, r.group, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
        throw errors.conflict(
          r.plural,
          r.group,
          name,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`,
        );
      }
      const next = structuredClone(cur);
      const m = next.metadata;
      const policy = opts.propagationPolicy ?? (opts.orphanDependents ? 'Orphan' : undefined);
      const finalizers = new Set(m.finalizers ?? []);
      if (!m.deletionTimestamp) {
        if (policy === 'Foreground') finalizers.add('foregroundDeletion');
        if (policy === 'Orphan') finalizers.add('orphan');
      }
      const grace = this.gracePeriod(r, cur, opts);
      // Gone at once: nothing to wait for, or a zero grace period replacing a running one (--force).
      const immediate =
        finalizers.size === 0 &&
        (r.plural === 'namespaces'
          ? // A namespace goes on a delete once it is terminating and finalized (namespaces/finalize emptied spec.finalizers).
            !!m.deletionTimestamp && !hasSpecFinalizers(r, cur)
          : grace === 0 && (!m.deletionTimestamp || (m.deletionGracePeriodSeconds ?? 0) > 0));
      if (immediate) {
        if (dryRun) return { object: cur, deleted: true };
        try {
          const res = await this.store.delete(key, kv.modRevision);
          await this.afterDelete(r, cur);
          cur.metadata.resourceVersion = String(res.revision);
          return { object: cur, deleted: true };
        } catch (e) {
          if (isStoreError(e, 'Conflict') && attempt < 16) continue;
          if (isStoreError(e, 'NotFound')) throw errors.notFound(r.plural, r.group, name);
          throw e;
        }
      }
      // Graceful: mark the object; the owner of the finalizer or the node finishes the deletion. A shorter
      // grace period may replace a longer one.
      if (!m.deletionTimestamp || grace < (m.deletionGracePeriodSeconds ?? 0)) {
        m.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
        m.deletionGracePeriodSeconds = grace;
      } else if (finalizers.size === (m.finalizers?.length ?? 0)) {
        return { object: cur, deleted: false };
      }
      if (finalizers.size) m.finalizers = [...finalizers];
      if (r.plural === 'namespaces') next.status = { ...(next.status ?? {}), phase: 'Terminating' };
      if (dryRun) return { object: next, deleted: false };
      try {
        const written = await this.store.update(key, encode(next), kv.modRevision);
        return { object: this.decode(written, r), deleted: false };
      } catch (e) {
        if (isStoreError(e, 'Conflict') && attempt < 16) continue;
        throw e;
      }
    }
  }

  /** Grace period for deleting this object: only pods that a node runs get one. */
  private gracePeriod(r: ResourceDef, obj: KObject, opts: DeleteOptions): number {
    if (!isOf(PODS, r, obj)) return 0;
    let g = opts.gracePeriodSeconds ?? obj.spec?.terminationGracePeriodSeconds ?? 30;
    if (!Number.isFinite(g) || g < 0) g = 0;
    if (!obj.spec?.nodeName) return 0;
    const phase = obj.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return 0;
    return Math.floor(g);
  }

  /** Remove an object from storage now, whatever its finalizers (used by controllers that own it). */
  async purge(r: ResourceDef, ns: string | undefined, name: string): Promise<void> {
    try {
      const { prev } = await this.store.delete(storageKey(r, ns, name));
      if (this.hooks.has(r.plural)) await this.afterDelete(r, this.decode(prev, r));
    } catch (e) {
      if (!isStoreError(e, 'NotFound')) throw e;
    }
  }
}

/** The body's apiVersion and kind, when present, must be the resource's. */
export function checkTypeMeta(r: ResourceDef, obj: KObject): void {
  if (obj.apiVersion !== undefined && obj.apiVersion !== groupVersion(r)) {
    throw errors.badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${groupVersion(r)})`);
  }
  if (obj.kind !== undefined && obj.kind !== r.kind) {
    throw errors.badRequest(`the kind in the data (${String(obj.kind)}) does not match the expected kind (${r.kind})`);
  }
}

function stripRv(o: KObject): unknown {
  return { ...o, metadata: { ...o.metadata, resourceVersion: undefined } };
}

/** A namespace stays while spec.finalizers names anyone (the namespace controller, `kubernetes`). */
function hasSpecFinalizers(r: ResourceDef, obj: KObject): boolean {
  if (r.plural !== 'namespaces') return false;
  const f = (obj.spec as { finalizers?: unknown } | undefined)?.finalizers;
  return Array.isArray(f) && f.length > 0;
}

/** A pod being deleted gracefully stays until its node confirms with a zero grace period. */
function isGracefulPending(r: ResourceDef, obj: KObject): boolean {
  return r.plural === 'pods' && (obj.metadata.deletionGracePeriodSeconds ?? 0) > 0;
}

/** Status a client sends on create is not the server's to keep, except where the owner registers it. */
function resetStatusOnCreate(r: ResourceDef, obj: KObject): void {
  switch (r.plural) {
    case 'pods':
      if (isOf(PODS, r, obj)) obj.status = { phase: 'Pending', qosClass: qosClass(obj) };
      break;
    case 'services':
    case 'ingresses':
      obj.status = { loadBalancer: {} };
      break;
    case 'persistentvolumes':
    case 'persistentvolumeclaims':
      obj.status = { phase: 'Pending' };
      break;
    case 'namespaces':
      obj.status = { phase: 'Active' };
      if (isOf(NAMESPACES, r, obj) && !obj.spec?.finalizers) obj.spec = { ...(obj.spec ?? {}), finalizers: ['kubernetes'] };
      break;
    case 'deployments':
    case 'replicasets':
      obj.status = {};
      break;
    default:
      break;
  }
}

type WireCondition = Omit<PodCondition, 'lastProbeTime'> & { lastProbeTime?: string | null };

/** The QoS class Kubernetes derives from container requests and limits. */
export function qosClass(pod: Pod): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const containers: Container[] = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const req = c?.resources?.requests ?? {};
    const lim = c?.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const res of ['cpu', 'memory']) {
      const l = lim[res];
      const q = req[res] ?? l;
      if (l === undefined || String(q) !== String(l)) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** A CSR's Approved and Denied conditions are the /approval subresource's: /status keeps the old ones
 *  (upstream's csrStatusStrategy). */
function keepApproval(next: KObject, cur: KObject): void {
  type C = { type?: unknown };
  const isApproval = (c: C) => c.type === 'Approved' || c.type === 'Denied';
  const old = ((cur.status as { conditions?: C[] } | undefined)?.conditions ?? []).filter(isApproval);
  const given = (next.status as { conditions?: unknown } | undefined)?.conditions;
  const rest = Array.isArray(given) ? (given as C[]).filter((c) => !isApproval(c ?? {})) : [];
  const conds = [...old, ...rest];
  next.status = { ...((next.status as object | undefined) ?? {}) };
  if (conds.length) (next.status as Record<string, unknown>).conditions = conds;
  else delete (next.status as Record<string, unknown>).conditions;
}
