// Crash safety: a writer process is killed with SIGKILL mid-stream (for etcd, etcd itself too), and every
// write it had acknowledged must be there after reopening.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { EtcdStore } from './etcd.js';
import { SqliteStore } from './sqlite.js';
import { etcdSkipReason, startEtcd } from './testing/etcd.js';
import type { Store } from './types.js';

const WRITER = fileURLToPath(new URL('./testing/writer.js', import.meta.url));

/** Runs the writer until it has acknowledged `target` keys, then SIGKILLs it mid-stream (and calls
 *  alsoKill right after, to take etcd down at the same moment). */
function runAndKill(args: string[], target: number, alsoKill?: () => void): Promise<{ acked: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: string[] = [];
    let partial = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer acknowledged only ${acked.length} of ${target} writes in 30 s: ${stderr}`));
    }, 30_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      if (killed) return;
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!; // a line cut by the kill is not an acknowledgement
      acked.push(...lines);
      if (acked.length >= target) {
        killed = true;
        child.kill('SIGKILL');
        alsoKill?.();
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' && killed) resolve({ acked });
      else reject(new Error(`writer exited early (${code ?? signal}): ${stderr}`));
    });
  });
}

async function assertAllPresent(store: Store, acked: string[]): Promise<void> {
  assert.ok(acked.length > 0);
  const missing: string[] = [];
  for (const key of acked) {
    const kv = await store.get(key);
    if (!kv || (JSON.parse(kv.value) as { key: string }).key !== key) missing.push(key);
  }
  assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged writes lost`);
  assert.ok((await store.count('/durability/')) >= acked.length);
}

describe('durability after kill -9', () => {
  const root = mkdtempSync(join(tmpdir(), 'k8ts-durability-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('sqlite: every acknowledged write survives the writer being killed', { timeout: 60_000 }, async () => {
    for (const [round, target] of [
      [0, 150],
      [1, 400],
      [2, 900],
    ] as const) {
      const dataDir = join(root, `sqlite-${round}`);
      const { acked } = await runAndKill(['sqlite', dataDir], target);
      const store = await SqliteStore.open({ dataDir });
      try {
        await assertAllPresent(store, acked);
        // The store goes on from where it was: a new write takes the next revision.
        const before = await store.currentRevision();
        assert.equal((await store.create('/after/crash', 'x')).modRevision, before + 1);
      } finally {
        await store.close();
      }
    }
  });

  it('etcd: every acknowledged write survives the writer and etcd being killed', { skip: etcdSkipReason(), timeout: 120_000 }, async () => {
    const etcd = await startEtcd();
    try {
      for (const [round, target] of [
        [0, 150],
        [1, 600],
      ] as const) {
        const prefix = `/dur${round}`;
        const { acked } = await runAndKill(['etcd', etcd.endpoint, prefix], target, () => etcd.kill9());
        await etcd.restart();
        const store = await EtcdStore.open({ endpoints: [etcd.endpoint], prefix });
        try {
          await assertAllPresent(store, acked);
        } finally {
          await store.close();
        }
      }
    } finally {
      await etcd.stop();
    }
  });
});
