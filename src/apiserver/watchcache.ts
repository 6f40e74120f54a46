// One watch on the store for the whole registry, fanned out in memory to every API watcher, with a
// bounded history so that watchers can resume from a recent resourceVersion without touching the store,
// and the live state (every object decoded once, its JSON encoded once) that lists and gets are served from.
import type { KObject } from '../api/types.js';
import { compareKeys } from '../store/keys.js';
import type { Store, WatchEvent, Watcher } from '../store/types.js';

/** A live object as the cache holds it: shared by every reader, never mutated (a change replaces it). */
export interface CachedObject {
  key: string;
  revision: number;
  /** Decoded once; resourceVersion set. Read-only. */
  object: KObject;
  /** The object's JSON without kind and apiVersion (a list item), encoded on first use and kept. */
  item?: Buffer;
}

/** The object's list-item JSON (no kind, apiVersion), encoded once per object version. */
export function itemJson(c: CachedObject): Buffer {
  if (!c.item) {
    const { kind: _k, apiVersion: _a, ...rest } = c.object;
    c.item = Buffer.from(JSON.stringify(rest));
  }
  return c.item;
}

/** A store event with its objects decoded once, shared by every subscriber. */
export interface CachedEvent {
  type: 'put' | 'delete';
  key: string;
  revision: number;
  /** The object after the change (put) or its last state (delete), resourceVersion set to the event's. */
  object: KObject;
  /** The object before the change, when there was one. */
  prev?: KObject;
  /** Memoized serializations by format (filled lazily by the HTTP layer). */
  encoded?: Map<string, string>;
  /** Approximate bytes the event holds (its objects decoded, one serialization), for the byte budget. */
  bytes: number;
}

export interface Subscription {
  close(): void;
}

interface Subscriber {
  prefix: string;
  from: number;
  deliver: (events: CachedEvent[]) => void;
  fail: (err: Error) => void;
}

export function decodeObject(value: string, revision: number): KObject {
  const obj = JSON.parse(value) as KObject;
  obj.metadata.resourceVersion = String(revision);
  return obj;
}

/** A decoded object takes about twice its JSON in V8; the event keeps its object, its previous state and
 *  (once a watcher asked) one serialization. An estimate, cheap enough for every event. */
function eventBytes(value: string, prev: string | undefined): number {
  return 3 * value.length + 2 * (prev?.length ?? 0) + 200;
}

export class WatchCache {
  private history: CachedEvent[] = [];
  /** Events at or below this revision may have been dropped from history. */
  private evictedThrough: number;
  private latest: number;
  private subscribers = new Set<Subscriber>();
  private storeWatch?: Watcher;
  private waiters: { rev: number; resolve: () => void }[] = [];
  private closed = false;

  /** Sum of the bytes of the events in history. */
  private historyBytes = 0;
  /** The live state at `latest`: objects by key, and their keys in the store's (byte) order. */
  private objects = new Map<string, CachedObject>();
  private keys: string[] = [];

  private constructor(
    private store: Store,
    private prefix: string,
    startRevision: number,
    private capacity: number,
    private maxBytes: number,
  ) {
    this.evictedThrough = startRevision;
    this.latest = startRevision;
  }

  /** capacity: events kept at most; maxBytes: their approximate size at most (the older go first either way). */
  static async start(store: Store, prefix = '/registry/', capacity = 100_000, maxBytes = Number.MAX_SAFE_INTEGER): Promise<WatchCache> {
    const cache = new WatchCache(store, prefix, 0, capacity, maxBytes);
    await cache.load();
    await cache.watchStore();
    return cache;
  }

  /** Fills the state from one consistent list of the store; history starts at its revision. */
  private async load(): Promise<void> {
    const all = await this.store.list(this.prefix);
    const objects = new Map<string, CachedObject>();
    for (const kv of all.items) {
      let object: KObject;
      try {
        object = decodeObject(kv.value, kv.modRevision);
      } catch {
        continue; // not an object (nothing the registry wrote); lists from the store skip it the same way
      }
      objects.set(kv.key, { key: kv.key, revision: kv.modRevision, object });
    }
    this.objects = objects;
    this.keys = all.items.filter((kv) => objects.has(kv.key)).map((kv) => kv.key);
    this.latest = all.revision;
    this.evictedThrough = all.revision;
  }

  /** Live objects whose key starts with prefix, in key order, as of `revision`; after: start after this key. */
  *objectsUnder(prefix: string, after?: string): Generator<CachedObject> {
    const from = after !== undefined && compareKeys(after, prefix) >= 0 ? this.upperBoundKey(after) : this.lowerBoundKey(prefix);
    for (let i = from; i < this.keys.length; i++) {
      const k = this.keys[i];
      if (!k.startsWith(prefix)) return;
      yield this.objects.get(k)!;
    }
  }

  /** The live object at key, as of `revision`. */
  object(key: string): CachedObject | undefined {
    return this.objects.get(key);
  }

