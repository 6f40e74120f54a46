// IPv4 addresses and CIDR ranges as numbers: parsing, printing, overlap. The lab plans with these.

export interface Cidr {
  /** Network address as an unsigned 32-bit number (host bits zero). */
  base: number;
  prefix: number;
}

export function parseIPv4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) throw new TypeError(`not an IPv4 address: ${JSON.stringify(s)}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new TypeError(`not an IPv4 address: ${JSON.stringify(s)}`);
    n = n * 256 + Number(p);
  }
  return n;
}

/** The value when it is an IPv4 address written canonically ("10.0.0.1": no spaces, signs or leading
 *  zeros), else undefined: what may go into an `ip`/`nft` batch line as an address. */
export function canonicalIPv4(s: unknown): string | undefined {
  if (typeof s !== 'string') return undefined;
  try {
    return formatIPv4(parseIPv4(s)) === s ? s : undefined;
  } catch {
    return undefined;
  }
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** "10.0.0.0/8" → {base, prefix}; a bare address is a /32. Host bits set are an error (strict, like the API). */
export function parseCidr(s: string): Cidr {
  const [addr, len, extra] = s.split('/');
  if (extra !== undefined) throw new TypeError(`not a CIDR: ${JSON.stringify(s)}`);
  const prefix = len === undefined ? 32 : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32 || (len !== undefined && !/^\d+$/.test(len))) {
    throw new TypeError(`not a CIDR: ${JSON.stringify(s)}`);
  }
  const ip = parseIPv4(addr);
  const base = network(ip, prefix);
  if (base !== ip) throw new TypeError(`${s}: host bits set (did you mean ${formatIPv4(base)}/${prefix}?)`);
  return { base, prefix };
}

/** Like parseCidr but an address with host bits ("192.0.2.2/24", as `ip addr` shows it) gives its network. */
export function parseInterfaceCidr(s: string): Cidr {
  const [addr, len] = s.split('/');
  const prefix = len === undefined ? 32 : Number(len);
  return { base: network(parseIPv4(addr), prefix), prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** Last address of the range (the broadcast address for a subnet). */
export function last(c: Cidr): number {
  return c.base + size(c) - 1;
}

export function contains(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip <= last(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= last(b) && b.base <= last(a);
}

function network(ip: number, prefix: number): number {
  if (prefix === 0) return 0;
  // >>> 0 keeps the result unsigned; the mask of a /32 is all ones.
  const mask = prefix === 32 ? 0xffffffff : (0xffffffff << (32 - prefix)) >>> 0;
  return (ip & mask) >>> 0;
}
