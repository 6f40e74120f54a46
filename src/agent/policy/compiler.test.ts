// The compiler against the user-space judge: for random policies, namespaces and pods, every flow the
// compiled state (looked up as the kernel does: class of the peer, then the pod's interval set) allows is
// exactly what judge() allows; incremental compiles equal fresh ones; bad objects only ever deny.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies, PolicyCompiler, type PolicyState } from './compiler.js';
import { parsePod, parsePolicy, type Pod, type Policy } from './model.js';
import { judge } from './verdict.js';
import { formatIPv4, parseIPv4 } from '../../util/cidr.js';
import { fullRuleset, diffRuleset } from './ruleset.js';
import { randomCase, world, NODE } from './testing.js';

/** The kernel's lookup, in TypeScript: class by address, then membership in the pod's interval set. */
function simulate(s: PolicyState, dir: 'ingress' | 'egress', self: number, peer: number, proto: number, port: number): boolean {
  const rules = s[dir].get(self);
  if (!rules) return true;
  if (peer === self) return true;
  let cls = s.netClass.find((r) => peer >= r.lo && peer <= r.hi)!.cls;
  cls = s.podClass.get(peer) ?? cls;
  const local = s.podLocal.get(peer);
  return rules.elements.some((e) => {
    const [c, p, d] = e.split(' . ').map((x) => x.split('-').map(Number));
    const inside = (v: number, r: number[]) => v >= r[0] && v <= (r[1] ?? r[0]);
    return (inside(cls, c) || (local !== undefined && inside(local, c))) && inside(proto, p) && inside(port, d);
  });
}

test('compiled state allows exactly what the policies allow (random cases, every flow)', () => {
  const seen = { allowed: 0, denied: 0 };
  const addrs = ['10.244.0.10', '10.244.1.200', '192.168.5.5', '10.244.0.20'].map(parseIPv4);
  for (let seed = 1; seed <= 60; seed++) {
    const { nss, pods, policies } = randomCase(seed);
    const s = compilePolicies(NODE, policies, nss, pods);
    const w = world(policies, nss, pods);
    const peers = [...pods.map((p) => p.ip!), ...addrs];
    for (const p of pods) {
      if (p.nodeName !== NODE) continue;
      for (const q of peers) {
        for (const [proto, port] of [
          [6, 80],
          [6, 8080],
          [17, 53],
          [6, 5000],
          [17, 80],
          [132, 80],
          [1, 0],
        ]) {
          const vin = judge(w, { src: q, dst: p.ip!, proto, port: proto === 1 ? undefined : port });
          seen[vin.ingress.allowed ? 'allowed' : 'denied']++;
          assert.equal(
            simulate(s, 'ingress', p.ip!, q, proto, port),
            vin.ingress.allowed,
            `seed ${seed}: ingress ${formatIPv4(q)} → ${p.key} ${proto}/${port}: judge says ${vin.ingress.reason}`,
          );
          const vout = judge(w, { src: p.ip!, dst: q, proto, port: proto === 1 ? undefined : port });
          assert.equal(
            simulate(s, 'egress', p.ip!, q, proto, port),
            vout.egress.allowed,
            `seed ${seed}: egress ${p.key} → ${formatIPv4(q)} ${proto}/${port}: judge says ${vout.egress.reason}`,
          );
        }
      }
    }
  }
  // Both outcomes are common, or the comparison proves little.
  assert.ok(seen.allowed > 2000 && seen.denied > 2000, JSON.stringify(seen));
});

test('an incremental compiler agrees with a fresh one after every change, and diffs apply to the same text', () => {
  for (let seed = 100; seed < 120; seed++) {
    const { nss, pods, policies } = randomCase(seed);
    const c = new PolicyCompiler(NODE);
    for (const n of nss) c.setNamespace(n);
    let prev = c.compile();
    const live = { pods: [] as Pod[], policies: [] as Policy[] };
    const steps: (() => void)[] = [
      ...pods.map((p) => () => {
        c.setPod(p);
        live.pods.push(p);
      }),
      ...policies.map((p) => () => {
        c.setPolicy(p);
        live.policies.push(p);
      }),
      () => {
        const p = { ...live.pods[0], labels: { app: 'db' } };
        c.setPod(p);
        live.pods[0] = p;
      },
      () => {
        c.deletePolicy(live.policies[0].key);
        live.policies.shift();
      },
      () => {
        const n = { name: 'a', labels: { team: 'red', 'kubernetes.io/metadata.name': 'a' } };
        c.setNamespace(n);
        nss[0] = n;
      },
    ];
    for (const step of steps) {
      step();
      const inc = c.compile();
      const fresh = compilePolicies(NODE, live.policies, nss, live.pods);
      // Class numbers may differ; the meaning may not: compare through simulate on every flow.
      for (const p of live.pods.filter((x) => x.nodeName === NODE)) {
        for (const q of live.pods) {
          for (const [proto, port] of [
            [6, 80],
            [17, 53],
            [6, 8080],
          ]) {
            for (const dir of ['ingress', 'egress'] as const) {
              assert.equal(
                simulate(inc, dir, p.ip!, q.ip!, proto, port),
                simulate(fresh, dir, p.ip!, q.ip!, proto, port),
                `seed ${seed} ${dir} ${p.key} ${q.key}`,
              );
            }
          }
        }
      }
      assert.ok(fullRuleset(inc).length > 0);
      diffRuleset(prev, inc);
      prev = inc;
    }
  }
});

test('unreadable parts only deny: a rule with a bad port allows nothing, a bad podSelector leaves the policy out', () => {
  const bad = parsePolicy({ metadata: { name: 'x', namespace: 'a' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 'no such name!' }] }] } });
  assert.equal(bad.problems.length, 1);
  assert.deepEqual(bad.policy!.ingress, []); // isolated, nothing allowed
  const sel = parsePolicy({ metadata: { name: 'y', namespace: 'a' }, spec: { podSelector: { matchExpressions: [{ key: 'a', operator: 'Bogus' }] } } });
  assert.equal(sel.policy, undefined);
  const cidr = parsePolicy({ metadata: { name: 'z', namespace: 'a' }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.1/8' } }] }] } });
  assert.match(cidr.problems[0].message, /host bits/);
  assert.deepEqual(cidr.policy!.ingress, []);
  // Hostile strings never reach the text: only numbers and proven addresses do.
  const pod = parsePod({
    metadata: { name: 'p', namespace: 'a', uid: 'u', labels: { app: '"; flush ruleset' } },
    spec: { nodeName: NODE, containers: [] },
    status: { podIP: '10.0.0.5; flush' },
  });
  assert.equal(pod!.ip, undefined);
  const s = compilePolicies(NODE, [], [], [pod!]);
  assert.doesNotMatch(fullRuleset(s), /flush ruleset/);
});

test('policyTypes defaults: ingress always, egress when egress rules exist; empty from/ports mean everything', () => {
  const p = parsePolicy({ metadata: { name: 'd', namespace: 'a' }, spec: { podSelector: {}, egress: [{}] } }).policy!;
  assert.deepEqual(p.ingress, []);
  assert.deepEqual(p.egress, [{}]);
  const q = parsePolicy({ metadata: { name: 'e', namespace: 'a' }, spec: { podSelector: {}, egress: [] } }).policy!;
  assert.equal(q.egress, undefined);
});
