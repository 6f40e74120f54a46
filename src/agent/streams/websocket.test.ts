// exec/attach over WebSocket: channel framing, stdin EOF, resize, the Status and the close, negotiation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { StreamBackendError } from './backend.js';
import { Channel, channelMessage } from './websocket.js';
import { FakeExecBackend, startStreamServer } from './testing/fake-backend.js';

interface Received {
  channel: number;
  payload: Buffer;
  binary: boolean;
}

interface Session {
  ws: WebSocket;
  protocol: string;
  messages: Received[];
  closed: Promise<{ code: number; reason: string }>;
}

function open(port: number, path: string, protocols: string[] = ['v5.channel.k8s.io']): Promise<Session> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols);
    const messages: Received[] = [];
    ws.on('message', (data: Buffer, binary: boolean) => messages.push({ channel: data[0], payload: data.subarray(1), binary }));
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('open', () => resolve({ ws, protocol: ws.protocol, messages, closed }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode, body })));
    });
    ws.on('error', reject);
  });
}

const text = (s: Session, ch: number) => Buffer.concat(s.messages.filter((m) => m.channel === ch).map((m) => m.payload)).toString('utf8');
const status = (s: Session) => JSON.parse(text(s, Channel.error));

test('v5: stdout and stderr on channels 1 and 2, one Success Status on 3, then close 1000', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const s = await open(srv.port, '/exec?command=sh&command=-c&command=x&container=main&stdout=true&stderr=true');
    assert.equal(s.protocol, 'v5.channel.k8s.io');
    const p = await started;
    assert.deepEqual(p.argv, ['sh', '-c', 'x']);
    assert.deepEqual(p.opts, { tty: false, stdin: false });
    p.stdout.write('out\n');
    p.stderr!.write('err\n');
    p.exit(0);
    const closed = await s.closed;
    assert.equal(closed.code, 1000);
    assert.ok(
      s.messages.every((m) => m.binary),
      'binary messages only',
    );
    assert.equal(text(s, Channel.stdout), 'out\n');
    assert.equal(text(s, Channel.stderr), 'err\n');
    assert.deepEqual(status(s), { metadata: {}, status: 'Success' });
    // the Status is the last message
    assert.equal(s.messages[s.messages.length - 1].channel, Channel.error);
    assert.equal(s.messages.filter((m) => m.channel === Channel.error).length, 1);
  } finally {
    await srv.close();
  }
});

test('a non-zero exit is a NonZeroExitCode Status with the ExitCode cause kubectl reads', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const s = await open(srv.port, '/exec?command=false&container=main&stdout=true');
    (await started).exit(3);
    assert.equal((await s.closed).code, 1000);
    assert.deepEqual(status(s), {
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [false], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
  } finally {
    await srv.close();
  }
});

test('stdin bytes reach the process, [255, 0] closes its stdin, fragmented messages are joined', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const s = await open(srv.port, '/exec?command=cat&container=main&stdin=true&stdout=true&stderr=true');
    const p = await started;
    assert.deepEqual(p.opts, { tty: false, stdin: true });
    s.ws.send(channelMessage(Channel.stdin, Buffer.from('hello ')));
    s.ws.send(Buffer.from([Channel.stdin, 0x77]), { fin: false }); // "w" …
    s.ws.send(Buffer.from('orld'), { fin: true }); // … "orld" in a continuation frame
    s.ws.send('a text message is ignored');
    s.ws.send(Buffer.from([Channel.close, Channel.stdin]));
    await waitUntil(() => p.stdinEnded);
    assert.equal(p.stdinText, 'hello world');
    p.exit(0);
    assert.equal((await s.closed).code, 1000);
  } finally {
    await srv.close();
  }
});

test('tty: resize messages on channel 4 reach the process; no stderr channel', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const s = await open(srv.port, '/exec?command=sh&container=main&stdin=true&stdout=true&stderr=true&tty=true');
    const p = await started;
    assert.deepEqual(p.opts, { tty: true, stdin: true });
    assert.equal(p.stderr, null);
    s.ws.send(channelMessage(Channel.resize, Buffer.from('{"Width":120,"Height":40}')));
    s.ws.send(channelMessage(Channel.resize, Buffer.from('{"Width":0,"Height":0}')));
    await waitUntil(() => p.resizes.length === 2);
    assert.deepEqual(p.resizes, [
      [120, 40],
      [0, 0],
    ]);
    p.stdout.write('$ ');
    p.exit(0);
    await s.closed;
    assert.equal(text(s, Channel.stdout), '$ ');
    assert.ok(!s.messages.some((m) => m.channel === Channel.stderr));
  } finally {
    await srv.close();
  }
});

