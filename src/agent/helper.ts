// The node helper: one long-lived perl-base process per agent that starts every program the agent runs and
// makes the few system calls a pod's start needs (a network namespace, a tmpfs, a bind mount) itself.
//
// Why: on this kind of machine a fork is dear and grows with the forking process. Node's spawn forks the
// whole agent (100–200 MB mapped) on its event loop: 10–17 ms of the agent's CPU per program, measured
// (a 56 MB node: 5.7 ms; perl's fork + exec of the same program from its ~5 MB: 0.9 ms of the parent's).
// A pod's start ran six programs from the agent (`ip netns add`, three `ip -batch`, `mount`, the shim), so
// in a burst of 100 pods half of the agents' CPU was ChildProcess.spawn (their CPU profiles). Through the
// helper the agent writes one request on a pipe; the helper forks from its small self, and `ip netns add`,
// `mount` and `umount` are no program at all: the helper unshares its own network namespace, binds it under
// /run/netns as ip does and goes back into the node's, and the mounts are one mount(2) or umount2(2) each.
//
// The protocol and the program are in helper-script.ts. The agent installs its helper as the runner of
// util/exec's `run` (useCommandRunner), so every call site keeps its contract: the same stdout, the same
// CommandError and MissingCommandError. If the helper dies, what it was doing fails like a failed program
// and the next request starts a new helper; the agent's loops retry as they do for any failure.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { getSystemErrorMap } from 'node:util';
import {
  CommandError,
  MissingCommandError,
  PACKAGE_OF,
  run,
  spawnProcess,
  useCommandRunner,
  type CommandRunner,
  type RunOptions,
  type RunResult,
  type Spawned,
} from '../util/exec.js';
import { HELPER_SCRIPT } from './helper-script.js';

/** System call numbers the helper needs: unshare, mount, umount2, clock_gettime, exit_group, setsid, setns
 *  (64-bit only, as the shim). */
const SYSCALLS: Record<string, number[]> = {
  x64: [272, 165, 166, 228, 231, 112, 308],
  // The asm-generic table.
  arm64: [97, 40, 39, 113, 94, 157, 268],
  riscv64: [97, 40, 39, 113, 94, 157, 268],
  loong64: [97, 40, 39, 113, 94, 157, 268],
};

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_BIND = 4096;

/** Names the helper accepts under /run/netns (it checks the same itself). */
const NETNS_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** A helper operation other than a program that failed: what was asked and the system's reason. */
export class HelperError extends Error {
  readonly code = 'HelperFailed';
  constructor(
    readonly op: string,
    readonly reason: string,
  ) {
    super(`${op}: ${reason}`);
    this.name = 'HelperError';
  }
}

/** The kernel refused netlink message `index` of a request (its position in the list or batch) with `errno`. */
export class RtnlError extends Error {
  readonly code = 'RtnlFailed';
  constructor(
    readonly what: string,
    readonly index: number,
    readonly errno: number,
  ) {
    super(`${what}: ${errnoText(errno)}`);
    this.name = 'RtnlError';
  }
}

/** "No such device (ENODEV)": libuv's description of the error and its name. */
function errnoText(errno: number): string {
  const known = getSystemErrorMap().get(-errno);
  return known ? `${known[1].charAt(0).toUpperCase()}${known[1].slice(1)} (${known[0]})` : `errno ${errno}`;
}

