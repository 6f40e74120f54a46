// SPDY connections end to end over loopback TCP: streams, half-close, flow control, pings, resets, GOAWAY.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import type { Readable } from 'node:stream';
import { SpdyConnection, type SpdyConnectionOptions, type SpdyStream } from './spdy.js';
import { type Frame, FrameParser, HeaderCodec, RstStatus, encodeFrame } from './spdy-frames.js';

interface Listener {
  port: number;
  accepted: Promise<SpdyConnection>;
  server: Server;
  sockets: Set<Socket>;
  close(): Promise<void>;
}

async function listen(opts: Partial<SpdyConnectionOptions> = {}): Promise<Listener> {
  const sockets = new Set<Socket>();
  let accept!: (c: SpdyConnection) => void;
  const accepted = new Promise<SpdyConnection>((r) => (accept = r));
  const server = createServer((s) => {
    sockets.add(s);
    accept(new SpdyConnection(s, { role: 'server', ...opts }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    accepted,
    server,
    sockets,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function dial(port: number, opts: Partial<SpdyConnectionOptions> = {}): Promise<SpdyConnection> {
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return new SpdyConnection(sock, { role: 'client', ...opts });
}

function collect(r: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => resolve(Buffer.concat(chunks)));
    r.on('error', reject);
    r.resume(); // a 'data' listener alone does not restart an explicitly paused stream
  });
}

function closed(s: SpdyStream): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((r) => s.once('close', () => r()));
}

function nextStream(c: SpdyConnection): Promise<SpdyStream> {
  return new Promise((resolve) => c.once('stream', resolve));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A hand-driven peer speaking raw frames, to act like clients our own connection class would not be. */
class RawPeer {
  readonly frames: Frame[] = [];
  readonly headers = new Map<number, Record<string, string>>();
  private parser = new FrameParser();
  private codec = new HeaderCodec();
  private chain: Promise<void> = Promise.resolve();
  private waiters: (() => void)[] = [];

  private constructor(readonly sock: Socket) {
    sock.on('data', (b: Buffer) => {
      for (const f of this.parser.push(b)) {
        this.chain = this.chain.then(async () => {
          if (f.type === 'syn_reply' || f.type === 'syn_stream' || f.type === 'headers')
            this.headers.set(f.streamId, { ...(await this.codec.decode(f.block)) });
          this.frames.push(f);
          for (const w of this.waiters.splice(0)) w();
        });
      }
    });
    sock.on('error', () => {});
  }

  static async connect(port: number): Promise<RawPeer> {
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => sock.once('connect', resolve));
    return new RawPeer(sock);
  }

  send(f: Frame): void {
    this.sock.write(encodeFrame(f));
  }

  async open(streamId: number, headers: Record<string, string>): Promise<void> {
    this.send({
      type: 'syn_stream',
      streamId,
      associatedTo: 0,
      priority: 0,
      slot: 0,
      fin: false,
      unidirectional: false,
      block: await this.codec.encode(headers),
    });
  }

  dataBytes(streamId: number): number {
    return this.frames.reduce((n, f) => n + (f.type === 'data' && f.streamId === streamId ? f.data.length : 0), 0);
  }

  credits(streamId: number): number {
    return this.frames.reduce((n, f) => n + (f.type === 'window_update' && f.streamId === streamId ? f.delta : 0), 0);
  }

  async until(pred: () => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`condition not met in ${ms} ms; frames: ${this.frames.map((f) => f.type).join(',')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): void {
    this.sock.destroy();
    this.codec.close();
  }
}

test('a stream carries headers, a reply and data both ways, and half-closes each way', async () => {
  const l = await listen();
  const client = await dial(l.port);
  try {
    const server = await l.accepted;
    const incoming = nextStream(server);
    const cs = client.openStream({ streamtype: 'data', port: '80', requestid: '0' });
    const replied = new Promise<Record<string, string>>((r) => cs.once('reply', r));
    const ss = await incoming;
    assert.equal(ss.id, 1);
    assert.deepEqual({ ...ss.headers }, { streamtype: 'data', port: '80', requestid: '0' });
    ss.reply({ accepted: 'yes' });
    assert.deepEqual({ ...(await replied) }, { accepted: 'yes' });
    const toServer = collect(ss);
    cs.end('ping');
    assert.equal((await toServer).toString(), 'ping');
    // the server side can still write after the client's FIN
    const toClient = collect(cs);
    ss.end('pong');
    assert.equal((await toClient).toString(), 'pong');
    await Promise.all([closed(ss), closed(cs)]);
    assert.ok(!ss.isReset && !cs.isReset, 'a clean close is not a reset');
  } finally {
    client.destroy();
    await l.close();
  }
});

test('fifty interleaved streams keep their headers and data apart (one zlib context per direction)', async () => {
  const l = await listen();
  const client = await dial(l.port);
  try {
    const server = await l.accepted;
    server.on('stream', (s) => {
      s.reply({ echo: s.headers.n });
      s.pipe(s);
    });
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const s = client.openStream({ n: String(i), pad: 'x'.repeat(i * 7) });
        const reply = new Promise<Record<string, string>>((r) => s.once('reply', r));
        const body = collect(s);
        s.end(`stream ${i} `.repeat(i + 1));
        return { i, reply: (await reply).echo, body: (await body).toString() };
      }),
    );
    for (const r of results) {
      assert.equal(r.reply, String(r.i));
      assert.equal(r.body, `stream ${r.i} `.repeat(r.i + 1));
    }
  } finally {
    client.destroy();
    await l.close();
  }
});

test('strict flow control: the sender stops at the 64 KiB window and continues as the reader consumes', async () => {
  const l = await listen({ sendFlowControl: 'strict' });
  const client = await dial(l.port);
  try {
    const server = await l.accepted;
    const incoming = nextStream(server);
    const cs = client.openStream({ streamtype: 'data' });
    const ss = await incoming;
    const payload = randomBytes(256 * 1024);
    let written = false;
    ss.end(payload, () => (written = true));
    await sleep(300);
    // nothing read yet: exactly one window's worth arrived, and the writer is still waiting
    assert.equal(cs.readableLength, 64 * 1024);
    assert.equal(written, false);
    const got = await collect(cs);
    assert.equal(sha(got), sha(payload));
    assert.equal(written, true);
  } finally {
    client.destroy();
    await l.close();
  }
});

test("auto flow control sends past the window to a peer that never sends WINDOW_UPDATE (kubectl's library)", async () => {
  const l = await listen();
  const peer = await RawPeer.connect(l.port);
  try {
    const server = await l.accepted;
    const incoming = nextStream(server);
    await peer.open(1, { streamtype: 'data' });
    const ss = await incoming;
    ss.end(randomBytes(1024 * 1024));
    await peer.until(() => peer.frames.some((f) => f.type === 'data' && f.streamId === 1 && f.fin));
    assert.equal(peer.dataBytes(1), 1024 * 1024);
    assert.ok(
      peer.frames.some((f) => f.type === 'syn_reply' && f.streamId === 1),
      'SYN_REPLY before the data',
    );
    assert.equal(
      peer.frames.findIndex((f) => f.type === 'syn_reply'),
      0,
    );
  } finally {
    peer.close();
    await l.close();
  }
});

test('auto flow control honours the windows once the peer sends WINDOW_UPDATEs', async () => {
  const l = await listen();
  const peer = await RawPeer.connect(l.port);
  try {
    const server = await l.accepted;
    const incoming = nextStream(server);
    await peer.open(1, { streamtype: 'data' });
    peer.send({ type: 'window_update', streamId: 1, delta: 1 });
    peer.send({ type: 'window_update', streamId: 0, delta: 1 });
    const ss = await incoming;
    await sleep(50);
    ss.end(randomBytes(200_000));
    await peer.until(() => peer.dataBytes(1) >= 65537);
    await sleep(300);
    assert.equal(peer.dataBytes(1), 65537, 'stopped at the window (64 KiB + 1)');
    peer.send({ type: 'window_update', streamId: 1, delta: 200_000 });
    await sleep(200);
    assert.equal(peer.dataBytes(1), 65537, 'still held by the connection window');
    peer.send({ type: 'window_update', streamId: 0, delta: 200_000 });
    await peer.until(() => peer.dataBytes(1) === 200_000);
  } finally {
    peer.close();
    await l.close();
  }
});

test('the receiver returns window as its reader consumes, and only then', async () => {
  const l = await listen();
  const peer = await RawPeer.connect(l.port);
  try {
    const server = await l.accepted;
    const incoming = nextStream(server);
    await peer.open(1, { streamtype: 'data' });
    const ss = await incoming;
    ss.pause();
    const total = 128 * 1024;
    for (let i = 0; i < total / 16384; i++) peer.send({ type: 'data', streamId: 1, fin: false, data: Buffer.alloc(16384, i) });
    await sleep(300);
    assert.equal(peer.credits(1), 0, 'no stream credit while nothing is read');
    assert.equal(peer.credits(0), 0, 'no connection credit while nothing is read');
    let read = 0;
    ss.on('data', (b: Buffer) => (read += b.length));
    ss.resume();
    await peer.until(() => read === total);
    // everything read: all of it is returned, except at most one batch below the threshold
    await peer.until(() => peer.credits(1) >= total - 32 * 1024 && peer.credits(0) >= total - 32 * 1024);
    assert.ok(peer.credits(1) <= total && peer.credits(0) <= total);
  } finally {
    peer.close();
    await l.close();
  }
});

test('pings are answered, and our own pings measure a round trip', async () => {
  const l = await listen();
  const peer = await RawPeer.connect(l.port);
  const client = await dial(l.port);
  try {
    peer.send({ type: 'ping', id: 7 });
    await peer.until(() => peer.frames.some((f) => f.type === 'ping' && f.id === 7));
    const ms = await client.ping();
    assert.ok(ms >= 0 && ms < 5000);
  } finally {
    peer.close();
    client.destroy();
    await l.close();
  }
});

test('a reset stream is closed on both sides and later writes go nowhere without errors', async () => {
  const l = await listen();
  const client = await dial(l.port);
  try {
    const server = await l.accepted;
    const incoming = nextStream(server);
    const cs = client.openStream({ streamtype: 'data' });
    const ss = await incoming;
    const reset = new Promise<number>((r) => ss.once('reset', r));
    cs.reset();
    assert.equal(await reset, RstStatus.Cancel);
    await closed(ss);
    assert.ok(ss.isReset);
    assert.equal(ss.write('late'), false);
    await sleep(50);
  } finally {
    client.destroy();
    await l.close();
  }
});

// Skipped: since SpdyStream moved to its own module this case waits forever for a close event (open bug,
// noted on the issue); kubectl's own SPDY exec and port-forward paths are covered by kubectl-*.test.ts.
test('GOAWAY: the peer learns the last stream, and the connection closes once its streams are done', {
  skip: 'known bug: hangs waiting for close after GOAWAY in the SPDY close path',
}, async () => {
  const l = await listen();
  const client = await dial(l.port);
  try {
    const server = await l.accepted;
    const incoming = nextStream(server);
    const cs = client.openStream({ streamtype: 'data' });
    const ss = await incoming;
    const goaway = new Promise<number>((r) => client.once('goaway', r));
    const clientClosed = new Promise<void>((r) => client.once('close', r));
    const serverClosed = new Promise<void>((r) => server.once('close', r));
    const body = collect(cs);
    ss.end('bye');
    cs.end();
    await collect(ss);
    await server.close();
    assert.equal(await goaway, 0);
    assert.equal((await body).toString(), 'bye');
    await Promise.all([clientClosed, serverClosed]);
    assert.throws(() => client.openStream({}), /closing connection/);
  } finally {
    client.destroy();
    await l.close();
  }
});

test('protocol errors end the connection with GOAWAY PROTOCOL_ERROR; DATA for unknown streams gets RST', async () => {
  const l = await listen();
  const peer = await RawPeer.connect(l.port);
  try {
    const server = await l.accepted;
    peer.send({ type: 'data', streamId: 9, fin: false, data: Buffer.from('x') });
    await peer.until(() => peer.frames.some((f) => f.type === 'rst_stream' && f.streamId === 9 && f.status === RstStatus.InvalidStream));
    const serverClosed = new Promise<void>((r) => server.once('close', r));
    await peer.open(2, { streamtype: 'data' }); // even ids belong to the server
    await peer.until(() => peer.frames.some((f) => f.type === 'goaway' && f.status === 1));
    await serverClosed;
  } finally {
    peer.close();
    await l.close();
  }
});
