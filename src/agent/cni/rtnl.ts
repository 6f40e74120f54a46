// rtnetlink messages for the few link, address and route changes a pod's attachment needs, built here and
// sent by the node helper (helper.ts `rtnl`), so CNI ADD and DEL start no `ip` process. Each builder takes
// values already proven (names by validIfName, addresses as numbers); the layouts are the kernel's uapi
// (linux/netlink.h, rtnetlink.h, if_link.h, if_addr.h, veth.h), in the machine's byte order.
import { endianness } from 'node:os';
import { validIfName } from './config.js';

const LE = endianness() === 'LE';

// nlmsghdr flags and types.
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;
const NLM_F_DUMP = 0x300;

// Attributes.
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_PID = 19;
const IFLA_IFALIAS = 20;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_INFO_SLAVE_KIND = 4;
const IFLA_INFO_SLAVE_DATA = 5;
const VETH_INFO_PEER = 1;
const IFLA_BRPORT_MODE = 4;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_BROADCAST = 4;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_TABLE = 15;
const NLA_F_NESTED = 0x8000;

const AF_UNSPEC = 0;
const AF_INET = 2;
const IFF_UP = 0x1;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  LE ? b.writeUInt16LE(n) : b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  LE ? b.writeUInt32LE(n >>> 0) : b.writeUInt32BE(n >>> 0);
  return b;
};
const pad4 = (b: Buffer) => (b.length % 4 ? Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]) : b);
/** An IPv4 address as it travels in an attribute: network byte order. */
const inet = (ip: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ip >>> 0);
  return b;
};
const str = (s: string) => Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);
const u8 = (n: number) => Buffer.from([n]);

function attr(type: number, data: Buffer): Buffer {
  return pad4(Buffer.concat([u16(4 + data.length), u16(type), data]));
}
function nest(type: number, ...parts: Buffer[]): Buffer {
  return attr(type | NLA_F_NESTED, Buffer.concat(parts));
}

/** struct ifinfomsg: family, type, index, flags, change. */
function ifinfo(index: number, flags = 0, change = 0): Buffer {
  return Buffer.concat([u8(AF_UNSPEC), u8(0), u16(0), u32(index), u32(flags), u32(change)]);
}

/** A whole message: nlmsghdr (the helper fills in the sequence number) and its payload. */
function message(type: number, flags: number, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  return Buffer.concat([u32(16 + body.length), u16(type), u16(NLM_F_REQUEST | NLM_F_ACK | flags), u32(0), u32(0), body]);
}

/** A MAC address "0a:58:…" as six bytes. */
function mac(text: string): Buffer {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`not a MAC address: ${JSON.stringify(text)}`);
  return Buffer.from(parts.map((p) => Number.parseInt(p, 16)));
}

function checkName(name: string): Buffer {
  if (!validIfName(name)) throw new Error(`not an interface name: ${JSON.stringify(name)}`);
  return str(name);
}

export interface VethEnd {
  name: string;
  mac: string;
  mtu?: number;
}

/**
 * RTM_NEWLINK (create, exclusive): a veth pair whose first end is made where the message is sent and whose
 * peer is made in the network namespace of process `peerPid` (the helper's own: it stands in the node's).
 */
export function createVeth(end: VethEnd, peer: VethEnd, peerPid: number): Buffer {
  const common = (e: VethEnd) => [attr(IFLA_IFNAME, checkName(e.name)), attr(IFLA_ADDRESS, mac(e.mac)), ...(e.mtu ? [attr(IFLA_MTU, u32(e.mtu))] : [])];
  const peerInfo = Buffer.concat([ifinfo(0), ...common(peer), attr(IFLA_NET_NS_PID, u32(peerPid))]);
  return message(
    RTM_NEWLINK,
    NLM_F_CREATE | NLM_F_EXCL,
    ifinfo(0),
    ...common(end),
    nest(IFLA_LINKINFO, attr(IFLA_INFO_KIND, str('veth')), nest(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peerInfo))),
  );
}

export interface LinkChange {
  up?: boolean;
  /** The master's interface index (a bridge port). */
  master?: number;
  alias?: string;
}

/** RTM_NEWLINK on an existing link, found by index or else by name. */
export function setLink(link: number | string, change: LinkChange): Buffer {
  const attrs: Buffer[] = [];
  if (typeof link === 'string') attrs.push(attr(IFLA_IFNAME, checkName(link)));
  if (change.master !== undefined) attrs.push(attr(IFLA_MASTER, u32(change.master)));
  if (change.alias !== undefined) {
    if (Buffer.byteLength(change.alias) > 255) throw new Error('an interface alias is at most 255 bytes');
    attrs.push(attr(IFLA_IFALIAS, str(change.alias)));
  }
  const flags = change.up === undefined ? [0, 0] : [change.up ? IFF_UP : 0, IFF_UP];
  return message(RTM_NEWLINK, 0, ifinfo(typeof link === 'number' ? link : 0, flags[0], flags[1]), ...attrs);
}

/** A bridge port's hairpin mode (as `ip link set dev X type bridge_slave hairpin on`). */
export function setHairpin(link: string, on: boolean): Buffer {
  return message(
    RTM_NEWLINK,
    0,
    ifinfo(0),
    attr(IFLA_IFNAME, checkName(link)),
    nest(IFLA_LINKINFO, attr(IFLA_INFO_SLAVE_KIND, str('bridge')), nest(IFLA_INFO_SLAVE_DATA, attr(IFLA_BRPORT_MODE, u8(on ? 1 : 0)))),
  );
}

/** RTM_GETLINK of one link by name: answered with its RTM_NEWLINK (parseLink). */
export function getLink(name: string): Buffer {
  return message(RTM_GETLINK, 0, ifinfo(0), attr(IFLA_IFNAME, checkName(name)));
}

