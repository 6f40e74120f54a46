// Lab processes: started inside a node namespace with nsenter --net, recorded, stopped only while the pid is
// still the process we started.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { type ClusterPlan, releasePlan, reservePlan } from './plan.js';
import { findRunning, isRunning, listProcesses, pidFile, startProcess, stopProcess } from './procs.js';
import { createNodes, createBridge, destroyTopology } from './topology.js';
import { NEEDS_ROOT, tempHome, uniqueName } from './testkit.js';

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('processes', { skip: NEEDS_ROOT }, () => {
  let home: { home: string; cleanup(): Promise<void> };
  let plan: ClusterPlan;
  const strays: number[] = [];
  before(async () => {
    home = await tempHome();
    plan = await reservePlan({ name: uniqueName(), nodes: 1, home: home.home });
    await createBridge(plan);
    await createNodes(plan);
  });
  after(async () => {
    for (const pid of strays) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    if (plan) {
      for (const r of await listProcesses(plan.dir)) await stopProcess(plan.dir, r.role, { timeoutMs: 500 });
      await destroyTopology(plan);
      await releasePlan(plan);
    }
    await home?.cleanup();
  });

  test('a sleep started in a node namespace lives in that namespace, is recorded, and stops', async () => {
    const node = plan.nodes[0];
    const r = await startProcess(plan.dir, 'sleeper', ['sleep', '1000'], { netns: node.netns });
    assert.equal(readlinkSync(`/proc/${r.pid}/ns/net`), `net:[${statSync(`/run/netns/${node.netns}`).ino}]`);
    assert.notEqual(readlinkSync(`/proc/${r.pid}/ns/net`), readlinkSync('/proc/self/ns/net'));
    // Only the network namespace changes: the mount namespace stays the host's (unlike `ip netns exec`).
    assert.equal(readlinkSync(`/proc/${r.pid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'));
    assert.equal(readFileSync(`/proc/${r.pid}/cmdline`, 'utf8'), 'sleep\x001000\x00');
    assert.equal(readFileSync(pidFile(plan.dir, 'sleeper'), 'utf8'), `${r.pid}\n`);
    assert.equal(r.log, join(plan.dir, 'logs', 'sleeper.log'));
    assert.ok(existsSync(r.log));
    assert.ok(await isRunning(plan.dir, 'sleeper'));
    await assert.rejects(
      startProcess(plan.dir, 'sleeper', ['sleep', '1000'], { netns: node.netns }),
      (e: unknown) => e instanceof LabError && e.code === 'ProcessRunning',
    );

    const stopped = await stopProcess(plan.dir, 'sleeper');
    assert.equal(stopped?.pid, r.pid);
    assert.ok(!alive(r.pid));
    assert.ok(!existsSync(pidFile(plan.dir, 'sleeper')));
    assert.equal(await isRunning(plan.dir, 'sleeper'), false);
    assert.equal(await stopProcess(plan.dir, 'sleeper'), undefined, 'stopping twice is a no-op');
  });

  test('output goes to the log; a program that dies at start is an error quoting its log', async () => {
    const r = await startProcess(plan.dir, 'talker', ['sh', '-c', 'echo hello from $(cat /proc/sys/net/ipv4/ip_forward); exec sleep 1000'], {
      netns: plan.nodes[0].netns,
    });
    await new Promise((res) => setTimeout(res, 100));
    assert.match(readFileSync(r.log, 'utf8'), /hello from 1/);
    // `sh` exec'd sleep: its cmdline no longer matches, so it is no longer ours to signal.
    assert.equal(await findRunning(plan.dir, 'talker'), undefined);
    strays.push(r.pid);

    await assert.rejects(
      startProcess(plan.dir, 'dies', ['sh', '-c', 'echo cannot bind >&2; exit 3'], { netns: plan.nodes[0].netns, settleMs: 300 }),
      (e: unknown) => {
        assert.ok(e instanceof LabError && e.code === 'ProcessExited');
        assert.match(e.message, /^dies \(nsenter .* sh -c .*\) exited at start .*\ncannot bind$/s);
        return true;
      },
    );
    await assert.rejects(startProcess(plan.dir, 'nothere', ['k8ts-no-such-program'], { netns: plan.nodes[0].netns }), /exited at start.*k8ts-no-such-program/s);
  });

  test('a recorded pid whose command changed is never signalled', async () => {
    const r = await startProcess(plan.dir, 'victim', ['sleep', '1001']);
    // Pretend the record is about another program (as after a pid reuse): stop must leave the process alone.
    const jsonFile = join(plan.dir, 'pids', 'victim.json');
    const rec = JSON.parse(readFileSync(jsonFile, 'utf8'));
    writeFileSync(jsonFile, JSON.stringify({ ...rec, argv: ['k8ts', 'agent'] }));
    assert.equal(await stopProcess(plan.dir, 'victim', { timeoutMs: 200 }), undefined);
    assert.ok(alive(r.pid), 'the process is still alive');
    // A pid file that disagrees with the record is not trusted either.
    const other = spawn('sleep', ['1002'], { detached: true, stdio: 'ignore' });
    other.unref();
    strays.push(r.pid, other.pid!);
    const r2 = await startProcess(plan.dir, 'victim2', ['sleep', '1003']);
    writeFileSync(pidFile(plan.dir, 'victim2'), `${other.pid}\n`);
    assert.equal(await stopProcess(plan.dir, 'victim2', { timeoutMs: 200 }), undefined);
    assert.ok(alive(other.pid!) && alive(r2.pid));
    strays.push(r2.pid);
  });
});
