// Lists and gets served from the watch cache, as upstream's cacher serves them: which resourceVersion
// semantics the cache may answer, a consistent read (the store's current revision, then the cache caught
// up to it), and the answer written as a stream of each object's once-encoded JSON.
import type { ServerResponse } from 'node:http';
import { type ResourceDef, groupVersion, storageKey, storagePrefix } from '../api/resources.js';
import type { FieldError, KObject } from '../api/types.js';
import { ApiError, errors } from '../api/status.js';
import type { Store } from '../store/types.js';
import { type ListQuery, encodeContinue, fieldsOf } from './registry.js';
import { type CachedObject, type WatchCache, itemJson } from './watchcache.js';
import { isTimedOut } from './http.js';

/** How long a read waits for the cache to reach the revision it needs (upstream: 3 s, then 504). */
export const CACHE_WAIT_MS = 3_000;

/** Where a list is read from, after the list options were checked as upstream's ValidateListOptions does. */
export type ListSource =
  /** From the cache once it has seen `atLeast` (0: as it is; undefined: the store's current revision). */
  | { from: 'cache'; atLeast?: number }
  /** From the store at exactly this revision (resourceVersionMatch=Exact). */
  | { from: 'exact'; revision: number }
  /** From the store, continuing a paginated list (the token carries the revision). */
  | { from: 'continue' };

export function listSource(q: URLSearchParams): ListSource {
  const rv = q.get('resourceVersion') ?? '';
  const match = q.get('resourceVersionMatch') ?? '';
  const cont = q.get('continue') ?? '';
  const causes: FieldError[] = [];
  if (match) {
    if (!rv)
      causes.push({
        type: 'FieldValueForbidden',
        field: 'resourceVersionMatch',
        message: 'Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
      });
    if (cont)
      causes.push({
        type: 'FieldValueForbidden',
        field: 'resourceVersionMatch',
        message: 'Forbidden: resourceVersionMatch is forbidden when continue is provided',
      });
    if (match !== 'Exact' && match !== 'NotOlderThan') {
      causes.push({
        type: 'FieldValueNotSupported',
        field: 'resourceVersionMatch',
        message: `Unsupported value: ${JSON.stringify(match)}: supported values: "Exact", "NotOlderThan", ""`,
      });
    }
    if (match === 'Exact' && rv === '0')
      causes.push({
        type: 'FieldValueForbidden',
        field: 'resourceVersionMatch',
        message: 'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
      });
  }
  if (causes.length) throw errors.invalid('ListOptions', 'meta.k8s.io', '', causes);
  if (cont) {
    if (rv && rv !== '0') throw errors.badRequest('specifying resource version is not allowed when using continue');
    return { from: 'continue' };
  }
  if (!rv) return { from: 'cache' };
  const n = Number(rv);
  if (!/^\d+$/.test(rv) || !Number.isSafeInteger(n)) throw errors.badRequest(`invalid resource version: ${JSON.stringify(rv)}`);
  if (match === 'Exact') return { from: 'exact', revision: n };
  return { from: 'cache', atLeast: n };
}

/** Upstream's answer to a resourceVersion the server has not reached in time. */
export function tooLargeResourceVersion(rv: number, current: number): ApiError {
  return new ApiError(504, 'Timeout', `Too large resource version: ${rv}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  });
}

/** Waits until the cache may answer: false when a consistent read should go to the store instead. */
export async function cacheReady(cache: WatchCache, store: Store, atLeast: number | undefined, waitMs = CACHE_WAIT_MS): Promise<boolean> {
  if (atLeast === undefined) {
    // A consistent read: everything acknowledged before the request is in the answer. The store's
    // revision is asked after the request arrived, so it covers every write acknowledged before it.
    const rev = await store.currentRevision();
    return cache.waitForWithin(rev, waitMs);
  }
  if (atLeast === 0) return true;
  if (!(await cache.waitForWithin(atLeast, waitMs))) throw tooLargeResourceVersion(atLeast, cache.revision);
  return true;
}

export interface CachedList {
  items: CachedObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/** One page of a list from the cache, taken synchronously: the items are one snapshot at `revision`. */
export function listCached(cache: WatchCache, r: ResourceDef, ns: string | undefined, q: ListQuery): CachedList {
  const prefix = storagePrefix(r, ns);
  const limit = q.limit && q.limit > 0 ? q.limit : 0;
  const rev = cache.revision;
  const items: CachedObject[] = [];
  let more = false;
  for (const c of cache.objectsUnder(prefix)) {
    if (limit && items.length === limit) {
      more = true;
      break;
    }
    const o = c.object;
    if (q.labelSelector && !q.labelSelector.matches(o.metadata.labels)) continue;
    if (q.fieldSelector && !q.fieldSelector.matches(fieldsOf(r, o))) continue;
    items.push(c);
  }
  const out: CachedList = { items, resourceVersion: String(rev) };
  if (more) {
    // Upstream continues after the last key returned; with selectors the next page may be empty.
    const last = items[items.length - 1].key;
    out.continue = encodeContinue({ rv: rev, start: last });
    if (!q.labelSelector && !q.fieldSelector) {
      const remaining = cache.countAfter(prefix, last);
      if (remaining > 0) out.remainingItemCount = remaining;
    }
  }
  return out;
}

/** The cached object at the resource's key, as of the cache's revision. */
export function getCached(cache: WatchCache, r: ResourceDef, ns: string | undefined, name: string): CachedObject | undefined {
  return cache.object(storageKey(r, ns, name));
}

/** The object as a GET answers it: kind and apiVersion first (the resource's), then the stored fields. */
export function typedObject(r: ResourceDef, c: CachedObject): KObject {
  const { kind: _k, apiVersion: _a, ...rest } = c.object;
  return { kind: r.kind, apiVersion: groupVersion(r), ...rest } as KObject;
}

/** A GET's JSON from the once-encoded item: byte for byte what JSON.stringify(typedObject) writes. */
export function getBody(r: ResourceDef, c: CachedObject): Buffer {
  const item = itemJson(c);
  const head = `{"kind":${JSON.stringify(r.kind)},"apiVersion":${JSON.stringify(groupVersion(r))},`;
  return Buffer.concat([Buffer.from(head), item.subarray(1), NEWLINE]);
}

const NEWLINE = Buffer.from('\n');
const COMMA = Buffer.from(',');
/** Bytes gathered before each socket write: big enough to amortise the write, small enough to stream. */
const CHUNK = 256 * 1024;

/** Writes head, the parts joined by commas, and tail as one 200 answer, at the client's pace: nothing
 *  but the current chunk is built, so a 10,000-object list never becomes one string. */
export async function streamList(res: ServerResponse, head: string, parts: Iterable<Buffer>, tail: string, contentType = 'application/json'): Promise<void> {
  if (isTimedOut(res)) return;
  res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-cache, private' });
  let chunk: Buffer[] = [Buffer.from(head)];
  let size = chunk[0].length;
  let first = true;
  const flush = async (): Promise<boolean> => {
    const ok = res.write(chunk.length === 1 ? chunk[0] : Buffer.concat(chunk, size));
    chunk = [];
    size = 0;
    if (ok) return !res.destroyed;
    await new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
    return !res.destroyed;
  };
  for (const p of parts) {
    if (!first) {
      chunk.push(COMMA);
      size += 1;
    }
    first = false;
    chunk.push(p);
    size += p.length;
    if (size >= CHUNK && !(await flush())) return;
  }
  const end = Buffer.from(tail);
  chunk.push(end);
  size += end.length;
  res.end(Buffer.concat(chunk, size));
}
