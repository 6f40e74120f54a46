// The programmer against the kernel: random worlds changed step by step, each step one `nft -f` difference
// in a throwaway namespace, and after every step the kernel's maps and sets read back and compared with the
// compiled state, element by element; a hostile table flush is put right by the probe.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { run } from '../../util/exec.js';
import { formatIPv4, parseIPv4 } from '../../util/cidr.js';
import { PolicyCompiler, type PolicyState } from './compiler.js';
import { PolicyProgrammer } from './programmer.js';
import { EXACT_SET, podObjects, SELF_CLASS } from './ruleset.js';
import { randomCase, NODE } from './testing.js';

const IS_ROOT = process.getuid?.() === 0;
const skip = IS_ROOT ? false : 'needs root: network namespaces and nftables';
const ns = `k8tsnpt-${randomBytes(3).toString('hex')}`;
const netns = `/run/netns/${ns}`;

before(async () => {
  if (!IS_ROOT) return;
  await run(['ip', 'netns', 'add', ns]);
});
after(async () => {
  if (!IS_ROOT) return;
  await run(['ip', 'netns', 'del', ns]).catch(() => undefined);
});

/** A value in `nft -j` output: a number, a number or protocol name as text, a range, or a prefix. */
type NftValue = number | string | { range?: [NftValue, NftValue]; prefix?: { addr: NftValue; len: number } };
/** One element of an `nft -j` set or map, in the views these checks take of it: a map's `[key, value]` pair or
 *  an address set's `[address]`, and a concatenation, bare or wrapped in `elem` (when it carries flags). */
interface NftElem {
  0: NftValue;
  1: NftValue;
  concat: NftValue[];
  elem?: { val: { concat: NftValue[] } };
}
interface NftSetJson {
  name: string;
  elem?: NftElem[];
}

/**
 * The kernel's view, normalised: "ip : class" of podclass (and "ip : local class" of podlocal), the isolated pods (the ingress and egress maps' keys,
 * as set names), and per pod set its elements as numbers: its own interval set's and its keys in the shared exact set.
 */
async function kernel(table: string): Promise<{ podclass: string[]; isolated: string[]; sets: Map<string, string[]> }> {
  const { stdout } = await run(['nsenter', `--net=${netns}`, '--', 'nft', '-j', 'list', 'table', 'ip', table]);
  const podclass: string[] = [];
  const isolated: string[] = [];
  const sets = new Map<string, string[]>();
  const val = (v: NftValue): [number, number] => {
    if (typeof v === 'number') return [v, v];
    if (typeof v === 'string') return v === 'tcp' ? [6, 6] : v === 'udp' ? [17, 17] : v === 'sctp' ? [132, 132] : [Number(v), Number(v)];
    if (v.range) return [val(v.range[0])[0], val(v.range[1])[0]];
    if (v.prefix) {
      const base = val(v.prefix.addr)[0];
      return [base, base + 2 ** (32 - v.prefix.len) - 1];
    }
    throw new Error(`unexpected ${JSON.stringify(v)}`);
  };
  for (const it of (JSON.parse(stdout) as { nftables: { set?: NftSetJson; map?: NftSetJson }[] }).nftables) {
    const s = it.map ?? it.set;
    if (!s) continue;
    if (s.name === 'podclass') for (const [k, v] of (s.elem ?? []).map((e) => [e[0], e[1]])) podclass.push(`${k} : ${v}`);
    if (s.name === 'podlocal') for (const [k, v] of (s.elem ?? []).map((e) => [e[0], e[1]])) podclass.push(`${k} : local ${v}`);
    if (s.name === 'ingress' || s.name === 'egress')
      for (const e of s.elem ?? []) isolated.push(podObjects(s.name === 'ingress' ? 'in' : 'out', parseIPv4(String(e[0]))).set);
    if (/^(in|out)-/.test(s.name)) {
      // The self class every egress set holds comes from the ruleset, not the compiler.
      const els = (s.elem ?? [])
        .map((e) => (e.elem?.val ?? e).concat.map((x) => val(x).join('-')).join(' . '))
        .filter((x: string) => !x.startsWith(`${SELF_CLASS}-`));
      sets.set(s.name, [...(sets.get(s.name) ?? []), ...els]);
    }
    // The shared exact sets: address . class . protocol . port, each pod's keys beside its own set's elements.
    if (s.name === EXACT_SET.in || s.name === EXACT_SET.out) {
      const dir = s.name === EXACT_SET.in ? 'in' : 'out';
      for (const e of s.elem ?? []) {
        const [addr, ...rest] = (e.elem?.val ?? e).concat;
        const name = podObjects(dir, parseIPv4(String(addr))).set;
        sets.set(name, [...(sets.get(name) ?? []), rest.map((x) => val(x).join('-')).join(' . ')]);
      }
    }
  }
  for (const [k, v] of sets) sets.set(k, canon(v));
  return { podclass: podclass.sort(), isolated: isolated.sort(), sets };
}

/** Elements as single classes where a class run is short (the two sets write such runs differently). */
function canon(els: string[]): string[] {
  const out: string[] = [];
  for (const e of els) {
    const [cls, ...rest] = e.split(' . ');
    const [lo, hi] = cls.split('-').map(Number);
    if (hi - lo < 64) for (let c = lo; c <= hi; c++) out.push([`${c}-${c}`, ...rest].join(' . '));
    else out.push(e);
  }
  return out.sort();
}

