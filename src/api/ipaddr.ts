// IP and CIDR parsing as lenient as Kubernetes', and the special ranges validation rejects.

/** 16 bytes (IPv4 as ::ffff:a.b.c.d, like Go's net.IP), or undefined when not an IP. */
export function parseIP(s: string): Uint8Array | undefined {
  if (typeof s !== 'string' || s === '') return undefined;
  if (s.includes(':')) return parseIPv6(s);
  const v4 = parseIPv4(s);
  if (!v4) return undefined;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}

function parseIPv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIPv6(s: string): Uint8Array | undefined {
  if (s.includes('%')) return undefined;
  let tail: Uint8Array | undefined;
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    tail = parseIPv4(s.slice(lastColon + 1));
    if (!tail) return undefined;
    text = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !rest) return undefined;
  const total = head.length + rest.length;
  if (halves.length === 2 ? total > 7 : total !== 8) return undefined;
  const all = [...head, ...new Array(8 - total).fill(0), ...rest];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (tail) out.set(tail, 12);
  return out;
}

/** The address is IPv4 (including IPv4-mapped IPv6), as Go's To4() != nil. */
export function isV4(ip: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return false;
  return ip[10] === 0xff && ip[11] === 0xff;
}

export function isIPv4String(s: string): boolean {
  const ip = parseIP(s);
  return !!ip && isV4(ip);
}

export function isIPv6String(s: string): boolean {
  const ip = parseIP(s);
  return !!ip && !isV4(ip);
}

export function isUnspecified(ip: Uint8Array): boolean {
  if (isV4(ip)) return ip[12] === 0 && ip[13] === 0 && ip[14] === 0 && ip[15] === 0;
  return ip.every((b) => b === 0);
}

export function isLoopback(ip: Uint8Array): boolean {
  if (isV4(ip)) return ip[12] === 127;
  return ip.slice(0, 15).every((b) => b === 0) && ip[15] === 1;
}

export function isLinkLocalUnicast(ip: Uint8Array): boolean {
  if (isV4(ip)) return ip[12] === 169 && ip[13] === 254;
  return ip[0] === 0xfe && (ip[1] & 0xc0) === 0x80;
}

export function isLinkLocalMulticast(ip: Uint8Array): boolean {
  if (isV4(ip)) return ip[12] === 224 && ip[13] === 0 && ip[14] === 0;
  return ip[0] === 0xff && (ip[1] & 0x0f) === 0x02;
}

/** "a.b.c.d/n" or "x::/n" with the prefix in range for the family. */
export function isCIDR(s: string): boolean {
  if (typeof s !== 'string') return false;
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const ip = parseIP(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  if (!ip || !/^[0-9]{1,3}$/.test(bits)) return false;
  return Number(bits) <= (s.slice(0, slash).includes(':') ? 128 : 32);
}

function cidrParts(s: string): { ip: Uint8Array; bits: number } | undefined {
  if (!isCIDR(s)) return undefined;
  const slash = s.indexOf('/');
  const ip = parseIP(s.slice(0, slash))!;
  const v6 = s.slice(0, slash).includes(':');
  return { ip, bits: Number(s.slice(slash + 1)) + (v6 ? 0 : 96) };
}

/** inner is a strict subset of outer (contained, with a longer prefix), as NetworkPolicy's except requires. */
export function isStrictSubnet(inner: string, outer: string): boolean {
  const a = cidrParts(inner);
  const b = cidrParts(outer);
  if (!a || !b || a.bits <= b.bits) return false;
  for (let bit = 0; bit < b.bits; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((a.ip[byte] & mask) !== (b.ip[byte] & mask)) return false;
  }
  return true;
}
