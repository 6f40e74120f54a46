// Processes run inside a running container (kubectl exec): `runc exec`, with a terminal when asked for.
//
// runc hands the terminal of a `-t` process over a unix socket as a file descriptor (SCM_RIGHTS), which
// Node cannot receive. So for a terminal, runc runs in the foreground under util-linux `script`: script
// gives runc a pty of its own, runc makes the container's pty and copies between the two (putting the
// outer one in raw mode, so the container's pty alone echoes and translates), and script copies the outer
// pty to our pipes. A resize sets the outer pty's size (stty -F), and runc passes it on at its SIGWINCH;
// an initial size given to exec() is set on the container's pty before the process starts.
import { randomBytes } from 'node:crypto';
import { readlink, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { run, spawnProcess } from '../../util/exec.js';
import { readText, type ContainerState } from './container.js';
import { ContainerNotRunningError, ExecError } from './errors.js';
import { lookPathError } from './lookpath.js';
import { runcError, type Runc } from './runc.js';

export interface ExecOptions {
  /** Run the process on a terminal: output (stdout and stderr) arrives on stdout, and stderr is null. */
  tty?: boolean;
  /** Give the process our stdin stream; without it the process reads end-of-file at once. */
  stdin?: boolean;
  /** Extra environment ("NAME=value"), on top of the container's. */
  env?: string[];
  /** Working directory; default: the container's. */
  cwd?: string;
  /** Initial terminal size (tty sessions). */
  cols?: number;
  rows?: number;
}

export interface ExecSession {
  stdin: Writable | null;
  stdout: Readable;
  stderr: Readable | null;
  /**
   * The process's exit status (128 + signal if a signal ended it). Rejects with ExecError if runc could not
   * start the process at all.
   */
  exitCode: Promise<number>;
  /** Sets the terminal size (tty sessions; a no-op otherwise). */
  resize(cols: number, rows: number): Promise<void>;
  /** Signals the process (or, before it has started, runc, which passes the signal on). */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface ExecContext {
  runc: Runc;
  script: string;
  stty: string;
  id: string;
  dir: string;
  state: ContainerState;
  /** The container's process (from its config.json): environment, working directory, user, capabilities. */
  process: Record<string, unknown>;
  env: string[];
  cwd: string;
}

/**
 * runc clears ONLCR on the container's pty and relies on the outer pty's output processing for CR LF; a
 * shell that saved its terminal settings before that (busybox ash restores them after every line) turns
 * ONLCR back on, and lines then end in CR CR LF. Both look the same on a terminal; this keeps the bytes
 * what a single pty gives.
 */
export function ttyNewlines(): Transform {
  let held = Buffer.alloc(0);
  let timer: NodeJS.Timeout | undefined;
  const t: Transform = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      clearTimeout(timer);
      const data = held.length ? Buffer.concat([held, chunk]) : chunk;
      // Keep trailing CRs back briefly: they may start a CR CR LF split across reads.
      let end = data.length;
      while (end > 0 && data[end - 1] === 0x0d && data.length - end < 2) end--;
      held = Buffer.from(data.subarray(end));
      if (held.length) {
        timer = setTimeout(() => {
          const h = held;
          held = Buffer.alloc(0);
          t.push(h);
        }, 20);
      }
      cb(
        null,
        Buffer.from(
          data
            .subarray(0, end)
            .toString('latin1')
            .replace(/\r\r\n/g, '\r\n'),
          'latin1',
        ),
      );
    },
    flush(cb) {
      clearTimeout(timer);
      cb(null, held);
    },
  });
  return t;
}

