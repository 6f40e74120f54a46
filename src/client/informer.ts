// A shared informer (client-go's SharedIndexInformer): one reflector and one indexed cache of a resource,
// and any number of handler registrations on it. A handler added late is first told about every cached
// object, so each handler sees the same story whenever it joined. Objects in the cache are shared by
// everyone: never change one in place (clone it, change the clone, write it).
import type { ResourceDef } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { Indexer, type IndexFunc, NAMESPACE_INDEX, byNamespace } from './indexer.js';
import { Reflector, type ReflectorStats } from './reflector.js';
import { type Client, type EventType, type ListOptions, objectKey } from './types.js';

export interface EventHandler<T> {
  onAdd?(obj: T): void;
  /** Also called with obj === old on a periodic resync (level-triggered handlers re-check everything). */
  onUpdate?(obj: T, old: T): void;
  onDelete?(obj: T): void;
}

export interface Registration {
  /** Stop calling this handler (its resync timer too). */
  remove(): void;
}

export interface InformerOptions extends ListOptions {
  /** Only objects in this namespace. */
  namespace?: string;
}

/** Read access to an informer's cache. */
export class Lister<T extends KObject> {
  constructor(private indexer: Indexer<T>) {}

  /** By namespace and name (namespace undefined for cluster-scoped kinds). */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.indexer.get(namespace ? `${namespace}/${name}` : name);
  }

  /** By cache key (namespace/name). */
  getByKey(key: string): T | undefined {
    return this.indexer.get(key);
  }

  list(): T[] {
    return this.indexer.list();
  }

  /** Every object in one namespace. */
  inNamespace(namespace: string): T[] {
    return this.indexer.byIndex(NAMESPACE_INDEX, namespace);
  }

  byIndex(index: string, value: string): T[] {
    return this.indexer.byIndex(index, value);
  }

  get size(): number {
    return this.indexer.size;
  }
}

interface Listener<T> {
  h: EventHandler<T>;
  timer?: NodeJS.Timeout;
}

export class SharedInformer<T extends KObject> {
  readonly indexer: Indexer<T>;
  readonly lister: Lister<T>;
  private readonly reflector: Reflector<T>;
  private listeners = new Set<Listener<T>>();
  private synced = false;
  private syncWaiters: (() => void)[] = [];

  constructor(
    client: Client,
    readonly resource: ResourceDef<T>,
    readonly options: InformerOptions = {},
    private log: (line: string) => void = () => {},
  ) {
    this.indexer = new Indexer<T>({ [NAMESPACE_INDEX]: byNamespace });
    this.lister = new Lister(this.indexer);
    const { namespace, ...listOpts } = options;
    this.reflector = new Reflector(
      client,
      resource,
      namespace,
      listOpts,
      {
        replace: (items) => this.replace(items),
        apply: (type, obj) => this.apply(type, obj),
      },
      log,
    );
  }

  get stats(): Readonly<ReflectorStats> {
    return this.reflector.stats;
  }

  /** The last resourceVersion the cache is current to. */
  get resourceVersion(): string {
    return this.reflector.resourceVersion;
  }

  addIndex(name: string, f: IndexFunc<T>): this {
    this.indexer.addIndex(name, f);
    return this;
  }

  /**
   * Call h on every change; existing objects are delivered as adds first (synchronously). With resyncMs,
   * h also gets onUpdate(o, o) for every cached object that often.
   */
  addEventHandler(h: EventHandler<T>, resyncMs = 0): Registration {
    const l: Listener<T> = { h };
    this.listeners.add(l);
    if (h.onAdd) for (const o of this.indexer.values()) this.call(() => h.onAdd!(o));
    if (resyncMs > 0) {
      l.timer = setInterval(() => {
        if (!this.synced || !h.onUpdate) return;
        for (const o of this.indexer.values()) this.call(() => h.onUpdate!(o, o));
      }, resyncMs);
      l.timer.unref();
    }
    return {
      remove: () => {
        clearInterval(l.timer);
        this.listeners.delete(l);
      },
    };
  }

  start(): void {
    this.reflector.start();
  }

  /** Stop watching; the cache and resourceVersion stay, so start() resumes without a list when it can. */
  stop(): void {
    this.reflector.stop();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list is in the cache. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const o of items) {
      seen.add(objectKey(o));
      this.apply('MODIFIED', o);
    }
    for (const o of this.indexer.list()) {
      if (seen.has(objectKey(o))) continue;
      this.apply('DELETED', o);
    }
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private apply(type: EventType, obj: T): void {
    if (type === 'DELETED') {
      const old = this.indexer.delete(obj);
      const last = old ?? obj;
      for (const l of this.listeners) if (l.h.onDelete) this.call(() => l.h.onDelete!(last));
      return;
    }
    const old = this.indexer.set(obj);
    for (const l of this.listeners) {
      if (old) {
        if (l.h.onUpdate) this.call(() => l.h.onUpdate!(obj, old));
      } else if (l.h.onAdd) this.call(() => l.h.onAdd!(obj));
    }
  }

  /** One handler's bug never keeps the cache or the other handlers from going on. */
  private call(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.log(`informer ${this.resource.plural}: handler: ${e instanceof Error ? (e.stack ?? e.message) : e}`);
    }
  }
}
