// DER (ITU-T X.690's distinguished encoding) for the few X.509 and PKCS#10 structures k8ts writes and reads
// (x509.ts): a writer of tag-length-value triples, and a strict reader for input that may be hostile (a CSR
// any authenticated user can post). The reader takes only what DER allows: low tag numbers, definite lengths
// in their shortest form, content inside its parent; anything else is an error naming the offset.

export class DerError extends Error {}

// ---- writing ----

/** One element: the tag, the length in its shortest form, the contents. */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = content.length === 1 ? content[0] : Buffer.concat(content);
  const n = body.length;
  let head: Buffer;
  if (n < 0x80) head = Buffer.from([tag, n]);
  else if (n < 0x100) head = Buffer.from([tag, 0x81, n]);
  else if (n < 0x10000) head = Buffer.from([tag, 0x82, n >> 8, n & 0xff]);
  else head = Buffer.from([tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([head, body]);
}

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  t61String: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

export const seq = (...items: Buffer[]): Buffer => tlv(TAG.sequence, ...items);
export const set = (...items: Buffer[]): Buffer => tlv(TAG.set, ...items);
/** A context-specific constructed element, [n] EXPLICIT or an IMPLICIT SET/SEQUENCE. */
export const context = (n: number, ...items: Buffer[]): Buffer => tlv(0xa0 | n, ...items);
export const octets = (b: Buffer): Buffer => tlv(TAG.octetString, b);
export const utf8 = (s: string): Buffer => tlv(TAG.utf8String, Buffer.from(s, 'utf8'));
export const boolean = (v: boolean): Buffer => tlv(TAG.boolean, Buffer.from([v ? 0xff : 0]));
/** A BIT STRING of whole bytes. */
export const bits = (b: Buffer): Buffer => tlv(TAG.bitString, Buffer.from([0]), b);

/** A non-negative INTEGER from its big-endian magnitude (a zero byte in front when the top bit is set). */
export function unsigned(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return tlv(TAG.integer, m[0] & 0x80 ? Buffer.concat([Buffer.from([0]), m]) : m);
}

export const smallInt = (n: number): Buffer => unsigned(Buffer.from([n]));

/** An OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [];
  const base128 = (v: number) => {
    const groups = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  };
  base128(arcs[0] * 40 + arcs[1]);
  for (const a of arcs.slice(2)) base128(a);
  return tlv(TAG.oid, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5), to the second. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = d.getUTCFullYear();
  return year < 2050 ? tlv(TAG.utcTime, Buffer.from(digits.slice(2), 'latin1')) : tlv(TAG.generalizedTime, Buffer.from(digits, 'latin1'));
}

// ---- reading ----

/** One element as read: its tag, its whole encoding and its contents (views into the input). */
export interface Element {
  tag: number;
  /** Offset of the tag in the outermost input (for messages). */
  offset: number;
  raw: Buffer;
  body: Buffer;
}

/** Reads the element at `pos` of `buf` (`base` is buf's offset in the outermost input). */
export function readElement(buf: Buffer, pos = 0, base = 0): Element {
  const at = base + pos;
  if (pos + 2 > buf.length) throw new DerError(`truncated element at offset ${at}`);
  const tag = buf[pos];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`a high tag number at offset ${at}`);
  let len = buf[pos + 1];
  let head = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError(`an indefinite length at offset ${at} (not DER)`);
    if (n > 3) throw new DerError(`a length of ${n} bytes at offset ${at}`);
    if (pos + 2 + n > buf.length) throw new DerError(`truncated length at offset ${at}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + 2 + i];
    if (buf[pos + 2] === 0 || len < 0x80) throw new DerError(`a length not in its shortest form at offset ${at} (not DER)`);
    head += n;
  }
  if (pos + head + len > buf.length) throw new DerError(`element at offset ${at} runs past its container (${len} bytes)`);
  return { tag, offset: at, raw: buf.subarray(pos, pos + head + len), body: buf.subarray(pos + head, pos + head + len) };
}

/** The whole input as exactly one element. */
export function readOnly(buf: Buffer): Element {
  const e = readElement(buf);
  if (e.raw.length !== buf.length) throw new DerError(`${buf.length - e.raw.length} bytes after the outermost element`);
  return e;
}

/** The elements inside a constructed element, in order. */
export function children(e: Element): Element[] {
  if (!(e.tag & 0x20)) throw new DerError(`element at offset ${e.offset} is not constructed`);
  const out: Element[] = [];
  const base = e.offset + (e.raw.length - e.body.length);
  for (let pos = 0; pos < e.body.length; ) {
    const c = readElement(e.body, pos, base);
    out.push(c);
    pos += c.raw.length;
  }
  return out;
}

/** `e`, checked to carry `tag`; `what` names it in the message. */
export function expect(e: Element | undefined, tag: number, what: string): Element {
  if (!e) throw new DerError(`${what} is missing`);
  if (e.tag !== tag) throw new DerError(`${what} at offset ${e.offset} has tag 0x${e.tag.toString(16)}, not 0x${tag.toString(16)}`);
  return e;
}

/** The dotted form of an OBJECT IDENTIFIER's contents. */
export function readOid(el: Element | undefined): string {
  const e = expect(el, TAG.oid, 'object identifier');
  const b = e.body;
  if (b.length === 0 || b.length > 64) throw new DerError(`object identifier at offset ${e.offset} is ${b.length} bytes`);
  const arcs: number[] = [];
  let v = 0;
  let fresh = true;
  for (const byte of b) {
    if (fresh && byte === 0x80) throw new DerError(`object identifier at offset ${e.offset} has a padded arc (not DER)`);
    v = v * 128 + (byte & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`object identifier at offset ${e.offset} has an arc too large`);
    fresh = !(byte & 0x80);
    if (fresh) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  if (!fresh) throw new DerError(`object identifier at offset ${e.offset} ends inside an arc`);
  return arcs.join('.');
}

/** A small non-negative INTEGER (a version number). */
export function readSmallInt(el: Element | undefined): number {
  const e = expect(el, TAG.integer, 'integer');
  if (e.body.length !== 1 || e.body[0] & 0x80) throw new DerError(`integer at offset ${e.offset} is not a small non-negative number`);
  return e.body[0];
}

/** A BIT STRING's contents when it holds whole bytes (keys and signatures). */
export function readBits(el: Element | undefined): Buffer {
  const e = expect(el, TAG.bitString, 'bit string');
  if (e.body.length < 1 || e.body[0] !== 0) throw new DerError(`bit string at offset ${e.offset} does not hold whole bytes`);
  return e.body.subarray(1);
}

/** The text of a directory string (the string types a certificate name may use). */
export function readString(e: Element): string {
  switch (e.tag) {
    case TAG.utf8String:
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(e.body);
      } catch {
        throw new DerError(`UTF8String at offset ${e.offset} is not UTF-8`);
      }
    case TAG.printableString:
    case TAG.ia5String:
      if (e.body.some((c) => c > 0x7e)) throw new DerError(`ASCII string at offset ${e.offset} holds a byte beyond ASCII`);
      return e.body.toString('latin1');
    case TAG.t61String:
      return e.body.toString('latin1');
    case TAG.bmpString: {
      if (e.body.length % 2) throw new DerError(`BMPString at offset ${e.offset} has an odd length`);
      return Buffer.from(e.body).swap16().toString('utf16le');
    }
    default:
      throw new DerError(`element at offset ${e.offset} (tag 0x${e.tag.toString(16)}) is not a string type a name may use`);
  }
}
