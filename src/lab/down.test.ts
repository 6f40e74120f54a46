// `down` leaves nothing of its cluster (processes, namespaces, links, nftables tables, mounts, files) and
// does not touch another cluster that is up at the same time.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../util/exec.js';
import { claimPath } from './claims.js';
import { down, downPlan, killInNetns, recordNetns } from './down.js';
import { LabError } from './errors.js';
import { mountsUnder } from './mounts.js';
import type { ClusterPlan } from './plan.js';
import { startProcess } from './procs.js';
import { up } from './up.js';
import { NEEDS_ROOT, captureLog, hostLinkIndexes, hostLinks, netnsList, ping, stemLinkIndexes, tempHome, uniqueName } from './testkit.js';

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function nftTables(): Promise<string[]> {
  const j = JSON.parse((await run(['nft', '-j', 'list', 'tables'])).stdout).nftables as { table?: { family: string; name: string } }[];
  return j.flatMap((x) => (x.table ? [`${x.table.family} ${x.table.name}`] : []));
}

describe('down', { skip: NEEDS_ROOT }, () => {
  let home: { home: string; cleanup(): Promise<void> };
  const plans: ClusterPlan[] = [];
  const extraNetns = `k8tstest-rec-${process.pid}`;
  const started: number[] = [];
  before(async () => {
    home = await tempHome();
  });
  after(async () => {
    for (const p of plans) {
      if (existsSync(p.dir)) await downPlan(p, { log: () => {} }).catch((e) => console.error(`cleanup of ${p.name}: ${e.message}`));
    }
    // Should down have failed, what the test started must still go.
    for (const pid of started) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
    }
    await run(['ip', 'netns', 'del', extraNetns]).catch(() => {});
    await home?.cleanup();
  });

  test('down removes everything of one cluster and nothing of another', async () => {
    const a = await up({ name: uniqueName('a'), nodes: 2, home: home.home, log: () => {} });
    plans.push(a);
    const b = await up({ name: uniqueName('b'), nodes: 1, home: home.home, log: () => {} });
    plans.push(b);
    assert.notEqual(a.stem, b.stem);

    // What a running cluster leaves around: a recorded process, an unrecorded one (a container, say) in a
    // node, a pod namespace with the cluster's prefix, a recorded namespace without it, a host nftables
    // table named after the cluster, a mount in the state directory.
    const recorded = await startProcess(a.dir, 'agent-node1', ['sleep', '1000'], { netns: a.nodes[0].netns });
    const stray = spawn('nsenter', [`--net=/run/netns/${a.nodes[1].netns}`, '--', 'sleep', '1001'], { detached: true, stdio: 'ignore' });
    stray.unref();
    started.push(recorded.pid, stray.pid!);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(readlinkSync(`/proc/${stray.pid}/ns/net`), `net:[${statSync(`/run/netns/${a.nodes[1].netns}`).ino}]`);
    const podNetns = `${a.netnsPrefix}pod-x`;
    await run(['ip', 'netns', 'add', podNetns]);
    await run(['ip', 'netns', 'add', extraNetns]);
    await recordNetns(a, extraNetns);
    await run(['nft', 'add', 'table', 'inet', a.nftTable]);
    await run(['nft', 'add', 'table', 'ip', `${a.nftTable}-proxy`]);
    const mnt = join(a.dir, 'server', 'rootfs');
    mkdirSync(mnt, { recursive: true });
    await run(['mount', '-t', 'tmpfs', 'k8tstest', mnt]);
    const bRecorded = await startProcess(b.dir, 'agent-node1', ['sleep', '1002'], { netns: b.nodes[0].netns });
    started.push(bRecorded.pid);

    const aLinks = await stemLinkIndexes(a.stem);
    assert.equal(aLinks.length, 3);
    const { lines, log } = captureLog();
    const report = await down(a.name, { home: home.home, log, stopTimeoutMs: 1000 });
    assert.deepEqual(report.processes, [{ role: 'agent-node1', pid: recorded.pid }]);
    assert.deepEqual(report.killed, [stray.pid]);
    assert.deepEqual(report.netns.sort(), [...a.nodes.map((n) => n.netns), podNetns, extraNetns].sort());
    assert.deepEqual(report.nftTables.sort(), [`inet ${a.nftTable}`, `ip ${a.nftTable}-proxy`]);
    assert.deepEqual(report.mounts, [mnt]);
    assert.deepEqual(report.files, [a.dir, claimPath(a.runDir, a.index)]);
    assert.ok(report.links.includes(a.bridge));
    for (const l of lines) assert.match(l, /^✓ .* \(\d+ ms\)$/);

    assert.ok(!alive(recorded.pid) && !alive(stray.pid!));
    // Names are checked where they carry this cluster's own name; a concurrent test may take the freed stem.
    const ns = await netnsList();
    assert.ok(!ns.some((n) => report.netns.includes(n)), ns.join(' '));
    assert.ok(!ns.some((n) => n.includes(a.name)));
    const indexes = await hostLinkIndexes();
    assert.ok(!aLinks.some((i) => indexes.includes(i)), 'every link of the cluster is gone');
    assert.ok(!existsSync(a.dir));
    assert.ok(!existsSync(claimPath(a.runDir, a.index)));
    assert.deepEqual(await mountsUnder(a.dir), []);
    assert.ok(!(await nftTables()).some((t) => report.nftTables.includes(t)));

    // The other cluster is untouched and still works.
    assert.ok(alive(bRecorded.pid));
    assert.ok(existsSync(join(b.dir, 'cluster.json')) && existsSync(claimPath(b.runDir, b.index)));
    assert.ok(ns.includes(b.nodes[0].netns));
    assert.ok((await hostLinks()).includes(b.bridge));
    await ping(b.nodes[0].ip);

    const bLinks = await stemLinkIndexes(b.stem);
    const rb = await down(b.name, { home: home.home, log: () => {} });
    assert.deepEqual(rb.processes, [{ role: 'agent-node1', pid: bRecorded.pid }]);
    assert.ok(!(await netnsList()).some((n) => n.includes(b.name)));
    assert.equal(bLinks.length, 2);
    const after = await hostLinkIndexes();
    assert.ok(!bLinks.some((i) => after.includes(i)));
    assert.ok(!existsSync(b.dir));
  });

  test('a stale plan whose index another cluster holds now takes nothing of that cluster with it', async () => {
    const live = await up({ name: uniqueName('l'), nodes: 1, home: home.home, log: () => {} });
    plans.push(live);
    // As after a reboot: a cluster.json elsewhere that names the same index (and so the same stem).
    const other = await tempHome();
    try {
      const stale: ClusterPlan = { ...live, home: other.home, dir: join(other.home, 'old'), name: 'old' };
      mkdirSync(stale.dir);
      writeFileSync(join(stale.dir, 'cluster.json'), JSON.stringify(stale));
      const report = await down('old', { home: other.home, log: () => {} });
      assert.deepEqual([report.netns, report.links, report.nftTables, report.killed], [[], [], [], []]);
      assert.deepEqual(report.files, [stale.dir]);
      assert.ok(!existsSync(stale.dir));
      assert.ok((await netnsList()).includes(live.nodes[0].netns));
      assert.ok((await hostLinks()).includes(live.bridge));
      assert.ok(existsSync(claimPath(live.runDir, live.index)));
      await ping(live.nodes[0].ip);
    } finally {
      await other.cleanup();
    }
    await down(live.name, { home: home.home, log: () => {} });
  });

  test('down of an unknown cluster is a clear error; a state directory without a plan is removed', async () => {
    await assert.rejects(
      down('nosuch', { home: home.home }),
      (e: unknown) => e instanceof LabError && e.code === 'ClusterNotFound' && /no cluster "nosuch"/.test(e.message),
    );
    const dir = join(home.home, 'halfmade');
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const r = await down('halfmade', { home: home.home });
    assert.deepEqual(r.files, [dir]);
    assert.ok(!existsSync(dir));
  });
});

