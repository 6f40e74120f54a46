// Reference-counted union of per-service ruleset fragments, so one service's change yields exactly the
// nftables elements and chains that differ, even when two services share an element (a hairpin pair, a
// pick chain) or briefly claim the same address.
import {
  CONTAINERS,
  elementText,
  emptyDesired,
  loadKey,
  toFragment,
  type Container,
  type Desired,
  type Fragment,
  type TableContent,
  type WantedCounts,
} from './ruleset.js';

/** The values wanted for one key with how many fragments want each. */
type Counted = [value: string, count: number][];
/**
 * A key's slot: a plain string when exactly one fragment wants it (nearly always, and it costs no allocation
 * at 10,000s of elements), else the counted values; the first value present wins.
 */
type Slot = string | Counted;

export class Ledger {
  private readonly els = new Map<string, Map<string, Slot>>(CONTAINERS.map((c) => [c, new Map()]));
  private readonly chains = new Map<string, Slot>();
  private readonly sets = new Map<string, Slot>();

  /**
   * Replace fragments (each `from` by its `to`) in one go; returns the old and new effective state of
   * everything touched, taken before the first and after the last replacement (left empty when `snapshots`
   * is false, for a full rewrite that needs none).
   */
  replace(changes: [from: Fragment | Desired | undefined, to: Fragment | Desired | undefined][], snapshots = true): { before: Desired; after: Desired } {
    const before = emptyDesired();
    const after = emptyDesired();
    const frags = changes.map(([from, to]) => [asFragment(from), asFragment(to)] as const);
    if (!snapshots) {
      for (const [from, to] of frags) {
        if (from) this.count(from, -1);
        if (to) this.count(to, +1);
      }
      return { before, after };
    }
    const touched = new Map<string, Set<string>>(CONTAINERS.map((c) => [c, new Set()]));
    const touchedChains = new Set<string>();
    const touchedSets = new Set<string>();
    for (const frag of frags.flat()) {
      if (!frag) continue;
      for (let i = 0; i < frag.els.length; i += 3) touched.get(frag.els[i])!.add(frag.els[i + 1]);
      for (const n of frag.chains?.keys() ?? []) touchedChains.add(n);
      for (const n of frag.affinitySets?.keys() ?? []) touchedSets.add(n);
    }
    const snapshot = (into: Desired) => {
      for (const [c, keys] of touched) {
        const m = this.els.get(c)!;
        for (const k of keys) {
          const v = first(m.get(k));
          if (v !== undefined) into.elements.get(c)!.set(k, v);
        }
      }
      for (const n of touchedChains) {
        const v = first(this.chains.get(n));
        if (v !== undefined) into.chains.set(n, v.split('\n'));
      }
      for (const n of touchedSets) {
        const v = first(this.sets.get(n));
        if (v !== undefined) into.affinitySets.set(n, Number(v));
      }
    };
    snapshot(before);
    for (const [from, to] of frags) {
      if (from) this.count(from, -1);
      if (to) this.count(to, +1);
    }
    snapshot(after);
    return { before, after };
  }

  private count(frag: Fragment, delta: number): void {
    const els = frag.els;
    for (let i = 0; i < els.length; i += 3) bump(this.els.get(els[i])!, els[i + 1], els[i + 2], delta);
    if (frag.chains) for (const [n, rules] of frag.chains) bump(this.chains, n, rules.join('\n'), delta);
    if (frag.affinitySets) for (const [n, secs] of frag.affinitySets) bump(this.sets, n, String(secs), delta);
  }

  /**
   * How many elements each container wants and how many rules each chain, for the periodic comparison with
   * the kernel: counted, not copied (copying 50,000 elements into maps held the agent's event loop 17–48 ms
   * per comparison at 10,000 services, and a change arriving then waited for it; 0.45 s of the agent's CPU
   * over one run of bench/services.ts).
   */
  counts(): WantedCounts {
    const elements = new Map<Container, number>();
    for (const [c, m] of this.els) elements.set(c as Container, m.size);
    const chains = new Map<string, number>();
    for (const [n, slot] of this.chains) chains.set(n, ruleCount(first(slot)!));
    return { elements, chains };
  }

  /** How many elements are wanted in all. */
  size(): number {
    let n = 0;
    for (const m of this.els.values()) n += m.size;
    return n;
  }

  /** Calls `emit` with each wanted element of a container, its key as the model writes it (protocol names). */
  eachElement(c: Container, emit: (key: string, value: string) => void): void {
    for (const [k, slot] of this.els.get(c)!) emit(k, typeof slot === 'string' ? slot : slot[0][0]);
  }

  /** Everything currently wanted, in the form a full rewrite writes (see tableText). */
  content(): TableContent {
    const chains = new Map<string, string[]>();
    for (const [n, slot] of this.chains) chains.set(n, first(slot)!.split('\n'));
    const affinitySets = new Map<string, number>();
    for (const [n, slot] of this.sets) affinitySets.set(n, Number(first(slot)));
    const elements = (c: Container) => {
      const out: string[] = [];
      for (const [k, slot] of this.els.get(c)!) out.push(elementText(loadKey(c, k), typeof slot === 'string' ? slot : slot[0][0]));
      return out;
    };
    return { elements, chains, affinitySets };
  }
}

const asFragment = (x: Fragment | Desired | undefined): Fragment | undefined => (x === undefined || 'els' in x ? x : toFragment(x));

function bump(table: Map<string, Slot>, key: string, value: string, delta: number): void {
  const slot = table.get(key);
  if (slot === undefined) {
    if (delta === 1) table.set(key, value);
    else if (delta > 0) table.set(key, [[value, delta]]);
    return;
  }
  if (typeof slot === 'string') {
    if (slot === value) {
      if (delta < 0) table.delete(key);
      else if (delta > 0) table.set(key, [[value, 1 + delta]]);
    } else if (delta > 0)
      table.set(key, [
        [slot, 1],
        [value, delta],
      ]);
    return;
  }
  const i = slot.findIndex((v) => v[0] === value);
  if (i < 0) {
    if (delta > 0) slot.push([value, delta]);
    return;
  }
  slot[i][1] += delta;
  if (slot[i][1] <= 0) slot.splice(i, 1);
  if (slot.length === 0) table.delete(key);
  else if (slot.length === 1 && slot[0][1] === 1) table.set(key, slot[0][0]);
}

/** Rules of a chain as the ledger keeps them: one per line. */
const ruleCount = (rules: string) => {
  let n = 1;
  for (let i = rules.indexOf('\n'); i >= 0; i = rules.indexOf('\n', i + 1)) n++;
  return n;
};

const first = (slot: Slot | undefined): string | undefined => (slot === undefined || typeof slot === 'string' ? slot : slot[0]?.[0]);
