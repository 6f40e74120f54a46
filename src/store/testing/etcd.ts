// Test and benchmark helper: a private etcd on 127.0.0.1, free ports, fresh temp dir, cleaned up by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ETCD_BINARY = '/usr/bin/etcd';

/** Why etcd tests cannot run here, or undefined when they can (for `{ skip: etcdSkipReason() }`). */
export function etcdSkipReason(): string | undefined {
  return existsSync(ETCD_BINARY) ? undefined : `${ETCD_BINARY} is missing: install the etcd-server package`;
}

export interface TestEtcd {
  /** Client URL, e.g. http://127.0.0.1:40123. */
  endpoint: string;
  dataDir: string;
  pid(): number | undefined;
  /** SIGTERM (SIGKILL after 5 s), then removes the temp dir. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; the data dir stays for restart(). */
  kill9(): void;
  /** Starts etcd again on the same ports and data dir (after kill9 or a crash) and waits for it. */
  restart(): Promise<void>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

/** Starts etcd and resolves once it answers its health endpoint. */
export async function startEtcd(opts: { startTimeoutMs?: number } = {}): Promise<TestEtcd> {
  const reason = etcdSkipReason();
  if (reason) throw new Error(reason);
  installExitHook();
  const root = mkdtempSync(join(tmpdir(), 'k8ts-etcd-'));
  dirs.add(root);
  const dataDir = join(root, 'data');
  const name = `k8ts-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const timeout = opts.startTimeoutMs ?? 20_000;
  let child: ChildProcess | undefined;
  let clientPort = 0;
  let peerPort = 0;
  let log = '';

  const launch = async (): Promise<void> => {
    log = '';
    const clientUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const c = spawn(
      ETCD_BINARY,
      [
        `--name=${name}`,
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${name}=${peerUrl}`,
        '--initial-cluster-state=new',
        '--logger=zap',
        '--log-level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = c;
    live.add(c);
    c.stderr!.on('data', (d: Buffer) => {
      log = (log + d.toString()).slice(-4000);
    });
    c.on('exit', () => live.delete(c));
    await waitHealthy(clientUrl, c, timeout, () => log);
  };

  // A free port can be taken between probing and etcd binding it; try again with new ports.
  for (let attempt = 1; ; attempt++) {
    [clientPort, peerPort] = await freePorts(2);
    try {
      await launch();
      break;
    } catch (err) {
      if (child) await killAndWait(child);
      if (attempt >= 3) {
        rmSync(root, { recursive: true, force: true });
        dirs.delete(root);
        throw err;
      }
    }
  }

  const endpoint = `http://127.0.0.1:${clientPort}`;
  return {
    endpoint,
    dataDir,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    async stop() {
      if (child) await killAndWait(child, 'SIGTERM');
      rmSync(root, { recursive: true, force: true });
      dirs.delete(root);
    },
    kill9() {
      if (child?.pid && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    async restart() {
      if (child) await killAndWait(child, 'SIGTERM');
      await launch();
    },
  };
}

async function waitHealthy(clientUrl: string, child: ChildProcess, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log()}`);
    }
    try {
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      if (body.health === 'true') return;
      last = JSON.stringify(body);
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`etcd at ${clientUrl} not healthy after ${timeoutMs} ms (last: ${last}):\n${log()}`);
}

function killAndWait(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => {
      const s = createServer();
      return new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(s));
      });
    }),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

// If the test process ends without stop() (a failed test, a runner timeout, ^C), its etcds and temp
// dirs must not outlive it.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanup = () => {
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanup();
      process.kill(process.pid, signal); // the default action, now that the handler is gone
    });
  }
}
