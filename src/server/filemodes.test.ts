// Credentials' file modes are re-applied at every start: loosened by hand, they are 0600/0700 again after
// a restart of the server; the agent refuses a token on its command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServer } from './server.js';
import { agentCommand, agentHelp, containerLogFlags } from '../cli/agent.js';

test('the server tightens its data dir and every secret-bearing file at every start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-filemodes-'));
  const data = join(dir, 'data');
  const opts = { dataDir: data, store: 'sqlite' as const, listen: [{ host: '127.0.0.1', port: 0 }], log: () => {} };
  const files = [
    'admin.token',
    'kubeconfig',
    'kubeconfig-token',
    'store.db',
    'pki/ca.key',
    'pki/server.key',
    'pki/service-account.key',
    'pki/apiserver-kubelet-client.key',
  ];
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
  await assert.rejects(
    agentCommand(['--server', 'https://127.0.0.1:6443', '--token', 'secret', '--ca-file', '/nonexistent', '--node-name', 'n1']),
    (e: Error) => /--token is refused/.test(e.message) && /--bootstrap-token-file FILE/.test(e.message) && !e.message.includes('secret'),
  );
  await assert.rejects(
    agentCommand(['--server', 'https://127.0.0.1:6443', '--token-file', '/nonexistent', '--ca-file', '/nonexistent', '--node-name', 'n1']),
    (e: Error) => /--token-file is no longer used: the API server calls agents with its own client certificate/.test(e.message),
  );
});

test('k8ts agent refuses container log limits that make no sense, naming the flag', async () => {
  const base = ['--server', 'https://127.0.0.1:6443', '--ca-file', '/nonexistent', '--node-name', 'n1'];
  for (const [flag, value, want] of [
    ['--container-log-max-size', '10Q', /--container-log-max-size "10Q": quantities must match/],
    ['--container-log-max-size', '10iK', /--container-log-max-size "10iK": unable to parse quantity's suffix/],
    ['--container-log-max-size', '-1Mi', /--container-log-max-size "-1Mi": expected a whole number of bytes from 4Ki to 1Ti/],
    ['--container-log-max-size', '100', /from 4Ki to 1Ti/],
    ['--container-log-max-size', '1.5', /from 4Ki to 1Ti/],
    ['--container-log-max-size', '2Ti', /from 4Ki to 1Ti/],
    ['--container-log-max-size', '10Mi; rm -rf /', /--container-log-max-size "10Mi; rm -rf \/": quantities must match/],
    ['--container-log-max-files', '1', /--container-log-max-files 1: expected a whole number from 2/],
    ['--container-log-max-files', '2.5', /--container-log-max-files 2.5: expected a whole number from 2/],
    ['--container-log-max-files', '1e9', /--container-log-max-files 1000000000: expected a whole number from 2/],
    ['--container-log-max-files', 'five', /flag --container-log-max-files: "five" is not a number/],
  ] as const) {
    await assert.rejects(agentCommand([...base, flag, value]), (e: Error) => want.test(e.message), `${flag} ${value}`);
  }
  assert.deepEqual(containerLogFlags('10Mi', 5), { maxBytes: 10 * 1024 * 1024, maxFiles: 5 });
  assert.deepEqual(containerLogFlags('4Ki', 2), { maxBytes: 4096, maxFiles: 2 });
  assert.match(agentHelp, /--container-log-max-size SIZE/);
  assert.match(agentHelp, /--container-log-max-files N/);
});
