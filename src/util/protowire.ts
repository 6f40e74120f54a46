// Protocol-buffers wire format: a bounds-checked reader and a growable writer, no dependencies.

export type ProtobufErrorCode =
  | 'Truncated'
  | 'VarintOverflow'
  | 'BadWireType'
  | 'BadFieldNumber'
  | 'WireTypeMismatch'
  | 'TooDeep'
  | 'IntegerOverflow'
  | 'BadMagic'
  | 'UnsupportedKind'
  | 'UnsupportedEncoding'
  | 'InvalidValue';

/** Every malformed or unsupported protobuf input ends in this error, never in another one. */
export class ProtobufError extends Error {
  constructor(
    readonly code: ProtobufErrorCode,
    message: string,
    /** Byte offset in the buffer being read, when the error is about a position. */
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
    this.name = 'ProtobufError';
  }
}

// biome-ignore lint/suspicious/noConstEnum: the wire types inline as numbers in the codec's hot path; nothing outside this project imports them
export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'];
export function wireTypeName(w: number): string {
  return WIRE_NAMES[w] ?? `invalid(${w})`;
}

/** Largest field number protobuf allows (2^29 - 1). */
export const MAX_FIELD_NUMBER = 0x1fffffff;
/** Default limit on nested length-delimited messages read through `sub()`. */
export const DEFAULT_MAX_DEPTH = 64;

const TWO32 = 4294967296;

/**
 * Reads one protobuf message from `buf[start, end)`. Every read checks bounds first, so no
 * length field can make it read past the end or allocate more than the input holds.
 */
