// Routes between nodes: converge this node's routing table so every other node's pod CIDR is reachable,
// via the peer's node IP (host-gw) or through a VXLAN device (overlay). Our routes carry their own
// protocol number, so listing them tells exactly what we made; each pass lists, diffs, and fixes in one
// `ip -batch`.
import { run } from '../util/exec.js';
import { formatIPv4, parseCidr, parseIPv4 } from '../util/cidr.js';

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

interface RouteRow {
  dst: string;
  gateway?: string;
  dev?: string;
}

async function ourRoutes(): Promise<RouteRow[]> {
  const { stdout } = await run(['ip', '-j', 'route', 'show', 'proto', String(ROUTE_PROTO)]);
  return (JSON.parse(stdout || '[]') as RouteRow[]).map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev }));
}

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
