// Probe actions against real listeners on 127.0.0.1 (HTTP, HTTPS, TCP), exec against real processes, and
// an exec probe inside a real runc container (root only).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../util/exec.js';
import { selfSigned, writeKeyAndCert } from '../api/certificates/issue.js';
import { ProbeError, execProbe, httpGetProbe, resolvePort, tcpSocketProbe, type ExecRunner } from './probe-handlers.js';
import { ensureImages } from './runtime/images.js';
import { Runtime } from './runtime/runtime.js';
import type { ExecSession } from './runtime/session.js';

/** A server on 127.0.0.1:0; the handler sees every request. Closed (with its connections) by the returned function. */
async function serve(
  handler: http.RequestListener,
  make: (h: http.RequestListener) => http.Server = (h) => http.createServer(h),
): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = make(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

/** A port nothing listens on: one the kernel gave us and we gave back. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('httpGet', () => {
  const seen: http.IncomingMessage[] = [];
  let srv: { port: number; close: () => Promise<void> };
  before(async () => {
    srv = await serve((req, res) => {
      seen.push(req);
      const u = new URL(req.url!, 'http://x');
      if (u.pathname === '/ok') res.end('fine');
      else if (u.pathname === '/down') res.writeHead(503).end('no');
      else if (u.pathname === '/move') res.writeHead(302, { location: '/ok' }).end();
      else if (u.pathname === '/away') res.writeHead(301, { location: `http://localhost:${srv.port}/ok` }).end('gone elsewhere');
      else if (u.pathname === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else if (u.pathname === '/big') res.end('x'.repeat(50_000));
      else if (u.pathname === '/slow') setTimeout(() => res.end('late'), 3000).unref();
      else res.writeHead(404).end();
    });
  });
  after(() => srv.close());

  test('2xx succeeds with the body; the kubelet’s headers and the probe’s own are sent', async () => {
    seen.length = 0;
    const r = await httpGetProbe(
      {
        port: srv.port,
        path: '/ok?x=1',
        httpHeaders: [
          { name: 'X-Probe', value: 'yes' },
          { name: 'Host', value: 'example.test' },
        ],
      },
      '127.0.0.1',
      srv.port,
      1000,
    );
    assert.deepEqual(r, { result: 'success', output: 'fine' });
    assert.equal(seen.length, 1);
    assert.equal(seen[0].url, '/ok?x=1');
    assert.equal(seen[0].headers['user-agent'], 'kube-probe/1.32');
    assert.equal(seen[0].headers.accept, '*/*');
    assert.equal(seen[0].headers['x-probe'], 'yes');
    assert.equal(seen[0].headers.host, 'example.test');
  });

  test('a 503 fails with the status code', async () => {
    assert.deepEqual(await httpGetProbe({ port: srv.port, path: '/down' }, '127.0.0.1', srv.port, 1000), {
      result: 'failure',
      output: 'HTTP probe failed with statuscode: 503',
    });
    assert.deepEqual(await httpGetProbe({ port: srv.port, path: '/nothing' }, '127.0.0.1', srv.port, 1000), {
      result: 'failure',
      output: 'HTTP probe failed with statuscode: 404',
    });
  });

  test('redirects: followed on the same host, not to another host (a warning), not forever', async () => {
    seen.length = 0;
    assert.deepEqual(await httpGetProbe({ port: srv.port, path: '/move' }, '127.0.0.1', srv.port, 1000), { result: 'success', output: 'fine' });
    assert.deepEqual(
      seen.map((r) => r.url),
      ['/move', '/ok'],
    );
    seen.length = 0;
    assert.deepEqual(await httpGetProbe({ port: srv.port, path: '/away' }, '127.0.0.1', srv.port, 1000), {
      result: 'warning',
      output: 'Probe terminated redirects, Response body: gone elsewhere',
    });
    assert.deepEqual(
      seen.map((r) => r.url),
      ['/away'],
      'the other host was not asked',
    );
    const loop = await httpGetProbe({ port: srv.port, path: '/loop' }, '127.0.0.1', srv.port, 2000);
    assert.equal(loop.result, 'failure');
    assert.equal(loop.output, `Get "http://127.0.0.1:${srv.port}/loop": stopped after 10 redirects`);
  });

  test('a refused connection fails with Go’s words', async () => {
    const port = await closedPort();
    assert.deepEqual(await httpGetProbe({ port }, '127.0.0.1', port, 1000), {
      result: 'failure',
      output: `Get "http://127.0.0.1:${port}/": dial tcp 127.0.0.1:${port}: connect: connection refused`,
    });
  });

  test('a server slower than timeoutSeconds fails at the timeout', async () => {
    const t0 = Date.now();
    const r = await httpGetProbe({ port: srv.port, path: '/slow' }, '127.0.0.1', srv.port, 300);
    const took = Date.now() - t0;
    assert.equal(r.result, 'failure');
    assert.equal(r.output, `Get "http://127.0.0.1:${srv.port}/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`);
    assert.ok(took >= 290 && took < 2000, `took ${took} ms`);
  });

  test('only the first 10 KiB of the body are kept', async () => {
    const r = await httpGetProbe({ port: srv.port, path: '/big' }, '127.0.0.1', srv.port, 1000);
    assert.equal(r.result, 'success');
    assert.equal(r.output.length, 10 * 1024);
  });
});

