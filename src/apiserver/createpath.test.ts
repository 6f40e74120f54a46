// The create path's shortcuts against a real Registry on a memory store: the namespace check reads the
// watch cache and falls back to the store, a request's own body is changed in place while an in-process
// caller's object is left alone, and the answer is byte for byte what a read of the stored object gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../store/memory.js';
import { CONFIGMAPS, NAMESPACES } from '../api/kinds.js';
import { storageKey } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { ApiError } from '../api/status.js';
import { Registry } from './registry.js';
import { WatchCache } from './watchcache.js';

async function withRegistry(f: (reg: Registry, store: MemoryStore, cache: WatchCache) => Promise<void>): Promise<void> {
  const store = new MemoryStore();
  const cache = await WatchCache.start(store);
  try {
    await f(new Registry(store, cache), store, cache);
  } finally {
    cache.close();
  }
}

const cm = (name: string): KObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' } }) as KObject;

test('a namespace written a moment ago, not yet in the cache, is read live: the create goes through', async () => {
  await withRegistry(async (reg, store, cache) => {
    const key = storageKey(NAMESPACES, undefined, 'fresh');
    await store.create(key, JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh' } }));
    assert.equal(cache.object(key), undefined, 'the cache has not seen it yet');
    const out = await reg.create(CONFIGMAPS, 'fresh', cm('one'));
    assert.equal(out.metadata.namespace, 'fresh');
  });
});

test('a namespace the cache holds as terminating refuses creates (NamespaceTerminating); a missing one is a 404', async () => {
  await withRegistry(async (reg, store, cache) => {
    await reg.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'going' } } as KObject);
    // What a delete of the namespace leaves while its content goes: deletionTimestamp set.
    const key = storageKey(NAMESPACES, undefined, 'going');
    const cur = await store.get(key);
    const obj = JSON.parse(cur!.value);
    obj.metadata.deletionTimestamp = new Date().toISOString();
    const kv = await store.update(key, JSON.stringify(obj), cur!.modRevision);
    await cache.waitFor(kv.modRevision);
    await assert.rejects(
      reg.create(CONFIGMAPS, 'going', cm('late')),
      (e: unknown) => e instanceof ApiError && e.code === 403 && /being terminated/.test(e.message),
    );
    await assert.rejects(reg.create(CONFIGMAPS, 'nowhere', cm('lost')), (e: unknown) => e instanceof ApiError && e.code === 404);
  });
});

test("an in-process caller's object is left as it was; a request's own body is the object written", async () => {
  await withRegistry(async (reg) => {
    await reg.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } } as KObject);
    const mine = cm('kept');
    const before = JSON.stringify(mine);
    await reg.create(CONFIGMAPS, 'ns', mine);
    assert.equal(JSON.stringify(mine), before);
    const body = cm('owned');
    await reg.create(CONFIGMAPS, 'ns', body, { owned: true });
    assert.equal(body.metadata.namespace, 'ns', 'changed in place');
    assert.ok(body.metadata.uid);
  });
});

test('the answer to a create is what a read of the stored object returns, field order included', async () => {
  await withRegistry(async (reg) => {
    await reg.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } } as KObject);
    const body = { data: { b: '2' }, metadata: { labels: { x: 'y' }, generateName: 'gen-' }, kind: 'ConfigMap', apiVersion: 'v1' } as unknown as KObject;
    const out = await reg.create(CONFIGMAPS, 'ns', body, { owned: true });
    const read = await reg.get(CONFIGMAPS, 'ns', out.metadata.name!);
    assert.equal(JSON.stringify(out), JSON.stringify(read));
  });
});
