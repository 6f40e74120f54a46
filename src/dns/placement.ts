// Where the node's DNS thread runs, so that a query is answered ahead of the host's other work on a busy
// machine: real-time where the host allows it, else a cpu cgroup of high weight (lab/cgroups.ts makes one
// per lab). Apart from the worker so that `k8ts up` reads the Node.js flags without loading the DNS server.
import { spawnSync } from 'node:child_process';
import { readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Moves the calling thread (only it: v1's `tasks` file takes thread ids, and 0 names the writer) into a v1
 * cpu cgroup. The write is synchronous so that it is this thread, not one of libuv's pool, that writes.
 */
export function joinCpuCgroup(dir: string): void {
  writeFileSync(join(dir, 'tasks'), '0');
}

/** The lowest real-time priority: above every SCHED_OTHER task, below every kernel thread that has one. */
export const DNS_RT_PRIORITY = 1;

/**
 * Makes the calling thread (only it) SCHED_RR at DNS_RT_PRIORITY, with reset-on-fork so that nothing it
 * starts inherits the policy. Node has no sched_setscheduler, so util-linux's `chrt` does it once, given
 * this thread's id as the kernel names it (`/proc/thread-self` → `<pid>/task/<tid>`). The kernel's
 * real-time throttle (kernel.sched_rt_runtime_us, 95 % of each CPU by default) bounds a thread that would
 * never sleep; under the v1 cpu controller the thread's cgroup needs a real-time budget (the root has one;
 * a container's cgroup usually has none, and then the kernel answers EPERM). Throws with chrt's reason.
 */
export function becomeRealtime(): void {
  const self = readlinkSync('/proc/thread-self');
  const m = /^\d+\/task\/(\d+)$/.exec(self);
  if (!m) throw new Error(`/proc/thread-self reads ${JSON.stringify(self)}, not <pid>/task/<tid>`);
  const r = spawnSync('chrt', ['--rr', '--reset-on-fork', '--pid', String(DNS_RT_PRIORITY), m[1]], { encoding: 'utf8', timeout: 5000 });
  if (r.error) throw new Error(`chrt: ${r.error.message} (Debian package util-linux)`);
  if (r.status !== 0) throw new Error(r.stderr.trim() || `chrt exited with ${r.status}`);
}

/**
 * The Node.js flags of a process whose DNS thread is real-time (the agents `k8ts up` starts). V8's
 * parallel scavenges and concurrent marking hand work to the process's helper threads, which are not
 * real-time: on a busy machine the DNS thread then waits in each young-generation collection (three a
 * second at 20,000 queries/s) for a helper that the host's other work holds off the CPU. With the
 * collector on the collecting thread alone, that wait is gone (by hand, as bench/dns.ts's busy section
 * with a real-time dnsperf, two pairs: p99 4.8 and 2.9 ms with helper threads, 0.96 and 0.76 ms without).
 */
export const REALTIME_DNS_NODE_FLAGS = ['--single-threaded-gc'];

/**
 * Puts the calling thread where queries are answered ahead of the host's other work, and says where:
 * SCHED_RR when asked and the host allows it (a query preempts any busy process at once); else the cpu
 * cgroup of high weight, when given (the scheduler runs it soon, but a busy process may finish its slice
 * first); else nowhere special. Each refusal is in the answer, so the agent's log says why.
 */
export function placeDnsThread(o: { realtime?: boolean; cpuCgroup?: string }): string {
  const refused: string[] = [];
  if (o.realtime) {
    try {
      becomeRealtime();
      const helpers = REALTIME_DNS_NODE_FLAGS.every((f) => process.execArgv.includes(f))
        ? ''
        : ` (its process runs V8's collector on helper threads that are not real-time; start node with ${REALTIME_DNS_NODE_FLAGS.join(' ')})`;
      return `runs SCHED_RR at priority ${DNS_RT_PRIORITY}${helpers}`;
    } catch (e) {
      refused.push(`SCHED_RR refused: ${e instanceof Error ? e.message : e}`);
    }
  }
  if (o.cpuCgroup) {
    try {
      joinCpuCgroup(o.cpuCgroup);
      return `runs in cpu cgroup ${o.cpuCgroup}${refused.length ? ` (${refused.join('; ')})` : ''}`;
    } catch (e) {
      refused.push(`${o.cpuCgroup}: ${e instanceof Error ? e.message : e}`);
    }
  }
  return `stays in its process's cpu cgroup${refused.length ? ` (${refused.join('; ')})` : ''}`;
}
