// Long-running lab processes (API server, agents): started detached, inside a node's network namespace with
// nsenter --net (never `ip netns exec`, whose private mount namespace breaks namespaces the agent creates),
// logged under K8TS_HOME/<name>/logs, recorded under K8TS_HOME/<name>/pids, and stopped only if the pid is
// still the very process we started.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MissingCommandError, PACKAGE_OF } from '../util/exec.js';
import { LabError } from './errors.js';
import { netnsPath } from './paths.js';

export interface ProcessRecord {
  role: string;
  pid: number;
  /** The program as it runs after nsenter has exec'd it; /proc/<pid>/cmdline must still say this. */
  argv: string[];
  netns?: string;
  /** Cgroup directories it was started in (a lab node's own), so a restart puts it back there. */
  cgroups?: string[];
  log: string;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22): a reused pid has another. */
  startTime: number;
  startedAt: string;
}

export interface StartOptions {
  /** Run inside this named network namespace; absent: in the host's. */
  netns?: string;
  /**
   * Start it inside these cgroup directories (one per hierarchy): the launcher moves itself there before it
   * execs the program, so the program and all it will ever start are accounted there from their first page.
   */
  cgroups?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** How long the program may take to be exec'd; default 5 s. */
  readyTimeoutMs?: number;
  /**
   * After the exec, wait this long and fail (with the log's tail) if the program died meanwhile; default 0.
   * Readiness itself (a health endpoint, a Ready node) is the caller's to wait for.
   */
  settleMs?: number;
}

const ROLE_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * The cgroup launcher: `sh -c JOIN k8ts-cgroup-join DIR... -- PROGRAM...` writes 0 (itself) into each DIR's
 * cgroup.procs, then execs the program; the directories come as arguments, never inside the script.
 */
const JOIN = 'while [ "$1" != -- ]; do echo 0 > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"';
/** A cgroup directory as the launcher takes it: under /sys/fs/cgroup, plain segments only (no `.`, `..`, empty). */
function isCgroupDir(d: string): boolean {
  const segs = d.split('/');
  return d.startsWith('/sys/fs/cgroup/') && /^[A-Za-z0-9._@:/,=-]+$/.test(d) && segs.slice(1).every((x) => x !== '' && x !== '.' && x !== '..');
}

export function pidFile(dir: string, role: string): string {
  return join(dir, 'pids', `${role}.pid`);
}

export function logFile(dir: string, role: string): string {
  return join(dir, 'logs', `${role}.log`);
}

/** Starts argv for role in the cluster directory dir; returns once the program itself (not nsenter) runs. */
export async function startProcess(dir: string, role: string, argv: string[], opts: StartOptions = {}): Promise<ProcessRecord> {
  if (!ROLE_RE.test(role)) throw new LabError('InvalidOption', `process role ${JSON.stringify(role)}: use lowercase letters, digits, dots, dashes`);
  if (!argv.length) throw new LabError('InvalidOption', `process ${role}: empty command`);
  const running = await findRunning(dir, role);
  if (running) throw new LabError('ProcessRunning', `${role} is already running as pid ${running.pid}; stop it first`);
  await mkdir(join(dir, 'pids'), { recursive: true });
  await mkdir(join(dir, 'logs'), { recursive: true });
  const log = logFile(dir, role);
  for (const d of opts.cgroups ?? [])
    if (!isCgroupDir(d)) throw new LabError('InvalidOption', `process ${role}: cgroup ${JSON.stringify(d)} is not a directory under /sys/fs/cgroup`);
  const inNetns = opts.netns ? ['nsenter', `--net=${netnsPath(opts.netns)}`, '--', ...argv] : argv;
  const full = opts.cgroups?.length ? ['sh', '-c', JOIN, 'k8ts-cgroup-join', ...opts.cgroups, '--', ...inNetns] : inNetns;
  const fd = openSync(log, 'a');
  let child;
  try {
    // detached: its own session, so it outlives `k8ts up` and no terminal signal reaches it.
    child = spawn(full[0], full.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: opts.env, cwd: opts.cwd });
  } finally {
    closeSync(fd);
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? new MissingCommandError(full[0], PACKAGE_OF[full[0]]) : e));
  });
  child.unref();
  const pid = child.pid!;
  // 'spawn' fires once the launcher (sh, nsenter) or the program is exec'd; each launcher execs the next.
  const launchers = new Set([full, inNetns].filter((l) => l !== argv).map((l) => l.join('\0')));
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 5000);
  for (;;) {
    const info = await readProc(pid);
    // An empty command line is a process on its way out (its memory already gone, not yet a zombie): a
    // launcher that failed to exec the program looks like that for a moment, never the program itself.
    if (info && info.cmdline !== '' && !launchers.has(info.cmdline)) {
      if (opts.settleMs) {
        await sleep(opts.settleMs);
        if (exited || !(await readProc(pid))) continue;
      }
      // Recorded as started: should the program exec another one, that one is no longer ours to signal.
      const record: ProcessRecord = {
        role,
        pid,
        argv,
        netns: opts.netns,
        ...(opts.cgroups?.length ? { cgroups: opts.cgroups } : {}),
        log,
        startTime: info.startTime,
        startedAt: new Date().toISOString(),
      };
      await writeRecord(dir, record);
      return record;
    }
    if (exited || !info) {
      const tail = await logTail(log);
      throw new LabError(
        'ProcessExited',
        `${role} (${full.join(' ')}) exited at start (${exited?.code ?? exited?.signal ?? 'gone'})${tail ? `; the end of ${log}:\n${tail}` : `; see ${log}`}`,
      );
    }
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      throw new LabError('ProcessExited', `${role} (${full.join(' ')}) did not start within ${opts.readyTimeoutMs ?? 5000} ms; killed it`);
    }
    await sleep(5);
  }
}

