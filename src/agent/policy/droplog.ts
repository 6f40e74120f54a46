// The drop log: packets the policy table (and the proxy's "no endpoints" rejects) log through an nft
// `log group N` reach user space over NFLOG. Node.js cannot open a netlink socket, so the reader is a
// long-lived `tcpdump -i nflog:N -w - -U` (libpcap's NFLOG capture) in the node's namespace, and this
// module parses its pcap stream: the DLT_NFLOG records, their TLVs (the log prefix, the packet) and the
// IPv4 header and ports of the packet. tcpdump is restarted with back-off if it exits.
import { spawnProcess, type Spawned } from '../../util/exec.js';

/** pcap link type of NFLOG captures. */
export const DLT_NFLOG = 239;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;

export interface LoggedPacket {
  /** Seconds since the epoch (from the capture). */
  time: number;
  prefix: string;
  /** NFLOG group the record came from. */
  group: number;
  src: string;
  dst: string;
  /** IP protocol number. */
  proto: number;
  sport?: number;
  dport?: number;
}

/** Incremental pcap parser: feed bytes, get NFLOG records out. Anything malformed is skipped, never thrown. */
export class PcapNflogParser {
  private buf: Buffer = Buffer.alloc(0);
  private header?: { le: boolean; nano: boolean; linktype: number };
  /** Records that were not NFLOG/IPv4 or did not parse. */
  skipped = 0;

  push(chunk: Buffer): LoggedPacket[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: LoggedPacket[] = [];
    let off = 0;
    if (!this.header) {
      if (this.buf.length < 24) return out;
      const m = this.buf.readUInt32LE(0);
      const le = m === 0xa1b2c3d4 || m === 0xa1b23c4d;
      const mb = this.buf.readUInt32BE(0);
      if (!le && mb !== 0xa1b2c3d4 && mb !== 0xa1b23c4d) throw new Error(`not a pcap stream (magic 0x${m.toString(16)})`);
      const nano = (le ? m : mb) === 0xa1b23c4d;
      const linktype = le ? this.buf.readUInt32LE(20) : this.buf.readUInt32BE(20);
      this.header = { le, nano, linktype: linktype & 0x0fffffff };
      off = 24;
    }
    const { le, nano, linktype } = this.header;
    const u32 = (o: number) => (le ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o));
    while (this.buf.length - off >= 16) {
      const incl = u32(off + 8);
      if (incl > 1 << 20) throw new Error(`pcap record of ${incl} bytes: stream out of step`);
      if (this.buf.length - off < 16 + incl) break;
      const time = u32(off) + u32(off + 4) / (nano ? 1e9 : 1e6);
      const rec = this.buf.subarray(off + 16, off + 16 + incl);
      off += 16 + incl;
      const p = linktype === DLT_NFLOG ? parseNflog(rec, time) : undefined;
      if (p) out.push(p);
      else this.skipped++;
    }
    this.buf = this.buf.subarray(off);
    return out;
  }
}

/** One DLT_NFLOG record: the nflog header, then TLVs (length and type in host byte order, 4-byte aligned). */
export function parseNflog(rec: Buffer, time: number): LoggedPacket | undefined {
  if (rec.length < 4) return undefined;
  const family = rec[0];
  const group = rec.readUInt16BE(2);
  if (family !== 2) return undefined; // AF_INET
  let prefix = '';
  let payload: Buffer | undefined;
  let off = 4;
  while (off + 4 <= rec.length) {
    const len = rec.readUInt16LE(off);
    const type = rec.readUInt16LE(off + 2) & 0x7fff;
    if (len < 4 || off + len > rec.length) return undefined;
    const v = rec.subarray(off + 4, off + len);
    if (type === NFULA_PREFIX) {
      const z = v.indexOf(0);
      prefix = v.subarray(0, z < 0 ? v.length : z).toString('latin1');
    } else if (type === NFULA_PAYLOAD) payload = v;
    off += (len + 3) & ~3;
  }
  if (!payload) return undefined;
  const ip = parseIPv4Packet(payload);
  return ip ? { time, prefix, group, ...ip } : undefined;
}

