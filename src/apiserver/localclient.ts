// The Client interface served in-process by the registry: controllers in the server process use the
// same validation, defaults and concurrency as HTTP clients, without the HTTP hop.
import type { ResourceDef } from '../api/resources.js';
import { storagePrefix } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import type { Client, DeleteOptions, EventType, ListOptions, PatchType, Watch, WatchHandlers, WriteSubresource } from '../client/types.js';
import { type Registry, fieldsOf } from './registry.js';
import { cacheReady, listCached, typedObject } from './cachedlist.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { errors } from '../api/status.js';
import { requestUser } from '../api/authorization.js';

/** Objects copied between two turns of the event loop in a cached list. */
const LIST_SLICE = 500;

/** How often a local watch reports a BOOKMARK (the HTTP server's period is 30 s; in-process it costs nothing). */
const BOOKMARK_MS = 5_000;

// Every call and every watch event runs outside any request's context: the server's own loops are not the
// user whose request happened to wake them (a controller's write in a node's context was refused by
// NodeRestriction; an admin's would have passed checks meant for the controller's own identity).
const own = <T>(f: () => T): T => requestUser.run(undefined, f);

// The registry decodes and validates every object as its resource's kind, so what it returns for
// ResourceDef<T> is a T: the casts below are that fact, stated once at the door.
export class LocalClient implements Client {
  constructor(private reg: Registry) {}

  async get<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, name: string): Promise<T | undefined> {
    return (await own(() => this.reg.tryGet(r, ns, name))) as T | undefined;
  }

  /** A consistent list (everything written before the call), from the watch cache as the HTTP path
   *  serves it, each object a private copy, copied LIST_SLICE at a time with the event loop let go in
   *  between: a sweep of 30,000 Events on etcd read them from the store in one piece, a 2 s stall of
   *  every request. The store answers when the cache cannot. */
  async list<T extends KObject>(r: ResourceDef<T>, ns?: string, opts: ListOptions = {}): Promise<{ items: T[]; resourceVersion: string }> {
    const query = {
      labelSelector: opts.labelSelector ? parseLabelSelector(opts.labelSelector) : undefined,
      fieldSelector: opts.fieldSelector ? parseFieldSelector(opts.fieldSelector) : undefined,
    };
    return own(async () => {
      if (await cacheReady(this.reg.cache, this.reg.store, undefined)) {
        const page = listCached(this.reg.cache, r, ns, query);
        const items: T[] = [];
        for (let i = 0; i < page.items.length; i++) {
          if (i > 0 && i % LIST_SLICE === 0) await new Promise(setImmediate);
          items.push(structuredClone(typedObject(r, page.items[i])) as T);
        }
        return { items, resourceVersion: page.resourceVersion };
      }
      const res = await this.reg.list(r, ns, query);
      return { items: res.items as T[], resourceVersion: res.resourceVersion };
    });
  }

  async watch<T extends KObject>(
    r: ResourceDef<T>,
    ns: string | undefined,
    resourceVersion: string,
    h: WatchHandlers<T>,
    opts: ListOptions = {},
  ): Promise<Watch> {
    const ls = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : undefined;
    const fs = opts.fieldSelector ? parseFieldSelector(opts.fieldSelector) : undefined;
    const match = (o: KObject | undefined) => o !== undefined && (!ls || ls.matches(o.metadata.labels)) && (!fs || fs.matches(fieldsOf(r, o)));
    let last = Number(resourceVersion);
    const sub = this.reg.cache.subscribe(
      storagePrefix(r, ns),
      last,
      (events) => {
        for (const e of events) {
          last = e.revision;
          const now = match(e.object);
          const before = match(e.prev);
          let type: EventType | undefined;
          if (e.type === 'delete') type = before ? 'DELETED' : undefined;
          else if (now) type = before ? 'MODIFIED' : 'ADDED';
          else if (before) type = 'DELETED';
          if (type) own(() => h.onEvent(type, e.object as T));
        }
      },
      (err) => {
        clearInterval(bookmarks);
        own(() => h.onError(err));
      },
    );
    if (!sub) throw errors.gone(`too old resource version: ${resourceVersion}`);
    // A filtered watch may see nothing for long: bookmarks carry its resourceVersion forward, so a watch
    // resumed later starts inside the cache's history instead of relisting.
    const bookmarks = setInterval(() => {
      const rv = Math.max(last, this.reg.cache.revision);
      if (h.onBookmark && rv > last) {
        last = rv;
        own(() => h.onBookmark?.(String(rv)));
      }
    }, BOOKMARK_MS);
    bookmarks.unref();
    return {
      close: () => {
        clearInterval(bookmarks);
        sub.close();
      },
    };
  }

  async create<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, obj: T): Promise<T> {
    return (await own(() => this.reg.create(r, ns, obj))) as T;
  }

  async update<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, obj: T, subresource?: WriteSubresource): Promise<T> {
    return (await own(() => this.reg.update(r, ns, obj.metadata.name ?? '', obj, subresource))) as T;
  }

  async patch<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, name: string, type: PatchType, patch: unknown, subresource?: 'status'): Promise<T> {
    return (await own(() => this.reg.patch(r, ns, name, type, patch, subresource, { fieldValidation: 'Ignore' }))).object as T;
  }

  async delete(r: ResourceDef, ns: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    await own(() => this.reg.delete(r, ns, name, opts));
  }

  async bind(ns: string, pod: string, node: string): Promise<void> {
    await own(() => this.reg.bind(ns, pod, node));
  }
}
