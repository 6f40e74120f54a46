// One watch on the store for the whole registry, fanned out in memory to every API watcher, with a
// bounded history so that watchers can resume from a recent resourceVersion without touching the store.
import type { KObject } from '../api/types.js';
import type { Store, WatchEvent, Watcher } from '../store/types.js';

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
    const rev = await store.currentRevision();
    const cache = new WatchCache(store, prefix, rev, capacity, maxBytes);
    await cache.watchStore();
    return cache;
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
      if (e.type === 'put') {
        decoded.push({
          type: 'put',
          key: e.key,
          revision: e.revision,
          object: decodeObject(e.kv.value, e.revision),
          prev: e.prev ? decodeObject(e.prev.value, e.prev.modRevision) : undefined,
          bytes: eventBytes(e.kv.value, e.prev?.value),
        });
      } else {
        decoded.push({
          type: 'delete',
          key: e.key,
          revision: e.revision,
          object: decodeObject(e.prev.value, e.revision),
          prev: decodeObject(e.prev.value, e.prev.modRevision),
          bytes: eventBytes(e.prev.value, e.prev.value),
        });
      }
    }
    if (!decoded.length) return;
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
    this.latest = decoded[decoded.length - 1].revision;
    for (const sub of this.subscribers) {
      const mine = decoded.filter((e) => e.revision > sub.from && e.key.startsWith(sub.prefix));
      if (mine.length) sub.deliver(mine);
    }
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
          this.history = [];
          this.historyBytes = 0;
          this.latest = await this.store.currentRevision().catch(() => this.latest);
          this.evictedThrough = this.latest;
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
