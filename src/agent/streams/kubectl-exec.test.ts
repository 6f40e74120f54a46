// Real kubectl exec/attach against handleStream with local processes, on every transport kubectl uses:
// WebSocket v5 (1.30+), SPDY (≤ 1.29, or KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false), with and without a tty.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { kubectlBinary, skipReason } from '../../testing/kubectl-harness.js';
import { type StreamHarness, startStreamHarness } from './testing/kubectl-streams.js';

interface Transport {
  version: string;
  env: Record<string, string>;
  expect: 'websocket' | 'spdy';
}

const TRANSPORTS: Transport[] = [
  { version: '1.32', env: {}, expect: 'websocket' },
  { version: '1.32', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, expect: 'spdy' },
  { version: '1.27', env: {}, expect: 'spdy' },
  { version: '1.29', env: {}, expect: 'spdy' },
  { version: '1.29', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'true' }, expect: 'websocket' },
  { version: '1.33', env: {}, expect: 'websocket' },
];

function describe(t: Transport): string {
  const env = Object.entries(t.env)
    .map(([k, v]) => `${k}=${v} `)
    .join('');
  return `${env}kubectl ${t.version} (${t.expect === 'websocket' ? 'WebSocket v5' : 'SPDY'})`;
}

/** The stream requests of the last invocation all used the expected transport, with no fallback. */
function assertTransport(s: StreamHarness, from: number, t: Transport, sub: string): void {
  const reqs = s.h.requests.slice(from).filter((r) => r.url.split('?')[0].endsWith(`/${sub}`));
  assert.equal(reqs.length, 1, `one ${sub} request: ${reqs.map((r) => r.method).join(', ')}`);
  if (t.expect === 'websocket') {
    assert.equal(reqs[0].method, 'GET');
    assert.equal(reqs[0].headers.upgrade, 'websocket');
    assert.equal(reqs[0].headers['sec-websocket-protocol'], 'v5.channel.k8s.io');
  } else {
    assert.equal(reqs[0].method, 'POST');
    assert.equal(reqs[0].headers.upgrade, 'SPDY/3.1');
    assert.match(String(reqs[0].headers['x-stream-protocol-version']), /v4\.channel\.k8s\.io/);
  }
}

/** Every session ended and every process it started is gone. */
async function assertSettled(s: StreamHarness): Promise<void> {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('a stream session did not end')), 10_000).unref());
  await Promise.race([Promise.all(s.sessions), timeout]);
  const deadline = Date.now() + 5000;
  while (s.backend.live().children > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.backend.live().children, 0, 'no process left running');
}

const hasScript = ['/usr/bin/script', '/bin/script'].some((p) => existsSync(p));

for (const t of TRANSPORTS) {
  test(`exec and attach with ${describe(t)}`, { skip: skipReason(t.version) }, async (tt) => {
    const bin = kubectlBinary(t.version)!;
    const s = await startStreamHarness();
    try {
      await tt.test('stdout, stderr and the exit code', async () => {
        const from = s.h.requests.length;
        const r = await s.h.kubectl(bin, ['exec', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], '', t.env);
        assert.equal(r.stdout, 'out\n');
        assert.equal(r.stderr, 'err\ncommand terminated with exit code 3\n');
        assert.equal(r.code, 3);
        assertTransport(s, from, t, 'exec');
        await assertSettled(s);
      });

      await tt.test("stdin to the process, EOF when kubectl's stdin ends", async () => {
        const r = await s.h.kubectl(bin, ['exec', '-i', 'web', '--', 'cat'], 'hi\n', t.env);
        assert.deepEqual(r, { code: 0, stdout: 'hi\n', stderr: '' });
        const big = 'x'.repeat(300_000) + '\n';
        const r2 = await s.h.kubectl(bin, ['exec', '-i', 'web', '--', 'wc', '-c'], big, t.env);
        assert.equal(r2.stdout.trim(), String(big.length));
        await assertSettled(s);
      });

      await tt.test('a command that does not exist', async () => {
        const r = await s.h.kubectl(bin, ['exec', 'web', '--', 'no-such-command'], '', t.env);
        assert.equal(r.code, 1);
        assert.equal(
          r.stderr,
          'error: Internal error occurred: error executing command in container: exec: "no-such-command": executable file not found in $PATH\n',
        );
        await assertSettled(s);
      });

      await tt.test('a container that does not exist is refused before the upgrade', async () => {
        const r = await s.h.kubectl(bin, ['exec', 'web', '-c', 'sidecar', '--', 'true'], '', t.env);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'Error from server (NotFound): container "sidecar" not found in pod "web"\n');
      });

      await tt.test('-it: a real pty, keystrokes, resize, and the exit code', { skip: hasScript ? false : 'script (util-linux) not found' }, async () => {
        const before = s.backend.resizes.length;
        // kubectl needs a terminal for -t: run it under script, with a known window size.
        const p = s.spawn('script', ['-qfec', `stty cols 132 rows 43; exec ${bin} exec -it web -- sh`, '/dev/null'], t.env);
        await p.waitFor(/\$ $/m);
        p.child.stdin!.write('tty\r');
        const m = await p.waitFor(/\/dev\/pts\/\d+\r\n/);
        assert.ok(m, 'the command ran in a pty');
        assert.match(p.stdout, /tty\r\n\/dev\/pts\/\d+\r\n/, 'the pty echoes input and ends lines with \\r\\n');
        p.child.stdin!.write('exit 5\r');
        const exit = await p.wait(20_000);
        assert.equal(exit.code, 5, `stdout: ${JSON.stringify(p.stdout)}`);
        assert.match(p.stdout, /command terminated with exit code 5/);
        assert.deepEqual(s.backend.resizes.slice(before)[0], { width: 132, height: 43 });
        assert.deepEqual(s.backend.started.at(-1)?.opts, { tty: true, stdin: true });
        await assertSettled(s);
      });

      await tt.test('attach -i', async () => {
        const from = s.h.requests.length;
        const r = await s.h.kubectl(bin, ['attach', '-i', 'web'], 'hello\n', t.env);
        assert.equal(r.stdout, 'attached\nHELLO\n');
        assert.equal(r.code, 0);
        assertTransport(s, from, t, 'attach');
        await assertSettled(s);
      });
    } finally {
      await s.close();
    }
  });
}
