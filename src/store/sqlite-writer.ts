// The SQLite store's writer: a worker thread with its own connection that applies every write, grouped
// into one transaction and one fsync per group, so the fsync never blocks the API server's event loop.
// A group's reply is posted only after its commit returned, i.e. once it is on disk (synchronous=FULL).
import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { conflictError, existsError, futureError, notFoundError } from './errors.js';
import { openConnection, toColumn, type WriteOp, type WriterReply, type WriterRequest, type Outcome } from './sqlite-shared.js';
import { StoreError, type KeyValue, type WatchEvent } from './types.js';

interface Row {
  id: number;
  deleted: number;
  create_revision: number;
  value: string | Buffer;
}

const port = parentPort;
if (!port) throw new Error('sqlite-writer.js runs as a worker thread of the sqlite store');

let db: Database.Database;
try {
  db = openConnection(workerData.file as string);
} catch (err) {
  port.postMessage({ kind: 'broken', message: (err as Error).message } satisfies WriterReply);
  process.exit(1);
}

const st = {
  head: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'kv'`).pluck(),
  getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
  setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
  lastRow: db.prepare('SELECT id, deleted, create_revision, value FROM kv WHERE name = ? ORDER BY prev_revision DESC LIMIT 1'),
  insert: db.prepare('INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value) VALUES (?, ?, ?, ?, ?, ?, ?)'),
  setCurrent: db.prepare('INSERT INTO kv_current (name, id) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET id = excluded.id'),
  deleteCurrent: db.prepare('DELETE FROM kv_current WHERE name = ?'),
  compactReplaced: db.prepare('DELETE FROM kv WHERE id IN (SELECT prev_revision FROM kv WHERE id > @lo AND id <= @hi AND prev_revision > 0)'),
  compactTombstones: db.prepare('DELETE FROM kv WHERE id > @lo AND id <= @hi AND deleted = 1'),
};

const headInDb = (): number => (st.head.get() as number | undefined) ?? 0;
const fromColumn = (v: string | Buffer): string => (typeof v === 'string' ? v : v.toString('latin1'));

/** Logical failures (exists, conflict, not found) are decided before anything is written, so they fail
 *  only their own op; any other error aborts the whole group. */
function applyOne(op: WriteOp, revision: number): { outcome: Outcome; event: WatchEvent } {
  const key = op.key;
  // The key's newest row, tombstone or not: a key created again after a delete continues the chain
  // from its tombstone.
  const last = st.lastRow.get(key) as Row | undefined;
  const cur = last && !last.deleted ? last : undefined;
  if (op.kind === 'create') {
    if (cur) throw existsError(key);
    st.insert.run(revision, key, 1, 0, revision, last?.id ?? 0, toColumn(op.value));
    st.setCurrent.run(key, revision);
    const kv: KeyValue = { key, value: op.value, createRevision: revision, modRevision: revision };
    return { outcome: { ok: kv }, event: { type: 'put', key, revision, kv } };
  }
  if (!cur) throw notFoundError(key);
  if (op.expected !== undefined && cur.id !== op.expected) throw conflictError(key, op.expected, cur.id);
  const prev: KeyValue = { key, value: fromColumn(cur.value), createRevision: cur.create_revision, modRevision: cur.id };
  if (op.kind === 'update') {
    st.insert.run(revision, key, 0, 0, cur.create_revision, cur.id, toColumn(op.value));
    st.setCurrent.run(key, revision);
    const kv: KeyValue = { key, value: op.value, createRevision: cur.create_revision, modRevision: revision };
    return { outcome: { ok: kv }, event: { type: 'put', key, revision, kv, prev } };
  }
  st.insert.run(revision, key, 0, 1, cur.create_revision, cur.id, '');
  st.deleteCurrent.run(key);
  return { outcome: { ok: { prev, revision } }, event: { type: 'delete', key, revision, prev } };
}

const commitGroup = db.transaction((ops: WriteOp[]) => {
  const before = headInDb();
  let rev = before;
  const outcomes: Outcome[] = [];
  const events: WatchEvent[] = [];
  for (const op of ops) {
    try {
      const { outcome, event } = applyOne(op, rev + 1);
      rev++;
      outcomes.push(outcome);
      events.push(event);
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      outcomes.push({ err: { code: err.code, message: err.message, revision: err.revision } });
    }
  }
  return { before, after: rev, outcomes, events };
}).immediate;

const compactTxn = db.transaction((revision: number) => {
  const head = headInDb();
  const before = (st.getMeta.get('compact_rev') as number | undefined) ?? 0;
  if (revision > head) throw futureError(revision, head);
  if (revision <= before) return before;
  // Every row at or below the revision that a later row at or below it replaced is the prev_revision
  // of that later row; rows up to the previous compaction are already gone.
  st.compactReplaced.run({ lo: before, hi: revision });
  st.compactTombstones.run({ lo: before, hi: revision });
  st.setMeta.run('compact_rev', revision);
  return revision;
}).immediate;

let pending: WriterRequest[] = [];
let scheduled = false;

// Every request that arrived while the previous group was committing is in `pending` by the time the
// check phase runs: those are the next group.
port.on('message', (req: WriterRequest) => {
  pending.push(req);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});

function flush(): void {
  scheduled = false;
  const reqs = pending;
  pending = [];
  let group: Extract<WriterRequest, { kind: 'write' }>[] = [];
  for (const req of reqs) {
    if (req.kind === 'write') {
      group.push(req);
      continue;
    }
    commit(group);
    group = [];
    if (req.kind === 'compact') {
      try {
        port!.postMessage({ kind: 'compacted', id: req.id, revision: compactTxn(req.revision) } satisfies WriterReply);
      } catch (err) {
        port!.postMessage({ kind: 'failed', ids: [req.id], ...failure(err) } satisfies WriterReply);
      }
    } else {
      db.close();
      port!.close();
      return;
    }
  }
  commit(group);
}

function commit(group: Extract<WriterRequest, { kind: 'write' }>[]): void {
  if (group.length === 0) return;
  const ids = group.map((r) => r.id);
  try {
    const ops = group.length === 1 ? group[0].ops : group.flatMap((r) => r.ops);
    port!.postMessage({ kind: 'written', ids, ...commitGroup(ops) } satisfies WriterReply);
  } catch (err) {
    port!.postMessage({ kind: 'failed', ids, ...failure(err) } satisfies WriterReply);
  }
}

function failure(err: unknown): { code: StoreError['code']; message: string; revision?: number } {
  if (err instanceof StoreError) return { code: err.code, message: err.message, revision: err.revision };
  return { code: 'Unavailable', message: `sqlite commit failed: ${(err as Error).message}` };
}

port.postMessage({ kind: 'ready', head: headInDb(), compacted: (st.getMeta.get('compact_rev') as number | undefined) ?? 0 } satisfies WriterReply);
