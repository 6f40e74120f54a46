// The policy compiler: from (policies, namespaces, pods) to what this node's kernel must hold. Pure in
// what it returns (the same inputs give the same state, however they arrived); it keeps caches between
// calls so that one change costs work in proportion to what it touches.
//
// Peer classes. Every peer of every rule (a pod peer: podSelector/namespaceSelector in a namespace; an
// ipBlock) gets an id. An address's class is the set of peers it satisfies (plus, for pods, the numbers
// of the named ports egress rules use): two addresses of one class are alike to every policy, so the
// kernel judges a packet by its class, looked up once, and the per-pod allow sets hold classes, not
// addresses. Classes are interned to small stable numbers; pods map to theirs by address (`podClass`),
// every other address by the ipBlock segment it falls in (`netClass`, covering 0.0.0.0/0).
import { selectorMatches, type LabelSelector } from '../../api/labels.js';
import { formatCidr, last } from '../../util/cidr.js';
import {
  type NamedPort, type Namespace, type Peer, type Pod, type Policy, type PortSpec, type Rule, PROTO_NUMBER,
} from './model.js';
import { addToRegion, type Box, elementText, emptyRegion, type Interval, isEmpty, MAX_PORT, type Region, regionBoxes, subtractBoxes } from './region.js';

export const MAX_CLASS = 0xffffffff;

/** What one local pod needs in one direction: it is isolated by `policies`; `elements` is its allow set. */
export interface PodRules {
  ip: number;
  pod: string;
  uid: string;
  /** The policies that select the pod for this direction (namespace/name, sorted). */
  policies: string[];
  /** `class . proto . port` elements (disjoint), in a stable order. */
  elements: string[];
}

export interface PolicyState {
  /** Pod address → class, for every pod with an address. */
  podClass: Map<number, number>;
  /** Disjoint ranges covering every IPv4 address → class (what non-pod addresses are). */
  netClass: { lo: number; hi: number; cls: number }[];
  /** Local pods isolated for ingress / egress, by address. */
  ingress: Map<number, PodRules>;
  egress: Map<number, PodRules>;
  /** Every local pod with an address → namespace/name. */
  local: Map<number, string>;
}

interface Identity {
  evaluatedUpTo: number;
  matched: number[];
  /** Policies of the namespace selecting these labels: computed for `policiesGen`. */
  selectedGen: number;
  selected: Policy[];
}

interface PeerEntry {
  id: number;
  peer: Peer;
  live: boolean;
}

