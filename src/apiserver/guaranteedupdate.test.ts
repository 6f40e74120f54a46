// Updates start from the watch cache's object; a cache behind the store must cost a retry, never a lost
// update or a wrong answer. The cache is made stale for real: its store watch is closed, so it keeps the
// state it had while the store moves on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../store/memory.js';
import { CONFIGMAPS, NAMESPACES } from '../api/kinds.js';
import { storageKey } from '../api/resources.js';
import { Registry } from './registry.js';
import { WatchCache } from './watchcache.js';
import { eventually } from '../testing/eventually.js';

async function staleSetup() {
  const store = new MemoryStore();
  const cache = await WatchCache.start(store);
  const reg = new Registry(store, cache);
  await reg.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } });
  const created = await reg.create(CONFIGMAPS, 'ns', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: '1' } });
  const key = storageKey(CONFIGMAPS, 'ns', 'c');
  await eventually('the cache has the ConfigMap', async () => cache.object(key)?.revision === Number(created.metadata.resourceVersion));
  cache.close();
  // Behind the cache's back: another writer adds b.
  const cur = await store.get(key);
  const next = JSON.parse(cur!.value);
  next.data.b = '2';
  const moved = await store.update(key, JSON.stringify(next), cur!.modRevision);
  assert.equal(cache.object(key)?.revision, cur!.modRevision, 'the cache is behind the store');
  return { reg, store, key, movedRv: String(moved.modRevision) };
}

test('a patch started from a stale cached object is retried from the store: the other write is kept', async () => {
  const { reg, movedRv } = await staleSetup();
  const { object } = await reg.patch(CONFIGMAPS, 'ns', 'c', 'merge', { data: { c: '3' } });
  assert.deepEqual(object.data, { a: '1', b: '2', c: '3' });
  assert.ok(Number(object.metadata.resourceVersion) > Number(movedRv));
});

test("a precondition on the store's resourceVersion holds though the cache has an older one", async () => {
  const { reg, movedRv } = await staleSetup();
  const { object } = await reg.patch(CONFIGMAPS, 'ns', 'c', 'merge', { metadata: { resourceVersion: movedRv }, data: { c: '3' } });
  assert.deepEqual(object.data, { a: '1', b: '2', c: '3' });
});

test("a patch that changes nothing answers the store's object, not the stale cached one", async () => {
  const { reg, movedRv } = await staleSetup();
  const { object } = await reg.patch(CONFIGMAPS, 'ns', 'c', 'merge', { data: { a: '1' } });
  assert.equal(object.metadata.resourceVersion, movedRv);
  assert.deepEqual(object.data, { a: '1', b: '2' });
});
