// The Client interface served in-process by the registry: controllers in the server process use the
// same validation, defaults and concurrency as HTTP clients, without the HTTP hop.
import type { ResourceDef } from '../api/resources.js';
import { storagePrefix } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import type { Client, EventType, ListOptions, PatchType, WatchHandlers } from '../client/types.js';
import { type Registry, fieldsOf } from './registry.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { errors } from '../api/status.js';

export class LocalClient implements Client {
  constructor(private reg: Registry) {}

  get(r: ResourceDef, ns: string | undefined, name: string): Promise<KObject | undefined> {
    return this.reg.tryGet(r, ns, name);
  }

  async list(r: ResourceDef, ns?: string, opts: ListOptions = {}): Promise<{ items: KObject[]; resourceVersion: string }> {
    const res = await this.reg.list(r, ns, {
      labelSelector: opts.labelSelector ? parseLabelSelector(opts.labelSelector) : undefined,
      fieldSelector: opts.fieldSelector ? parseFieldSelector(opts.fieldSelector) : undefined,
    });
    return { items: res.items, resourceVersion: res.resourceVersion };
  }

  async watch(r: ResourceDef, ns: string | undefined, resourceVersion: string, h: WatchHandlers, opts: ListOptions = {}): Promise<{ close(): void }> {
    const ls = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : undefined;
    const fs = opts.fieldSelector ? parseFieldSelector(opts.fieldSelector) : undefined;
    const match = (o: KObject | undefined) => o !== undefined && (!ls || ls.matches(o.metadata.labels)) && (!fs || fs.matches(fieldsOf(r, o)));
    const sub = this.reg.cache.subscribe(storagePrefix(r, ns), Number(resourceVersion), (events) => {
      for (const e of events) {
        const now = match(e.object);
        const before = match(e.prev);
        let type: EventType | undefined;
        if (e.type === 'delete') type = before ? 'DELETED' : undefined;
        else if (now) type = before ? 'MODIFIED' : 'ADDED';
        else if (before) type = 'DELETED';
        if (type) h.onEvent(type, e.object);
      }
    }, (err) => h.onError(err));
    if (!sub) throw errors.gone(`too old resource version: ${resourceVersion}`);
    return sub;
  }

  create(r: ResourceDef, ns: string | undefined, obj: KObject): Promise<KObject> {
    return this.reg.create(r, ns, obj);
  }

  update(r: ResourceDef, ns: string | undefined, obj: KObject, subresource?: 'status'): Promise<KObject> {
    return this.reg.update(r, ns, obj.metadata.name!, obj, subresource);
  }

  async patch(r: ResourceDef, ns: string | undefined, name: string, type: PatchType, patch: unknown, subresource?: 'status'): Promise<KObject> {
    return (await this.reg.patch(r, ns, name, type, patch, subresource, { fieldValidation: 'Ignore' })).object;
  }

  async delete(r: ResourceDef, ns: string | undefined, name: string, opts: { gracePeriodSeconds?: number; preconditions?: { uid?: string } } = {}): Promise<void> {
    await this.reg.delete(r, ns, name, opts);
  }

  async bind(ns: string, pod: string, node: string): Promise<void> {
    await this.reg.bind(ns, pod, node);
  }
}