/** The last lines of a log, for error messages. */
export async function logTail(log: string, lines = 10): Promise<string> {
  return (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').slice(-lines).join('\n');
}

/** The recorded process of role if it is still the one we started. */
export async function findRunning(dir: string, role: string): Promise<ProcessRecord | undefined> {
  const r = await readRecord(dir, role);
  return r && (await isSameProcess(r)) ? r : undefined;
}

export async function isRunning(dir: string, role: string): Promise<boolean> {
  return (await findRunning(dir, role)) !== undefined;
}

/** Every recorded process, running or not. */
export async function listProcesses(dir: string): Promise<ProcessRecord[]> {
  let names: string[];
  try {
    names = await readdir(join(dir, 'pids'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: ProcessRecord[] = [];
  for (const n of names.sort()) {
    const m = /^(.+)\.json$/.exec(n);
    const r = m && (await readRecord(dir, m[1]));
    if (r) out.push(r);
  }
  return out;
}

/**
 * Stops role's process: SIGTERM, then SIGKILL after timeoutMs. Only a pid we recorded, and only while
 * /proc/<pid> still shows the command and start time we recorded. Returns the record if it stopped a live process.
 */
export async function stopProcess(dir: string, role: string, opts: { timeoutMs?: number } = {}): Promise<ProcessRecord | undefined> {
  const r = await readRecord(dir, role);
  if (!r) return undefined;
  let stopped: ProcessRecord | undefined;
  if (await isSameProcess(r)) {
    signal(r.pid, 'SIGTERM');
    if (!(await waitGone(r, opts.timeoutMs ?? 5000))) {
      signal(r.pid, 'SIGKILL');
      if (!(await waitGone(r, 2000))) throw new LabError('StopFailed', `${role} (pid ${r.pid}) is still there after SIGKILL`);
    }
    stopped = r;
  }
  await rm(pidFile(dir, role), { force: true });
  await rm(join(dir, 'pids', `${role}.json`), { force: true });
  return stopped;
}

/** Stops every recorded process of the cluster directory at once; returns those that were running. */
export async function stopAll(dir: string, opts: { timeoutMs?: number } = {}): Promise<ProcessRecord[]> {
  const stopped = await Promise.all((await listProcesses(dir)).map((r) => stopProcess(dir, r.role, opts)));
  return stopped.filter((r): r is ProcessRecord => r !== undefined);
}

async function isSameProcess(r: ProcessRecord): Promise<boolean> {
  const info = await readProc(r.pid);
  return !!info && info.cmdline === r.argv.join('\0') && info.startTime === r.startTime;
}

/** cmdline and start time of a live process; undefined if it is gone or a zombie. */
export async function readProc(pid: number): Promise<{ cmdline: string; startTime: number } | undefined> {
  try {
    const [cmdline, stat] = await Promise.all([readFile(`/proc/${pid}/cmdline`, 'utf8'), readFile(`/proc/${pid}/stat`, 'utf8')]);
    // The command name in parentheses may hold spaces and parentheses: fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return { cmdline: cmdline.replace(/\0$/, ''), startTime: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/** Gone: no longer the recorded process, and not the same process still on its way out (its start time
 *  unchanged, its command line already empty while it exits). */
async function isGone(r: ProcessRecord): Promise<boolean> {
  const info = await readProc(r.pid);
  return !info || info.startTime !== r.startTime || (info.cmdline !== '' && info.cmdline !== r.argv.join('\0'));
}

async function waitGone(r: ProcessRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await isGone(r)) return true;
    await sleep(10);
  }
  return isGone(r);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

async function readRecord(dir: string, role: string): Promise<ProcessRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(join(dir, 'pids', `${role}.json`), 'utf8')) as ProcessRecord;
    const pid = Number((await readFile(pidFile(dir, role), 'utf8')).trim());
    // Both files must agree; a pid file edited by hand does not make us signal another process.
    return pid === r.pid ? r : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || e instanceof SyntaxError) return undefined;
    throw e;
  }
}

async function writeRecord(dir: string, r: ProcessRecord): Promise<void> {
  const json = join(dir, 'pids', `${r.role}.json`);
  await writeFile(json + '.tmp', JSON.stringify(r, null, 2) + '\n');
  await rename(json + '.tmp', json);
  await writeFile(pidFile(dir, r.role) + '.tmp', `${r.pid}\n`);
  await rename(pidFile(dir, r.role) + '.tmp', pidFile(dir, r.role));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
