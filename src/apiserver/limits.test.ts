// The API server under hostile clients: a watcher that never reads, idle connections, trickled and
// oversized bodies, too many requests at once, malformed paths. Not timed: each test checks a bound holds.
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect as netConnect, type Socket as NetSocket } from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runServer, type RunningServer } from '../server/server.js';
import { eventually } from '../testing/eventually.js';
import type { Status } from 'kubernetes-types/meta/v1.js';

/** A raw TLS connection to the server, so the test decides when (and whether) anything is read. */
function rawConnect(s: RunningServer): Promise<TLSSocket> {
  const u = new URL(s.url);
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({ host: u.hostname, port: Number(u.port), ca: readFileSync(s.caPath), servername: 'localhost' }, () => resolve(sock));
    sock.once('error', reject);
  });
}

function request(method: string, path: string, token: string, extra = ''): string {
  return `${method} ${path} HTTP/1.1\r\nHost: k8ts\r\nAuthorization: Bearer ${token}\r\nAccept: application/json\r\n${extra}\r\n`;
}

const cm = (name: string, size: number) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { blob: 'x'.repeat(size) } });

describe('a watcher that never reads', () => {
  let s: RunningServer;
  let dir: string;
  const budget = 256 * 1024;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k8ts-limits-watch-'));
    s = await runServer({ dataDir: dir, store: 'memory', listen: [{ host: '127.0.0.1', port: 0 }], log: () => {}, limits: { watchBufferBytes: budget } });
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("is cut off with an error event while the server's buffered bytes stay bounded; other watchers get every event", async () => {
    const path = '/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=0';
    const slow = await rawConnect(s);
    slow.write(request('GET', path, s.token));
    slow.pause(); // never read: the kernel's buffers fill, then the server's
    const good = await rawConnect(s);
    let goodText = '';
    good.on('data', (b: Buffer) => {
      goodText += b.toString('latin1');
    });
    good.write(request('GET', path, s.token));
    await eventually('both watches open', async () => s.api.watchBufferedBytes().watches === 2);

    const objectBytes = 100 * 1024;
    const n = 300; // 30 MB: more than loopback's socket buffers on both ends and the budget together
    let maxBuffered = 0;
    const sample = () => {
      maxBuffered = Math.max(maxBuffered, s.api.watchBufferedBytes().bytes);
    };
    const sampler = setInterval(sample, 5);
    let slowText = '';
    let slowClosed: Promise<unknown> | undefined;
    try {
      for (let i = 0; i < n; i++) {
        const res = await fetchJson(s, 'POST', '/api/v1/namespaces/default/configmaps', cm(`c${i}`, objectBytes));
        assert.equal(res.status, 201);
        sample();
        if (!slowClosed && s.api.watchBufferedBytes().watches === 1) {
          // Cut off: the client reads at last (within the server's grace), and finds the 410 that sends it to list again.
          slowClosed = new Promise((r) => slow.once('close', r));
          slow.on('data', (b: Buffer) => {
            slowText += b.toString('latin1');
          });
          slow.resume();
        }
      }
      assert.ok(slowClosed, `the slow watch was not ended after ${n} events of ${objectBytes} bytes`);
      await slowClosed;
      const seen = () => new Set(goodText.match(/"name":"c\d+"/g) ?? []).size;
      await eventually('the reading watcher to see every event', async () => seen() === n, 30_000);
    } finally {
      clearInterval(sampler);
    }
    // Bounded: the budget, plus the one event that crossed it (and the small error event).
    assert.ok(maxBuffered <= budget + 2 * objectBytes, `buffered ${maxBuffered} bytes, budget ${budget}`);
    const metrics = await (await fetchJson(s, 'GET', '/metrics')).text();
    assert.match(metrics, /apiserver_terminated_watchers_total\{resource="configmaps"\} 1/);
    const body = dechunk(slowText.slice(slowText.indexOf('\r\n\r\n') + 4));
    const lines = body.split('\n').filter(Boolean);
    const last = JSON.parse(lines[lines.length - 1]);
    assert.equal(last.type, 'ERROR');
    assert.equal(last.object.code, 410);
    assert.match(last.object.message, /fell behind: \d+ bytes not yet read by the client \(limit 262144\)/);
    good.destroy();
  });
});

