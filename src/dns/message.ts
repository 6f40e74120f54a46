// DNS wire format (RFC 1035, 2782, 3596, 6891): names, records and EDNS0; a full decoder, an encoder with
// name compression, a no-allocation query parser for the server's hot path, and truncation to a size limit.
import { isV4, parseIP } from '../api/ipaddr.js';

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
} as const;
export const CLASS_IN = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export const HEADER_SIZE = 12;
export const MAX_NAME_WIRE = 255;
export const MAX_LABEL = 63;
export const MAX_MESSAGE = 65535;
/** The UDP payload a plain (non-EDNS) DNS message may have (RFC 1035 4.2.1). */
export const CLASSIC_UDP_SIZE = 512;

export type DnsErrorCode =
  | 'DNS_SHORT_MESSAGE'
  | 'DNS_BAD_POINTER'
  | 'DNS_BAD_LABEL'
  | 'DNS_NAME_TOO_LONG'
  | 'DNS_BAD_NAME'
  | 'DNS_BAD_RDATA'
  | 'DNS_BAD_OPT'
  | 'DNS_MESSAGE_TOO_LARGE';

/** A message or name that breaks the wire rules; `code` says which rule. */
export class DnsError extends Error {
  constructor(
    readonly code: DnsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DnsError';
  }
}

export type RData =
  | { kind: 'ip'; address: string } // A, AAAA
  | { kind: 'name'; target: string } // CNAME, PTR, NS
  | { kind: 'mx'; preference: number; exchange: string }
  | { kind: 'srv'; priority: number; weight: number; port: number; target: string }
  | { kind: 'soa'; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  | { kind: 'txt'; texts: string[] }
  | { kind: 'raw'; bytes: Uint8Array };

/** Names are in presentation form without the final dot ('' is the root); odd bytes as \DDD escapes. */
export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RData;
}

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface Edns {
  udpSize: number;
  /** Upper 8 bits of the 12-bit rcode. */
  extRcode: number;
  version: number;
  dnssecOk: boolean;
  options: { code: number; data: Uint8Array }[];
}

export interface Header {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  /** The full rcode: with EDNS, the OPT record's upper bits are folded in. */
  rcode: number;
}

export interface Message {
  header: Header;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  /** Without the OPT pseudo-record, which is `edns`. */
  additionals: ResourceRecord[];
  edns?: Edns;
}

// ---------------------------------------------------------------------------------------------------------
// Names

function short(what: string): DnsError {
  return new DnsError('DNS_SHORT_MESSAGE', `message ends inside ${what}`);
}

/**
 * Walks the name at `off`, following compression pointers. A pointer must point before the start of the part
 * of the name being read (so every jump goes strictly backwards and loops end), and the whole name must fit
 * in 255 bytes. Calls `label` for each label; returns the offset just after the name as it sits at `off`.
 */
function walkName(buf: Uint8Array, off: number, label: (start: number, len: number) => void): number {
  let pos = off;
  let segment = off;
  let end = -1;
  let wire = 1;
  for (;;) {
    if (pos >= buf.length) throw short('a name');
    const len = buf[pos];
    if (len === 0) return end < 0 ? pos + 1 : end;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw short('a compression pointer');
      const ptr = ((len & 0x3f) << 8) | buf[pos + 1];
      if (ptr >= segment) throw new DnsError('DNS_BAD_POINTER', `compression pointer at ${pos} to ${ptr} does not point backwards`);
      if (end < 0) end = pos + 2;
      pos = segment = ptr;
      continue;
    }
    if (kind !== 0) throw new DnsError('DNS_BAD_LABEL', `label type 0x${kind.toString(16)} at ${pos} is not supported`);
    if (pos + 1 + len > buf.length) throw short('a label');
    wire += len + 1;
    if (wire > MAX_NAME_WIRE) throw new DnsError('DNS_NAME_TOO_LONG', `name at ${off} is longer than ${MAX_NAME_WIRE} bytes`);
    label(pos + 1, len);
    pos += 1 + len;
  }
}

