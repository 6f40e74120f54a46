// handleStream's transport choice and refusals, exec over SPDY by protocol version, and port-forward over
// raw SPDY and over the WebSocket tunnel, driven by our own SPDY client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Duplex, type Readable } from 'node:stream';
import { SpdyConnection, type SpdyStream } from './spdy.js';
import { RstStatus } from './spdy-frames.js';
import { WS_PORT_FORWARD_TUNNEL_PROTOCOL } from './websocket.js';
import { FakeExecBackend, startStreamServer } from './testing/fake-backend.js';
import { LocalBackend } from './testing/local-backend.js';
import { closedPort, startEchoServer } from './testing/kubectl-streams.js';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  rest: Buffer;
  socket: Socket;
}

/** Sends a request by hand and reads the answer's head; upgrade bytes that follow stay in `rest`. */
function rawRequest(port: number, method: string, path: string, headers: Record<string, string | string[]>): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
    for (const [k, v] of Object.entries(headers)) for (const x of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${x}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    let buf = Buffer.alloc(0);
    const onData = (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      const [statusLine, ...rest] = buf.subarray(0, end).toString('latin1').split('\r\n');
      const h: Record<string, string> = {};
      for (const l of rest) {
        const i = l.indexOf(':');
        h[l.slice(0, i).toLowerCase()] = (h[l.slice(0, i).toLowerCase()] ? `${h[l.slice(0, i).toLowerCase()]}, ` : '') + l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers: h, rest: buf.subarray(end + 4), socket });
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

async function body(a: RawAnswer): Promise<string> {
  const chunks = [a.rest];
  a.socket.resume();
  for await (const c of a.socket) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function spdyClient(a: RawAnswer): SpdyConnection {
  if (a.rest.length) a.socket.unshift(a.rest);
  a.socket.resume();
  return new SpdyConnection(a.socket, { role: 'client' });
}

function collect(r: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => resolve(Buffer.concat(chunks)));
    r.on('error', reject);
  });
}

const SPDY_UPGRADE = { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'Content-Length': '0' };

test('requests without a usable upgrade get a clear 400 Status', async () => {
  const srv = await startStreamServer({ exec: new FakeExecBackend(), portForward: new LocalBackend() });
  try {
    const plain = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      request(`http://127.0.0.1:${srv.port}/exec?command=ls&container=main&stdout=true`, (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: b }));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(plain.status, 400);
    const st = JSON.parse(plain.body);
    assert.equal(st.kind, 'Status');
    assert.equal(st.reason, 'BadRequest');
    assert.match(st.message, /^Upgrade request required: exec needs "Connection: Upgrade" with "Upgrade: websocket" or "Upgrade: SPDY\/3\.1"/);

    const h2c = await rawRequest(srv.port, 'GET', '/exec?command=ls&container=main&stdout=true', { Connection: 'Upgrade', Upgrade: 'h2c' });
    assert.equal(h2c.status, 400);
    assert.match(JSON.parse(await body(h2c)).message, /got "h2c"/);

    const noVersion = await rawRequest(srv.port, 'POST', '/exec?command=ls&container=main&stdout=true', SPDY_UPGRADE);
    assert.equal(noVersion.status, 400);
    assert.equal(JSON.parse(await body(noVersion)).message, 'unable to upgrade: X-Stream-Protocol-Version is required');

    const wrongVersion = await rawRequest(srv.port, 'POST', '/exec?command=ls&container=main&stdout=true', {
      ...SPDY_UPGRADE,
      'X-Stream-Protocol-Version': 'v9.channel.k8s.io',
    });
    assert.equal(wrongVersion.status, 403);
    assert.match(
      JSON.parse(await body(wrongVersion)).message,
      /unable to negotiate protocol: client supports \[v9\.channel\.k8s\.io\], server accepts \[v5\.channel\.k8s\.io v4/,
    );

    const pfWrong = await rawRequest(srv.port, 'POST', '/portforward', { ...SPDY_UPGRADE, 'X-Stream-Protocol-Version': 'v4.channel.k8s.io' });
    assert.equal(pfWrong.status, 403);
    await body(pfWrong);

    const logUpgrade = await rawRequest(srv.port, 'GET', '/log?container=main', SPDY_UPGRADE);
    assert.equal(logUpgrade.status, 400);
    assert.match(JSON.parse(await body(logUpgrade)).message, /plain GET/);
  } finally {
    await srv.close();
  }
  const bare = await startStreamServer({});
  try {
    const pf = await rawRequest(bare.port, 'POST', '/portforward', { ...SPDY_UPGRADE, 'X-Stream-Protocol-Version': 'portforward.k8s.io' });
    assert.equal(pf.status, 400);
    assert.match(JSON.parse(await body(pf)).message, /no port-forward backend/);
  } finally {
    await bare.close();
  }
});

