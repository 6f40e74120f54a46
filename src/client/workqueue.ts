// A deduplicating work queue: a key is never processed by two workers at once, a key added while it is
// being processed is processed again afterwards, and failures come back with exponential backoff.

export class WorkQueue {
  private queued = new Set<string>();
  private order: string[] = [];
  private active = new Set<string>();
  private dirty = new Set<string>();
  private failures = new Map<string, number>();
  private timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** Idle workers waiting for a key. */
  private idle: (() => void)[] = [];

  constructor(private process: (key: string) => Promise<void>, private workers = 1, private onError?: (key: string, err: unknown) => void) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.idle.shift()?.();
  }

  addAfter(key: string, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.add(key);
    }, ms);
    t.unref?.();
    this.timers.add(t);
  }

  start(): void {
    for (let i = 0; i < this.workers; i++) void this.loop();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.idle.splice(0)) w();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const key = this.order.shift();
      if (key === undefined) {
        await new Promise<void>((r) => this.idle.push(r));
        continue;
      }
      this.queued.delete(key);
      this.active.add(key);
      try {
        await this.process(key);
        this.failures.delete(key);
      } catch (e) {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        this.onError?.(key, e);
        this.addAfter(key, Math.min(5 * 2 ** n, 30_000));
      } finally {
        this.active.delete(key);
        if (this.dirty.delete(key)) this.add(key);
      }
    }
  }
}
