// Embedded SQLite Store, the default backend: the kine model (one log table whose row id is the
// revision) in one file under the data dir. Reads and watches use this thread's connection; writes go to
// a writer thread (sqlite-writer.ts) that commits them in groups, and each commit feeds the watches.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { EventQueue } from './event-queue.js';
import { closedError, compactedError, futureError } from './errors.js';
import { SCHEMA, SCHEMA_VERSION, fromColumn, openConnection, type WriteOp, type WriteResult, type WriterReply, type WriterRequest } from './sqlite-shared.js';
import { compareKeys, prefixEnd } from './keys.js';
import { StoreError, type KeyValue, type ListOptions, type ListResult, type Store, type WatchEvent, type WatchHandlers, type Watcher } from './types.js';

export interface SqliteStoreOptions {
  /** Directory holding the database file (created if missing). */
  dataDir: string;
  /** How often to look for writes made by another process on the same file (the fallback to the
   *  in-process notify); 0 turns polling off. */
  pollIntervalMs?: number;
}

/** The database file inside the data dir. */
export const SQLITE_FILE = 'store.db';

/** Upper bound for the empty prefix; keys are expected to start far below it. */
const KEY_MAX = '\u{10FFFF}';
/** Rows a catching-up watch reads per step, so a long replay does not block the event loop. */
const REPLAY_CHUNK = 1000;

interface PendingWrite {
  op: WriteOp;
  resolve(r: WriteResult): void;
  reject(e: Error): void;
}

interface SqliteWatch {
  prefix: string;
  lo: string;
  hi: string;
  /** Every event up to this revision has been handed to the queue. */
  cursor: number;
  queue: EventQueue;
  pumpScheduled: boolean;
}

interface CurrentRow {
  id: number;
  create_revision: number;
  value: string | Buffer;
}

/** A list row in raw (array) form, which better-sqlite3 builds faster than objects:
 *  [id, name, create_revision, value]. */
type ListRow = [number, string, number, string | Buffer];

interface EventRow {
  id: number;
  name: string;
  created: number;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  value: string | Buffer;
  prev_value: string | Buffer | null;
}

export class SqliteStore implements Store {
  readonly backend = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly st: ReturnType<typeof prepare>;
  /** Latest committed revision this process knows of. */
  private rev: number;
  private compacted: number;
  private closed = false;
  private queue: PendingWrite[] = [];
  private flushScheduled = false;
  private readonly watches = new Set<SqliteWatch>();
  private readonly poller: NodeJS.Timeout | undefined;
  private readonly readTxn: <T>(fn: () => T) => T;
  /** The writer thread and what it has not answered yet, by request id. */
  private readonly writer: Worker;
  private nextId = 1;
  private readonly inflight = new Map<number, PendingWrite[]>();
  private readonly compactions = new Map<number, { resolve(rev: number): void; reject(e: Error): void }>();
  private drained: (() => void)[] = [];
  /** Set once the writer thread is gone for any reason but close(): every write fails with it. */
  private broken: StoreError | undefined;

  /** Opens (or creates) the store; fails with 'Unavailable' naming the file when that is impossible. */
  static async open(opts: SqliteStoreOptions): Promise<SqliteStore> {
    const file = join(opts.dataDir, SQLITE_FILE);
    let store: SqliteStore | undefined;
    try {
      mkdirSync(opts.dataDir, { recursive: true });
      store = new SqliteStore(file, opts.pollIntervalMs ?? 1000);
      await store.writerReady(file);
      return store;
    } catch (err) {
      await store?.close().catch(() => undefined);
      throw new StoreError('Unavailable', `cannot open the sqlite store ${file}: ${(err as Error).message}`);
    }
  }