/** One request over a fresh connection with the admin token. */
async function fetchJson(
  s: RunningServer,
  method: string,
  path: string,
  body?: unknown,
  token = s.token,
): Promise<{ status: number; headers: Record<string, string>; text(): Promise<string> }> {
  const sock = await rawConnect(s);
  const data = body === undefined ? '' : JSON.stringify(body);
  sock.write(request(method, path, token, `Connection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(data)}\r\n`) + data);
  const chunks: Buffer[] = [];
  sock.on('data', (b: Buffer) => chunks.push(b));
  await new Promise((r) => sock.once('close', r));
  const raw = Buffer.concat(chunks).toString('utf8');
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]);
  const headers: Record<string, string> = {};
  for (const l of head.split('\r\n').slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  let rest = raw.slice(head.length + 4);
  if (headers['transfer-encoding'] === 'chunked') rest = dechunk(rest);
  return { status, headers, text: async () => rest };
}

function dechunk(s: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const eol = s.indexOf('\r\n', i);
    if (eol < 0) return out;
    const n = parseInt(s.slice(i, eol), 16);
    if (!n) return out;
    out += s.slice(eol + 2, eol + 2 + n);
    i = eol + 2 + n + 2;
  }
}

/** Sends the head of a request and then nothing (or what `more` trickles); resolves with what came back
 *  once the server closes the connection. */
async function hold(s: RunningServer, head: string): Promise<{ sock: TLSSocket; answer: Promise<string> }> {
  const sock = await rawConnect(s);
  let text = '';
  sock.on('data', (b: Buffer) => {
    text += b.toString('utf8');
  });
  sock.on('error', () => {});
  const answer = new Promise<string>((r) => sock.once('close', () => r(text)));
  sock.write(head);
  return { sock, answer };
}

/** A raw HTTP answer's code, head and Status body (an empty body reads as a Status with nothing set). */
function statusOf(raw: string): { code: number; headers: string; body: Status } {
  const i = raw.indexOf('\r\n\r\n');
  const headers = raw.slice(0, i);
  let body = raw.slice(i + 4);
  if (/transfer-encoding: chunked/i.test(headers)) body = dechunk(body);
  return { code: Number(/^HTTP\/1\.1 (\d+)/.exec(headers)?.[1]), headers, body: body ? JSON.parse(body) : {} };
}

/** The token of bob, a user of the token file who is not in system:masters (so the limits apply to him). */
const BOB = 'bob-token-0123456789';

