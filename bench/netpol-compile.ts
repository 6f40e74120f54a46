// The policy compiler alone, CPU time (process.cpuUsage around the synchronous compile; the machine is
// shared, so wall time would carry everyone's load): the world of bench/netpol.ts (1,001 policies, 1,002
// pods, node a), then the enforcement benchmark's changes. Anchor, same run, interleaved: the same state
// compiled from nothing by a fresh compiler (`compilePolicies`), i.e. what a change would cost if the
// compiler kept nothing between calls. No root, no kernel.
//   node dist/bench/netpol-compile.js [--changes 150]
import { loadavg } from 'node:os';
import { compilePolicies, PolicyCompiler } from '../src/agent/policy/compiler.js';
import { parseNamespace, parsePod, parsePolicy, type Namespace, type Pod, type Policy } from '../src/agent/policy/model.js';
import { fmt, summarize, table } from './lib.js';
import { change, ns, NAMESPACES, pods, policies } from './netpol-world.js';

const args = process.argv.slice(2);
const i = args.indexOf('--changes');
const CHANGES = i >= 0 ? Number(args[i + 1]) : 150;

const cpu = (f: () => void): number => {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};

const nss: Namespace[] = Array.from({ length: NAMESPACES }, (_, k) => parseNamespace(ns(k))!);
const podList: Pod[] = pods().map((p) => parsePod(p)!);
const pols = new Map<string, Policy>(
  policies().map((p) => {
    const x = parsePolicy(p).policy!;
    return [x.key, x];
  }),
);

const c = new PolicyCompiler('a');
for (const n of nss) c.setNamespace(n);
for (const p of podList) c.setPod(p);
for (const p of pols.values()) c.setPolicy(p);
const first = cpu(() => c.compile());
const inc: number[] = [];
const fresh: number[] = [];
for (let j = 0; j < CHANGES; j++) {
  const ch = change(j);
  const p = parsePolicy(ch.policy).policy!;
  if (ch.type === 'DELETED') {
    c.deletePolicy(p.key);
    pols.delete(p.key);
  } else {
    c.setPolicy(p);
    pols.set(p.key, p);
  }
  inc.push(cpu(() => c.compile()));
  // The anchor on every fifth change (it is slow): the same inputs, compiled from nothing.
  if (j % 5 === 0) fresh.push(cpu(() => compilePolicies('a', [...pols.values()], nss, podList)));
}
const a = summarize(inc);
const f = summarize(fresh);
console.log(
  `\nPolicy compiler, ${pols.size} policies, ${podList.length} pods, node a; CPU ms; load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}\n`,
);
console.log(
  table([
    ['measure', 'ours p50 / p90 / max', 'anchor (same run)', 'anchor p50 / p90', 'ratio p50'],
    ['first compile of the world', fmt(first), '', '', ''],
    [
      `compile after one change (${CHANGES} changes)`,
      `${fmt(a.p50)} / ${fmt(a.p90)} / ${fmt(a.max)}`,
      `fresh compiler, same state (${fresh.length})`,
      `${fmt(f.p50)} / ${fmt(f.p90)}`,
      fmt(a.p50 / f.p50),
    ],
  ]),
);
