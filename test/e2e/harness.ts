// End-to-end harness: a real `k8ts server` process on a free loopback port in a temp dir, and the real
// kubectl binaries pointed at it with a private HOME (so discovery caches never leak between tests).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const K8TS = join(ROOT, 'bin/k8ts');

/** Directory holding the pinned kubectl.1.27 … kubectl.1.33 binaries, if the machine has them. */
export function kubectlDir(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  const p = r.stdout.trim();
  if (!p) return undefined;
  return dirname(realpathSync(p));
}

export function kubectlBinary(version: string): string | undefined {
  const d = kubectlDir();
  const p = d && join(d, `kubectl.${version}`);
  return p && existsSync(p) ? p : undefined;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestServer {
  url: string;
  dataDir: string;
  kubeconfig: string;
  token: string;
  home: string;
  proc: ChildProcess;
  kubectl(args: string[], opts?: { input?: string; env?: Record<string, string>; version?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** Write a file in the test's temp dir and return its path. */
  file(name: string, content: string): string;
  stop(): Promise<void>;
  kill9(): void;
}

export interface StartOptions {
  store?: 'sqlite' | 'etcd';
  etcdEndpoint?: string;
  dataDir?: string;
  port?: number;
  /** More `k8ts server` flags (e.g. --token-auth-file). */
  extraArgs?: string[];
}

export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const base = mkdtempSync(join(tmpdir(), 'k8ts-e2e-'));
  const dataDir = opts.dataDir ?? join(base, 'data');
  const home = join(base, 'home');
  const args = ['server', '--data-dir', dataDir, '--listen', `127.0.0.1:${opts.port ?? 0}`, '--store', opts.store ?? 'sqlite'];
  if (opts.extraArgs) args.push(...opts.extraArgs);
  if (opts.store === 'etcd') args.push('--etcd-endpoints', opts.etcdEndpoint!, '--etcd-prefix', `/k8ts-${process.pid}-${Date.now()}`);
  const proc = spawn(K8TS, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    // Generous: on a loaded 2-core machine the key generation and RBAC bootstrap alone took over 20 s. A server
    // that never came up is killed, so it cannot hold the test file open past its end.
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`k8ts server did not start in 60 s:\n${log}`));
    }, 60_000);
    proc.stderr!.on('data', (b: Buffer) => {
      log += b.toString();
      const m = /serving on (https:\/\/\S+)/.exec(log);
      if (m) {
        clearTimeout(t);
        resolveUrl(m[1]);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`k8ts server exited with ${code}:\n${log}`));
    });
  });
  proc.stdout!.resume();
  const kubeconfig = join(dataDir, 'kubeconfig');
  const token = (await import('node:fs')).readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  const server: TestServer = {
    url,
    dataDir,
    kubeconfig,
    token,
    home,
    proc,
    kubectl(kargs, o = {}) {
      const bin = kubectlBinary(o.version ?? '1.32');
      if (!bin) throw new Error(`kubectl.${o.version ?? '1.32'} not found beside the kubectl dispatcher`);
      // `--token` acts as that token only without a client certificate beside it: kubectl would send the admin
      // kubeconfig's certificate too, and the API server (as kube-apiserver) authenticates x509 first.
      const config = kargs.includes('--token') ? join(dataDir, 'kubeconfig-token') : kubeconfig;
      return new Promise((res) => {
        const child = spawn(bin, kargs, {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: config, ...(o.env ?? {}) },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        const t = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
        child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        child.on('close', (code) => {
          clearTimeout(t);
          res({ code: code ?? -1, stdout, stderr });
        });
        child.stdin.end(o.input ?? '');
      });
    },
    file(name, content) {
      const p = join(base, name);
      writeFileSync(p, content);
      return p;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(base, { recursive: true, force: true });
    },
    kill9() {
      proc.kill('SIGKILL');
    },
  };
  return server;
}
