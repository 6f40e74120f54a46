// Credentials' file modes are re-applied at every start: loosened by hand, they are 0600/0700 again after
// a restart of the server; the agent refuses a token on its command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServer } from './server.js';
import { agentCommand } from '../cli/agent.js';

test('the server tightens its data dir and every secret-bearing file at every start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-filemodes-'));
  const data = join(dir, 'data');
  const opts = { dataDir: data, store: 'sqlite' as const, listen: [{ host: '127.0.0.1', port: 0 }], log: () => {} };
  const files = ['admin.token', 'kubeconfig', 'kubeconfig-token', 'store.db', 'pki/ca.key', 'pki/server.key', 'pki/service-account.key', 'pki/apiserver-kubelet-client.key'];
  try {
    await (await runServer(opts)).close();
    chmodSync(data, 0o755);
    chmodSync(join(data, 'pki'), 0o755);
    for (const f of files) chmodSync(join(data, f), 0o644);
    await (await runServer(opts)).close();
    assert.equal(statSync(data).mode & 0o777, 0o700, 'data dir');
    assert.equal(statSync(join(data, 'pki')).mode & 0o777, 0o700, 'pki dir');
    for (const f of files) assert.equal(statSync(join(data, f)).mode & 0o777, 0o600, f);
    assert.equal(statSync(join(data, 'pki/ca.crt')).mode & 0o777 & 0o044, 0o044, 'certificates stay readable');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('k8ts agent refuses --token and names --bootstrap-token-file; --token-file (the old shared node token) is refused naming why', async () => {
  await assert.rejects(agentCommand(['--server', 'https://127.0.0.1:6443', '--token', 'secret', '--ca-file', '/nonexistent', '--node-name', 'n1']),
    (e: Error) => /--token is refused/.test(e.message) && /--bootstrap-token-file FILE/.test(e.message) && !e.message.includes('secret'));
  await assert.rejects(agentCommand(['--server', 'https://127.0.0.1:6443', '--token-file', '/nonexistent', '--ca-file', '/nonexistent', '--node-name', 'n1']),
    (e: Error) => /--token-file is no longer used: the API server calls agents with its own client certificate/.test(e.message));
});
