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
//
// Two classes per pod. A peer without a namespaceSelector (a podSelector of the policy's own namespace, the
// most common peer there is) only ever holds pods of that namespace, and only that namespace's pods allow it.
// Such "namespace peers" make a pod's second class (`podLocal`), the others (namespaceSelector, ipBlock) its
// first: a packet is allowed when either class is. Allowing is an OR over the peers an address satisfies,
// so splitting those peers in two changes no verdict; what it buys is that a new namespace peer splits only
// that namespace's classes, allowed only by that namespace's pods: a change touches one namespace, not every
// pod that allows a class the split one came from.
import { selectorMatches, type LabelSelector } from '../../api/labels.js';
import { formatCidr, last } from '../../util/cidr.js';
import { type NamedPort, type Namespace, type Peer, type Pod, type Policy, type PortSpec, type Rule, PROTO_NUMBER } from './model.js';
import { addToRegion, type Box, elementText, emptyRegion, type Interval, isEmpty, MAX_PORT, type Region, regionBoxes, subtractBoxes } from './region.js';

/** The last address (segments run up to it). */
const IPV4_MAX = 0xffffffff;
/** Classes are numbered from 1; "every class" is 0..ANY_CLASS_HI; ANY_CLASS_HI + 1 is the ruleset's own "self" class. */
export const ANY_CLASS_HI = 0xfffffffe;

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
  /** Pod address → class of the namespace peers it satisfies (only pods that satisfy one). */
  podLocal: Map<number, number>;
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
  /** Policies of the namespace selecting these labels: computed for the namespace's policy generation. */
  selectedGen: number;
  selected: Policy[];
  selectedFor?: boolean;
  /** `matched` less the peers that ended, joined: as of live peer set `liveAt` (a peerGen; 0: stale). */
  liveAt: number;
  liveKey: string;
  /** The live namespace peers among them (the pod's second class), joined. */
  localKey: string;
  /** `selected`, split by the direction each policy isolates. */
  byDir?: { ingress: Policy[]; egress: Policy[] };
}

interface CachedRules {
  pols: Policy[];
  named: NamedPort[];
  sig: string;
  rules: PodRules;
  /** The compile that last saw the pod (older entries are dropped). */
  seen: number;
}

interface PeerEntry {
  id: number;
  peer: Peer;
  /** How many rule peers of the stored policies are this one. */
  refs: number;
}

