// One container's directory: its bundle, its log, and the files the shim writes, read back into a state
// that survives agent restarts (everything is on disk, nothing lives only in the agent's memory).
import { readFileSync, watch } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type ContainerStatus = 'created' | 'running' | 'stopped';

export interface ContainerState {
  id: string;
  status: ContainerStatus;
  /** Host pid of the container's process (its pid 1). */
  pid?: number;
  /** Exit status as a shell reports it: the code, or 128 + signal number when a signal ended it. */
  exitCode?: number;
  /** The signal number that ended the process, if one did. */
  signal?: number;
  /** Why exitCode is missing on a stopped container: ExitCodeLost when its shim died before it did. */
  reason?: 'ExitCodeLost';
  startedAt?: Date;
  finishedAt?: Date;
  /** Host pid of the shim that waits for the process (absent once it has finished). */
  shimPid?: number;
}

export interface ContainerPaths {
  dir: string;
  config: string;
  meta: string;
  rootfs: string;
  upper: string;
  work: string;
  log: string;
  idx: string;
  runcLog: string;
  shimLog: string;
  shim: string;
  init: string;
  exit: string;
  done: string;
}

export function containerPaths(containersDir: string, id: string): ContainerPaths {
  const dir = join(containersDir, id);
  const f = (n: string) => join(dir, n);
  return {
    dir,
    config: f('config.json'),
    meta: f('meta.json'),
    rootfs: f('rootfs'),
    upper: f('upper'),
    work: f('work'),
    log: f('log'),
    idx: f('log.idx'),
    runcLog: f('runc.log'),
    shimLog: f('shim.log'),
    shim: f('shim'),
    init: f('init'),
    exit: f('exit'),
    done: f('done'),
  };
}

/** A point in time with the nanoseconds the shim recorded. */
export interface NsTime {
  sec: number;
  nsec: number;
}

export function toDate(t: NsTime): Date {
  return new Date(t.sec * 1000 + Math.floor(t.nsec / 1e6));
}

export function nowNs(): NsTime {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 };
}

/**
 * A small file's text, or undefined if there is none. Read synchronously on purpose: the runtime reads a
 * container's few-byte state files (and /proc/<pid>/stat) several times per pod sync, and fs/promises'
 * readFile (open, fstat, read, close, each a trip through the thread pool) took 160 µs of CPU per file here
 * against 12 µs for readFileSync.
 */
export async function readText(path: string): Promise<string | undefined> {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

export interface ProcRef {
  pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22): tells a pid from its reuse. */
  start: string;
}

export function parseProcRef(text: string | undefined): (ProcRef & { time?: NsTime }) | undefined {
  if (!text) return undefined;
  const [pid, start, sec, nsec] = text.trim().split(/\s+/);
  if (!/^\d+$/.test(pid ?? '') || !start) return undefined;
  return { pid: Number(pid), start, time: sec !== undefined ? { sec: Number(sec), nsec: Number(nsec) } : undefined };
}

export interface ExitRecord {
  exitCode?: number;
  signal?: number;
  time: NsTime;
}

export function parseExit(text: string | undefined): ExitRecord | undefined {
  if (!text) return undefined;
  const [code, sig, sec, nsec] = text.trim().split(/\s+/);
  if (sec === undefined) return undefined;
  return {
    exitCode: code === '-' ? undefined : Number(code),
    signal: sig === '-' || sig === '0' ? undefined : Number(sig),
    time: { sec: Number(sec), nsec: Number(nsec) },
  };
}

/** Whether pid still names the process that started at `start` and has not exited (zombies count as gone). */
export async function processAlive(ref: ProcRef): Promise<boolean> {
  const stat = await readText(`/proc/${ref.pid}/stat`).catch(() => undefined);
  if (!stat) return false;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] === ref.start && fields[0] !== 'Z' && fields[0] !== 'X';
}

/**
 * Resolves when check() returns a value, re-checking whenever something in dir changes (inotify) and on a
 * timer besides (changes that are not file events, such as a process dying); undefined on timeout.
 */
export async function waitFor<T>(dir: string, check: () => Promise<T | undefined>, timeoutMs: number, pollMs = 50): Promise<T | undefined> {
  const first = await check();
  if (first !== undefined || timeoutMs <= 0) return first;
  return new Promise<T | undefined>((resolve) => {
    let done = false;
    let busy = false;
    let again = false;
    const finish = (v: T | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poll);
      watcher?.close();
      resolve(v);
    };
    const recheck = async () => {
      if (done) return;
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        do {
          again = false;
          const v = await check().catch(() => undefined);
          if (v !== undefined) return finish(v);
        } while (again && !done);
      } finally {
        busy = false;
      }
    };
    let watcher: ReturnType<typeof watch> | undefined;
    try {
      watcher = watch(dir, () => void recheck());
      watcher.on('error', () => {});
    } catch {
      watcher = undefined;
    }
    const poll = setInterval(() => void recheck(), pollMs);
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    void recheck();
  });
}
