// The cluster DNS server: UDP and TCP (RFC 7766) on given addresses, answering the cluster zone from a cache
// of encoded answers and sending other names to an upstream (or refusing them at once when there is none).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, connect, isIPv6, type Server, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import {
  CLASS_IN,
  CLASSIC_UDP_SIZE,
  MAX_MESSAGE,
  QueryParser,
  RCODE,
  TYPE,
  Writer,
  decodeMessage,
  encodeMessage,
  errorReply,
  headerFlags,
  nameKey,
  truncate,
  ttlOffsets,
  writeRecord,
  type Edns,
  type Message,
} from './message.js';
import type { Answer, ClusterZone } from './records.js';

export interface Endpoint {
  address: string;
  port: number;
}

export interface DnsServerOptions {
  zone: ClusterZone;
  /** Where to listen; each address gets UDP and TCP on the same port (port 0: one free port for both). */
  listen: Endpoint[];
  /** Servers for names outside the zone, tried in order: "ip", "ip:port", "[v6]:port" or endpoints. */
  upstreams?: (string | Endpoint)[];
  /** Per upstream try; default 2000 ms. */
  upstreamTimeoutMs?: number;
  /** Answer for names outside the zone when there is no upstream. Default REFUSED: this server does not
   *  recurse, by configuration (RFC 1035's meaning of REFUSED); glibc moves on at once on REFUSED or SERVFAIL.
   *  musl accepts only NOERROR and NXDOMAIN and waits out its timeout on anything else: NXDOMAIN makes musl
   *  pods fail fast too, at the price of claiming the name does not exist. */
  noUpstreamRcode?: 'REFUSED' | 'SERVFAIL' | 'NXDOMAIN';
  /** A TCP connection with nothing to do is closed after this; default 10000 ms. */
  tcpIdleMs?: number;
  maxTcpConnections?: number;
  /** The EDNS UDP payload size offered and the most sent over UDP; default 1232 (DNS flag day 2020). */
  udpPayloadSize?: number;
  /** Names whose encoded answers are kept; the oldest go first. Default 50000. */
  cacheNames?: number;
  /** Upstream queries in flight at once; beyond it, SERVFAIL. Default 1024. */
  maxInflight?: number;
  /** Each reply as it is sent (for metrics): which server answered, over what, how long it took. */
  observe?: (o: DnsObservation) => void;
}

export interface DnsObservation {
  /** The listening address as CoreDNS's server label writes it: dns://ADDRESS:PORT. */
  server: string;
  tcp: boolean;
  /** CoreDNS's family label: "1" IPv4, "2" IPv6. */
  family: '1' | '2';
  rcode: number;
  seconds: number;
  reply: Buffer;
}

export type DnsServerErrorCode = 'DNS_LISTEN_FAILED' | 'DNS_BAD_UPSTREAM' | 'DNS_UPSTREAM_FAILED';

export class DnsServerError extends Error {
  constructor(
    readonly code: DnsServerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DnsServerError';
  }
}

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export interface DnsStats {
  /** Messages received (UDP datagrams and TCP frames). */
  received: number;
  udp: number;
  tcp: number;
  /** Messages not answered: shorter than a header, or responses. */
  dropped: number;
  cacheHits: number;
  cacheMisses: number;
  /** Replies by rcode name (BADVERS counted apart from its 4-bit remainder). */
  rcodes: Record<string, number>;
  truncated: number;
  forwarded: number;
  /** Cached upstream answers asked again before they expired, on a hit in their last tenth (see answer). */
  prefetched: number;
  upstreamFailures: number;
  upstreamTcpRetries: number;
  tcpConnections: number;
  /** Exceptions caught while answering (a bug if not zero). */
  errors: number;
}

type Send = (out: Buffer, rcode?: number) => void;
/** The listening address a message came in on, as the metrics label it. */
type Where = Pick<DnsObservation, 'server' | 'family'>;

interface CacheEntry {
  full: Buffer;
  trimmed?: Map<number, Buffer>;
  /** An upstream's answer: stored at (ms), served until (ms), its TTLs counted down from `ttl` seconds; a hit
   *  after `refreshAt` (ms) asks the upstream again in the background (`refreshing` while it does). */
  upstream?: { stored: number; expires: number; ttl: number; refreshAt: number; refreshing?: boolean };
}

