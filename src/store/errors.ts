// The StoreErrors every backend raises, worded once so all backends say the same thing.
import { StoreError } from './types.js';

/** compacted: the compaction revision when the backend knows it. */
export function compactedError(revision: number, compacted?: number): StoreError {
  const oldest = compacted === undefined ? '' : ` (oldest available revision is ${compacted})`;
  return new StoreError('Compacted', `revision ${revision} has been compacted${oldest}; list again`, compacted);
}

/** Reads and compactions at a revision not reached yet. */
export function futureError(revision: number, current?: number): StoreError {
  const now = current === undefined ? '' : ` (current revision is ${current})`;
  return new StoreError('Unavailable', `revision ${revision} is in the future${now}`, current);
}

export function conflictError(key: string, expected: number, actual: number): StoreError {
  return new StoreError('Conflict', `key ${key} is at revision ${actual}, not ${expected}`, actual);
}

export function existsError(key: string): StoreError {
  return new StoreError('KeyExists', `key ${key} already exists`);
}

export function notFoundError(key: string): StoreError {
  return new StoreError('NotFound', `key ${key} not found`);
}

export function closedError(backend: string): StoreError {
  return new StoreError('Unavailable', `${backend} store is closed`);
}
