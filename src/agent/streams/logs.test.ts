// Container logs over HTTP: parameters handed to the backend, streaming with follow, errors as Status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type IncomingMessage, get } from 'node:http';
import { Readable } from 'node:stream';
import type { LogBackend, LogOptions, PodRef } from './backend.js';
import { formatLogTimestamp, parseLogParams } from './logs.js';
import { LocalBackend } from './testing/local-backend.js';
import { startStreamServer } from './testing/fake-backend.js';

function fetchText(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    get(`http://127.0.0.1:${port}${path}`, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    }).on('error', reject);
  });
}

test('parameters are parsed and validated as PodLogOptions', () => {
  const p = (q: string) => parseLogParams(new URLSearchParams(q));
  assert.deepEqual(p('container=main&follow=true&tailLines=0&limitBytes=10&timestamps=true&sinceSeconds=5&previous=false'), {
    container: 'main',
    follow: true,
    previous: false,
    timestamps: true,
    tailLines: 0,
    limitBytes: 10,
    sinceSeconds: 5,
    sinceTime: undefined,
  });
  assert.equal(p('container=main&sinceTime=2025-01-02T03:04:05Z').sinceTime?.toISOString(), '2025-01-02T03:04:05.000Z');
  assert.throws(() => p('follow=true'), /a container name must be specified/);
  assert.throws(() => p('container=main&tailLines=-1'), /tailLines: Invalid value: -1: must be greater than or equal to 0/);
  assert.throws(() => p('container=main&tailLines=ten'), /tailLines: Invalid value: "ten": must be an integer/);
  assert.throws(() => p('container=main&limitBytes=0'), /limitBytes: Invalid value: 0/);
  assert.throws(() => p('container=main&sinceSeconds=0'), /sinceSeconds: Invalid value: 0/);
  assert.throws(() => p('container=main&sinceSeconds=1&sinceTime=2025-01-01T00:00:00Z'), /at most one of `sinceTime` or `sinceSeconds`/);
  assert.throws(() => p('container=main&sinceTime=yesterday'), /sinceTime: Invalid value/);
  // Booleans as Kubernetes' parameter codec reads PodLogOptions: only 0/false (any case) are false.
  for (const [v, want] of [
    ['True', true],
    ['1', true],
    ['t', true],
    ['', true],
    ['maybe', true],
    ['0', false],
    ['FALSE', false],
    ['False', false],
  ] as const) {
    assert.equal(p(`container=main&follow=${v}`).follow, want, `follow=${v}`);
  }
  assert.equal(p('container=main').follow, false);
});

test('timestamps are RFC 3339 with nine fractional digits', () => {
  assert.equal(formatLogTimestamp(new Date('2025-03-04T05:06:07.089Z')), '2025-03-04T05:06:07.089000000Z');
  assert.equal(formatLogTimestamp(new Date('2025-03-04T05:06:07.089Z'), 123456), '2025-03-04T05:06:07.089123456Z');
});

test('logs are text/plain, selected by the backend from the options it receives', async () => {
  const logs = new LocalBackend();
  const t0 = new Date(Date.now() - 3600_000);
  logs.appendLog('old', t0);
  logs.appendLog('one');
  logs.appendLog('two');
  const srv = await startStreamServer({ logs });
  try {
    const all = await fetchText(srv.port, '/log?container=main');
    assert.equal(all.status, 200);
    assert.equal(all.type, 'text/plain');
    assert.equal(all.body, 'old\none\ntwo\n');
    assert.equal((await fetchText(srv.port, '/log?container=main&tailLines=1')).body, 'two\n');
    assert.equal((await fetchText(srv.port, '/log?container=main&sinceSeconds=60')).body, 'one\ntwo\n');
    const ts = await fetchText(srv.port, '/log?container=main&timestamps=true&tailLines=1');
    assert.match(ts.body, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z two\n$/);
    assert.equal((await fetchText(srv.port, '/log?container=main&limitBytes=6')).body, 'old\non');
    assert.deepEqual(logs.logOpens[1], {
      follow: false,
      previous: false,
      timestamps: false,
      tailLines: 1,
      limitBytes: undefined,
      sinceSeconds: undefined,
      sinceTime: undefined,
    });
  } finally {
    await srv.close();
  }
});