function labelText(buf: Uint8Array, start: number, len: number): string {
  let s = '';
  for (let i = start; i < start + len; i++) {
    const b = buf[i];
    if (b === 0x2e || b === 0x5c) s += '\\' + String.fromCharCode(b);
    else if (b > 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += '\\' + String(b).padStart(3, '0');
  }
  return s;
}

/** Reads a (possibly compressed) name; returns it in presentation form and the offset after it. */
export function readName(buf: Uint8Array, off: number): { name: string; end: number } {
  const labels: string[] = [];
  const end = walkName(buf, off, (s, l) => labels.push(labelText(buf, s, l)));
  return { name: labels.join('.'), end };
}

/** Uncompressed wire bytes of a wire name held in `buf[0, len)` as presentation text. */
export function wireToText(buf: Uint8Array, len: number): string {
  const labels: string[] = [];
  let pos = 0;
  while (pos < len && buf[pos] !== 0) {
    labels.push(labelText(buf, pos + 1, buf[pos]));
    pos += 1 + buf[pos];
  }
  return labels.join('.');
}

/** Presentation form to labels (bytes), honouring \X and \DDD escapes; checks label and name lengths. */
export function nameToLabels(name: string): Uint8Array[] {
  if (name === '' || name === '.') return [];
  const text = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  const labels: Uint8Array[] = [];
  let cur: number[] = [];
  let wire = 1;
  const finish = () => {
    if (cur.length === 0) throw new DnsError('DNS_BAD_NAME', `name ${JSON.stringify(name)} has an empty label`);
    if (cur.length > MAX_LABEL) throw new DnsError('DNS_BAD_LABEL', `label in ${JSON.stringify(name)} is longer than ${MAX_LABEL} bytes`);
    wire += cur.length + 1;
    labels.push(Uint8Array.from(cur));
    cur = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      finish();
    } else if (c === 0x5c) {
      const d = text.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(d) && Number(d) < 256) {
        cur.push(Number(d));
        i += 3;
      } else if (i + 1 < text.length) {
        cur.push(text.charCodeAt(++i) & 0xff);
      } else {
        throw new DnsError('DNS_BAD_NAME', `name ${JSON.stringify(name)} ends in a lone backslash`);
      }
    } else {
      if (c > 0xff) throw new DnsError('DNS_BAD_NAME', `name ${JSON.stringify(name)} has a character outside Latin-1`);
      cur.push(c);
    }
  }
  finish();
  if (wire > MAX_NAME_WIRE) throw new DnsError('DNS_NAME_TOO_LONG', `name ${JSON.stringify(name)} is longer than ${MAX_NAME_WIRE} bytes on the wire`);
  return labels;
}

function asciiLower(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
}

/** A presentation name as the key QueryParser.nameKey gives for it. */
export function nameKey(name: string): string {
  return labelsKey(nameToLabels(name), 0) + '\0';
}

function labelsKey(labels: Uint8Array[], from: number): string {
  let s = '';
  for (let i = from; i < labels.length; i++) {
    const l = labels[i];
    s += String.fromCharCode(l.length);
    for (let j = 0; j < l.length; j++) s += String.fromCharCode(asciiLower(l[j]));
  }
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** A growing message buffer that compresses names against those already written (RFC 1035 4.1.4). */
export class Writer {
  buf: Buffer;
  len = 0;
  private names = new Map<string, number>();

  constructor(size = 512) {
    this.buf = Buffer.allocUnsafe(size);
  }

  // May grow past 65535 bytes: the caller cuts the message down with truncate() (a headless service with
  // thousands of endpoints has more records than any message holds).
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }

  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** Writes a name; `compress` false keeps it whole (SRV targets, RFC 2782) but it can still be pointed to. */
  name(name: string, compress = true): void {
    const labels = nameToLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const key = labelsKey(labels, i);
      const at = compress ? this.names.get(key) : undefined;
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x4000 && !this.names.has(key)) this.names.set(key, this.len);
      this.u8(labels[i].length);
      this.bytes(labels[i]);
    }
    this.u8(0);
  }

  patch16(at: number, v: number): void {
    this.buf.writeUInt16BE(v & 0xffff, at);
  }

  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