const canonSelector = (s: LabelSelector | undefined): string => {
  if (!s) return '*';
  const ml = Object.entries(s.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const me = (s.matchExpressions ?? [])
    .map((e) => [e.key, e.operator, [...(e.values ?? [])].sort()])
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  return JSON.stringify([ml, me]);
};

function peerKey(p: Peer): string {
  if (p.kind === 'ipBlock') return `b|${formatCidr(p.cidr)}|${p.except.map(formatCidr).sort().join(',')}`;
  return `p|${p.namespaceSelector ? `ns:${canonSelector(p.namespaceSelector)}` : `in:${p.policyNamespace}`}|${canonSelector(p.podSelector)}`;
}

const labelsKey = (l: Record<string, string>) => JSON.stringify(Object.entries(l).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Whether a pod peer selects a pod (in namespace ns with labels nsLabels). */
export function podPeerMatches(
  p: Extract<Peer, { kind: 'pods' }>,
  pod: { namespace: string; labels: Record<string, string> },
  nsLabels: Record<string, string> | undefined,
): boolean {
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
  private classIds = new Map<string, number>();
  private freeClasses: number[] = [];
  private nextClass = 1;
  private podIdentity = new WeakMap<Pod, string>();
  private nsGen = 1;
  private nsLabelsKey = new WeakMap<Namespace, string>();
  /** Per pod object: its class key, valid while `gen` (peers, namespaces, ipBlocks, named ports) holds. */
  private podKeys = new WeakMap<
    Pod,
    {
      peerGen: number;
      nsGen: number;
      segGen: number;
      namesGen: number;
      ip: number;
      b: string;
      namedKey: string;
      key: string;
      /** The second class's key ('' when the pod satisfies no namespace peer). */
      localKey: string;
      named: Map<string, number>;
      ident: Identity;
    }
  >();
  private lastSegKey = '';
  private segGen = 0;
  private lastNamesKey = '';
  private namesGen = 0;
  private lastLive = '';
  private peerGen = 1;
  /** peer id → the classes holding it (as last compiled), and a version bumped when that list changes. */
  private peerVersion = new Map<number, number>();
  private classesVersion = 0;
  /** peer id → the live classes holding it (ascending), kept as classes are made and given back, so a
   *  change costs work for the classes it makes or ends, not for every class there is. */
  private classesOfPeer = new Map<number, number[]>();
  private classesMoved = false;
  /** Per local pod and direction: its elements and what they were computed from. */
  private podRules = { ingress: new Map<string, CachedRules>(), egress: new Map<string, CachedRules>() };
  private compiles = 0;

  constructor(readonly nodeName: string) {}

  setPolicy(p: Policy): void {
    const old = this.policies.get(p.key);
    this.policies.set(p.key, p);
    // The new one's peers first: a peer both name keeps its id (and the classes built on it).
    this.refPeers(p, 1);
    if (old) this.refPeers(old, -1);
    this.touchNamespacePolicies(p.namespace);
  }

  deletePolicy(key: string): void {
    const p = this.policies.get(key);
    if (!p) return;
    this.policies.delete(key);
    this.refPeers(p, -1);
    this.touchNamespacePolicies(p.namespace);
  }

  /** Policies per namespace, and a generation per namespace: a change re-selects only that namespace's pods. */
  private nsPolicies = new Map<string, { gen: number; list?: Policy[] }>();

  private touchNamespacePolicies(ns: string): void {
    const e = this.nsPolicies.get(ns);
    this.nsPolicies.set(ns, { gen: (e?.gen ?? 0) + 1 });
  }

  private policiesOf(ns: string): { gen: number; list: Policy[] } {
    let e = this.nsPolicies.get(ns);
    if (!e) this.nsPolicies.set(ns, (e = { gen: 0 }));
    if (!e.list) e.list = [...this.policies.values()].filter((p) => p.namespace === ns);
    return e as { gen: number; list: Policy[] };
  }

  setPod(p: Pod): void {
    this.pods.set(p.key, p);
  }

  deletePod(key: string): void {
    this.pods.delete(key);
  }

  setNamespace(n: Namespace): void {
    this.namespaces.set(n.name, n);
    this.nsGen++;
  }

  deleteNamespace(name: string): void {
    if (this.namespaces.delete(name)) this.nsGen++;
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

  /** Milliseconds of the last compile's stages (the benchmark prints them). */
  readonly timing = { peers: 0, segments: 0, podClasses: 0, classIndex: 0, podRules: 0 };

  compile(): PolicyState {
    let tm = performance.now();
    const lap = (k: keyof PolicyCompiler['timing']) => {
      const now = performance.now();
      this.timing[k] = now - tm;
      tm = now;
    };
    // 1. The live peers, by id (counted as policies come and go); the named ports egress rules use.
    const rulePeers = this.ruleIds;
    if (this.peersMoved) {
      this.peersMoved = false;
      this.liveIds = new Set([...this.peers.values()].map((e) => e.id));
      const liveKey = [...this.liveIds].sort((a, b) => a - b).join(',');
      if (liveKey !== this.lastLive) {
        this.lastLive = liveKey;
        this.peerGen++;
      }
      const podPeers: PeerEntry[] = [];
      const blocks: PeerEntry[] = [];
      for (const e of this.peers.values()) (e.peer.kind === 'pods' ? podPeers : blocks).push(e);
      podPeers.sort((a, b) => a.id - b.id);
      // Most changes make or end pod peers only: the segments of the same blocks are kept.
      const blockIds = blocks.map((b) => b.id).join(',');
      const segments = blockIds === this.lastBlockIds ? this.peerLists.segments : this.segments(blocks);
      this.lastBlockIds = blockIds;
      this.peerLists = { podPeers, blocks, segments };
    }
    const { podPeers, blocks, segments } = this.peerLists;
    const egressNames = new Set(this.egressNameCount.keys());
    // Label churn leaves identities nobody has: start afresh when they outnumber the pods.
    if (this.identities.size > 2 * this.pods.size + 64) this.identities.clear();

    lap('peers');
    // 2. ipBlock segments: disjoint address ranges, each with the sorted ids of the blocks that hold it
    // (made again only when the peers change).
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

    lap('segments');
    // 3. Classes: of every pod with an address, and of every segment.
    const namesKey = [...egressNames].sort().join(',');
    const usedClasses = new Map<number, { key: string; named: Map<string, number> }>();
    /** Peers whose class list changed in this compile. */
    const touched = new Set<number>();
    const classOf = (key: string, named: Map<string, number>): number => {
      let id = this.classIds.get(key);
      if (id === undefined) {
        id = this.freeClasses.pop() ?? this.nextClass++;
        this.classIds.set(key, id);
        this.indexClass(id, key, true, touched);
      }
      if (!usedClasses.has(id)) usedClasses.set(id, { key, named });
      return id;
    };
    const podClass = new Map<number, number>();
    const podLocal = new Map<number, number>();
    const local = new Map<number, string>();
    const localPods: { pod: Pod; ip: number; ident: Identity }[] = [];
    const noNamed = new Map<string, number>();
    const segKey = segments.map((x) => `${x.lo}:${x.ids}`).join(';');
    if (segKey !== this.lastSegKey) {
      this.lastSegKey = segKey;
      this.segGen++;
    }
    if (namesKey !== this.lastNamesKey) {
      this.lastNamesKey = namesKey;
      this.namesGen++;
    }
    for (const pod of this.pods.values()) {
      const ip = this.ipOf(pod);
      if (ip === undefined) continue;
      let cached = this.podKeys.get(pod);
      if (
        !cached ||
        cached.peerGen !== this.peerGen ||
        cached.nsGen !== this.nsGen ||
        cached.segGen !== this.segGen ||
        cached.namesGen !== this.namesGen ||
        cached.ip !== ip
      ) {
        const ns = this.namespaces.get(pod.namespace);
        let ident = cached?.nsGen === this.nsGen ? cached.ident : undefined;
        if (!ident) {
          let ik = this.podIdentity.get(pod);
          if (ik === undefined) {
            ik = `${pod.namespace}\0${labelsKey(pod.labels)}`;
            this.podIdentity.set(pod, ik);
          }
          let nk = ns ? this.nsLabelsKey.get(ns) : '-';
          if (nk === undefined) this.nsLabelsKey.set(ns!, (nk = labelsKey(ns!.labels)));
          const fullKey = `${ik}\0${nk}`;
          ident = this.identities.get(fullKey);
          if (!ident)
            this.identities.set(fullKey, (ident = { evaluatedUpTo: 0, matched: [], selectedGen: 0, selected: [], liveAt: 0, liveKey: '', localKey: '' }));
        }
        if (ident.evaluatedUpTo < this.nextPeer) {
          // podPeers is sorted by id: only the peers made since this identity was last evaluated.
          let lo = 0;
          let hi = podPeers.length;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (podPeers[mid].id < ident.evaluatedUpTo) lo = mid + 1;
            else hi = mid;
          }
          const before = ident.matched.length;
          for (let i = lo; i < podPeers.length; i++) {
            const e = podPeers[i];
            if (podPeerMatches(e.peer as Extract<Peer, { kind: 'pods' }>, pod, ns?.labels)) ident.matched.push(e.id);
          }
          ident.evaluatedUpTo = this.nextPeer;
          if (ident.matched.length !== before) ident.liveAt = 0;
        }
        // Peers only end when the live set changes (peerGen): filter then, once per identity.
        if (ident.liveAt !== this.peerGen) {
          const live = ident.matched.filter((id) => this.peerLive(id));
          if (live.length !== ident.matched.length) ident.matched = live;
          const byScope: [number[], number[]] = [[], []];
          for (const id of live) byScope[this.namespacePeers.has(id) ? 1 : 0].push(id);
          ident.liveKey = byScope[0].join(',');
          ident.localKey = byScope[1].join(',');
          ident.liveAt = this.peerGen;
        }
        let named = cached?.named;
        let namedKey = cached?.namedKey ?? '';
        if (!cached || cached.namesGen !== this.namesGen) {
          named = egressNames.size ? namedFor(pod.namedPorts, egressNames) : noNamed;
          namedKey = named.size ? JSON.stringify([...named].sort()) : '';
        }
        const b = blocks.length ? (cached && cached.segGen === this.segGen && cached.ip === ip ? cached.b : blocksAt(ip)) : '';
        const key = `${ident.liveKey}|${b}|${namesKey && namedKey}`;
        // The fourth field keeps the two kinds of class apart (the index reads only the first).
        const localKey = ident.localKey && `${ident.localKey}||${namesKey && namedKey}|ns`;
        cached = {
          peerGen: this.peerGen,
          nsGen: this.nsGen,
          segGen: this.segGen,
          namesGen: this.namesGen,
          ip,
          b,
          namedKey,
          key: cached?.key === key ? cached.key : key,
          localKey: cached?.localKey === localKey ? cached.localKey : localKey,
          named: named!,
          ident,
        };
        this.podKeys.set(pod, cached);
      }
      podClass.set(ip, classOf(cached.key, cached.named));
      if (cached.localKey) podLocal.set(ip, classOf(cached.localKey, cached.named));
      if (pod.nodeName === this.nodeName) {
        local.set(ip, pod.key);
        localPods.push({ pod, ip, ident: cached.ident });
      }
    }
    lap('podClasses');
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
        this.indexClass(id, k, false, touched);
      }
    }
    for (const pid of touched) this.peerVersion.set(pid, (this.peerVersion.get(pid) ?? 0) + 1);
    if (this.classesMoved) this.classesVersion++;
    this.classesMoved = false;
    const classesOfPeer = this.classesOfPeer;
    lap('classIndex');
    const stamp = ++this.compiles;
    const ruleClasses = new Map<Rule, number[]>();
    const polSigs = { ingress: new Map<Policy, string>(), egress: new Map<Policy, string>() };

    // 4. Each local pod's isolation and allow sets (reused while its policies, named ports and peers' classes hold).
    const ingress = new Map<number, PodRules>();
    const egress = new Map<number, PodRules>();
    for (const { pod, ip, ident } of localPods) {
      const nsp = this.policiesOf(pod.namespace);
      if (ident.selectedGen !== nsp.gen || !ident.selectedFor) {
        ident.selected = nsp.list.filter((pol) => selectorMatches(pol.podSelector, pod.labels));
        ident.selected.sort((a, b) => (a.key < b.key ? -1 : 1));
        ident.selectedGen = nsp.gen;
        ident.selectedFor = true;
        ident.byDir = { ingress: ident.selected.filter((p) => p.ingress !== undefined), egress: ident.selected.filter((p) => p.egress !== undefined) };
      }
      for (const dir of ['ingress', 'egress'] as const) {
        const pols = ident.byDir![dir];
        if (!pols.length) continue;
        const sigs = polSigs[dir];
        let sig = '';
        for (const p of pols) {
          let x = sigs.get(p);
          if (x === undefined) sigs.set(p, (x = ruleSignature([p], dir, rulePeers, this.peerVersion, this.classesVersion)));
          sig = sig ? `${sig}|${x}` : x;
        }
        const prev = this.podRules[dir].get(pod.key);
        if (
          prev &&
          prev.rules.ip === ip &&
          prev.sig === sig &&
          prev.named === pod.namedPorts &&
          prev.pols.length === pols.length &&
          prev.pols.every((p, i) => p === pols[i])
        ) {
          // Unchanged: the same object (the programmer sees at a glance that nothing is to be written).
          if (prev.rules.uid !== pod.uid) prev.rules = { ...prev.rules, uid: pod.uid };
          prev.seen = stamp;
          (dir === 'ingress' ? ingress : egress).set(ip, prev.rules);
          continue;
        }
        // What each rule contributes: a box (a protocol and port interval, or everything) for a class list.
        const contribs: { classes: number[]; what: 'all' | { proto: number; ports: Interval } }[] = [];
        for (const pol of pols) {
          for (const rule of pol[dir]!) {
            let classes = ruleClasses.get(rule);
            if (!classes) ruleClasses.set(rule, (classes = rule.peers ? unionClasses(rulePeers.get(rule)!, classesOfPeer) : [-1]));
            if (!rule.ports) {
              contribs.push({ classes, what: 'all' });
              continue;
            }
            for (const spec of rule.ports) {
              if (typeof spec.port === 'string' && dir === 'egress') {
                // A named port is the destination pod's: resolved per class (the class carries the numbers).
                const name = `${spec.protocol}/${spec.port}`;
                const targets = classes[0] === -1 ? [...usedClasses.keys()] : classes;
                for (const c of targets) {
                  const n = usedClasses.get(c)?.named.get(name);
                  if (n !== undefined) contribs.push({ classes: [c], what: { proto: PROTO_NUMBER[spec.protocol], ports: [n, n] } });
                }
                continue;
              }
              const ports = portsFor(spec, pod.namedPorts);
              if (ports) contribs.push({ classes, what: { proto: PROTO_NUMBER[spec.protocol], ports } });
            }
          }
        }
        const rules: PodRules = {
          ip,
          pod: pod.key,
          uid: pod.uid,
          policies: pols.map((p) => p.key),
          elements: fastElements(contribs) ?? elementsOf(regionsOf(contribs)),
        };
        this.podRules[dir].set(pod.key, { pols, named: pod.namedPorts, sig, rules, seen: stamp });
        (dir === 'ingress' ? ingress : egress).set(ip, rules);
      }
    }
    for (const m of [this.podRules.ingress, this.podRules.egress]) for (const [k, e] of m) if (e.seen !== stamp) m.delete(k);
    lap('podRules');
    return { podClass, podLocal, netClass, ingress, egress, local };
  }

  /** Enter a class made (or leave one given back) in the peer → classes index; note the peers touched. */
  private indexClass(id: number, key: string, add: boolean, touched: Set<number>): void {
    this.classesMoved = true;
    const [pp, bb] = key.split('|');
    for (const part of [pp, bb]) {
      if (!part) continue;
      for (const s of part.split(',')) {
        const pid = Number(s);
        touched.add(pid);
        let l = this.classesOfPeer.get(pid);
        if (add) {
          if (!l) this.classesOfPeer.set(pid, (l = []));
          let i = l.length;
          while (i > 0 && l[i - 1] > id) i--;
          l.splice(i, 0, id);
        } else if (l) {
          const i = l.indexOf(id);
          if (i >= 0) l.splice(i, 1);
          if (!l.length) this.classesOfPeer.delete(pid);
        }
      }
    }
  }

  private peerLive(id: number): boolean {
    return this.liveIds.has(id);
  }

  private liveIds = new Set<number>();
  /** Each stored rule's peer ids; whether peers came or went since the last compile, and what follows from them. */
  private ruleIds = new WeakMap<Rule, number[]>();
  private peersMoved = true;
  /** The ipBlock peers' ids (in the order peers are held) the segments were made from. */
  private lastBlockIds?: string;
  private peerLists: { podPeers: PeerEntry[]; blocks: PeerEntry[]; segments: { lo: number; hi: number; ids: string }[] } = {
    podPeers: [],
    blocks: [],
    segments: [],
  };
  private egressNameCount = new Map<string, number>();

  private peerKeys = new WeakMap<Peer, string>();
  /** Ids of the live namespace peers (pod peers without a namespaceSelector): they make the second class. */
  private namespacePeers = new Set<number>();

  /** Count a policy's peers and egress port names in (d = 1) or out (d = -1); a peer nobody names ends. */
  private refPeers(pol: Policy, d: 1 | -1): void {
    for (const rules of [pol.ingress, pol.egress]) {
      for (const r of rules ?? []) {
        if (!r.peers) continue;
        if (d === 1)
          this.ruleIds.set(
            r,
            r.peers.map((p) => this.intern(p)),
          );
        else {
          for (const p of r.peers) {
            const k = this.peerKeys.get(p) ?? peerKey(p);
            const e = this.peers.get(k);
            if (e && --e.refs === 0) {
              this.peers.delete(k);
              this.namespacePeers.delete(e.id);
              this.peersMoved = true;
            }
          }
        }
      }
    }
    for (const r of pol.egress ?? []) {
      for (const p of r.ports ?? []) {
        if (typeof p.port !== 'string') continue;
        const k = `${p.protocol}/${p.port}`;
        const n = (this.egressNameCount.get(k) ?? 0) + d;
        if (n > 0) this.egressNameCount.set(k, n);
        else this.egressNameCount.delete(k);
      }
    }
  }

  private intern(p: Peer): number {
    let k = this.peerKeys.get(p);
    if (k === undefined) this.peerKeys.set(p, (k = peerKey(p)));
    let e = this.peers.get(k);
    if (!e) {
      e = { id: this.nextPeer++, peer: p, refs: 0 };
      this.peers.set(k, e);
      if (p.kind === 'pods' && !p.namespaceSelector) this.namespacePeers.add(e.id);
      this.peersMoved = true;
    }
    e.refs++;
    return e.id;
  }

  private segments(blocks: PeerEntry[]): { lo: number; hi: number; ids: string }[] {
    if (!blocks.length) return [{ lo: 0, hi: IPV4_MAX, ids: '' }];
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
        if (hi < IPV4_MAX) at(hi + 1).del.push(b.id);
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
      const ids = [...active]
        .filter(([, n]) => n > 0)
        .map(([id]) => id)
        .sort((a, b) => a - b)
        .join(',');
      const hi = i + 1 < xs.length ? xs[i + 1] - 1 : IPV4_MAX;
      const prev = out[out.length - 1];
      if (prev && prev.ids === ids) prev.hi = hi;
      else out.push({ lo: xs[i], hi, ids });
    }
    return out;
  }
}

