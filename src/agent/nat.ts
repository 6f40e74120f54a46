// Masquerade for traffic leaving the cluster, in the agent's own nftables table: packets from pods to
// anything outside the cluster CIDR and the node network leave with the node's address; traffic between
// pods, and between nodes and pods, keeps its addresses (no NAT). One `nft -f` transaction per sync.
import { run } from '../util/exec.js';

export const NAT_TABLE = 'k8ts-nat';

export interface NatConfig {
  clusterCIDR: string;
  nodeNetwork: string;
}

export function natRuleset(cfg: NatConfig): string {
  return [
    `table ip ${NAT_TABLE}`,
    `delete table ip ${NAT_TABLE}`,
    `table ip ${NAT_TABLE} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${cfg.clusterCIDR} ip daddr != { ${cfg.clusterCIDR}, ${cfg.nodeNetwork} } masquerade`,
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