function ipBytes(address: string, type: number): Uint8Array {
  const ip = parseIP(address);
  if (!ip) throw new DnsError('DNS_BAD_RDATA', `${JSON.stringify(address)} is not an IP address`);
  if (type === TYPE.A) {
    if (!isV4(ip)) throw new DnsError('DNS_BAD_RDATA', `${address} is not an IPv4 address for an A record`);
    return ip.subarray(12);
  }
  return ip;
}

export function writeRecord(w: Writer, rr: ResourceRecord): void {
  w.name(rr.name);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lenAt = w.len;
  w.u16(0);
  const d = rr.data;
  switch (d.kind) {
    case 'ip':
      w.bytes(ipBytes(d.address, rr.type));
      break;
    case 'name':
      w.name(d.target);
      break;
    case 'mx':
      w.u16(d.preference);
      w.name(d.exchange);
      break;
    case 'srv':
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      w.name(d.target, false);
      break;
    case 'soa':
      w.name(d.mname);
      w.name(d.rname);
      w.u32(d.serial);
      w.u32(d.refresh);
      w.u32(d.retry);
      w.u32(d.expire);
      w.u32(d.minimum);
      break;
    case 'txt':
      for (const t of d.texts) {
        const b = Buffer.from(t, 'utf8');
        if (b.length > 255) throw new DnsError('DNS_BAD_RDATA', 'a TXT string is longer than 255 bytes');
        w.u8(b.length);
        w.bytes(b);
      }
      break;
    case 'raw':
      w.bytes(d.bytes);
      break;
  }
  w.patch16(lenAt, w.len - lenAt - 2);
}

export function headerFlags(h: Partial<Header>): number {
  return (
    (h.qr ? 0x8000 : 0) |
    (((h.opcode ?? 0) & 0xf) << 11) |
    (h.aa ? 0x0400 : 0) |
    (h.tc ? 0x0200 : 0) |
    (h.rd ? 0x0100 : 0) |
    (h.ra ? 0x0080 : 0) |
    (h.ad ? 0x0020 : 0) |
    (h.cd ? 0x0010 : 0) |
    ((h.rcode ?? 0) & 0xf)
  );
}

function writeOpt(w: Writer, edns: Edns, rcode: number): void {
  w.u8(0);
  w.u16(TYPE.OPT);
  w.u16(edns.udpSize);
  w.u8((rcode >> 4) & 0xff);
  w.u8(edns.version);
  w.u16(edns.dnssecOk ? 0x8000 : 0);
  let len = 0;
  for (const o of edns.options) len += 4 + o.data.length;
  w.u16(len);
  for (const o of edns.options) {
    w.u16(o.code);
    w.u16(o.data.length);
    w.bytes(o.data);
  }
}

/** Encodes a whole message with name compression; `edns` becomes an OPT record at the end. */
export function encodeMessage(m: Message): Buffer {
  const w = new Writer();
  w.u16(m.header.id);
  w.u16(headerFlags(m.header));
  w.u16(m.questions.length);
  w.u16(m.answers.length);
  w.u16(m.authorities.length);
  w.u16(m.additionals.length + (m.edns ? 1 : 0));
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of m.answers) writeRecord(w, rr);
  for (const rr of m.authorities) writeRecord(w, rr);
  for (const rr of m.additionals) writeRecord(w, rr);
  if (m.edns) writeOpt(w, m.edns, m.header.rcode);
  if (w.len > MAX_MESSAGE) throw new DnsError('DNS_MESSAGE_TOO_LARGE', `message of ${w.len} bytes exceeds ${MAX_MESSAGE}`);
  return w.done();
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

function rdataName(buf: Uint8Array, off: number, end: number): { name: string; end: number } {
  const r = readName(buf, off);
  if (r.end > end) throw new DnsError('DNS_BAD_RDATA', `a name in record data at ${off} runs past the record`);
  return r;
}

