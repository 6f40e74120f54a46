// The kubelet's per-key back-off (client-go's flowcontrol.Backoff as the kubelet uses it for crash loops and
// image pulls): the first failure holds the key back 10 s, each further one doubles it up to the 5 min cap,
// and an entry whose last update is more than twice the cap before the next failure (or before now) is
// expired: a container that ran 10 minutes, or an image that was not retried for 10 minutes, starts afresh
// at 10 s. The clock is injected so a test proves the expiry without waiting.

export interface BackoffEntry {
  /** The current delay. */
  delay: number;
  /** When the delay was last set (the clock's time). */
  lastUpdate: number;
}

export class Backoff {
  private entries = new Map<string, BackoffEntry>();

  /** now: the clock (read on every use, so a test may move Date.now too). */
  constructor(
    readonly initialMs: number,
    readonly maxMs: number,
    private now: () => number = () => Date.now(),
  ) {}

  /** Older than twice the cap at `at`: the key has been fine long enough to be forgiven. */
  private expired(e: BackoffEntry, at: number): boolean {
    return at - e.lastUpdate > 2 * this.maxMs;
  }

  /** The live entry of a key (an expired one is dropped here). */
  get(id: string): BackoffEntry | undefined {
    const e = this.entries.get(id);
    if (e && this.expired(e, this.now())) {
      this.entries.delete(id);
      return undefined;
    }
    return e;
  }

  /**
   * A failure of id that happened at eventTime (a container's finish, a pull's end; default now): the next
   * delay, doubled, or the initial one when there was none or it had expired by then. Returns the delay.
   */
  next(id: string, eventTime = this.now()): number {
    const e = this.entries.get(id);
    const delay = !e || this.expired(e, eventTime) ? this.initialMs : Math.min(e.delay * 2, this.maxMs);
    this.entries.set(id, { delay, lastUpdate: this.now() });
    return delay;
  }

  /** How long id is still held back, in ms (0: it may go now). */
  remaining(id: string): number {
    const e = this.get(id);
    return e ? Math.max(0, e.lastUpdate + e.delay - this.now()) : 0;
  }

  delete(id: string): void {
    this.entries.delete(id);
  }

  /** Forgets every key that starts with prefix (a pod that is gone). */
  forget(prefix: string): void {
    for (const k of [...this.entries.keys()]) if (k.startsWith(prefix)) this.entries.delete(k);
  }

  /** Drops the expired entries (what the kubelet's periodic GC of its back-off does). */
  gc(): void {
    const now = this.now();
    for (const [k, e] of [...this.entries]) if (this.expired(e, now)) this.entries.delete(k);
  }

  get size(): number {
    return this.entries.size;
  }
}
