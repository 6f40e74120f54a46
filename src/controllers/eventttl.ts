// Events expire: Kubernetes keeps an Event for --event-ttl (one hour) through an etcd lease. k8ts stores
// Events like any object, so a sweep deletes those whose last sighting is older than the TTL; without it
// every pod's history stays forever and the server's memory (watch cache) grows with it.
import { EVENTS } from '../api/kinds.js';
import type { Event } from '../api/types.js';
import type { Client } from '../client/types.js';
import type { Controller, ControllerContext } from './context.js';

/** When an Event was last seen: lastTimestamp, eventTime, series, or creation. */
export function lastSeen(e: Event): number {
  const t = e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp;
  const ms = typeof t === 'string' ? Date.parse(t) : NaN;
  return Number.isFinite(ms) ? ms : 0;
}

export class EventTtl implements Controller {
  private client: Client;
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    ctx: ControllerContext,
    private ttlMs = 3_600_000,
    private periodMs = Math.min(60_000, ttlMs / 4),
  ) {
    this.client = ctx.client;
  }

  async start(): Promise<void> {
    await this.sweep();
    this.timer = setInterval(() => void this.sweep().catch((e) => console.error('event ttl:', e instanceof Error ? e.message : e)), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Delete every Event older than the TTL; returns how many went. */
  async sweep(at = Date.now()): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let n = 0;
    try {
      const { items } = await this.client.list(EVENTS);
      for (const e of items) {
        if (at - lastSeen(e) <= this.ttlMs) continue;
        await this.client.delete(EVENTS, e.metadata.namespace, e.metadata.name!).then(
          () => n++,
          () => {},
        );
      }
    } finally {
      this.running = false;
    }
    return n;
  }
}
