// SPDY/3.1 framing: frame layouts to and from bytes, name/value header blocks, and the per-connection
// zlib contexts (SPDY/3 dictionary, sync-flushed blocks) that compress them.
import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './spdy-dictionary.js';

export const SPDY_VERSION = 3;

export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

export const RstStatus = {
  ProtocolError: 1,
  InvalidStream: 2,
  RefusedStream: 3,
  UnsupportedVersion: 4,
  Cancel: 5,
  InternalError: 6,
  FlowControlError: 7,
  StreamInUse: 8,
  StreamAlreadyClosed: 9,
  FrameTooLarge: 11,
} as const;

export const GoAwayStatus = { Ok: 0, ProtocolError: 1, InternalError: 2 } as const;

export const SettingId = { MaxConcurrentStreams: 4, InitialWindowSize: 7 } as const;

const FLAG_FIN = 0x01;
const FLAG_UNIDIRECTIONAL = 0x02;
const FLAG_CLEAR_SETTINGS = 0x01;

/** Largest payload a frame's 24-bit length can describe. */
export const MAX_FRAME_PAYLOAD = 0xffffff;

export interface SettingEntry {
  flags: number;
  id: number;
  value: number;
}

/** A frame as it travels; header blocks are still compressed (the connection owns the zlib contexts). */
export type Frame =
  | { type: 'data'; streamId: number; fin: boolean; data: Buffer }
  | { type: 'syn_stream'; streamId: number; associatedTo: number; priority: number; slot: number; fin: boolean; unidirectional: boolean; block: Buffer }
  | { type: 'syn_reply'; streamId: number; fin: boolean; block: Buffer }
  | { type: 'headers'; streamId: number; fin: boolean; block: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; clear: boolean; entries: SettingEntry[] }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'window_update'; streamId: number; delta: number }
  /** A control frame of another type or version; SPDY says to ignore unknown types. */
  | { type: 'unknown'; version: number; controlType: number; flags: number; payload: Buffer };

