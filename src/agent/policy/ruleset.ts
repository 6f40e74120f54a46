// The policy engine's nftables layout, and the text that builds it whole or changes it by difference.
//
//   table ip k8ts-policy
//     map podclass   ipv4_addr → mark               every pod's address → its peer class
//     map podlocal   ipv4_addr → mark               pod address → the class of its namespace peers (see below)
//     map netclass   ipv4_addr (intervals) → mark   every other address → the class of its ipBlock segment
//     map ingress    ipv4_addr → verdict            local pod isolated for ingress → goto in-judge, or in-<pod>
//     map egress     ipv4_addr → verdict            local pod isolated for egress  → jump out-judge, or out-<pod>
//     set isolated   local pods isolated either way (a new TCP flow to or from them must start with SYN)
//     set inx, outx  ip daddr|saddr . ct mark . meta l4proto . th dport (hash): every local pod's allowances
//                    that are one class, one protocol and one port (most of them: a port rule to a few classes)
//     set in-<pod>, out-<pod>   ct mark . meta l4proto . th dport, intervals: the rest of what the pod allows
//                    (port ranges, every port or protocol, long runs of classes); only for pods that have some
//     counter din-<pod>, dout-<pod>, found through map cin / cout by address   drops
//     set selfpairs  pod . pod of the isolated pods (a pod never blocks itself)
//     limit droplog  one rate limit for every drop log line
//
// An isolated pod whose allowances are all exact keys is judged by the shared chain of its direction
// (in-judge, out-judge: classification, the exact set, drop); one that also has ranges gets its own chain,
// the same rules plus a lookup in its own interval set. So a pod costs the kernel a counter, and a set and a
// chain only when it needs ranges, however many policies select it.
// Why: the kernel's interval sets of concatenations (nft_set_pipapo) pay for a deleted element in proportion
// to the whole set (measured: 100 sets of 21 elements, one element deleted and one added in each, 8.5 ms of
// kernel CPU; of 70 elements, 22 ms), and a policy change that splits peer classes deletes and adds hundreds
// of elements; a hash set deletes in constant time (0.5–2.5 ms for the same). And nft rebuilds its cache of
// every set, chain and object of the namespace for each transaction (our own commit moved the kernel's
// generation): with a set and a chain per pod, those dumps were the larger part of a small change's cost.
//
// Two classes per pod (compiler.ts): the peers of its namespace's own podSelectors (`podlocal`) apart from
// every other peer (`podclass`, `netclass`). A judging chain looks up the exact set (and the pod's interval
// set) with the first class, then sets ct mark from podlocal and looks up the same again; class numbers
// are distinct across the two, so one set holds both. Why: the benchmark's change (a policy whose peer is
// a podSelector of its own namespace, added, changed, deleted) used to split the classes that carried
// cluster-wide peers too, and every pod allowing those (node b: ~60 pods, the `range` pods' interval runs)
// had its keys rewritten: ~56 KiB of nft text per change on node b. With the namespace peers apart, the
// split stays inside one namespace's classes, which only that namespace's pods allow: 0.4 KiB (p50; max
// 0.6), and node b's nft child per change 36 → 3 ms. The price: for an isolated pod one more map lookup
// and one or two more set lookups per new flow that its first class does not allow.
// Measured (nft monitor trace of one connection to an isolated pod allowed through its namespace class,
// 1,001 policies): where no policy sends the SYN on past the ingress vmap, it walks 7 more rules (the jump,
// selfpairs, the two class maps, the exact set, podlocal, the exact set again), one lookup each at most;
// each of the connection's other packets leaves at `ct state established,related`, as without policies. That is a few hash lookups per connection, far under what the
// benchmark's connection rate can resolve on this machine: its rounds swing ±20 % with the load, which is
// why bench/netpol.ts judges the rate against a never-isolated twin server measured at the same moment.
//
// The filter hook sits in prerouting after dstnat (so a Service's traffic is judged against the chosen
// backend): every packet gets the JUDGED mark bit (the guard table, see guard.ts, drops unjudged traffic
// of isolated pods while this table is missing), replies pass on `ct state established,related`, and a
// new flow costs two hash lookups (egress by source, ingress by destination) plus, for an isolated pod,
// three class lookups, up to two lookups in the exact set and, for a pod with ranges, two in its own set:
// nothing grows with the number of policies or pods elsewhere in the cluster. The node's own traffic to its
// pods comes from the output path and is never judged (probes pass); egress to the node's own addresses is
// always allowed.
import { formatIPv4 } from '../../util/cidr.js';
import type { PolicyState } from './compiler.js';