function decodeRData(buf: Uint8Array, type: number, off: number, len: number): RData {
  const end = off + len;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const need = (n: number) => {
    if (len !== n) throw new DnsError('DNS_BAD_RDATA', `type ${type} record data is ${len} bytes, want ${n}`);
  };
  const exact = (r: { end: number }) => {
    if (r.end !== end) throw new DnsError('DNS_BAD_RDATA', `type ${type} record data has ${end - r.end} bytes left over`);
  };
  switch (type) {
    case TYPE.A:
      need(4);
      return { kind: 'ip', address: `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}` };
    case TYPE.AAAA: {
      need(16);
      const groups: string[] = [];
      for (let i = 0; i < 8; i++) groups.push(dv.getUint16(off + 2 * i).toString(16));
      return { kind: 'ip', address: groups.join(':') };
    }
    case TYPE.CNAME:
    case TYPE.PTR:
    case TYPE.NS: {
      const r = rdataName(buf, off, end);
      exact(r);
      return { kind: 'name', target: r.name };
    }
    case TYPE.MX: {
      if (len < 3) throw new DnsError('DNS_BAD_RDATA', 'MX record data is too short');
      const r = rdataName(buf, off + 2, end);
      exact(r);
      return { kind: 'mx', preference: dv.getUint16(off), exchange: r.name };
    }
    case TYPE.SRV: {
      if (len < 7) throw new DnsError('DNS_BAD_RDATA', 'SRV record data is too short');
      const r = rdataName(buf, off + 6, end);
      exact(r);
      return { kind: 'srv', priority: dv.getUint16(off), weight: dv.getUint16(off + 2), port: dv.getUint16(off + 4), target: r.name };
    }
    case TYPE.SOA: {
      const m = rdataName(buf, off, end);
      const r = rdataName(buf, m.end, end);
      if (end - r.end !== 20) throw new DnsError('DNS_BAD_RDATA', 'SOA record data has the wrong length');
      const at = r.end;
      return {
        kind: 'soa',
        mname: m.name,
        rname: r.name,
        serial: dv.getUint32(at),
        refresh: dv.getUint32(at + 4),
        retry: dv.getUint32(at + 8),
        expire: dv.getUint32(at + 12),
        minimum: dv.getUint32(at + 16),
      };
    }
    case TYPE.TXT: {
      const texts: string[] = [];
      let p = off;
      while (p < end) {
        const l = buf[p];
        if (p + 1 + l > end) throw new DnsError('DNS_BAD_RDATA', 'a TXT string runs past the record');
        texts.push(Buffer.from(buf.subarray(p + 1, p + 1 + l)).toString('utf8'));
        p += 1 + l;
      }
      return { kind: 'txt', texts };
    }
    default:
      return { kind: 'raw', bytes: buf.slice(off, end) };
  }
}

