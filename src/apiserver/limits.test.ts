// The API server under hostile clients: a watcher that never reads, idle connections, trickled and
// oversized bodies, too many requests at once, malformed paths. Not timed: each test checks a bound holds.
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServer, type RunningServer } from '../server/server.js';
import { eventually } from '../testing/eventually.js';

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

  test('is cut off with an error event while the server\'s buffered bytes stay bounded; other watchers get every event', async () => {
    const path = '/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=0';
    const slow = await rawConnect(s);
    slow.write(request('GET', path, s.token));
    slow.pause(); // never read: the kernel's buffers fill, then the server's
    const good = await rawConnect(s);
    let goodText = '';
    good.on('data', (b: Buffer) => { goodText += b.toString('latin1'); });
    good.write(request('GET', path, s.token));
    await eventually('both watches open', async () => s.api.watchBufferedBytes().watches === 2);

    const objectBytes = 100 * 1024;
    const n = 300; // 30 MB: more than loopback's socket buffers on both ends and the budget together
    let maxBuffered = 0;
    const sample = () => { maxBuffered = Math.max(maxBuffered, s.api.watchBufferedBytes().bytes); };
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
          slow.on('data', (b: Buffer) => { slowText += b.toString('latin1'); });
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
async function fetchJson(s: RunningServer, method: string, path: string, body?: unknown, token = s.token): Promise<{ status: number; headers: Record<string, string>; text(): Promise<string> }> {
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
