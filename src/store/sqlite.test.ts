// Runs the Store conformance suite against SQLite, plus what only a file-backed store has to show:
// persistence across reopen, group commit keeping results apart, and the poll fallback.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Recorder, rejectsWith, settle, storeConformance } from './conformance.js';
import { SqliteStore } from './sqlite.js';
import { isStoreError } from './types.js';

const root = mkdtempSync(join(tmpdir(), 'k8ts-sqlite-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `s${n++}`);

storeConformance('sqlite', () => SqliteStore.open({ dataDir: freshDir() }));

describe('SqliteStore', () => {
  it('keeps data, revisions and the compaction point across close and reopen', async () => {
    const dataDir = freshDir();
    const s1 = await SqliteStore.open({ dataDir });
    const a = await s1.create('/r/a', 'a1');
    const b = await s1.create('/r/b', 'b1');
    const a2 = await s1.update('/r/a', 'a2', a.modRevision);
    const del = await s1.delete('/r/b');
    await s1.compact(a2.modRevision);
    await s1.close();

    const s2 = await SqliteStore.open({ dataDir });
    try {
      assert.equal(await s2.currentRevision(), del.revision);
      assert.deepEqual(await s2.get('/r/a'), a2);
      assert.equal(await s2.get('/r/b'), undefined);
      await rejectsWith(s2.watch('/r/', a.modRevision, new Recorder()), 'Compacted');
      const rec = new Recorder();
      const w = await s2.watch('/r/', a2.modRevision, rec);
      await rec.waitFor(1);
      w.close();
      assert.deepEqual(rec.events, [{ type: 'delete', key: '/r/b', revision: del.revision, prev: b }]);
      const c = await s2.create('/r/c', 'c1');
      assert.equal(c.modRevision, del.revision + 1);
      await rejectsWith(s2.update('/r/a', 'stale', a.modRevision), 'Conflict');
    } finally {
      await s2.close();
    }
  });

  it('fails to open with Unavailable naming the file when the data dir is unusable', async () => {
    const notADir = join(root, 'plain-file');
    writeFileSync(notADir, 'x');
    const err = await rejectsWith(SqliteStore.open({ dataDir: notADir }), 'Unavailable');
    assert.match(err.message, /plain-file/);
  });

  it('group commit: concurrent writes in one batch each get their own result or error', async () => {
    const s = await SqliteStore.open({ dataDir: freshDir() });
    try {
      const base = await s.create('/g/base', 'v0');
      // All issued in one tick, so they share one transaction.
      const results = await Promise.allSettled([
        s.create('/g/a', '1'),
        s.create('/g/a', '2'),
        s.update('/g/base', 'v1', base.modRevision),
        s.update('/g/base', 'v2', base.modRevision),
        s.delete('/g/none'),
        s.create('/g/b', '3'),
        s.delete('/g/a'),
      ]);
      const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : isStoreError(r.reason) ? r.reason.code : 'other'));
      assert.deepEqual(codes, ['ok', 'KeyExists', 'ok', 'Conflict', 'NotFound', 'ok', 'ok']);
      const revs = results.flatMap((r) => (r.status === 'fulfilled' ? ['modRevision' in r.value ? r.value.modRevision : r.value.revision] : []));
      assert.deepEqual(revs, [base.modRevision + 1, base.modRevision + 2, base.modRevision + 3, base.modRevision + 4]);
      assert.equal((await s.get('/g/base'))?.value, 'v1');
      assert.equal(await s.get('/g/a'), undefined);
    } finally {
      await s.close();
    }
  });

  it('writer thread: writes issued across many turns, while earlier groups commit, get revisions in call order; the watch sees that order', async () => {
    const s = await SqliteStore.open({ dataDir: freshDir() });
    try {
      const rec = new Recorder();
      const w = await s.watch('/ord/', await s.currentRevision(), rec);
      const calls: Promise<{ modRevision: number }>[] = [];
      for (let i = 0; i < 300; i++) {
        calls.push(s.create(`/ord/${String(i).padStart(3, '0')}`, String(i)));
        // New turns while the writer is busy with the groups before: several groups in flight.
        if (i % 7 === 0) await new Promise((r) => setImmediate(r));
      }
      const revs = (await Promise.all(calls)).map((kv) => kv.modRevision);
      for (let i = 1; i < revs.length; i++) assert.equal(revs[i], revs[i - 1] + 1, `call ${i} got revision ${revs[i]} after ${revs[i - 1]}`);
      await rec.waitFor(300);
      w.close();
      assert.deepEqual(
        rec.events.map((e) => e.revision),
        revs,
      );
      assert.deepEqual(
        rec.events.map((e) => e.key),
        revs.map((_, i) => `/ord/${String(i).padStart(3, '0')}`),
      );
      // Acknowledged means readable at once on the reading connection.
      const last = await s.get('/ord/299');
      assert.equal(last?.modRevision, revs[299]);
    } finally {
      await s.close();
    }
  });

  it('writer thread gone: writes fail Unavailable naming it, reads and close still work', async () => {
    const s = await SqliteStore.open({ dataDir: freshDir() });
    const a = await s.create('/gone/a', '1');
    await (s as unknown as { writer: { terminate(): Promise<number> } }).writer.terminate();
    const err = await rejectsWith(s.create('/gone/b', '2'), 'Unavailable');
    assert.match(err.message, /writer thread/);
    assert.deepEqual(await s.get('/gone/a'), a);
    await s.close();
  });

  it('notices writes made by another process on the same file (poll fallback)', async () => {
    const dataDir = freshDir();
    const watching = await SqliteStore.open({ dataDir, pollIntervalMs: 50 });
    const other = await SqliteStore.open({ dataDir, pollIntervalMs: 0 });
    try {
      const rec = new Recorder();
      const w = await watching.watch('/ext/', await watching.currentRevision(), rec);
      const x = await other.create('/ext/x', 'from elsewhere');
      const own = await watching.create('/ext/y', 'mine');
      const x2 = await other.update('/ext/x', 'again', x.modRevision);
      await rec.waitFor(3);
      await settle();
      w.close();
      assert.deepEqual(
        rec.events.map((e) => e.revision),
        [x.modRevision, own.modRevision, x2.modRevision],
      );
      // Conflict detection sees writes of the other process too.
      await rejectsWith(watching.update('/ext/x', 'stale', x.modRevision), 'Conflict');
    } finally {
      await watching.close();
      await other.close();
    }
  });

  it('compaction keeps the latest row of every live key and drops the rest', async () => {
    const dataDir = freshDir();
    const s = await SqliteStore.open({ dataDir });
    let kv = await s.create('/cmp/a', '0');
    for (let i = 1; i <= 20; i++) kv = await s.update('/cmp/a', String(i), kv.modRevision);
    await s.create('/cmp/b', 'b');
    await s.delete('/cmp/b');
    await s.compact(await s.currentRevision());
    await s.close();
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(dataDir, 'store.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT id, name, value FROM kv ORDER BY id').all();
      assert.deepEqual(rows, [{ id: kv.modRevision, name: '/cmp/a', value: '20' }]);
    } finally {
      db.close();
    }
  });
});