interface SpdyExec {
  conn: SpdyConnection;
  protocol: string;
  open(type: string): SpdyStream;
}

async function spdyExec(port: number, path: string, versions: string[]): Promise<SpdyExec> {
  const a = await rawRequest(port, 'POST', path, { ...SPDY_UPGRADE, 'X-Stream-Protocol-Version': versions });
  assert.equal(a.status, 101, `upgrade answered ${a.status}`);
  assert.equal(a.headers.upgrade, 'SPDY/3.1');
  const conn = spdyClient(a);
  return { conn, protocol: a.headers['x-stream-protocol-version'], open: (type) => conn.openStream({ streamtype: type }) };
}

test('exec over SPDY v4: client-opened streams, output, JSON Status on the error stream, then GOAWAY', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const c = await spdyExec(srv.port, '/exec?command=cat&container=main&stdin=true&stdout=true&stderr=true', ['v4.channel.k8s.io', 'v3.channel.k8s.io']);
    assert.equal(c.protocol, 'v4.channel.k8s.io');
    const error = c.open('error');
    const stdin = c.open('stdin');
    const stdout = c.open('stdout');
    const stderr = c.open('stderr');
    const outs = [collect(error), collect(stdout), collect(stderr), collect(stdin)];
    const p = await started;
    stdin.end('typed');
    await waitUntil(() => p.stdinEnded);
    assert.equal(p.stdinText, 'typed');
    p.stdout.write('o');
    p.stderr!.write('e');
    const goaway = new Promise<number>((r) => c.conn.once('goaway', r));
    p.exit(2);
    const [err, out, errOut, stdinBack] = await Promise.all(outs);
    assert.equal(out.toString(), 'o');
    assert.equal(errOut.toString(), 'e');
    assert.equal(stdinBack.length, 0, 'our side of stdin closes empty');
    assert.equal(JSON.parse(err.toString()).details.causes[0].message, '2');
    assert.equal(await goaway, 0);
  } finally {
    await srv.close();
  }
});

test('exec over SPDY v2: errors are plain text, success is an empty error stream', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    for (const code of [0, 7]) {
      const started = exec.next();
      const c = await spdyExec(srv.port, '/exec?command=x&container=main&stdout=true', ['v2.channel.k8s.io']);
      assert.equal(c.protocol, 'v2.channel.k8s.io');
      const err = collect(c.open('error'));
      const out = collect(c.open('stdout'));
      (await started).exit(code);
      await out;
      const text = (await err).toString();
      if (code === 0) assert.equal(text, '');
      else assert.equal(text, 'command terminated with non-zero exit code: error executing command [x], exit code 7');
      c.conn.destroy();
    }
  } finally {
    await srv.close();
  }
});

