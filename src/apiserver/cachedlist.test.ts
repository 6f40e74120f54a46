// The consistent read from the watch cache against a cache that lags its store: the store's watch is held
// back by the test, so the order "write acknowledged, read asked, cache still behind" happens every run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIGMAPS } from '../api/kinds.js';
import { ApiError } from '../api/status.js';
import { MemoryStore } from '../store/memory.js';
import type { Store, WatchEvent, WatchHandlers } from '../store/types.js';
import { type CachedList, ListSnapshots, cacheReady, continueCached, getCached, listCached } from './cachedlist.js';
import { parseLabelSelector } from './selectors.js';
import { WatchCache } from './watchcache.js';

/** The store as it is, except that its watch events wait while held and arrive, in order, on release. */
function heldWatch(inner: Store): { store: Store; hold(): void; release(): void } {
  let held = false;
  const waiting: { h: WatchHandlers; events: WatchEvent[] }[] = [];
  const store = new Proxy(inner, {
    get(target, prop, recv) {
      if (prop === 'watch') {
        return (prefix: string, from: number, h: WatchHandlers) =>
          target.watch(prefix, from, {
            onEvents: (events) => (held ? waiting.push({ h, events }) : h.onEvents(events)),
            onError: (e) => h.onError(e),
          });
      }
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return {
    store,
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
      for (const w of waiting.splice(0)) w.h.onEvents(w.events);
    },
  };
}

const cm = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', uid: name }, data: { k: name } });
const KEY = '/registry/core/configmaps/default/a';
/** Event-loop turns enough for any delivery the store had queued (it delivers on setImmediate). */
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

test('a consistent read waits for the cache to see the acknowledged write, then answers with it', async () => {
  const inner = new MemoryStore();
  const w = heldWatch(inner);
  const cache = await WatchCache.start(w.store);
  try {
    w.hold();
    const made = await inner.create(KEY, cm('a'));
    await turns(5);
    assert.equal(getCached(cache, CONFIGMAPS, 'default', 'a'), undefined, 'the cache is behind the store');
    let answered = false;
    const ready = cacheReady(cache, inner, undefined, 10_000).then((v) => {
      answered = true;
      return v;
    });
    await turns(20);
    assert.equal(answered, false, 'the read did not answer from a cache behind the store');
    w.release();
    assert.equal(await ready, true);
    const got = getCached(cache, CONFIGMAPS, 'default', 'a');
    assert.equal(got?.revision, made.modRevision);
    assert.equal(got?.object.metadata.resourceVersion, String(made.modRevision));
  } finally {
    cache.close();
    await inner.close();
  }
});

test('a cache that does not catch up in time: the consistent read goes to the store, a newer resourceVersion is a 504', async () => {
  const inner = new MemoryStore();
  const w = heldWatch(inner);
  const cache = await WatchCache.start(w.store);
  try {
    w.hold();
    const made = await inner.create(KEY, cm('a'));
    assert.equal(await cacheReady(cache, inner, undefined, 50), false, 'to the store, not a stale answer');
    // resourceVersion="0": any state the cache has is allowed.
    assert.equal(await cacheReady(cache, inner, 0, 50), true);
    await assert.rejects(cacheReady(cache, inner, made.modRevision, 50), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 504);
      assert.equal(e.message, `Too large resource version: ${made.modRevision}, current: ${made.modRevision - 1}`);
      return true;
    });
    w.release();
    assert.equal(await cacheReady(cache, inner, made.modRevision, 1000), true);
    assert.equal(await cacheReady(cache, inner, undefined, 1000), true);
  } finally {
    cache.close();
    await inner.close();
  }
});

/** ConfigMap c<i> with label tier=<even|odd>. */
const cmi = (i: number, data = `v${i}`) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `c${i}`, namespace: 'default', uid: `u${i}`, labels: { tier: i % 2 ? 'odd' : 'even' } },
    data: { k: data },
  });
const cmKey = (i: number) => `/registry/core/configmaps/default/c${i}`;
const names = (l: CachedList) => l.items.map((c) => `${c.object.metadata.name}=${(c.object as { data?: { k?: string } }).data?.k}`);

/** Runs f against a store holding c0…c5 and a cache caught up to it, closing both whatever f does. */
async function withSixConfigMaps(f: (store: MemoryStore, cache: WatchCache) => Promise<void>): Promise<void> {
  const store = new MemoryStore();
  for (let i = 0; i < 6; i++) await store.create(cmKey(i), cmi(i));
  const cache = await WatchCache.start(store);
  try {
    await cacheReady(cache, store, undefined);
    await f(store, cache);
  } finally {
    cache.close();
    await store.close();
  }
}

