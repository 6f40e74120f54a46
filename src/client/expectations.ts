// Expectations (client-go's ControllerExpectations): a controller that creates or deletes N objects
// records that it expects N adds or deletes, and does not act on the key again until its informer has
// seen them (or they expire), so it never acts twice on a cache that has not caught up with its writes.

/** How long an expectation holds before the controller acts anyway (client-go: 5 minutes). */
export const EXPECTATIONS_TTL_MS = 5 * 60_000;

interface Expectation {
  add: number;
  del: number;
  at: number;
}

export class Expectations {
  private byKey = new Map<string, Expectation>();

  constructor(
    private ttlMs = EXPECTATIONS_TTL_MS,
    private clock: () => number = Date.now,
  ) {}

  /** Expect `adds` creations and `dels` deletions under key (replacing what was expected before). */
  expect(key: string, adds: number, dels: number): void {
    this.byKey.set(key, { add: adds, del: dels, at: this.clock() });
  }

  expectCreations(key: string, n: number): void {
    this.expect(key, n, 0);
  }

  expectDeletions(key: string, n: number): void {
    this.expect(key, 0, n);
  }

  /** The informer saw one of the expected creations (call from onAdd). */
  creationObserved(key: string): void {
    const e = this.byKey.get(key);
    if (e) e.add--;
  }

  /** The informer saw one of the expected deletions (call from onDelete). */
  deletionObserved(key: string): void {
    const e = this.byKey.get(key);
    if (e) e.del--;
  }

  /** A create or delete that was expected failed: it will never be observed. */
  lowerExpectations(key: string, adds: number, dels: number): void {
    const e = this.byKey.get(key);
    if (!e) return;
    e.add -= adds;
    e.del -= dels;
  }

  /** True when the controller may act on key: nothing expected, all of it seen, or the expectation expired. */
  satisfied(key: string): boolean {
    const e = this.byKey.get(key);
    if (!e) return true;
    if (e.add <= 0 && e.del <= 0) return true;
    return this.clock() - e.at > this.ttlMs;
  }

  /** The owner is gone: forget what it expected. */
  delete(key: string): void {
    this.byKey.delete(key);
  }
}

/**
 * Write expectations by resourceVersion, for controllers that update objects they also watch (endpoints,
 * slices): after writing, the controller waits until its informer shows that version (or the object gone)
 * before computing the object again from the cache.
 */
export class WriteExpectations {
  private byKey = new Map<string, { rv: number | 'gone'; at: number }>();

  constructor(
    private ttlMs = 5_000,
    private clock: () => number = Date.now,
  ) {}

  /** We wrote key at resourceVersion rv (or deleted it: 'gone'). */
  wrote(key: string, rv: string | number | 'gone' | undefined): void {
    if (rv === undefined) return;
    this.byKey.set(key, { rv: rv === 'gone' ? 'gone' : Number(rv), at: this.clock() });
  }

  /** The cache shows our last write to key (cached is what the informer holds now). */
  caughtUp(key: string, cached: { metadata: { resourceVersion?: string } } | undefined): boolean {
    const e = this.byKey.get(key);
    if (!e) return true;
    const seen = e.rv === 'gone' ? !cached : !!cached && Number(cached.metadata.resourceVersion) >= e.rv;
    if (seen || this.clock() - e.at > this.ttlMs) this.byKey.delete(key);
    return !this.byKey.has(key);
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }
}

/**
 * Expectations that also track which objects a controller deleted (client-go's UIDTrackingControllerExpectations):
 * a pod deleted gracefully is seen twice (deletionTimestamp set, then gone) and only the first sighting of
 * each expected pod counts, so a deletion is never counted twice nor for a pod the controller did not delete.
 */
export class TrackingExpectations extends Expectations {
  private deleting = new Map<string, Set<string>>();

  /** Expect the deletion of exactly these objects (their keys) under key. */
  expectDeletionsOf(key: string, objectKeys: string[]): void {
    this.deleting.set(key, new Set(objectKeys));
    this.expect(key, 0, objectKeys.length);
  }

  /** objectKey was seen going (deletionTimestamp or gone): counted once, if it was expected. */
  deletionObservedOf(key: string, objectKey: string): void {
    const s = this.deleting.get(key);
    if (!s?.delete(objectKey)) return;
    this.deletionObserved(key);
  }

  /** A delete that was expected failed or found nothing. */
  deletionFailed(key: string, objectKey: string): void {
    this.deletionObservedOf(key, objectKey);
  }

  override delete(key: string): void {
    super.delete(key);
    this.deleting.delete(key);
  }
}