test("what runs in a namespace ends at once: a container's init by SIGKILL, the rest by SIGTERM", { skip: NEEDS_ROOT }, async () => {
  const ns = `k8tstest-kill-${process.pid}`;
  const pids: number[] = [];
  try {
    await run(['ip', 'netns', 'add', ns]);
    // sleep as pid 1 of a PID namespace of its own, as a container's process is: SIGTERM never reaches it.
    const init = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', 'unshare', '--pid', '--fork', 'sleep', '1004'], { detached: true, stdio: 'ignore' });
    // A process that ends on SIGTERM by writing a file first: it must be given the chance.
    const marker = `/tmp/k8tstest-kill-${process.pid}`;
    const graceful = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', 'sh', '-c', `trap 'echo term > ${marker}; exit 0' TERM; while :; do sleep 0.05; done`], {
      detached: true,
      stdio: 'ignore',
    });
    pids.push(init.pid!, graceful.pid!);
    let sleeper = 0;
    for (let i = 0; i < 100 && !sleeper; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const out = (await run(['pgrep', '-f', '^sleep 1004$']).catch(() => ({ stdout: '' }))).stdout.trim();
      sleeper = Number(out.split('\n')[0]) || 0;
    }
    assert.ok(sleeper, 'the namespace init runs');
    pids.push(sleeper);
    assert.match(readFileSync(`/proc/${sleeper}/status`, 'utf8'), /^NSpid:\s+\d+\s+1$/m);
    const t0 = Date.now();
    const killed = await killInNetns([ns], 10_000);
    const ms = Date.now() - t0;
    assert.ok(killed.includes(sleeper) && killed.includes(graceful.pid!), `${killed}`);
    assert.ok(ms < 3000, `ended in ${ms} ms, not the 10 s timeout`);
    assert.ok(!alive(sleeper) && !alive(graceful.pid!));
    assert.equal(readFileSync(marker, 'utf8'), 'term\n', 'SIGTERM first for a process that is no init');
  } finally {
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    await run(['ip', 'netns', 'del', ns]).catch(() => {});
    await run(['rm', '-f', `/tmp/k8tstest-kill-${process.pid}`]);
  }
});
