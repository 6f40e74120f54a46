// A SPDY/3.1 connection over any byte stream (an upgraded socket, or a WebSocket tunnel): multiplexed
// streams as Node Duplexes, header compression, half-close, resets, pings, GOAWAY and flow control.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import {
  type Frame,
  FrameParser,
  GoAwayStatus,
  HeaderCodec,
  RstStatus,
  SettingId,
  type SpdyHeaders,
  SpdyProtocolError,
  dataFrameHeader,
  encodeFrame,
} from './spdy-frames.js';
import { SpdyStream, type StreamOwner } from './spdy-stream.js';

export { SpdyStream } from './spdy-stream.js';

const log = debuglog('k8ts:spdy');
const trace = debuglog('k8ts:spdyframes');

/** One line per frame for NODE_DEBUG=k8ts:spdyframes. */
function describe(buf: Buffer): string {
  const flags = buf.readUInt8(4);
  const len = buf.readUInt32BE(4) & 0xffffff;
  if (buf[0] & 0x80) {
    const names: Record<number, string> = {
      1: 'SYN_STREAM',
      2: 'SYN_REPLY',
      3: 'RST_STREAM',
      4: 'SETTINGS',
      6: 'PING',
      7: 'GOAWAY',
      8: 'HEADERS',
      9: 'WINDOW_UPDATE',
    };
    const type = buf.readUInt16BE(2);
    const word = len >= 4 ? buf.readUInt32BE(8) & 0x7fffffff : 0;
    const extra = len >= 8 && (type === 3 || type === 7 || type === 9) ? ` ${buf.readUInt32BE(12)}` : '';
    return `${names[type] ?? `type ${type}`} ${word}${extra} flags=${flags} len=${len}`;
  }
  return `DATA ${buf.readUInt32BE(0) & 0x7fffffff} flags=${flags} len=${len}`;
}

/** SPDY's initial window, per stream and (3.1) per connection. */
export const DEFAULT_WINDOW = 64 * 1024;
/** How long a client has to open the streams of one exec or port-forward request (the kubelet's default). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;
/** Largest DATA frame we send. */
const MAX_DATA_FRAME = 64 * 1024;
/** Bytes queued on the transport before writers wait for it to drain. */
const OUTPUT_BUFFER_BYTES = 1024 * 1024;
/** Consumed bytes are returned to the peer in WINDOW_UPDATEs of at least this size. */
const CREDIT_THRESHOLD = DEFAULT_WINDOW / 2;

export interface SpdyConnectionOptions {
  /** A server accepts odd (client-opened) streams and opens even ones; a client the reverse. */
  role: 'server' | 'client';
  /**
   * How the peer's flow-control windows limit what we send.
   * - 'strict': never exceed them (the SPDY/3.1 rule).
   * - 'auto' (default): honour a stream's window once the peer has shown it does flow control (a
   *   WINDOW_UPDATE or an initial-window SETTING), and the connection window once it sent a
   *   connection-level WINDOW_UPDATE. Kubernetes' SPDY library (moby/spdystream, inside kubectl and the
   *   kubelet) neither sends WINDOW_UPDATE nor waits for one, so strict sending would stop every kubectl
   *   stream after its first 64 KiB.
   */
  sendFlowControl?: 'strict' | 'auto';
}

export interface SpdyConnectionEvents {
  stream: [SpdyStream];
  goaway: [number];
  close: [];
}

export class SpdyConnection extends EventEmitter<SpdyConnectionEvents> implements StreamOwner {
  readonly role: 'server' | 'client';
  private parser = new FrameParser();
  private codec = new HeaderCodec();
  private streams = new Map<number, SpdyStream>();
  private inTail: Promise<void> = Promise.resolve();
  private outTail: Promise<void> = Promise.resolve();
  private nextStreamId: number;
  private nextPingId: number;
  private pings = new Map<number, { sent: number; resolve: (ms: number) => void; reject: (e: Error) => void }>();
  /** Highest stream id the peer opened; GOAWAY reports it. */
  private lastPeerStreamId = 0;
  private sentGoAway = false;
  private receivedGoAway = false;
  private closed = false;
  private strict: boolean;
  private peerStreamWindows = false;
  private peerConnectionWindow = false;
  private peerInitialWindow = DEFAULT_WINDOW;
  /** What the peer still lets us send on the connection as a whole. */
  private sendWindow = DEFAULT_WINDOW;
  private windowWaiters: (() => void)[] = [];
  /** Bytes accepted but not yet returned to the peer at connection level. */
  private connectionCredit = 0;
  private stalled = new Set<SpdyStream>();