test('pages after the first come from its snapshot: the list is the one at the first page’s revision, whatever changed since', async () => {
  await withSixConfigMaps(async (store, cache) => {
    const snaps = new ListSnapshots();
    const first = listCached(cache, CONFIGMAPS, 'default', { limit: 2 }, snaps);
    assert.deepEqual(names(first), ['c0=v0', 'c1=v1']);
    assert.equal(first.remainingItemCount, 4);
    assert.equal(snaps.size, 1);
    // After the first page: c2 changes, c3 goes, c9 comes; the next pages must not see any of it.
    const c2 = await store.get(cmKey(2));
    await store.update(cmKey(2), cmi(2, 'changed'), c2!.modRevision);
    await store.delete(cmKey(3));
    await store.create(cmKey(9), cmi(9));
    await cacheReady(cache, store, undefined);
    assert.equal(getCached(cache, CONFIGMAPS, 'default', 'c3'), undefined, 'the cache itself has moved on');
    const second = continueCached(snaps, CONFIGMAPS, 'default', { limit: 2, continue: first.continue });
    assert.ok(second, 'the snapshot answers the second page');
    assert.deepEqual(names(second), ['c2=v2', 'c3=v3']);
    assert.equal(second.resourceVersion, first.resourceVersion);
    assert.equal(second.remainingItemCount, 2);
    const third = continueCached(snaps, CONFIGMAPS, 'default', { limit: 2, continue: second.continue });
    assert.deepEqual(names(third!), ['c4=v4', 'c5=v5']);
    assert.equal(third!.continue, undefined, 'the last page has no continue');
    // A fresh list sees the new state and starts its own snapshot.
    const fresh = listCached(cache, CONFIGMAPS, 'default', { limit: 10 }, snaps);
    assert.deepEqual(names(fresh), ['c0=v0', 'c1=v1', 'c2=changed', 'c4=v4', 'c5=v5', 'c9=v9']);
  });
});

test('with a label selector each page keeps filtering the snapshot; the last page may be short', async () => {
  await withSixConfigMaps(async (store, cache) => {
    const snaps = new ListSnapshots();
    const odd = parseLabelSelector('tier=odd');
    const first = listCached(cache, CONFIGMAPS, 'default', { limit: 2, labelSelector: odd }, snaps);
    assert.deepEqual(names(first), ['c1=v1', 'c3=v3']);
    assert.equal(first.remainingItemCount, undefined, 'not counted under a selector, as upstream');
    await store.delete(cmKey(5));
    await cacheReady(cache, store, undefined);
    const second = continueCached(snaps, CONFIGMAPS, 'default', { limit: 2, labelSelector: odd, continue: first.continue });
    assert.deepEqual(names(second!), ['c5=v5']);
    assert.equal(second!.continue, undefined);
  });
});

test('a snapshot not asked for within its time, or pushed out by newer ones, is gone: the store answers that token', async () => {
  await withSixConfigMaps(async (store, cache) => {
    let now = 0;
    const snaps = new ListSnapshots(2, 1000, () => now);
    const first = listCached(cache, CONFIGMAPS, 'default', { limit: 2 }, snaps);
    now = 999;
    assert.ok(continueCached(snaps, CONFIGMAPS, 'default', { limit: 2, continue: first.continue }), 'in time: answered, and its clock restarts');
    now = 1998;
    assert.ok(continueCached(snaps, CONFIGMAPS, 'default', { limit: 2, continue: first.continue }));
    now = 3000;
    assert.equal(continueCached(snaps, CONFIGMAPS, 'default', { limit: 2, continue: first.continue }), undefined, 'idle past its time');
    // At most two kept: a third first page pushes out the least recently used.
    const a = listCached(cache, CONFIGMAPS, 'default', { limit: 1 }, snaps);
    await store.create(cmKey(7), cmi(7));
    await cacheReady(cache, store, undefined);
    listCached(cache, CONFIGMAPS, 'default', { limit: 1 }, snaps);
    await store.create(cmKey(8), cmi(8));
    await cacheReady(cache, store, undefined);
    listCached(cache, CONFIGMAPS, 'default', { limit: 1 }, snaps);
    assert.equal(snaps.size, 2);
    assert.equal(continueCached(snaps, CONFIGMAPS, 'default', { limit: 1, continue: a.continue }), undefined);
  });
});

test('a continue token that is malformed or names another list is a 400, snapshot or not', async () => {
  await withSixConfigMaps(async (_store, cache) => {
    const snaps = new ListSnapshots();
    const first = listCached(cache, CONFIGMAPS, 'default', { limit: 2 }, snaps);
    for (const [token, why] of [
      ['!!', /malformed/],
      [first.continue, /another list/],
    ] as const) {
      assert.throws(
        () => continueCached(snaps, CONFIGMAPS, 'kube-system', { limit: 2, continue: token }),
        (e: unknown) => e instanceof ApiError && e.code === 400 && why.test(e.message),
      );
    }
  });
});
