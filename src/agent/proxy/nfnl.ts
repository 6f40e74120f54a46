// The proxy's map and set elements as nf_tables netlink batches (NEWSETELEM and DELSETELEM messages between
// a batch's begin and end, each batch one transaction), for the node helper to send (helper.ts `nfnl`):
//   - elementBatch: a full rewrite of an absent table, after createTableBatch made it and `nft -f` its
//     structure (chains, rules, empty maps): at 10,000 services nft spent 350–590 ms turning 50,000
//     elements of text into the same messages, the kernel ~57 ms taking them;
//   - changeBatch: a difference of elements (deletes, then adds): nft took 20–60 ms for one element at
//     10,000 services, reading the table's sets and chains before it; the batch about one;
//   - addressSetBatch: the same for a set of IPv4 addresses of another table (the masquerade's node set,
//     agent/nat.ts), where an `nft` process was ~36 ms of CPU per change.
//
// The layouts are the kernel's uapi (linux/netlink.h, netfilter/nfnetlink.h, netfilter/nf_tables.h). A key
// or value of several fields (a concatenation) is each field in its register form: padded to 4 bytes,
// addresses and ports in network order, the protocol one byte, numgen's bucket a 32-bit number in the
// machine's order (its typeof `numgen random mod 1` is an integer in host order). Every key and value is
// parsed here from the text the ruleset builds and refused unless it is exactly what that container holds,
// so nothing unproven reaches the kernel.
import { endianness } from 'node:os';
import type { Container, ElementDiff } from './ruleset.js';

const LE = endianness() === 'LE';

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWTABLE = 0;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NLM_F_EXCL = 0x200;
const NFTA_TABLE_NAME = 1;
const NFPROTO_IPV4 = 2;
const NLA_F_NESTED = 0x8000;

const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;

const NF_DROP = 0;
const NF_ACCEPT = 1;
const NFT_JUMP = -3;
const NFT_GOTO = -4;

/** An attribute's length is 16 bits: a message's element list stays well under it. */
const ELEMENTS_PER_MESSAGE_BYTES = 60_000;
const NFT_NAME_MAXLEN = 256;
const CHAIN_NAME = /^[a-z0-9][a-z0-9-]*$/;
const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, '6': 6, '17': 17, '132': 132 };

export class ElementError extends Error {
  readonly code = 'BadElement';
  constructor(container: string, text: string, why: string) {
    super(`element ${JSON.stringify(text)} of set ${container}: ${why}`);
    this.name = 'ElementError';
  }
}

/** The fields of each container's key, and of its value (undefined for sets, 'verdict' for verdict maps). */
type Field = 'ip' | 'proto' | 'port' | 'bucket';
const LAYOUT: Record<Container, { key: Field[]; value?: Field[] | 'verdict' }> = {
  services: { key: ['ip', 'proto', 'port'], value: 'verdict' },
  nodeports: { key: ['proto', 'port'], value: 'verdict' },
  backends: { key: ['ip', 'proto', 'port', 'bucket'], value: ['ip', 'port'] },
  npbackends: { key: ['proto', 'port', 'bucket'], value: ['ip', 'port'] },
  noeps: { key: ['ip', 'proto', 'port'] },
  npnoeps: { key: ['proto', 'port'] },
  hairpin: { key: ['ip', 'ip'] },
};