test('v4 is accepted too; it has no stdin-close signal', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const s = await open(srv.port, '/exec?command=cat&container=main&stdin=true&stdout=true', ['v4.channel.k8s.io']);
    assert.equal(s.protocol, 'v4.channel.k8s.io');
    const p = await started;
    s.ws.send(channelMessage(Channel.stdin, Buffer.from('x')));
    s.ws.send(Buffer.from([Channel.close, Channel.stdin]));
    await waitUntil(() => p.stdinText === 'x');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(p.stdinEnded, false);
    p.exit(0);
    await s.closed;
    assert.deepEqual(status(s), { metadata: {}, status: 'Success' });
  } finally {
    await srv.close();
  }
});

test('pings are answered during a session', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const s = await open(srv.port, '/exec?command=sleep&container=main&stdout=true');
    const p = await started;
    const pong = new Promise<Buffer>((r) => s.ws.once('pong', r));
    s.ws.ping(Buffer.from('hb'));
    assert.equal((await pong).toString(), 'hb');
    p.exit(0);
    await s.closed;
  } finally {
    await srv.close();
  }
});

test('the process is killed when the client goes away, and the session ends', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const s = await open(srv.port, '/exec?command=sleep&container=main&stdout=true');
    const p = await started;
    s.ws.terminate();
    await waitUntil(() => p.killed);
    await Promise.all(srv.sessions);
  } finally {
    await srv.close();
  }
});

test('a process that cannot be waited for ends with an InternalError Status', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const s = await open(srv.port, '/exec?command=x&container=main&stdout=true');
    (await started).fail(new Error('runtime lost the process'));
    assert.equal((await s.closed).code, 1000);
    const st = status(s);
    assert.equal(st.reason, 'InternalError');
    assert.equal(st.code, 500);
    assert.match(st.message, /runtime lost the process/);
  } finally {
    await srv.close();
  }
});

test('command not found: the upgrade succeeds and the Status says InternalError (as runtimes report it)', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    exec.failNext = new StreamBackendError('CommandNotFound', 'exec: "nosuch": executable file not found in $PATH');
    const s = await open(srv.port, '/exec?command=nosuch&container=main&stdout=true&stderr=true');
    assert.equal((await s.closed).code, 1000);
    const st = status(s);
    assert.equal(st.reason, 'InternalError');
    assert.equal(st.message, 'Internal error occurred: error executing command in container: exec: "nosuch": executable file not found in $PATH');
  } finally {
    await srv.close();
  }
});

test('container errors and bad requests are HTTP Status answers before the upgrade', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    exec.failNext = new StreamBackendError('ContainerNotFound', 'container "x" not found in pod "web"');
    await assert.rejects(open(srv.port, '/exec?command=true&container=x&stdout=true'), (e: Error & { statusCode: number; body: string }) => {
      assert.equal(e.statusCode, 404);
      assert.deepEqual(JSON.parse(e.body), {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'container "x" not found in pod "web"',
        reason: 'NotFound',
        code: 404,
      });
      return true;
    });
    exec.failNext = new StreamBackendError('ContainerNotRunning', 'container "main" in pod "web" is waiting to start: ContainerCreating');
    await assert.rejects(open(srv.port, '/exec?command=true&container=main&stdout=true'), { statusCode: 400 });
    await assert.rejects(open(srv.port, '/exec?command=true&stdout=true'), (e: Error & { body: string }) =>
      /a container name must be specified/.test(JSON.parse(e.body).message),
    );
    await assert.rejects(open(srv.port, '/exec?container=main&stdout=true'), (e: Error & { body: string }) =>
      /at least one command/.test(JSON.parse(e.body).message),
    );
    await assert.rejects(open(srv.port, '/exec?command=true&container=main'), (e: Error & { body: string }) =>
      /at least 1 of stdin, stdout, stderr/.test(JSON.parse(e.body).message),
    );
    // a subprotocol we do not speak: refused before anything starts (kubectl then tries SPDY)
    await assert.rejects(
      open(srv.port, '/exec?command=true&container=main&stdout=true', ['v3.channel.k8s.io']),
      (e: Error & { statusCode: number; body: string }) => {
        assert.equal(e.statusCode, 400);
        assert.match(JSON.parse(e.body).message, /no supported WebSocket subprotocol: client offers \[v3\.channel\.k8s\.io\]/);
        return true;
      },
    );
    assert.equal(exec.processes.length, 0, 'nothing was started');
  } finally {
    await srv.close();
  }
});

