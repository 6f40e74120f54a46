// Peers as the routes and the masquerade set use them: every Node's InternalIP and pod CIDR parsed and
// printed again by this module before any of it reaches `ip -batch`, `bridge -batch` or `nft -f`. The API
// validates both fields, but a node acts only on what it has proven itself: a Node whose fields do not
// parse is left out (and reported), and the batch for every other node goes on.
import type { Node } from '../api/types.js';
import { canonicalIPv4, formatCidr, parseCidr } from '../util/cidr.js';
import type { Peer } from './routes.js';

export interface PeerReading {
  peers: Peer[];
  /** Nodes left out, with why (by node name). */
  rejected: Map<string, string>;
}

/** The node's InternalIPv4 in canonical dotted-quad form, or an error naming the field. */
export function nodeInternalIP(n: Node): string | Error {
  const addrs: unknown[] = Array.isArray(n.status?.addresses) ? n.status.addresses : [];
  const i = addrs.findIndex((a) => (a as { type?: unknown })?.type === 'InternalIP');
  if (i < 0) return new Error('no InternalIP in status.addresses');
  const raw = (addrs[i] as { address?: unknown }).address;
  return checkIPv4(raw, `status.addresses[${i}].address`);
}

function checkIPv4(raw: unknown, field: string): string | Error {
  if (typeof raw !== 'string') return new Error(`${field} is not a string`);
  return canonicalIPv4(raw) ?? new Error(`${field} ${JSON.stringify(raw.slice(0, 64))} is not an IPv4 address`);
}

function canonicalCidr(raw: unknown, field: string): string | Error {
  if (typeof raw !== 'string') return new Error(`${field} is not a string`);
  try {
    const s = formatCidr(parseCidr(raw));
    return s === raw && raw.includes('/') ? s : new Error(`${field} ${JSON.stringify(raw)} is not an IPv4 CIDR in canonical form`);
  } catch {
    return new Error(`${field} ${JSON.stringify(raw.slice(0, 64))} is not an IPv4 CIDR`);
  }
}

/** Read every Node into a Peer. Nodes without a pod CIDR yet are peers with an empty one (the routes skip
 *  them); a Node with a field that does not parse is rejected whole. */
export function readPeers(nodes: Node[]): PeerReading {
  const peers: Peer[] = [];
  const rejected = new Map<string, string>();
  for (const n of nodes) {
    const name = n.metadata.name ?? '';
    const ip = nodeInternalIP(n);
    const rawCidr = n.spec?.podCIDR;
    const cidr = rawCidr === undefined || rawCidr === '' ? '' : canonicalCidr(rawCidr, 'spec.podCIDR');
    const bad = [ip, cidr].filter((x): x is Error => x instanceof Error);
    // A node that has not registered its address yet is simply not a peer; a wrong one is reported.
    if (bad.length && !(bad.length === 1 && ip instanceof Error && ip.message.startsWith('no InternalIP'))) {
      rejected.set(name, bad.map((e) => e.message).join('; '));
      continue;
    }
    if (ip instanceof Error || cidr instanceof Error) continue;
    peers.push({ name, nodeIP: ip, podCIDR: cidr });
  }
  return { peers, rejected };
}
