// IPv4 addresses as unsigned 32-bit numbers, and subnets, for address allocation without a library.

/** Parses dotted-quad text; undefined if it is not exactly four decimal octets. */
export function parseIp(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x, i) => x > 255 || (m[i + 1].length > 1 && m[i + 1][0] === '0'))) return undefined;
  return ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Subnet {
  network: number;
  prefix: number;
  broadcast: number;
}

/** Parses "a.b.c.d/len"; the address must be the network address itself. */
export function parseSubnet(s: string): Subnet | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m) return undefined;
  const ip = parseIp(m[1]);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix > 32) return undefined;
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  if ((ip & mask) >>> 0 !== ip) return undefined;
  return { network: ip, prefix, broadcast: (ip | (~mask >>> 0)) >>> 0 };
}

export function inSubnet(ip: number, s: Subnet): boolean {
  return ip >= s.network && ip <= s.broadcast;
}
