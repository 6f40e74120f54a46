// Real kubectl logs through handleStream: whole log, --tail, --timestamps, and -f with lines appearing live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kubectlBinary, skipReason } from '../../testing/kubectl-harness.js';
import { startStreamHarness } from './testing/kubectl-streams.js';

for (const version of ['1.32', '1.27', '1.33']) {
  test(`kubectl ${version} logs`, { skip: skipReason(version) }, async (tt) => {
    const bin = kubectlBinary(version)!;
    const s = await startStreamHarness();
    try {
      s.backend.appendLog('one', new Date('2025-01-02T03:04:05.006Z'));
      s.backend.appendLog('two', new Date('2025-01-02T03:04:06Z'));
      s.backend.appendLog('three', new Date('2025-01-02T03:04:07Z'));

      await tt.test('the whole log', async () => {
        assert.deepEqual(await s.h.kubectl(bin, ['logs', 'web']), { code: 0, stdout: 'one\ntwo\nthree\n', stderr: '' });
        assert.equal(s.h.requests.at(-1)?.url, '/api/v1/namespaces/default/pods/web/log?container=main');
      });

      await tt.test('--tail=1', async () => {
        assert.equal((await s.h.kubectl(bin, ['logs', 'web', '--tail=1'])).stdout, 'three\n');
        assert.equal(s.backend.logOpens.at(-1)?.tailLines, 1);
      });

      await tt.test('--timestamps', async () => {
        const r = await s.h.kubectl(bin, ['logs', 'web', '--timestamps', '--tail=2']);
        assert.equal(r.stdout, '2025-01-02T03:04:06.000000000Z two\n2025-01-02T03:04:07.000000000Z three\n');
      });

      await tt.test('--limit-bytes and --since reach the backend', async () => {
        const r = await s.h.kubectl(bin, ['logs', 'web', '--limit-bytes=6', '--since=87600h']);
        assert.equal(r.stdout, 'one\ntw');
        assert.equal(s.backend.logOpens.at(-1)?.limitBytes, 6);
        assert.equal(s.backend.logOpens.at(-1)?.sinceSeconds, 87600 * 3600);
      });

      await tt.test('-f: lines appear as they are written, and kubectl exits when the log ends', async () => {
        const p = s.spawn(bin, ['logs', '-f', 'web', '--tail=1']);
        await p.waitFor(/^three\n$/);
        s.backend.appendLog('four');
        await p.waitFor(/^three\nfour\n$/);
        s.backend.appendLog('five');
        await p.waitFor(/^three\nfour\nfive\n$/);
        assert.ok(p.running);
        s.backend.endLogs();
        const exit = await p.wait(10_000);
        assert.equal(exit.code, 0);
        assert.equal(p.stdout, 'three\nfour\nfive\n');
        assert.equal(s.backend.logOpens.at(-1)?.follow, true);
      });

      await tt.test('-f: when kubectl is stopped the follow reader is released', async () => {
        const p = s.spawn(bin, ['logs', '-f', 'web']);
        await p.waitFor(/five\n$/);
        assert.equal(s.backend.live().readers, 1);
        await p.kill();
        const deadline = Date.now() + 5000;
        while (s.backend.live().readers > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(s.backend.live().readers, 0);
      });

      await tt.test('a container that is not running', async () => {
        s.backend.running = false;
        const r = await s.h.kubectl(bin, ['logs', 'web']);
        s.backend.running = true;
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'Error from server (BadRequest): container "main" in pod "web" is waiting to start: ContainerCreating\n');
      });
      await Promise.all(s.sessions);
    } finally {
      await s.close();
    }
  });
}
