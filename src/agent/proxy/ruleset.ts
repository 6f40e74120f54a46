// The service proxy's nftables layout, and the text that builds it from scratch or changes it by difference.
//
// Everything lives in one table (`ip k8ts-proxy` by default) that nothing else writes. A packet's cost does
// not depend on how many services exist: each hook does one or two map lookups.
//
//   map services   ip daddr . l4proto . dport        → verdict   ClusterIPs, externalIPs, LoadBalancer IPs
//   map nodeports  l4proto . dport                    → verdict   looked up only when `fib daddr type local`
//   map backends   ip daddr . l4proto . dport . n     → endpoint ip . port     (n = 0..N-1)
//   map npbackends l4proto . dport . n                → endpoint ip . port
//   set noeps / npnoeps   keys of services with no usable endpoint
//   set hairpin    ip . ip of every endpoint on this node
//   set alive      empty; listing it is the cheap "is the table still there" probe
//
// Hooks: nat prerouting/output (priority dstnat) jump to `services`, which looks the packet up in the two
// verdict maps. A service key's verdict is `goto pick-N` (N = its endpoint count), `xpick-N` (the same, and
// marks 0x4000 for masquerade: Cluster-policy NodePort/external/LB traffic), their `np-` twins for
// NodePorts, or `drop` (externalTrafficPolicy/internalTrafficPolicy Local with no endpoint on this node, as
// kube-proxy does). Each pick chain holds one rule:
//   dnat ip to ip daddr . meta l4proto . th dport . numgen random mod N map @backends
// The pick chains (4 kinds × 1..K, K ≥ 32, a power of two) come with the table, so adding, removing or
// changing a service touches map elements only. Local-policy external keys point at this node's endpoints
// and are not marked, so the client address survives. Filter chains at priority dstnat - 10 (prerouting,
// output) send new connections to a key in noeps/npnoeps to `reject` (TCP reset, else ICMP port
// unreachable), so they fail at once. nat postrouting masquerades marked packets and, for hairpin, packets
// whose (DNATed) source and destination are the same pod. Session affinity (rare) gets chains of its own per
// service port: one dynamic set per endpoint with the affinity timeout, refreshed from the packet path by
// `update @set { ip saddr }`, checked before the random pick.
import { createHash } from 'node:crypto';
import type { Endpoint, ServicePortModel } from './model.js';

export const DEFAULT_TABLE = 'k8ts-proxy';
/** Packet mark bit meaning "masquerade on the way out" (the bit kube-proxy uses too). */
export const MASQ_MARK = 0x4000;
export const ALIVE_SET = 'alive';

/** A named chain or set's content, and everything that is a map or set element, as nft text. */
export interface Desired {
  /** chain name → its rules (no hook chains: those are fixed and come with the table). */
  chains: Map<string, string[]>;
  /** affinity set name → timeout in seconds. */
  affinitySets: Map<string, number>;
  /** container (map or set name) → element key → value ('' for sets). */
  elements: Map<string, Map<string, string>>;
  /** The largest endpoint count a pick chain is needed for. */
  maxPick: number;
}

export const CONTAINERS = ['services', 'nodeports', 'backends', 'npbackends', 'noeps', 'npnoeps', 'hairpin'] as const;
export type Container = (typeof CONTAINERS)[number];

const proto = (p: string) => p.toLowerCase();
const shortId = (s: string) => createHash('sha1').update(s).digest('hex').slice(0, 12);

/** What the periodic comparison with the kernel counts: elements per container, rules per chain (affinity). */
export interface WantedCounts {
  elements: Map<Container, number>;
  chains: Map<string, number>;
}

export function desiredCounts(d: Desired): WantedCounts {
  return {
    elements: new Map(CONTAINERS.map((c) => [c, d.elements.get(c)!.size])),
    chains: new Map([...d.chains].map(([n, rules]) => [n, rules.length])),
  };
}

export function emptyDesired(): Desired {
  const elements = new Map<string, Map<string, string>>();
  for (const c of CONTAINERS) elements.set(c, new Map());
  return { chains: new Map(), affinitySets: new Map(), elements, maxPick: 0 };
}

