// The rate-limited, deduplicating work queue of every controller (client-go's workqueue): a key is queued
// at most once, never handled by two workers at once, handled again after its worker when it was added
// meanwhile; a failure comes back after a per-key exponential back-off, `addAfter` schedules timed work.
import type { QueueMetrics } from './workqueuemetrics.js';

/** FIFO with O(1) push and shift (a growing ring buffer; Array#shift is linear in the queue's length). */
class Fifo<T> {
  private buf: (T | undefined)[] = new Array(16);
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(v: T): void {
    if (this.size === this.buf.length) {
      const next: (T | undefined)[] = new Array(this.buf.length * 2);
      for (let i = 0; i < this.size; i++) next[i] = this.buf[(this.head + i) % this.buf.length];
      this.buf = next;
      this.head = 0;
    }
    this.buf[(this.head + this.size) % this.buf.length] = v;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const v = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) % this.buf.length;
    this.size--;
    return v;
  }
}

export interface WorkQueueOptions {
  /** Keys handled at once (default 1). */
  workers?: number;
  /** Called with every failure before the key is retried. */
  onError?: (key: string, err: unknown) => void;
  /** First retry delay of a failing key; it doubles per failure (default 5 ms, as client-go). */
  baseDelayMs?: number;
  /** Longest retry delay (default 30 s). */
  maxDelayMs?: number;
  /** Where the queue reports client-go's workqueue_* metrics (`WorkQueueMetricsProvider.forQueue(name)`). */
  metrics?: QueueMetrics;
}

/** Handles one key; throwing retries the key with back-off, `{ requeueAfterMs }` schedules it again. */
export type Reconcile = (key: string) => Promise<void | { requeueAfterMs: number }>;

export class WorkQueue {
  private order = new Fifo<string>();
  private queued = new Set<string>();
  private active = new Set<string>();
  private dirty = new Set<string>();
  private failures = new Map<string, number>();
  /** Keys waiting for addAfter: the earliest due time wins. */
  private waiting = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private stopped = false;
  private started = false;
  /** Idle workers waiting for a key. */
  private idle: (() => void)[] = [];
  private readonly workers: number;
  private readonly onError?: (key: string, err: unknown) => void;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly metrics?: QueueMetrics;

  constructor(
    private reconcile: Reconcile,
    workersOrOptions: number | WorkQueueOptions = 1,
    onError?: (key: string, err: unknown) => void,
  ) {
    const o: WorkQueueOptions = typeof workersOrOptions === 'number' ? { workers: workersOrOptions, onError } : workersOrOptions;
    this.workers = o.workers ?? 1;
    this.onError = o.onError;
    this.baseDelayMs = o.baseDelayMs ?? 5;
    this.maxDelayMs = o.maxDelayMs ?? 30_000;
    this.metrics = o.metrics;
  }

  /** Keys queued and not yet taken by a worker. */
  get length(): number {
    return this.order.length;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      // Counted once as client-go does: it waits (in depth) until its worker finishes.
      if (!this.dirty.has(key)) this.metrics?.add(key);
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.metrics?.add(key);
    this.enqueue(key);
  }

  private enqueue(key: string): void {
    this.queued.add(key);
    this.order.push(key);
    this.idle.shift()?.();
  }

  /** Queue the key after ms (sooner if it is added or scheduled sooner meanwhile). */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const w = this.waiting.get(key);
    if (w && w.at <= at) return;
    if (w) clearTimeout(w.timer);
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.waiting.set(key, { at, timer });
  }

  /** Queue the key after its back-off: base × 2^(failures so far), capped. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.metrics?.retry();
    this.addAfter(key, Math.min(this.baseDelayMs * 2 ** n, this.maxDelayMs));
  }

  /** The key succeeded: its back-off starts again from the base. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How often the key has failed since it last succeeded. */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (let i = 0; i < this.workers; i++) void this.loop();
  }

  /** Stop taking keys; a key being handled finishes, nothing new starts. */
  stop(): void {
    if (!this.stopped) this.metrics?.drop(this.order.length + this.dirty.size);
    this.stopped = true;
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.waiting.clear();
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
      this.metrics?.get(key);
      try {
        const res = await this.reconcile(key);
        this.forget(key);
        if (res && res.requeueAfterMs >= 0) this.addAfter(key, res.requeueAfterMs);
      } catch (e) {
        this.onError?.(key, e);
        this.addRateLimited(key);
      } finally {
        this.active.delete(key);
        this.metrics?.done(key);
        if (this.dirty.delete(key) && !this.stopped) this.enqueue(key);
      }
    }
  }
}