/** Decodes a whole message; throws DnsError on anything malformed. */
export function decodeMessage(buf: Uint8Array): Message {
  if (buf.length < HEADER_SIZE) throw short('the header');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const flags = dv.getUint16(2);
  const header: Header = {
    id: dv.getUint16(0),
    qr: !!(flags & 0x8000),
    opcode: (flags >> 11) & 0xf,
    aa: !!(flags & 0x0400),
    tc: !!(flags & 0x0200),
    rd: !!(flags & 0x0100),
    ra: !!(flags & 0x0080),
    ad: !!(flags & 0x0020),
    cd: !!(flags & 0x0010),
    rcode: flags & 0xf,
  };
  const counts = [dv.getUint16(4), dv.getUint16(6), dv.getUint16(8), dv.getUint16(10)];
  let off = HEADER_SIZE;
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const n = readName(buf, off);
    if (n.end + 4 > buf.length) throw short('a question');
    questions.push({ name: n.name, type: dv.getUint16(n.end), class: dv.getUint16(n.end + 2) });
    off = n.end + 4;
  }
  const sections: ResourceRecord[][] = [[], [], []];
  let edns: Edns | undefined;
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]; i++) {
      const n = readName(buf, off);
      if (n.end + 10 > buf.length) throw short('a record header');
      const type = dv.getUint16(n.end);
      const klass = dv.getUint16(n.end + 2);
      const ttl = dv.getUint32(n.end + 4);
      const rdlen = dv.getUint16(n.end + 8);
      const rd = n.end + 10;
      if (rd + rdlen > buf.length) throw short('record data');
      if (type === TYPE.OPT) {
        if (s !== 2) throw new DnsError('DNS_BAD_OPT', 'an OPT record outside the additional section');
        if (edns) throw new DnsError('DNS_BAD_OPT', 'more than one OPT record');
        if (n.name !== '') throw new DnsError('DNS_BAD_OPT', 'an OPT record whose owner is not the root');
        const options: Edns['options'] = [];
        for (let p = rd; p < rd + rdlen; ) {
          if (p + 4 > rd + rdlen) throw new DnsError('DNS_BAD_OPT', 'an EDNS option header runs past the OPT record');
          const code = dv.getUint16(p);
          const olen = dv.getUint16(p + 2);
          if (p + 4 + olen > rd + rdlen) throw new DnsError('DNS_BAD_OPT', 'an EDNS option runs past the OPT record');
          options.push({ code, data: buf.slice(p + 4, p + 4 + olen) });
          p += 4 + olen;
        }
        edns = { udpSize: klass, extRcode: ttl >>> 24, version: (ttl >>> 16) & 0xff, dnssecOk: !!(ttl & 0x8000), options };
        header.rcode |= edns.extRcode << 4;
      } else {
        sections[s].push({ name: n.name, type, class: klass, ttl, data: decodeRData(buf, type, rd, rdlen) });
      }
      off = rd + rdlen;
    }
  }
  return { header, questions, answers: sections[0], authorities: sections[1], additionals: sections[2], edns };
}

// ---------------------------------------------------------------------------------------------------------
// The hot path: one query, no allocation

export type QueryVerdict = 'ok' | 'drop' | 'formerr' | 'notimp' | 'badvers';

/**
 * Parses a query into its reused fields. The question name lands in `name` (uncompressed wire form, case as
 * sent) and `lower` (ASCII lower-cased), `nameLen` bytes each; `key` names (qname, qtype, qclass, EDNS, DO) for
 * answer caches. The verdict says what the server owes: 'drop' (no header, or not a query), 'formerr',
 * 'notimp' (opcode), 'badvers' (EDNS version), or 'ok'.
 */
export class QueryParser {
  readonly name = Buffer.alloc(MAX_NAME_WIRE + 8);
  readonly lower = Buffer.alloc(MAX_NAME_WIRE + 8);
  id = 0;
  /** Header bytes 2 and 3 as sent. */
  flags = 0;
  opcode = 0;
  nameLen = 0;
  qtype = 0;
  qclass = 0;
  /** Offset just after the question. */
  questionEnd = 0;
  edns = false;
  udpSize = 0;
  dnssecOk = false;
  ednsVersion = 0;
  error = '';