test('exec over SPDY with a tty: the resize stream is a byte stream of JSON documents', async () => {
  const exec = new FakeExecBackend();
  const srv = await startStreamServer({ exec });
  try {
    const started = exec.next();
    const c = await spdyExec(srv.port, '/exec?command=sh&container=main&stdin=true&stdout=true&tty=true', ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
    assert.equal(c.protocol, 'v5.channel.k8s.io');
    const err = collect(c.open('error'));
    const stdin = c.open('stdin');
    const out = collect(c.open('stdout'));
    const resize = c.open('resize');
    const p = await started;
    resize.write('{"Width":80,"Height":24}{"Width":100,');
    resize.write('"Height":30}');
    await waitUntil(() => p.resizes.length === 2);
    assert.deepEqual(p.resizes, [
      [80, 24],
      [100, 30],
    ]);
    p.stdout.write('$ ');
    p.exit(0);
    assert.equal((await out).toString(), '$ ');
    assert.deepEqual(JSON.parse((await err).toString()), { metadata: {}, status: 'Success' });
    stdin.destroy();
  } finally {
    await srv.close();
  }
});

test('port-forward over raw SPDY: stream pairs by request id, bytes both ways, errors as text', async () => {
  const echo = await startEchoServer();
  const srv = await startStreamServer({ portForward: new LocalBackend() });
  try {
    const a = await rawRequest(srv.port, 'POST', '/portforward', { ...SPDY_UPGRADE, 'X-Stream-Protocol-Version': 'portforward.k8s.io' });
    assert.equal(a.status, 101);
    assert.equal(a.headers['x-stream-protocol-version'], 'portforward.k8s.io');
    await checkPortForward(spdyClient(a), echo.port);
  } finally {
    await srv.close();
    await echo.close();
  }
});

/**
 * A minimal WebSocket client written out here because the ws package refuses to offer a subprotocol
 * with a '/' in it, which kubectl's port-forward tunnel uses. Binary messages in and out as a byte stream.
 */
async function rawWebSocket(port: number, path: string, protocol: string): Promise<{ stream: Duplex; closeCode: Promise<number> }> {
  const key = randomBytes(16).toString('base64');
  const a = await rawRequest(port, 'GET', path, {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Protocol': protocol,
  });
  assert.equal(a.status, 101);
  assert.equal(a.headers['sec-websocket-accept'], createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64'));
  assert.equal(a.headers['sec-websocket-protocol'], protocol);
  const sock = a.socket;
  const frame = (opcode: number, payload: Buffer) => {
    const mask = randomBytes(4);
    const len = payload.length;
    const head =
      len < 126
        ? Buffer.from([0x80 | opcode, 0x80 | len])
        : len < 65536
          ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
          : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), Buffer.from(BigInt(len).toString(16).padStart(16, '0'), 'hex')]);
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
    return Buffer.concat([head, mask, body]);
  };
  let closeCode!: (n: number) => void;
  const closed = new Promise<number>((r) => (closeCode = r));
  let sentClose = false;
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _e, cb) {
      sock.write(frame(2, chunk), cb);
    },
    final(cb) {
      sentClose = true;
      sock.write(frame(8, Buffer.from([0x03, 0xe8])), cb);
    },
  });
  let buf = a.rest;
  const parse = () => {
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      const opcode = buf[0] & 0x0f;
      const payload = buf.subarray(off, off + len);
      buf = buf.subarray(off + len);
      if (opcode === 2 || opcode === 0) stream.push(payload);
      else if (opcode === 9) sock.write(frame(10, payload));
      else if (opcode === 8) {
        closeCode(payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
        if (!sentClose) sock.write(frame(8, payload.subarray(0, 2)));
        stream.push(null);
        sock.end();
      } else if (opcode === 1) stream.destroy(new Error('text message on a binary tunnel'));
    }
  };
  sock.on('data', (b: Buffer) => {
    buf = Buffer.concat([buf, b]);
    parse();
  });
  sock.resume();
  parse();
  return { stream, closeCode: closed };
}

test('port-forward tunnelled in WebSocket binary messages (SPDY/3.1+portforward.k8s.io)', async () => {
  const echo = await startEchoServer();
  const srv = await startStreamServer({ portForward: new LocalBackend() });
  try {
    const ws = await rawWebSocket(srv.port, '/portforward', WS_PORT_FORWARD_TUNNEL_PROTOCOL);
    const conn = new SpdyConnection(ws.stream, { role: 'client' });
    await checkPortForward(conn, echo.port);
    await conn.close();
    assert.equal(await ws.closeCode, 1000);
  } finally {
    await srv.close();
    await echo.close();
  }
});

async function checkPortForward(conn: SpdyConnection, port: number): Promise<void> {
  const pair = (id: number, p: number) => {
    const error = conn.openStream({ streamtype: 'error', port: String(p), requestid: String(id) });
    error.end(); // kubectl never writes on it
    const data = conn.openStream({ streamtype: 'data', port: String(p), requestid: String(id) });
    return { error, data, errorText: collect(error), received: collect(data) };
  };
  // two forwarded connections at once, one of them large
  const big = randomBytes(1024 * 1024);
  const one = pair(0, port);
  const two = pair(1, port);
  one.data.end(big);
  two.data.end('small');
  assert.equal(
    createHash('sha256')
      .update(await one.received)
      .digest('hex'),
    createHash('sha256').update(big).digest('hex'),
  );
  assert.equal((await two.received).toString(), 'small');
  assert.equal((await one.errorText).length, 0);
  assert.equal((await two.errorText).length, 0);
  // nothing listening: the text kubectl prints
  const dead = await closedPort();
  const three = pair(2, dead);
  assert.match(
    (await three.errorText).toString(),
    new RegExp(`^error forwarding port ${dead} to pod web, uid uid-1: connect ECONNREFUSED 127\\.0\\.0\\.1:${dead}$`),
  );
  assert.equal((await three.received).length, 0);
  // streams without a port, or of an unknown type, are refused
  const bad = conn.openStream({ streamtype: 'data', requestid: '3' });
  const badType = conn.openStream({ streamtype: 'bogus', port: '80', requestid: '4' });
  assert.equal(await new Promise((r) => bad.once('reset', r)), RstStatus.RefusedStream);
  assert.equal(await new Promise((r) => badType.once('reset', r)), RstStatus.RefusedStream);
}

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
