// Preflight: missing commands with their Debian packages, ranges that collide with routes and addresses
// (a fake host in a throwaway namespace, never the real host's tables), kernel probes, busy ports.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { run } from '../util/exec.js';
import type { HostNet } from './hostnet.js';
import { type ClusterPlan, planCluster, releasePlan, reservePlan } from './plan.js';
import { bootId, checkKernel, checkKernelOnce, checkRanges, preflight } from './preflight.js';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { NEEDS_ROOT, netnsList, tempHome } from './testkit.js';

const emptyHost: HostNet = { routes: [], addresses: [], links: [], netns: [] };

async function fakePlan(extra: { store?: 'sqlite' | 'etcd'; apiPort?: number } = {}): Promise<{ plan: ClusterPlan; cleanup(): Promise<void> }> {
  const t = await tempHome();
  const plan = await planCluster({ name: 'pre', nodes: 2, home: t.home, runDir: `${t.home}/run`, host: emptyHost, ...extra });
  return { plan, cleanup: t.cleanup };
}

test('every missing command is reported at once, with its Debian package', async () => {
  const empty = await tempHome();
  const { plan, cleanup } = await fakePlan({ store: 'etcd' });
  try {
    const problems = await preflight(plan, { searchPath: empty.home, host: emptyHost, probeKernel: false, checkPorts: false });
    const missing = problems.filter((p) => p.code === 'MissingCommand').map((p) => p.message);
    assert.deepEqual(missing, [
      'ip: not found (install the Debian package iproute2: apt-get install iproute2)',
      'nft: not found (install the Debian package nftables: apt-get install nftables)',
      'runc: not found (install the Debian package runc: apt-get install runc)',
      'busybox: not found (install the Debian package busybox-static: apt-get install busybox-static)',
      'nsenter: not found (install the Debian package util-linux: apt-get install util-linux)',
      'openssl: not found (install the Debian package openssl: apt-get install openssl)',
      'conntrack: not found (install the Debian package conntrack: apt-get install conntrack)',
      'tcpdump: not found (install the Debian package tcpdump: apt-get install tcpdump)',
      'etcd: not found (install the Debian package etcd-server: apt-get install etcd-server)',
    ]);
    const sqlite = { ...plan, store: 'sqlite' as const, etcd: undefined };
    const without = await preflight(sqlite, { searchPath: empty.home, host: emptyHost, probeKernel: false, checkPorts: false });
    assert.ok(!without.some((p) => p.message.startsWith('etcd:')));
  } finally {
    await cleanup();
    await empty.cleanup();
  }
});

test('ranges that overlap each other are reported', async () => {
  const { plan, cleanup } = await fakePlan();
  try {
    const problems = checkRanges({ ...plan, serviceCIDR: '10.244.128.0/20' }, emptyHost);
    assert.equal(problems.length, 1);
    assert.equal(problems[0].code, 'RangeCollision');
    assert.match(problems[0].message, /^cluster CIDR 10\.244\.0\.0\/16 collides with the service CIDR 10\.244\.128\.0\/20/);
  } finally {
    await cleanup();
  }
});

test('a port in use is reported', async () => {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const { plan, cleanup } = await fakePlan({ apiPort: port });
  try {
    const problems = await preflight(plan, { host: emptyHost, probeKernel: false });
    const p = problems.find((x) => x.code === 'PortInUse');
    assert.ok(p, JSON.stringify(problems));
    assert.match(p.message, new RegExp(`^port ${port} \\(API server\\) on 127\\.0\\.0\\.1 is not free: EADDRINUSE`));
  } finally {
    server.close();
    await cleanup();
  }
});

