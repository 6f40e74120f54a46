// Delivery side of a watch for the in-process backends: events are handed to the consumer
// asynchronously (never inside the writer's call), in revision order, in batches of whole revisions.
import type { WatchEvent, WatchHandlers, Watcher } from './types.js';

export class EventQueue implements Watcher {
  private pending: WatchEvent[] = [];
  private failure: Error | undefined;
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly handlers: WatchHandlers,
    /** Called once when the watch ends (close or failure), so the backend can forget it. */
    private readonly onEnd: () => void,
  ) {}

  get isClosed(): boolean {
    return this.closed || this.failure !== undefined;
  }

  push(events: WatchEvent[]): void {
    if (this.isClosed || events.length === 0) return;
    for (const e of events) this.pending.push(e);
    this.schedule();
  }

  /** Ends the watch with an error, after the events already queued have been delivered. */
  fail(err: Error): void {
    if (this.isClosed) return;
    this.failure = err;
    this.onEnd();
    this.schedule();
  }

  close(): void {
    if (this.closed) return;
    const ended = this.failure !== undefined;
    this.closed = true;
    this.pending = [];
    if (!ended) this.onEnd();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed) return;
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0) this.handlers.onEvents(batch);
    if (this.failure && !this.closed) {
      this.closed = true;
      this.handlers.onError(this.failure);
    }
  }
}
