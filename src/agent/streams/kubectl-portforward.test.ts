// Real kubectl port-forward through handleStream to a TCP echo server on 127.0.0.1: SPDY tunnelled in a
// WebSocket (1.31+) and raw SPDY (≤ 1.30, or KUBECTL_PORT_FORWARD_WEBSOCKETS=false).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { kubectlBinary, skipReason } from '../../testing/kubectl-harness.js';
import { type StreamHarness, closedPort, startEchoServer, startStreamHarness } from './testing/kubectl-streams.js';

interface Transport {
  version: string;
  env: Record<string, string>;
  expect: 'websocket' | 'spdy';
}

const TRANSPORTS: Transport[] = [
  { version: '1.32', env: {}, expect: 'websocket' },
  { version: '1.32', env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }, expect: 'spdy' },
  { version: '1.27', env: {}, expect: 'spdy' },
  { version: '1.29', env: {}, expect: 'spdy' },
  { version: '1.33', env: {}, expect: 'websocket' },
];

/** Sends `data` through the forwarded port, half-closes, and returns everything that came back. */
function roundTrip(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    c.on('data', (b: Buffer) => got.push(b));
    c.on('end', () => resolve(Buffer.concat(got)));
    c.on('error', reject);
    c.on('connect', () => c.end(data));
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function assertTransport(s: StreamHarness, from: number, t: Transport): void {
  const reqs = s.h.requests.slice(from).filter((r) => r.url.endsWith('/portforward'));
  assert.equal(reqs.length, 1, `one portforward request, no fallback: ${reqs.map((r) => r.method).join(', ')}`);
  if (t.expect === 'websocket') {
    assert.equal(reqs[0].method, 'GET');
    assert.equal(reqs[0].headers['sec-websocket-protocol'], 'SPDY/3.1+portforward.k8s.io');
  } else {
    assert.equal(reqs[0].method, 'POST');
    assert.equal(reqs[0].headers['x-stream-protocol-version'], 'portforward.k8s.io');
  }
}

for (const t of TRANSPORTS) {
  const env = Object.entries(t.env)
    .map(([k, v]) => `${k}=${v} `)
    .join('');
  test(`port-forward with ${env}kubectl ${t.version} (${t.expect === 'websocket' ? 'SPDY in WebSocket' : 'SPDY'})`, {
    skip: skipReason(t.version),
  }, async (tt) => {
    const bin = kubectlBinary(t.version)!;
    const s = await startStreamHarness();
    const echo = await startEchoServer();
    try {
      await tt.test('two connections, small and 1 MiB, echoed both ways', async () => {
        const from = s.h.requests.length;
        const pf = s.spawn(bin, ['port-forward', 'pod/web', `:${echo.port}`], t.env);
        const m = await pf.waitFor(new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${echo.port}`));
        const local = Number(m[1]);
        const big = randomBytes(1024 * 1024);
        const [small, large] = await Promise.all([roundTrip(local, Buffer.from('hello\n')), roundTrip(local, big)]);
        assert.equal(small.toString(), 'hello\n');
        assert.equal(large.length, big.length);
        assert.equal(sha(large), sha(big));
        // and once more on the same kubectl, after the first two finished
        assert.equal((await roundTrip(local, Buffer.from('again'))).toString(), 'again');
        assert.equal(echo.connections(), 3);
        assert.equal((pf.stdout.match(/Handling connection for/g) ?? []).length, 3);
        assert.ok(pf.running, `kubectl still forwarding; stderr: ${pf.stderr}`);
        assertTransport(s, from, t);
        await pf.kill();
        // kubectl gone: the session ends and the pod connections are closed
        await Promise.all(s.sessions);
        const deadline = Date.now() + 5000;
        while (s.backend.live().sockets > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(s.backend.live().sockets, 0);
      });

      await tt.test('a closed pod port: the error stream text reaches kubectl, which gives up', async () => {
        const dead = await closedPort();
        const pf = s.spawn(bin, ['port-forward', 'pod/web', `:${dead}`], t.env);
        const m = await pf.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) ->/);
        const back = await roundTrip(Number(m[1]), Buffer.from('anyone?')).catch(() => Buffer.alloc(0));
        assert.equal(back.length, 0);
        const exit = await pf.wait(20_000);
        assert.equal(exit.code, 1);
        assert.match(
          pf.stderr,
          new RegExp(
            `an error occurred forwarding \\d+ -> ${dead}: error forwarding port ${dead} to pod web, uid [0-9a-f-]+: connect ECONNREFUSED 127\\.0\\.0\\.1:${dead}`,
          ),
        );
        assert.match(pf.stderr, /error: lost connection to pod/);
        await Promise.all(s.sessions);
      });
    } finally {
      await echo.close();
      await s.close();
    }
  });
}
