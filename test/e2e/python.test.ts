// The official Python client (Debian's python3-kubernetes 22.6) against a started k8ts server and a
// real cluster: the scripts in test/e2e/python do what a new user does first and fail on the first
// surprise (API calls, watch streams and errors; exec, attach-like interaction and port-forward).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startServer, type TestServer } from './harness.js';
import { type Cluster, WEB, busybox, clusterFixture, skip as clusterSkip } from './clusterkit.js';

/** Debian's interpreter: the client is a Debian package, not on another python's path. */
export const PYTHON = '/usr/bin/python3';
export const SCRIPTS = join(ROOT, 'test/e2e/python');

export function pythonSkip(): string | false {
  // In CI the runner fails any skip (make setup installs the package).
  const r = existsSync(PYTHON) && existsSync('/usr/lib/python3/dist-packages/kubernetes/__init__.py');
  return r ? false : 'python3-kubernetes is not installed (make setup installs it)';
}

/** Runs a script; resolves with its output (every `ok …` line) or rejects with all of it. */
export function runPython(script: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-u', join(SCRIPTS, script), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1' },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    child.stderr.on('data', (b: Buffer) => (out += b));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`${script} exited ${code ?? signal}:\n${out}`));
    });
  });
}

describe('python3-kubernetes against k8ts server', { skip: pythonSkip() }, () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    await s?.stop();
  });

  test('CRUD, patches, watch streams, errors, pagination, scale, server-side apply', async () => {
    const out = await runPython('api_client.py', [s.kubeconfig, 'py-e2e']);
    assert.match(out, /ok watch stream\n/);
    assert.match(out, /ok dry-run apply writes no empty annotations\n/);
    assert.match(out, /PASS\n$/);
  });
});

describe('python3-kubernetes pod streams on a k8ts cluster', { skip: pythonSkip() || clusterSkip }, () => {
  const cluster = clusterFixture('pystreams');
  let c: Cluster;
  before(async () => {
    c = cluster();
    await c.ok(['apply', '-f', '-'], busybox('web', 'node1', WEB) + busybox('talker', 'node2', 'i=0; while true; do i=$((i+1)); echo line$i; sleep 0.2; done'));
    await c.ok(['wait', '--for=condition=Ready', 'pod/web', 'pod/talker', '--timeout=120s']);
  });

  test('exec (plain and interactive, returncode, tty), errors, port-forward over v4.channel.k8s.io, logs', async () => {
    const out = await runPython('streams_client.py', [c.kubeconfig, 'default', 'web', 'talker']);
    assert.match(out, /ok returncode of a failing command\n/);
    assert.match(out, /ok port-forward answer\n/);
    assert.match(out, /ok log follow yields new lines in order\n/);
    assert.match(out, /PASS\n$/);
  });
});
