// In-memory Store for unit tests: the full etcd model (revisions, CAS, history for watch replay and
// reads at past revisions, compaction) in plain data structures, nothing persisted.
import { EventQueue } from './event-queue.js';
import { closedError, compactedError, conflictError, existsError, futureError, notFoundError } from './errors.js';
import { compareKeys } from './keys.js';
import type { KeyValue, ListOptions, ListResult, Store, WatchEvent, WatchHandlers, Watcher } from './types.js';

interface MemoryWatch {
  prefix: string;
  /** Only events after this revision (it may lie in the future). */
  from: number;
  queue: EventQueue;
}

export class MemoryStore implements Store {
  readonly backend = 'memory' as const;
  private rev = 0;
  private compacted = 0;
  private closed = false;
  private readonly live = new Map<string, KeyValue>();
  /** Live keys in key order, for range reads at the current revision. */
  private readonly sorted: string[] = [];
  /** One event per revision after `compacted`: log[i] is revision compacted + 1 + i. */
  private log: WatchEvent[] = [];
  private readonly watches = new Set<MemoryWatch>();

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    return this.live.get(key);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.assertOpen();
    // As in etcd, a revision of 0 or below reads the newest state.
    const revision = opts.revision && opts.revision > 0 ? opts.revision : this.rev;
    this.assertReadable(revision);
    const keys = revision === this.rev ? this.liveRange(prefix, opts.after) : this.pastRange(prefix, opts.after, revision);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : keys.length;
    const items = keys.slice(0, limit);
    const more = keys.length > items.length;
    return { items, revision, more, remaining: keys.length - items.length };
  }

  async count(prefix: string): Promise<number> {
    this.assertOpen();
    return this.liveRange(prefix, undefined).length;
  }

  async create(key: string, value: string): Promise<KeyValue> {
    this.assertOpen();
    if (this.live.has(key)) throw existsError(key);
    const revision = ++this.rev;
    const kv: KeyValue = Object.freeze({ key, value, createRevision: revision, modRevision: revision });
    this.live.set(key, kv);
    this.sorted.splice(this.lowerBound(key), 0, key);
    this.append({ type: 'put', key, revision, kv });
    return kv;
  }

  async update(key: string, value: string, expectedRevision: number): Promise<KeyValue> {
    this.assertOpen();
    const prev = this.current(key, expectedRevision);
    const revision = ++this.rev;
    const kv: KeyValue = Object.freeze({ key, value, createRevision: prev.createRevision, modRevision: revision });
    this.live.set(key, kv);
    this.append({ type: 'put', key, revision, kv, prev });
    return kv;
  }

  async delete(key: string, expectedRevision?: number): Promise<{ prev: KeyValue; revision: number }> {
    this.assertOpen();
    const prev = this.current(key, expectedRevision);
    const revision = ++this.rev;
    this.live.delete(key);
    this.sorted.splice(this.lowerBound(key), 1);
    this.append({ type: 'delete', key, revision, prev });
    return { prev, revision };
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watcher> {
    this.assertOpen();
    if (fromRevision < this.compacted) throw compactedError(fromRevision, this.compacted);
    const w: MemoryWatch = { prefix, from: fromRevision, queue: new EventQueue(handlers, () => this.watches.delete(w)) };
    // Replay and registration happen in one synchronous step, so no write can fall between them.
    const start = Math.max(0, fromRevision - this.compacted);
    w.queue.push(this.log.slice(start).filter((e) => e.key.startsWith(prefix)));
    this.watches.add(w);
    return w.queue;
  }

  async currentRevision(): Promise<number> {
    this.assertOpen();
    return this.rev;
  }

  async compact(revision: number): Promise<void> {
    this.assertOpen();
    if (revision > this.rev) throw futureError(revision, this.rev);
    if (revision <= this.compacted) return;
    this.log = this.log.slice(revision - this.compacted);
    this.compacted = revision;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) w.queue.close();
  }

  private assertOpen(): void {
    if (this.closed) throw closedError('memory');
  }

  private assertReadable(revision: number): void {
    if (revision < this.compacted) throw compactedError(revision, this.compacted);
    if (revision > this.rev) throw futureError(revision, this.rev);
  }

  /** The live value of key, checked against an expected revision. */
  private current(key: string, expectedRevision: number | undefined): KeyValue {
    const kv = this.live.get(key);
    if (!kv) throw notFoundError(key);
    if (expectedRevision !== undefined && kv.modRevision !== expectedRevision) {
      throw conflictError(key, expectedRevision, kv.modRevision);
    }
    return kv;
  }

  private append(event: WatchEvent): void {
    this.log.push(event);
    for (const w of this.watches) {
      if (event.revision > w.from && event.key.startsWith(w.prefix)) w.queue.push([event]);
    }
  }

  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.sorted[mid], key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private liveRange(prefix: string, after: string | undefined): KeyValue[] {
    const out: KeyValue[] = [];
    let i = this.lowerBound(prefix);
    if (after !== undefined && compareKeys(after, prefix) >= 0) {
      i = this.lowerBound(after);
      if (this.sorted[i] === after) i++;
    }
    for (; i < this.sorted.length && this.sorted[i].startsWith(prefix); i++) out.push(this.live.get(this.sorted[i])!);
    return out;
  }

  /** Keys under prefix as they were at an older revision: today's state with later events undone. */
  private pastRange(prefix: string, after: string | undefined, revision: number): KeyValue[] {
    const past = new Map<string, KeyValue | undefined>();
    for (const e of this.log.slice(revision - this.compacted)) {
      if (!e.key.startsWith(prefix) || past.has(e.key)) continue;
      past.set(e.key, e.prev);
    }
    const out: KeyValue[] = [];
    for (const kv of this.liveRange(prefix, after)) if (!past.has(kv.key)) out.push(kv);
    for (const kv of past.values()) {
      if (kv && (after === undefined || compareKeys(kv.key, after) > 0)) out.push(kv);
    }
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }
}