  private lowerBoundKey(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareKeys(this.keys[mid], key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private upperBoundKey(key: string): number {
    const i = this.lowerBoundKey(key);
    return i < this.keys.length && this.keys[i] === key ? i + 1 : i;
  }

  private setObject(key: string, revision: number, object: KObject): void {
    if (!this.objects.has(key)) this.keys.splice(this.lowerBoundKey(key), 0, key);
    this.objects.set(key, { key, revision, object });
  }

  private removeObject(key: string): void {
    if (!this.objects.delete(key)) return;
    const i = this.lowerBoundKey(key);
    if (this.keys[i] === key) this.keys.splice(i, 1);
  }

  private async watchStore(): Promise<void> {
    this.storeWatch = await this.store.watch(this.prefix, this.latest, {
      onEvents: (events) => this.onEvents(events),
      onError: (err) => this.onError(err),
    });
  }

  /** The newest revision the cache has seen. */
  get revision(): number {
    return this.latest;
  }

  /** Events and approximate bytes in history. */
  get size(): { events: number; bytes: number } {
    return { events: this.history.length, bytes: this.historyBytes };
  }

  /** The oldest revision a watch can start from. */
  get oldestRevision(): number {
    return this.evictedThrough;
  }

  /** Resolves once the cache has seen revision rev (so a watch from a just-listed revision is in sync). */
  waitFor(rev: number): Promise<void> {
    if (this.latest >= rev) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ rev, resolve }));
  }

  /** Like waitFor, but gives up after ms: true once the cache has seen rev, false on time out. */
  waitForWithin(rev: number, ms: number): Promise<boolean> {
    if (this.latest >= rev) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        rev,
        resolve: () => {
          clearTimeout(t);
          resolve(true);
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(false);
      }, ms);
      this.waiters.push(w);
    });
  }

  /** Deliver events under prefix with revision > from; undefined when from is older than the history. */
  subscribe(prefix: string, from: number, deliver: (events: CachedEvent[]) => void, fail: (err: Error) => void): Subscription | undefined {
    if (from < this.evictedThrough) return undefined;
    const sub: Subscriber = { prefix, from, deliver, fail };
    const backlog: CachedEvent[] = [];
    if (from < this.latest) {
      for (let i = this.lowerBound(from + 1); i < this.history.length; i++) {
        const e = this.history[i];
        if (e.key.startsWith(prefix)) backlog.push(e);
      }
    }
    this.subscribers.add(sub);
    if (backlog.length) queueMicrotask(() => this.subscribers.has(sub) && deliver(backlog));
    return { close: () => this.subscribers.delete(sub) };
  }

  close(): void {
    this.closed = true;
    this.storeWatch?.close();
    this.subscribers.clear();
  }

  private lowerBound(rev: number): number {
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.history[mid].revision < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private onEvents(events: WatchEvent[]): void {
    const decoded: CachedEvent[] = [];
    for (const e of events) {
      if (e.revision <= this.latest) continue; // already in the state the cache loaded
      // The previous state is the live object the cache holds, when it is that version: decoded once.
      const held = this.objects.get(e.key);
      const prevOf = (kv: { value: string; modRevision: number }) =>
        held && held.revision === kv.modRevision ? held.object : decodeObject(kv.value, kv.modRevision);
      let d: CachedEvent;
      try {
        if (e.type === 'put') {
          d = {
            type: 'put',
            key: e.key,
            revision: e.revision,
            object: decodeObject(e.kv.value, e.revision),
            prev: e.prev ? prevOf(e.prev) : undefined,
            bytes: eventBytes(e.kv.value, e.prev?.value),
          };
          this.setObject(e.key, e.revision, d.object);
        } else {
          d = {
            type: 'delete',
            key: e.key,
            revision: e.revision,
            object: decodeObject(e.prev.value, e.revision),
            prev: prevOf(e.prev),
            bytes: eventBytes(e.prev.value, e.prev.value),
          };
          this.removeObject(e.key);
        }
      } catch {
        continue; // a value that is not an object: nothing to serve or fan out
      }
      decoded.push(d);
    }
    const last = events.length ? events[events.length - 1].revision : 0;
    if (!decoded.length) {
      if (last > this.latest) this.latest = last;
      this.wake();
      return;
    }
    for (const e of decoded) {
      this.history.push(e);
      this.historyBytes += e.bytes;
    }
    // The oldest events go once either bound is passed (one event always stays: the newest revision).
    let drop = 0;
    while (this.history.length - drop > 1 && (this.history.length - drop > this.capacity || this.historyBytes > this.maxBytes)) {
      this.historyBytes -= this.history[drop].bytes;
      drop++;
    }
    if (drop) {
      this.evictedThrough = this.history[drop - 1].revision;
      this.history.splice(0, drop);
    }
    this.latest = Math.max(last, decoded[decoded.length - 1].revision);
    for (const sub of this.subscribers) {
      const mine = decoded.filter((e) => e.revision > sub.from && e.key.startsWith(sub.prefix));
      if (mine.length) sub.deliver(mine);
    }
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length) {
      const ready = this.waiters.filter((w) => w.rev <= this.latest);
      this.waiters = this.waiters.filter((w) => w.rev > this.latest);
      for (const w of ready) w.resolve();
    }
  }

  /** The store watch broke (backend restarted, connection lost): resume from the last revision seen.
   *  If the store compacted past it, history is gone: every subscriber is failed so its client re-lists. */
  private onError(err: Error): void {
    if (this.closed) return;
    this.storeWatch = undefined;
    const retry = async (delay: number): Promise<void> => {
      if (this.closed) return;
      try {
        await this.watchStore();
      } catch (e) {
        if ((e as { code?: string }).code === 'Compacted') {
          // History is gone: the state is loaded again from the store and watched from there.
          try {
            await this.load();
          } catch {
            setTimeout(() => void retry(Math.min(delay * 2, 5000)), delay);
            return;
          }
          this.history = [];
          this.historyBytes = 0;
          this.wake();
          for (const sub of this.subscribers) sub.fail(e as Error);
          this.subscribers.clear();
          await this.watchStore().catch(() => setTimeout(() => void retry(Math.min(delay * 2, 5000)), delay));
          return;
        }
        setTimeout(() => void retry(Math.min(delay * 2, 5000)), delay);
      }
    };
    void err;
    setTimeout(() => void retry(100), 50);
  }
}