  parse(buf: Buffer): QueryVerdict {
    this.edns = false;
    this.dnssecOk = false;
    this.nameLen = 0;
    this.error = '';
    if (buf.length < HEADER_SIZE) return 'drop';
    this.id = (buf[0] << 8) | buf[1];
    this.flags = (buf[2] << 8) | buf[3];
    if (buf[2] & 0x80) return 'drop';
    this.opcode = (buf[2] >> 3) & 0xf;
    if (this.opcode !== 0) return 'notimp';
    const qd = (buf[4] << 8) | buf[5];
    if (qd !== 1) return this.fail(`question count is ${qd}, want 1`);
    try {
      let pos = HEADER_SIZE;
      let segment = pos;
      let end = -1;
      let n = 0;
      for (;;) {
        if (pos >= buf.length) return this.fail('message ends inside the question name');
        const len = buf[pos];
        if (len === 0) {
          if (end < 0) end = pos + 1;
          break;
        }
        if ((len & 0xc0) === 0xc0) {
          if (pos + 1 >= buf.length) return this.fail('message ends inside a compression pointer');
          const ptr = ((len & 0x3f) << 8) | buf[pos + 1];
          if (ptr >= segment) return this.fail('compression pointer does not point backwards');
          if (end < 0) end = pos + 2;
          pos = segment = ptr;
          continue;
        }
        if (len & 0xc0) return this.fail('unsupported label type');
        if (pos + 1 + len > buf.length) return this.fail('message ends inside a label');
        if (n + len + 2 > MAX_NAME_WIRE) return this.fail('question name is longer than 255 bytes');
        this.name[n] = len;
        this.lower[n] = len;
        for (let i = 1; i <= len; i++) {
          const b = buf[pos + i];
          this.name[n + i] = b;
          this.lower[n + i] = b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
        }
        n += len + 1;
        pos += len + 1;
      }
      this.name[n] = 0;
      this.lower[n] = 0;
      this.nameLen = n + 1;
      if (end + 4 > buf.length) return this.fail('message ends inside the question');
      this.qtype = (buf[end] << 8) | buf[end + 1];
      this.qclass = (buf[end + 2] << 8) | buf[end + 3];
      this.questionEnd = end + 4;
      return this.records(buf);
    } catch (e) {
      return this.fail(e instanceof DnsError ? e.message : String(e));
    }
  }

  /** Skips answer and authority records a query should not carry, and finds the OPT record. */
  private records(buf: Buffer): QueryVerdict {
    const counts = ((buf[6] << 8) | buf[7]) + ((buf[8] << 8) | buf[9]);
    const ar = (buf[10] << 8) | buf[11];
    let off = this.questionEnd;
    let version = 0;
    for (let i = 0; i < counts + ar; i++) {
      const nameStart = off;
      off = walkName(buf, off, () => undefined);
      if (off + 10 > buf.length) return this.fail('message ends inside a record header');
      const type = buf.readUInt16BE(off);
      const rdlen = buf.readUInt16BE(off + 8);
      if (off + 10 + rdlen > buf.length) return this.fail('message ends inside record data');
      if (type === TYPE.OPT) {
        if (i < counts) return this.fail('an OPT record outside the additional section');
        if (this.edns) return this.fail('more than one OPT record');
        if (buf[nameStart] !== 0) return this.fail('an OPT record whose owner is not the root');
        for (let p = off + 10; p < off + 10 + rdlen; ) {
          if (p + 4 > off + 10 + rdlen || p + 4 + buf.readUInt16BE(p + 2) > off + 10 + rdlen) return this.fail('an EDNS option runs past the OPT record');
          p += 4 + buf.readUInt16BE(p + 2);
        }
        this.edns = true;
        this.udpSize = buf.readUInt16BE(off + 2);
        version = buf[off + 5];
        this.dnssecOk = (buf[off + 6] & 0x80) !== 0;
      }
      off += 10 + rdlen;
    }
    this.ednsVersion = version;
    return this.edns && version !== 0 ? 'badvers' : 'ok';
  }

  private fail(why: string): QueryVerdict {
    this.error = why;
    return 'formerr';
  }

  /** The question name as a cache key: lower-cased wire form as Latin-1 (see nameKey). */
  nameKey(): string {
    return this.lower.toString('latin1', 0, this.nameLen);
  }

  /** What else an encoded answer to an IN query depends on: qtype and the EDNS state (none, on, on with DO). */
  subKey(): number {
    return this.qtype * 4 + (this.edns ? (this.dnssecOk ? 2 : 1) : 0);
  }

  /** The question name in presentation form, lower-cased. */
  text(): string {
    return wireToText(this.lower, this.nameLen);
  }
}

