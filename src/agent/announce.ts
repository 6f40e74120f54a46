// Load-balancer IPs on the node network. Each LoadBalancer ingress IP is announced by exactly one node:
// that node holds the IP as a /32 on its uplink (so the kernel answers ARP for it and the service proxy's
// rules take the traffic) and sends gratuitous ARP when it takes the IP over, so neighbours' caches move
// to it at once. Every agent computes the same owner from the same API state by rendezvous hashing over
// the Ready nodes (for externalTrafficPolicy Local, only nodes with a ready local endpoint), so no lease
// or election is needed: when the owner goes NotReady, the next node in hash order takes over.
import { arr } from '../api/narrow.js';
import { createHash } from 'node:crypto';
import type { EndpointSlice, Node, Service } from '../api/types.js';
import { isNodeReady } from '../api/conditions.js';
import { run } from '../util/exec.js';
import { canonicalIPv4 } from '../util/cidr.js';

export interface Candidate {
  name: string;
  ready: boolean;
}

/** The node that should hold `ip`: the highest hash of ip + node name among ready candidates. */
export function ownerOf(ip: string, candidates: Candidate[]): string | undefined {
  let best: string | undefined;
  let bestScore = '';
  for (const c of candidates) {
    if (!c.ready) continue;
    const score = createHash('sha256').update(`${ip}/${c.name}`).digest('hex');
    if (score > bestScore) {
      best = c.name;
      bestScore = score;
    }
  }
  return best;
}

/** The LB IPs this node should hold, given every service, every node and the EndpointSlices. */
export function desiredAnnouncements(self: string, services: Service[], nodes: Node[], slices: EndpointSlice[]): Set<string> {
  const ready = nodes.map((n) => ({ name: n.metadata.name!, ready: isNodeReady(n) }));
  const out = new Set<string>();
  for (const svc of services) {
    if (svc.spec?.type !== 'LoadBalancer') continue;
    // Each address goes into an `ip -batch` line: only a canonical IPv4 address does.
    const ips = arr(svc.status?.loadBalancer?.ingress)
      .map((i) => canonicalIPv4(i?.ip))
      .filter((ip): ip is string => ip !== undefined);
    if (!ips.length) continue;
    let candidates = ready;
    if (svc.spec?.externalTrafficPolicy === 'Local') {
      const withEndpoint = new Set<string>();
      for (const s of slices) {
        if (s.metadata.namespace !== svc.metadata.namespace || s.metadata.labels?.['kubernetes.io/service-name'] !== svc.metadata.name) continue;
        for (const e of arr(s.endpoints)) if (e?.nodeName && e?.conditions?.ready !== false) withEndpoint.add(e.nodeName);
      }
      candidates = ready.filter((c) => withEndpoint.has(c.name));
    }
    for (const ip of ips) if (ownerOf(ip, candidates) === self) out.add(ip);
  }
  return out;
}

interface AddrRow {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; label?: string }[];
}

/** Converges the uplink's announced addresses (marked by the address label `<uplink>:lb`). */
export class LbAnnouncer {
  private readonly label: string;

  /** `netns`: run the commands in that named network namespace (tests); the agent runs in its own. */
  constructor(
    private uplink: string,
    private log: (line: string) => void = () => {},
    private netns?: string,
  ) {
    // Address labels must start with the interface name and fit in 15 bytes.
    this.label = `${uplink}:lb`.slice(0, 15);
  }

  /** The LB addresses this node holds now. */
  async held(): Promise<Set<string>> {
    const { stdout } = await run(this.cmd(['ip', '-j', 'addr', 'show', 'dev', this.uplink]));
    const rows = JSON.parse(stdout || '[]') as AddrRow[];
    const out = new Set<string>();
    for (const r of rows) for (const a of r.addr_info) if (a.family === 'inet' && a.prefixlen === 32 && a.label === this.label) out.add(a.local);
    return out;
  }

  /** Add what is missing, remove what this node no longer owns (one `ip -batch`), then announce the new ones. */
  async sync(want: Set<string>): Promise<{ added: string[]; removed: string[] }> {
    const have = await this.held();
    const added = [...want].filter((ip) => !have.has(ip));
    const removed = [...have].filter((ip) => !want.has(ip));
    if (!added.length && !removed.length) return { added, removed };
    const batch = [
      ...removed.map((ip) => `addr del ${ip}/32 dev ${this.uplink}`),
      ...added.map((ip) => `addr add ${ip}/32 dev ${this.uplink} label ${this.label}`),
    ];
    await run(this.cmd(['ip', '-batch', '-']), { input: `${batch.join('\n')}\n` });
    for (const ip of added) {
      this.log(`k8ts agent: announcing load-balancer IP ${ip} on ${this.uplink}`);
      // Gratuitous ARP (unsolicited): neighbours that cached the previous holder's MAC move to ours.
      await run(this.cmd(['busybox', 'arping', '-U', '-c', '1', '-w', '1', '-I', this.uplink, ip])).catch((e) =>
        this.log(`k8ts agent: gratuitous ARP for ${ip}: ${e instanceof Error ? e.message : e}`),
      );
    }
    for (const ip of removed) this.log(`k8ts agent: no longer announcing ${ip}`);
    return { added, removed };
  }

  private cmd(argv: string[]): string[] {
    return this.netns ? ['nsenter', `--net=/run/netns/${this.netns}`, '--', ...argv] : argv;
  }

  async teardown(): Promise<void> {
    await this.sync(new Set()).catch(() => {});
  }
}