/** An upstream's answer, as cached from `stored` (ms) for `ttl` seconds: refreshed on a hit in its last tenth,
 *  as Unbound's `prefetch` and CoreDNS's cache `prefetch` do, so a name in use never expires in front of its
 *  clients (a cache filled at once, as a benchmark or a starting node fills it, would otherwise send every
 *  name upstream at the same moment, with the clients waiting). */
function upstreamEntry(full: Buffer, stored: number, ttl: number): CacheEntry {
  return { full, upstream: { stored, expires: stored + ttl * 1000, ttl, refreshAt: stored + ttl * 900 } };
}

/**
 * How long an upstream's answer may be served from the cache, in seconds (0: not at all). An answer lives
 * as long as its shortest TTL, at most 30 s; a denial (NXDOMAIN, or NOERROR with no answer) as long as its
 * SOA says (RFC 2308: the smaller of the SOA's TTL and MINIMUM), at most 5 s, and not at all without a SOA;
 * SERVFAIL, REFUSED and truncated answers are not kept. The caps are NodeLocal DNSCache's (`cache 30`) and
 * a short one for denials, so a name that appears upstream is seen within seconds.
 */
export function upstreamCacheSeconds(m: Message): number {
  if (m.header.tc) return 0;
  if (m.header.rcode === RCODE.NOERROR && m.answers.length) return Math.min(UPSTREAM_CACHE_MAX_S, ...m.answers.map((r) => r.ttl));
  if (m.header.rcode !== RCODE.NOERROR && m.header.rcode !== RCODE.NXDOMAIN) return 0;
  for (const r of m.authorities) if (r.data.kind === 'soa') return Math.min(UPSTREAM_DENIAL_MAX_S, r.ttl, r.data.minimum);
  return 0;
}
const UPSTREAM_CACHE_MAX_S = 30;
const UPSTREAM_DENIAL_MAX_S = 5;

function parseEndpoint(u: string | Endpoint): Endpoint {
  if (typeof u !== 'string') return u;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(u) ?? /^([^:]+)(?::(\d+))?$/.exec(u);
  const address = m ? m[1] : u;
  const port = m?.[2] ? Number(m[2]) : 53;
  if (!/^[0-9.]+$/.test(address) && !isIPv6(address))
    throw new DnsServerError('DNS_BAD_UPSTREAM', `upstream ${JSON.stringify(u)} is not an IP address with an optional port`);
  if (!(port > 0 && port < 65536)) throw new DnsServerError('DNS_BAD_UPSTREAM', `upstream ${JSON.stringify(u)} has a bad port`);
  return { address, port };
}

/** `nameserver` lines of a resolv.conf, as upstreams. */
export function upstreamsFromResolvConf(text: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    try {
      out.push(parseEndpoint(m[1].includes(':') ? `[${m[1]}]` : m[1]));
    } catch {
      // A line that is not an address is not an upstream.
    }
  }
  return out;
}

/** The same question (name case-insensitively, type, class) at offset 12 of two messages. */
function sameQuestion(a: Uint8Array, b: Uint8Array): boolean {
  let i = 12;
  for (;;) {
    if (i >= a.length || i >= b.length) return false;
    const len = a[i];
    if (len !== b[i] || len > 63) return false;
    if (len === 0) break;
    for (let j = i + 1; j <= i + len; j++) {
      if (j >= a.length || j >= b.length) return false;
      const x = a[j] >= 0x41 && a[j] <= 0x5a ? a[j] | 0x20 : a[j];
      const y = b[j] >= 0x41 && b[j] <= 0x5a ? b[j] | 0x20 : b[j];
      if (x !== y) return false;
    }
    i += len + 1;
  }
  for (let j = i + 1; j < i + 5; j++) if (j >= a.length || j >= b.length || a[j] !== b[j]) return false;
  return true;
}

