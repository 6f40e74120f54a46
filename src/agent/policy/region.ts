// Sets of (protocol, port) as disjoint boxes: what one rule, or the union of rules, allows to one peer
// class. The kernel's concatenated interval sets refuse (or mis-store) overlapping elements, so every
// element the engine writes comes out of these disjoint boxes.

/** A closed interval of integers. */
export type Interval = [number, number];

/** Every protocol with every port (`all`), or per protocol number the port intervals (sorted, disjoint, merged). */
export interface Region {
  all: boolean;
  protos: Map<number, Interval[]>;
}

export interface Box {
  proto: Interval;
  port: Interval;
}

export const MAX_PORT = 65535;

export function emptyRegion(): Region {
  return { all: false, protos: new Map() };
}

export function isEmpty(r: Region): boolean {
  return !r.all && r.protos.size === 0;
}

/** Merge sorted-or-not intervals into sorted disjoint ones (adjacent ones joined). */
export function mergeIntervals(xs: Interval[]): Interval[] {
  if (xs.length < 2) return xs.map((x) => [x[0], x[1]]);
  const s = [...xs].sort((a, b) => a[0] - b[0]);
  const out: Interval[] = [[s[0][0], s[0][1]]];
  for (let i = 1; i < s.length; i++) {
    const last = out[out.length - 1];
    if (s[i][0] <= last[1] + 1) last[1] = Math.max(last[1], s[i][1]);
    else out.push([s[i][0], s[i][1]]);
  }
  return out;
}

/** a minus b, both sorted and disjoint. */
export function subtractIntervals(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const [lo0, hi] of a) {
    let lo = lo0;
    for (const [blo, bhi] of b) {
      if (bhi < lo || blo > hi) continue;
      if (blo > lo) out.push([lo, blo - 1]);
      lo = bhi + 1;
      if (lo > hi) break;
    }
    if (lo <= hi) out.push([lo, hi]);
  }
  return out;
}

/** Add everything (`all`) or one protocol's port interval to r, in place. */
export function addToRegion(r: Region, what: 'all' | { proto: number; ports: Interval }): void {
  if (r.all) return;
  if (what === 'all') {
    r.all = true;
    r.protos.clear();
    return;
  }
  const cur = r.protos.get(what.proto);
  r.protos.set(what.proto, mergeIntervals(cur ? [...cur, what.ports] : [what.ports]));
}

/** a minus b as disjoint boxes. */
export function subtractBoxes(a: Region, b: Region): Box[] {
  if (b.all || isEmpty(a)) return [];
  const out: Box[] = [];
  if (a.all) {
    // Every protocol b names keeps the ports b does not cover; the protocols between them keep everything.
    const named = [...b.protos.keys()].sort((x, y) => x - y);
    let next = 0;
    for (const p of named) {
      if (p > next) out.push({ proto: [next, p - 1], port: [0, MAX_PORT] });
      for (const iv of subtractIntervals([[0, MAX_PORT]], b.protos.get(p)!)) out.push({ proto: [p, p], port: iv });
      next = p + 1;
    }
    if (next <= 255) out.push({ proto: [next, 255], port: [0, MAX_PORT] });
    return out;
  }
  for (const p of [...a.protos.keys()].sort((x, y) => x - y)) {
    const rest = subtractIntervals(a.protos.get(p)!, b.protos.get(p) ?? []);
    for (const iv of rest) out.push({ proto: [p, p], port: iv });
  }
  return out;
}

export function regionBoxes(r: Region): Box[] {
  return subtractBoxes(r, emptyRegion());
}

/** Whether (proto, port) lies in r. */
export function regionHas(r: Region, proto: number, port: number | undefined): boolean {
  if (r.all) return true;
  const ivs = r.protos.get(proto);
  if (!ivs || port === undefined) return false;
  return ivs.some(([lo, hi]) => port >= lo && port <= hi);
}

const iv = ([lo, hi]: Interval) => (lo === hi ? `${lo}` : `${lo}-${hi}`);

/**
 * One element of a `ct mark . meta l4proto . th dport` interval set. The class is always written as a range:
 * nft 1.0.6 cannot delete an element whose every field is a single value (it adds it, then answers ENOENT).
 */
export function elementText(cls: Interval, b: Box): string {
  return `${cls[0]}-${cls[1]} . ${iv(b.proto)} . ${iv(b.port)}`;
}
