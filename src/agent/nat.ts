// Masquerade for traffic leaving the cluster, in the agent's own nftables table: packets from pods to
// anything that is neither a pod nor a node leave with the node's address; traffic between pods, and
// between nodes and pods, keeps its addresses (no NAT). Other hosts, on the node network too (the lab's
// host, where the API server listens), have no route back to pod CIDRs, so they must see the node's
// address. The node set is the Nodes' InternalIPs.
//
// The table is written whole by one `nft -f` transaction the first time and on every resync (so lost rules
// come back); in between, a change of the node set alone (a node joins or leaves: at `up` every peer that
// registers) is one nf_tables netlink batch of its elements through the node helper, where an `nft` process
// was ~36 ms of CPU. A batch the kernel refuses (the table gone, a set changed behind the agent's back)
// falls back to the whole table.
import { installedNodeHelper, type NodeHelper } from './helper.js';
import { addressSetBatch } from './proxy/nfnl.js';
import { run } from '../util/exec.js';

export const NAT_TABLE = 'k8ts-nat';
const NODE_SET = 'nodes';

export interface NatConfig {
  clusterCIDR: string;
  /** Every node's InternalIP (this one's included): they route pod CIDRs, so pods reach them unNATed. */
  nodeIPs: string[];
}

export function natRuleset(cfg: NatConfig): string {
  return [
    `table ip ${NAT_TABLE}`,
    `delete table ip ${NAT_TABLE}`,
    `table ip ${NAT_TABLE} {`,
    `  set ${NODE_SET} {`,
    '    type ipv4_addr;',
    ...(cfg.nodeIPs.length ? [`    elements = { ${[...new Set(cfg.nodeIPs)].join(', ')} }`] : []),
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${cfg.clusterCIDR} ip daddr != ${cfg.clusterCIDR} ip daddr != @${NODE_SET} masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export interface MasqueradeOptions {
  /** The helper that sends the node set's changes (default: the one the agent installed; none: always `nft -f`). */
  helper?: NodeHelper | null;
  /** The network namespace (a path under /run/netns) for tests; default: the agent's own. */
  netns?: string;
  log?: (line: string) => void;
}

/** The masquerade table kept converged: whole on the first sync and on resync, its node set's changes by netlink. */
export class Masquerade {
  /** What the kernel was last made to hold (undefined: unknown, so the next sync writes the whole table). */
  private applied?: { clusterCIDR: string; nodes: Set<string> };
  readonly stats = { full: 0, bySet: 0, setRefused: 0 };

  constructor(private readonly o: MasqueradeOptions = {}) {}

  async sync(cfg: NatConfig, resync = false): Promise<void> {
    const nodes = new Set(cfg.nodeIPs);
    const was = this.applied;
    const helper = this.o.helper === undefined ? installedNodeHelper() : (this.o.helper ?? undefined);
    if (!resync && helper && was && was.clusterCIDR === cfg.clusterCIDR) {
      const add = [...nodes].filter((ip) => !was.nodes.has(ip));
      const del = [...was.nodes].filter((ip) => !nodes.has(ip));
      if (!add.length && !del.length) return;
      try {
        await helper.nfnl(`masquerade: table ip ${NAT_TABLE} set ${NODE_SET}`, addressSetBatch(NAT_TABLE, NODE_SET, add, del), this.o.netns ?? '');
        was.nodes = nodes;
        this.stats.bySet++;
        return;
      } catch (e) {
        this.stats.setRefused++;
        this.o.log?.(`k8ts agent: masquerade: the node set's change was refused (${e instanceof Error ? e.message : e}); writing the table whole`);
      }
    }
    this.applied = undefined;
    const pre = this.o.netns ? ['nsenter', `--net=${this.o.netns}`, '--'] : [];
    await run([...pre, 'nft', '-f', '-'], { input: natRuleset(cfg) });
    this.applied = { clusterCIDR: cfg.clusterCIDR, nodes };
    this.stats.full++;
  }
}

export async function removeNat(): Promise<void> {
  try {
    await run(['nft', 'delete', 'table', 'ip', NAT_TABLE]);
  } catch {
    /* already gone */
  }
}
