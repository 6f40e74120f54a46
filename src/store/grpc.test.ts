// The gRPC channel against an HTTP/2 server of the test's own on loopback, which answers each case the
// way a real server (or something that is not one) can: messages split across frames and several in one,
// errors in trailers-only responses, a proxy's HTML page, a compressed message, silence past the
// deadline, a refused connection, a reset or a GOAWAY in the middle of a stream. The etcd store's tests
// (etcd.test.ts) run the same channel against a real etcd.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FrameReader, GrpcChannel, GrpcError, Status } from './grpc.js';

const frame = (payload: string | Buffer, flag = 0) => {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
};
const OK_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer[]) => void;

describe('gRPC channel', () => {
  let server: http2.Http2Server;
  let url: URL;
  const handlers = new Map<string, Handler>();
  const sessions = new Set<http2.ServerHttp2Session>();

  before(async () => {
    server = http2.createServer();
    server.on('session', (s) => {
      sessions.add(s);
      s.on('close', () => sessions.delete(s));
    });
    server.on('stream', (stream, headers) => {
      const h = handlers.get(String(headers[':path']));
      const body: Buffer[] = [];
      if (!h) {
        stream.respond({ ':status': 404, 'content-type': 'text/html' });
        stream.end('<html>no such page</html>');
        return;
      }
      // Streaming handlers see the request as it comes; unary ones once it has all arrived.
      if (String(headers[':path']).endsWith('Stream')) {
        h(stream, headers, body);
        return;
      }
      stream.on('data', (c: Buffer) => body.push(c));
      stream.on('end', () => h(stream, headers, body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(async () => {
    for (const s of sessions) s.destroy();
    await new Promise((r) => server.close(r));
  });

  const rejectsWith = async (p: Promise<unknown>, code: number, message?: RegExp) => {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof GrpcError, String(err));
      assert.equal(err.code, code, err.message);
      if (message) assert.match(err.message, message);
      return true;
    });
  };

  it('a unary call: the request framed, the deadline sent, a response split across DATA frames put together', async () => {
    let seen: http2.IncomingHttpHeaders = {};
    handlers.set('/t.S/Echo', (stream, headers, body) => {
      seen = headers;
      const req = Buffer.concat(body);
      const reply = frame(Buffer.concat([Buffer.from('echo:'), req.subarray(5)]));
      stream.respond(OK_HEADERS, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.write(reply.subarray(0, 3));
      setImmediate(() => stream.end(reply.subarray(3)));
    });
    const ch = new GrpcChannel([url]);
    try {
      const res = await ch.unary('/t.S/Echo', frame('hello'), 1500);
      assert.equal(res.toString(), 'echo:hello');
      assert.equal(seen['content-type'], 'application/grpc');
      assert.equal(seen.te, 'trailers');
      assert.equal(seen['grpc-timeout'], '1500m');
    } finally {
      ch.close();
    }
  });

  it('an error in a trailers-only response, its message percent-decoded', async () => {
    handlers.set('/t.S/Fail', (stream) => {
      stream.respond({ ...OK_HEADERS, 'grpc-status': '11', 'grpc-message': 'etcdserver%3A mvcc%3A required revision has been compacted' }, { endStream: true });
    });
    const ch = new GrpcChannel([url]);
    try {
      await rejectsWith(ch.unary('/t.S/Fail', frame(''), 1000), 11, /^etcdserver: mvcc: required revision has been compacted$/);
    } finally {
      ch.close();
    }
  });

  it('refuses what is not a gRPC answer: an HTML page, a compressed message, two messages, a cut one, no status', async () => {
    handlers.set('/t.S/Compressed', (stream) => {
      stream.respond(OK_HEADERS, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame('zz', 1));
    });
    handlers.set('/t.S/Two', (stream) => {
      stream.respond(OK_HEADERS, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.concat([frame('a'), frame('b')]));
    });
    handlers.set('/t.S/Short', (stream) => {
      stream.respond(OK_HEADERS, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame('abcdef').subarray(0, 8));
    });
    handlers.set('/t.S/NoStatus', (stream) => {
      stream.respond(OK_HEADERS);
      stream.end(frame('a'));
    });
    const ch = new GrpcChannel([url]);
    try {
      await rejectsWith(ch.unary('/t.S/NoSuchMethod', frame(''), 1000), Status.UNKNOWN, /HTTP status 404/);
      await rejectsWith(ch.unary('/t.S/Compressed', frame(''), 1000), Status.INTERNAL, /a compressed message/);
      await rejectsWith(ch.unary('/t.S/Two', frame(''), 1000), Status.INTERNAL, /more bytes than one message/);
      await rejectsWith(ch.unary('/t.S/Short', frame(''), 1000), Status.INTERNAL, /not one whole message \(8 bytes\)/);
      await rejectsWith(ch.unary('/t.S/NoStatus', frame(''), 1000), Status.UNAVAILABLE, /no status/);
    } finally {
      ch.close();
    }
  });

  it('gives up at the deadline and resets the stream, so the server stops too', async () => {
    let reset: Promise<number> | undefined;
    handlers.set('/t.S/Silent', (stream) => {
      reset = new Promise((r) => stream.on('close', () => r(stream.rstCode)));
    });
    const ch = new GrpcChannel([url]);
    try {
      const t0 = performance.now();
      await rejectsWith(ch.unary('/t.S/Silent', frame(''), 200), Status.DEADLINE_EXCEEDED);
      assert.ok(performance.now() - t0 < 2000);
      assert.equal(await reset, http2.constants.NGHTTP2_CANCEL);
    } finally {
      ch.close();
    }
  });

  it('a refused connection is UNAVAILABLE, and the next call goes to the next endpoint', async () => {
    const dead = http2.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadUrl = new URL(`http://127.0.0.1:${(dead.address() as AddressInfo).port}`);
    await new Promise((r) => dead.close(r));
    handlers.set('/t.S/Ok', (stream) => {
      stream.respond(OK_HEADERS, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame('ok'));
    });
    const ch = new GrpcChannel([deadUrl, url]);
    try {
      await rejectsWith(ch.unary('/t.S/Ok', frame(''), 1000), Status.UNAVAILABLE, /ECONNREFUSED/);
      assert.equal((await ch.unary('/t.S/Ok', frame(''), 1000)).toString(), 'ok');
    } finally {
      ch.close();
    }
  });

  it('a stream: messages in order however they are cut, the status at the end, cancel() resets it', async () => {
    handlers.set('/t.S/EchoStream', (stream) => {
      stream.respond(OK_HEADERS, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.on('data', (c: Buffer) => {
        const n = Number(c.subarray(5).toString());
        if (n === 0) {
          stream.end();
          return;
        }
        // n messages: all in one write, and one more cut into three
        stream.write(Buffer.concat(Array.from({ length: n }, (_, i) => frame(`m${i}`))));
        const last = frame(`last${n}`);
        stream.write(last.subarray(0, 2));
        stream.write(last.subarray(2, 7));
        stream.write(last.subarray(7));
      });
    });
    const ch = new GrpcChannel([url]);
    try {
      const got: string[] = [];
      const closed = new Promise<GrpcError>((resolve) => {
        const s = ch.stream('/t.S/EchoStream', { onMessage: (m) => got.push(m.toString()), onClose: resolve });
        s.write(frame('3'));
        setTimeout(() => s.write(frame('0')), 50);
      });
      const err = await closed;
      assert.equal(err.code, Status.OK);
      assert.deepEqual(got, ['m0', 'm1', 'm2', 'last3']);

      let serverSaw: Promise<number> | undefined;
      handlers.set('/t.S/HoldStream', (stream) => {
        stream.respond(OK_HEADERS);
        serverSaw = new Promise((r) => stream.on('close', () => r(stream.rstCode)));
        stream.write(frame('hello'));
      });
      let closes = 0;
      const first = new Promise<string>((resolve) => {
        const s = ch.stream('/t.S/HoldStream', {
          onMessage: (m) => {
            resolve(m.toString());
            s.cancel();
          },
          onClose: () => closes++,
        });
      });
      assert.equal(await first, 'hello');
      assert.equal(await serverSaw, http2.constants.NGHTTP2_CANCEL);
      assert.equal(closes, 0, 'cancel() is not reported back as a close');
    } finally {
      ch.close();
    }
  });

  it('a connection that goes away ends its streams as UNAVAILABLE, and the next call connects again', async () => {
    handlers.set('/t.S/GoneStream', (stream) => {
      stream.respond(OK_HEADERS);
      stream.write(frame('before'));
      setTimeout(() => stream.session?.destroy(), 20);
    });
    handlers.set('/t.S/Ok', (stream) => {
      stream.respond(OK_HEADERS, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame('ok'));
    });
    const ch = new GrpcChannel([url]);
    try {
      const err = await new Promise<GrpcError>((resolve) => ch.stream('/t.S/GoneStream', { onMessage: () => {}, onClose: resolve }));
      assert.equal(err.code, Status.UNAVAILABLE, err.message);
      assert.equal((await ch.unary('/t.S/Ok', frame(''), 1000)).toString(), 'ok');
    } finally {
      ch.close();
    }
  });

  it('the frame reader: prefixes split anywhere, and flags other than 0 refused', () => {
    const all = Buffer.concat([frame('a'), frame(''), frame('x'.repeat(70_000)), frame('z')]);
    for (const cut of [1, 3, 5, 6, 4096, 65_536]) {
      const r = new FrameReader();
      const got: string[] = [];
      for (let i = 0; i < all.length; i += cut) for (const m of r.push(all.subarray(i, i + cut))) got.push(m.length > 10 ? `${m.length}` : m.toString());
      assert.deepEqual(got, ['a', '', '70000', 'z'], `cut ${cut}`);
    }
    assert.throws(() => new FrameReader().push(frame('a', 1)), /compressed/);
    assert.throws(() => new FrameReader().push(frame('a', 7)), /flag 7/);
  });
});
