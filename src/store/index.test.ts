// openStore picks the backend and refuses an incomplete configuration up front.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStore } from './index.js';

describe('openStore', () => {
  it('opens the memory and sqlite backends', async () => {
    const mem = await openStore({ backend: 'memory' });
    assert.equal(mem.backend, 'memory');
    await mem.close();
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-open-'));
    try {
      const s = await openStore({ backend: 'sqlite', dataDir: dir });
      assert.equal(s.backend, 'sqlite');
      await s.create('/a', 'b');
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says what is missing from the configuration', async () => {
    await assert.rejects(openStore({ backend: 'sqlite' }), /data dir/);
    await assert.rejects(openStore({ backend: 'etcd' }), /endpoint/);
    await assert.rejects(openStore({ backend: 'redis' as 'memory' }), /unknown store backend "redis"/);
  });
});
