// Routes between nodes: converge this node's routing table so every other node's pod CIDR is reachable,
// via the peer's node IP (host-gw) or through a VXLAN device (overlay). Our routes carry their own
// protocol number, so listing them tells exactly what we made; each pass lists (rtnetlink dumps through the
// node helper, `ip -j route show` without one), diffs, and fixes in one `ip -batch`.
import { run } from '../util/exec.js';
import { formatIPv4, parseCidr, parseIPv4 } from '../util/cidr.js';
import { dumpLinks, dumpRoutes, parseLinks, parseRoutes } from './cni/rtnl.js';
import { installedNodeHelper, type NodeHelper } from './helper.js';

/** Routing protocol number marking k8ts routes (any unused value 5..255 works; 0x8c = 140). */
export const ROUTE_PROTO = 140;
export const VXLAN_DEV = 'k8ts.vxlan';
export const VXLAN_ID = 4242;
export const VXLAN_PORT = 8472;
/** VXLAN encapsulation overhead: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

export interface Peer {
  name: string;
  nodeIP: string;
  podCIDR: string;
}

export type Backend = 'host-gw' | 'vxlan';

/** The VTEP address of a node: the first address of its pod CIDR, as flannel does. */
export function vtepIP(podCIDR: string): string {
  return formatIPv4(parseCidr(podCIDR).base);
}

/** A MAC derived from the node IP, so peers need no annotation to find each other's VTEP. */
export function vtepMac(nodeIP: string): string {
  const n = parseIPv4(nodeIP);
  const b = [0x0a, 0x58, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export interface RouteRow {
  dst: string;
  gateway?: string;
  dev?: string;
}

/**
 * Our routes in the main table, as `ip -j route show proto 140` lists them. Through the node helper this is
 * two rtnetlink dumps (routes, links for the device names) and no program: each pass of the routes listed
 * them, three or so per node while its peers join.
 */
export async function ourRoutes(o: { helper?: NodeHelper | null; netns?: string } = {}): Promise<RouteRow[]> {
  const helper = o.helper === undefined ? installedNodeHelper() : (o.helper ?? undefined);
  if (helper) {
    const replies = await helper.rtnl('routes: list', [dumpRoutes(), dumpLinks()], o.netns ?? '');
    const names = new Map(parseLinks(replies).map((l) => [l.index, l.name]));
    return parseRoutes(replies)
      .filter((r) => r.table === RT_TABLE_MAIN && r.protocol === ROUTE_PROTO)
      .map((r) => ({
        // As ip prints them: a host route without its /32, the default route by name.
        dst: r.prefix === 0 ? 'default' : r.prefix === 32 ? r.dst : `${r.dst}/${r.prefix}`,
        ...(r.gateway ? { gateway: r.gateway } : {}),
        ...(r.oif !== undefined && names.get(r.oif) ? { dev: names.get(r.oif) } : {}),
      }));
  }
  const pre = o.netns ? ['nsenter', `--net=${o.netns}`, '--'] : [];
  const { stdout } = await run([...pre, 'ip', '-j', 'route', 'show', 'proto', String(ROUTE_PROTO)]);
  return (JSON.parse(stdout || '[]') as RouteRow[]).map((r) => ({
    dst: r.dst,
    ...(r.gateway ? { gateway: r.gateway } : {}),
    ...(r.dev ? { dev: r.dev } : {}),
  }));
}
const RT_TABLE_MAIN = 254;

async function linkExists(name: string): Promise<boolean> {
  try {
    await run(['ip', 'link', 'show', 'dev', name]);
    return true;
  } catch {
    return false;
  }
}

export interface RouteConfig {
  backend: Backend;
  self: Peer;
  /** The node's interface on the node network (eth0 in the lab). */
  uplink: string;
}

/** Converge routes to the peers' pod CIDRs. Returns the number of changes made. */
export async function syncRoutes(cfg: RouteConfig, peers: Peer[]): Promise<number> {
  const others = peers.filter((p) => p.name !== cfg.self.name && p.podCIDR && p.nodeIP);
  const batch: string[] = [];
  if (cfg.backend === 'vxlan') {
    if (!(await linkExists(VXLAN_DEV))) {
      await run([
        'ip',
        'link',
        'add',
        VXLAN_DEV,
        'type',
        'vxlan',
        'id',
        String(VXLAN_ID),
        'local',
        cfg.self.nodeIP,
        'dev',
        cfg.uplink,
        'dstport',
        String(VXLAN_PORT),
        'nolearning',
      ]);
      await run(['ip', '-batch', '-'], {
        input:
          [
            `link set ${VXLAN_DEV} address ${vtepMac(cfg.self.nodeIP)}`,
            `addr replace ${vtepIP(cfg.self.podCIDR)}/32 dev ${VXLAN_DEV}`,
            `link set ${VXLAN_DEV} up`,
          ].join('\n') + '\n',
      });
    }
    // Neighbour and forwarding entries: replace is idempotent, so write them all each pass.
    const fdb: string[] = [];
    for (const p of others) {
      batch.push(`neigh replace ${vtepIP(p.podCIDR)} lladdr ${vtepMac(p.nodeIP)} dev ${VXLAN_DEV} nud permanent`);
      fdb.push(`fdb replace ${vtepMac(p.nodeIP)} dev ${VXLAN_DEV} dst ${p.nodeIP} self permanent`);
    }
    if (fdb.length) await run(['bridge', '-batch', '-'], { input: fdb.join('\n') + '\n' });
  }
  const want = new Map<string, string>();
  for (const p of others) {
    want.set(
      p.podCIDR,
      cfg.backend === 'vxlan'
        ? `${p.podCIDR} via ${vtepIP(p.podCIDR)} dev ${VXLAN_DEV} onlink proto ${ROUTE_PROTO}`
        : `${p.podCIDR} via ${p.nodeIP} dev ${cfg.uplink} proto ${ROUTE_PROTO}`,
    );
  }
  let changes = 0;
  const have = await ourRoutes();
  for (const r of have) {
    const expected = want.get(r.dst);
    const matches = expected && (cfg.backend === 'vxlan' ? r.dev === VXLAN_DEV : r.gateway === others.find((p) => p.podCIDR === r.dst)?.nodeIP);
    if (!matches) {
      batch.push(`route del ${r.dst} proto ${ROUTE_PROTO}`);
      changes++;
    } else {
      want.delete(r.dst);
    }
  }
  for (const line of want.values()) {
    batch.push(`route replace ${line}`);
    changes++;
  }
  if (batch.length) await run(['ip', '-batch', '-'], { input: batch.join('\n') + '\n' });
  return changes;
}

/** Remove every route and device this module made. */
export async function removeRoutes(): Promise<void> {
  const lines = (await ourRoutes()).map((r) => `route del ${r.dst} proto ${ROUTE_PROTO}`);
  if (await linkExists(VXLAN_DEV)) lines.push(`link del ${VXLAN_DEV}`);
  if (lines.length) await run(['ip', '-batch', '-'], { input: lines.join('\n') + '\n' });
}