/** The one rule of a pick chain: which map it reads and whether it marks for masquerade. */
function pickRule(nodePort: boolean, masq: boolean, n: number): string[] {
  const mark = masq ? `meta mark set meta mark | ${hex(MASQ_MARK)} ` : '';
  return nodePort
    ? [`${mark}dnat ip to meta l4proto . th dport . numgen random mod ${n} map @npbackends`]
    : [`${mark}dnat ip to ip daddr . meta l4proto . th dport . numgen random mod ${n} map @backends`];
}

const hex = (n: number) => `0x${n.toString(16)}`;

export function pickChainName(nodePort: boolean, masq: boolean, n: number): string {
  return `${nodePort ? 'np-' : ''}${masq ? 'x' : ''}pick-${n}`;
}

/**
 * One service's share of the table, kept light because there is one per service and a full sync builds them
 * all: elements as flat (container, key, value) triples (value '' for sets), chains and affinity sets (rare)
 * only when there are some.
 */
export interface Fragment {
  els: string[];
  chains?: Map<string, string[]>;
  affinitySets?: Map<string, number>;
  /** The largest endpoint count a pick chain is needed for. */
  maxPick: number;
}

/** Compute every element and chain the model needs, as a Desired (maps; the last value of a key wins). */
export function desiredState(model: ServicePortModel[]): Desired {
  return toDesired(fragment(model));
}

export function toDesired(f: Fragment): Desired {
  const d = emptyDesired();
  for (let i = 0; i < f.els.length; i += 3) d.elements.get(f.els[i] as Container)!.set(f.els[i + 1], f.els[i + 2]);
  if (f.chains) d.chains = new Map(f.chains);
  if (f.affinitySets) d.affinitySets = new Map(f.affinitySets);
  d.maxPick = f.maxPick;
  return d;
}

export function toFragment(d: Desired): Fragment {
  const els: string[] = [];
  for (const [c, m] of d.elements) for (const [k, v] of m) els.push(c, k, v);
  return { els, chains: d.chains.size ? d.chains : undefined, affinitySets: d.affinitySets.size ? d.affinitySets : undefined, maxPick: d.maxPick };
}

/** Compute every element and chain the model needs, in the compact form. */
export function fragment(model: ServicePortModel[]): Fragment {
  const f: Fragment = { els: [], maxPick: 0 };
  const els = f.els;
  for (const sp of model) {
    const p = proto(sp.protocol);
    const internal = sp.internalLocal ? sp.localEndpoints : sp.endpoints;
    const external = sp.externalLocal ? sp.localEndpoints : sp.endpoints;
    const masqExternal = !sp.externalLocal;
    const aff = sp.affinitySeconds !== undefined ? affinity(f, sp) : undefined;
    // Only pods on this node can reach themselves through this node's rules.
    for (const e of sp.localEndpoints) els.push('hairpin', `${e.ip} . ${e.ip}`, '');

    // One entry point = one map key whose traffic goes to `eps`; `npKey` for NodePorts.
    const entry = (key: string, nodePort: boolean, eps: Endpoint[], masq: boolean, kind: 'c' | 'x') => {
      if (sp.endpoints.length === 0) {
        els.push(nodePort ? 'npnoeps' : 'noeps', key, '');
        return;
      }
      const vmap = nodePort ? 'nodeports' : 'services';
      if (eps.length === 0) {
        // Local policy and no endpoint on this node: drop, as kube-proxy does (the LB should not send here).
        els.push(vmap, key, 'drop');
        return;
      }
      if (aff) {
        els.push(vmap, key, `goto ${aff(kind, eps, masq)}`);
        return;
      }
      if (eps.length > f.maxPick) f.maxPick = eps.length;
      els.push(vmap, key, `goto ${pickChainName(nodePort, masq, eps.length)}`);
      const be = nodePort ? 'npbackends' : 'backends';
      for (let i = 0; i < eps.length; i++) els.push(be, `${key} . ${i}`, `${eps[i].ip} . ${eps[i].port}`);
    };
    for (const ip of sp.clusterIPs) entry(`${ip} . ${p} . ${sp.port}`, false, internal, false, 'c');
    for (const ip of sp.externalIPs) entry(`${ip} . ${p} . ${sp.port}`, false, external, masqExternal, 'x');
    for (const ip of sp.loadBalancerIPs) entry(`${ip} . ${p} . ${sp.port}`, false, external, masqExternal, 'x');
    if (sp.nodePort !== undefined) entry(`${p} . ${sp.nodePort}`, true, external, masqExternal, 'x');
  }
  return f;
}

