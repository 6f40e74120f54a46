// Masquerade for traffic leaving the cluster, in the agent's own nftables table: packets from pods to
// anything that is neither a pod nor a node leave with the node's address; traffic between pods, and
// between nodes and pods, keeps its addresses (no NAT). Other hosts, on the node network too (the lab's
// host, where the API server listens), have no route back to pod CIDRs, so they must see the node's
// address. One `nft -f` transaction per sync; the node set is the Nodes' InternalIPs.
import { run } from '../util/exec.js';

export const NAT_TABLE = 'k8ts-nat';

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
    '  set nodes {',
    '    type ipv4_addr;',
    ...(cfg.nodeIPs.length ? [`    elements = { ${[...new Set(cfg.nodeIPs)].join(', ')} }`] : []),
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${cfg.clusterCIDR} ip daddr != ${cfg.clusterCIDR} ip daddr != @nodes masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Replace the table with the desired rules (one atomic transaction; lost rules come back). */
export async function syncNat(cfg: NatConfig): Promise<void> {
  await run(['nft', '-f', '-'], { input: natRuleset(cfg) });
}

export async function removeNat(): Promise<void> {
  try {
    await run(['nft', 'delete', 'table', 'ip', NAT_TABLE]);
  } catch {
    /* already gone */
  }
}