/** Binds bob to `edit` (so his requests reach their handlers) and waits until the authorizer sees it. */
async function letBobEdit(s: RunningServer): Promise<void> {
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'bob-edit' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bob' }],
  };
  assert.equal((await fetchJson(s, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', binding)).status, 201);
  await eventually('bob may list configmaps', async () => (await fetchJson(s, 'GET', '/api/v1/namespaces/default/configmaps', undefined, BOB)).status === 200);
}

describe('hostile clients', () => {
  let s: RunningServer;
  let dir: string;
  const bob = BOB;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k8ts-limits-hostile-'));
    const tokens = join(dir, 'tokens.csv');
    writeFileSync(tokens, `${bob},bob,1001\n`, { mode: 0o600 });
    s = await runServer({
      dataDir: join(dir, 'data'),
      store: 'memory',
      listen: [{ host: '127.0.0.1', port: 0 }],
      log: () => {},
      tokenAuthFile: tokens,
      limits: { maxRequestsInflight: 2, maxMutatingRequestsInflight: 1, requestTimeoutMs: 1500, headerTimeoutMs: 1000, maxConnections: 100 },
    });
    await letBobEdit(s);
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a trickled body holds its level's seat, the next request of that level waits out its queue wait and gets 429 with Retry-After, then the trickle is cut with 408", async () => {
    const path = '/api/v1/namespaces/default/configmaps';
    const body = JSON.stringify(cm('trickled', 10));
    const t = await hold(s, request('POST', path, bob, `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n`) + body.slice(0, 5));
    let i = 5;
    const trickle = setInterval(() => {
      if (i < body.length - 1) t.sock.write(body[i++]);
    }, 100);
    try {
      // The seat is taken once the server has the head; global-default has 1 of the 3 seats, and the second
      // request waits a quarter of the request timeout in its queue before it is refused.
      let over: Awaited<ReturnType<typeof fetchJson>> | undefined;
      await eventually('a 429', async () => {
        over = await fetchJson(s, 'POST', path, cm('second', 10), bob);
        return over.status === 429;
      });
      assert.equal(over!.headers['retry-after'], '1');
      const st = JSON.parse(await over!.text());
      assert.equal(st.kind, 'Status');
      assert.equal(st.reason, 'TooManyRequests');
      assert.equal(st.code, 429);
      assert.equal(st.details.retryAfterSeconds, 1);
      // system:masters is exempt (upstream's `exempt` flow schema).
      assert.equal((await fetchJson(s, 'POST', path, cm('admin', 10))).status, 201);
      const cut = statusOf(await t.answer);
      assert.equal(cut.code, 408);
      assert.equal(cut.body.reason, 'Timeout');
      assert.match(cut.body.message ?? '', /request body did not arrive within 1\.5s/);
    } finally {
      clearInterval(trickle);
      t.sock.destroy();
    }
    // The seat is free again.
    assert.equal((await fetchJson(s, 'POST', path, cm('third', 10), bob)).status, 201, 'served once the seat is free');
  });

  test('a body over the limit gets 413, declared or streamed', async () => {
    const path = '/api/v1/namespaces/default/configmaps';
    const declared = await hold(s, request('POST', path, s.token, `Content-Type: application/json\r\nContent-Length: ${4 * 1024 * 1024}\r\n`));
    const raw = await declared.answer;
    const d = statusOf(raw);
    assert.ok(raw, 'an answer before the connection closed');
    assert.equal(d.code, 413);
    assert.equal(d.body.reason, 'RequestEntityTooLarge');
    const big = await fetchJson(s, 'POST', path, cm('big', 3 * 1024 * 1024 + 10));
    assert.equal(big.status, 413);
    assert.match(JSON.parse(await big.text()).message, /Request entity too large: limit is 3145728/);
  });

  test('a malformed percent-escape in the path is a 400', async () => {
    for (const p of ['/api/v1/namespaces/%zz/pods', '/api/v1/namespaces/default/pods/%E0%A4%A', '/apis/apps/v1/namespaces/a%/deployments']) {
      const r = await fetchJson(s, 'GET', p);
      assert.equal(r.status, 400, p);
      const st = JSON.parse(await r.text());
      assert.equal(st.reason, 'BadRequest');
      assert.match(st.message, /malformed percent-escape/);
    }
  });

  test('connections beyond the cap are closed at once; idle ones time out and the server serves again', async () => {
    const u = new URL(s.url);
    const socks: NetSocket[] = [];
    let closedEarly = 0;
    await Promise.all(
      Array.from(
        { length: 300 },
        () =>
          new Promise<void>((resolve) => {
            const c = netConnect(Number(u.port), u.hostname, () => resolve());
            c.on('error', () => resolve());
            c.on('close', () => {
              closedEarly++;
            });
            socks.push(c);
          }),
      ),
    );
    // At least the 200 over the cap of 100 are closed by the server without a byte read.
    await eventually('connections over the cap closed', async () => closedEarly >= 200);
    // The idle ones are dropped after the handshake timeout (1 s); then a normal client is served.
    await eventually('idle connections dropped', async () => closedEarly === 300, 15_000);
    assert.equal((await fetchJson(s, 'GET', '/api/v1/namespaces/default/configmaps')).status, 200);
    for (const c of socks) c.destroy();
  });
});

