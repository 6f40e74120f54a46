// NetworkPolicies, pods and namespaces read from API objects into typed, proven values: every address,
// port and protocol the policy engine writes into nftables comes from here, parsed and printed again.
// What does not parse is reported with the field that is wrong and left out (an unreadable rule allows
// nothing; an unreadable selector selects nothing), so a bad object can only ever deny, never open.
import type { KObject, Pod as KPod } from '../../api/types.js';
import { isObj } from '../../api/narrow.js';
import { type LabelSelector, selectorIsValid } from '../../api/labels.js';
import { parseCidr, parseIPv4, type Cidr } from '../../util/cidr.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTO_NUMBER: Record<Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };
export const PROTO_NAME: Record<number, Protocol> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** A peer of a rule: pods chosen by selectors, or addresses. */
export type Peer =
  | {
      kind: 'pods' /** namespace of the policy: used when there is no namespaceSelector */;
      policyNamespace: string;
      podSelector?: LabelSelector;
      namespaceSelector?: LabelSelector;
    }
  | { kind: 'ipBlock'; cidr: Cidr; except: Cidr[] };

export interface PortSpec {
  protocol: Protocol;
  /** A number (with `endPort` a range), a name resolved per pod, or undefined for every port. */
  port?: number | string;
  endPort?: number;
}

export interface Rule {
  /** undefined: every peer (the rule has no from/to, or an empty one). */
  peers?: Peer[];
  /** undefined: every port of every protocol. */
  ports?: PortSpec[];
}

export interface Policy {
  /** namespace/name */
  key: string;
  namespace: string;
  name: string;
  uid: string;
  podSelector: LabelSelector;
  /** Rules per direction; undefined when the policy does not affect that direction. */
  ingress?: Rule[];
  egress?: Rule[];
}

export interface NamedPort {
  name: string;
  protocol: Protocol;
  port: number;
}

export interface Pod {
  /** namespace/name */
  key: string;
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  /** IPv4 as an unsigned 32-bit number, or undefined while the pod has none. */
  ip?: number;
  nodeName?: string;
  namedPorts: NamedPort[];
  hostNetwork: boolean;
}

export interface Namespace {
  name: string;
  labels: Record<string, string>;
}

export interface ParseProblem {
  field: string;
  message: string;
}

function labelsOf(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObj(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function selector(v: unknown, field: string, problems: ParseProblem[]): LabelSelector | null {
  if (v === undefined || v === null) return null;
  if (!isObj(v) || !selectorIsValid(v as LabelSelector)) {
    problems.push({ field, message: 'not a valid label selector' });
    return null;
  }
  return { matchLabels: labelsOf(v.matchLabels), matchExpressions: Array.isArray(v.matchExpressions) ? v.matchExpressions : [] };
}

function protocol(v: unknown): Protocol | undefined {
  if (v === undefined || v === null) return 'TCP';
  return v === 'TCP' || v === 'UDP' || v === 'SCTP' ? v : undefined;
}

const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;
const isPortNum = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;

function ports(v: unknown, field: string, problems: ParseProblem[]): PortSpec[] | undefined | null {
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) return undefined;
  if (!Array.isArray(v)) {
    problems.push({ field, message: 'must be a list' });
    return null;
  }
  const out: PortSpec[] = [];
  v.forEach((p, i) => {
    const f = `${field}[${i}]`;
    const proto = protocol(p?.protocol);
    if (!proto) return void problems.push({ field: `${f}.protocol`, message: `unsupported protocol ${JSON.stringify(p?.protocol)}` });
    const port = p?.port;
    if (port === undefined || port === null) return void out.push({ protocol: proto });
    if (typeof port === 'string' && /^\d+$/.test(port) && isPortNum(Number(port))) return void out.push({ protocol: proto, port: Number(port) });
    if (typeof port === 'string') {
      if (!PORT_NAME.test(port)) return void problems.push({ field: `${f}.port`, message: `not a port name: ${JSON.stringify(port)}` });
      return void out.push({ protocol: proto, port });
    }
    if (!isPortNum(port)) return void problems.push({ field: `${f}.port`, message: `not a port number: ${JSON.stringify(port)}` });
    const end = p?.endPort;
    if (end !== undefined && end !== null) {
      if (!isPortNum(end) || end < port)
        return void problems.push({ field: `${f}.endPort`, message: `must be a port number ≥ port, got ${JSON.stringify(end)}` });
      return void out.push({ protocol: proto, port, endPort: end });
    }
    out.push({ protocol: proto, port });
  });
  // Every entry was unreadable: the rule must allow nothing, not everything.
  return out.length ? out : null;
}

function peers(v: unknown, field: string, ns: string, problems: ParseProblem[]): Peer[] | undefined | null {
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) return undefined;
  if (!Array.isArray(v)) {
    problems.push({ field, message: 'must be a list' });
    return null;
  }
  const out: Peer[] = [];
  v.forEach((p, i) => {
    const f = `${field}[${i}]`;
    if (!isObj(p)) return void problems.push({ field: f, message: 'must be an object' });
    if (p.ipBlock !== undefined && p.ipBlock !== null) {
      try {
        const cidr = parseCidr(String(p.ipBlock.cidr));
        const except = (Array.isArray(p.ipBlock.except) ? p.ipBlock.except : []).map((e: unknown) => parseCidr(String(e)));
        out.push({ kind: 'ipBlock', cidr, except });
      } catch (e) {
        problems.push({ field: `${f}.ipBlock`, message: (e as Error).message });
      }
      return;
    }
    const ps = selector(p.podSelector, `${f}.podSelector`, problems);
    const nss = selector(p.namespaceSelector, `${f}.namespaceSelector`, problems);
    if ((p.podSelector != null && !ps) || (p.namespaceSelector != null && !nss)) return;
    if (!ps && !nss) return void problems.push({ field: f, message: 'a peer needs podSelector, namespaceSelector or ipBlock' });
    out.push({ kind: 'pods', policyNamespace: ns, ...(ps ? { podSelector: ps } : {}), ...(nss ? { namespaceSelector: nss } : {}) });
  });
  return out.length ? out : null;
}