export class SpdyProtocolError extends Error {
  readonly code = 'SpdyProtocolError';
  constructor(message: string) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new SpdyProtocolError(`control frame payload of ${payload.length} bytes exceeds the 24-bit length`);
  const h = Buffer.allocUnsafe(8);
  h.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE((((flags & 0xff) << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([h, payload]);
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

/** The 8 bytes before a DATA frame's payload, for writers that send the payload without copying it. */
export function dataFrameHeader(streamId: number, fin: boolean, length: number): Buffer {
  if (length > MAX_FRAME_PAYLOAD) throw new SpdyProtocolError(`data frame of ${length} bytes exceeds the 24-bit length`);
  const h = Buffer.allocUnsafe(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h.writeUInt32BE((((fin ? FLAG_FIN : 0) << 24) | length) >>> 0, 4);
  return h;
}

export function encodeFrame(f: Frame): Buffer {
  switch (f.type) {
    case 'data':
      return Buffer.concat([dataFrameHeader(f.streamId, f.fin, f.data.length), f.data]);
    case 'syn_stream': {
      const p = Buffer.allocUnsafe(10);
      p.writeUInt32BE(f.streamId & 0x7fffffff, 0);
      p.writeUInt32BE(f.associatedTo & 0x7fffffff, 4);
      p.writeUInt8((f.priority & 0x7) << 5, 8);
      p.writeUInt8(f.slot & 0xff, 9);
      return control(FrameType.SynStream, (f.fin ? FLAG_FIN : 0) | (f.unidirectional ? FLAG_UNIDIRECTIONAL : 0), Buffer.concat([p, f.block]));
    }
    case 'syn_reply':
      return control(FrameType.SynReply, f.fin ? FLAG_FIN : 0, Buffer.concat([u32s(f.streamId & 0x7fffffff), f.block]));
    case 'headers':
      return control(FrameType.Headers, f.fin ? FLAG_FIN : 0, Buffer.concat([u32s(f.streamId & 0x7fffffff), f.block]));
    case 'rst_stream':
      return control(FrameType.RstStream, 0, u32s(f.streamId & 0x7fffffff, f.status));
    case 'settings':
      return control(
        FrameType.Settings,
        f.clear ? FLAG_CLEAR_SETTINGS : 0,
        u32s(f.entries.length, ...f.entries.flatMap((e) => [(((e.flags & 0xff) << 24) | (e.id & 0xffffff)) >>> 0, e.value])),
      );
    case 'ping':
      return control(FrameType.Ping, 0, u32s(f.id));
    case 'goaway':
      return control(FrameType.GoAway, 0, u32s(f.lastGoodStreamId & 0x7fffffff, f.status));
    case 'window_update':
      return control(FrameType.WindowUpdate, 0, u32s(f.streamId & 0x7fffffff, f.delta & 0x7fffffff));
    case 'unknown': {
      const h = Buffer.allocUnsafe(8);
      h.writeUInt16BE(0x8000 | (f.version & 0x7fff), 0);
      h.writeUInt16BE(f.controlType, 2);
      h.writeUInt32BE((((f.flags & 0xff) << 24) | f.payload.length) >>> 0, 4);
      return Buffer.concat([h, f.payload]);
    }
  }
}

function need(payload: Buffer, n: number, what: string): void {
  if (payload.length < n) throw new SpdyProtocolError(`${what} frame too short: ${payload.length} bytes, need ${n}`);
}

function decodeControl(version: number, type: number, flags: number, p: Buffer): Frame {
  if (version !== SPDY_VERSION) return { type: 'unknown', version, controlType: type, flags, payload: p };
  const fin = (flags & FLAG_FIN) !== 0;
  switch (type) {
    case FrameType.SynStream:
      need(p, 10, 'SYN_STREAM');
      return {
        type: 'syn_stream',
        streamId: p.readUInt32BE(0) & 0x7fffffff,
        associatedTo: p.readUInt32BE(4) & 0x7fffffff,
        priority: p.readUInt8(8) >> 5,
        slot: p.readUInt8(9),
        fin,
        unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        block: p.subarray(10),
      };
    case FrameType.SynReply:
    case FrameType.Headers:
      need(p, 4, type === FrameType.SynReply ? 'SYN_REPLY' : 'HEADERS');
      return { type: type === FrameType.SynReply ? 'syn_reply' : 'headers', streamId: p.readUInt32BE(0) & 0x7fffffff, fin, block: p.subarray(4) };
    case FrameType.RstStream:
      need(p, 8, 'RST_STREAM');
      return { type: 'rst_stream', streamId: p.readUInt32BE(0) & 0x7fffffff, status: p.readUInt32BE(4) };
    case FrameType.Settings: {
      need(p, 4, 'SETTINGS');
      const n = p.readUInt32BE(0);
      need(p, 4 + n * 8, 'SETTINGS');
      const entries: SettingEntry[] = [];
      for (let i = 0; i < n; i++) {
        const idWord = p.readUInt32BE(4 + i * 8);
        entries.push({ flags: idWord >>> 24, id: idWord & 0xffffff, value: p.readUInt32BE(8 + i * 8) });
      }
      return { type: 'settings', clear: (flags & FLAG_CLEAR_SETTINGS) !== 0, entries };
    }
    case FrameType.Ping:
      need(p, 4, 'PING');
      return { type: 'ping', id: p.readUInt32BE(0) };
    case FrameType.GoAway:
      need(p, 4, 'GOAWAY');
      // SPDY/2 peers send no status; treat a missing one as OK.
      return { type: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & 0x7fffffff, status: p.length >= 8 ? p.readUInt32BE(4) : GoAwayStatus.Ok };
    case FrameType.WindowUpdate:
      need(p, 8, 'WINDOW_UPDATE');
      return { type: 'window_update', streamId: p.readUInt32BE(0) & 0x7fffffff, delta: p.readUInt32BE(4) & 0x7fffffff };
    default:
      return { type: 'unknown', version, controlType: type, flags, payload: p };
  }
}

/** Cuts a byte stream into frames; chunk boundaries may fall anywhere. */
export class FrameParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  push(chunk: Buffer): Frame[] {
    if (chunk.length) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    const frames: Frame[] = [];
    while (this.pendingBytes >= 8) {
      const head = this.peek(8);
      const length = head.readUInt32BE(4) & 0xffffff;
      if (this.pendingBytes < 8 + length) break;
      const raw = this.take(8 + length);
      const payload = raw.subarray(8);
      const flags = raw.readUInt8(4);
      if (raw[0] & 0x80) {
        frames.push(decodeControl(raw.readUInt16BE(0) & 0x7fff, raw.readUInt16BE(2), flags, payload));
      } else {
        frames.push({ type: 'data', streamId: raw.readUInt32BE(0) & 0x7fffffff, fin: (flags & FLAG_FIN) !== 0, data: payload });
      }
    }
    return frames;
  }

  /** Joins just enough leading chunks that the first one holds `n` bytes. */
  private gather(n: number): void {
    if (this.pending[0].length >= n) return;
    let count = 0;
    let size = 0;
    while (size < n) size += this.pending[count++].length;
    this.pending.splice(0, count, Buffer.concat(this.pending.slice(0, count), size));
  }

  private peek(n: number): Buffer {
    this.gather(n);
    return this.pending[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    this.gather(n);
    const first = this.pending[0];
    const out = first.subarray(0, n);
    if (first.length === n) this.pending.shift();
    else this.pending[0] = first.subarray(n);
    this.pendingBytes -= n;
    return out;
  }
}

/** Header names are lower-case; a name with several values carries them NUL-separated in one string. */
export type SpdyHeaders = Record<string, string>;

export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [u32s(entries.length)];
  for (const [name, value] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(value, 'utf8');
    parts.push(u32s(n.length), n, u32s(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(block: Buffer): SpdyHeaders {
  const out: SpdyHeaders = Object.create(null);
  const read = (off: number, what: string): [Buffer, number] => {
    if (off + 4 > block.length) throw new SpdyProtocolError(`header block truncated in the length of a ${what}`);
    const len = block.readUInt32BE(off);
    if (off + 4 + len > block.length) throw new SpdyProtocolError(`header block truncated in a ${what} of ${len} bytes`);
    return [block.subarray(off + 4, off + 4 + len), off + 4 + len];
  };
  if (block.length < 4) throw new SpdyProtocolError('header block shorter than its pair count');
  const count = block.readUInt32BE(0);
  let off = 4;
  for (let i = 0; i < count; i++) {
    let name: Buffer;
    let value: Buffer;
    [name, off] = read(off, 'name');
    [value, off] = read(off, 'value');
    if (name.length === 0) throw new SpdyProtocolError('header block has an empty name');
    const key = name.toString('utf8');
    if (key in out) throw new SpdyProtocolError(`header block repeats the name ${JSON.stringify(key)}`);
    out[key] = value.toString('utf8');
  }
  if (off !== block.length) throw new SpdyProtocolError(`header block has ${block.length - off} bytes after its last pair`);
  return out;
}

/** One direction's zlib context: every block is compressed (or inflated) in order, continuing the same
 *  stream, each ending on a sync flush, as SPDY/3 requires. */
class ZlibContext {
  private chunks: Buffer[] = [];
  private size = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private failure: Error | undefined;

  constructor(
    private z: zlib.Inflate | zlib.Deflate,
    private limit: number,
    private what: string,
  ) {
    z.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.size += c.length;
    });
    z.on('error', (e: Error) => {
      this.failure ??= new SpdyProtocolError(`${what}: ${e.message}`);
    });
  }

  run(input: Buffer): Promise<Buffer> {
    const p = this.queue.then(() => this.one(input));
    this.queue = p.catch(() => {});
    return p;
  }

  private one(input: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.failure) {
        reject(this.failure);
        return;
      }
      this.chunks = [];
      this.size = 0;
      const onError = () => reject(this.failure);
      this.z.once('error', onError);
      this.z.write(input, () => {
        this.z.off('error', onError);
        // Output pushed but not yet emitted as 'data' would otherwise belong to the next block.
        while (this.z.readableLength > 0 && this.z.read() !== null);
        if (this.failure) reject(this.failure);
        else if (this.size > this.limit) reject(new SpdyProtocolError(`${this.what}: header block larger than ${this.limit} bytes`));
        else resolve(this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks));
      });
    });
  }

  close(): void {
    this.z.destroy();
  }
}

/** Largest decompressed header block accepted; real ones are a few hundred bytes. */
const MAX_HEADER_BLOCK = 256 * 1024;

/** The two compression contexts of one connection. */
export class HeaderCodec {
  private inflater = new ZlibContext(
    zlib.createInflate({ dictionary: SPDY3_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH, flush: zlib.constants.Z_SYNC_FLUSH }),
    MAX_HEADER_BLOCK,
    'inflating a header block',
  );
  private deflater = new ZlibContext(
    zlib.createDeflate({ dictionary: SPDY3_DICTIONARY, flush: zlib.constants.Z_SYNC_FLUSH }),
    Infinity,
    'compressing a header block',
  );

  async encode(headers: SpdyHeaders): Promise<Buffer> {
    return this.deflater.run(encodeHeaderBlock(headers));
  }

  async decode(block: Buffer): Promise<SpdyHeaders> {
    return decodeHeaderBlock(await this.inflater.run(block));
  }

  close(): void {
    this.inflater.close();
    this.deflater.close();
  }
}