export class DnsServer {
  readonly stats: DnsStats = {
    received: 0,
    udp: 0,
    tcp: 0,
    dropped: 0,
    cacheHits: 0,
    cacheMisses: 0,
    rcodes: {},
    truncated: 0,
    forwarded: 0,
    prefetched: 0,
    upstreamFailures: 0,
    upstreamTcpRetries: 0,
    tcpConnections: 0,
    errors: 0,
  };
  private readonly zone: ClusterZone;
  private readonly upstreams: Endpoint[];
  private readonly upstreamTimeoutMs: number;
  private readonly refuseRcode: number;
  private readonly tcpIdleMs: number;
  private readonly maxTcp: number;
  private readonly udpSize: number;
  private readonly cacheNames: number;
  private readonly maxInflight: number;
  private readonly parser = new QueryParser();
  private readonly rcodeCounts = new Array<number>(24).fill(0);
  /** name key → (qtype, EDNS state) → encoded answer. */
  private readonly cache = new Map<string, Map<number, CacheEntry>>();
  /** Name keys holding answers that follow CNAMEs inside the zone: dropped on any change. */
  private readonly volatile = new Set<string>();
  private udp: UdpSocket[] = [];
  private tcp: Server[] = [];
  private readonly conns = new Set<Socket>();
  private readonly pending = new Set<() => void>();
  private inflight = 0;
  private bound: Endpoint[] = [];
  private closed = false;

  constructor(private readonly opts: DnsServerOptions) {
    this.zone = opts.zone;
    this.upstreams = (opts.upstreams ?? []).map(parseEndpoint);
    this.upstreamTimeoutMs = opts.upstreamTimeoutMs ?? 2000;
    this.refuseRcode = RCODE[opts.noUpstreamRcode ?? 'REFUSED'];
    this.tcpIdleMs = opts.tcpIdleMs ?? 10_000;
    this.maxTcp = opts.maxTcpConnections ?? 1024;
    this.udpSize = Math.max(CLASSIC_UDP_SIZE, Math.min(opts.udpPayloadSize ?? 1232, 65535));
    this.cacheNames = opts.cacheNames ?? 50_000;
    this.maxInflight = opts.maxInflight ?? 1024;
    this.zone.onChange((names) => this.invalidate(names));
  }

  /** Binds every listen address (UDP and TCP); returns them with the ports actually bound. */
  async start(): Promise<Endpoint[]> {
    for (const ep of this.opts.listen) this.bound.push(await this.listenOne(ep));
    return this.bound;
  }

  get addresses(): Endpoint[] {
    return [...this.bound];
  }