const canonSelector = (s: LabelSelector | undefined): string => {
  if (!s) return '*';
  const ml = Object.entries(s.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const me = (s.matchExpressions ?? []).map((e) => [e.key, e.operator, [...(e.values ?? [])].sort()]).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  return JSON.stringify([ml, me]);
};

function peerKey(p: Peer): string {
  if (p.kind === 'ipBlock') return `b|${formatCidr(p.cidr)}|${p.except.map(formatCidr).sort().join(',')}`;
  return `p|${p.namespaceSelector ? `ns:${canonSelector(p.namespaceSelector)}` : `in:${p.policyNamespace}`}|${canonSelector(p.podSelector)}`;
}

const labelsKey = (l: Record<string, string>) => JSON.stringify(Object.entries(l).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Whether a pod peer selects a pod (in namespace ns with labels nsLabels). */
export function podPeerMatches(p: Extract<Peer, { kind: 'pods' }>, pod: { namespace: string; labels: Record<string, string> }, nsLabels: Record<string, string> | undefined): boolean {
  if (p.namespaceSelector) {
    if (!nsLabels || !selectorMatches(p.namespaceSelector, nsLabels)) return false;
  } else if (pod.namespace !== p.policyNamespace) return false;
  return p.podSelector ? selectorMatches(p.podSelector, pod.labels) : true;
}

/** Whether an address lies in an ipBlock (its cidr, outside every except). */
export function ipBlockHas(p: Extract<Peer, { kind: 'ipBlock' }>, ip: number): boolean {
  if (ip < p.cidr.base || ip > last(p.cidr)) return false;
  return !p.except.some((e) => ip >= e.base && ip <= last(e));
}

export class PolicyCompiler {
  private policies = new Map<string, Policy>();
  private pods = new Map<string, Pod>();
  private namespaces = new Map<string, Namespace>();
  /** Local pods' addresses known before the API has them (the pod loop reports them at CNI ADD), by uid. */
  private localIPs = new Map<string, number>();
  private peers = new Map<string, PeerEntry>();
  private nextPeer = 1;
  private identities = new Map<string, Identity>();
  private policiesGen = 1;
  private classIds = new Map<string, number>();
  private freeClasses: number[] = [];
  private nextClass = 1;
  private podIdentity = new WeakMap<Pod, string>();

  constructor(readonly nodeName: string) {}

  setPolicy(p: Policy): void {
    this.policies.set(p.key, p);
    this.policiesGen++;
  }

  deletePolicy(key: string): void {
    if (this.policies.delete(key)) this.policiesGen++;
  }

  setPod(p: Pod): void {
    this.pods.set(p.key, p);
  }

  deletePod(key: string): void {
    this.pods.delete(key);
  }

  setNamespace(n: Namespace): void {
    this.namespaces.set(n.name, n);
  }

  deleteNamespace(name: string): void {
    this.namespaces.delete(name);
  }

  /** A local pod's address from its sandbox (before its status carries it). */
  setLocalIP(uid: string, ip: number): void {
    this.localIPs.set(uid, ip);
  }

  forgetLocalIP(uid: string): void {
    this.localIPs.delete(uid);
  }

  policyList(): Policy[] {
    return [...this.policies.values()];
  }

  podList(): Pod[] {
    return [...this.pods.values()];
  }

  namespace(name: string): Namespace | undefined {
    return this.namespaces.get(name);
  }

  /** A pod's address as this node knows it: the sandbox's for local pods, else the status's. */
  ipOf(p: Pod): number | undefined {
    if (p.hostNetwork) return undefined;
    return (p.nodeName === this.nodeName ? this.localIPs.get(p.uid) : undefined) ?? p.ip;
  }

  compile(): PolicyState {
    // 1. The live peers, by id; the named ports egress rules use.
    for (const e of this.peers.values()) e.live = false;
    const egressNames = new Set<string>();
    const rulePeers = new Map<Rule, number[]>();
    for (const pol of this.policies.values()) {
      for (const rules of [pol.ingress, pol.egress]) {
        for (const r of rules ?? []) {
          if (!r.peers) continue;
          rulePeers.set(r, r.peers.map((p) => this.intern(p)));
        }
      }
      for (const r of pol.egress ?? []) for (const p of r.ports ?? []) if (typeof p.port === 'string') egressNames.add(`${p.protocol}/${p.port}`);
    }
    for (const [k, e] of this.peers) if (!e.live) this.peers.delete(k);
    this.liveIds = new Set([...this.peers.values()].map((e) => e.id));
    // Label churn leaves identities nobody has: start afresh when they outnumber the pods.
    if (this.identities.size > 2 * this.pods.size + 64) this.identities.clear();
    const podPeers: PeerEntry[] = [];
    const blocks: PeerEntry[] = [];
    for (const e of this.peers.values()) (e.peer.kind === 'pods' ? podPeers : blocks).push(e);
    podPeers.sort((a, b) => a.id - b.id);

    // 2. ipBlock segments: disjoint address ranges, each with the sorted ids of the blocks that hold it.
    const segments = this.segments(blocks);
    const blocksAt = (ip: number): string => {
      let lo = 0;
      let hi = segments.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (segments[mid].lo <= ip) lo = mid;
        else hi = mid - 1;
      }
      return segments[lo].ids;
    };

    // 3. Classes: of every pod with an address, and of every segment.
    const namesKey = [...egressNames].sort().join(',');
    const usedClasses = new Map<number, { key: string; named: Map<string, number> }>();
    const classOf = (key: string, named: Map<string, number>): number => {
      let id = this.classIds.get(key);
      if (id === undefined) {
        id = this.freeClasses.pop() ?? this.nextClass++;
        this.classIds.set(key, id);
      }
      if (!usedClasses.has(id)) usedClasses.set(id, { key, named });
      return id;
    };
    const podClass = new Map<number, number>();
    const local = new Map<number, string>();
    const localPods: { pod: Pod; ip: number; ident: Identity }[] = [];
    const noNamed = new Map<string, number>();
    for (const pod of this.pods.values()) {
      const ip = this.ipOf(pod);
      if (ip === undefined) continue;
      const ns = this.namespaces.get(pod.namespace);
      const named = egressNames.size ? namedFor(pod.namedPorts, egressNames) : noNamed;
      const namedKey = named.size ? JSON.stringify([...named].sort()) : '';
      let ik = this.podIdentity.get(pod);
      if (ik === undefined) {
        ik = `${pod.namespace}\0${labelsKey(pod.labels)}`;
        this.podIdentity.set(pod, ik);
      }
      const fullKey = `${ik}\0${ns ? labelsKey(ns.labels) : '-'}`;
      let ident = this.identities.get(fullKey);
      if (!ident) this.identities.set(fullKey, (ident = { evaluatedUpTo: 0, matched: [], selectedGen: 0, selected: [] }));
      if (ident.evaluatedUpTo < this.nextPeer) {
        for (const e of podPeers) {
          if (e.id < ident.evaluatedUpTo) continue;
          if (podPeerMatches(e.peer as Extract<Peer, { kind: 'pods' }>, pod, ns?.labels)) ident.matched.push(e.id);
        }
        ident.evaluatedUpTo = this.nextPeer;
      }
      const live = ident.matched.filter((id) => this.peerLive(id));
      if (live.length !== ident.matched.length) ident.matched = live;
      const b = blocks.length ? blocksAt(ip) : '';
      const key = `${live.join(',')}|${b}|${namesKey && namedKey}`;
      podClass.set(ip, classOf(key, named));
      if (pod.nodeName === this.nodeName) {
        local.set(ip, pod.key);
        localPods.push({ pod, ip, ident });
      }
    }
    const netClass: PolicyState['netClass'] = [];
    for (const s of segments) {
      const cls = classOf(`|${s.ids}|`, noNamed);
      const prev = netClass[netClass.length - 1];
      if (prev && prev.cls === cls && prev.hi + 1 === s.lo) prev.hi = s.hi;
      else netClass.push({ lo: s.lo, hi: s.hi, cls });
    }
    // Classes no address has any more are given back (their numbers are reused later).
    for (const [k, id] of this.classIds) {
      if (!usedClasses.has(id)) {
        this.classIds.delete(k);
        this.freeClasses.push(id);
      }
    }
    // peer id → the classes holding it
    const classesOfPeer = new Map<number, number[]>();
    for (const [id, c] of usedClasses) {
      const [pp, bb] = c.key.split('|');
      for (const part of [pp, bb]) {
        if (!part) continue;
        for (const s of part.split(',')) {
          const pid = Number(s);
          let l = classesOfPeer.get(pid);
          if (!l) classesOfPeer.set(pid, (l = []));
          l.push(id);
        }
      }
    }

    // 4. Each local pod's isolation and allow sets.
    const ingress = new Map<number, PodRules>();
    const egress = new Map<number, PodRules>();
    for (const { pod, ip, ident } of localPods) {
      if (ident.selectedGen !== this.policiesGen) {
        ident.selected = [];
        for (const pol of this.policies.values()) {
          if (pol.namespace === pod.namespace && selectorMatches(pol.podSelector, pod.labels)) ident.selected.push(pol);
        }
        ident.selected.sort((a, b) => (a.key < b.key ? -1 : 1));
        ident.selectedGen = this.policiesGen;
      }
      for (const dir of ['ingress', 'egress'] as const) {
        const pols = ident.selected.filter((p) => p[dir] !== undefined);
        if (!pols.length) continue;
        const allow = new Map<number, Region>(); // class → region; -1 = every class
        const add = (cls: number, what: 'all' | { proto: number; ports: Interval }) => {
          let r = allow.get(cls);
          if (!r) allow.set(cls, (r = emptyRegion()));
          addToRegion(r, what);
        };
        for (const pol of pols) {
          for (const rule of pol[dir]!) {
            const classes = rule.peers ? unionClasses(rulePeers.get(rule)!, classesOfPeer) : [-1];
            if (!rule.ports) {
              for (const c of classes) add(c, 'all');
              continue;
            }
            for (const spec of rule.ports) {
              if (typeof spec.port === 'string' && dir === 'egress') {
                // A named port is the destination pod's: resolved per class (the class carries the numbers).
                const name = `${spec.protocol}/${spec.port}`;
                const targets = classes[0] === -1 ? [...usedClasses.keys()] : classes;
                for (const c of targets) {
                  const n = usedClasses.get(c)?.named.get(name);
                  if (n !== undefined) add(c, { proto: PROTO_NUMBER[spec.protocol], ports: [n, n] });
                }
                continue;
              }
              const ports = portsFor(spec, pod.namedPorts);
              if (!ports) continue;
              for (const c of classes) add(c, { proto: PROTO_NUMBER[spec.protocol], ports });
            }
          }
        }
        const rules: PodRules = { ip, pod: pod.key, uid: pod.uid, policies: pols.map((p) => p.key), elements: elementsOf(allow) };
        (dir === 'ingress' ? ingress : egress).set(ip, rules);
      }
    }
    return { podClass, netClass, ingress, egress, local };
  }

  private peerLive(id: number): boolean {
    return this.liveIds.has(id);
  }

  private liveIds = new Set<number>();

  private intern(p: Peer): number {
    const k = peerKey(p);
    let e = this.peers.get(k);
    if (!e) {
      e = { id: this.nextPeer++, peer: p, live: true };
      this.peers.set(k, e);
    }
    e.live = true;
    return e.id;
  }

  private segments(blocks: PeerEntry[]): { lo: number; hi: number; ids: string }[] {
    if (!blocks.length) return [{ lo: 0, hi: MAX_CLASS, ids: '' }];
    const events = new Map<number, { add: number[]; del: number[] }>();
    const at = (x: number) => {
      let e = events.get(x);
      if (!e) events.set(x, (e = { add: [], del: [] }));
      return e;
    };
    for (const b of blocks) {
      const p = b.peer as Extract<Peer, { kind: 'ipBlock' }>;
      // The block minus its excepts, as intervals.
      let ivs: Interval[] = [[p.cidr.base, last(p.cidr)]];
      for (const e of p.except) {
        const next: Interval[] = [];
        for (const [lo, hi] of ivs) {
          if (last(e) < lo || e.base > hi) next.push([lo, hi]);
          else {
            if (e.base > lo) next.push([lo, e.base - 1]);
            if (last(e) < hi) next.push([last(e) + 1, hi]);
          }
        }
        ivs = next;
      }
      for (const [lo, hi] of ivs) {
        at(lo).add.push(b.id);
        if (hi < MAX_CLASS) at(hi + 1).del.push(b.id);
      }
    }
    at(0);
    const xs = [...events.keys()].sort((a, b) => a - b);
    const active = new Map<number, number>();
    const out: { lo: number; hi: number; ids: string }[] = [];
    for (let i = 0; i < xs.length; i++) {
      const e = events.get(xs[i])!;
      for (const id of e.del) active.set(id, (active.get(id) ?? 0) - 1);
      for (const id of e.add) active.set(id, (active.get(id) ?? 0) + 1);
      const ids = [...active].filter(([, n]) => n > 0).map(([id]) => id).sort((a, b) => a - b).join(',');
      const hi = i + 1 < xs.length ? xs[i + 1] - 1 : MAX_CLASS;
      const prev = out[out.length - 1];
      if (prev && prev.ids === ids) prev.hi = hi;
      else out.push({ lo: xs[i], hi, ids });
    }
    return out;
  }
}

/** The pod's numbers for the named ports egress rules use ("TCP/http" → 8080). */
function namedFor(ports: NamedPort[], names: Set<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of ports) {
    const k = `${p.protocol}/${p.name}`;
    if (names.has(k) && !out.has(k)) out.set(k, p.port);
  }
  return out;
}

