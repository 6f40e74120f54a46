// A connection judged in user space, straight from the policies (not from the compiled classes): which
// policies isolate each end, and which rule of which policy lets the connection through. `k8ts trace`
// prints it, the engine uses it to find the established connections a change no longer allows, and the
// tests hold the kernel's behaviour against it.
import { selectorMatches } from '../../api/labels.js';
import { formatIPv4 } from '../../util/cidr.js';
import { ipBlockHas, podPeerMatches, portsFor } from './compiler.js';
import type { Namespace, Peer, Pod, Policy, Rule } from './model.js';
import { PROTO_NAME } from './model.js';

export interface SideVerdict {
  /** The pod this side is about (namespace/name), if the address is a pod's. */
  pod?: string;
  /** Policies that isolate the pod in this direction; empty: not isolated (everything allowed). */
  isolatedBy: string[];
  /** The policies whose rules allow the connection. */
  allowedBy: string[];
  allowed: boolean;
  /** Why, in words. */
  reason: string;
}

export interface Verdict {
  egress: SideVerdict;
  ingress: SideVerdict;
  allowed: boolean;
}

export interface World {
  policies: Policy[];
  namespace(name: string): Namespace | undefined;
  /** The pod holding an address, if any. */
  podAt(ip: number): Pod | undefined;
}

function peerHas(p: Peer, ip: number, pod: Pod | undefined, w: World): boolean {
  if (p.kind === 'ipBlock') return ipBlockHas(p, ip);
  return pod ? podPeerMatches(p, pod, w.namespace(pod.namespace)?.labels) : false;
}

function ruleAllows(r: Rule, peerIp: number, peerPod: Pod | undefined, proto: number, port: number | undefined, portPod: Pod | undefined, w: World): boolean {
  if (r.peers && !r.peers.some((p) => peerHas(p, peerIp, peerPod, w))) return false;
  if (!r.ports) return true;
  const name = PROTO_NAME[proto];
  if (!name || port === undefined) return false;
  return r.ports.some((s) => {
    if (s.protocol !== name) return false;
    // Named ports are always the destination pod's.
    const iv = portsFor(s, portPod?.namedPorts ?? []);
    return iv !== undefined && port >= iv[0] && port <= iv[1];
  });
}

function side(
  dir: 'ingress' | 'egress',
  self: Pod | undefined,
  peerIp: number,
  peerPod: Pod | undefined,
  proto: number,
  port: number | undefined,
  dst: Pod | undefined,
  w: World,
  selfIsNodeLocalPeer: boolean,
): SideVerdict {
  if (!self) return { isolatedBy: [], allowedBy: [], allowed: true, reason: 'not a pod: no policy applies' };
  const pols = w.policies.filter((p) => p.namespace === self.namespace && p[dir] !== undefined && selectorMatches(p.podSelector, self.labels)).map((p) => p);
  const base = { pod: self.key, isolatedBy: pols.map((p) => p.key).sort() };
  if (!pols.length) return { ...base, allowedBy: [], allowed: true, reason: `no policy isolates ${self.key} for ${dir}` };
  if (peerPod && peerPod.key === self.key) return { ...base, allowedBy: [], allowed: true, reason: 'a pod cannot block itself' };
  if (selfIsNodeLocalPeer)
    return { ...base, allowedBy: [], allowed: true, reason: `traffic ${dir === 'ingress' ? 'from' : 'to'} the pod's own node is always allowed` };
  const allowedBy = pols
    .filter((p) => p[dir]!.some((r) => ruleAllows(r, peerIp, peerPod, proto, port, dst, w)))
    .map((p) => p.key)
    .sort();
  if (allowedBy.length) return { ...base, allowedBy, allowed: true, reason: `allowed by ${allowedBy.map((k) => `policy ${k}`).join(', ')}` };
  return {
    ...base,
    allowedBy: [],
    allowed: false,
    reason: `no policy of namespace ${self.namespace} allows it (isolated by ${pols
      .map((p) => p.name)
      .sort()
      .join(', ')})`,
  };
}

export interface Flow {
  src: number;
  dst: number;
  proto: number;
  /** Destination port (TCP/UDP/SCTP). */
  port?: number;
  /** The destination is an address of the source pod's node / the source is the destination pod's node. */
  dstIsSrcNode?: boolean;
  srcIsDstNode?: boolean;
}

/** Judge a flow (after any Service DNAT: dst is the backend) at both ends. */
export function judge(w: World, f: Flow): Verdict {
  const srcPod = w.podAt(f.src);
  const dstPod = w.podAt(f.dst);
  const egress = side('egress', srcPod, f.dst, dstPod, f.proto, f.port, dstPod, w, Boolean(f.dstIsSrcNode));
  const ingress = side('ingress', dstPod, f.src, srcPod, f.proto, f.port, dstPod, w, Boolean(f.srcIsDstNode));
  return { egress, ingress, allowed: egress.allowed && ingress.allowed };
}

/** "10.244.1.5:43122" */
export const hostPort = (ip: number, port?: number) => (port === undefined ? formatIPv4(ip) : `${formatIPv4(ip)}:${port}`);