function rules(v: unknown, field: string, peerField: 'from' | 'to', ns: string, problems: ParseProblem[]): Rule[] {
  if (!Array.isArray(v)) return [];
  const out: Rule[] = [];
  v.forEach((r, i) => {
    const f = `${field}[${i}]`;
    const pr = peers(r?.[peerField], `${f}.${peerField}`, ns, problems);
    const po = ports(r?.ports, `${f}.ports`, problems);
    if (pr === null || po === null) return; // unreadable: this rule allows nothing
    out.push({ ...(pr ? { peers: pr } : {}), ...(po ? { ports: po } : {}) });
  });
  return out;
}

/** A NetworkPolicy as the engine uses it, and what in it could not be read. */
export function parsePolicy(o: KObject): { policy?: Policy; problems: ParseProblem[] } {
  const problems: ParseProblem[] = [];
  const ns = o.metadata?.namespace;
  const name = o.metadata?.name;
  if (!ns || !name) return { problems: [{ field: 'metadata', message: 'namespace and name are required' }] };
  const spec = isObj(o.spec) ? o.spec : {};
  const podSelector = selector(spec.podSelector ?? {}, 'spec.podSelector', problems);
  // An unreadable podSelector selects nothing: the policy is left out whole.
  if (!podSelector) return { problems };
  let types: string[] | undefined = Array.isArray(spec.policyTypes) && spec.policyTypes.length ? spec.policyTypes : undefined;
  // The API's defaults: every policy affects ingress; one with egress rules affects egress too.
  if (!types) types = ['Ingress', ...(Array.isArray(spec.egress) && spec.egress.length ? ['Egress'] : [])];
  const policy: Policy = { key: `${ns}/${name}`, namespace: ns, name, uid: String(o.metadata.uid ?? ''), podSelector };
  if (types.includes('Ingress')) policy.ingress = rules(spec.ingress, 'spec.ingress', 'from', ns, problems);
  if (types.includes('Egress')) policy.egress = rules(spec.egress, 'spec.egress', 'to', ns, problems);
  return { policy, problems };
}

/** A pod as the engine uses it; `ip` from status.podIP (the node's own pods learn theirs earlier, at CNI ADD). */
export function parsePod(o: KPod): Pod | undefined {
  const ns = o.metadata?.namespace;
  const name = o.metadata?.name;
  if (!ns || !name) return undefined;
  let ip: number | undefined;
  const phase = o.status?.phase;
  // A finished pod's address may already belong to another pod.
  if (typeof o.status?.podIP === 'string' && phase !== 'Succeeded' && phase !== 'Failed' && !o.spec?.hostNetwork) {
    try {
      ip = parseIPv4(o.status.podIP);
    } catch {
      ip = undefined;
    }
  }
  const namedPorts: NamedPort[] = [];
  for (const c of Array.isArray(o.spec?.containers) ? o.spec.containers : []) {
    for (const p of Array.isArray(c?.ports) ? c.ports : []) {
      const proto = protocol(p?.protocol);
      if (typeof p?.name === 'string' && PORT_NAME.test(p.name) && proto && isPortNum(p?.containerPort)) {
        namedPorts.push({ name: p.name, protocol: proto, port: p.containerPort });
      }
    }
  }
  return {
    key: `${ns}/${name}`,
    namespace: ns,
    name,
    uid: String(o.metadata.uid ?? ''),
    labels: labelsOf(o.metadata.labels),
    ip,
    nodeName: typeof o.spec?.nodeName === 'string' ? o.spec.nodeName : undefined,
    namedPorts,
    hostNetwork: Boolean(o.spec?.hostNetwork),
  };
}

export function parseNamespace(o: KObject): Namespace | undefined {
  const name = o.metadata?.name;
  if (!name) return undefined;
  // The API sets this label on every namespace; older objects may lack it, and policies select by it.
  return { name, labels: { ...labelsOf(o.metadata.labels), 'kubernetes.io/metadata.name': name } };
}
