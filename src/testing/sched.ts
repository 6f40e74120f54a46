// A thread's scheduling policy as the kernel reports it, for tests that check where a thread runs.
import { readFileSync, readdirSync } from 'node:fs';

/** Linux's policy numbers (sched.h): what proc_pid_stat(5) field 41 holds. */
export const SCHED_OTHER = 0;
export const SCHED_RR = 2;

/** Policy (field 41) and real-time priority (field 40) from a /proc stat line; the fields count from after the command's closing parenthesis. */
export function policyOf(stat: string): { policy: number; priority: number } {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3.
  return { priority: Number(f[37]), policy: Number(f[38]) };
}

/** One thread's policy and priority. */
export function threadPolicy(pid: number, tid: number | string): { policy: number; priority: number } {
  return policyOf(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
}

/** The threads of a process whose policy is not SCHED_OTHER, with theirs. */
export function nonDefaultThreads(pid: number): { tid: number; policy: number; priority: number }[] {
  return readdirSync(`/proc/${pid}/task`)
    .map((tid) => ({ tid: Number(tid), ...threadPolicy(pid, tid) }))
    .filter((t) => t.policy !== SCHED_OTHER);
}
