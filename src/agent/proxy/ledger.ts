// Reference-counted union of per-service ruleset fragments, so one service's change yields exactly the
// nftables elements and chains that differ, even when two services share an element (a hairpin pair, a
// pick chain) or briefly claim the same address.
import { CONTAINERS, emptyDesired, type Container, type Desired } from './ruleset.js';

/** The values wanted for one key with how many fragments want each; almost always exactly one. */
type Counted = [value: string, count: number][];

export class Ledger {
  /** container → key → value → how many fragments want it; the first value present wins. */
  private readonly els = new Map<Container, Map<string, Counted>>(CONTAINERS.map((c) => [c, new Map()]));
  private readonly chains = new Map<string, Counted>();
  private readonly sets = new Map<string, Counted>();

  /**
   * Replace fragments (each `from` by its `to`) in one go; returns the old and new effective state of
   * everything touched, taken before the first and after the last replacement.
   */
  replace(changes: [from: Desired | undefined, to: Desired | undefined][], snapshots = true): { before: Desired; after: Desired } {
    const before = emptyDesired();
    const after = emptyDesired();
    if (!snapshots) {
      for (const [from, to] of changes) {
        if (from) this.count(from, -1);
        if (to) this.count(to, +1);
      }
      return { before, after };
    }
    const touched = new Map<Container, Set<string>>(CONTAINERS.map((c) => [c, new Set()]));
    const touchedChains = new Set<string>();
    const touchedSets = new Set<string>();
    for (const frag of changes.flat()) {
      if (!frag) continue;
      for (const [c, m] of frag.elements) for (const k of m.keys()) touched.get(c as Container)!.add(k);
      for (const n of frag.chains.keys()) touchedChains.add(n);
      for (const n of frag.affinitySets.keys()) touchedSets.add(n);
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
    for (const [from, to] of changes) {
      if (from) this.count(from, -1);
      if (to) this.count(to, +1);
    }
    snapshot(after);
    return { before, after };
  }

  private count(frag: Desired, delta: number): void {
    for (const [c, m] of frag.elements) {
      const table = this.els.get(c as Container)!;
      for (const [k, v] of m) bump(table, k, v, delta);
    }
    for (const [n, rules] of frag.chains) bump(this.chains, n, rules.join('\n'), delta);
    for (const [n, secs] of frag.affinitySets) bump(this.sets, n, String(secs), delta);
  }

  /** Everything currently wanted (maxPick is left at 0: the caller knows it per fragment), for a full rewrite or a comparison with the kernel. */
  effective(): Desired {
    const d = emptyDesired();
    for (const [c, m] of this.els) for (const [k, vals] of m) d.elements.get(c)!.set(k, first(vals)!);
    for (const [n, vals] of this.chains) d.chains.set(n, first(vals)!.split('\n'));
    for (const [n, vals] of this.sets) d.affinitySets.set(n, Number(first(vals)));
    return d;
  }
}

function bump(table: Map<string, Counted>, key: string, value: string, delta: number): void {
  const vals = table.get(key);
  if (!vals) {
    if (delta > 0) table.set(key, [[value, delta]]);
    return;
  }
  const i = vals.findIndex((v) => v[0] === value);
  if (i < 0) {
    if (delta > 0) vals.push([value, delta]);
    return;
  }
  vals[i][1] += delta;
  if (vals[i][1] <= 0) vals.splice(i, 1);
  if (vals.length === 0) table.delete(key);
}

const first = (m: Counted | undefined): string | undefined => m?.[0]?.[0];
