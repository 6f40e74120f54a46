// Reads a network namespace's IPv4 routes, addresses, links and the named namespaces: what the plan and
// preflight compare their ranges and names against. Reading only; nothing here changes the network.
import { asNumber, asString, type JsonObject, objs, parseJson as parseJsonText } from '../api/narrow.js';
import { readdir } from 'node:fs/promises';
import { run } from '../util/exec.js';
import { type Cidr, parseInterfaceCidr } from '../util/cidr.js';
import { NETNS_DIR } from './paths.js';

export interface HostRoute {
  /** The route as `ip route` would print its key: "192.0.2.0/24 dev eth0 table main". */
  text: string;
  cidr: Cidr;
  table: string;
  type: string;
  dev?: string;
}

export interface HostAddress {
  dev: string;
  /** As `ip addr` shows it: "192.0.2.2/24". */
  address: string;
  /** The subnet the address sits in. */
  cidr: Cidr;
}

export interface HostNet {
  /** IPv4 routes of every table, without default routes (a default route covers everything and collides with nothing). */
  routes: HostRoute[];
  addresses: HostAddress[];
  links: string[];
  /** Named network namespaces (/run/netns), a host-wide list whichever namespace was read. */
  netns: string[];
}

/** The network as seen from the host, or from a named namespace (`netns`), which tests use to fake a host. */
export async function readHostNet(opts: { netns?: string } = {}): Promise<HostNet> {
  const ip = opts.netns ? ['ip', '-n', opts.netns] : ['ip'];
  const [routes, addrs, links, netns] = await Promise.all([
    run([...ip, '-4', '-j', 'route', 'show', 'table', 'all']),
    run([...ip, '-4', '-j', 'addr', 'show']),
    listLinks(opts.netns),
    listNetns(),
  ]);
  return { routes: parseRoutes(routes.stdout), addresses: parseAddresses(addrs.stdout), links, netns };
}

/** Link names of the host (or of a named namespace). */
export async function listLinks(netns?: string): Promise<string[]> {
  const { stdout } = await run([...(netns ? ['ip', '-n', netns] : ['ip']), '-j', 'link', 'show']);
  return parseJson(stdout)
    .map((l) => asString(l.ifname))
    .filter((n): n is string => n !== undefined);
}

export async function listNetns(): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export function parseRoutes(json: string): HostRoute[] {
  const out: HostRoute[] = [];
  for (const r of parseJson(json)) {
    const dst = asString(r.dst);
    const dev = asString(r.dev);
    if (!dst || dst === 'default' || dst.includes(':')) continue;
    const table = asString(r.table) ?? (asNumber(r.table) !== undefined ? String(r.table) : 'main');
    const type = asString(r.type) ?? 'unicast';
    const text = `${type === 'unicast' ? '' : `${type} `}${dst}${dev ? ` dev ${dev}` : ''} table ${table}`;
    out.push({ text, cidr: parseInterfaceCidr(dst), table, type, dev });
  }
  return out;
}

export function parseAddresses(json: string): HostAddress[] {
  const out: HostAddress[] = [];
  for (const l of parseJson(json)) {
    const dev = asString(l.ifname);
    if (dev === undefined) continue;
    for (const a of objs(l.addr_info)) {
      const local = asString(a.local);
      const prefixlen = asNumber(a.prefixlen);
      if (a.family !== 'inet' || local === undefined || prefixlen === undefined) continue;
      const address = `${local}/${prefixlen}`;
      out.push({ dev, address, cidr: parseInterfaceCidr(address) });
    }
  }
  return out;
}

// Some iproute2 versions print nothing instead of [] when there is nothing to list.
function parseJson(s: string): JsonObject[] {
  if (!s.trim()) return [];
  const doc = parseJsonText(s, 'ip -j');
  if (!Array.isArray(doc)) throw new Error('ip -j: not a JSON array');
  return objs(doc);
}