interface Answer {
  /** The request's id. */
  id: number;
  kind: 'exit' | 'signal' | 'errno' | 'error' | 'held' | 'nlerr';
  value: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** A program the helper started and holds the pipes of. */
export interface Held {
  pid: number;
  /** The hold request's id, which names it to the helper. */
  ref: string;
}

interface Pending {
  resolve: (a: Answer) => void;
  reject: (e: Error) => void;
}

function frame(id: number, fields: (string | Buffer)[]): Buffer {
  const bufs = fields.map((f) => (typeof f === 'string' ? Buffer.from(f) : f));
  const body = bufs.reduce((n, b) => n + 4 + b.length, 0);
  const out = Buffer.allocUnsafe(8 + body);
  out.writeUInt32BE(id, 0);
  out.writeUInt32BE(body, 4);
  let at = 8;
  for (const b of bufs) {
    out.writeUInt32BE(b.length, at);
    b.copy(out, at + 4);
    at += 4 + b.length;
  }
  return out;
}

function fields(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 4 <= body.length; ) {
    const n = body.readUInt32BE(at);
    out.push(body.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

export class NodeHelper implements CommandRunner {
  private sp?: Spawned;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private inbuf: Buffer = Buffer.alloc(0);
  private stderrTail = '';
  private readonly syscalls: string;
  /** Programs and operations answered since the helper was made (all its processes). */
  requests = 0;
  /** Programs started (exec and hold requests). */
  programs = 0;

  /**
   * The script goes into dir (rewritten only when it differs); the process starts with the first request.
   * With `netns` (a path under /run/netns) the helper stands in that network namespace instead of ours: it
   * is then the node's for what the helper does (tests of a node in a throwaway namespace).
   */
  constructor(
    dir: string,
    private readonly perl = 'perl',
    arch: string = process.arch,
    readonly netns?: string,
  ) {
    const nrs = SYSCALLS[arch];
    if (!nrs) throw new Error(`the node helper does not know the system call numbers of architecture ${arch} (supported: ${Object.keys(SYSCALLS).join(', ')})`);
    this.syscalls = nrs.join(',');
    mkdirSync(dir, { recursive: true });
    this.script = join(dir, 'helper.pl');
    let current: string | undefined;
    try {
      current = readFileSync(this.script, 'utf8');
    } catch {
      current = undefined;
    }
    if (current !== HELPER_SCRIPT) {
      writeFileSync(`${this.script}.tmp`, HELPER_SCRIPT);
      renameSync(`${this.script}.tmp`, this.script);
    }
  }
  private readonly script: string;

  /** The helper's pid while it runs. */
  get pid(): number | undefined {
    return this.sp?.child.pid;
  }

  private process(): Spawned {
    if (this.sp) return this.sp;
    const argv = [this.perl, this.script, this.syscalls];
    const sp = spawnProcess(this.netns ? ['nsenter', `--net=${this.netns}`, '--', ...argv] : argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.sp = sp;
    this.inbuf = Buffer.alloc(0);
    this.stderrTail = '';
    sp.child.stdout!.on('data', (b: Buffer) => this.onData(b));
    sp.child.stderr!.on('data', (b: Buffer) => {
      this.stderrTail = (this.stderrTail + b.toString()).slice(-2000);
    });
    sp.exited.then(
      (exit) =>
        this.gone(
          sp,
          `the node helper exited (${exit.code !== null ? `exit ${exit.code}` : `signal ${exit.signal}`})${this.stderrTail.trim() ? `: ${this.stderrTail.trim()}` : ''}`,
        ),
      (e: Error) => this.gone(sp, e instanceof MissingCommandError ? e.message : `the node helper could not start: ${e.message}`),
    );
    this.refs(false);
    return sp;
  }

  /** Every request in flight fails; the next one starts a new helper. */
  private gone(sp: Spawned, why: string): void {
    if (this.sp !== sp) return;
    this.sp = undefined;
    const err = new Error(why);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** The helper's pipes keep the agent's event loop alive only while an answer is awaited. */
  private refs(on: boolean): void {
    const c = this.sp?.child;
    if (!c) return;
    for (const s of [c.stdin, c.stdout, c.stderr] as (Readable & { ref?: () => void; unref?: () => void })[]) {
      if (on) s?.ref?.();
      else s?.unref?.();
    }
    if (on) c.ref();
    else c.unref();
  }

  private onData(b: Buffer): void {
    this.inbuf = this.inbuf.length ? Buffer.concat([this.inbuf, b]) : b;
    while (this.inbuf.length >= 8) {
      const id = this.inbuf.readUInt32BE(0);
      const len = this.inbuf.readUInt32BE(4);
      if (this.inbuf.length < 8 + len) break;
      const [kind, value, stdout, stderr] = fields(this.inbuf.subarray(8, 8 + len));
      this.inbuf = this.inbuf.subarray(8 + len);
      const p = this.pending.get(id);
      if (!p) continue;
      this.pending.delete(id);
      if (!this.pending.size) this.refs(false);
      p.resolve({ id, kind: kind.toString() as Answer['kind'], value: Number(value.toString()), stdout, stderr });
    }
  }

  private request(f: (string | Buffer)[]): Promise<Answer> {
    const sp = this.process();
    const id = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    this.requests++;
    if (f[0] === 'exec' || f[0] === 'hold') this.programs++;
    return new Promise<Answer>((resolve, reject) => {
      if (!this.pending.size) this.refs(true);
      this.pending.set(id, { resolve, reject });
      sp.child.stdin!.write(frame(id, f));
    });
  }

  /** util/exec's `run`, through the helper: the same result and errors. */
  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const env = opts.env
      ? Object.entries(opts.env)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k}=${v}`)
      : undefined;
    const a = await this.request([
      'exec',
      String(opts.timeoutMs ?? 0),
      opts.cwd ?? '',
      opts.input ?? '',
      String(env ? env.length : -1),
      ...(env ?? []),
      ...argv,
    ]);
    const stdout = a.stdout.toString();
    const stderr = a.stderr.toString();
    if (a.kind === 'exit' && a.value === 0) return { stdout, stderr };
    if (a.kind === 'exit') throw new CommandError(argv, a.value, null, stdout, stderr);
    if (a.kind === 'signal') throw new CommandError(argv, null, SIGNAL_NAMES.get(a.value) ?? 'SIGKILL', stdout, stderr);
    if (a.kind === 'errno' && a.value === constants.errno.ENOENT) throw new MissingCommandError(argv[0], PACKAGE_OF[argv[0].split('/').pop()!]);
    throw new Error(`${argv[0]}: could not start: ${stderr}`);
  }

  private async op(what: string, f: string[]): Promise<void> {
    const a = await this.request(f);
    if (a.kind === 'exit' && a.value === 0) return;
    const reason = a.stderr.toString().trim() || (a.kind === 'signal' ? `signal ${SIGNAL_NAMES.get(a.value) ?? a.value}` : `${a.kind} ${a.value}`);
    throw new HelperError(what, reason);
  }

  /** As `ip netns add NAME`: a new network namespace bound at /run/netns/NAME. */
  async netnsAdd(name: string): Promise<void> {
    checkNetnsName(name);
    return this.op(`ip netns add ${name}`, ['netns-add', name]);
  }

  /** As `ip netns del NAME`: the bind unmounted (detached) and the file removed. */
  async netnsDel(name: string): Promise<void> {
    checkNetnsName(name);
    return this.op(`ip netns del ${name}`, ['netns-del', name]);
  }

  /** mount(2); an empty source, fstype or data is NULL. */
  mount(source: string, target: string, fstype: string, flags: number, data = ''): Promise<void> {
    return this.op(`mount ${target}`, ['mount', source, target, fstype, String(flags), data]);
  }

  /** umount2(2). */
  umount(target: string, flags = 0): Promise<void> {
    return this.op(`umount ${target}`, ['umount', target, String(flags)]);
  }

  /**
   * Starts argv in a session of its own (it outlives the agent and the helper), its stderr appended to log,
   * its stdin and stdout held by the helper: `talk` writes it one line and reads one back, `drop` lets go.
   * Resolves to the program's pid and the id to name it by.
   */
  async hold(argv: string[], log: string): Promise<Held> {
    const a = await this.request(['hold', log, ...argv]);
    if (a.kind === 'held') return { pid: a.value, ref: String(a.id) };
    if (a.kind === 'errno' && a.value === constants.errno.ENOENT) throw new MissingCommandError(argv[0], PACKAGE_OF[argv[0].split('/').pop()!]);
    throw new HelperError(`start ${argv[0]}`, a.stderr.toString().trim() || `${a.kind} ${a.value}`);
  }

  /** Writes line to a held program's stdin, closes it, and resolves to what the program prints up to its
   *  first newline (or all it printed before closing its stdout). */
  async talk(held: Held, line: string): Promise<string> {
    const a = await this.request(['talk', held.ref, line]);
    if (a.kind !== 'exit') throw new HelperError(`talk to ${held.pid}`, a.stderr.toString().trim() || `${a.kind} ${a.value}`);
    return a.stdout.toString();
  }

  /** Closes a held program's pipes without a word (a spare shim then exits). */
  async drop(held: Held): Promise<void> {
    await this.op(`drop ${held.pid}`, ['drop', held.ref]);
  }

  /**
   * rtnetlink messages (cni/rtnl.ts) sent in order on a socket of the node's network namespace, or of
   * `netns` (a path under /run/netns); resolves to the replies that were not acknowledgements. The first
   * message the kernel refuses ends the request with an RtnlError naming it; `what` says what was asked.
   */
  async rtnl(what: string, msgs: Buffer[], netns = ''): Promise<Buffer> {
    return this.netlink(what, 'rtnl', netns, msgs);
  }

  /**
   * One nf_tables netlink batch (proxy/nfnl.ts: begin, messages, end), sent whole on a socket of the node's
   * network namespace or of `netns` (a path under /run/netns), so the kernel takes it as one transaction.
   * Resolves once every message that asked for an acknowledgement has one; a refusal rejects with an
   * RtnlError naming the message's position in the batch (-1: the batch itself).
   */
  async nfnl(what: string, batch: Buffer, netns = ''): Promise<void> {
    await this.netlink(what, 'nfnl', netns, [batch]);
  }

  private async netlink(what: string, op: 'rtnl' | 'nfnl', netns: string, payload: Buffer[]): Promise<Buffer> {
    if (netns && !(netns.startsWith('/run/netns/') && NETNS_NAME.test(netns.slice('/run/netns/'.length))))
      throw new HelperError(what, `invalid network namespace ${JSON.stringify(netns)}`);
    const a = await this.request([op, netns, ...payload]);
    if (a.kind === 'exit' && a.value === 0) return a.stdout;
    if (a.kind === 'nlerr') throw new RtnlError(what, Number(a.stderr.toString()), a.value);
    throw new HelperError(what, a.stderr.toString().trim() || `${a.kind} ${a.value}`);
  }

  /** Ends the helper (its stdin closes, it exits; what it started runs on) and waits for it. */
  async close(): Promise<void> {
    const sp = this.sp;
    if (!sp) return;
    this.refs(true);
    sp.child.stdin!.end();
    await sp.exited.catch(() => undefined);
  }
}

function checkNetnsName(name: string): void {
  if (!NETNS_NAME.test(name)) throw new HelperError(`ip netns ${name}`, `invalid network namespace name ${JSON.stringify(name)}`);
}

let installed: NodeHelper | undefined;

/** Makes `helper` the runner of every `run` in this process and of the operations below; undefined undoes it. */
export function installNodeHelper(helper: NodeHelper | undefined): void {
  installed = helper;
  useCommandRunner(helper);
}

export function installedNodeHelper(): NodeHelper | undefined {
  return installed;
}

/** `ip netns add`, by the installed helper or else by ip. */
export async function netnsAdd(name: string): Promise<void> {
  if (installed) return installed.netnsAdd(name);
  await run(['ip', 'netns', 'add', name]);
}

/** `ip netns del`, by the installed helper or else by ip. */
export async function netnsDel(name: string): Promise<void> {
  if (installed) return installed.netnsDel(name);
  await run(['ip', 'netns', 'del', name]);
}

/** A tmpfs at dir with mode 0755, nosuid, nodev and the size given. */
export async function mountTmpfs(dir: string, sizeBytes: number | undefined): Promise<void> {
  const data = ['mode=0755', ...(sizeBytes ? [`size=${sizeBytes}`] : [])].join(',');
  if (installed) return installed.mount('tmpfs', dir, 'tmpfs', MS_NOSUID | MS_NODEV, data);
  await run(['mount', '-t', 'tmpfs', '-o', `${data},nosuid,nodev`, 'tmpfs', dir]);
}

/** `mount --bind source target`, the paths taken as they are (no canonicalisation). */
export async function bindMount(source: string, target: string): Promise<void> {
  if (installed) return installed.mount(source, target, '', MS_BIND);
  await run(['mount', '--no-canonicalize', '--bind', source, target]);
}

/** `umount target`. */
export async function umount(target: string): Promise<void> {
  if (installed) return installed.umount(target);
  await run(['umount', target]);
}
