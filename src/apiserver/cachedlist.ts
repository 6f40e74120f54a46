// Lists and gets served from the watch cache, as upstream's cacher serves them: which resourceVersion
// semantics the cache may answer, a consistent read (the store's current revision, then the cache caught
// up to it), and the answer written as a stream of each object's once-encoded JSON.
import type { ServerResponse } from 'node:http';
import { type ResourceDef, groupVersion, storageKey, storagePrefix } from '../api/resources.js';
import type { FieldError, KObject } from '../api/types.js';
import { ApiError, errors } from '../api/status.js';
import type { Store } from '../store/types.js';
import { compareKeys } from '../store/keys.js';
import { type ListQuery, decodeContinue, encodeContinue, fieldsOf } from './registry.js';
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

/**
 * The rest of a paginated list, kept by the server that answered its first page, so each next page comes
 * from the same cache snapshot instead of the store (upstream keeps such snapshots since 1.33, as
 * ListFromCacheSnapshot). A snapshot is the range's cached objects, in key order, at the first page's
 * revision: references to objects the cache never changes in place, so it costs a pointer per object and
 * the objects that have since been replaced. It lives while pages are asked for it, until `ttlMs` passes
 * without one, and at most `max` are kept; a token whose snapshot is gone (another server, a restart, a
 * slow client) is answered from the store at the token's revision, as before.
 */
export class ListSnapshots {
  private kept = new Map<string, { items: CachedObject[]; used: number }>();

  constructor(
    private max = 16,
    private ttlMs = 60_000,
    private now: () => number = Date.now,
  ) {}

  /** Keeps the objects after a first page (each still to be filtered by the next page's selectors). */
  keep(revision: number, prefix: string, items: CachedObject[]): void {
    this.expire();
    const key = `${revision} ${prefix}`;
    this.kept.delete(key);
    this.kept.set(key, { items, used: this.now() });
    for (const k of this.kept.keys()) {
      if (this.kept.size <= this.max) break;
      this.kept.delete(k);
    }
  }

  /** The snapshot's objects after key `start`, or undefined when none is kept for this revision and range. */
  after(revision: number, prefix: string, start: string): Iterator<CachedObject> | undefined {
    this.expire();
    const key = `${revision} ${prefix}`;
    const s = this.kept.get(key);
    if (!s) return undefined;
    s.used = this.now();
    this.kept.delete(key);
    this.kept.set(key, s);
    let lo = 0;
    let hi = s.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareKeys(s.items[mid].key, start) <= 0) lo = mid + 1;
      else hi = mid;
    }
    const items = s.items;
    return (function* () {
      for (let i = lo; i < items.length; i++) yield items[i];
    })();
  }

  get size(): number {
    return this.kept.size;
  }

  private expire(): void {
    const old = this.now() - this.ttlMs;
    for (const [k, s] of this.kept) if (s.used < old) this.kept.delete(k);
  }
}

/** One page of a list from the cache, taken synchronously: the items are one snapshot at `revision`. When
 *  more remain, the rest is kept in `snapshots` for the next page. */
export function listCached(cache: WatchCache, r: ResourceDef, ns: string | undefined, q: ListQuery, snapshots?: ListSnapshots): CachedList {
  const prefix = storagePrefix(r, ns);
  return page(cache.objectsUnder(prefix), cache.revision, prefix, r, q, snapshots);
}

/** The next page of a paginated list from the snapshot its first page left, or undefined when there is none
 *  (the store answers it then). A token that is malformed or names another list is a 400 either way. */
export function continueCached(snapshots: ListSnapshots, r: ResourceDef, ns: string | undefined, q: ListQuery): CachedList | undefined {
  const prefix = storagePrefix(r, ns);
  const t = decodeContinue(q.continue ?? '', prefix);
  const rest = snapshots.after(t.rv, prefix, t.start);
  // The rest of this page is already in the snapshot it came from: nothing new to keep.
  return rest && page(rest, t.rv, prefix, r, q);
}

function page(source: Iterator<CachedObject>, rev: number, prefix: string, r: ResourceDef, q: ListQuery, keepRest?: ListSnapshots): CachedList {
  const limit = q.limit && q.limit > 0 ? q.limit : 0;
  const items: CachedObject[] = [];
  // Past the page: the rest is kept when this is a first page, else only counted.
  let rest: CachedObject[] | undefined;
  let remaining = 0;
  for (let n = source.next(); !n.done; n = source.next()) {
    const c = n.value;
    if (limit && items.length === limit) {
      rest = keepRest ? [c] : undefined;
      remaining = 1;
      for (let m = source.next(); !m.done; m = source.next()) {
        remaining++;
        rest?.push(m.value);
      }
      break;
    }
    const o = c.object;
    if (q.labelSelector && !q.labelSelector.matches(o.metadata.labels)) continue;
    if (q.fieldSelector && !q.fieldSelector.matches(fieldsOf(r, o))) continue;
    items.push(c);
  }
  const out: CachedList = { items, resourceVersion: String(rev) };
  if (remaining) {
    // Upstream continues after the last key returned; with selectors the next page may be empty.
    const last = items[items.length - 1].key;
    out.continue = encodeContinue({ rv: rev, start: last });
    if (rest) keepRest?.keep(rev, prefix, rest);
    if (!q.labelSelector && !q.fieldSelector) out.remainingItemCount = remaining;
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