  private constructor(file: string, pollIntervalMs: number) {
    this.db = openConnection(file);
    try {
      this.db.exec(SCHEMA);
      this.st = prepare(this.db);
      const version = this.st.getMeta.get('schema') as number | undefined;
      if (version === undefined) this.st.setMeta.run('schema', SCHEMA_VERSION);
      else if (version !== SCHEMA_VERSION) {
        throw new Error(`${file} has schema version ${version}; this k8ts understands version ${SCHEMA_VERSION}`);
      }
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.rev = this.headInDb();
    this.compacted = (this.st.getMeta.get('compact_rev') as number | undefined) ?? 0;
    // The writer keeps nothing between groups but its statements, so a young generation of a few MiB is
    // plenty; V8's default one cost 2–3 MiB more resident memory after 10,000 pods were written.
    this.writer = new Worker(new URL('./sqlite-writer.js', import.meta.url), { workerData: { file }, resourceLimits: { maxYoungGenerationSizeMb: 6 } });
    this.writer.on('message', (m: WriterReply) => this.onReply(m));
    this.writer.on('error', (err) => this.writerGone(`the sqlite writer thread failed: ${err.message}`));
    this.writer.on('exit', (code) => this.writerGone(`the sqlite writer thread exited (code ${code})`));
    const readTxn = this.db.transaction((fn: () => unknown) => fn());
    this.readTxn = <T>(fn: () => T) => readTxn.deferred(fn) as T;
    if (pollIntervalMs > 0) {
      this.poller = setInterval(() => this.poll(), pollIntervalMs);
      this.poller.unref();
    }
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    const row = this.st.current.get(key) as CurrentRow | undefined;
    return row && toKeyValue(key, row);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.assertOpen();
    // One read transaction: the revision and the rows come from the same snapshot.
    return this.readTxn(() => {
      const head = this.headInDb();
      const compacted = (this.st.getMeta.get('compact_rev') as number | undefined) ?? 0;
      // As in etcd, a revision of 0 or below reads the newest state.
      const revision = opts.revision && opts.revision > 0 ? opts.revision : head;
      if (revision < compacted) throw compactedError(revision, compacted);
      if (revision > head) throw futureError(revision, head);
      const hi = prefixEnd(prefix) ?? KEY_MAX;
      const afterKey = opts.after !== undefined && compareKeys(opts.after, prefix) >= 0 ? opts.after : undefined;
      const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
      const sqlLimit = limit > 0 ? limit + 1 : -1;
      const atHead = revision === head;
      let rows: ListRow[];
      if (atHead) {
        rows = (afterKey === undefined ? this.st.listCurrentFrom.all(prefix, hi, sqlLimit) : this.st.listCurrentAfter.all(afterKey, hi, sqlLimit)) as ListRow[];
      } else {
        const query = (n: number) =>
          (afterKey === undefined ? this.st.listPastFrom.all(prefix, hi, revision, n) : this.st.listPastAfter.all(afterKey, hi, revision, n)) as ListRow[];
        rows = query(sqlLimit);
        if (!isSorted(rows))
          rows = query(-1)
            .sort((a, b) => compareKeys(a[1], b[1]))
            .slice(0, sqlLimit < 0 ? undefined : sqlLimit);
      }
      const more = limit > 0 && rows.length > limit;
      if (more) rows.length = limit;
      const items = rows.map(([id, key, createRevision, value]): KeyValue => ({ key, value: fromColumn(value), createRevision, modRevision: id }));
      let remaining = 0;
      if (more) {
        const last = items[items.length - 1].key;
        remaining = (atHead ? this.st.countCurrentAfter.get(last, hi) : this.st.countPastAfter.get(last, hi, revision)) as number;
      }
      return { items, revision, more, remaining };
    });
  }

  async count(prefix: string): Promise<number> {
    this.assertOpen();
    return this.st.countCurrentFrom.get(prefix, prefixEnd(prefix) ?? KEY_MAX) as number;
  }

  create(key: string, value: string): Promise<KeyValue> {
    return this.enqueue({ kind: 'create', key, value }) as Promise<KeyValue>;
  }

  update(key: string, value: string, expectedRevision: number): Promise<KeyValue> {
    return this.enqueue({ kind: 'update', key, value, expected: expectedRevision }) as Promise<KeyValue>;
  }

  delete(key: string, expectedRevision?: number): Promise<{ prev: KeyValue; revision: number }> {
    return this.enqueue({ kind: 'delete', key, expected: expectedRevision }) as Promise<{
      prev: KeyValue;
      revision: number;
    }>;
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watcher> {
    this.assertOpen();
    this.poll();
    if (fromRevision < this.compacted) throw compactedError(fromRevision, this.compacted);
    const w: SqliteWatch = {
      prefix,
      lo: prefix,
      hi: prefixEnd(prefix) ?? KEY_MAX,
      cursor: fromRevision,
      queue: new EventQueue(handlers, () => this.watches.delete(w)),
      pumpScheduled: false,
    };
    this.watches.add(w);
    this.pump(w);
    return w.queue;
  }

  async currentRevision(): Promise<number> {
    this.assertOpen();
    this.poll();
    return this.rev;
  }

  async compact(revision: number): Promise<void> {
    this.assertOpen();
    if (this.broken) throw this.broken;
    const id = this.nextId++;
    const compacted = await new Promise<number>((resolve, reject) => {
      this.compactions.set(id, { resolve, reject });
      this.post({ kind: 'compact', id, revision });
    });
    this.compacted = Math.max(this.compacted, compacted);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.queue.length > 0) this.flush();
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    // Every write handed over is answered (committed or failed) before the writer goes.
    if (this.inflight.size + this.compactions.size > 0 && !this.broken) await new Promise<void>((r) => this.drained.push(r));
    if (!this.broken) {
      const exited = new Promise((r) => this.writer.once('exit', r));
      this.writer.ref();
      this.writer.postMessage({ kind: 'close' } satisfies WriterRequest);
      await exited;
    }
    for (const w of [...this.watches]) w.queue.close();
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw closedError('sqlite');
  }

  private headInDb(): number {
    return (this.st.head.get() as number | undefined) ?? 0;
  }

  /** Group commit: every write asked for before the next turn of the event loop goes to the writer in one
   *  message; the writer commits whatever arrived while it was busy as one transaction and one fsync, and
   *  each caller still gets its own result or error once the group is on disk. */
  private enqueue(op: WriteOp): Promise<WriteResult> {
    if (this.closed) return Promise.reject(closedError('sqlite'));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    if (this.broken) {
      for (const p of batch) p.reject(this.broken);
      return;
    }
    const id = this.nextId++;
    this.inflight.set(id, batch);
    this.post({ kind: 'write', id, ops: batch.map((p) => p.op) });
  }

  /** The writer keeps the process alive only while it owes answers. */
  private post(req: WriterRequest): void {
    if (this.inflight.size + this.compactions.size === 1) this.writer.ref();
    this.writer.postMessage(req);
  }

  private writerReady(file: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.readyWaiter = { resolve, reject: (e) => reject(new Error(`${file}: ${e.message}`)) };
    });
  }

  private readyWaiter: { resolve(): void; reject(e: Error): void } | undefined;

  private onReply(m: WriterReply): void {
    switch (m.kind) {
      case 'ready':
        this.writer.unref();
        this.readyWaiter?.resolve();
        this.readyWaiter = undefined;
        return;
      case 'broken':
        this.writerGone(m.message);
        return;
      case 'compacted':
        this.compactions.get(m.id)?.resolve(m.revision);
        this.compactions.delete(m.id);
        break;
      case 'failed': {
        const e = new StoreError(m.code, m.message, m.revision);
        for (const id of m.ids) {
          for (const p of this.inflight.get(id) ?? []) p.reject(e);
          this.inflight.delete(id);
          this.compactions.get(id)?.reject(e);
          this.compactions.delete(id);
        }
        break;
      }
      case 'written': {
        let i = 0;
        for (const id of m.ids) {
          for (const p of this.inflight.get(id) ?? []) {
            const o = m.outcomes[i++];
            if ('ok' in o) p.resolve(o.ok);
            else p.reject(new StoreError(o.err.code, o.err.message, o.err.revision));
          }
          this.inflight.delete(id);
        }
        this.publish(m.before, m.after, m.events);
        break;
      }
    }
    this.settled();
  }

  private settled(): void {
    if (this.inflight.size + this.compactions.size > 0) return;
    if (!this.closed) this.writer.unref();
    const waiters = this.drained;
    this.drained = [];
    for (const w of waiters) w();
  }

  /** The writer thread is gone (crashed, or could not open the file): what it owed fails, and so does
   *  every later write; reads and watches go on. */
  private writerGone(message: string): void {
    if (this.broken || (this.closed && this.inflight.size + this.compactions.size === 0)) return;
    this.broken = new StoreError('Unavailable', message);
    this.readyWaiter?.reject(this.broken);
    this.readyWaiter = undefined;
    for (const batch of this.inflight.values()) for (const p of batch) p.reject(this.broken);
    for (const c of this.compactions.values()) c.reject(this.broken);
    this.inflight.clear();
    this.compactions.clear();
    this.settled();
  }

  /** In-process notify: watches that are caught up take the committed events directly; the others
   *  (replaying, or behind writes from another process) read them from the table. */
  private publish(before: number, after: number, events: WatchEvent[]): void {
    if (after === before) return;
    const contiguous = before === this.rev;
    this.rev = Math.max(this.rev, after);
    for (const w of this.watches) {
      if (contiguous && w.cursor >= before) {
        const mine = events.filter((e) => e.revision > w.cursor && e.key.startsWith(w.prefix));
        w.queue.push(mine);
        w.cursor = Math.max(w.cursor, after);
      } else {
        this.schedulePump(w);
      }
    }
  }

  private schedulePump(w: SqliteWatch): void {
    if (w.pumpScheduled) return;
    w.pumpScheduled = true;
    setImmediate(() => {
      w.pumpScheduled = false;
      this.pump(w);
    });
  }

  /** Reads the events a watch has not seen yet from the table, one chunk per turn. */
  private pump(w: SqliteWatch): void {
    if (this.closed || w.queue.isClosed || w.cursor >= this.rev) return;
    if (w.cursor < this.compacted) {
      w.queue.fail(compactedError(w.cursor, this.compacted));
      return;
    }
    const rows = this.st.events.all(w.cursor, this.rev, w.lo, w.hi, REPLAY_CHUNK) as EventRow[];
    const events: WatchEvent[] = [];
    for (const r of rows) {
      const e = toEvent(r);
      if (!e) {
        w.queue.fail(new StoreError('Unavailable', `sqlite history is missing row ${r.prev_revision} (before ${r.id})`));
        return;
      }
      events.push(e);
    }
    w.queue.push(events);
    w.cursor = rows.length < REPLAY_CHUNK ? this.rev : rows[rows.length - 1].id;
    if (w.cursor < this.rev) this.schedulePump(w);
  }

  /** Fallback for writes made by another process on the same file: notice them by the revision. */
  private poll(): void {
    if (this.closed) return;
    this.compacted = Math.max(this.compacted, (this.st.getMeta.get('compact_rev') as number | undefined) ?? 0);
    const head = this.headInDb();
    if (head <= this.rev) return;
    this.rev = head;
    for (const w of this.watches) this.schedulePump(w);
  }
}