/** What a pod's allow set depends on besides its policies: the versions of the peers its rules name (and,
 *  for egress named ports towards every peer, of the whole class list). */
function ruleSignature(
  pols: Policy[],
  dir: 'ingress' | 'egress',
  rulePeers: WeakMap<Rule, number[]>,
  versions: Map<number, number>,
  classesVersion: number,
): string {
  const parts: string[] = [];
  for (const p of pols) {
    for (const r of p[dir]!) {
      const ids = rulePeers.get(r);
      if (ids) for (const id of ids) parts.push(`${id}:${versions.get(id) ?? 0}`);
      if (dir === 'egress' && !ids && r.ports?.some((x) => typeof x.port === 'string')) parts.push(`*${classesVersion}`);
    }
  }
  return parts.join(',');
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

/** Contributions as one region per class (-1 = every class): the general path. */
function regionsOf(contribs: { classes: number[]; what: 'all' | { proto: number; ports: Interval } }[]): Map<number, Region> {
  const allow = new Map<number, Region>();
  for (const c of contribs) {
    for (const cls of c.classes) {
      let r = allow.get(cls);
      if (!r) allow.set(cls, (r = emptyRegion()));
      addToRegion(r, c.what);
    }
  }
  return allow;
}

/**
 * The common case without per-class work: when the boxes the rules name are equal or disjoint, each box's
 * elements are the runs of the classes that may use it (a box any class may use is written once, whole).
 * Undefined when boxes overlap partly (then regions sort it out per class).
 */
function fastElements(contribs: { classes: number[]; what: 'all' | { proto: number; ports: Interval } }[]): string[] | undefined {
  const byBox = new Map<string, { box: Box; classes: Set<number> | 'any' }>();
  for (const c of contribs) {
    const box: Box = c.what === 'all' ? { proto: [0, 255], port: [0, MAX_PORT] } : { proto: [c.what.proto, c.what.proto], port: c.what.ports };
    const k = `${box.proto[0]}-${box.proto[1]}.${box.port[0]}-${box.port[1]}`;
    let g = byBox.get(k);
    if (!g) byBox.set(k, (g = { box, classes: new Set() }));
    if (g.classes === 'any') continue;
    if (c.classes[0] === -1) g.classes = 'any';
    else for (const x of c.classes) g.classes.add(x);
  }
  const groups = [...byBox.values()];
  for (let i = 0; i < groups.length; i++) {
    for (let j = i + 1; j < groups.length; j++) {
      const a = groups[i].box;
      const b = groups[j].box;
      if (a.proto[0] <= b.proto[1] && b.proto[0] <= a.proto[1] && a.port[0] <= b.port[1] && b.port[0] <= a.port[1]) return undefined;
    }
  }
  const out: string[] = [];
  groups.sort((x, y) => x.box.proto[0] - y.box.proto[0] || x.box.port[0] - y.box.port[0]);
  for (const g of groups) {
    if (g.classes === 'any') {
      out.push(elementText([0, ANY_CLASS_HI], g.box));
      continue;
    }
    const cls = [...g.classes].sort((a, b) => a - b);
    if (!cls.length) continue;
    let start = cls[0];
    let prev = start;
    for (let i = 1; i <= cls.length; i++) {
      if (i < cls.length && cls[i] === prev + 1) {
        prev = cls[i];
        continue;
      }
      out.push(elementText([start, prev], g.box));
      if (i < cls.length) start = prev = cls[i];
    }
  }
  return out;
}

/**
 * The allow set's elements: what every class may reach is written once with the full class range; per class
 * only what goes beyond that, as disjoint boxes; classes with the same boxes are merged into runs.
 */
function elementsOf(allow: Map<number, Region>): string[] {
  const out: string[] = [];
  const any = allow.get(-1) ?? emptyRegion();
  for (const b of regionBoxes(any)) out.push(elementText([0, ANY_CLASS_HI], b));
  if (any.all) return out;
  const byBoxes = new Map<string, { boxes: Box[]; classes: number[] }>();
  for (const [cls, r] of allow) {
    if (cls === -1 || isEmpty(r)) continue;
    const boxes = subtractBoxes(r, any);
    if (!boxes.length) continue;
    let k = '';
    for (const b of boxes) k += `${b.proto[0]}-${b.proto[1]}.${b.port[0]}-${b.port[1]};`;
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
export function compilePolicies(
  nodeName: string,
  policies: Policy[],
  namespaces: Namespace[],
  pods: Pod[],
  localIPs: Map<string, number> = new Map(),
): PolicyState {
  const c = new PolicyCompiler(nodeName);
  for (const p of policies) c.setPolicy(p);
  for (const n of namespaces) c.setNamespace(n);
  for (const p of pods) c.setPod(p);
  for (const [uid, ip] of localIPs) c.setLocalIP(uid, ip);
  return c.compile();
}
