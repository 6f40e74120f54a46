// Shared bits for benchmarks: percentiles, tables, a started `k8ts server`, a keep-alive HTTPS client for it.
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summarize(ms: number[]): { n: number; p50: number; p90: number; p99: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

export function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return '-';
  return n >= 100 ? n.toFixed(0) : n.toFixed(digits);
}

export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ')).join('\n');
}

export class Client {
  private agent: Agent;
  constructor(
    private url: string,
    private token: string,
    ca: Buffer,
    maxSockets = 64,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets, ca });
  }

  call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ code: number; text: string; ms: number }> {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return this.send<{ code: number; text: string }>(method, path, data, { 'Content-Type': 'application/json', ...headers }, (res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ code: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
  }

  /** A GET read to its last byte and counted, as `curl -o /dev/null` reads it: the server's side and the
   *  transfer, without the client making one string of the body (for 16 MB, ~100 ms of this process). */
  fetchBytes(path: string, headers: Record<string, string> = {}): Promise<{ code: number; bytes: number; ms: number }> {
    return this.send<{ code: number; bytes: number }>('GET', path, undefined, headers, (res, done) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => done({ code: res.statusCode ?? 0, bytes }));
    });
  }

  /** One request with the admin token; `read` consumes the response and hands its result to `done`, timed from the start. */
  private send<T>(
    method: string,
    path: string,
    data: string | undefined,
    headers: Record<string, string>,
    read: (res: IncomingMessage, done: (r: T) => void) => void,
  ): Promise<T & { ms: number }> {
    const u = new URL(path, this.url);
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname + u.search,
          method,
          agent: this.agent,
          headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json', ...headers },
        },
        (res) => read(res, (r) => resolve({ ...r, ms: performance.now() - t0 })),
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** f(0) … f(n-1) with at most `width` calls in flight. */
export async function parallel(n: number, width: number, f: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await f(next++);
    }),
  );
}

export function podBody(name: string, labels: Record<string, string> = { app: 'bench' }): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: {
      containers: [
        {
          name: 'main',
          image: 'busybox',
          command: ['sleep', '3600'],
          ports: [{ containerPort: 80 }],
          env: [{ name: 'MODE', value: 'bench' }],
          resources: { requests: { cpu: '10m', memory: '16Mi' } },
        },
      ],
    },
  };
}

export function rssMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface Server {
  proc: ChildProcess;
  url: string;
  token: string;
  ca: Buffer;
  dataDir: string;
  kubeconfig: string;
  stop(): Promise<void>;
}

/** `k8ts server` as a child process on a free loopback port, with its admin credentials. nodeFlags: flags
 *  for node itself (--cpu-prof, which NODE_OPTIONS refuses); the server then runs the build's bundle with
 *  them rather than through bin/k8ts. */
export async function startServer(dir: string, store: string, etcd?: string, nodeFlags: string[] = []): Promise<Server> {
  const dataDir = join(dir, 'server');
  const a = ['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--store', store];
  if (etcd) a.push('--etcd-endpoints', etcd);
  const proc = nodeFlags.length
    ? spawn(process.execPath, [...nodeFlags, join(ROOT, 'dist/src/cli/k8ts.cjs'), ...a], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(join(ROOT, 'bin/k8ts'), a, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const url = await new Promise<string>((res, rej) => {
    proc.stderr!.on('data', (b: Buffer) => {
      log += b;
      const m = /serving on (\S+)/.exec(log);
      if (m) res(m[1]);
    });
    proc.on('exit', (c) => rej(new Error(`server exited ${c}: ${log}`)));
  });
  return {
    proc,
    url,
    dataDir,
    token: readFileSync(join(dataDir, 'admin.token'), 'utf8').trim(),
    ca: readFileSync(join(dataDir, 'pki/ca.crt')),
    kubeconfig: join(dataDir, 'kubeconfig'),
    async stop() {
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await done;
    },
  };
}

/** One process as /proc/<pid>/stat has it. */
export interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  /** Since boot, in clock ticks. */
  startTime: number;
  state: string;
  /** User + system CPU so far, in clock ticks (1/100 s). */
  ticks: number;
}

/** Every process of the machine, read from /proc/<pid>/stat (the command name in parentheses may hold
 *  spaces and parentheses: fields are counted after the last ')'). */
export function processTable(): Map<number, Proc> {
  const out = new Map<number, Proc>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const f = stat.slice(close + 2).split(' ');
      out.set(Number(d), {
        pid: Number(d),
        ppid: Number(f[1]),
        comm: stat.slice(stat.indexOf('(') + 1, close),
        startTime: Number(f[19]),
        state: f[0],
        ticks: Number(f[11]) + Number(f[12]),
      });
    } catch {
      // Exited while we read.
    }
  }
  return out;
}