  constructor(
    private transport: Duplex,
    opts: SpdyConnectionOptions,
  ) {
    super();
    this.role = opts.role;
    this.strict = opts.sendFlowControl === 'strict';
    this.nextStreamId = opts.role === 'client' ? 1 : 2;
    this.nextPingId = opts.role === 'client' ? 1 : 2;
    transport.on('data', (chunk: Buffer) => this.onBytes(chunk));
    // Frames already received are still being handled (header blocks inflate asynchronously); the
    // end of the transport is handled after them, or their data and FINs would be lost.
    transport.on('end', () => this.afterInput(() => this.teardown('peer closed the connection')));
    transport.on('close', () => this.afterInput(() => this.teardown('connection closed')));
    transport.on('error', (e: Error) => this.teardown(`connection error: ${e.message}`));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Opens a stream (SYN_STREAM). The peer's SYN_REPLY arrives as the stream's 'reply' event. */
  openStream(headers: SpdyHeaders, opts: { fin?: boolean; priority?: number } = {}): SpdyStream {
    if (this.closed || this.sentGoAway || this.receivedGoAway) throw new SpdyProtocolError('cannot open a stream on a closing connection');
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const s = new SpdyStream(this, id, headers, this.peerInitialWindow, true);
    this.streams.set(id, s);
    void this.enqueue(async () =>
      encodeFrame({
        type: 'syn_stream',
        streamId: id,
        associatedTo: 0,
        priority: opts.priority ?? 0,
        slot: 0,
        fin: !!opts.fin,
        unidirectional: false,
        block: await this.codec.encode(headers),
      }),
    );
    if (opts.fin) s.markLocalClosed();
    return s;
  }

  /** Round-trip time of one PING, in milliseconds. */
  ping(): Promise<number> {
    if (this.closed) return Promise.reject(new SpdyProtocolError('connection is closed'));
    const id = this.nextPingId;
    this.nextPingId = (this.nextPingId + 2) % 0x100000000 || (this.role === 'client' ? 1 : 2);
    return new Promise((resolve, reject) => {
      this.pings.set(id, { sent: performance.now(), resolve, reject });
      void this.enqueue(() => encodeFrame({ type: 'ping', id }));
    });
  }

  /** Says goodbye (GOAWAY) and closes the transport once everything queued before is written. */
  async close(status: number = GoAwayStatus.Ok): Promise<void> {
    if (this.closed) return;
    this.sendGoAway(status);
    await this.outTail;
    this.transport.end();
    // A peer that never closes its side must not keep the socket.
    setTimeout(() => this.transport.destroy(), 5000).unref();
  }

  destroy(): void {
    this.transport.destroy();
    this.teardown('destroyed');
  }

  private sendGoAway(status: number): void {
    if (this.sentGoAway) return;
    this.sentGoAway = true;
    void this.enqueue(() => encodeFrame({ type: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status }));
  }

  // ---- output ----

  /** Writes frames in order; header frames compress inside the queue so the zlib context matches it. */
  enqueue(frame: () => Buffer | Buffer[] | Promise<Buffer>): Promise<void> {
    const run = async () => {
      if (this.closed) return;
      const buf = await frame();
      if (this.closed || this.transport.destroyed || !this.transport.writable) return;
      const parts = Array.isArray(buf) ? buf : [buf];
      if (trace.enabled) trace('send %s', describe(parts[0]));
      if (parts.length === 1) this.transport.write(parts[0]);
      else {
        this.transport.cork();
        for (const p of parts) this.transport.write(p);
        this.transport.uncork();
      }
      // Waiting for 'drain' after every frame would stop the pipeline at each frame; a deeper
      // buffer keeps the socket busy while still bounding memory.
      if (this.transport.writableLength > OUTPUT_BUFFER_BYTES) await this.drained();
    };
    const p = this.outTail.then(run);
    this.outTail = p.catch((e: Error) => this.fail(e));
    return p;
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.transport.off('drain', done);
        this.transport.off('close', done);
        resolve();
      };
      this.transport.on('drain', done);
      this.transport.on('close', done);
    });
  }

  /** Sends `chunk` on a stream, in frames the peer's windows allow. */
  async sendData(s: SpdyStream, chunk: Buffer): Promise<void> {
    s.reply();
    let off = 0;
    while (off < chunk.length) {
      const n = await this.allowance(s, Math.min(chunk.length - off, MAX_DATA_FRAME));
      if (n === 0) return; // stream or connection gone: the data has nowhere to go
      const piece = chunk.subarray(off, off + n);
      off += n;
      await this.enqueue(() => [dataFrameHeader(s.id, false, piece.length), piece]);
    }
  }

  sendReply(s: SpdyStream, headers: SpdyHeaders): void {
    void this.enqueue(async () => encodeFrame({ type: 'syn_reply', streamId: s.id, fin: false, block: await this.codec.encode(headers) }));
  }

  async sendFin(s: SpdyStream): Promise<void> {
    s.reply();
    await this.enqueue(() => encodeFrame({ type: 'data', streamId: s.id, fin: true, data: Buffer.alloc(0) }));
  }

  private async allowance(s: SpdyStream, want: number): Promise<number> {
    for (;;) {
      if (this.closed || s.isReset) return 0;
      const streamLimit = this.strict || this.peerStreamWindows ? s.sendWindow : Infinity;
      const connLimit = this.strict || this.peerConnectionWindow ? this.sendWindow : Infinity;
      const n = Math.min(want, streamLimit, connLimit);
      if (n > 0) {
        s.sendWindow -= n;
        this.sendWindow -= n;
        return n;
      }
      await new Promise<void>((resolve) => this.windowWaiters.push(resolve));
    }
  }

  private wakeWriters(): void {
    const w = this.windowWaiters;
    this.windowWaiters = [];
    for (const resolve of w) resolve();
  }

  /** Returns `n` consumed bytes of stream `s` to the peer (WINDOW_UPDATE), in batches. */
  credit(s: SpdyStream, n: number, force = false): void {
    if (this.closed || (n <= 0 && !force)) return;
    s.pendingCredit += n;
    this.connectionCredit += n;
    if ((s.pendingCredit >= CREDIT_THRESHOLD || (force && s.pendingCredit > 0)) && !s.isRemoteClosed && !s.isReset) {
      const delta = s.pendingCredit;
      s.pendingCredit = 0;
      void this.enqueue(() => encodeFrame({ type: 'window_update', streamId: s.id, delta }));
    }
    if (this.connectionCredit >= CREDIT_THRESHOLD || (force && this.connectionCredit > 0)) {
      const delta = this.connectionCredit;
      this.connectionCredit = 0;
      void this.enqueue(() => encodeFrame({ type: 'window_update', streamId: 0, delta }));
    }
  }

  stall(s: SpdyStream): void {
    this.stalled.add(s);
    if (!this.transport.isPaused()) this.transport.pause();
  }

  unstall(s: SpdyStream): void {
    if (this.stalled.delete(s) && this.stalled.size === 0 && !this.closed) this.transport.resume();
  }

  resetStream(s: SpdyStream, status: number): void {
    void this.enqueue(() => encodeFrame({ type: 'rst_stream', streamId: s.id, status }));
  }

  forget(s: SpdyStream): void {
    if (this.streams.get(s.id) === s) this.streams.delete(s.id);
    this.unstall(s);
    this.wakeWriters();
    if (this.receivedGoAway && this.streams.size === 0) void this.close();
  }

  // ---- input ----

  private onBytes(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    for (const f of frames) {
      if (trace.enabled) trace('recv %s', describe(encodeFrame(f)));
      this.inTail = this.inTail.then(() => this.handle(f)).catch((e: Error) => this.fail(e));
    }
  }

  private afterInput(fn: () => void): void {
    this.inTail = this.inTail.then(fn);
  }

  private isPeerId(id: number): boolean {
    return this.role === 'server' ? id % 2 === 1 : id % 2 === 0;
  }

  private async handle(f: Frame): Promise<void> {
    if (this.closed) return;
    switch (f.type) {
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (!s) {
          // Frames may still arrive for a stream we just reset or finished; only unknown new ids are errors.
          if (f.streamId > this.lastPeerStreamId && this.isPeerId(f.streamId)) this.resetId(f.streamId, RstStatus.InvalidStream);
          return;
        }
        if (s.isRemoteClosed) {
          s.reset(RstStatus.StreamAlreadyClosed);
          return;
        }
        if (f.data.length) s.deliver(f.data);
        if (f.fin) s.remoteFin();
        return;
      }
      case 'syn_stream': {
        // Decode first in every case: the zlib context must see every block in order.
        const headers = await this.codec.decode(f.block);
        if (f.streamId === 0 || !this.isPeerId(f.streamId) || f.streamId <= this.lastPeerStreamId) {
          throw new SpdyProtocolError(`SYN_STREAM with stream id ${f.streamId} (last was ${this.lastPeerStreamId})`);
        }
        this.lastPeerStreamId = f.streamId;
        if (this.sentGoAway) {
          this.resetId(f.streamId, RstStatus.RefusedStream);
          return;
        }
        const s = new SpdyStream(this, f.streamId, headers, this.peerInitialWindow, false);
        this.streams.set(f.streamId, s);
        if (f.unidirectional) s.markLocalClosed();
        this.emit('stream', s);
        if (f.fin) s.remoteFin();
        return;
      }
      case 'syn_reply': {
        const headers = await this.codec.decode(f.block);
        const s = this.streams.get(f.streamId);
        if (!s) return;
        s.onReply(headers);
        if (f.fin) s.remoteFin();
        return;
      }
      case 'headers': {
        const headers = await this.codec.decode(f.block);
        const s = this.streams.get(f.streamId);
        if (!s) return;
        s.emit('headers', headers);
        if (f.fin) s.remoteFin();
        return;
      }
      case 'rst_stream':
        this.streams.get(f.streamId)?.onReset(f.status);
        return;
      case 'settings':
        for (const e of f.entries) {
          if (e.id === SettingId.InitialWindowSize && e.value <= 0x7fffffff) {
            const delta = e.value - this.peerInitialWindow;
            this.peerInitialWindow = e.value;
            for (const s of this.streams.values()) s.sendWindow += delta;
            this.peerStreamWindows = true;
          }
        }
        this.wakeWriters();
        return;
      case 'ping': {
        if (this.isPeerId(f.id)) {
          void this.enqueue(() => encodeFrame({ type: 'ping', id: f.id }));
          return;
        }
        const p = this.pings.get(f.id);
        if (p) {
          this.pings.delete(f.id);
          p.resolve(performance.now() - p.sent);
        }
        return;
      }
      case 'goaway':
        this.receivedGoAway = true;
        for (const s of [...this.streams.values()]) {
          if (!this.isPeerId(s.id) && s.id > f.lastGoodStreamId) s.onReset(RstStatus.RefusedStream);
        }
        this.emit('goaway', f.status);
        if (this.streams.size === 0) void this.close();
        return;
      case 'window_update':
        if (f.delta === 0) return;
        if (f.streamId === 0) {
          this.sendWindow += f.delta;
          this.peerConnectionWindow = true;
        } else {
          const s = this.streams.get(f.streamId);
          if (s) s.sendWindow += f.delta;
          this.peerStreamWindows = true;
        }
        this.wakeWriters();
        return;
      case 'unknown':
        log('ignoring control frame type %d version %d', f.controlType, f.version);
        return;
    }
  }

  private resetId(streamId: number, status: number): void {
    void this.enqueue(() => encodeFrame({ type: 'rst_stream', streamId, status }));
  }

  private fail(e: Error): void {
    if (this.closed) return;
    log('connection failed: %s', e.message);
    if (e instanceof SpdyProtocolError && !this.sentGoAway) {
      this.sentGoAway = true;
      const frame = encodeFrame({ type: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status: GoAwayStatus.ProtocolError });
      if (this.transport.writable) this.transport.end(frame);
    }
    this.transport.destroy();
    this.teardown(e.message);
  }

  private teardown(why: string): void {
    if (this.closed) return;
    this.closed = true;
    log('teardown: %s', why);
    for (const s of [...this.streams.values()]) s.destroy();
    this.streams.clear();
    for (const p of this.pings.values()) p.reject(new SpdyProtocolError(`connection closed before the PING reply: ${why}`));
    this.pings.clear();
    this.wakeWriters();
    this.codec.close();
    if (!this.transport.destroyed) this.transport.destroy();
    this.emit('close');
  }
}
