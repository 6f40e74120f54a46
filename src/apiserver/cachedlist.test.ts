// The consistent read from the watch cache against a cache that lags its store: the store's watch is held
// back by the test, so the order "write acknowledged, read asked, cache still behind" happens every run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIGMAPS } from '../api/kinds.js';
import { ApiError } from '../api/status.js';
import { MemoryStore } from '../store/memory.js';
import type { Store, WatchEvent, WatchHandlers } from '../store/types.js';
import { cacheReady, getCached } from './cachedlist.js';
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
