// The one conformance suite of the Store contract; every backend's test file runs it against a factory.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStoreError, type KeyValue, type Store, type StoreErrorCode, type WatchEvent, type WatchHandlers } from './types.js';

/** Opens a fresh, empty store; each test opens its own and closes it. */
export type StoreFactory = () => Promise<Store>;

const T = { timeout: 60_000 };

export function storeConformance(label: string, open: StoreFactory): void {
  const withStore = async (fn: (s: Store) => Promise<void>): Promise<void> => {
    const s = await open();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  };

  describe(`Store conformance (${label})`, () => {
    it('gives every write a new, higher, global revision', T, () =>
      withStore(async (s) => {
        const r0 = await s.currentRevision();
        const a = await s.create('/t/a', 'A1 ✓ ü {"json":true}');
        assert.ok(a.modRevision > r0);
        assert.equal(a.createRevision, a.modRevision);
        assert.deepEqual(a, { key: '/t/a', value: 'A1 ✓ ü {"json":true}', createRevision: a.modRevision, modRevision: a.modRevision });
        const b = await s.create('/u/b', '');
        assert.ok(b.modRevision > a.modRevision, 'revisions are global across keys and prefixes');
        assert.equal(await s.currentRevision(), b.modRevision);
        const a2 = await s.update('/t/a', 'A2', a.modRevision);
        assert.ok(a2.modRevision > b.modRevision);
        assert.equal(a2.createRevision, a.createRevision, 'update keeps the create revision');
        const d = await s.delete('/u/b');
        assert.ok(d.revision > a2.modRevision);
        assert.deepEqual(d.prev, b);
        assert.equal(await s.currentRevision(), d.revision);
        assert.deepEqual(await s.get('/t/a'), a2);
        assert.equal(await s.get('/u/b'), undefined);
        assert.equal(await s.get('/never'), undefined);
      }),
    );

    it('create fails with KeyExists while the key exists and works again after a delete', T, () =>
      withStore(async (s) => {
        const a = await s.create('/k/a', 'one');
        await rejectsWith(s.create('/k/a', 'two'), 'KeyExists');
        assert.deepEqual(await s.get('/k/a'), a, 'the failed create changed nothing');
        await s.delete('/k/a');
        const again = await s.create('/k/a', 'three');
        assert.ok(again.createRevision > a.createRevision);
        assert.equal(again.createRevision, again.modRevision);
        assert.equal((await s.get('/k/a'))?.value, 'three');
      }),
    );

    it('update fails with Conflict on a stale revision and NotFound when the key is absent', T, () =>
      withStore(async (s) => {
        const a = await s.create('/k/a', 'v1');
        const a2 = await s.update('/k/a', 'v2', a.modRevision);
        const err = await rejectsWith(s.update('/k/a', 'v3', a.modRevision), 'Conflict');
        assert.equal(err.revision, a2.modRevision, 'Conflict carries the current revision');
        assert.deepEqual(await s.get('/k/a'), a2);
        await rejectsWith(s.update('/k/none', 'x', a.modRevision), 'NotFound');
        await s.delete('/k/a', a2.modRevision);
        await rejectsWith(s.update('/k/a', 'v4', a2.modRevision), 'NotFound');
        assert.equal(await s.get('/k/a'), undefined, 'a failed update does not bring a key back');
      }),
    );

    it('delete is guarded by the expected revision, or not, and fails with NotFound when absent', T, () =>
      withStore(async (s) => {
        const a = await s.create('/d/a', 'A');
        const b = await s.create('/d/b', 'B');
        const a2 = await s.update('/d/a', 'A2', a.modRevision);
        await rejectsWith(s.delete('/d/a', a.modRevision), 'Conflict');
        assert.deepEqual(await s.get('/d/a'), a2, 'a refused delete keeps the key');
        const da = await s.delete('/d/a', a2.modRevision);
        assert.deepEqual(da.prev, a2);
        assert.equal(await s.currentRevision(), da.revision);
        const db = await s.delete('/d/b');
        assert.deepEqual(db.prev, b);
        assert.ok(db.revision > da.revision);
        assert.equal(await s.get('/d/a'), undefined);
        assert.equal(await s.get('/d/b'), undefined);
        await rejectsWith(s.delete('/d/a'), 'NotFound');
        await rejectsWith(s.delete('/d/b', db.revision), 'NotFound');
        assert.equal(await s.currentRevision(), db.revision, 'failed writes do not use up revisions');
      }),
    );

    it('list returns the keys under a prefix only, in key order; count agrees', T, () =>
      withStore(async (s) => {
        const keys = ['/a/2', '/ab/x', '/a/b/c', '/a/10', '/a', '/b/1', '/a/\u00e9', '/a/1', '/a/gone', '/a/\u{1F600}', '/a/\uFF21'];
        for (const k of keys) await s.create(k, `v${k}`);
        await s.delete('/a/gone');
        const l = await s.list('/a/');
        // Byte (code point) order: U+FF21 sorts before U+1F600 even though its UTF-16 unit is higher.
        const want = ['/a/1', '/a/10', '/a/2', '/a/b/c', '/a/\u00e9', '/a/\uFF21', '/a/\u{1F600}'];
        assert.deepEqual(
          l.items.map((i) => i.key),
          want,
        );
        assert.deepEqual(
          l.items.map((i) => i.value),
          want.map((k) => `v${k}`),
        );
        assert.equal(l.more, false);
        assert.equal(l.revision, await s.currentRevision());
        assert.equal(await s.count('/a/'), want.length);
        assert.equal(await s.count('/ab/'), 1);
        assert.deepEqual(
          (await s.list('/ab/')).items.map((i) => i.key),
          ['/ab/x'],
        );
        const none = await s.list('/nothing/');
        assert.deepEqual(none.items, []);
        assert.equal(none.more, false);
        assert.equal(await s.count('/nothing/'), 0);
        const one = await s.get('/a/b/c');
        assert.deepEqual(l.items[3], one);
      }),
    );

    it('list pages with limit and after at one revision form a consistent snapshot while writes go on', T, () =>
      withStore(async (s) => {
        for (let i = 0; i < 25; i++) await s.create(`/p/k${pad(i)}`, `v${i}`);
        await s.create('/p2/k00', 'other prefix');
        await s.create('/o/k00', 'before the prefix');
        const snapshot = await s.list('/p/');
        assert.equal(snapshot.items.length, 25);
        const first = await s.list('/p/', { limit: 7 });
        assert.equal(first.revision, snapshot.revision);
        assert.equal(first.more, true);
        if (first.remaining !== undefined) assert.equal(first.remaining, 18);
        // Writes between pages: none of them may show in the pages read at the first page's revision.
        const k03 = await s.get('/p/k03');
        await s.update('/p/k03', 'changed', k03!.modRevision);
        const k10 = await s.get('/p/k10');
        await s.update('/p/k10', 'changed', k10!.modRevision);
        await s.delete('/p/k12');
        await s.create('/p/k05a', 'new');
        await s.create('/p/k99', 'new');
        const pages = [first];
        let last = first;
        while (last.more) {
          const after = last.items[last.items.length - 1].key;
          last = await s.list('/p/', { limit: 7, after, revision: first.revision });
          assert.equal(last.revision, first.revision);
          if (last.remaining !== undefined) {
            const seen = pages.reduce((n, p) => n + p.items.length, 0) + last.items.length;
            assert.equal(last.remaining, 25 - seen);
          }
          pages.push(last);
          await s.create(`/p/k${pad(pages.length)}x`, 'more');
        }
        assert.deepEqual(
          pages.map((p) => p.items.length),
          [7, 7, 7, 4],
        );
        assert.deepEqual(
          pages.flatMap((p) => p.items),
          snapshot.items,
        );
        const now = await s.list('/p/');
        const nowKeys = now.items.map((i) => i.key);
        assert.ok(nowKeys.includes('/p/k05a') && nowKeys.includes('/p/k99') && !nowKeys.includes('/p/k12'));
        assert.equal(now.items.find((i) => i.key === '/p/k03')?.value, 'changed');
        // A limit bigger than what is left, and an after that is the last key.
        const tail = await s.list('/p/', { limit: 100, after: '/p/k20' });
        assert.equal(tail.more, false);
        assert.deepEqual(
          tail.items.map((i) => i.key),
          nowKeys.slice(nowKeys.indexOf('/p/k20') + 1),
        );
        const end = await s.list('/p/', { after: nowKeys[nowKeys.length - 1] });
        assert.deepEqual(end.items, []);
      }),
    );

    it('list at an older revision shows the keys as they were then', T, () =>
      withStore(async (s) => {
        const x1 = await s.create('/h/x', 'x1');
        const x2 = await s.update('/h/x', 'x2', x1.modRevision);
        const y = await s.create('/h/y', 'y1');
        const del = await s.delete('/h/x');
        await s.create('/h/x', 'x3');
        assert.deepEqual((await s.list('/h/', { revision: x1.modRevision })).items, [x1]);
        assert.deepEqual((await s.list('/h/', { revision: x2.modRevision })).items, [x2]);
        assert.deepEqual((await s.list('/h/', { revision: y.modRevision })).items, [x2, y]);
        assert.deepEqual((await s.list('/h/', { revision: del.revision })).items, [y]);
        const page = await s.list('/h/', { revision: y.modRevision, limit: 1 });
        assert.deepEqual(page.items, [x2]);
        assert.equal(page.more, true);
        assert.deepEqual((await s.list('/h/', { revision: y.modRevision, after: '/h/x' })).items, [y]);
        assert.deepEqual(
          (await s.list('/h/')).items.map((i) => i.value),
          ['x3', 'y1'],
        );
        const newest = await s.list('/h/', { revision: 0 });
        assert.deepEqual(
          newest.items.map((i) => i.value),
          ['x3', 'y1'],
          'revision 0 reads the newest state, as in etcd',
        );
        assert.equal(newest.revision, await s.currentRevision());
        await rejectsWith(s.list('/h/', { revision: (await s.currentRevision()) + 100 }), 'Unavailable');
      }),
    );

    it('watch from a past revision replays exactly the later events, then live ones, in order, once', T, () =>
      withStore(async (s) => {
        const c1 = await s.create('/w/a', 'a1');
        const u1 = await s.update('/w/a', 'a2', c1.modRevision);
        const c2 = await s.create('/w/b', 'b1');
        await s.create('/other/z', 'not watched');
        const d1 = await s.delete('/w/a');
        const rec = new Recorder();
        const watcher = await s.watch('/w/', c1.modRevision, rec);
        await rec.waitFor(3);
        const u2 = await s.update('/w/b', 'b2', c2.modRevision);
        const c3 = await s.create('/w/c', 'c1');
        const d2 = await s.delete('/w/b', u2.modRevision);
        await rec.waitFor(6);
        await settle();
        watcher.close();
        assert.deepEqual(rec.errors, []);
        assert.deepEqual(rec.events.map(brief), [
          { type: 'put', key: '/w/a', revision: u1.modRevision, value: 'a2', prev: c1 },
          { type: 'put', key: '/w/b', revision: c2.modRevision, value: 'b1', prev: undefined },
          { type: 'delete', key: '/w/a', revision: d1.revision, value: undefined, prev: u1 },
          { type: 'put', key: '/w/b', revision: u2.modRevision, value: 'b2', prev: c2 },
          { type: 'put', key: '/w/c', revision: c3.modRevision, value: 'c1', prev: undefined },
          { type: 'delete', key: '/w/b', revision: d2.revision, value: undefined, prev: u2 },
        ]);
        const put = rec.events[0];
        assert.ok(put.type === 'put');
        assert.deepEqual(put.kv, u1);
        assertWholeRevisions(rec);
      }),
    );

    it('watch from the current revision sees only new events, and only of its prefix', T, () =>
      withStore(async (s) => {
        await s.create('/x/old', 'old');
        const recX = new Recorder();
        const recXY = new Recorder();
        const wx = await s.watch('/x/', await s.currentRevision(), recX);
        const wxy = await s.watch('/xy/', await s.currentRevision(), recXY);
        const a = await s.create('/x/new', 'n');
        const b = await s.create('/xy/1', 'n');
        await s.create('/y/1', 'n');
        await s.create('/x', 'the bare prefix without its slash');
        const c = await s.create('/x/last', 'n');
        await recX.waitFor(2);
        await recXY.waitFor(1);
        await settle();
        wx.close();
        wxy.close();
        assert.deepEqual(
          recX.events.map((e) => e.revision),
          [a.modRevision, c.modRevision],
        );
        assert.deepEqual(
          recXY.events.map((e) => e.revision),
          [b.modRevision],
        );
      }),
    );

    it('watch from a revision not reached yet starts delivering after that revision', T, () =>
      withStore(async (s) => {
        const now = await s.currentRevision();
        const rec = new Recorder();
        const w = await s.watch('/f/', now + 3, rec);
        const written: number[] = [];
        for (let i = 0; i < 5; i++) written.push((await s.create(`/f/${i}`, 'v')).modRevision);
        await rec.waitFor(2);
        await settle();
        w.close();
        assert.deepEqual(
          rec.events.map((e) => e.revision),
          written.filter((r) => r > now + 3),
        );
      }),
    );

    it('a closed watcher gets no more events', T, () =>
      withStore(async (s) => {
        const rec = new Recorder();
        const w = await s.watch('/c/', await s.currentRevision(), rec);
        await s.create('/c/1', '1');
        await rec.waitFor(1);
        w.close();
        w.close();
        await s.create('/c/2', '2');
        await settle();
        assert.equal(rec.events.length, 1);
        assert.deepEqual(rec.errors, []);
      }),
    );

    it('many concurrent writers and a watcher started mid-stream: every revision once, in order', T, () =>
      withStore(async (s) => {
        const start = await s.currentRevision();
        const acked: KeyValue[] = [];
        const deleted: { key: string; revision: number }[] = [];
        let watchStarted: Promise<void> | undefined;
        const rec = new Recorder();
        let watcher: { close(): void } | undefined;
        const writer = async (w: number) => {
          let kv = await s.create(`/cc/w${pad(w)}`, 'v0');
          acked.push(kv);
          for (let i = 1; i <= 12; i++) {
            kv = await s.update(kv.key, `v${i}`, kv.modRevision);
            acked.push(kv);
            if (acked.length >= 40 && !watchStarted) {
              watchStarted = s.watch('/cc/', start, rec).then((x) => {
                watcher = x;
              });
            }
          }
          if (w % 3 === 0) deleted.push({ key: kv.key, revision: (await s.delete(kv.key, kv.modRevision)).revision });
        };
        await Promise.all(Array.from({ length: 16 }, (_, w) => writer(w)));
        await watchStarted;
        const all = acked
          .map((kv) => kv.modRevision)
          .concat(deleted.map((d) => d.revision))
          .sort((a, b) => a - b);
        assert.equal(new Set(all).size, all.length, 'no two writes share a revision');
        await rec.waitFor(all.length);
        await settle();
        watcher?.close();
        assert.deepEqual(rec.errors, []);
        assert.deepEqual(
          rec.events.map((e) => e.revision),
          all,
        );
        const byRevision = new Map(acked.map((kv) => [kv.modRevision, kv]));
        for (const e of rec.events) {
          if (e.type === 'put') assert.deepEqual(e.kv, byRevision.get(e.revision));
          else assert.ok(deleted.some((d) => d.revision === e.revision && d.key === e.key));
        }
        assertWholeRevisions(rec);
      }),
    );

    it('watch replays a history longer than one read batch', T, () =>
      withStore(async (s) => {
        const start = await s.currentRevision();
        const n = 1500;
        const revs: number[] = [];
        for (let i = 0; i < n; i += 50) {
          const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => s.create(`/long/${pad(i + j, 5)}`, `v${i + j}`)));
          for (const kv of batch) revs.push(kv.modRevision);
        }
        revs.sort((a, b) => a - b);
        const rec = new Recorder();
        const w = await s.watch('/long/', start, rec);
        const live = await s.create('/long/live', 'live');
        await rec.waitFor(n + 1);
        await settle();
        w.close();
        assert.deepEqual(
          rec.events.map((e) => e.revision),
          [...revs, live.modRevision],
        );
      }),
    );

    it('after compaction, watching or listing from before it fails with Compacted; from it on works', T, () =>
      withStore(async (s) => {
        const a1 = await s.create('/cp/a', 'a1');
        const a2 = await s.update('/cp/a', 'a2', a1.modRevision);
        const gone = await s.create('/cp/gone', 'g');
        const del = await s.delete('/cp/gone');
        const b = await s.create('/cp/b', 'b1');
        const at = del.revision;
        await s.compact(at);
        const err = await rejectsWith(s.watch('/cp/', a1.modRevision, new Recorder()), 'Compacted');
        if (err.revision !== undefined) assert.equal(err.revision, at);
        await rejectsWith(s.watch('/cp/', at - 1, new Recorder()), 'Compacted');
        await rejectsWith(s.list('/cp/', { revision: a2.modRevision }), 'Compacted');
        await rejectsWith(s.list('/cp/', { revision: at - 1, limit: 1 }), 'Compacted');
        assert.deepEqual((await s.list('/cp/', { revision: at })).items, [a2]);
        assert.deepEqual((await s.list('/cp/')).items, [a2, b]);
        assert.deepEqual(await s.get('/cp/a'), a2);
        assert.equal(await s.count('/cp/'), 2);
        const rec = new Recorder();
        const w = await s.watch('/cp/', at, rec);
        const a3 = await s.update('/cp/a', 'a3', a2.modRevision);
        const again = await s.create('/cp/gone', 'back');
        await rec.waitFor(3);
        await settle();
        w.close();
        assert.deepEqual(rec.events.map(brief), [
          { type: 'put', key: '/cp/b', revision: b.modRevision, value: 'b1', prev: undefined },
          { type: 'put', key: '/cp/a', revision: a3.modRevision, value: 'a3', prev: a2 },
          { type: 'put', key: '/cp/gone', revision: again.modRevision, value: 'back', prev: undefined },
        ]);
        assert.ok(gone.createRevision < again.createRevision);
        // Compacting again at or below the compacted revision changes nothing; the future is refused.
        await s.compact(at);
        await s.compact(at - 1);
        await rejectsWith(s.compact((await s.currentRevision()) + 1000), 'Unavailable');
        await s.compact(b.modRevision);
        await rejectsWith(s.watch('/cp/', at, new Recorder()), 'Compacted');
        assert.deepEqual(
          (await s.list('/cp/')).items.map((i) => i.value),
          ['a3', 'b1', 'back'],
        );
      }),
    );

    it('after close every call fails with Unavailable', T, async () => {
      const s = await open();
      await s.create('/z/a', 'a');
      await s.close();
      await s.close();
      await rejectsWith(s.get('/z/a'), 'Unavailable');
      await rejectsWith(s.create('/z/b', 'b'), 'Unavailable');
      await rejectsWith(s.list('/z/'), 'Unavailable');
      await rejectsWith(s.watch('/z/', 0, new Recorder()), 'Unavailable');
    });
  });
}