export const POLICY_TABLE = 'k8ts-policy';
/** Packet mark bit: "the policy table saw this packet" (the proxy uses 0x4000). */
export const JUDGED_MARK = 0x20000;
/** NFLOG group of drop log lines. */
export const LOG_GROUP = 7;
export const LOG_PREFIX = { in: 'k8ts-np in', out: 'k8ts-np out' } as const;
/** Drop log lines per second (burst twice that), for the whole node. */
export const LOG_RATE = 50;

export type Direction = 'in' | 'out';

/** The chain, set and counter names of one pod and direction (from its address: always a proven IPv4). */
export function podObjects(dir: Direction, ip: number): { chain: string; set: string; counter: string } {
  const id = formatIPv4(ip).replace(/\./g, '-');
  return { chain: `${dir}-${id}`, set: `${dir}-${id}`, counter: `d${dir}-${id}` };
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** The class out-common gives a flow that needs no judging (to itself, to this node): always allowed. */
export const SELF_CLASS = 0xffffffff;

/** The shared hash sets of exact allowances, per direction. */
export const EXACT_SET = { in: 'inx', out: 'outx' } as const;
/** The shared chains judging pods whose allowances are all exact keys. */
export const JUDGE_CHAIN = { in: 'in-judge', out: 'out-judge' } as const;

/**
 * The rules of a judging chain: classification, the exact set, the pod's own interval set when it has one
 * (`set`), then the shared drop. Ingress allowed → accept; egress allowed → return (ingress is judged next).
 */
function judgeRules(dir: Direction, set?: string): string[] {
  // The same lookups for the peer's first class, then (when it has one) its namespace class: a missing
  // podlocal element ends that rule, and the next ones only repeat lookups that already failed.
  const lookups = (verdict: string) =>
    dir === 'in'
      ? [`ip daddr . ct mark . meta l4proto . th dport @${EXACT_SET.in} ${verdict}`, ...(set ? [`ct mark . meta l4proto . th dport @${set} ${verdict}`] : [])]
      : [`ip saddr . ct mark . meta l4proto . th dport @${EXACT_SET.out} ${verdict}`, ...(set ? [`ct mark . meta l4proto . th dport @${set} ${verdict}`] : [])];
  return dir === 'in'
    ? ['jump in-common', ...lookups('accept'), 'ct mark set ip saddr map @podlocal', ...lookups('accept'), 'goto in-drop']
    : [
        'jump out-common',
        `ct mark ${hex(SELF_CLASS)} return`,
        ...lookups('return'),
        'ct mark set ip daddr map @podlocal',
        ...lookups('return'),
        'goto out-drop',
      ];
}

/** Where the direction's map sends a pod: the shared judge, or its own chain when it has ranges. */
function verdictOf(dir: Direction, ip: number, ownChain: boolean): string {
  return `${dir === 'in' ? 'goto' : 'jump'} ${ownChain ? podObjects(dir, ip).chain : JUDGE_CHAIN[dir]}`;
}

/** Class runs up to this long with one protocol and one port are written to the exact set, a key per class. */
export const EXACT_RUN_MAX = 16;

export interface SplitElements {
  /** `class . proto . port` keys, each field one value (the pod's address goes in front in the set), as
   *  numbers (exactKey): a change compares hundreds of pods' keys, and sets of numbers need no string hashing. */
  exact: number[];
  /** Elements of the pod's own interval set, as the compiler wrote them. */
  ranges: string[];
}

const splitMemo = new WeakMap<string[], SplitElements>();

/** Classes above this are never exact keys (class · 2^24 + proto · 2^16 + port stays an exact double). */
const EXACT_CLASS_MAX = 2 ** 28;

/** An exact key as one number: class, protocol, port. */
export const exactKey = (cls: number, proto: number, port: number): number => (cls * 256 + proto) * 65536 + port;

/** The key's text in a set element: `class . proto . port`. */
export function exactText(k: number): string {
  const port = k % 65536;
  const rest = (k - port) / 65536;
  const proto = rest % 256;
  return `${(rest - proto) / 256} . ${proto} . ${port}`;
}

/**
 * A pod's allow set (the compiler's disjoint `lo-hi . proto . port` elements) as exact keys and interval
 * elements. Disjoint boxes give distinct keys, so the exact keys never collide. Memoised per elements
 * array: the compiler hands back the same array for a pod whose rules did not move.
 */
export function splitElements(els: string[]): SplitElements {
  const memo = splitMemo.get(els);
  if (memo) return memo;
  const out: SplitElements = { exact: [], ranges: [] };
  for (const e of els) {
    const [cls, proto, port] = e.split(' . ');
    const dash = cls.indexOf('-');
    const lo = Number(cls.slice(0, dash));
    const hi = Number(cls.slice(dash + 1));
    if (proto.includes('-') || port.includes('-') || hi - lo >= EXACT_RUN_MAX || hi >= EXACT_CLASS_MAX) {
      out.ranges.push(e);
      continue;
    }
    const pr = Number(proto);
    const po = Number(port);
    for (let c = lo; c <= hi; c++) out.exact.push(exactKey(c, pr, po));
  }
  splitMemo.set(els, out);
  return out;
}

const exactKeys = (ip: number, keys: number[]) => {
  const a = formatIPv4(ip);
  return keys.map((k) => `${a} . ${exactText(k)}`);
};

/** The chains every pod chain shares. */
function commonChains(logGroup: number): string[] {
  return [
    // A pod cannot block itself (a Service hairpin comes back to it through the node).
    '  chain in-common {',
    '    ip saddr . ip daddr @selfpairs accept',
    '    ct mark set ip saddr map @netclass',
    '    ct mark set ip saddr map @podclass',
    '  }',
    `  chain in-drop { limit name "droplog" log group ${logGroup} prefix "${LOG_PREFIX.in} "; counter name ip daddr map @cin drop; }`,
    // Egress to itself or to this node is always allowed: the self class, which the judging chains accept.
    '  chain out-common {',
    `    ip saddr . ip daddr @selfpairs ct mark set ${hex(SELF_CLASS)} return`,
    `    fib daddr type local ct mark set ${hex(SELF_CLASS)} return`,
    '    ct mark set ip daddr map @netclass',
    '    ct mark set ip daddr map @podclass',
    '  }',
    `  chain out-drop { limit name "droplog" log group ${logGroup} prefix "${LOG_PREFIX.out} "; counter name ip saddr map @cout drop; }`,
    `  chain ${JUDGE_CHAIN.in} { ${judgeRules('in').join('; ')}; }`,
    `  chain ${JUDGE_CHAIN.out} { ${judgeRules('out').join('; ')}; }`,
  ];
}

const SET_DECL = 'typeof ct mark . meta l4proto . th dport; flags interval;';

function netclassElements(s: PolicyState): string[] {
  return s.netClass.map((r) => `${r.lo === r.hi ? formatIPv4(r.lo) : `${formatIPv4(r.lo)}-${formatIPv4(r.hi)}`} : ${r.cls}`);
}

function chunks<T>(xs: T[], n = 2000): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

function addElements(table: string, container: string, els: string[]): string[] {
  return chunks(els).map((c) => `add element ip ${table} ${container} { ${c.join(', ')} }`);
}

function deleteElements(table: string, container: string, keys: string[]): string[] {
  return chunks(keys).map((c) => `delete element ip ${table} ${container} { ${c.join(', ')} }`);
}

export interface RulesetOptions {
  table?: string;
  logGroup?: number;
}

/** The whole table, replacing whatever is there, in one transaction. */
export function fullRuleset(s: PolicyState, o: RulesetOptions = {}): string {
  const T = o.table ?? POLICY_TABLE;
  const g = o.logGroup ?? LOG_GROUP;
  const out = [`table ip ${T}`, `delete table ip ${T}`, `table ip ${T} {`];
  out.push('  map podclass { type ipv4_addr : mark; }');
  out.push('  map podlocal { type ipv4_addr : mark; }');
  out.push('  map netclass { type ipv4_addr : mark; flags interval; }');
  out.push('  map ingress { type ipv4_addr : verdict; }');
  out.push('  map egress { type ipv4_addr : verdict; }');
  out.push('  map cin { type ipv4_addr : counter; }');
  out.push('  map cout { type ipv4_addr : counter; }');
  out.push('  set isolated { type ipv4_addr; }');
  out.push('  set selfpairs { type ipv4_addr . ipv4_addr; }');
  out.push(`  set ${EXACT_SET.in} { typeof ip daddr . ct mark . meta l4proto . th dport; }`);
  out.push(`  set ${EXACT_SET.out} { typeof ip saddr . ct mark . meta l4proto . th dport; }`);
  out.push('  set alive { type inet_service; }');
  out.push(`  limit droplog { rate ${LOG_RATE}/second burst ${LOG_RATE * 2} packets }`);
  for (const [dir, m] of [
    ['in', s.ingress],
    ['out', s.egress],
  ] as const) {
    for (const r of m.values()) {
      const ob = podObjects(dir, r.ip);
      out.push(`  counter ${ob.counter} { }`);
      if (splitElements(r.elements).ranges.length) out.push(`  set ${ob.set} { ${SET_DECL} }`, `  chain ${ob.chain} { }`);
    }
  }
  out.push(...commonChains(g));
  out.push(
    '  chain prerouting {',
    '    type filter hook prerouting priority dstnat + 10; policy accept;',
    `    meta mark set meta mark | ${hex(JUDGED_MARK)}`,
    '    ct state established,related accept',
    '    ct state invalid jump strays',
    '    ct state new tcp flags & (fin | syn | rst | ack) != syn jump strays',
    '    ip saddr vmap @egress',
    '    ip daddr vmap @ingress',
    '  }',
    '  chain strays { ip saddr @isolated drop; ip daddr @isolated drop; }',
    '}',
  );
  for (const [dir, m] of [
    ['in', s.ingress],
    ['out', s.egress],
  ] as const) {
    for (const r of m.values()) {
      if (!splitElements(r.elements).ranges.length) continue;
      const ob = podObjects(dir, r.ip);
      for (const rule of judgeRules(dir, ob.set)) out.push(`add rule ip ${T} ${ob.chain} ${rule}`);
    }
  }
  // Maps and sets are filled after the rules that bind them (binding walks a set's elements).
  out.push(
    ...addElements(
      T,
      'podclass',
      [...s.podClass].map(([ip, c]) => `${formatIPv4(ip)} : ${c}`),
    ),
  );
  out.push(
    ...addElements(
      T,
      'podlocal',
      [...s.podLocal].map(([ip, c]) => `${formatIPv4(ip)} : ${c}`),
    ),
  );
  out.push(...addElements(T, 'netclass', netclassElements(s)));
  for (const [dir, m] of [
    ['in', s.ingress],
    ['out', s.egress],
  ] as const) {
    const exact: string[] = [];
    const verdicts: string[] = [];
    for (const r of m.values()) {
      const sp = splitElements(r.elements);
      if (sp.ranges.length) out.push(...addElements(T, podObjects(dir, r.ip).set, sp.ranges));
      for (const k of exactKeys(r.ip, sp.exact)) exact.push(k);
      verdicts.push(`${formatIPv4(r.ip)} : ${verdictOf(dir, r.ip, sp.ranges.length > 0)}`);
    }
    out.push(...addElements(T, EXACT_SET[dir], exact));
    out.push(
      ...addElements(
        T,
        dir === 'in' ? 'cin' : 'cout',
        [...m.values()].map((r) => `${formatIPv4(r.ip)} : "${podObjects(dir, r.ip).counter}"`),
      ),
    );
    out.push(...addElements(T, dir === 'in' ? 'ingress' : 'egress', verdicts));
  }
  const iso = isolatedOf(s).map(formatIPv4);
  out.push(
    ...addElements(T, 'isolated', iso),
    ...addElements(
      T,
      'selfpairs',
      iso.map((x) => `${x} . ${x}`),
    ),
  );
  out.push('');
  return out.join('\n');
}

export function isolatedOf(s: PolicyState): number[] {
  return [...new Set([...s.ingress.keys(), ...s.egress.keys()])].sort((a, b) => a - b);
}

const sameList = <T>(a: T[], b: T[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The transaction that turns `before` into `after`, or '' when nothing changes. A pod's objects are made
 * before the map element that sends traffic to them and removed after it; a pod's interval set changes element
 * by element (deletes first: the kernel refuses an element overlapping one that is still there). One
 * transaction: no packet sees a state between the two.
 */
export function diffRuleset(before: PolicyState, after: PolicyState, o: RulesetOptions = {}): string {
  const T = o.table ?? POLICY_TABLE;
  const out: string[] = [];
  // Classes first: a pod's set may already use a class that only now has members.
  for (const [map, b, a] of [
    ['podclass', before.podClass, after.podClass],
    ['podlocal', before.podLocal, after.podLocal],
  ] as const) {
    const del: string[] = [];
    const add: string[] = [];
    for (const [ip, c] of b) if (a.get(ip) !== c) del.push(formatIPv4(ip));
    for (const [ip, c] of a) if (b.get(ip) !== c) add.push(`${formatIPv4(ip)} : ${c}`);
    out.push(...deleteElements(T, map, del), ...addElements(T, map, add));
  }
  const nb = netclassElements(before);
  const na = netclassElements(after);
  if (!sameList(nb, na)) out.push(`flush map ip ${T} netclass`, ...addElements(T, 'netclass', na));

  for (const [dir, mb, ma, vmap, cmap] of [
    ['in', before.ingress, after.ingress, 'ingress', 'cin'],
    ['out', before.egress, after.egress, 'egress', 'cout'],
  ] as const) {
    // Per pod: `made` objects before the map points at them, `unmade` after it stopped pointing at them. The
    // shared exact set's changes are collected over every pod: one command each way.
    const made: string[] = [];
    const unmade: string[] = [];
    const mapDel: string[] = [];
    const mapAdd: string[] = [];
    const exactDel: string[] = [];
    const exactAdd: string[] = [];
    const makeOwn = (ip: number, ranges: string[]) => {
      const ob = podObjects(dir, ip);
      made.push(`add set ip ${T} ${ob.set} { ${SET_DECL} }`, `add chain ip ${T} ${ob.chain}`);
      for (const rule of judgeRules(dir, ob.set)) made.push(`add rule ip ${T} ${ob.chain} ${rule}`);
      made.push(...addElements(T, ob.set, ranges));
    };
    const unmakeOwn = (ip: number) => {
      const ob = podObjects(dir, ip);
      unmade.push(`flush chain ip ${T} ${ob.chain}`, `delete chain ip ${T} ${ob.chain}`, `delete set ip ${T} ${ob.set}`);
    };
    for (const [ip, r] of ma) {
      const old = mb.get(ip);
      // Most pods keep their rules (the compiler hands back the same array): nothing to split or compare.
      if (old && (old.elements === r.elements || sameList(old.elements, r.elements))) continue;
      const ob = podObjects(dir, ip);
      const b = splitElements(r.elements);
      const ownAfter = b.ranges.length > 0;
      if (!old) {
        made.push(`add counter ip ${T} ${ob.counter}`, `add element ip ${T} ${cmap} { ${formatIPv4(ip)} : "${ob.counter}" }`);
        if (ownAfter) makeOwn(ip, b.ranges);
        for (const k of exactKeys(ip, b.exact)) exactAdd.push(k);
        mapAdd.push(`${formatIPv4(ip)} : ${verdictOf(dir, ip, ownAfter)}`);
        continue;
      }
      const a = splitElements(old.elements);
      const ownBefore = a.ranges.length > 0;
      if (ownBefore && ownAfter && !sameList(a.ranges, b.ranges)) {
        // Element by element: the kernel frees what is deleted before it checks what is added for overlaps.
        const was = new Set(a.ranges);
        const now = new Set(b.ranges);
        made.push(
          ...deleteElements(
            T,
            ob.set,
            a.ranges.filter((e) => !now.has(e)),
          ),
        );
        made.push(
          ...addElements(
            T,
            ob.set,
            b.ranges.filter((e) => !was.has(e)),
          ),
        );
      } else if (ownBefore !== ownAfter) {
        // The pod moves between the shared judge and its own chain: its map element is replaced.
        if (ownAfter) makeOwn(ip, b.ranges);
        else unmakeOwn(ip);
        mapDel.push(formatIPv4(ip));
        mapAdd.push(`${formatIPv4(ip)} : ${verdictOf(dir, ip, ownAfter)}`);
      }
      if (!sameList(a.exact, b.exact)) {
        const was = new Set(a.exact);
        const now = new Set(b.exact);
        for (const k of exactKeys(
          ip,
          a.exact.filter((e) => !now.has(e)),
        ))
          exactDel.push(k);
        for (const k of exactKeys(
          ip,
          b.exact.filter((e) => !was.has(e)),
        ))
          exactAdd.push(k);
      }
    }
    for (const [ip, old] of mb) {
      if (ma.has(ip)) continue;
      const a = splitElements(old.elements);
      mapDel.push(formatIPv4(ip));
      for (const k of exactKeys(ip, a.exact)) exactDel.push(k);
      if (a.ranges.length) unmakeOwn(ip);
      const ob = podObjects(dir, ip);
      unmade.push(`delete element ip ${T} ${cmap} { ${formatIPv4(ip)} }`, `delete counter ip ${T} ${ob.counter}`);
    }
    out.push(...made);
    out.push(...deleteElements(T, EXACT_SET[dir], exactDel), ...addElements(T, EXACT_SET[dir], exactAdd));
    out.push(...deleteElements(T, vmap, mapDel), ...addElements(T, vmap, mapAdd));
    out.push(...unmade);
  }
  const ib = new Set(isolatedOf(before));
  const ia = new Set(isolatedOf(after));
  const added = [...ia].filter((x) => !ib.has(x)).map(formatIPv4);
  const gone = [...ib].filter((x) => !ia.has(x)).map(formatIPv4);
  out.push(
    ...addElements(T, 'isolated', added),
    ...addElements(
      T,
      'selfpairs',
      added.map((x) => `${x} . ${x}`),
    ),
  );
  out.push(
    ...deleteElements(T, 'isolated', gone),
    ...deleteElements(
      T,
      'selfpairs',
      gone.map((x) => `${x} . ${x}`),
    ),
  );
  return out.length ? `${out.join('\n')}\n` : '';
}