test('attach: no command, Success when the attachment ends whatever the exit code', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const s = await open(srv.port, '/attach?container=main&stdout=true&stderr=true');
    const p = await started;
    assert.deepEqual(p.argv, []);
    p.stdout.write('log line\n');
    p.exit(1);
    await s.closed;
    assert.equal(text(s, Channel.stdout), 'log line\n');
    assert.deepEqual(status(s), { metadata: {}, status: 'Success' });
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

// ---- the other channel protocols (what the Python, Java and older clients speak) ----

/** A session's messages decoded in its framing: base64 protocols send text `<digit><base64>`. */
function decoded(s: Session): { channel: number; payload: Buffer }[] {
  return s.messages.map((m) =>
    m.binary ? { channel: m.channel, payload: m.payload } : { channel: m.channel - 48, payload: Buffer.from(m.payload.toString('latin1'), 'base64') },
  );
}
const textOn = (s: Session, ch: number) =>
  Buffer.concat(
    decoded(s)
      .filter((m) => m.channel === ch)
      .map((m) => m.payload),
  ).toString('utf8');

test('v4.channel.k8s.io: binary channels, the empty hello on stdout, the Status JSON with the exit code', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const s = await open(srv.port, '/exec?command=sh&container=main&stdin=True&stdout=True&stderr=1', ['v4.channel.k8s.io']);
    assert.equal(s.protocol, 'v4.channel.k8s.io');
    const p = await started;
    assert.deepEqual(p.opts, { tty: false, stdin: true });
    s.ws.send(channelMessage(Channel.stdin, Buffer.from('in')));
    // The Python client sends str data as a text message led by the raw channel byte.
    s.ws.send('\u0000put');
    let got = '';
    p.stdin!.on('data', (b: Buffer) => (got += b));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got, 'input');
    p.stdout.write('out');
    p.exit(7);
    assert.equal((await s.closed).code, 1000);
    assert.deepEqual({ ch: s.messages[0].channel, len: s.messages[0].payload.length }, { ch: Channel.stdout, len: 0 }, 'first message: the empty stdout hello');
    assert.equal(textOn(s, Channel.stdout), 'out');
    const st = JSON.parse(textOn(s, Channel.error));
    assert.equal(st.reason, 'NonZeroExitCode');
    assert.deepEqual(st.details.causes, [{ reason: 'ExitCode', message: '7' }]);
  } finally {
    await srv.close();
  }
});

for (const protocol of ['v4.base64.channel.k8s.io', 'base64.channel.k8s.io']) {
  test(`${protocol}: text messages, the channel as an ASCII digit, the data in base64, both ways`, async () => {
    const exec = new FakeExecBackend();
    const srv = await startStreamServer({ exec });
    try {
      const started = exec.next();
      const s = await open(srv.port, '/exec?command=cat&container=main&stdin=true&stdout=true', [protocol]);
      assert.equal(s.protocol, protocol);
      const p = await started;
      let got = Buffer.alloc(0);
      p.stdin!.on('data', (b: Buffer) => (got = Buffer.concat([got, b])));
      const bytes = Buffer.from([0, 1, 2, 250, 255, 10]);
      s.ws.send(`0${bytes.toString('base64')}`);
      s.ws.send(Buffer.from([0, 9])); // not a digit channel: ignored
      s.ws.send('0!!not base64!!'); // nor is text that is not base64
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(got, bytes);
      p.stdout.write(Buffer.from([255, 0, 128]));
      p.exit(protocol.startsWith('v4') ? 0 : 2);
      assert.equal((await s.closed).code, 1000);
      assert.ok(
        s.messages.every((m) => !m.binary),
        'text messages only',
      );
      assert.ok(
        s.messages.every((m) =>
          /^[0-9][A-Za-z0-9+/]*={0,2}$/.test(m.payload.length ? String.fromCharCode(m.channel) + m.payload.toString('latin1') : String.fromCharCode(m.channel)),
        ),
      );
      assert.deepEqual(
        [
          ...Buffer.concat(
            decoded(s)
              .filter((m) => m.channel === Channel.stdout)
              .map((m) => m.payload),
          ),
        ],
        [255, 0, 128],
      );
      if (protocol.startsWith('v4')) assert.deepEqual(JSON.parse(textOn(s, Channel.error)), { metadata: {}, status: 'Success' });
      // v1: a failure is its message text alone.
      else assert.equal(textOn(s, Channel.error), 'command terminated with non-zero exit code: error executing command [cat], exit code 2');
    } finally {
      await srv.close();
    }
  });
}