/** A growing buffer that netlink messages and their (nested) attributes are written into in place. */
class Writer {
  buf: Buffer;
  at = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  u8(n: number): void {
    this.room(1);
    this.buf[this.at++] = n;
  }
  u16(n: number): void {
    this.room(2);
    this.at = LE ? this.buf.writeUInt16LE(n, this.at) : this.buf.writeUInt16BE(n, this.at);
  }
  u32(n: number): void {
    this.room(4);
    this.at = LE ? this.buf.writeUInt32LE(n >>> 0, this.at) : this.buf.writeUInt32BE(n >>> 0, this.at);
  }
  be32(n: number): void {
    this.room(4);
    this.at = this.buf.writeUInt32BE(n >>> 0, this.at);
  }
  zeros(n: number): void {
    this.room(n);
    this.buf.fill(0, this.at, this.at + n);
    this.at += n;
  }
  pad(): void {
    const r = this.at & 3;
    if (r) this.zeros(4 - r);
  }
  /** Opens an attribute; close() writes its length once its payload is written. */
  open(type: number): number {
    const start = this.at;
    this.u16(0);
    this.u16(type);
    return start;
  }
  close(start: number): void {
    const len = this.at - start;
    LE ? this.buf.writeUInt16LE(len, start) : this.buf.writeUInt16BE(len, start);
    this.pad();
  }
  bytes(b: Buffer): void {
    this.room(b.length);
    this.at += b.copy(this.buf, this.at);
  }
  string(type: number, s: string): void {
    const a = this.open(type);
    this.room(s.length + 1);
    this.at += this.buf.write(s, this.at, 'latin1');
    this.buf[this.at++] = 0;
    this.close(a);
  }
  /** nlmsghdr (length patched by end()) and nfgenmsg. */
  message(type: number, flags: number, seq: number, family: number, resId: number): number {
    const start = this.at;
    this.u32(0);
    this.u16(type);
    this.u16(flags);
    this.u32(seq);
    this.u32(0);
    this.u8(family);
    this.u8(0); // NFNETLINK_V0
    this.room(2);
    this.at = this.buf.writeUInt16BE(resId, this.at);
    return start;
  }
  end(start: number): void {
    const len = this.at - start;
    LE ? this.buf.writeUInt32LE(len, start) : this.buf.writeUInt32BE(len, start);
  }
}

const bad = (c: string, text: string, s: string, what: string) => new ElementError(c, text, `${JSON.stringify(s)} is not ${what}`);

/** A decimal number without sign or leading zero in text[from, to), at most max; -1 when it is not one. */
function decimal(text: string, from: number, to: number, max: number): number {
  if (to === from) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9 || (i > from && n === 0) || (n = n * 10 + d) > max) return -1;
  }
  return n;
}

function ipv4(w: Writer, c: string, text: string, from: number, to: number): void {
  let value = 0;
  let octets = 0;
  let start = from;
  for (let i = from; i <= to; i++) {
    if (i < to && text.charCodeAt(i) !== 46) continue;
    const n = octets < 4 ? decimal(text, start, i, 255) : -1;
    if (n < 0) throw bad(c, text, text.slice(from, to), 'an IPv4 address');
    value = value * 256 + n;
    octets++;
    start = i + 1;
  }
  if (octets !== 4) throw bad(c, text, text.slice(from, to), 'an IPv4 address');
  w.be32(value);
}

function number(c: string, text: string, from: number, to: number, max: number, what: string): number {
  const n = decimal(text, from, to, max);
  if (n < 0) throw bad(c, text, text.slice(from, to), what);
  return n;
}

/** Writes one concatenation's fields (separated by " . "), each in its 4-byte register. */
function fields(w: Writer, c: string, text: string, layout: Field[]): void {
  let at = 0;
  for (let i = 0; i < layout.length; i++) {
    const last = i === layout.length - 1;
    const sep = text.indexOf(' . ', at);
    if (last ? sep >= 0 : sep < 0) throw new ElementError(c, text, `want ${layout.length} fields (${layout.join(' . ')})`);
    const end = last ? text.length : sep;
    switch (layout[i]) {
      case 'ip':
        ipv4(w, c, text, at, end);
        break;
      case 'proto': {
        const n = PROTOCOLS[text.slice(at, end)];
        if (n === undefined) throw bad(c, text, text.slice(at, end), 'tcp, udp or sctp');
        w.u8(n);
        w.zeros(3);
        break;
      }
      case 'port': {
        const n = number(c, text, at, end, 65535, 'a port');
        w.u8(n >> 8);
        w.u8(n & 255);
        w.zeros(2);
        break;
      }
      case 'bucket':
        w.u32(number(c, text, at, end, 0xffff, 'a numgen bucket'));
        break;
    }
    at = end + 3;
  }
}