function want(s: PolicyState): { podclass: string[]; sets: Map<string, string[]> } {
  const sets = new Map<string, string[]>();
  for (const [dir, m] of [
    ['in', s.ingress],
    ['out', s.egress],
  ] as const) {
    for (const r of m.values()) {
      sets.set(
        podObjects(dir, r.ip).set,
        canon(
          r.elements.map((e) =>
            e
              .split(' . ')
              .map((x) => (x.includes('-') ? x : `${x}-${x}`))
              .join(' . '),
          ),
        ),
      );
    }
  }
  const podclass = [...[...s.podClass].map(([ip, c]) => `${formatIPv4(ip)} : ${c}`), ...[...s.podLocal].map(([ip, c]) => `${formatIPv4(ip)} : local ${c}`)];
  return { podclass: podclass.sort(), sets };
}

test('every difference leaves the kernel holding exactly the compiled state (random worlds, step by step)', { skip }, async () => {
  const table = `k8tsnpt-${randomBytes(3).toString('hex')}`;
  const prog = new PolicyProgrammer({ netns, table, noGuard: true });
  try {
    for (let seed = 200; seed < 206; seed++) {
      const { nss, pods, policies } = randomCase(seed);
      const c = new PolicyCompiler(NODE);
      for (const n of nss) c.setNamespace(n);
      const steps: (() => void)[] = [
        ...pods.map((p) => () => c.setPod(p)),
        ...policies.map((p) => () => c.setPolicy(p)),
        () => c.setPod({ ...pods[0], labels: { app: 'db', tier: 'x' } }),
        () => c.deletePolicy(policies[1].key),
        () => c.setNamespace({ name: 'a', labels: { team: 'red', 'kubernetes.io/metadata.name': 'a' } }),
        () => c.deletePod(pods[2].key),
        () => c.setPolicy(policies[1]),
      ];
      for (const [i, step] of steps.entries()) {
        step();
        const s = c.compile();
        await prog.apply(s);
        const k = await kernel(table);
        const w = want(s);
        // While no local pod is isolated nothing is judged, and the classes are not written (they follow
        // with the first isolation): then the kernel's may lag.
        if (w.sets.size) assert.deepEqual(k.podclass, w.podclass, `seed ${seed} step ${i}: podclass`);
        assert.deepEqual(k.isolated, [...w.sets.keys()].sort(), `seed ${seed} step ${i}: which pods are isolated`);
        for (const name of k.sets.keys()) assert.ok(w.sets.has(name), `seed ${seed} step ${i}: ${name} has elements but is not isolated`);
        for (const [name, els] of w.sets) assert.deepEqual(k.sets.get(name) ?? [], els, `seed ${seed} step ${i}: set ${name}`);
      }
    }
    assert.equal(prog.stats.fullLoads, 1, 'one full load, then only differences');
  } finally {
    await prog.teardown();
  }
});

test('while no local pod is isolated, pod changes are not written; the change that isolates one writes them all', { skip }, async () => {
  const table = `k8tsnpt-${randomBytes(3).toString('hex')}`;
  const prog = new PolicyProgrammer({ netns, table, noGuard: true });
  try {
    const { nss, pods, policies } = randomCase(11);
    const c = new PolicyCompiler(NODE);
    for (const n of nss) c.setNamespace(n);
    await prog.apply(c.compile());
    assert.equal(prog.stats.fullLoads, 1, 'the table is made at once');
    for (const p of pods) {
      c.setPod(p);
      await prog.apply(c.compile());
    }
    assert.equal(prog.stats.idleSkips, pods.length, 'no transaction per pod');
    assert.deepEqual([...prog.state.local], [...c.compile().local], 'which pods are local is known at once');
    assert.deepEqual((await kernel(table)).podclass, []);
    const isolating = policies.find((p) => {
      const probe = new PolicyCompiler(NODE);
      for (const n of nss) probe.setNamespace(n);
      for (const q of pods) probe.setPod(q);
      probe.setPolicy(p);
      const st = probe.compile();
      return st.ingress.size + st.egress.size > 0;
    });
    assert.ok(isolating, 'the random world has a policy that isolates a local pod');
    c.setPolicy(isolating);
    const s = c.compile();
    await prog.apply(s);
    const k = await kernel(table);
    const w = want(s);
    assert.deepEqual(k.podclass, w.podclass, 'every class written with the first isolation');
    assert.deepEqual(k.isolated, [...w.sets.keys()].sort());
  } finally {
    await prog.teardown();
  }
});

test('a table deleted from outside is rewritten by the probe', { skip }, async () => {
  const table = `k8tsnpt-${randomBytes(3).toString('hex')}`;
  const prog = new PolicyProgrammer({ netns, table, noGuard: true, checkMs: 100 });
  try {
    const { nss, pods, policies } = randomCase(7);
    const c = new PolicyCompiler(NODE);
    for (const n of nss) c.setNamespace(n);
    for (const p of pods) c.setPod(p);
    for (const p of policies) c.setPolicy(p);
    const s = c.compile();
    await prog.apply(s);
    prog.watch();
    await run(['nsenter', `--net=${netns}`, '--', 'nft', 'delete', 'table', 'ip', table]);
    const t0 = Date.now();
    for (;;) {
      const ok = await run(['nsenter', `--net=${netns}`, '--', 'nft', 'list', 'set', 'ip', table, 'alive']).then(
        () => true,
        () => false,
      );
      if (ok) break;
      assert.ok(Date.now() - t0 < 5000, 'back within 5 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    await prog.stop();
    const w = want(s);
    const k = await kernel(table);
    assert.deepEqual(k.podclass, w.podclass);
    assert.equal(prog.stats.recoveries, 1);
  } finally {
    await prog.teardown();
  }
});