/**
 * Session affinity for one service port: a set per endpoint (client addresses, with the timeout), a chain per
 * endpoint that refreshes it and DNATs, and per entry kind a chain that sends known clients back to their
 * endpoint and spreads new ones. Returns a function naming the entry chain for a kind and endpoint list.
 */
function affinity(f: Fragment, sp: ServicePortModel): (kind: 'c' | 'x', eps: Endpoint[], masq: boolean) => string {
  // The timeout is part of the names, so a changed timeout makes new sets instead of altering live ones.
  const id = shortId(`${sp.id}/${sp.affinitySeconds}`);
  const epName = (e: Endpoint) => shortId(`${e.ip}:${e.port}`).slice(0, 8);
  const chains = (f.chains ??= new Map());
  const sets = (f.affinitySets ??= new Map());
  return (kind, eps, masq) => {
    const name = `aff-${id}-${kind}`;
    if (chains.has(name)) return name;
    const rules: string[] = [];
    if (masq) rules.push(`meta mark set meta mark | ${hex(MASQ_MARK)}`);
    for (const e of eps) {
      const set = `affs-${id}-${epName(e)}`;
      const chain = `affe-${id}-${epName(e)}`;
      sets.set(set, sp.affinitySeconds!);
      chains.set(chain, [`meta l4proto ${proto(sp.protocol)} update @${set} { ip saddr } dnat ip to ${e.ip}:${e.port}`]);
      rules.push(`ip saddr @${set} goto ${chain}`);
    }
    rules.push(`numgen random mod ${eps.length} vmap { ${eps.map((e, i) => `${i} : goto affe-${id}-${epName(e)}`).join(', ')} }`);
    chains.set(name, rules);
    return name;
  };
}