/** Collects what a watch delivers and lets a test wait for a number of events. */
export class Recorder implements WatchHandlers {
  readonly events: WatchEvent[] = [];
  readonly batches: WatchEvent[][] = [];
  readonly errors: Error[] = [];
  private wake: (() => void) | undefined;

  onEvents(events: WatchEvent[]): void {
    this.batches.push(events);
    this.events.push(...events);
    this.wake?.();
  }

  onError(err: Error): void {
    this.errors.push(err);
    this.wake?.();
  }

  async waitFor(n: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < n) {
      if (this.errors.length > 0) throw new Error(`watch failed after ${this.events.length} events: ${this.errors[0].message}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`waited ${timeoutMs} ms for ${n} watch events, got ${this.events.length}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Resolves at the first error, or rejects after timeoutMs. */
  async waitForError(timeoutMs = 20_000): Promise<Error> {
    const deadline = Date.now() + timeoutMs;
    while (this.errors.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`waited ${timeoutMs} ms for a watch error`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.errors[0];
  }
}

/** Gives late (duplicate or stray) events time to arrive before a test counts them. */
export function settle(ms = 150): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function rejectsWith(p: Promise<unknown>, code: StoreErrorCode) {
  try {
    await p;
  } catch (err) {
    assert.ok(isStoreError(err, code), `expected StoreError ${code}, got ${String(err)}`);
    assert.ok(err.message.length > 0);
    return err;
  }
  assert.fail(`expected StoreError ${code}, but the call succeeded`);
}

function brief(e: WatchEvent) {
  return {
    type: e.type,
    key: e.key,
    revision: e.revision,
    value: e.type === 'put' ? e.kv.value : undefined,
    prev: e.prev,
  };
}

/** Revisions strictly increase and no revision is split across two batches. */
function assertWholeRevisions(rec: Recorder): void {
  let last = -Infinity;
  for (const batch of rec.batches) {
    assert.ok(batch.length > 0, 'no empty batches');
    for (const e of batch) {
      assert.ok(e.revision > last, `revision ${e.revision} after ${last}`);
      last = e.revision;
    }
  }
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}