/** A verdict map's value (drop, accept, goto CHAIN, jump CHAIN) as its NFTA_SET_ELEM_DATA attribute. */
function verdict(c: string, v: string): Buffer {
  const sp = v.indexOf(' ');
  const word = sp < 0 ? v : v.slice(0, sp);
  const chain = sp < 0 ? undefined : v.slice(sp + 1);
  const code = word === 'goto' ? NFT_GOTO : word === 'jump' ? NFT_JUMP : word === 'drop' ? NF_DROP : word === 'accept' ? NF_ACCEPT : undefined;
  if (code === undefined || code < 0 !== (chain !== undefined)) throw new ElementError(c, v, 'not a verdict (drop, accept, goto CHAIN, jump CHAIN)');
  if (chain !== undefined && (chain.length >= NFT_NAME_MAXLEN || !CHAIN_NAME.test(chain))) throw bad(c, v, chain, 'a chain name');
  const w = new Writer(64);
  const d = w.open(NFTA_SET_ELEM_DATA | NLA_F_NESTED);
  const vd = w.open(NFTA_DATA_VERDICT | NLA_F_NESTED);
  const a = w.open(NFTA_VERDICT_CODE);
  w.be32(code);
  w.close(a);
  if (chain !== undefined) w.string(NFTA_VERDICT_CHAIN, chain);
  w.close(vd);
  w.close(d);
  return Buffer.from(w.buf.subarray(0, w.at));
}

export interface ElementBatch {
  /** The batch: begin, the NEWSETELEM messages (each asking for an acknowledgement), end. */
  bytes: Buffer;
  /** NEWSETELEM messages in it. */
  messages: number;
  elements: number;
}

/** Calls `emit` with each element of a container: its key and value as the ruleset writes them ('' for sets). */
export type Elements = (c: Container, emit: (key: string, value: string) => void) => void;

/** Writes a batch of element messages: begin, NEWSETELEM or DELSETELEM messages of ≤ ~60 KB of elements, end. */
class ElementWriter {
  readonly w: Writer;
  private seq = 1;
  messages = 0;
  elements = 0;
  // A verdict map holds few distinct values (one per pick chain): each is proven and encoded once.
  private readonly verdicts = new Map<string, Buffer>();

  constructor(
    private readonly table: string,
    sizeHint: number,
  ) {
    if (table.length >= NFT_NAME_MAXLEN || !CHAIN_NAME.test(table)) throw bad('services', table, table, 'a table name');
    // An element takes 36–52 bytes: sized for them, the buffer is seldom copied.
    this.w = new Writer(Math.max(1 << 16, sizeHint * 48));
    this.w.end(this.w.message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, this.seq++, 0, NFNL_SUBSYS_NFTABLES));
  }

  /** One container's elements, added (keys and values) or deleted (keys; values are ignored); `c` names the set
   *  or map, whose layout is the proxy's container's unless given. */
  container(c: string, del: boolean, each: (emit: (key: string, value: string) => void) => void, layout = LAYOUT[c as Container]): void {
    const { w } = this;
    let msg = -1;
    let list = -1;
    each((key, value) => {
      if (msg < 0) {
        const type = (NFNL_SUBSYS_NFTABLES << 8) | (del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM);
        msg = w.message(type, NLM_F_REQUEST | NLM_F_ACK | (del ? 0 : NLM_F_CREATE), this.seq++, NFPROTO_IPV4, 0);
        w.string(NFTA_SET_ELEM_LIST_TABLE, this.table);
        w.string(NFTA_SET_ELEM_LIST_SET, c);
        list = w.open(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED);
        this.messages++;
      }
      const e = w.open(NFTA_LIST_ELEM | NLA_F_NESTED);
      const k = w.open(NFTA_SET_ELEM_KEY | NLA_F_NESTED);
      const kv = w.open(NFTA_DATA_VALUE);
      fields(w, c, key, layout.key);
      w.close(kv);
      w.close(k);
      if (del) {
        // The key alone names the element.
      } else if (layout.value === 'verdict') {
        let v = this.verdicts.get(value);
        if (!v) this.verdicts.set(value, (v = verdict(c, value)));
        w.bytes(v);
      } else if (layout.value) {
        const d = w.open(NFTA_SET_ELEM_DATA | NLA_F_NESTED);
        const dv = w.open(NFTA_DATA_VALUE);
        fields(w, c, value, layout.value);
        w.close(dv);
        w.close(d);
      } else if (value !== '') throw new ElementError(c, key, 'a set element has no value');
      w.close(e);
      this.elements++;
      if (w.at - list > ELEMENTS_PER_MESSAGE_BYTES) {
        w.close(list);
        w.end(msg);
        msg = -1;
      }
    });
    if (msg >= 0) {
      w.close(list);
      w.end(msg);
    }
  }

  finish(): ElementBatch {
    this.w.end(this.w.message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, this.seq++, 0, NFNL_SUBSYS_NFTABLES));
    return { bytes: this.w.buf.subarray(0, this.w.at), messages: this.messages, elements: this.elements };
  }
}