test('channel.k8s.io (v1) and no subprotocol at all: binary, success says nothing on the error channel', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    for (const protocols of [['channel.k8s.io'], []]) {
      const started = exec.next();
      const s = await open(srv.port, '/exec?command=true&container=main&stdout=true', protocols);
      assert.equal(s.protocol, protocols[0] ?? '', 'no subprotocol offered: none echoed');
      (await started).exit(0);
      assert.equal((await s.closed).code, 1000);
      assert.ok(s.messages.every((m) => m.binary));
      assert.equal(s.messages.filter((m) => m.channel === Channel.error).length, 0);
    }
  } finally {
    await srv.close();
  }
});

test('port-forward as channel pairs (v4.channel.k8s.io): port prefixes, data both ways per port, errors, close', async () => {
  const { createServer, connect } = await import('node:net');
  const echo = createServer((c) => c.pipe(c));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const echoPort = (echo.address() as { port: number }).port;
  // Port 1 is "closed" in this pod: the connect fails; any other port reaches the echo server.
  const portForward = {
    connect: (_pod: unknown, port: number) =>
      new Promise<import('node:stream').Duplex>((resolve, reject) => {
        if (port === 1) return reject(new Error('connection refused'));
        const c = connect(echoPort, '127.0.0.1', () => resolve(c));
        c.on('error', reject);
      }),
  };
  const srv = await startStreamServer({ portForward });
  try {
    await assert.rejects(
      open(srv.port, '/portforward', ['v4.channel.k8s.io']),
      (e: Error & { statusCode: number; body: string }) => e.statusCode === 400 && /"ports" is required/.test(JSON.parse(e.body).message),
    );
    await assert.rejects(open(srv.port, '/portforward?ports=70000', ['v4.channel.k8s.io']), { statusCode: 400 });
    const s = await open(srv.port, '/portforward?ports=8080,1', ['v4.channel.k8s.io']);
    assert.equal(s.protocol, 'v4.channel.k8s.io');
    await new Promise((r) => setTimeout(r, 100));
    // Each of the four channels opens with its port, two bytes little-endian.
    const firsts = new Map<number, Buffer>();
    for (const m of s.messages) if (!firsts.has(m.channel)) firsts.set(m.channel, m.payload);
    assert.deepEqual(
      [...firsts].sort((a, b) => a[0] - b[0]).map(([ch, b]) => [ch, [...b]]),
      [
        [0, [0x90, 0x1f]],
        [1, [0x90, 0x1f]],
        [2, [1, 0]],
        [3, [1, 0]],
      ],
    );
    // After its prefix, port 1's error channel carries why the pod's port could not be reached.
    const errorText = Buffer.concat(
      s.messages
        .filter((m) => m.channel === 3)
        .slice(1)
        .map((m) => m.payload),
    ).toString();
    assert.match(errorText, /error forwarding port 1 to pod web.*connection refused/);
    const before = s.messages.length;
    s.ws.send(channelMessage(0, Buffer.from('ping')));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(
      Buffer.concat(
        s.messages
          .slice(before)
          .filter((m) => m.channel === 0)
          .map((m) => m.payload),
      ).toString(),
      'ping',
    );
    s.ws.close(1000);
    await s.closed;
  } finally {
    await srv.close();
    echo.close();
  }
});
