// Keeps the datastore's history bounded: every interval, compact to the revision seen one retention
// period ago (as the Kubernetes API server does every five minutes), so watchers can resume within it.
import type { Store } from '../store/types.js';

export class Compactor {
  private marks: { at: number; rev: number }[] = [];
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private store: Store,
    private retentionMs = 5 * 60_000,
    private intervalMs = 60_000,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async tick(now = Date.now()): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      this.marks.push({ at: now, rev: await this.store.currentRevision() });
      let target = 0;
      while (this.marks.length && now - this.marks[0].at >= this.retentionMs) target = this.marks.shift()!.rev;
      if (target > 0) await this.store.compact(target);
    } catch (e) {
      console.error('k8ts compactor:', e instanceof Error ? e.message : e);
    } finally {
      this.running = false;
    }
  }
}
