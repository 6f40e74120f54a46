// gRPC over cleartext HTTP/2 (h2c), as much of it as the etcd store uses: unary calls and one
// bidirectional stream kind, on one connection to one endpoint at a time, with Node's own http2.
//
// The wire (gRPC's PROTOCOL-HTTP2): a call is a POST to /package.Service/Method with content-type
// application/grpc and te: trailers; each message travels behind a 5-byte prefix (a compressed flag, then
// the length, big-endian); the status comes in the trailers (grpc-status, grpc-message percent-encoded),
// or in the headers of a response that has no body ("trailers-only"). Nothing here compresses, and
// nothing asks the server to: a message with the compressed flag set is an error.
import http2 from 'node:http2';

/** gRPC status codes used here. */
export const Status = { OK: 0, CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, INTERNAL: 13, UNAVAILABLE: 14 } as const;

/** A call that did not end with OK: the server's status and message, or a transport failure (UNAVAILABLE). */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'GrpcError';
  }
}

export interface GrpcStream {
  /** Sends one framed message (see etcdproto's encoders, which leave room for the prefix). */
  write(framed: Buffer): void;
  /** Ends the call from this side (RST_STREAM CANCEL); onClose is not called after this. */
  cancel(): void;
}

export interface StreamHandlers {
  onMessage(message: Buffer): void;
  /** Once, when the call ends for any reason but cancel(): the status (OK if the server just ended it). */
  onClose(err: GrpcError): void;
}

/** Per-stream and per-connection receive windows: a list of 10,000 objects is ~10 MB, and Node's
 *  default 64 KiB window would turn it into hundreds of round trips of WINDOW_UPDATE. */
const STREAM_WINDOW = 8 << 20;
const SESSION_WINDOW = 32 << 20;

const PREFIX = 5;

export class GrpcChannel {
  private session: http2.ClientHttp2Session | undefined;
  private next = 0;
  private closed = false;

  /** endpoints: http://host:port URLs; a failed connection moves the next call to the next one. */
  constructor(private readonly endpoints: URL[]) {
    if (endpoints.length === 0) throw new Error('a gRPC channel needs at least one endpoint');
    for (const u of endpoints) {
      if (u.protocol !== 'http:') throw new Error(`endpoint ${u.href}: only http:// (cleartext HTTP/2) is supported`);
    }
  }

  /** One request message, one response message (without its prefix), or a GrpcError. */
  unary(path: string, framed: Buffer, timeoutMs: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      let req: http2.ClientHttp2Stream;
      try {
        req = this.request(path, timeoutMs);
      } catch (err) {
        reject(err);
        return;
      }
      const message = new MessageBuffer();
      let settled = false;
      const settle = (err: GrpcError | undefined, value?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value as Buffer);
      };
      const timer = setTimeout(() => {
        settle(new GrpcError(Status.DEADLINE_EXCEEDED, `${path}: no answer within ${timeoutMs} ms`));
        req.close(http2.constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      follow(
        req,
        path,
        (c) => {
          const err = message.push(c);
          if (err === undefined) return;
          settle(new GrpcError(Status.INTERNAL, `${path}: ${err}`));
          req.close(http2.constants.NGHTTP2_CANCEL);
        },
        (status) => {
          if (status.code !== Status.OK) return settle(status);
          const body = message.whole();
          if (!body) return settle(new GrpcError(Status.INTERNAL, `${path}: the response is not one whole message (${message.received} bytes)`));
          settle(undefined, body);
        },
      );
      req.end(framed);
    });
  }