export function parseIPv4Packet(b: Buffer): Omit<LoggedPacket, 'time' | 'prefix' | 'group'> | undefined {
  if (b.length < 20 || b[0] >> 4 !== 4) return undefined;
  const ihl = (b[0] & 15) * 4;
  if (ihl < 20 || b.length < ihl) return undefined;
  const proto = b[9];
  const src = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const dst = `${b[16]}.${b[17]}.${b[18]}.${b[19]}`;
  const fragOffset = b.readUInt16BE(6) & 0x1fff;
  const out: Omit<LoggedPacket, 'time' | 'prefix' | 'group'> = { src, dst, proto };
  if (fragOffset === 0 && (proto === 6 || proto === 17 || proto === 132) && b.length >= ihl + 4) {
    out.sport = b.readUInt16BE(ihl);
    out.dport = b.readUInt16BE(ihl + 2);
  }
  return out;
}

export interface DropLogOptions {
  group: number;
  netns?: string;
  onPacket(p: LoggedPacket): void;
  log?: (line: string) => void;
}

/** Runs tcpdump on nflog:<group> and hands every logged packet to onPacket, until stop(). */
export class DropLogReader {
  private proc?: Spawned;
  private stopped = false;
  private restarts = 0;
  private timer?: NodeJS.Timeout;
  /** Set once tcpdump has said it is listening. */
  listening = false;
  private listeners: (() => void)[] = [];

  constructor(private o: DropLogOptions) {}

  start(): void {
    if (this.stopped || this.proc) return;
    const pre = this.o.netns ? ['nsenter', `--net=${this.o.netns}`, '--'] : [];
    // -U: write each packet as it comes; -s: the headers are all we read.
    // setpriv --pdeathsig: tcpdump ends with the agent even after a kill -9 (else it would hold the node's
    // namespace and the NFLOG group until its next packet hit the closed pipe); -Z root, because dropping
    // to the tcpdump user changes credentials, which clears the parent-death signal.
    const p = spawnProcess(
      ['setpriv', '--pdeathsig', 'KILL', '--', ...pre, 'tcpdump', '-Z', 'root', '-n', '-U', '-s', '256', '-i', `nflog:${this.o.group}`, '-w', '-'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = p;
    const parser = new PcapNflogParser();
    p.child.stdout!.on('data', (b: Buffer) => {
      try {
        for (const pkt of parser.push(b)) this.o.onPacket(pkt);
      } catch (e) {
        this.o.log?.(`drop log: ${(e as Error).message}; restarting the reader`);
        p.child.kill('SIGTERM');
      }
    });
    let err = '';
    p.child.stderr!.on('data', (b: Buffer) => {
      err = (err + b.toString()).slice(-2000);
      if (!this.listening && /listening on/.test(err)) {
        this.listening = true;
        this.restarts = 0;
        for (const l of this.listeners.splice(0)) l();
      }
    });
    p.exited.then(
      (x) => this.exited(`exit ${x.code ?? x.signal}: ${err.trim().split('\n').pop() ?? ''}`),
      (e: Error) => this.exited(e.message),
    );
  }

  /** Resolves once the reader is bound to the group (or after timeoutMs). */
  ready(timeoutMs = 5000): Promise<boolean> {
    if (this.listening) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.listeners.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  private exited(why: string): void {
    this.proc = undefined;
    this.listening = false;
    if (this.stopped) return;
    const wait = Math.min(1000 * 2 ** this.restarts++, 60_000);
    this.o.log?.(`drop log: tcpdump on nflog:${this.o.group} ended (${why}); again in ${wait} ms`);
    this.timer = setTimeout(() => this.start(), wait);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const p = this.proc;
    if (!p) return;
    p.child.kill('SIGTERM');
    await p.exited.catch(() => undefined);
  }
}
