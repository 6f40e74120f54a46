// The one way k8ts runs other programs: typed errors that keep the command line and what it printed.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';

export class CommandError extends Error {
  readonly code = 'CommandFailed';
  constructor(
    readonly argv: string[],
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`command failed (${exitCode !== null ? `exit ${exitCode}` : `signal ${signal}`}): ${argv.join(' ')}${stderr.trim() ? `\n${stderr.trim()}` : ''}`);
    this.name = 'CommandError';
  }
}

export class MissingCommandError extends Error {
  readonly code = 'MissingCommand';
  constructor(
    readonly command: string,
    readonly debianPackage?: string,
  ) {
    super(`${command}: not found${debianPackage ? ` (install the Debian package ${debianPackage}: apt-get install ${debianPackage})` : ''}`);
    this.name = 'MissingCommandError';
  }
}

/** Debian package that provides each command k8ts runs, for error messages. */
export const PACKAGE_OF: Record<string, string> = {
  openssl: 'openssl',
  etcd: 'etcd-server',
  ip: 'iproute2',
  nft: 'nftables',
  runc: 'runc',
  busybox: 'busybox-static',
  iperf3: 'iperf3',
  dnsperf: 'dnsperf',
  dnsmasq: 'dnsmasq-base',
  nsenter: 'util-linux',
  conntrack: 'conntrack',
  tcpdump: 'tcpdump',
  stdbuf: 'coreutils',
  perl: 'perl-base',
  script: 'bsdutils',
  stty: 'coreutils',
  zstd: 'zstd',
  'docker-registry': 'docker-registry',
  htpasswd: 'apache2-utils',
};

/**
 * The environment for an `nft` that may load a whole table: glibc's malloc told to back its heap with
 * transparent huge pages (`glibc.malloc.hugetlb=1`, glibc ≥ 2.35; the kernel's THP mode `madvise` or
 * `always`). nft keeps the parse tree of every element of a transaction (≈ 70 MB for the proxy's 30,000
 * elements at 10,000 services), and touching that heap a 4 KiB page at a time was half of nft's CPU time
 * (16,800 page faults, each dear in a VM); with 2 MiB pages 1,100–1,500, and nft's user + system time for
 * that load went from a median of 0.48 s to 0.37 s (8 interleaved runs each, `/usr/bin/time`, load 14–18).
 * A small transaction is unaffected (the same ~430 faults). Other tunables the caller set are kept.
 */
export function nftEnv(): NodeJS.ProcessEnv {
  const tunables = process.env.GLIBC_TUNABLES;
  if (tunables?.includes('glibc.malloc.hugetlb')) return process.env;
  return { ...process.env, GLIBC_TUNABLES: tunables ? `${tunables}:glibc.malloc.hugetlb=1` : 'glibc.malloc.hugetlb=1' };
}

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** What runs programs for `run`: by default a spawn from this process; the agent installs its node helper. */
export interface CommandRunner {
  run(argv: string[], opts: RunOptions): Promise<RunResult>;
}

let runner: CommandRunner | undefined;

/** Routes every `run` in this process through r (undefined: spawn here again); returns the one before. */
export function useCommandRunner(r: CommandRunner | undefined): CommandRunner | undefined {
  const before = runner;
  runner = r;
  return before;
}

export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runner ? runner.run(argv, opts) : spawnRun(argv, opts);
}

/** `run` by a spawn from this process. */
export function spawnRun(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      reject(missingOr(argv, e));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CommandError(argv, code, signal, stdout, stderr));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

function missingOr(argv: string[], e: NodeJS.ErrnoException): Error {
  return e.code === 'ENOENT' ? new MissingCommandError(argv[0], PACKAGE_OF[argv[0].split('/').pop()!]) : e;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** As for child_process.spawn; numbers are file descriptors handed to the child. */
  stdio?: StdioOptions;
  /** A new session: the child outlives this process and gets no signals meant for its group. */
  detached?: boolean;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Spawned {
  argv: string[];
  child: ChildProcess;
  /** Settles when the child has exited and its stdio has closed; rejects only if it could not start. */
  exited: Promise<Exit>;
}

/** Starts a program whose streams the caller handles itself (long-running helpers, interactive sessions). */
export function spawnProcess(argv: string[], opts: SpawnOptions = {}): Spawned {
  const child = spawn(argv[0], argv.slice(1), { env: opts.env, cwd: opts.cwd, stdio: opts.stdio ?? 'pipe', detached: opts.detached });
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) => reject(missingOr(argv, e)));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  exited.catch(() => {});
  child.stdin?.on('error', () => {});
  return { argv, child, exited };
}

/** The same failure a `run` would report, for callers of spawnProcess that judge the exit themselves. */
export function commandError(argv: string[], exit: Exit, stdout = '', stderr = ''): CommandError {
  return new CommandError(argv, exit.code, exit.signal, stdout, stderr);
}