/**
 * One transaction adding every element to the containers of `ip <table>` (which must exist; an element
 * already there with the same value is no error). Throws ElementError on a key or value it cannot prove.
 * `sizeHint`: about how many elements there are.
 */
export function elementBatch(table: string, containers: readonly Container[], elements: Elements, sizeHint = 0): ElementBatch {
  const out = new ElementWriter(table, sizeHint);
  for (const c of containers) out.container(c, false, (emit) => elements(c, emit));
  return out.finish();
}

/**
 * One transaction applying an element difference: every container's deletes first, then its adds (a changed
 * value is both), as the text of the same difference does it. A delete of an element that is not there fails
 * the whole transaction, as it does by nft.
 */
export function changeBatch(table: string, diff: ElementDiff): ElementBatch {
  let n = 0;
  for (const d of diff.values()) n += d.gone.length + d.add.length;
  const out = new ElementWriter(table, n);
  for (const [c, d] of diff) if (d.gone.length) out.container(c, true, (emit) => d.gone.forEach((k) => emit(k, '')));
  for (const [c, d] of diff) if (d.add.length) out.container(c, false, (emit) => d.add.forEach(([k, v]) => emit(k, v)));
  return out.finish();
}

/**
 * One transaction making `set` of `ip <table>` (a set of IPv4 addresses, which must exist) go from holding
 * `del` to holding `add` as well: the deletes, then the adds. Every address is proven first (ElementError);
 * a delete of an address the set does not hold fails the whole transaction, as it does by nft.
 */
export function addressSetBatch(table: string, set: string, add: readonly string[], del: readonly string[]): Buffer {
  if (set.length >= NFT_NAME_MAXLEN || !CHAIN_NAME.test(set)) throw bad(set, set, set, 'a set name');
  const out = new ElementWriter(table, add.length + del.length);
  if (del.length) out.container(set, true, (emit) => del.forEach((ip) => emit(ip, '')), { key: ['ip'] });
  if (add.length) out.container(set, false, (emit) => add.forEach((ip) => emit(ip, '')), { key: ['ip'] });
  return Buffer.from(out.finish().bytes);
}

/**
 * A look at whether `ip <table>` exists that changes nothing and starts no process: one transaction making the
 * table twice, each refused with EEXIST when it exists. When the table is there the first is refused (message
 * 1); when it is not, the first makes it inside the transaction and the second is refused (message 2), and a
 * refused message aborts the whole batch, so either way nothing is committed. (The proxy probed with `nft list
 * set` every 2 s: a fork of the agent and an nft reading the namespace's tables, ~900 processes in ten idle
 * minutes of a three-node lab.)
 */
export const probeTableBatch = (table: string): Buffer => newTableBatch(table, 2);

/**
 * One transaction making an empty `ip <table>`, refused with EEXIST when there is one: the test-and-set of a
 * full rewrite by netlink (an empty table has no chains, so it changes no packet's path).
 */
export const createTableBatch = (table: string): Buffer => newTableBatch(table, 1);

/** One transaction of `times` NEWTABLE messages for `ip <table>`, each with NLM_F_EXCL and an acknowledgement. */
function newTableBatch(table: string, times: number): Buffer {
  if (table.length >= NFT_NAME_MAXLEN || !CHAIN_NAME.test(table)) throw bad('services', table, table, 'a table name');
  const w = new Writer(256);
  let seq = 1;
  w.end(w.message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES));
  for (let i = 0; i < times; i++) {
    const m = w.message((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, seq++, NFPROTO_IPV4, 0);
    w.string(NFTA_TABLE_NAME, table);
    w.end(m);
  }
  w.end(w.message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq, 0, NFNL_SUBSYS_NFTABLES));
  return Buffer.from(w.buf.subarray(0, w.at));
}
