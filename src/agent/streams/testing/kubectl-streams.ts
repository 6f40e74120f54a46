// Test support: the kubectl harness serving one Running pod whose exec/attach/portforward/log requests go
// to handleStream with a LocalBackend, plus long-running kubectl processes (port-forward, logs -f, -it).
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { type Harness, sendJson, startHarness } from '../../../testing/kubectl-harness.js';
import type { PodRef } from '../backend.js';
import { type StreamKind, handleStream } from '../handler.js';
import { LocalBackend } from './local-backend.js';

export const POD: PodRef = { namespace: 'default', name: 'web', uid: '6f1c2a3e-0000-4000-8000-000000000001' };

export function podObject(): Record<string, unknown> {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name: POD.name, namespace: POD.namespace, uid: POD.uid, resourceVersion: '1', creationTimestamp: '2025-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'main', image: 'busybox' }], nodeName: 'node1' },
    status: {
      phase: 'Running',
      podIP: '10.244.1.5',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [
        { name: 'main', ready: true, restartCount: 0, image: 'busybox', imageID: '', state: { running: { startedAt: '2025-01-01T00:00:00Z' } } },
      ],
    },
  };
}

const STREAM_PATH = new RegExp(`^/api/v1/namespaces/${POD.namespace}/pods/${POD.name}/(exec|attach|portforward|log)$`);

export interface StreamHarness {
  h: Harness;
  backend: LocalBackend;
  /** Every handleStream call's promise, to check that sessions end. */
  sessions: Promise<void>[];
  /** Starts kubectl without waiting for it; it is killed at close() if still running. */
  spawn(bin: string, args: string[], env?: Record<string, string>): LiveProcess;
  close(): Promise<void>;
}

export async function startStreamHarness(): Promise<StreamHarness> {
  const backend = new LocalBackend();
  const backends = { exec: backend, portForward: backend, logs: backend };
  const sessions: Promise<void>[] = [];
  const serve = (url: string, run: (params: URLSearchParams) => Promise<void>) => {
    const params = new URL(url, 'https://x').searchParams;
    sessions.push(run(params));
  };
  const h = await startHarness(
    (req, res, raw) => {
      const path = req.url.split('?')[0];
      if (req.method === 'GET' && path === `/api/v1/namespaces/${POD.namespace}/pods/${POD.name}`) {
        sendJson(res, 200, podObject());
        return true;
      }
      const m = STREAM_PATH.exec(path);
      if (!m) return false;
      const kind = m[1] as StreamKind;
      serve(req.url, (params) => handleStream(raw, res, Buffer.alloc(0), kind, POD, params, backends));
      return true;
    },
    undefined,
    {
      upgrade: (req, socket, head) => {
        const url = req.url ?? '';
        const m = STREAM_PATH.exec(url.split('?')[0]);
        if (!m) return false;
        const kind = m[1] as StreamKind;
        serve(url, (params) => handleStream(req, socket, head, kind, POD, params, backends));
        return true;
      },
    },
  );
  const live = new Set<LiveProcess>();
  return {
    h,
    backend,
    sessions,
    spawn(bin, args, env) {
      const p = new LiveProcess(spawn(bin, args, { env: { ...h.env, ...env }, cwd: h.dir, stdio: ['pipe', 'pipe', 'pipe'] }));
      live.add(p);
      void p.exit.then(() => live.delete(p));
      return p;
    },
    async close() {
      await Promise.all([...live].map((p) => p.kill()));
      backend.close();
      await h.close();
    },
  };
}

/** A running child process with its output collected, for commands that do not end on their own. */
export class LiveProcess {
  stdout = '';
  stderr = '';
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (b: Buffer) => {
      this.stdout += b.toString('utf8');
      this.notify();
    });
    child.stderr!.on('data', (b: Buffer) => {
      this.stderr += b.toString('utf8');
      this.notify();
    });
    child.stdin!.on('error', () => {});
    this.exit = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        this.notify();
        resolve({ code, signal });
      }),
    );
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first match of `re` in stdout (or stderr, with `stream`), failing after `ms`. */
  async waitFor(re: RegExp, ms = 20_000, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this[stream].match(re);
      if (m) return m;
      if (!this.running && this.child.stdout!.readableEnded && this.child.stderr!.readableEnded) {
        throw new Error(
          `process exited (${this.child.exitCode ?? this.child.signalCode}) before ${re} appeared on ${stream}; stdout: ${JSON.stringify(this.stdout)} stderr: ${JSON.stringify(this.stderr)}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re} on ${stream}; stdout: ${JSON.stringify(this.stdout)} stderr: ${JSON.stringify(this.stderr)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for the exit, killing the process if it takes longer than `ms`. */
  async wait(ms = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const t = setTimeout(() => this.child.kill('SIGKILL'), ms);
    try {
      return await this.exit;
    } finally {
      clearTimeout(t);
    }
  }

  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exit;
  }
}

/** A TCP echo server on 127.0.0.1 (the pod's "port 80" in the port-forward tests). */
export async function startEchoServer(): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let total = 0;
  const srv: Server = createServer((s) => {
    total++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: (srv.address() as AddressInfo).port,
    connections: () => total,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 with nothing listening (bound once, then released). */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