describe('preflight as root', { skip: NEEDS_ROOT }, () => {
  const ns = `k8tstest-pre-${process.pid}`;
  before(async () => {
    await run(['ip', 'netns', 'add', ns]);
    // The fake host: its routes and addresses exist only inside this namespace.
    await run(['ip', '-n', ns, '-batch', '-'], {
      input:
        [
          'link add d0 type veth peer name d1',
          'link set d1 up',
          'link set d0 up',
          'addr add 10.96.5.5/24 dev d0',
          'route add 172.30.0.128/25 dev d0',
          'route add 10.0.0.0/8 dev d0 table 100',
        ].join('\n') + '\n',
    });
  });
  after(async () => {
    await run(['ip', 'netns', 'del', ns]).catch(() => {});
    // (Other lab tests may be adding and removing their own clusters meanwhile, so only ours are looked for.)
    const host = (await run(['ip', '-4', 'route', 'show', 'table', 'all'])).stdout + (await run(['ip', '-4', 'addr', 'show'])).stdout;
    for (const fake of ['172.30.0.128/25', '10.96.5', 'table 100', 'd0']) assert.ok(!host.includes(fake), `${fake} never reached the host`);
  });

  test('ranges colliding with routes (any table) and addresses name the range and the route', async () => {
    const { plan, cleanup } = await fakePlan();
    try {
      const problems = await preflight(plan, { netns: ns, probeKernel: false, checkPorts: false });
      const msgs = problems.filter((p) => p.code === 'RangeCollision').map((p) => p.message);
      assert.ok(
        msgs.includes('node network 172.30.0.0/24 collides with the host route "172.30.0.128/25 dev d0 table main"; choose another node network'),
        msgs.join('\n'),
      );
      assert.ok(msgs.includes('service CIDR 10.96.0.0/16 collides with the host address 10.96.5.5/24 on d0; choose another service CIDR'), msgs.join('\n'));
      assert.ok(
        msgs.includes('service CIDR 10.96.0.0/16 collides with the host route "10.96.5.0/24 dev d0 table main"; choose another service CIDR'),
        msgs.join('\n'),
      );
      for (const what of ['node network', 'cluster CIDR', 'service CIDR']) {
        assert.ok(
          msgs.includes(
            `${what} ${plan[what === 'node network' ? 'nodeNetwork' : what === 'cluster CIDR' ? 'clusterCIDR' : 'serviceCIDR']} collides with the host route "10.0.0.0/8 dev d0 table 100"; choose another ${what}`,
          ) ===
            (what !== 'node network'),
          what,
        );
      }
      // The same plan against a namespace without those routes is clean.
      await run(['ip', '-n', ns, 'link', 'del', 'd0']);
      const clean = await preflight(plan, { netns: ns, probeKernel: false, checkPorts: false });
      assert.deepEqual(
        clean.filter((p) => p.code === 'RangeCollision'),
        [],
      );
    } finally {
      await cleanup();
    }
  });

  test('the kernel has what the lab needs, and the probe namespace is gone afterwards', async () => {
    assert.deepEqual(await checkKernel(), []);
    assert.ok(!(await netnsList()).some((n) => n.startsWith(`k8tsprobe-${process.pid}-`)));
  });

  test('a kernel probe that passed is remembered for this boot only, and a proof of another boot is probed again', async () => {
    const t = await tempHome();
    try {
      const proof = `${t.home}/kernel-probe.json`;
      assert.deepEqual(await checkKernelOnce({}, t.home), []);
      assert.deepEqual(JSON.parse(readFileSync(proof, 'utf8')), { boot: bootId(), nft: true });
      // Remembered: not probed (nor written) again.
      const before = statSync(proof).mtimeMs;
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(await checkKernelOnce({}, t.home), []);
      assert.equal(statSync(proof).mtimeMs, before);
      // A proof without nf_tables does not stand for one with it; another boot's, or garbage, is probed again.
      for (const text of [JSON.stringify({ boot: bootId(), nft: false }), JSON.stringify({ boot: 'another-boot', nft: true }), '{garbage']) {
        writeFileSync(proof, text);
        assert.deepEqual(await checkKernelOnce({}, t.home), []);
        assert.deepEqual(JSON.parse(readFileSync(proof, 'utf8')), { boot: bootId(), nft: true }, text);
      }
      assert.ok(!(await netnsList()).some((n) => n.startsWith(`k8tsprobe-${process.pid}-`)));
    } finally {
      await t.cleanup();
    }
  });

  test('a plan made against the real host passes preflight', async () => {
    const t = await tempHome();
    try {
      // Reserved, so that a concurrent `up` does not take the same index while we look.
      const plan = await reservePlan({ name: 'real', nodes: 2, home: t.home });
      try {
        assert.deepEqual(await preflight(plan), []);
      } finally {
        await releasePlan(plan);
      }
    } finally {
      await t.cleanup();
    }
  });
});