  /** A bidirectional streaming call; messages arrive whole, in order. */
  stream(path: string, handlers: StreamHandlers): GrpcStream {
    const req = this.request(path);
    const frames = new FrameReader();
    let ended = false;
    const end = (err: GrpcError) => {
      if (ended) return;
      ended = true;
      handlers.onClose(err);
    };
    follow(
      req,
      path,
      (c) => {
        if (ended) return;
        try {
          for (const m of frames.push(c)) {
            handlers.onMessage(m);
            if (ended) return;
          }
        } catch (err) {
          end(err instanceof GrpcError ? err : new GrpcError(Status.INTERNAL, `${path}: ${(err as Error).message}`));
          req.close(http2.constants.NGHTTP2_CANCEL);
        }
      },
      end,
    );
    return {
      write: (framed) => {
        if (!ended && !req.destroyed) req.write(framed);
      },
      cancel: () => {
        ended = true;
        if (!req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
      },
    };
  }

  /** Ends the connection and every call on it. */
  close(): void {
    this.closed = true;
    this.session?.destroy();
    this.session = undefined;
  }

  private request(path: string, timeoutMs?: number): http2.ClientHttp2Stream {
    if (this.closed) throw new GrpcError(Status.UNAVAILABLE, 'the channel is closed');
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    // The deadline travels too, so the server gives up when this side does ("m": milliseconds, ≤ 8 digits).
    if (timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.min(Math.max(1, Math.ceil(timeoutMs)), 99_999_999)}m`;
    return this.connection().request(headers, { endStream: false });
  }

  private connection(): http2.ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const url = this.endpoints[this.next % this.endpoints.length];
    const session = http2.connect(url.origin, {
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
      maxSessionMemory: 64,
    });
    session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
    // A connection that fails or is told to go away is not used for new calls; the calls on it end
    // with their own stream errors, and the next call connects again, to the next endpoint.
    const drop = () => {
      if (this.session === session) {
        this.session = undefined;
        this.next++;
      }
    };
    session.on('error', drop);
    session.on('goaway', drop);
    session.on('close', drop);
    this.session = session;
    return session;
  }
}

/** Follows a call's stream: the response headers checked, each DATA chunk handed to `data`, the status read
 *  from the trailers (or from a trailers-only answer), and `done` called once at the end with the status
 *  (OK included) or the error that ended the call. When the server has finished, this side ends too, so
 *  the stream closes. */
function follow(req: http2.ClientHttp2Stream, path: string, data: (chunk: Buffer) => void, done: (status: GrpcError) => void): void {
  let status: number | undefined;
  let message = '';
  let over = false;
  const finish = (err: GrpcError) => {
    if (over) return;
    over = true;
    done(err);
  };
  const onStatus = (h: http2.IncomingHttpHeaders) => {
    if (h['grpc-status'] === undefined) return;
    status = Number(h['grpc-status']);
    message = percentDecode(String(h['grpc-message'] ?? ''));
  };
  req.on('response', (h) => {
    const err = badResponse(h);
    if (!err) return onStatus(h);
    finish(err);
    req.close(http2.constants.NGHTTP2_CANCEL);
  });
  req.on('data', (c: Buffer) => {
    if (!over) data(c);
  });
  req.on('trailers', onStatus);
  req.on('end', () => {
    if (!req.writableEnded) req.end();
  });
  req.on('error', (err) => finish(err instanceof GrpcError ? err : new GrpcError(Status.UNAVAILABLE, err.message)));
  req.on('close', () => {
    if (status === undefined) finish(new GrpcError(Status.UNAVAILABLE, `${path}: the stream closed with no status (HTTP/2 code ${req.rstCode})`));
    else finish(new GrpcError(status, message || `${path}: ${status === Status.OK ? 'ended' : `status ${status}`}`));
  });
}

/** The response headers of a gRPC call must say 200 and application/grpc; anything else is a proxy or
 *  a server that is not gRPC, and the body is not to be read as messages. */
function badResponse(h: http2.IncomingHttpHeaders): GrpcError | undefined {
  const status = Number(h[':status']);
  if (status !== 200) return new GrpcError(status === 503 || status === 502 || status === 504 ? Status.UNAVAILABLE : Status.UNKNOWN, `HTTP status ${status}`);
  const type = String(h['content-type'] ?? '');
  if (!type.startsWith('application/grpc')) return new GrpcError(Status.UNKNOWN, `content-type ${JSON.stringify(type)} is not gRPC`);
  return undefined;
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** What is wrong with a message's flag byte: nothing here asks for compression, so only 0 is read. */
function flagError(flag: number): string | undefined {
  if (flag === 0) return undefined;
  return flag === 1 ? 'a compressed message, which was not asked for' : `bad message flag ${flag}`;
}

/** A unary call's one response message, copied into a buffer of the size its prefix announces as the
 *  DATA frames arrive: a 30 MB list is not 2,000 chunks joined in one go at the end. */
class MessageBuffer {
  private head: Buffer[] = [];
  private body: Buffer | undefined;
  received = 0;

  /** Takes a chunk; returns what is wrong when the bytes cannot be one uncompressed message. */
  push(c: Buffer): string | undefined {
    this.received += c.length;
    if (this.body) {
      if (this.received > this.body.length) return `more bytes than one message (${this.received} > ${this.body.length})`;
      c.copy(this.body, this.received - c.length);
      return undefined;
    }
    this.head.push(c);
    if (this.received < PREFIX) return undefined;
    const h = this.head.length === 1 ? this.head[0] : Buffer.concat(this.head, this.received);
    this.head = [];
    const flag = flagError(h[0]);
    if (flag) return flag;
    const size = PREFIX + h.readUInt32BE(1);
    if (this.received > size) return `more bytes than one message (${this.received} > ${size})`;
    try {
      this.body = Buffer.allocUnsafe(size);
    } catch {
      return `a message of ${size} bytes cannot be held`;
    }
    h.copy(this.body, 0);
    return undefined;
  }

  /** The message without its prefix, when exactly one arrived whole. */
  whole(): Buffer | undefined {
    return this.body && this.received === this.body.length ? this.body.subarray(PREFIX) : undefined;
  }
}

/** Cuts a byte stream into gRPC messages. A message may span chunks; a chunk may hold several. */
export class FrameReader {
  private pending: Buffer[] = [];
  private size = 0;

  /** The messages complete after this chunk, without their prefixes. */
  push(chunk: Buffer): Buffer[] {
    this.pending.push(chunk);
    this.size += chunk.length;
    const out: Buffer[] = [];
    while (this.size >= PREFIX) {
      const head = this.peek(PREFIX);
      const flag = flagError(head[0]);
      if (flag) throw new GrpcError(Status.INTERNAL, flag);
      const n = head.readUInt32BE(1);
      if (this.size < PREFIX + n) break;
      const all = this.take(PREFIX + n);
      out.push(all.subarray(PREFIX));
    }
    return out;
  }

  private peek(n: number): Buffer {
    const first = this.pending[0];
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.pending, this.size);
    this.pending = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const first = this.peek(n);
    const out = first.subarray(0, n);
    const rest = first.subarray(n);
    if (rest.length > 0) this.pending[0] = rest;
    else this.pending.shift();
    this.size -= n;
    return out;
  }
}
