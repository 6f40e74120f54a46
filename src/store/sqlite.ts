// Embedded SQLite Store, the default backend: the kine model (one log table whose row id is the
// revision) in one file under the data dir, with group commit and watch fed straight from each commit.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EventQueue } from './event-queue.js';
import { closedError, compactedError, conflictError, existsError, futureError, notFoundError } from './errors.js';
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

const SCHEMA_VERSION = 1;

// kv is the log: one row per write, its id is the revision. A write names the row it replaces in
// prev_revision, so the unique (name, prev_revision) index makes two writes from the same base
// collide. The index also serves name-ordered scans: its entries carry the row id.
// A delete row keeps '' as value: an event's prev is the row its prev_revision names.
// Ids are given out by the write transaction (head + 1, ...); AUTOINCREMENT keeps sqlite_sequence as
// the head revision, never reused even when compaction removes the newest row (a tombstone).
// kv_current maps each live key to its latest row, so reads at the current revision skip history.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  created INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  value TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kv_name_prev ON kv (name, prev_revision);
CREATE TABLE IF NOT EXISTS kv_current (name TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
`;

/** Upper bound for the empty prefix; keys are expected to start far below it. */
const KEY_MAX = '\u{10FFFF}';
/** Rows a catching-up watch reads per step, so a long replay does not block the event loop. */
const REPLAY_CHUNK = 1000;

type WriteOp =
  | { kind: 'create'; key: string; value: string }
  | { kind: 'update'; key: string; value: string; expected: number }
  | { kind: 'delete'; key: string; expected?: number };

type WriteResult = KeyValue | { prev: KeyValue; revision: number };

interface PendingWrite {
  op: WriteOp;
  resolve(r: WriteResult): void;
  reject(e: Error): void;
  result?: WriteResult;
  failure?: StoreError;
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
  private readonly commitBatch: (batch: PendingWrite[]) => { before: number; after: number; events: WatchEvent[] };
  private readonly readTxn: <T>(fn: () => T) => T;

  /** Opens (or creates) the store; fails with 'Unavailable' naming the file when that is impossible. */
  static async open(opts: SqliteStoreOptions): Promise<SqliteStore> {
    const file = join(opts.dataDir, SQLITE_FILE);
    try {
      mkdirSync(opts.dataDir, { recursive: true });
      return new SqliteStore(file, opts.pollIntervalMs ?? 1000);
    } catch (err) {
      throw new StoreError('Unavailable', `cannot open the sqlite store ${file}: ${(err as Error).message}`);
    }
  }

  private constructor(file: string, pollIntervalMs: number) {
    this.db = new Database(file, { timeout: 5000 });
    try {
      const mode = this.db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`cannot switch ${file} to WAL mode (got ${String(mode)})`);
      // FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss too.
      this.db.pragma('synchronous = FULL');
      this.db.pragma('cache_size = -65536');
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
    this.commitBatch = this.db.transaction((batch: PendingWrite[]) => this.applyBatch(batch)).immediate;
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
    const compacted = this.db
      .transaction(() => {
        const head = this.headInDb();
        const before = (this.st.getMeta.get('compact_rev') as number | undefined) ?? 0;
        if (revision > head) throw futureError(revision, head);
        if (revision <= before) return before;
        // Every row at or below the revision that a later row at or below it replaced is the
        // prev_revision of that later row; rows up to the previous compaction are already gone.
        this.st.compactReplaced.run({ lo: before, hi: revision });
        this.st.compactTombstones.run({ lo: before, hi: revision });
        this.st.setMeta.run('compact_rev', revision);
        return revision;
      })
      .immediate();
    this.compacted = Math.max(this.compacted, compacted);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.queue.length > 0) this.flush();
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    for (const w of [...this.watches]) w.queue.close();
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw closedError('sqlite');
  }

  private headInDb(): number {
    return (this.st.head.get() as number | undefined) ?? 0;
  }

  /** Group commit: every write asked for before the next turn of the event loop shares one
   *  transaction and one fsync; each caller still gets its own result or error. */
  private enqueue(op: WriteOp): Promise<WriteResult> {
    if (this.closed) return Promise.reject(closedError('sqlite'));
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
    let committed: { before: number; after: number; events: WatchEvent[] };
    try {
      committed = this.commitBatch(batch);
    } catch (err) {
      const e = new StoreError('Unavailable', `sqlite commit failed: ${(err as Error).message}`);
      for (const p of batch) p.reject(e);
      return;
    }
    for (const p of batch) {
      if (p.failure) p.reject(p.failure);
      else p.resolve(p.result!);
    }
    this.publish(committed.before, committed.after, committed.events);
  }

  /** Runs inside the write transaction. Logical failures (exists, conflict, not found) are decided
   *  before anything is written, so they fail only their own caller; any other error aborts the batch. */
  private applyBatch(batch: PendingWrite[]): { before: number; after: number; events: WatchEvent[] } {
    const before = this.headInDb();
    let rev = before;
    const events: WatchEvent[] = [];
    for (const p of batch) {
      p.failure = undefined;
      try {
        events.push(this.applyOne(p, rev + 1));
        rev++;
      } catch (err) {
        if (!(err instanceof StoreError)) throw err;
        p.failure = err;
      }
    }
    return { before, after: rev, events };
  }

  private applyOne(p: PendingWrite, revision: number): WatchEvent {
    const { op } = p;
    const key = op.key;
    // The key's newest row, tombstone or not: a key created again after a delete continues the
    // chain from its tombstone.
    const last = this.st.lastRow.get(key) as (CurrentRow & { deleted: number }) | undefined;
    const cur = last && !last.deleted ? last : undefined;
    if (op.kind === 'create') {
      if (cur) throw existsError(key);
      this.st.insert.run(revision, key, 1, 0, revision, last?.id ?? 0, toColumn(op.value));
      this.st.setCurrent.run(key, revision);
      const kv: KeyValue = { key, value: op.value, createRevision: revision, modRevision: revision };
      p.result = kv;
      return { type: 'put', key, revision, kv };
    }
    if (!cur) throw notFoundError(key);
    if (op.expected !== undefined && cur.id !== op.expected) throw conflictError(key, op.expected, cur.id);
    const prev = toKeyValue(key, cur);
    if (op.kind === 'update') {
      this.st.insert.run(revision, key, 0, 0, cur.create_revision, cur.id, toColumn(op.value));
      this.st.setCurrent.run(key, revision);
      const kv: KeyValue = { key, value: op.value, createRevision: cur.create_revision, modRevision: revision };
      p.result = kv;
      return { type: 'put', key, revision, kv, prev };
    }
    this.st.insert.run(revision, key, 0, 1, cur.create_revision, cur.id, '');
    this.st.deleteCurrent.run(key);
    p.result = { prev, revision };
    return { type: 'delete', key, revision, prev };
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
    lastRow: db.prepare('SELECT id, deleted, create_revision, value FROM kv WHERE name = ? ORDER BY prev_revision DESC LIMIT 1'),
    insert: db.prepare('INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    setCurrent: db.prepare('INSERT INTO kv_current (name, id) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET id = excluded.id'),
    deleteCurrent: db.prepare('DELETE FROM kv_current WHERE name = ?'),
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
    compactReplaced: db.prepare('DELETE FROM kv WHERE id IN (SELECT prev_revision FROM kv WHERE id > @lo AND id <= @hi AND prev_revision > 0)'),
    compactTombstones: db.prepare('DELETE FROM kv WHERE id > @lo AND id <= @hi AND deleted = 1'),
  };
}

/** Encrypted values (see encrypted.ts) arrive as latin1 strings and are kept as a BLOB of the exact bytes
 *  upstream writes; JSON stays TEXT. better-sqlite3 hands a BLOB back as a Buffer. */
function toColumn(value: string): string | Buffer {
  return value.startsWith('k8s:enc:') ? Buffer.from(value, 'latin1') : value;
}

function fromColumn(value: string | Buffer): string {
  return typeof value === 'string' ? value : value.toString('latin1');
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
