// The datastore contract: the etcd model (one global revision, compare-and-swap on it, watch from a
// revision) that every backend implements and that the API server builds resourceVersion on.

/** One stored key at one revision. */
export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the write that created the key (unchanged by updates). */
  createRevision: number;
  /** Revision of the last write to the key; this is the object's resourceVersion. */
  modRevision: number;
  /** Read with an encryption provider other than the one that writes (src/store/encrypted.ts): an
   *  update must write the value even when it is unchanged, so that rewriting rotates the key. */
  stale?: boolean;
}

/** A change seen by a watch. Events of one watch arrive exactly once, in revision order. */
export type WatchEvent =
  | { type: 'put'; key: string; revision: number; kv: KeyValue; prev?: KeyValue }
  | { type: 'delete'; key: string; revision: number; prev: KeyValue };

export interface ListOptions {
  /** At most this many items (0 or absent: all). */
  limit?: number;
  /** Start after this key (exclusive): the last key of the previous page. */
  after?: string;
  /** Read at this revision (a consistent snapshot for pagination); absent: the current revision. */
  revision?: number;
}

export interface ListResult {
  items: KeyValue[];
  /** The revision the list was read at. */
  revision: number;
  /** More items exist after the last one returned. */
  more: boolean;
  /** How many items remain after this page, when the backend knows. */
  remaining?: number;
}

export interface Watcher {
  close(): void;
}

export interface WatchHandlers {
  /** Events in revision order; a batch holds whole revisions. */
  onEvents(events: WatchEvent[]): void;
  /** The watch ended for a reason other than close() (backend lost, compacted while behind). */
  onError(err: Error): void;
}

export interface Store {
  readonly backend: 'memory' | 'sqlite' | 'etcd';
  get(key: string): Promise<KeyValue | undefined>;
  /** Keys with this prefix in key order. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Count of keys with this prefix at the current revision. */
  count(prefix: string): Promise<number>;
  /** Fails with StoreError 'KeyExists' if the key is present. */
  create(key: string, value: string): Promise<KeyValue>;
  /** Fails with 'NotFound' if absent, 'Conflict' if its modRevision is not expectedRevision. */
  update(key: string, value: string, expectedRevision: number): Promise<KeyValue>;
  /** Deletes the key; with expectedRevision, only at that revision ('Conflict' otherwise). Returns the
   *  deleted value and the revision of the delete. */
  delete(key: string, expectedRevision?: number): Promise<{ prev: KeyValue; revision: number }>;
  /** Events for keys under prefix with revision > fromRevision. Rejects with 'Compacted' when
   *  fromRevision is older than the compacted revision. */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watcher>;
  currentRevision(): Promise<number>;
  /** Forget history at and before revision; watching from before it then fails with 'Compacted'. */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}

export type StoreErrorCode = 'KeyExists' | 'NotFound' | 'Conflict' | 'Compacted' | 'Unavailable';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    /** For 'Compacted': the oldest revision still watchable. For 'Conflict': the current revision. */
    readonly revision?: number,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}
