// list+watch cache of one resource: keeps a local copy current, calls handlers on changes, re-lists
// when the watch breaks (410 Gone, lost connection), and resyncs on a timer so handlers stay level-triggered.
import type { ResourceDef } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import type { Client, ListOptions } from './types.js';

export interface InformerHandlers {
  onAdd?(obj: KObject): void;
  onUpdate?(obj: KObject, old: KObject): void;
  onDelete?(obj: KObject): void;
}

export function objectKey(o: KObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!;
}

export class Informer {
  readonly cache = new Map<string, KObject>();
  private handlers: InformerHandlers[] = [];
  private watch?: { close(): void };
  private stopped = false;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private resyncTimer?: NodeJS.Timeout;

  constructor(private client: Client, private r: ResourceDef, private ns?: string, private opts: ListOptions = {}, private resyncMs = 30_000) {}

  on(h: InformerHandlers): this {
    this.handlers.push(h);
    return this;
  }

  start(): void {
    void this.run(0);
    if (this.resyncMs > 0) {
      this.resyncTimer = setInterval(() => {
        for (const o of this.cache.values()) for (const h of this.handlers) h.onUpdate?.(o, o);
      }, this.resyncMs);
      this.resyncTimer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.watch?.close();
  }

  hasSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  get(key: string): KObject | undefined {
    return this.cache.get(key);
  }

  list(): KObject[] {
    return [...this.cache.values()];
  }

  private async run(delay: number): Promise<void> {
    if (delay) await new Promise((r) => setTimeout(r, delay));
    if (this.stopped) return;
    try {
      const { items, resourceVersion } = await this.client.list(this.r, this.ns, this.opts);
      const seen = new Set<string>();
      for (const o of items) {
        const k = objectKey(o);
        seen.add(k);
        const old = this.cache.get(k);
        this.cache.set(k, o);
        for (const h of this.handlers) old ? h.onUpdate?.(o, old) : h.onAdd?.(o);
      }
      for (const [k, o] of this.cache) {
        if (seen.has(k)) continue;
        this.cache.delete(k);
        for (const h of this.handlers) h.onDelete?.(o);
      }
      if (!this.synced) {
        this.synced = true;
        for (const w of this.syncWaiters.splice(0)) w();
      }
      if (this.stopped) return;
      this.watch = await this.client.watch(this.r, this.ns, resourceVersion, {
        onEvent: (type, o) => {
          const k = objectKey(o);
          const old = this.cache.get(k);
          if (type === 'DELETED') {
            this.cache.delete(k);
            for (const h of this.handlers) h.onDelete?.(o);
          } else {
            this.cache.set(k, o);
            for (const h of this.handlers) old ? h.onUpdate?.(o, old) : h.onAdd?.(o);
          }
        },
        onError: () => {
          this.watch = undefined;
          if (!this.stopped) void this.run(200);
        },
      }, this.opts);
    } catch {
      if (!this.stopped) void this.run(Math.min(Math.max(delay * 2, 250), 5000));
    }
  }
}
