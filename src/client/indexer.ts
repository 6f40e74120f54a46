// An informer's cache (client-go's thread-safe store + indexers): objects by namespace/name key, and
// named indexes from a value (a namespace, a node name, an owner's uid, a label value) to the keys of the
// objects that have it, kept current on every change so a lookup costs what it returns.
import type { KObject } from '../api/types.js';
import { objectKey } from './types.js';

/** The values an object is indexed under (none: not in the index). */
export type IndexFunc<T> = (obj: T) => string[];

export class Indexer<T extends KObject> {
  private items = new Map<string, T>();
  private funcs = new Map<string, IndexFunc<T>>();
  /** index name → value → keys */
  private indices = new Map<string, Map<string, Set<string>>>();

  constructor(indexers: Record<string, IndexFunc<T>> = {}) {
    for (const [name, f] of Object.entries(indexers)) this.addIndex(name, f);
  }

  /** Add an index (built over what is cached already); a second index of one name is refused. */
  addIndex(name: string, f: IndexFunc<T>): void {
    if (this.funcs.has(name)) {
      if (this.funcs.get(name) === f) return;
      throw new Error(`indexer: an index named ${JSON.stringify(name)} exists already`);
    }
    this.funcs.set(name, f);
    const index = new Map<string, Set<string>>();
    this.indices.set(name, index);
    for (const [key, obj] of this.items) for (const v of f(obj)) add(index, v, key);
  }

  hasIndex(name: string): boolean {
    return this.funcs.has(name);
  }

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): IterableIterator<string> {
    return this.items.keys();
  }

  values(): IterableIterator<T> {
    return this.items.values();
  }

  /** The objects indexed under value in the named index. */
  byIndex(name: string, value: string): T[] {
    const index = this.indices.get(name);
    if (!index) throw new Error(`indexer: no index named ${JSON.stringify(name)}`);
    const keys = index.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) out.push(this.items.get(k)!);
    return out;
  }

  /** The values present in the named index. */
  indexValues(name: string): string[] {
    return [...(this.indices.get(name)?.keys() ?? [])];
  }

  /** Store obj; returns what it replaced. */
  set(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.items.get(key);
    this.items.set(key, obj);
    for (const [name, f] of this.funcs) {
      const index = this.indices.get(name)!;
      const before = old ? f(old) : [];
      const after = f(obj);
      if (before.length === after.length && before.every((v, i) => v === after[i])) continue;
      for (const v of before) remove(index, v, key);
      for (const v of after) add(index, v, key);
    }
    return old;
  }

  /** Remove the object with obj's key; returns what was cached. */
  delete(obj: KObject): T | undefined {
    return this.deleteKey(objectKey(obj));
  }

  deleteKey(key: string): T | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    this.items.delete(key);
    for (const [name, f] of this.funcs) for (const v of f(old)) remove(this.indices.get(name)!, v, key);
    return old;
  }
}

function add(index: Map<string, Set<string>>, value: string, key: string): void {
  let s = index.get(value);
  if (!s) index.set(value, (s = new Set()));
  s.add(key);
}

function remove(index: Map<string, Set<string>>, value: string, key: string): void {
  const s = index.get(value);
  if (!s) return;
  s.delete(key);
  if (!s.size) index.delete(value);
}

/** The indexes every informer can ask for by name. */
export const NAMESPACE_INDEX = 'namespace';
export const NODE_NAME_INDEX = 'spec.nodeName';
export const OWNER_UID_INDEX = 'ownerUid';

export const byNamespace: IndexFunc<KObject> = (o) => (o.metadata.namespace ? [o.metadata.namespace] : []);

/** Pods by the node they are bound to. */
export const byNodeName: IndexFunc<KObject & { spec?: { nodeName?: string } }> = (o) => (o.spec?.nodeName ? [o.spec.nodeName] : []);

/** Objects by the uid of each owner (ReplicaSets by Deployment, Pods by ReplicaSet, slices by Service). */
export const byOwnerUid: IndexFunc<KObject> = (o) => (o.metadata.ownerReferences ?? []).map((r) => r.uid);

/** Objects by the value of one label (index name: `label:<key>`). */
export function byLabel(key: string): IndexFunc<KObject> {
  return (o) => {
    const v = o.metadata.labels?.[key];
    return v === undefined ? [] : [v];
  };
}

export const labelIndexName = (key: string): string => `label:${key}`;