export class ProtoReader {
  pos: number;
  readonly end: number;
  /** Low and high 32 bits of the last varint read by `varint64()`. */
  private lo = 0;
  private hi = 0;
  /** The same bytes as a Buffer, for fast UTF-8 decoding of ranges. */
  private readonly b: Buffer;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
    readonly depth = 0,
    readonly maxDepth = DEFAULT_MAX_DEPTH,
  ) {
    if (start < 0 || end > buf.length || start > end) throw new RangeError(`ProtoReader: bad range [${start}, ${end}) of ${buf.length} bytes`);
    this.pos = start;
    this.end = end;
    this.b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** Reads a varint of up to 10 bytes into lo/hi. */
  private varint64(): void {
    const buf = this.buf;
    let pos = this.pos;
    const end = this.end;
    let lo = 0;
    let hi = 0;
    let b: number;
    for (let i = 0; i < 4; i++) {
      if (pos >= end) throw new ProtobufError('Truncated', 'truncated varint', this.pos);
      b = buf[pos++];
      lo |= (b & 0x7f) << (7 * i);
      if (b < 0x80) {
        this.pos = pos;
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    if (pos >= end) throw new ProtobufError('Truncated', 'truncated varint', this.pos);
    b = buf[pos++];
    lo |= (b & 0x7f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      for (let i = 0; i < 5; i++) {
        if (pos >= end) throw new ProtobufError('Truncated', 'truncated varint', this.pos);
        b = buf[pos++];
        if (i === 4 && b > 1) throw new ProtobufError('VarintOverflow', 'varint longer than 64 bits', this.pos);
        hi |= (b & 0x7f) << (7 * i + 3);
        if (b < 0x80) break;
      }
    }
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** A varint that must fit in 32 unsigned bits (tags, lengths, uint32). */
  uint32(): number {
    const at = this.pos;
    this.varint64();
    if (this.hi !== 0) throw new ProtobufError('IntegerOverflow', 'varint does not fit in 32 bits', at);
    return this.lo;
  }

  /** int32 as protobuf defines it: the low 32 bits of a (possibly sign-extended) varint. */
  int32(): number {
    this.varint64();
    return this.lo | 0;
  }

  /** int64 as a JS number; values outside ±2^53 would lose precision, so they are rejected. */
  int64(): number {
    const at = this.pos;
    this.varint64();
    return bitsToNumber(this.lo, this.hi, true, at);
  }

  uint64(): number {
    const at = this.pos;
    this.varint64();
    return bitsToNumber(this.lo, this.hi, false, at);
  }

  /** int64 with full precision. */
  int64Big(): bigint {
    this.varint64();
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo));
  }

  bool(): boolean {
    this.varint64();
    return this.lo !== 0 || this.hi !== 0;
  }

  private need(n: number): void {
    if (this.end - this.pos < n) throw new ProtobufError('Truncated', `need ${n} bytes, ${this.end - this.pos} left`, this.pos);
  }

  fixed32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  sfixed32(): number {
    return this.fixed32() | 0;
  }

  fixed64Big(): bigint {
    const lo = this.fixed32();
    const hi = this.fixed32();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  sfixed64Big(): bigint {
    return BigInt.asIntN(64, this.fixed64Big());
  }

  float(): number {
    this.need(4);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  /** Length prefix of a length-delimited field, checked against the bytes left. */
  length(): number {
    const at = this.pos;
    const n = this.uint32();
    if (n > this.end - this.pos) throw new ProtobufError('Truncated', `length ${n} runs past the end (${this.end - this.pos} bytes left)`, at);
    return n;
  }

  /** The bytes of a length-delimited field, as a view (no copy). */
  bytes(): Uint8Array {
    const n = this.length();
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** A UTF-8 string; invalid sequences become U+FFFD, as Go's JSON encoder would print them. */
  string(): string {
    const n = this.length();
    const s = this.b.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** A reader over a nested length-delimited message; nesting is limited to maxDepth. */
  sub(): ProtoReader {
    const n = this.length();
    const r = this.child(this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  /** A reader one level deeper over `buf[start, end)`. */
  child(start: number, end: number): ProtoReader {
    if (this.depth + 1 > this.maxDepth) throw new ProtobufError('TooDeep', `messages nested deeper than ${this.maxDepth}`, start);
    return new ProtoReader(this.buf, start, end, this.depth + 1, this.maxDepth);
  }

  /** Reads a tag; returns field number and wire type. Groups and undefined wire types are rejected. */
  tag(): { field: number; wire: WireType } {
    const t = this.rawTag();
    return { field: t >>> 3, wire: t & 7 };
  }

  /** Like tag(), without allocating: the tag as a number (field = t >>> 3, wire type = t & 7). */
  rawTag(): number {
    const at = this.pos;
    const t = this.uint32();
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 0) throw new ProtobufError('BadFieldNumber', 'field number 0 is not allowed', at);
    if (wire === WireType.StartGroup || wire === WireType.EndGroup || wire > WireType.Fixed32) {
      throw new ProtobufError('BadWireType', `field ${field}: bad wire type ${wire} (${wireTypeName(wire)})`, at);
    }
    return t;
  }

  /** Skips the value of a field of the given wire type. */
  skip(wire: WireType): void {
    switch (wire) {
      case WireType.Varint:
        this.varint64();
        return;
      case WireType.Fixed64:
        this.need(8);
        this.pos += 8;
        return;
      case WireType.LengthDelimited: {
        // read the length first: `this.pos += this.length()` would add to the old position
        const n = this.length();
        this.pos += n;
        return;
      }
      case WireType.Fixed32:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw new ProtobufError('BadWireType', `cannot skip wire type ${wire} (${wireTypeName(wire)})`, this.pos);
    }
  }
}

function bitsToNumber(lo: number, hi: number, signed: boolean, at: number): number {
  if (signed && hi & 0x80000000) {
    // two's complement: -(~x + 1)
    const nlo = (~lo + 1) >>> 0;
    const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
    if (nhi > 0x1fffff) throw new ProtobufError('IntegerOverflow', 'int64 below -2^53 cannot be represented exactly', at);
    return -(nhi * TWO32 + nlo);
  }
  if (hi > 0x1fffff) throw new ProtobufError('IntegerOverflow', `${signed ? 'int64' : 'uint64'} above 2^53 cannot be represented exactly`, at);
  return hi * TWO32 + lo;
}

export type PackedType = 'int32' | 'int64' | 'uint32' | 'uint64' | 'bool' | 'fixed32' | 'sfixed32' | 'fixed64' | 'sfixed64' | 'float' | 'double';

/**
 * Builds one protobuf message. Nested messages are written in place: `message()` reserves
 * room for the length and closes the gap afterwards, so nothing is encoded twice.
 */
export class ProtoWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialSize));
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  private byte(b: number): void {
    this.buf[this.len++] = b;
  }

  /** Writes a varint from 32-bit halves. */
  private varintBits(lo: number, hi: number): void {
    this.ensure(10);
    lo >>>= 0;
    hi >>>= 0;
    while (hi !== 0 || lo > 0x7f) {
      this.byte((lo & 0x7f) | 0x80);
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.byte(lo);
  }

  /** A raw varint (no tag): unsigned 32-bit, or any safe integer / bigint as 64-bit two's complement. */
  varint(v: number | bigint): this {
    if (typeof v === 'number' && v >= 0 && v <= 0xffffffff && Number.isInteger(v)) {
      this.varintBits(v, 0);
      return this;
    }
    const [lo, hi] = split64(v);
    this.varintBits(lo, hi);
    return this;
  }

  tag(field: number, wire: WireType): this {
    if (!Number.isInteger(field) || field < 1 || field > MAX_FIELD_NUMBER) throw new RangeError(`bad field number ${field}`);
    return this.varint(((field << 3) | wire) >>> 0);
  }

  int32(field: number, v: number): this {
    this.tag(field, WireType.Varint);
    // negative int32 is sign-extended to 10 bytes, as protobuf requires
    return v < 0 ? this.varint(BigInt(v | 0)) : this.varint(v >>> 0);
  }

  uint32(field: number, v: number): this {
    return this.tag(field, WireType.Varint).varint(v >>> 0);
  }

  int64(field: number, v: number | bigint): this {
    return this.tag(field, WireType.Varint).varint(v);
  }

  uint64(field: number, v: number | bigint): this {
    return this.tag(field, WireType.Varint).varint(v);
  }

  bool(field: number, v: boolean): this {
    return this.tag(field, WireType.Varint).varint(v ? 1 : 0);
  }

  private rawFixed32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
  }

  private rawFixed64(v: number | bigint): void {
    const [lo, hi] = split64(v);
    this.rawFixed32(lo);
    this.rawFixed32(hi);
  }

  fixed32(field: number, v: number): this {
    this.tag(field, WireType.Fixed32).rawFixed32(v);
    return this;
  }

  sfixed32(field: number, v: number): this {
    return this.fixed32(field, v | 0);
  }

  fixed64(field: number, v: number | bigint): this {
    this.tag(field, WireType.Fixed64).rawFixed64(v);
    return this;
  }

  sfixed64(field: number, v: number | bigint): this {
    return this.fixed64(field, v);
  }

  float(field: number, v: number): this {
    this.tag(field, WireType.Fixed32);
    this.ensure(4);
    this.buf.writeFloatLE(v, this.len);
    this.len += 4;
    return this;
  }

  double(field: number, v: number): this {
    this.tag(field, WireType.Fixed64);
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.len);
    this.len += 8;
    return this;
  }

  bytes(field: number, v: Uint8Array): this {
    this.tag(field, WireType.LengthDelimited).varint(v.length);
    this.ensure(v.length);
    this.buf.set(v, this.len);
    this.len += v.length;
    return this;
  }

  string(field: number, v: string): this {
    const n = Buffer.byteLength(v, 'utf8');
    this.tag(field, WireType.LengthDelimited).varint(n);
    this.ensure(n);
    this.buf.write(v, this.len, n, 'utf8');
    this.len += n;
    return this;
  }

  /** A nested message written by `build`; an empty one is still written (presence). */
  message(field: number, build: (w: this) => void): this {
    this.tag(field, WireType.LengthDelimited);
    // reserve one length byte; shift the body if its length needs more
    this.ensure(1);
    const lenAt = this.len++;
    const start = this.len;
    build(this);
    const n = this.len - start;
    const lenBytes = varintSize(n);
    if (lenBytes > 1) {
      this.ensure(lenBytes - 1);
      this.buf.copyWithin(start + lenBytes - 1, start, this.len);
      this.len += lenBytes - 1;
    }
    let v = n;
    let p = lenAt;
    while (v > 0x7f) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
    return this;
  }

  /** A packed repeated scalar field (nothing is written for an empty list). */
  packed(field: number, type: PackedType, values: ReadonlyArray<number | bigint | boolean>): this {
    if (values.length === 0) return this;
    return this.message(field, (w) => {
      for (const v of values) w.rawScalar(type, v);
    });
  }

  private rawScalar(type: PackedType, v: number | bigint | boolean): void {
    switch (type) {
      case 'bool':
        this.varint(v ? 1 : 0);
        return;
      case 'int32':
        this.varint(Number(v) < 0 ? BigInt(Number(v) | 0) : Number(v) >>> 0);
        return;
      case 'uint32':
        this.varint(Number(v) >>> 0);
        return;
      case 'int64':
      case 'uint64':
        this.varint(typeof v === 'boolean' ? Number(v) : v);
        return;
      case 'fixed32':
      case 'sfixed32':
        this.rawFixed32(Number(v));
        return;
      case 'fixed64':
      case 'sfixed64':
        this.rawFixed64(typeof v === 'boolean' ? Number(v) : v);
        return;
      case 'float':
        this.ensure(4);
        this.buf.writeFloatLE(Number(v), this.len);
        this.len += 4;
        return;
      case 'double':
        this.ensure(8);
        this.buf.writeDoubleLE(Number(v), this.len);
        this.len += 8;
        return;
    }
  }

  /** Appends already-encoded bytes verbatim. */
  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  get length(): number {
    return this.len;
  }

  /** The encoded message (a copy; the writer may be reused after `reset()`). */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  reset(): this {
    this.len = 0;
    return this;
  }
}

function varintSize(n: number): number {
  let s = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    s++;
  }
  return s;
}

/** Splits an integer into the low and high 32 bits of its 64-bit two's complement. */
function split64(v: number | bigint): [number, number] {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`not a safe integer: ${v}`);
    if (v >= 0) return [(v % TWO32) >>> 0, Math.floor(v / TWO32) >>> 0];
    v = BigInt(v);
  }
  const u = BigInt.asUintN(64, v);
  return [Number(u & 0xffffffffn) >>> 0, Number(u >> 32n) >>> 0];
}
