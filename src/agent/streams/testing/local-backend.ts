// Test support: stream backends on real local resources — exec runs local processes (a real pty through
// `script` for tty), port-forward dials 127.0.0.1, logs come from an in-memory log that can grow live.
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import {
  type ExecBackend,
  type ExecOptions,
  type ExecProcess,
  type LogBackend,
  type LogOptions,
  type PodRef,
  type PortForwardBackend,
  StreamBackendError,
} from '../backend.js';
import { formatLogTimestamp } from '../logs.js';

export interface LogLine {
  time: Date;
  text: string;
}

function onPath(cmd: string, path: string): boolean {
  const candidates = cmd.includes('/')
    ? [cmd]
    : path
        .split(':')
        .filter(Boolean)
        .map((d) => join(d, cmd));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function shellQuote(argv: string[]): string {
  return argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

export class LocalBackend implements ExecBackend, PortForwardBackend, LogBackend {
  container = 'main';
  running = true;
  /** Every resize the handlers delivered, in order. */
  readonly resizes: { width: number; height: number }[] = [];
  /** Every exec/attach started: what, and with which options. */
  readonly started: { argv: string[]; opts: ExecOptions }[] = [];
  /** Every open() of the logs, with its options. */
  readonly logOpens: LogOptions[] = [];
  readonly logLines: LogLine[] = [];
  private logEvents = new EventEmitter();
  private children = new Set<ChildProcess>();
  private sockets = new Set<Socket>();
  private readers = new Set<Readable>();

  private check(pod: PodRef, container: string): void {
    if (container !== this.container) throw new StreamBackendError('ContainerNotFound', `container "${container}" not found in pod "${pod.name}"`);
    if (!this.running)
      throw new StreamBackendError('ContainerNotRunning', `container "${container}" in pod "${pod.name}" is waiting to start: ContainerCreating`);
  }

  async exec(pod: PodRef, container: string, argv: string[], opts: ExecOptions): Promise<ExecProcess> {
    this.check(pod, container);
    const path = process.env.PATH ?? '/usr/bin:/bin';
    if (!onPath(argv[0], path)) throw new StreamBackendError('CommandNotFound', `exec: "${argv[0]}": executable file not found in $PATH`);
    this.started.push({ argv, opts });
    const env = { PATH: path, HOME: '/tmp', TERM: 'xterm', SHELL: '/bin/sh', PS1: '$ ' };
    const child = opts.tty
      ? spawn('script', ['-qfec', shellQuote(argv), '/dev/null'], { env, stdio: ['pipe', 'pipe', 'ignore'] })
      : spawn(argv[0], argv.slice(1), { env, stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    return this.track(child, opts.tty);
  }

  async attach(pod: PodRef, container: string, opts: ExecOptions): Promise<ExecProcess> {
    this.check(pod, container);
    this.started.push({ argv: [], opts });
    // The "main process" of this fake container: greets, then echoes stdin back upper-cased.
    const script = 'echo attached; tr a-z A-Z';
    const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    return this.track(child, false);
  }

  private track(child: ChildProcess, tty: boolean): ExecProcess {
    this.children.add(child);
    const exitCode = new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        this.children.delete(child);
        resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15));
      });
    });
    // Node resumes (and so discards) a child's unread stdio when it exits; the session may start reading
    // later (SPDY streams arrive after the process started), so the output is held in our own buffers.
    const hold = (r: Readable | null) => (r ? r.pipe(new PassThrough()) : null);
    return {
      stdin: child.stdin ?? null,
      stdout: hold(child.stdout)!,
      stderr: tty ? null : hold(child.stderr),
      resize: (width, height) => {
        this.resizes.push({ width, height });
      },
      exitCode,
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    };
  }

  connect(_pod: PodRef, port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        resolve(s);
      });
      s.once('error', reject);
    });
  }

  appendLog(text: string, time = new Date()): void {
    const line = { time, text };
    this.logLines.push(line);
    this.logEvents.emit('line', line);
  }

  open(pod: PodRef, container: string, opts: LogOptions): Readable {
    this.check(pod, container);
    this.logOpens.push(opts);
    const since = opts.sinceTime?.getTime() ?? (opts.sinceSeconds !== undefined ? Date.now() - opts.sinceSeconds * 1000 : -Infinity);
    const render = (l: LogLine) => Buffer.from(`${opts.timestamps ? `${formatLogTimestamp(l.time)} ` : ''}${l.text}\n`);
    let lines = this.logLines.filter((l) => l.time.getTime() >= since);
    if (opts.tailLines !== undefined) lines = lines.slice(Math.max(0, lines.length - opts.tailLines));
    let budget = opts.limitBytes ?? Infinity;
    const reader = new Readable({ read() {} });
    const emit = (l: LogLine) => {
      if (budget <= 0) return;
      let b = render(l);
      if (b.length > budget) b = b.subarray(0, budget);
      budget -= b.length;
      reader.push(b);
      if (budget <= 0) reader.push(null);
    };
    for (const l of lines) emit(l);
    if (!opts.follow || budget <= 0) {
      if (budget > 0) reader.push(null);
      return reader;
    }
    this.logEvents.on('line', emit);
    this.readers.add(reader);
    reader.on('close', () => {
      this.logEvents.off('line', emit);
      this.readers.delete(reader);
    });
    return reader;
  }

  /** Ends every follow reader, as a stopping container would. */
  endLogs(): void {
    for (const r of this.readers) r.push(null);
  }

  /** How many processes, pod connections and log followers are still open. */
  live(): { children: number; sockets: number; readers: number } {
    return { children: this.children.size, sockets: this.sockets.size, readers: this.readers.size };
  }

  close(): void {
    for (const c of this.children) c.kill('SIGKILL');
    for (const s of this.sockets) s.destroy();
    for (const r of this.readers) r.destroy();
  }
}