function fixedChains(): string[] {
  const m = hex(MASQ_MARK);
  return [
    `  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }`,
    `  chain output { type nat hook output priority -100; policy accept; jump services; }`,
    `  chain services {`,
    `    ip daddr . meta l4proto . th dport vmap @services`,
    `    fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @nodeports`,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    meta mark & ${m} == ${m} meta mark set meta mark ^ ${m} masquerade`,
    `    ct status dnat ip saddr . ip daddr @hairpin masquerade`,
    `  }`,
    // Filter hooks run before NAT (priority dstnat - 10): a key with no endpoint is refused at once.
    `  chain filter-prerouting { type filter hook prerouting priority dstnat - 10; policy accept; ct state new jump refuse; }`,
    `  chain filter-output { type filter hook output priority -110; policy accept; ct state new jump refuse; }`,
    `  chain refuse {`,
    `    ip daddr . meta l4proto . th dport @noeps goto reject-now`,
    `    fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport @npnoeps goto reject-now`,
    `  }`,
    // Counted and logged like policy drops (NFLOG group 7, read by the agent's drop log).
    `  chain reject-now {`,
    `    counter name "noeps"`,
    `    limit rate 50/second burst 100 packets log group 7 prefix "k8ts-svc noeps "`,
    `    meta l4proto tcp reject with tcp reset`,
    `    reject`,
    `  }`,
  ];
}

const DECLS: Record<Container, string> = {
  services: 'typeof ip daddr . meta l4proto . th dport : verdict;',
  nodeports: 'typeof meta l4proto . th dport : verdict;',
  backends: 'typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport;',
  npbackends: 'typeof meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport;',
  noeps: 'typeof ip daddr . meta l4proto . th dport;',
  npnoeps: 'typeof meta l4proto . th dport;',
  hairpin: 'typeof ip saddr . ip daddr;',
};

export const elementText = (k: string, v: string) => (v ? `${k} : ${v}` : k);

const PROTO_NUMBER: Record<string, string> = { tcp: '6', udp: '17', sctp: '132' };

/**
 * A key as a full load writes it: the protocol by its number. nft resolves a protocol name for every element
 * it parses, which was about a tenth of loading 10,000 services; the kernel holds the same bytes either way,
 * so the incremental changes, which write the name, find these elements.
 */
export function loadKey(c: Container, k: string): string {
  if (c === 'hairpin') return k;
  const start = c === 'nodeports' || c === 'npbackends' || c === 'npnoeps' ? 0 : k.indexOf(' . ') + 3;
  const end = k.indexOf(' . ', start);
  const num = end > start ? PROTO_NUMBER[k.slice(start, end)] : undefined;
  return num === undefined ? k : k.slice(0, start) + num + k.slice(end);
}

/**
 * How many pick chains of each kind the table carries: at least 32, and a power of two above any service's
 * endpoint count. They are made only with the whole table because nft 1.0.6 cannot add a rule that uses the
 * backends map once that map is read back from the kernel (its typeof value `ip daddr . th dport` fails
 * with "conflicting protocols specified: ip vs. th", and `tcp dport` there adds a hidden `meta l4proto tcp`).
 */
export function pickCount(maxPick: number): number {
  let k = 32;
  while (k < maxPick) k *= 2;
  return k;
}

/** What a full rewrite writes: per container its elements as nft text ("key" or "key : value"), chains, sets. */
export interface TableContent {
  elements: (c: Container) => string[];
  chains: Map<string, string[]>;
  affinitySets: Map<string, number>;
}

/** The whole table, replacing whatever is there, in one transaction; pick chains 1..`picks` of each kind. */
export function fullRuleset(table: string, d: Desired, picks = pickCount(d.maxPick)): string {
  return tableText(
    table,
    { elements: (c) => Array.from(d.elements.get(c)!, ([k, v]) => elementText(loadKey(c, k), v)), chains: d.chains, affinitySets: d.affinitySets },
    picks,
  );
}

/**
 * The text of a full rewrite, or with `intoEmpty` of the content added to an empty table just made (see
 * ServiceProxy.fullByNetlink: nft 1.0.6 cannot add the pick rules to a table that has a backends map already,
 * pickCount says why). Maps and sets are declared empty and filled last, after every rule: the kernel
 * walks all of a map's elements each time a rule binds it (nf_tables_bind_set), and the 4 × `picks` pick
 * rules bind the backends maps: filled first, those walks took a tenth to a quarter of `nft -f`'s time at
 * 10,000 services (perf: nft_rhash_walk under nf_tables_bind_set). Chains are declared empty inside the block and get their rules after it, once the maps they read
 * exist (see pickCount for why).
 */
export function tableText(table: string, content: TableContent, picks: number, intoEmpty = false): string {
  const T = `ip ${table}`;
  const out = intoEmpty ? [`table ${T} {`] : [`table ${T}`, `delete table ${T}`, `table ${T} {`];
  for (const c of CONTAINERS) out.push(`  ${c === 'noeps' || c === 'npnoeps' || c === 'hairpin' ? 'set' : 'map'} ${c} { ${DECLS[c]} }`);
  // Probed every few seconds: listing one small set is cheap where listing the table is not.
  out.push(`  set ${ALIVE_SET} { type inet_service; }`);
  out.push('  counter noeps { }');
  for (const [name, secs] of content.affinitySets) out.push(`  set ${name} { type ipv4_addr; flags dynamic,timeout; timeout ${secs}s; }`);
  const pickChains: [string, string][] = [];
  for (let n = 1; n <= picks; n++) {
    for (const np of [false, true]) for (const masq of [false, true]) pickChains.push([pickChainName(np, masq, n), pickRule(np, masq, n)[0]]);
  }
  for (const name of content.chains.keys()) out.push(`  chain ${name} { }`);
  for (const [name] of pickChains) out.push(`  chain ${name} { }`);
  out.push(...fixedChains());
  out.push('}');
  for (const [name, rules] of content.chains) for (const r of rules) out.push(`add rule ${T} ${name} ${r}`);
  for (const [name, rule] of pickChains) out.push(`add rule ${T} ${name} ${rule}`);
  // One statement per container, on one line: one `add element` per element made nft ~1.5× slower.
  for (const c of CONTAINERS) {
    const els = content.elements(c);
    if (els.length) out.push(`add element ${T} ${c} { ${els.join(', ')} }`);
  }
  out.push('');
  return out.join('\n');
}

/** Per container, the keys to delete and the (key, value) pairs to add to turn one set of elements into another. */
export type ElementDiff = Map<Container, { gone: string[]; add: [string, string][] }>;

/** The element part of turning `from` into `to`: a changed value is a delete and an add of its key. */
export function diffElements(from: Desired, to: Desired): ElementDiff {
  const out: ElementDiff = new Map();
  for (const c of CONTAINERS) {
    const a = from.elements.get(c)!;
    const b = to.elements.get(c)!;
    const gone: string[] = [];
    const add: [string, string][] = [];
    for (const [k, v] of a) if (b.get(k) !== v) gone.push(k);
    for (const [k, v] of b) if (a.get(k) !== v) add.push([k, v]);
    if (gone.length || add.length) out.set(c, { gone, add });
  }
  return out;
}

/** What turning one Desired into another changes: its elements, and its chains and (affinity) sets. */
export interface DesiredDiff {
  elements: ElementDiff;
  /** Chains that are new or whose rules changed; new ones are also in `newChains`. */
  changedChains: string[];
  newChains: string[];
  goneChains: string[];
  newSets: [string, number][];
  goneSets: string[];
}

export function diffDesired(from: Desired, to: Desired): DesiredDiff {
  const changedChains: string[] = [];
  const newChains: string[] = [];
  for (const [name, rules] of to.chains) {
    const old = from.chains.get(name);
    if (!old) newChains.push(name);
    if (!old || old.join('\n') !== rules.join('\n')) changedChains.push(name);
  }
  return {
    elements: diffElements(from, to),
    changedChains,
    newChains,
    goneChains: [...from.chains.keys()].filter((n) => !to.chains.has(n)),
    newSets: [...to.affinitySets].filter(([name]) => !from.affinitySets.has(name)),
    goneSets: [...from.affinitySets.keys()].filter((n) => !to.affinitySets.has(n)),
  };
}

/** Whether a diff touches chains or sets (affinity), not only elements. */
export const changesStructure = (d: DesiredDiff): boolean => d.changedChains.length + d.goneChains.length + d.newSets.length + d.goneSets.length > 0;

/** Commands applying a diff to table `table`; empty when nothing changed. Order matters inside the transaction. */
export function diffRuleset(table: string, d: DesiredDiff, to: Desired): string {
  const T = `ip ${table}`;
  const dels: string[] = [];
  const adds: string[] = [];
  for (const [c, { gone, add }] of d.elements) {
    if (gone.length) dels.push(`delete element ${T} ${c} { ${gone.join(', ')} }`);
    if (add.length) adds.push(`add element ${T} ${c} { ${add.map(([k, v]) => elementText(k, v)).join(', ')} }`);
  }
  const out: string[] = [...dels];
  for (const [name, secs] of d.newSets) out.push(`add set ${T} ${name} { type ipv4_addr; flags dynamic,timeout; timeout ${secs}s; }`);
  for (const name of d.newChains) out.push(`add chain ${T} ${name}`);
  const isNew = new Set(d.newChains);
  for (const name of [...d.changedChains, ...d.goneChains]) if (!isNew.has(name)) out.push(`flush chain ${T} ${name}`);
  for (const name of d.changedChains) for (const r of to.chains.get(name)!) out.push(`add rule ${T} ${name} ${r}`);
  for (const name of d.goneChains) out.push(`delete chain ${T} ${name}`);
  for (const name of d.goneSets) out.push(`delete set ${T} ${name}`);
  out.push(...adds);
  return out.length ? out.join('\n') + '\n' : '';
}