function shellQuote(argv: string[]): string {
  return argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

export async function startExec(ctx: ExecContext, argv: string[], opts: ExecOptions): Promise<ExecSession> {
  if (ctx.state.status !== 'running' || !ctx.state.pid) throw new ContainerNotRunningError(ctx.id, ctx.state.status);
  if (!argv.length) throw new ExecError(ctx.id, argv, 'no command given to exec');
  const env = [...(opts.tty && !(opts.env ?? []).some((e) => e.startsWith('TERM=')) ? ['TERM=xterm'] : []), ...(opts.env ?? [])];
  const cwd = opts.cwd ?? ctx.cwd;
  // Checked from the host through /proc/<pid>/root (the container's own view, volumes included), so a
  // missing command fails before anything runs, with the text Kubernetes users know from runc.
  const missing = await lookPathError(`/proc/${ctx.state.pid}/root`, argv[0], [...ctx.env, ...env], cwd);
  if (missing) throw new ExecError(ctx.id, argv, missing);

  const tag = randomBytes(6).toString('hex');
  const logFile = join(ctx.dir, `exec-${tag}.log`);
  const pidFile = join(ctx.dir, `exec-${tag}.pid`);
  const processFile = join(ctx.dir, `exec-${tag}.json`);
  let sp;
  if (opts.tty) {
    // A full process spec, because only that way can the terminal have its size before the process starts.
    const proc = {
      ...ctx.process,
      terminal: true,
      args: argv,
      cwd,
      env: [...ctx.env.filter((e) => !env.some((x) => x.split('=')[0] === e.split('=')[0])), ...env],
      ...(opts.cols && opts.rows ? { consoleSize: { width: Math.floor(opts.cols), height: Math.floor(opts.rows) } } : {}),
    };
    await writeFile(processFile, JSON.stringify(proc));
    const runcArgv = [...ctx.runc.base(logFile), 'exec', '--pid-file', pidFile, '--process', processFile, ctx.id];
    // The outer pty is made raw (and sized) before runc starts, so nothing typed or printed early is
    // translated by it; runc sets it raw again itself, keeping output post-processing (see ttyNewlines).
    const size = opts.cols && opts.rows ? ['rows', String(Math.floor(opts.rows)), 'cols', String(Math.floor(opts.cols))] : [];
    const command = `${shellQuote([ctx.stty, 'raw', '-echo', ...size])} && ${shellQuote(['exec', ...runcArgv])}`;
    sp = spawnProcess([ctx.script, '--quiet', '--return', '--echo', 'never', '--command', command, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, SHELL: '/bin/sh' },
    });
  } else {
    const runcArgv = [
      ...ctx.runc.base(logFile),
      'exec',
      '--pid-file',
      pidFile,
      ...env.flatMap((e) => ['--env', e]),
      ...(opts.cwd ? ['--cwd', opts.cwd] : []),
      ctx.id,
      ...argv,
    ];
    sp = spawnProcess(runcArgv, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  }
  const { child } = sp;

  let scriptErr = '';
  if (opts.tty) child.stderr!.on('data', (b: Buffer) => (scriptErr += b.toString()));

  const exitCode = (async () => {
    try {
      const exit = await sp.exited;
      const code = exit.code ?? 128 + (exit.signal ? constants.signals[exit.signal] : 0);
      if (code !== 0) {
        const why = await runcError(logFile);
        if (why) throw new ExecError(ctx.id, argv, why);
        if (opts.tty && code === 1 && scriptErr.trim()) throw new ExecError(ctx.id, argv, scriptErr.trim());
      }
      return code;
    } finally {
      await Promise.all([logFile, pidFile, processFile].map((f) => rm(f, { force: true })));
    }
  })();
  exitCode.catch(() => {});

  // The outer pty of a tty session: runc's stdin, once script has started it.
  const outerPty = async (): Promise<string | undefined> => {
    if (!child.pid) return undefined;
    const kids = await readText(`/proc/${child.pid}/task/${child.pid}/children`).catch(() => undefined);
    const kid = kids?.trim().split(/\s+/)[0];
    if (!kid) return undefined;
    const target = await readlink(`/proc/${kid}/fd/0`).catch(() => undefined);
    return target?.startsWith('/dev/pts/') ? target : undefined;
  };

  return {
    stdin: opts.stdin ? child.stdin! : null,
    stdout: opts.tty ? child.stdout!.pipe(ttyNewlines()) : child.stdout!,
    stderr: opts.tty ? null : child.stderr!,
    exitCode,
    async resize(cols: number, rows: number) {
      if (!opts.tty || !(cols > 0) || !(rows > 0)) return;
      for (let i = 0; i < 100; i++) {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const pty = await outerPty();
        if (pty) {
          await run([ctx.stty, '-F', pty, 'rows', String(Math.floor(rows)), 'cols', String(Math.floor(cols))]).catch(() => {});
          return;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      const pid = Number((await readText(pidFile).catch(() => undefined))?.trim());
      try {
        if (pid > 0) process.kill(pid, signal);
        else child.kill(signal === 'SIGKILL' ? 'SIGTERM' : signal);
      } catch {
        // already gone
      }
    },
  };
}
