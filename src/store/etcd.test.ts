// Runs the Store conformance suite against a real etcd started for this file, plus what only the etcd
// backend has to show: prefix isolation on a shared etcd and watches that ride out an etcd restart.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Recorder, rejectsWith, settle, storeConformance } from './conformance.js';
import { EtcdStore } from './etcd.js';
import { etcdSkipReason, startEtcd, type TestEtcd } from './testing/etcd.js';
import { isStoreError, type KeyValue } from './types.js';

const skip = etcdSkipReason();

describe('etcd backend', { skip }, () => {
  let etcd: TestEtcd;
  let n = 0;
  const open = (extra: { watchRetryMs?: number } = {}) => EtcdStore.open({ endpoints: [etcd.endpoint], prefix: `/test${n++}`, ...extra });

  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });

  storeConformance('etcd', () => open());

  it('stores keys under its prefix, invisible to a store with another prefix', async () => {
    const a = await open();
    const b = await open();
    try {
      await a.create('/x/1', 'a');
      assert.equal(await b.get('/x/1'), undefined);
      assert.equal(await b.count('/x/'), 0);
      await b.create('/x/1', 'b');
      assert.equal((await a.get('/x/1'))?.value, 'a');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('lists more than the 4 MB gRPC allows by default in one response', async () => {
    const s = await open();
    try {
      const value = 'v'.repeat(1000);
      for (let i = 0; i < 6000; i += 200) {
        await Promise.all(Array.from({ length: 200 }, (_, j) => s.create(`/big/${String(i + j).padStart(5, '0')}`, value)));
      }
      const l = await s.list('/big/');
      assert.equal(l.items.length, 6000);
      assert.equal(l.items[5999].key, '/big/05999');
    } finally {
      await s.close();
    }
  });

  it('fails to open with Unavailable when nothing answers', async () => {
    await rejectsWith(EtcdStore.open({ endpoints: ['http://127.0.0.1:1'], requestTimeoutMs: 2000 }), 'Unavailable');
  });

  it('a watch survives an etcd crash and restart with no event lost or repeated', { timeout: 60_000 }, async () => {
    const s = await open();
    try {
      const rec = new Recorder();
      const w = await s.watch('/rs/', await s.currentRevision(), rec);
      const acked: KeyValue[] = [];
      for (let i = 0; i < 5; i++) acked.push(await s.create(`/rs/before${i}`, 'v'));
      await rec.waitFor(5);
      etcd.kill9();
      await etcd.restart();
      // Reads retry over the reconnect; the first write may still meet the dead connection.
      for (let i = 0; i < 5; i++) {
        for (let attempt = 0; ; attempt++) {
          try {
            acked.push(await s.create(`/rs/after${i}`, 'v'));
            break;
          } catch (err) {
            if (!isStoreError(err, 'Unavailable') || attempt > 50) throw err;
            await settle(100);
          }
        }
      }
      await rec.waitFor(10);
      await settle(300);
      w.close();
      assert.deepEqual(rec.errors, []);
      assert.deepEqual(
        rec.events.map((e) => e.revision),
        acked.map((kv) => kv.modRevision),
      );
    } finally {
      await s.close();
    }
  });

  it('a watch reports Unavailable when etcd stays away longer than its retry budget', { timeout: 60_000 }, async () => {
    const s = await open({ watchRetryMs: 500 });
    try {
      const rec = new Recorder();
      await s.watch('/gone/', await s.currentRevision(), rec);
      etcd.kill9();
      const err = await rec.waitForError(15_000);
      assert.ok(isStoreError(err, 'Unavailable'), String(err));
    } finally {
      await etcd.restart();
      await s.close();
    }
  });
});
