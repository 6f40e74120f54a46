// What the SQLite store's two sides share: the schema, how a connection is opened, how values are kept,
// and the messages between the store (reads, watches) and its writer thread (sqlite-writer.ts).
import Database from 'better-sqlite3';
import type { KeyValue, StoreErrorCode, WatchEvent } from './types.js';

export const SCHEMA_VERSION = 1;

// kv is the log: one row per write, its id is the revision. A write names the row it replaces in
// prev_revision, so the unique (name, prev_revision) index makes two writes from the same base
// collide. The index also serves name-ordered scans: its entries carry the row id.
// A delete row keeps '' as value: an event's prev is the row its prev_revision names.
// Ids are given out by the write transaction (head + 1, ...); AUTOINCREMENT keeps sqlite_sequence as
// the head revision, never reused even when compaction removes the newest row (a tombstone).
// kv_current maps each live key to its latest row, so reads at the current revision skip history.
export const SCHEMA = `
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

/**
 * Each connection's page cache, in KiB. A write touches the right edge of `kv` and one path down each index,
 * and reads after start-up are rare (lists and gets come from the watch cache), so 8 MiB holds every hot page
 * with 100,000 keys; SQLite's cache is process memory per connection, and the server has two.
 */
const CACHE_KIB = 8192;

/** A connection in WAL mode with every commit fsynced (FULL: an acknowledged write survives power loss too). */
export function openConnection(file: string): Database.Database {
  const db = new Database(file, { timeout: 5000 });
  try {
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`cannot switch ${file} to WAL mode (got ${String(mode)})`);
    db.pragma('synchronous = FULL');
    db.pragma(`cache_size = -${CACHE_KIB}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Encrypted values (see encrypted.ts) arrive as latin1 strings and are kept as a BLOB of the exact bytes
 *  upstream writes; JSON stays TEXT. better-sqlite3 hands a BLOB back as a Buffer. */
export function toColumn(value: string): string | Buffer {
  return value.startsWith('k8s:enc:') ? Buffer.from(value, 'latin1') : value;
}

export function fromColumn(value: string | Buffer): string {
  return typeof value === 'string' ? value : value.toString('latin1');
}

export type WriteOp =
  | { kind: 'create'; key: string; value: string }
  | { kind: 'update'; key: string; value: string; expected: number }
  | { kind: 'delete'; key: string; expected?: number };

export type WriteResult = KeyValue | { prev: KeyValue; revision: number };

/** One op's result, or the StoreError that failed only it. */
export type Outcome = { ok: WriteResult } | { err: { code: StoreErrorCode; message: string; revision?: number } };

export type WriterRequest = { kind: 'write'; id: number; ops: WriteOp[] } | { kind: 'compact'; id: number; revision: number } | { kind: 'close' };

export type WriterReply =
  | { kind: 'ready'; head: number; compacted: number }
  | { kind: 'broken'; message: string }
  /** One committed group: the outcomes of the requests' ops in order, and the events of those that wrote. */
  | { kind: 'written'; ids: number[]; before: number; after: number; outcomes: Outcome[]; events: WatchEvent[] }
  | { kind: 'compacted'; id: number; revision: number }
  | { kind: 'failed'; ids: number[]; code: StoreErrorCode; message: string; revision?: number };