/** The port interval a port spec means for a destination pod; undefined when a name does not resolve. */
export function portsFor(spec: PortSpec, named: NamedPort[]): Interval | undefined {
  if (spec.port === undefined) return [0, MAX_PORT];
  if (typeof spec.port === 'number') return [spec.port, spec.endPort ?? spec.port];
  const p = named.find((n) => n.name === spec.port && n.protocol === spec.protocol);
  return p ? [p.port, p.port] : undefined;
}

function unionClasses(peerIds: number[], classesOfPeer: Map<number, number[]>): number[] {
  if (peerIds.length === 1) return classesOfPeer.get(peerIds[0]) ?? [];
  const s = new Set<number>();
  for (const id of peerIds) for (const c of classesOfPeer.get(id) ?? []) s.add(c);
  return [...s];
}

/**
 * The allow set's elements: what every class may reach is written once with the full class range; per class
 * only what goes beyond that, as disjoint boxes; classes with the same boxes are merged into runs.
 */
function elementsOf(allow: Map<number, Region>): string[] {
  const out: string[] = [];
  const any = allow.get(-1) ?? emptyRegion();
  for (const b of regionBoxes(any)) out.push(elementText([0, MAX_CLASS], b));
  if (any.all) return out;
  const byBoxes = new Map<string, { boxes: Box[]; classes: number[] }>();
  for (const [cls, r] of allow) {
    if (cls === -1 || isEmpty(r)) continue;
    const boxes = subtractBoxes(r, any);
    if (!boxes.length) continue;
    const k = JSON.stringify(boxes);
    let g = byBoxes.get(k);
    if (!g) byBoxes.set(k, (g = { boxes, classes: [] }));
    g.classes.push(cls);
  }
  const groups = [...byBoxes.values()].sort((a, b) => Math.min(...a.classes) - Math.min(...b.classes));
  for (const g of groups) {
    g.classes.sort((a, b) => a - b);
    let start = g.classes[0];
    let prev = start;
    const flush = () => {
      for (const b of g.boxes) out.push(elementText([start, prev], b));
    };
    for (let i = 1; i < g.classes.length; i++) {
      if (g.classes[i] === prev + 1) prev = g.classes[i];
      else {
        flush();
        start = prev = g.classes[i];
      }
    }
    flush();
  }
  return out;
}

/** compile() over a fresh compiler: the definition the incremental one must agree with. */
export function compilePolicies(nodeName: string, policies: Policy[], namespaces: Namespace[], pods: Pod[], localIPs: Map<string, number> = new Map()): PolicyState {
  const c = new PolicyCompiler(nodeName);
  for (const p of policies) c.setPolicy(p);
  for (const n of namespaces) c.setNamespace(n);
  for (const p of pods) c.setPod(p);
  for (const [uid, ip] of localIPs) c.setLocalIP(uid, ip);
  return c.compile();
}