describe('priority and fairness', () => {
  let s: RunningServer;
  let dir: string;
  const bob = BOB;
  const node = 'node-token-0123456789';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'k8ts-limits-apf-'));
    const tokens = join(dir, 'tokens.csv');
    writeFileSync(tokens, `${bob},bob,1001\n${node},system:node:n1,1002,"system:nodes"\n`, { mode: 0o600 });
    s = await runServer({
      dataDir: join(dir, 'data'),
      store: 'memory',
      listen: [{ host: '127.0.0.1', port: 0 }],
      log: () => {},
      tokenAuthFile: tokens,
      // 3 seats: global-default gets ceil(3 × 20/100) = 1, system 1; a queued request waits 10 s at most.
      limits: { maxRequestsInflight: 2, maxMutatingRequestsInflight: 1, requestTimeoutMs: 40_000, maxConnections: 100 },
    });
    await letBobEdit(s);
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a request over its level's seats waits in the queue and is served once the seat is free; another level is not held up", async () => {
    const path = '/api/v1/namespaces/default/configmaps';
    const body = JSON.stringify(cm('held', 10));
    const held = await hold(
      s,
      request('POST', path, bob, `Connection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n`) + body.slice(0, 5),
    );
    try {
      const inqueue = /apiserver_flowcontrol_current_inqueue_requests\{[^}]*flow_schema="global-default"[^}]*\} (\d+)/;
      const metrics = async () => (await (await fetchJson(s, 'GET', '/metrics')).text()).toString();
      await eventually('the held request executing', async () =>
        /apiserver_flowcontrol_current_executing_requests\{[^}]*flow_schema="global-default"[^}]*\} 1/.test(await metrics()),
      );
      const queued = fetchJson(s, 'POST', path, cm('queued', 10), bob);
      await eventually('one request in the queue', async () => inqueue.exec(await metrics())?.[1] === '1');
      // A node's request has its own level (system) and seat: answered while bob's level is full (a 404: no such node).
      assert.equal((await fetchJson(s, 'GET', '/api/v1/nodes/n1', undefined, node)).status, 404);
      held.sock.write(body.slice(5));
      assert.equal(statusOf(await held.answer).code, 201, 'the held request completes');
      const q = await queued;
      assert.equal(q.status, 201, `the queued request is served, not refused: ${await q.text()}`);
      const m = await metrics();
      assert.equal(inqueue.exec(m)?.[1], '0');
      assert.match(m, /apiserver_flowcontrol_request_wait_duration_seconds_count\{[^}]*flow_schema="global-default"[^}]*execute="true"[^}]*\} [1-9]/);
      assert.match(m, /apiserver_flowcontrol_nominal_limit_seats\{priority_level="global-default"\} 1/);
      assert.doesNotMatch(m, /apiserver_flowcontrol_rejected_requests_total\{[^}]*flow_schema="global-default"/);
    } finally {
      held.sock.destroy();
    }
  });
});

describe('10,000 idle connections', () => {
  test('a `k8ts server` with its default limits holds them and still serves a normal client', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-limits-idle-'));
    const bin = join(dirname(fileURLToPath(import.meta.url)), '../../../bin/k8ts');
    const proc = spawn(bin, ['server', '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--store', 'sqlite'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const socks: NetSocket[] = [];
    try {
      let log = '';
      const url = await new Promise<string>((res, rej) => {
        proc.stderr!.on('data', (b: Buffer) => {
          log += b;
          const m = /serving on (\S+)/.exec(log);
          if (m) res(m[1]);
        });
        proc.once('exit', (c) => rej(new Error(`server exited ${c}: ${log}`)));
      });
      const u = new URL(url);
      const fds = () => readdirSync(`/proc/${proc.pid}/fd`).length;
      const before = fds();
      let refused = 0;
      // In batches of 500, each taken in before the next: a burst past the listen backlog (511) has its
      // final ACKs dropped by the kernel while the server is busy, and those connections complete only at
      // the SYN-ACK's retransmits (1, 3, 7, 15, 31 s), which made the count a race with the machine's load.
      for (let batch = 0; batch < 20; batch++) {
        await Promise.all(
          Array.from(
            { length: 500 },
            () =>
              new Promise<void>((resolve) => {
                const c = netConnect(Number(u.port), u.hostname, () => resolve());
                c.on('error', () => {
                  refused++;
                  resolve();
                });
                socks.push(c);
              }),
          ),
        );
        const want = before + socks.length - refused - 20;
        await eventually(`the server to hold ${socks.length} idle connections`, async () => fds() >= want, 40_000);
      }
      assert.equal(refused, 0, 'all 10,000 connections were accepted');
      const s = { url, caPath: join(dir, 'data/pki/ca.crt'), token: readFileSync(join(dir, 'data/admin.token'), 'utf8').trim() } as RunningServer;
      const r = await fetchJson(s, 'GET', '/api/v1/namespaces/default/configmaps');
      assert.equal(r.status, 200);
    } finally {
      for (const c of socks) c.destroy();
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
