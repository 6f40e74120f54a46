// The reflector (client-go's): lists a resource once, then watches from the list's resourceVersion and
// keeps the last one it saw (from events and BOOKMARKs). A broken watch resumes from there; only 410 Gone
// (that version left the server's history) makes it list again. Counted, so tests can see no relist.
import type { ResourceDef } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { type Client, type EventType, type ListOptions, type Watch, isGone } from './types.js';

export interface ReflectorSink<T> {
  /** A full list: the cache becomes exactly these objects. */
  replace(items: T[], resourceVersion: string): void;
  /** One watch event. */
  apply(type: EventType, obj: T): void;
}

export interface ReflectorStats {
  /** Lists made: the first one, and one per relist. */
  lists: number;
  /** Lists after the first (only 410 Gone, or a list that failed before its first success, causes one). */
  relists: number;
  /** Watches opened. */
  watches: number;
  /** Watches reopened from the last resourceVersion (no list). */
  resumes: number;
  bookmarks: number;
  events: number;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

export class Reflector<T extends KObject> {
  readonly stats: ReflectorStats = { lists: 0, relists: 0, watches: 0, resumes: 0, bookmarks: 0, events: 0 };
  /** The newest resourceVersion seen; '' until the first list, and again after 410 Gone. */
  resourceVersion = '';
  private running = false;
  private watch?: Watch;
  private wake?: () => void;
  private backoff = MIN_BACKOFF_MS;

  constructor(
    private client: Client,
    private r: ResourceDef<T>,
    private ns: string | undefined,
    private opts: ListOptions,
    private sink: ReflectorSink<T>,
    private log: (line: string) => void = () => {},
  ) {}

  /** Start (or start again after stop: from the last resourceVersion, without a list when it can). */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.resourceVersion) this.stats.resumes++;
    void this.loop();
  }

  stop(): void {
    this.running = false;
    this.watch?.close();
    this.watch = undefined;
    this.wake?.();
  }

  private get what(): string {
    return `${this.r.plural}${this.ns ? ` in ${this.ns}` : ''}${this.opts.labelSelector ? ` (${this.opts.labelSelector})` : ''}${this.opts.fieldSelector ? ` (${this.opts.fieldSelector})` : ''}`;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      if (!this.resourceVersion) {
        try {
          this.stats.lists++;
          if (this.stats.lists > 1) this.stats.relists++;
          const { items, resourceVersion } = await this.client.list(this.r, this.ns, this.opts);
          if (!this.running) return;
          this.sink.replace(items, resourceVersion);
          this.resourceVersion = resourceVersion;
        } catch (e) {
          this.log(`reflector ${this.what}: list: ${e instanceof Error ? e.message : e}`);
          await this.sleep();
          continue;
        }
      }
      const ended = await this.watchOnce();
      if (!this.running) return;
      if (ended === 'gone') {
        this.log(`reflector ${this.what}: resourceVersion ${this.resourceVersion} is gone from the server's history; listing again`);
        this.resourceVersion = '';
        continue;
      }
      await this.sleep();
      this.stats.resumes++;
    }
  }

  /** One watch from resourceVersion until it ends; 'gone' when the version is too old. */
  private watchOnce(): Promise<'gone' | 'ended'> {
    return new Promise((resolve) => {
      let done = false;
      const end = (why: 'gone' | 'ended') => {
        if (done) return;
        done = true;
        this.watch?.close();
        this.watch = undefined;
        this.wake = undefined;
        resolve(why);
      };
      this.wake = () => end('ended');
      const opened = Date.now();
      this.stats.watches++;
      this.client
        .watch(
          this.r,
          this.ns,
          this.resourceVersion,
          {
            onEvent: (type, obj) => {
              if (done) return;
              this.stats.events++;
              const rv = obj.metadata.resourceVersion;
              this.sink.apply(type, obj);
              if (rv) this.resourceVersion = rv;
              this.backoff = MIN_BACKOFF_MS;
            },
            onBookmark: (rv) => {
              if (done) return;
              this.stats.bookmarks++;
              this.resourceVersion = rv;
            },
            onError: (err) => {
              if (isGone(err)) return end('gone');
              if (Date.now() - opened > 10_000) this.backoff = MIN_BACKOFF_MS;
              this.log(`reflector ${this.what}: watch ended: ${err.message}; resuming from ${this.resourceVersion}`);
              end('ended');
            },
          },
          this.opts,
        )
        .then(
          (w) => {
            if (done) w.close();
            else this.watch = w;
          },
          (err: unknown) => {
            if (isGone(err)) return end('gone');
            this.log(`reflector ${this.what}: watch: ${err instanceof Error ? err.message : err}`);
            end('ended');
          },
        );
    });
  }

  private sleep(): Promise<void> {
    const ms = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        r();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        r();
      };
    });
  }
}