  /** Stats with rcode counts filled in. */
  snapshot(): DnsStats {
    const rcodes: Record<string, number> = {};
    this.rcodeCounts.forEach((n, i) => {
      if (n) rcodes[i === 16 ? 'BADVERS' : (RCODE_NAMES[i] ?? `RCODE${i}`)] = n;
    });
    return { ...this.stats, rcodes };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.conns) c.destroy();
    for (const p of [...this.pending]) p();
    await Promise.all([
      ...this.udp.map((s) => new Promise<void>((r) => s.close(() => r()))),
      ...this.tcp.map((s) => new Promise<void>((r) => s.close(() => r()))),
    ]);
    this.udp = [];
    this.tcp = [];
  }

  private async listenOne(ep: Endpoint): Promise<Endpoint> {
    const family = isIPv6(ep.address) ? 'udp6' : 'udp4';
    let lastErr: unknown;
    for (let attempt = 0; attempt < (ep.port === 0 ? 20 : 1); attempt++) {
      const udp = createSocket({
        type: family,
        // The reply goes to the address the query came from, already an IP: skip dns.lookup's extra tick.
        lookup: ((address: string, _o: unknown, cb: (e: Error | null, a: string, f: number) => void) => cb(null, address, family === 'udp6' ? 6 : 4)) as never,
      });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(ep.port, ep.address, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        lastErr = e;
        udp.close();
        continue;
      }
      const port = udp.address().port;
      const where = { server: `dns://${isIPv6(ep.address) ? `[${ep.address}]` : ep.address}:${port}`, family: (isIPv6(ep.address) ? '2' : '1') as '1' | '2' };
      const tcp = createServer({ allowHalfOpen: true }, (s) => this.onConnection(s, where));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, ep.address, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        lastErr = e;
        udp.close();
        continue;
      }
      try {
        udp.setRecvBufferSize(4 << 20);
        udp.setSendBufferSize(4 << 20);
      } catch {
        // The kernel's limits (net.core.rmem_max) apply; the defaults still work.
      }
      udp.on('error', () => undefined);
      tcp.on('error', () => undefined);
      udp.on('message', (msg, rinfo) => {
        this.stats.udp++;
        this.handle(msg, false, (out) => udp.send(out, rinfo.port, rinfo.address), undefined, where);
      });
      this.udp.push(udp);
      this.tcp.push(tcp);
      return { address: ep.address, port };
    }
    throw new DnsServerError('DNS_LISTEN_FAILED', `cannot listen on ${ep.address}:${ep.port} (UDP and TCP): ${(lastErr as Error)?.message}`);
  }

  private onConnection(sock: Socket, where: Where): void {
    if (this.closed || this.conns.size >= this.maxTcp) {
      sock.destroy();
      return;
    }
    this.stats.tcpConnections++;
    this.conns.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(this.tcpIdleMs, () => sock.destroy());
    let buf: Buffer = Buffer.alloc(0);
    let waiting = 0;
    let ended = false;
    const send = (out: Buffer) => {
      waiting--;
      if (sock.destroyed) return;
      // A client that does not read its answers is not given memory without end.
      if (sock.writableLength > 1 << 20) {
        sock.destroy();
        return;
      }
      const framed = Buffer.allocUnsafe(out.length + 2);
      framed.writeUInt16BE(out.length, 0);
      out.copy(framed, 2);
      sock.write(framed);
      if (ended && waiting === 0) sock.end();
    };
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < len + 2) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        this.stats.tcp++;
        waiting++;
        let answered = false;
        this.handle(
          msg,
          true,
          (out) => {
            answered = true;
            send(out);
          },
          () => {
            if (!answered) {
              waiting--;
              if (ended && waiting === 0) sock.end();
            }
          },
          where,
        );
      }
    });
    sock.on('end', () => {
      ended = true;
      if (waiting === 0) sock.end();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => this.conns.delete(sock));
  }

  // -------------------------------------------------------------------------------------------------------
  // Answering

  /** Answers one message; `reply` is called at most once, `done` (if given) once it is clear none will come. */
  private handle(msg: Buffer, tcp: boolean, reply: (out: Buffer) => void, done?: () => void, where?: Where): void {
    this.stats.received++;
    const observe = this.opts.observe;
    const t0 = observe ? performance.now() : 0;
    const send: Send = (out, rcode = out[3] & 0xf) => {
      this.rcodeCounts[rcode]++;
      reply(out);
      if (observe && where) observe({ ...where, tcp, rcode, seconds: (performance.now() - t0) / 1000, reply: out });
    };
    try {
      const r = this.answer(msg, tcp, send);
      if (r === true) done?.();
      else void r.catch(() => this.stats.errors++).then(done);
    } catch {
      this.stats.errors++;
      try {
        if (msg.length >= 12 && !(msg[2] & 0x80)) send(errorReply(msg, RCODE.SERVFAIL));
      } catch {
        // Nothing more can be said to this client.
      }
      done?.();
    }
  }

  private ourEdns(dnssecOk: boolean): Edns {
    return { udpSize: this.udpSize, extRcode: 0, version: 0, dnssecOk, options: [] };
  }

  /** Returns true (answered or dropped now), or a promise when the answer comes from upstream. */
  private answer(msg: Buffer, tcp: boolean, send: Send): true | Promise<void> {
    const q = this.parser;
    switch (q.parse(msg)) {
      case 'drop':
        this.stats.dropped++;
        return true;
      case 'formerr':
        send(errorReply(msg, RCODE.FORMERR));
        return true;
      case 'notimp':
        send(errorReply(msg, RCODE.NOTIMP));
        return true;
      case 'badvers':
        send(errorReply(msg, RCODE.BADVERS, { edns: this.ourEdns(q.dnssecOk) }), RCODE.BADVERS);
        return true;
      case 'ok':
        break;
    }
    const limit = tcp ? MAX_MESSAGE : q.edns ? Math.max(CLASSIC_UDP_SIZE, Math.min(q.udpSize, this.udpSize)) : CLASSIC_UDP_SIZE;
    if (q.qtype === TYPE.OPT) {
      send(errorReply(msg, RCODE.FORMERR));
      return true;
    }
    if (q.qclass !== CLASS_IN) {
      send(errorReply(msg, RCODE.REFUSED, { question: this.caseOf(q), edns: q.edns ? this.ourEdns(q.dnssecOk) : undefined }));
      return true;
    }
    if (q.qtype === TYPE.AXFR || q.qtype === TYPE.IXFR || q.qtype === TYPE.MAILA || q.qtype === TYPE.MAILB) {
      send(errorReply(msg, RCODE.NOTIMP, { question: this.caseOf(q), edns: q.edns ? this.ourEdns(q.dnssecOk) : undefined }));
      return true;
    }
    const nk = q.nameKey();
    const sk = q.subKey();
    const byType = this.cache.get(nk);
    // An answer from the zone is the same whatever the query's RD and CD bits (fromEntry copies them); an
    // upstream's may not be, so those bits are part of its key, kept apart from the zone's (negative).
    const fk = -1 - (sk * 4 + (msg[2] & 0x01 ? 2 : 0) + (msg[3] & 0x10 ? 1 : 0));
    let hit = byType?.get(sk);
    if (!hit && byType) {
      const f = byType.get(fk);
      if (f?.upstream) {
        const now = Date.now();
        if (f.upstream.expires > now) {
          hit = f;
          if (now >= f.upstream.refreshAt && !f.upstream.refreshing && this.upstreams.length) this.prefetch(msg, nk, fk, f);
        }
      }
    }
    if (hit) {
      this.stats.cacheHits++;
      send(this.fromEntry(hit, msg, q, limit));
      return true;
    }
    this.stats.cacheMisses++;
    const name = q.text();
    const ans = this.zone.resolve(name, q.qtype);
    if (!ans) return this.outside(msg, q, limit, send, nk, fk);
    if (ans.chase && this.upstreams.length) return this.chase(msg, q, ans, limit, send);
    const entry: CacheEntry = { full: this.encode(q, name, ans) };
    this.store(nk, sk, entry, ans.volatile === true);
    send(this.fromEntry(entry, msg, q, limit));
    return true;
  }

  /** The question as the client sent it, but uncompressed: its name from the parser, then type and class. */
  private caseOf(q: QueryParser): Buffer {
    const out = Buffer.allocUnsafe(q.nameLen + 4);
    q.name.copy(out, 0, 0, q.nameLen);
    out.writeUInt16BE(q.qtype, q.nameLen);
    out.writeUInt16BE(q.qclass, q.nameLen + 2);
    return out;
  }

  private encode(q: QueryParser, name: string, ans: Answer): Buffer {
    const w = new Writer(512);
    w.u16(0);
    w.u16(headerFlags({ qr: true, aa: true, ra: this.upstreams.length > 0, rcode: ans.rcode }));
    w.u16(1);
    w.u16(ans.answers.length);
    w.u16(ans.authorities.length);
    w.u16(ans.additionals.length + (q.edns ? 1 : 0));
    w.name(name);
    w.u16(q.qtype);
    w.u16(q.qclass);
    for (const rr of ans.answers) writeRecord(w, rr);
    for (const rr of ans.authorities) writeRecord(w, rr);
    for (const rr of ans.additionals) writeRecord(w, rr);
    if (q.edns) {
      // OPT: root owner, our payload size, no extended rcode, version 0, DO echoed (RFC 3225).
      w.u8(0);
      w.u16(TYPE.OPT);
      w.u16(this.udpSize);
      w.u32(q.dnssecOk ? 0x8000 : 0);
      w.u16(0);
    }
    return w.done();
  }

  /** A copy of a cached answer for this query: its ID, RD and CD bits, and its question's letter case. */
  private fromEntry(e: CacheEntry, msg: Buffer, q: QueryParser, limit: number): Buffer {
    let base = e.full;
    if (base.length > limit) {
      this.stats.truncated++;
      e.trimmed ??= new Map();
      let t = e.trimmed.get(limit);
      if (!t) e.trimmed.set(limit, (t = truncate(base, limit)));
      base = t;
    }
    const out = Buffer.allocUnsafe(base.length);
    base.copy(out, 0);
    out[0] = msg[0];
    out[1] = msg[1];
    out[2] |= msg[2] & 0x01;
    out[3] |= msg[3] & 0x10;
    if (base.length >= 12 + q.nameLen) q.name.copy(out, 12, 0, q.nameLen);
    if (e.upstream) {
      // Every TTL counts down from when the answer was stored (RFC 1035 7.4), none above the entry's life.
      const left = Math.max(0, e.upstream.ttl - Math.floor((Date.now() - e.upstream.stored) / 1000));
      for (const at of ttlOffsets(out)) out.writeUInt32BE(Math.min(out.readUInt32BE(at), left), at);
    }
    return out;
  }

  private store(nk: string, sk: number, e: CacheEntry, isVolatile: boolean): void {
    let byType = this.cache.get(nk);
    if (!byType) {
      if (this.cache.size >= this.cacheNames) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
      this.cache.set(nk, (byType = new Map()));
    }
    byType.set(sk, e);
    if (isVolatile) this.volatile.add(nk);
  }

  private invalidate(names: string[]): void {
    for (const n of names) {
      try {
        this.cache.delete(nameKey(n));
      } catch {
        // A name that cannot be on the wire was never cached.
      }
    }
    for (const k of this.volatile) this.cache.delete(k);
    this.volatile.clear();
  }

  // -------------------------------------------------------------------------------------------------------
  // Names outside the zone

  private outside(msg: Buffer, q: QueryParser, limit: number, send: Send, nk: string, sk: number): true | Promise<void> {
    const edns = q.edns ? this.ourEdns(q.dnssecOk) : undefined;
    if (!this.upstreams.length) {
      send(errorReply(msg, this.refuseRcode, { question: this.caseOf(q), edns }));
      return true;
    }
    if (this.inflight >= this.maxInflight) {
      send(errorReply(msg, RCODE.SERVFAIL, { question: this.caseOf(q), edns, ra: true }));
      return true;
    }
    // The parser is reused by the next message: keep what the reply needs.
    const query = Buffer.from(msg);
    const question = this.caseOf(q);
    // The answer is stored whole under the query's keys, and served truncated to each later client's limit.
    this.stats.forwarded++;
    this.inflight++;
    return this.exchange(query)
      .then(
        ({ resp, message }) => {
          resp.writeUInt16BE(query.readUInt16BE(0), 0);
          const ttl = upstreamCacheSeconds(message);
          if (ttl > 0) this.store(nk, sk, upstreamEntry(resp, Date.now(), ttl), false);
          send(truncate(resp, limit));
        },
        () => send(errorReply(query, RCODE.SERVFAIL, { question, edns, ra: true })),
      )
      .finally(() => this.inflight--);
  }

  /** Asks the upstream again for a cached answer about to expire; the client was answered from the cache. The
   *  new answer replaces the entry (an answer that may not be cached leaves the old one to expire), a failure
   *  leaves it as it was. At most half the in-flight budget goes to refreshes: clients' misses come first. */
  private prefetch(msg: Buffer, nk: string, sk: number, e: CacheEntry): void {
    const up = e.upstream!;
    if (this.inflight >= this.maxInflight / 2) return;
    up.refreshing = true;
    this.stats.prefetched++;
    this.inflight++;
    void this.exchange(Buffer.from(msg))
      .then(
        ({ resp, message }) => {
          const ttl = upstreamCacheSeconds(message);
          // Only if the entry is still the one refreshed (the zone may have taken the name meanwhile).
          if (ttl > 0 && this.cache.get(nk)?.get(sk) === e) this.store(nk, sk, upstreamEntry(resp, Date.now(), ttl), false);
        },
        () => {},
      )
      .finally(() => {
        up.refreshing = false;
        this.inflight--;
      });
  }

  /** An ExternalName's CNAME, followed by what the upstream says about its target. Not cached. */
  private chase(msg: Buffer, q: QueryParser, ans: Answer, limit: number, send: Send): Promise<void> {
    const id = msg.readUInt16BE(0);
    const flags = msg.readUInt16BE(2);
    const name = q.text();
    const nameBytes = Buffer.from(q.name.subarray(0, q.nameLen));
    const qtype = q.qtype;
    const edns = q.edns ? this.ourEdns(q.dnssecOk) : undefined;
    const target = ans.chase!;
    const query = encodeMessage({
      header: { id: 0, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0 },
      questions: [{ name: target, type: qtype, class: CLASS_IN }],
      answers: [],
      authorities: [],
      additionals: [],
      edns: { udpSize: this.udpSize, extRcode: 0, version: 0, dnssecOk: false, options: [] },
    });
    this.stats.forwarded++;
    this.inflight++;
    const finish = (rcode: number, extra: Answer['answers']) => {
      const out = encodeMessage({
        header: { id, qr: true, opcode: 0, aa: true, tc: false, rd: (flags & 0x100) !== 0, ra: true, ad: false, cd: (flags & 0x10) !== 0, rcode },
        questions: [{ name, type: qtype, class: CLASS_IN }],
        answers: [...ans.answers, ...extra],
        authorities: [],
        additionals: [],
        edns,
      });
      nameBytes.copy(out, 12);
      send(truncate(out, limit));
    };
    return this.exchange(query)
      .then(
        ({ message: m }) => {
          finish(m.header.rcode === RCODE.NXDOMAIN ? RCODE.NXDOMAIN : m.header.rcode === RCODE.NOERROR ? RCODE.NOERROR : RCODE.SERVFAIL, m.answers);
        },
        () => finish(RCODE.SERVFAIL, []),
      )
      .finally(() => this.inflight--);
  }

  /** Asks the upstreams in turn (UDP; TCP when the UDP answer is truncated); resolves with a checked reply. */
  private async exchange(query: Buffer): Promise<{ resp: Buffer; message: Message }> {
    let last: unknown;
    for (const up of this.upstreams) {
      if (this.closed) break;
      const q = Buffer.from(query);
      q.writeUInt16BE(randomInt(65536), 0);
      try {
        let resp = await this.udpExchange(up, q);
        if (resp[2] & 0x02) {
          this.stats.upstreamTcpRetries++;
          resp = await this.tcpExchange(up, q);
        }
        // Throws on a malformed reply, which then counts as a failure of this upstream.
        return { resp, message: decodeMessage(resp) };
      } catch (e) {
        last = e;
        this.stats.upstreamFailures++;
      }
    }
    throw new DnsServerError('DNS_UPSTREAM_FAILED', `no upstream answered: ${(last as Error)?.message ?? 'server closed'}`);
  }

  private matches(q: Buffer, r: Buffer): boolean {
    return r.length >= 12 && r[0] === q[0] && r[1] === q[1] && (r[2] & 0x80) !== 0 && sameQuestion(q, r);
  }

  private udpExchange(up: Endpoint, q: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const s = createSocket(isIPv6(up.address) ? 'udp6' : 'udp4');
      const finish = (err: Error | null, r?: Buffer) => {
        clearTimeout(timer);
        this.pending.delete(abort);
        s.close();
        if (err) reject(err);
        else resolve(r!);
      };
      const abort = () => finish(new DnsServerError('DNS_UPSTREAM_FAILED', 'server closed'));
      const timer = setTimeout(
        () => finish(new DnsServerError('DNS_UPSTREAM_FAILED', `no answer from ${up.address}:${up.port} in ${this.upstreamTimeoutMs} ms`)),
        this.upstreamTimeoutMs,
      );
      this.pending.add(abort);
      s.on('error', (e) => finish(e));
      // Only a reply from the upstream with our ID and our question is taken; anything else is ignored.
      s.on('message', (r, rinfo) => {
        if (rinfo.port === up.port && this.matches(q, r)) finish(null, r);
      });
      s.connect(up.port, up.address, () => s.send(q));
    });
  }

  private tcpExchange(up: Endpoint, q: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const s = connect(up.port, up.address);
      let buf: Buffer = Buffer.alloc(0);
      const finish = (err: Error | null, r?: Buffer) => {
        clearTimeout(timer);
        this.pending.delete(abort);
        s.destroy();
        if (err) reject(err);
        else resolve(r!);
      };
      const abort = () => finish(new DnsServerError('DNS_UPSTREAM_FAILED', 'server closed'));
      const timer = setTimeout(
        () => finish(new DnsServerError('DNS_UPSTREAM_FAILED', `no TCP answer from ${up.address}:${up.port} in ${this.upstreamTimeoutMs} ms`)),
        this.upstreamTimeoutMs,
      );
      this.pending.add(abort);
      s.on('error', (e) => finish(e));
      s.on('close', () => finish(new DnsServerError('DNS_UPSTREAM_FAILED', `${up.address}:${up.port} closed the TCP connection without an answer`)));
      s.on('connect', () => {
        const framed = Buffer.allocUnsafe(q.length + 2);
        framed.writeUInt16BE(q.length, 0);
        q.copy(framed, 2);
        s.write(framed);
      });
      s.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const r = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + r.length);
          if (this.matches(q, r)) return finish(null, Buffer.from(r));
        }
      });
    });
  }
}
