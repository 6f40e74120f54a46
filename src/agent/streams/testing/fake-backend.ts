// Test support: an in-process exec backend whose processes the test drives by hand, and a plain HTTP
// server that routes every request and upgrade to handleStream.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { ExecBackend, ExecOptions, ExecProcess, PodRef, StreamBackends } from '../backend.js';
import type { StreamBackendError } from '../backend.js';
import { type StreamKind, handleStream } from '../handler.js';

/** One started process: the test writes its output, ends it, and sees what the client sent. */
export class FakeProcess {
  readonly stdout = new PassThrough();
  readonly stderr: PassThrough | null;
  readonly stdin: PassThrough | null;
  readonly resizes: [number, number][] = [];
  stdinText = '';
  stdinEnded = false;
  killed = false;
  private settle!: { resolve: (n: number) => void; reject: (e: Error) => void };
  readonly exitCode = new Promise<number>((resolve, reject) => (this.settle = { resolve, reject }));

  constructor(
    readonly argv: string[],
    readonly opts: ExecOptions,
  ) {
    this.stderr = opts.tty ? null : new PassThrough();
    this.stdin = opts.stdin ? new PassThrough() : null;
    this.stdin?.on('data', (b: Buffer) => (this.stdinText += b.toString('utf8')));
    this.stdin?.on('end', () => (this.stdinEnded = true));
    this.exitCode.catch(() => {});
  }

  /** Ends the output streams and exits with `code`. */
  exit(code: number): void {
    this.stdout.end();
    this.stderr?.end();
    this.settle.resolve(code);
  }

  fail(e: Error): void {
    this.stdout.end();
    this.stderr?.end();
    this.settle.reject(e);
  }

  asExecProcess(): ExecProcess {
    return {
      stdin: this.stdin,
      stdout: this.stdout,
      stderr: this.stderr,
      resize: (w, h) => this.resizes.push([w, h]),
      exitCode: this.exitCode,
      kill: () => {
        this.killed = true;
        this.exit(137);
      },
    };
  }
}

export class FakeExecBackend implements ExecBackend {
  readonly processes: FakeProcess[] = [];
  /** Thrown by the next exec/attach instead of starting a process. */
  failNext: StreamBackendError | undefined;
  private waiters: ((p: FakeProcess) => void)[] = [];

  async exec(_pod: PodRef, _container: string, argv: string[], opts: ExecOptions): Promise<ExecProcess> {
    return this.start(argv, opts);
  }

  async attach(_pod: PodRef, _container: string, opts: ExecOptions): Promise<ExecProcess> {
    return this.start([], opts);
  }

  private start(argv: string[], opts: ExecOptions): ExecProcess {
    const f = this.failNext;
    if (f) {
      this.failNext = undefined;
      throw f;
    }
    const p = new FakeProcess(argv, opts);
    this.processes.push(p);
    for (const w of this.waiters.splice(0)) w(p);
    return p.asExecProcess();
  }

  /** Resolves with the next process started after this call. */
  next(): Promise<FakeProcess> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export interface StreamServer {
  port: number;
  sessions: Promise<void>[];
  close(): Promise<void>;
}

const POD: PodRef = { namespace: 'default', name: 'web', uid: 'uid-1' };

/** A plain HTTP server: `/<kind>?…` goes to handleStream(kind) as a request or as an upgrade. */
export async function startStreamServer(backends: StreamBackends, pod: PodRef = POD): Promise<StreamServer> {
  const sessions: Promise<void>[] = [];
  const sockets = new Set<Socket>();
  const route = (url: string): { kind: StreamKind; params: URLSearchParams } => {
    const u = new URL(url, 'http://x');
    return { kind: u.pathname.slice(1) as StreamKind, params: u.searchParams };
  };
  const srv: Server = createServer((req, res) => {
    const { kind, params } = route(req.url ?? '/');
    sessions.push(handleStream(req, res, Buffer.alloc(0), kind, pod, params, backends));
  });
  srv.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  srv.on('upgrade', (req, socket, head) => {
    const { kind, params } = route(req.url ?? '/');
    sessions.push(handleStream(req, socket, head, kind, pod, params, backends));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: (srv.address() as AddressInfo).port,
    sessions,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}
