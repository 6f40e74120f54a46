// Reads a network namespace's IPv4 routes, addresses, links and the named namespaces: what the plan and
// preflight compare their ranges and names against. Reading only; nothing here changes the network.
import type { Loose } from '../api/strategies/json.js';
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
  return parseJson(stdout).map((l: { ifname: string }) => l.ifname);
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
  for (const r of parseJson(json) as { dst: string; dev?: string; table?: string; type?: string }[]) {
    if (!r.dst || r.dst === 'default' || r.dst.includes(':')) continue;
    const table = r.table ?? 'main';
    const type = r.type ?? 'unicast';
    const text = `${type === 'unicast' ? '' : `${type} `}${r.dst}${r.dev ? ` dev ${r.dev}` : ''} table ${table}`;
    out.push({ text, cidr: parseInterfaceCidr(r.dst), table, type, dev: r.dev });
  }
  return out;
}

export function parseAddresses(json: string): HostAddress[] {
  const out: HostAddress[] = [];
  for (const l of parseJson(json) as { ifname: string; addr_info?: { family: string; local: string; prefixlen: number }[] }[]) {
    for (const a of l.addr_info ?? []) {
      if (a.family !== 'inet') continue;
      const address = `${a.local}/${a.prefixlen}`;
      out.push({ dev: l.ifname, address, cidr: parseInterfaceCidr(address) });
    }
  }
  return out;
}

// Some iproute2 versions print nothing instead of [] when there is nothing to list.
function parseJson(s: string): Loose[] {
  return s.trim() ? JSON.parse(s) : [];
}