function prepare(db: Database.Database) {
  const listCols = 'k.id, k.name, k.create_revision, k.value';
  const current = `SELECT ${listCols} FROM kv_current c JOIN kv k ON k.id = c.id`;
  // GROUP BY name walks kv_name_prev in name order and yields rows in that order; an ORDER BY here
  // would make SQLite sort the whole range before applying LIMIT (isSorted double-checks).
  const past = (cmp: string) =>
    `SELECT ${listCols} FROM (SELECT MAX(id) AS id FROM kv WHERE name ${cmp} ? AND name < ? AND id <= ? GROUP BY name) m
     JOIN kv k ON k.id = m.id WHERE k.deleted = 0`;
  return {
    head: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'kv'`).pluck(),
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
    setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    current: db.prepare('SELECT k.id, k.create_revision, k.value FROM kv_current c JOIN kv k ON k.id = c.id WHERE c.name = ?'),
    listCurrentFrom: db.prepare(`${current} WHERE c.name >= ? AND c.name < ? ORDER BY c.name LIMIT ?`).raw(),
    listCurrentAfter: db.prepare(`${current} WHERE c.name > ? AND c.name < ? ORDER BY c.name LIMIT ?`).raw(),
    listPastFrom: db.prepare(`${past('>=')} LIMIT ?`).raw(),
    listPastAfter: db.prepare(`${past('>')} LIMIT ?`).raw(),
    countCurrentFrom: db.prepare('SELECT COUNT(*) FROM kv_current WHERE name >= ? AND name < ?').pluck(),
    countCurrentAfter: db.prepare('SELECT COUNT(*) FROM kv_current WHERE name > ? AND name < ?').pluck(),
    countPastAfter: db.prepare(`SELECT COUNT(*) FROM (${past('>')})`).pluck(),
    events: db.prepare(
      `SELECT k.id, k.name, k.created, k.deleted, k.create_revision, k.prev_revision, k.value, p.value AS prev_value
       FROM kv k LEFT JOIN kv p ON p.id = k.prev_revision
       WHERE k.id > ? AND k.id <= ? AND k.name >= ? AND k.name < ? ORDER BY k.id LIMIT ?`,
    ),
  };
}

function toKeyValue(key: string, row: { id: number; create_revision: number; value: string | Buffer }): KeyValue {
  return { key, value: fromColumn(row.value), createRevision: row.create_revision, modRevision: row.id };
}

function toEvent(r: EventRow): WatchEvent | undefined {
  const key = r.name;
  if (r.created) {
    return { type: 'put', key, revision: r.id, kv: toKeyValue(key, r) };
  }
  if (r.prev_value === null) return undefined;
  const prev: KeyValue = { key, value: fromColumn(r.prev_value), createRevision: r.create_revision, modRevision: r.prev_revision };
  if (r.deleted) return { type: 'delete', key, revision: r.id, prev };
  return { type: 'put', key, revision: r.id, kv: toKeyValue(key, r), prev };
}

function isSorted(rows: ListRow[]): boolean {
  for (let i = 1; i < rows.length; i++) if (compareKeys(rows[i - 1][1], rows[i][1]) >= 0) return false;
  return true;
}