describe('httpGet over HTTPS', () => {
  let dir = '';
  let srv: { port: number; close: () => Promise<void> } | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'k8ts-probe-tls-'));
    writeKeyAndCert(await selfSigned({ subject: { cn: 'probe.test' }, usage: 'server', days: 1 }), join(dir, 'key.pem'), join(dir, 'cert.pem'));
    const [key, cert] = await Promise.all([readFile(join(dir, 'key.pem')), readFile(join(dir, 'cert.pem'))]);
    srv = await serve(
      (req, res) => res.writeHead(req.url === '/ok' ? 200 : 500).end('tls'),
      (h) => https.createServer({ key, cert }, h),
    );
  });
  after(async () => {
    await srv?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a self-signed certificate is not verified', async () => {
    assert.deepEqual(await httpGetProbe({ port: srv!.port, path: '/ok', scheme: 'HTTPS' }, '127.0.0.1', srv!.port, 2000), { result: 'success', output: 'tls' });
    assert.deepEqual(await httpGetProbe({ port: srv!.port, path: '/x', scheme: 'HTTPS' }, '127.0.0.1', srv!.port, 2000), {
      result: 'failure',
      output: 'HTTP probe failed with statuscode: 500',
    });
  });
});

describe('tcpSocket', () => {
  test('connects to a listener; a closed port is refused', async () => {
    const s = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    try {
      assert.deepEqual(await tcpSocketProbe('127.0.0.1', port, 1000), { result: 'success', output: '' });
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
    const closed = await closedPort();
    assert.deepEqual(await tcpSocketProbe('127.0.0.1', closed, 1000), {
      result: 'failure',
      output: `dial tcp 127.0.0.1:${closed}: connect: connection refused`,
    });
  });
});

describe('resolvePort', () => {
  const ports = [{ name: 'http', containerPort: 8080 }, { containerPort: 9000 }];
  test('numbers, numeric strings and containerPort names', () => {
    assert.equal(resolvePort(81, ports, 'main'), 81);
    assert.equal(resolvePort('http', ports, 'main'), 8080);
    assert.equal(resolvePort('9090', ports, 'main'), 9090);
  });
  test('an unknown name or a port out of range cannot be probed', () => {
    assert.throws(
      () => resolvePort('metrics', ports, 'main'),
      (e: unknown) => e instanceof ProbeError && e.code === 'ProbeInvalid' && /metrics/.test(e.message),
    );
    assert.throws(() => resolvePort(70000, ports, 'main'), /invalid port number: 70000/);
  });
});

/** Runs argv as a host process, shaped like a runtime exec session (the exec logic without a container). */
const hostRunner: ExecRunner = {
  async exec(_id: string, argv: string[]): Promise<ExecSession> {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const exitCode = new Promise<number>((resolve) => child.on('close', (code, sig) => resolve(code ?? (sig ? 137 : 1))));
    return {
      stdin: null,
      stdout: child.stdout,
      stderr: child.stderr,
      exitCode,
      resize: async () => {},
      kill: async (s = 'SIGKILL') => {
        child.kill(s);
      },
    };
  },
};

describe('exec (host processes)', () => {
  test('exit 0 succeeds, anything else fails with the output', async () => {
    assert.deepEqual(await execProbe(hostRunner, 'x', ['sh', '-c', 'echo healthy'], 1000), { result: 'success', output: 'healthy\n' });
    assert.deepEqual(await execProbe(hostRunner, 'x', ['sh', '-c', 'echo out; echo err >&2; exit 3'], 1000), { result: 'failure', output: 'out\nerr\n' });
  });
  test('a command running past the timeout is killed and fails', async () => {
    const t0 = Date.now();
    assert.deepEqual(await execProbe(hostRunner, 'x', ['sh', '-c', 'sleep 5'], 300), { result: 'failure', output: 'command "sh -c sleep 5" timed out' });
    assert.ok(Date.now() - t0 < 2000);
  });
});

const root = process.getuid?.() === 0;
const runcSkip = !root
  ? 'needs root (a runc container in a network namespace): run the tests as root'
  : !['runc', 'perl', 'script', 'ip'].every((t) => (process.env.PATH ?? '').split(':').some((d) => existsSync(join(d, t))))
    ? 'missing runc, perl, script or ip'
    : !existsSync('/bin/busybox')
      ? 'missing /bin/busybox (apt-get install busybox-static)'
      : false;

describe('exec inside a runc container', { skip: runcSkip }, () => {
  test('the command runs in the container; a missing command cannot be run; the timeout kills it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'k8ts-probe-exec-'));
    const netns = `k8tsprobe-${randomBytes(4).toString('hex')}`;
    let rt: Runtime | undefined;
    let made = false;
    try {
      await run(['ip', 'netns', 'add', netns]);
      made = true;
      await ensureImages(join(dir, 'images'));
      rt = new Runtime({ stateDir: join(dir, 'state'), imagesDir: join(dir, 'images') });
      const id = await rt.create({
        name: 'main',
        podName: 'probe-pod',
        hostname: 'web-0',
        image: 'busybox',
        netns: `/run/netns/${netns}`,
        command: ['sh', '-c', 'touch /tmp/healthy; sleep 1000'],
      });
      // The output is the command's, from inside the container (whose hostname is the pod's spec.hostname).
      assert.deepEqual(await execProbe(rt, id, ['hostname'], 2000), { result: 'success', output: 'web-0\n' });
      assert.deepEqual(await execProbe(rt, id, ['test', '-e', '/tmp/healthy'], 2000), { result: 'success', output: '' });
      const gone = await execProbe(rt, id, ['sh', '-c', 'rm /tmp/healthy; test -e /tmp/healthy || { echo missing; exit 1; }'], 2000);
      assert.deepEqual(gone, { result: 'failure', output: 'missing\n' });
      await assert.rejects(
        execProbe(rt, id, ['no-such-command'], 2000),
        (e: Error & { code?: string }) => e.code === 'ExecFailed' && /no-such-command/.test(e.message),
      );
      const t0 = Date.now();
      assert.deepEqual(await execProbe(rt, id, ['sleep', '30'], 500), { result: 'failure', output: 'command "sleep 30" timed out' });
      assert.ok(Date.now() - t0 < 5000);
      // The killed probe process is gone from the container.
      const ps = await execProbe(rt, id, ['ps'], 2000);
      assert.doesNotMatch(ps.output, /sleep 30/);
    } finally {
      if (rt) {
        for (const c of await rt.list().catch(() => [])) await rt.remove(c.id).catch(() => {});
        rt.close();
      }
      if (made) await run(['ip', 'netns', 'del', netns]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  });
});