/** RTM_NEWADDR: ip/prefix with the subnet's broadcast address on link `index` (as `addr add|replace … brd +`). */
export function addAddress(index: number, ip: number, prefix: number, mode: 'add' | 'replace'): Buffer {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`not a prefix length: ${prefix}`);
  const hostBits = prefix === 32 ? 0 : 2 ** (32 - prefix) - 1;
  const brd = prefix >= 31 ? 0 : (ip | hostBits) >>> 0;
  const head = Buffer.concat([u8(AF_INET), u8(prefix), u8(0), u8(RT_SCOPE_UNIVERSE), u32(index)]);
  return message(
    RTM_NEWADDR,
    NLM_F_CREATE | (mode === 'add' ? NLM_F_EXCL : NLM_F_REPLACE),
    head,
    attr(IFA_LOCAL, inet(ip)),
    attr(IFA_ADDRESS, inet(ip)),
    ...(prefix < 31 ? [attr(IFA_BROADCAST, inet(brd))] : []),
  );
}

/** RTM_NEWROUTE, create or replace: the default route via `gateway` out of link `index` (main table). */
export function replaceDefaultRoute(gateway: number, index: number): Buffer {
  const head = Buffer.concat([u8(AF_INET), u8(0), u8(0), u8(0), u8(RT_TABLE_MAIN), u8(RTPROT_BOOT), u8(RT_SCOPE_UNIVERSE), u8(RTN_UNICAST), u32(0)]);
  return message(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, head, attr(RTA_GATEWAY, inet(gateway)), attr(RTA_OIF, u32(index)));
}

/** RTM_GETROUTE, a dump of every IPv4 route of every table (parseRoutes reads the answer). */
export function dumpRoutes(): Buffer {
  return message(RTM_GETROUTE, NLM_F_DUMP, Buffer.concat([u8(AF_INET), u8(0), u8(0), u8(0), u8(0), u8(0), u8(0), u8(0), u32(0)]));
}

/** RTM_GETLINK, a dump of every link (parseLinks reads the answer). */
export function dumpLinks(): Buffer {
  return message(RTM_GETLINK, NLM_F_DUMP, ifinfo(0));
}

export interface RouteInfo {
  /** The destination's network address (0.0.0.0 for the default route) and prefix length. */
  dst: string;
  prefix: number;
  table: number;
  protocol: number;
  gateway?: string;
  /** The outgoing link's index. */
  oif?: number;
}

/** The IPv4 routes (RTM_NEWROUTE messages) among the replies the helper handed back. */
export function parseRoutes(replies: Buffer): RouteInfo[] {
  const out: RouteInfo[] = [];
  const ip = (b: Buffer) => `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags (12 bytes).
  for (const at of messages(replies, RTM_NEWROUTE, 12)) {
    if (replies[at + 16] !== AF_INET) continue;
    const route: RouteInfo = { dst: '0.0.0.0', prefix: replies[at + 17], table: replies[at + 20], protocol: replies[at + 21] };
    for (const [type, data] of attributes(replies, at, 12)) {
      if (type === RTA_DST && data.length === 4) route.dst = ip(data);
      if (type === RTA_GATEWAY && data.length === 4) route.gateway = ip(data);
      if (type === RTA_OIF && data.length === 4) route.oif = r32(data, 0);
      // Tables above 255 are only in the attribute.
      if (type === RTA_TABLE && data.length === 4) route.table = r32(data, 0);
    }
    out.push(route);
  }
  return out;
}

const r16 = (b: Buffer, at: number) => (LE ? b.readUInt16LE(at) : b.readUInt16BE(at));
const r32 = (b: Buffer, at: number) => (LE ? b.readUInt32LE(at) : b.readUInt32BE(at));

/** Where each whole message of `type` with at least `head` bytes after its header starts, in a reply stream. */
function* messages(replies: Buffer, type: number, head: number): Generator<number> {
  for (let at = 0; at + 16 <= replies.length; ) {
    const len = r32(replies, at);
    if (len < 16 || at + len > replies.length) return;
    if (r16(replies, at + 4) === type && len >= 16 + head) yield at;
    at += (len + 3) & ~3;
  }
}

/** The attributes (type without its flags, payload) of the message at `at`, after its `head`-byte header. */
function* attributes(replies: Buffer, at: number, head: number): Generator<[number, Buffer]> {
  const end = at + r32(replies, at);
  for (let a = at + 16 + head; a + 4 <= end; ) {
    const alen = r16(replies, a);
    if (alen < 4) return;
    yield [r16(replies, a + 2) & 0x3fff, replies.subarray(a + 4, a + alen)];
    a += (alen + 3) & ~3;
  }
}

export interface LinkInfo {
  index: number;
  name?: string;
  up: boolean;
  mac?: string;
}

/** The links (RTM_NEWLINK messages) among the replies the helper handed back. */
export function parseLinks(replies: Buffer): LinkInfo[] {
  const out: LinkInfo[] = [];
  // struct ifinfomsg: family, type, index, flags, change (16 bytes).
  for (const at of messages(replies, RTM_NEWLINK, 16)) {
    const info: LinkInfo = { index: r32(replies, at + 20), up: (r32(replies, at + 24) & IFF_UP) !== 0 };
    for (const [type, data] of attributes(replies, at, 16)) {
      if (type === IFLA_IFNAME) info.name = data.toString('latin1').replace(/\0.*$/s, '');
      if (type === IFLA_ADDRESS && data.length === 6) info.mac = [...data].map((x) => x.toString(16).padStart(2, '0')).join(':');
    }
    out.push(info);
  }
  return out;
}
