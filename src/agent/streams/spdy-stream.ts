// One SPDY stream as a Node Duplex: data the peer sends is readable, writes become DATA frames,
// end() half-closes with FIN; its flow-control bookkeeping, with the connection doing the I/O.
import { Duplex } from 'node:stream';
import { RstStatus, type SpdyHeaders } from './spdy-frames.js';

/** Above this many unread bytes in one stream, reading from the transport pauses. Needed because
 *  Kubernetes' SPDY library never honours windows, so the window alone does not bound memory. */
const STALL_BYTES = 4 * 1024 * 1024;

/** What a stream needs from its connection. */
export interface StreamOwner {
  readonly isClosed: boolean;
  sendData(s: SpdyStream, chunk: Buffer): Promise<void>;
  sendFin(s: SpdyStream): Promise<void>;
  sendReply(s: SpdyStream, headers: SpdyHeaders): void;
  resetStream(s: SpdyStream, status: number): void;
  /** Returns consumed bytes to the peer (WINDOW_UPDATE); `force` sends even a small amount. */
  credit(s: SpdyStream, n: number, force?: boolean): void;
  /** Pauses (and resumes) reading from the transport while a stream's reader lags far behind. */
  stall(s: SpdyStream): void;
  unstall(s: SpdyStream): void;
  /** The stream is finished or destroyed. */
  forget(s: SpdyStream): void;
}

/** One SPDY stream: the readable side is what the peer sends, the writable side what we send; end()
 *  half-closes with FIN, destroy() before both sides finished resets the stream. Events besides the
 *  Duplex ones: 'reply' (the peer's SYN_REPLY headers), 'headers' (a HEADERS frame), 'reset' (status). */
export class SpdyStream extends Duplex {
  sendWindow: number;
  pendingCredit = 0;
  /** Bytes pushed while the readable buffer was full; returned to the peer when it drains. */
  private owed = 0;
  private replied: boolean;
  private remoteClosed = false;
  private localClosed = false;
  private wasReset = false;
  replyHeaders: SpdyHeaders | undefined;

  constructor(
    private conn: StreamOwner,
    readonly id: number,
    readonly headers: SpdyHeaders,
    sendWindow: number,
    openedByUs: boolean,
  ) {
    super({ allowHalfOpen: true });
    this.sendWindow = sendWindow;
    // A stream we open needs no SYN_REPLY from us; one the peer opens does.
    this.replied = openedByUs;
    // After the peer's FIN, _read is no longer called; the buffered bytes count as consumed at the end.
    this.on('end', () => this.flushOwed());
  }

  private flushOwed(): void {
    if (this.owed > 0) {
      const n = this.owed;
      this.owed = 0;
      this.conn.credit(this, n, true);
    }
  }

  get isRemoteClosed(): boolean {
    return this.remoteClosed;
  }

  get isReset(): boolean {
    return this.wasReset;
  }

  /** Accepts a peer-opened stream (SYN_REPLY); sent automatically before the first data if not called. */
  reply(headers: SpdyHeaders = {}): void {
    if (this.replied) return;
    this.replied = true;
    this.conn.sendReply(this, headers);
  }

  /** Abandons the stream in both directions (RST_STREAM). */
  reset(status: number = RstStatus.Cancel): void {
    if (this.wasReset) return;
    this.wasReset = true;
    this.conn.resetStream(this, status);
    this.destroy();
  }

  markLocalClosed(): void {
    this.localClosed = true;
    // Nothing may be written any more; end the writable side without sending a FIN.
    this.end();
  }

  deliver(data: Buffer): void {
    if (this.destroyed) return;
    if (this.push(data)) this.conn.credit(this, data.length);
    else {
      this.owed += data.length;
      if (this.readableLength > STALL_BYTES) this.conn.stall(this);
    }
  }

  remoteFin(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    if (!this.destroyed) this.push(null);
  }

  onReply(headers: SpdyHeaders): void {
    this.replyHeaders = headers;
    this.emit('reply', headers);
  }

  onReset(status: number): void {
    if (this.wasReset) return;
    this.wasReset = true;
    this.emit('reset', status);
    this.destroy();
  }

  override _read(): void {
    this.conn.unstall(this);
    this.flushOwed();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.localClosed || this.wasReset) {
      cb();
      return;
    }
    this.conn.sendData(this, chunk).then(() => cb(), cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.localClosed || this.wasReset) {
      cb();
      return;
    }
    this.localClosed = true;
    this.conn.sendFin(this).then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    // Unread bytes are dropped with the stream; the connection window gets them back.
    this.flushOwed();
    if (!this.wasReset && !(this.localClosed && this.remoteClosed) && !this.conn.isClosed) {
      this.wasReset = true;
      this.conn.resetStream(this, RstStatus.Cancel);
    }
    this.conn.forget(this);
    cb(err);
  }
}