test('limitBytes holds even when a backend ignores it', async () => {
  const careless: LogBackend = { open: () => Readable.from([Buffer.from('0123456789'), Buffer.from('abcdef')]) };
  const srv = await startStreamServer({ logs: careless });
  try {
    assert.equal((await fetchText(srv.port, '/log?container=main&limitBytes=12')).body, '0123456789ab');
  } finally {
    await srv.close();
  }
});

test('follow streams lines as they appear and releases the reader when the client leaves', async () => {
  const logs = new LocalBackend();
  logs.appendLog('first');
  const srv = await startStreamServer({ logs });
  try {
    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      get(`http://127.0.0.1:${srv.port}/log?container=main&follow=true`, resolve).on('error', reject),
    );
    assert.equal(res.statusCode, 200);
    const received: string[] = [];
    let wake: (() => void) | undefined;
    res.on('data', (c: Buffer) => {
      received.push(c.toString());
      wake?.();
    });
    const until = async (s: string) => {
      while (!received.join('').includes(s)) await new Promise<void>((r) => (wake = r));
    };
    await until('first\n');
    logs.appendLog('second');
    await until('second\n');
    assert.equal(received.join(''), 'first\nsecond\n');
    assert.equal(logs.live().readers, 1);
    res.destroy();
    await Promise.all(srv.sessions);
    assert.equal(logs.live().readers, 0, 'the follow reader was destroyed');
  } finally {
    await srv.close();
  }
});

test('a follow ends when the container stops (the reader ends)', async () => {
  const logs = new LocalBackend();
  const srv = await startStreamServer({ logs });
  try {
    const pending = fetchText(srv.port, '/log?container=main&follow=true');
    await waitUntil(() => logs.live().readers === 1);
    logs.appendLog('last words');
    logs.endLogs();
    assert.equal((await pending).body, 'last words\n');
  } finally {
    await srv.close();
  }
});

test('backend errors and bad parameters are Status JSON', async () => {
  const logs = new LocalBackend();
  const srv = await startStreamServer({ logs });
  const none = await startStreamServer({});
  try {
    const missing = await fetchText(srv.port, '/log?container=other');
    assert.equal(missing.status, 404);
    assert.equal(missing.type, 'application/json');
    assert.deepEqual(JSON.parse(missing.body), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'container "other" not found in pod "web"',
      reason: 'NotFound',
      code: 404,
    });
    logs.running = false;
    const waiting = await fetchText(srv.port, '/log?container=main');
    assert.equal(waiting.status, 400);
    assert.equal(JSON.parse(waiting.body).message, 'container "main" in pod "web" is waiting to start: ContainerCreating');
    const bad = await fetchText(srv.port, '/log?container=main&tailLines=-2');
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.body).reason, 'BadRequest');
    const unsupported = await fetchText(none.port, '/log?container=main');
    assert.equal(unsupported.status, 400);
    assert.match(JSON.parse(unsupported.body).message, /no log backend/);
  } finally {
    await srv.close();
    await none.close();
  }
});

test('the options reach the backend unchanged', async () => {
  const seen: { pod: PodRef; container: string; opts: LogOptions }[] = [];
  const spy: LogBackend = {
    async open(pod, container, opts) {
      seen.push({ pod, container, opts });
      return Readable.from([]);
    },
  };
  const srv = await startStreamServer({ logs: spy });
  try {
    await fetchText(srv.port, '/log?container=c1&previous=true&sinceTime=2025-01-01T00:00:00Z&timestamps=1');
    assert.equal(seen.length, 1);
    assert.equal(seen[0].container, 'c1');
    assert.equal(seen[0].pod.name, 'web');
    assert.equal(seen[0].opts.previous, true);
    assert.equal(seen[0].opts.timestamps, true);
    assert.equal(seen[0].opts.sinceTime?.toISOString(), '2025-01-01T00:00:00.000Z');
  } finally {
    await srv.close();
  }
});

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