/** A header-only reply (FORMERR, NOTIMP, ...) to the query whose first 4 bytes are in `query`. */
export function errorReply(query: Uint8Array, rcode: number, extra?: { question?: Uint8Array; edns?: Edns; ra?: boolean }): Buffer {
  const w = new Writer(64);
  w.u16((query[0] << 8) | query[1]);
  // Echo opcode, RD and CD; set QR.
  w.u16(0x8000 | (((query[2] << 8) | query[3]) & 0x7910) | (extra?.ra ? 0x0080 : 0) | (rcode & 0xf));
  w.u16(extra?.question ? 1 : 0);
  w.u16(0);
  w.u16(0);
  w.u16(extra?.edns ? 1 : 0);
  if (extra?.question) w.bytes(extra.question);
  if (extra?.edns) writeOpt(w, extra.edns, rcode);
  return w.done();
}

// ---------------------------------------------------------------------------------------------------------
// Truncation

function skipRecord(buf: Uint8Array, off: number): number {
  const end = walkName(buf, off, () => undefined);
  if (end + 10 > buf.length) throw short('a record header');
  const rdlen = (buf[end + 8] << 8) | buf[end + 9];
  if (end + 10 + rdlen > buf.length) throw short('record data');
  return end + 10 + rdlen;
}

/**
 * The offset of every record's TTL field in a well-formed message, in order, leaving out OPT (whose "TTL"
 * holds the extended rcode and flags): what a cache rewrites when it serves a stored answer later.
 */
export function ttlOffsets(buf: Uint8Array): number[] {
  let off = HEADER_SIZE;
  const count = (at: number) => (buf[at] << 8) | buf[at + 1];
  const qd = count(4);
  for (let i = 0; i < qd; i++) off = walkName(buf, off, () => undefined) + 4;
  const records = count(6) + count(8) + count(10);
  const out: number[] = [];
  for (let i = 0; i < records; i++) {
    const typeAt = walkName(buf, off, () => undefined);
    if (count(typeAt) !== TYPE.OPT) out.push(typeAt + 4);
    off = skipRecord(buf, off);
  }
  return out;
}

/**
 * Fits a well-formed response into `limit` bytes (RFC 2181 9, RFC 6891 7): additional records go first and
 * do not need TC; then authority; then whole answer records from the end, with TC set. The OPT record stays.
 * Pointers only point backwards, so cutting at record boundaries keeps the kept records valid.
 */
export function truncate(buf: Buffer, limit: number): Buffer {
  if (buf.length <= limit) return buf;
  let off = HEADER_SIZE;
  const qd = buf.readUInt16BE(4);
  for (let i = 0; i < qd; i++) off = walkName(buf, off, () => undefined) + 4;
  const questionEnd = off;
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  const ends: number[] = [];
  let opt: Buffer | undefined;
  for (let i = 0; i < an + ns + ar; i++) {
    const start = off;
    off = skipRecord(buf, off);
    ends.push(off);
    if (i >= an + ns && buf[start] === 0 && buf.readUInt16BE(start + 1) === TYPE.OPT) opt = buf.subarray(start, off);
  }
  const optLen = opt ? opt.length : 0;
  const build = (answers: number, authority: number, tc: boolean): Buffer => {
    const cut = answers + authority === 0 ? questionEnd : ends[answers + authority - 1];
    const out = Buffer.allocUnsafe(cut + optLen);
    buf.copy(out, 0, 0, cut);
    if (opt) opt.copy(out, cut);
    if (tc) out[2] |= 0x02;
    out.writeUInt16BE(answers, 6);
    out.writeUInt16BE(authority, 8);
    out.writeUInt16BE(opt ? 1 : 0, 10);
    return out;
  };
  if ((an + ns === 0 ? questionEnd : ends[an + ns - 1]) + optLen <= limit) return build(an, ns, false);
  let keep = an;
  while (keep > 0 && ends[keep - 1] + optLen > limit) keep--;
  if ((keep === 0 ? questionEnd : ends[keep - 1]) + optLen > limit) {
    // Not even the question fits (a limit under the question's size): header only.
    const out = Buffer.from(buf.subarray(0, HEADER_SIZE));
    out[2] |= 0x02;
    out.fill(0, 4, 12);
    return out;
  }
  // All answers fit but not the authority: only a negative answer (no answers) loses what it needs.
  return build(keep, 0, keep < an || an === 0);
}
