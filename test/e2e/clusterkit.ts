// A real k8ts cluster for end-to-end tests, driven by the real kubectl: bring-up, teardown with a leftover
// check, and the pod manifests and helpers the cluster suites share.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { K8TS, kubectlBinary } from './harness.js';
import { type ClusterPlan, nodeNetnsPrefix } from '../../src/lab/plan.js';

export const root = process.getuid?.() === 0;
export const skip = !root
  ? 'needs root: builds network namespaces, links and runc containers'
  : !kubectlBinary('1.32')
    ? 'kubectl.1.32 is not on this machine'
    : false;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Cluster {
  name: string;
  home: string;
  kubeconfig: string;
  plan: ClusterPlan;
  k(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  ok(args: string[], input?: string): Promise<string>;
  down(): void;
}

export function sh(argv: string[], env: NodeJS.ProcessEnv = process.env): { code: number; stdout: string; stderr: string; error?: string } {
  const r = spawnSync(argv[0], argv.slice(1), { env, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, error: r.error ? String(r.error) : (r.signal ?? undefined) };
}

export function up(name: string, extra: string[] = []): Cluster {
  const home = mkdtempSync(join(tmpdir(), 'k8ts-e2e-home-'));
  const env = { ...process.env, K8TS_HOME: home };
  const r = sh([K8TS, 'up', '--name', name, '--nodes', '2', ...extra], env);
  if (r.code !== 0) {
    sh([K8TS, 'down', '--name', name], env);
    rmSync(home, { recursive: true, force: true });
    throw new Error(`k8ts up failed:\n${r.stderr}`);
  }
  const kubeconfig = sh([K8TS, 'kubeconfig', '--name', name], env).stdout.trim();
  const plan = JSON.parse(readFileSync(join(home, name, 'cluster.json'), 'utf8'));
  const khome = join(home, 'kubectl-home');
  const k = (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
      const child = spawn(kubectlBinary('1.32')!, args, { env: { PATH: process.env.PATH!, HOME: khome, KUBECONFIG: kubeconfig } });
      let stdout = '';
      let stderr = '';
      const t = setTimeout(() => child.kill('SIGKILL'), 240_000);
      child.stdout.on('data', (b: Buffer) => (stdout += b));
      child.stderr.on('data', (b: Buffer) => (stderr += b));
      child.on('close', (code) => {
        clearTimeout(t);
        res({ code: code ?? -1, stdout, stderr });
      });
      child.stdin.end(input ?? '');
    });
  return {
    name,
    home,
    kubeconfig,
    plan,
    k,
    async ok(args, input) {
      const r = await k(args, input);
      assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    down() {
      const d = sh([K8TS, 'down', '--name', name], env);
      rmSync(home, { recursive: true, force: true });
      if (d.code !== 0) throw new Error(`k8ts down failed: ${d.stderr}`);
    },
  };
}

/** Brings a cluster up before a suite and down after it, checking that down leaves nothing behind. */
export function clusterFixture(name: string, extra: string[] = []): () => Cluster {
  let c: Cluster | undefined;
  before(() => {
    c = up(name, extra);
  });
  after(() => {
    if (!c) return;
    // For a post-mortem: K8TS_E2E_KEEP=1 leaves the cluster up (remove it with K8TS_HOME=… k8ts down --name …).
    if (process.env.K8TS_E2E_KEEP) return void process.stderr.write(`kept: K8TS_HOME=${c.home} k8ts down --name ${c.name}\n`);
    const { stem } = c.plan;
    const { home } = c;
    c.down();
    assert.deepEqual(leftovers(stem, home), [], 'k8ts down left things behind');
  });
  return () => c!;
}

export const busybox = (name: string, node: string, command: string, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: {app: ${name}}
spec:
  nodeSelector: {kubernetes.io/hostname: ${node}}
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", ${JSON.stringify(command)}]${extra}
---
`;

export const WEB =
  'mkdir -p /www/cgi-bin && echo hello-from-$HOSTNAME > /www/index.html && printf "#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho \\$REMOTE_ADDR\\n" > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 8080 -h /www';

/** The client address busybox httpd reports (it listens dual-stack: IPv4 clients come as ::ffff:a.b.c.d). */
export function remoteAddr(s: string): string {
  return s
    .trim()
    .replace(/^\[?::ffff:/, '')
    .replace(/\]$/, '');
}

export async function podIP(c: Cluster, pod: string): Promise<string> {
  return (await c.ok(['get', 'pod', pod, '-o', 'jsonpath={.status.podIP}'])).trim();
}

export function nodeNetns(c: Cluster, node: string): string {
  return c.plan.nodes.find((n) => n.name === node)!.netns;
}

/** Names in the host that belong to a cluster stem: namespaces, links, processes. */
export function leftovers(stem: string, home: string): string[] {
  const out: string[] = [];
  for (const ns of sh(['ip', 'netns', 'list']).stdout.split('\n')) if (ns.startsWith(`${stem}-`)) out.push(`netns ${ns}`);
  for (const l of sh(['ip', '-o', 'link']).stdout.split('\n')) {
    const name = l.split(': ')[1]?.split('@')[0];
    if (name && (name === stem || name.startsWith(`${stem}n`))) out.push(`link ${name}`);
  }
  // The lab's cgroups, made beside ours (k8ts up runs as our child, in our cgroups).
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    for (const c of (controllers ?? '').split(',')) {
      if (c !== 'cpuacct' && c !== 'memory') continue;
      const dir = readdirSync('/sys/fs/cgroup')
        .map((m) => join('/sys/fs/cgroup', m))
        .find((m) => m.split('/').pop()!.split(',').includes(c));
      const base = dir && join(dir, path);
      if (base && existsSync(base)) for (const e of readdirSync(base)) if (e.startsWith(`${stem}-`)) out.push(`cgroup ${join(base, e)}`);
    }
  }
  const ps = sh(['ps', '-eo', 'pid,args'])
    .stdout.split('\n')
    .filter((p) => p.includes(home));
  out.push(...ps.map((p) => `process ${p.trim()}`));
  if (existsSync(join(home, 'default'))) out.push(`dir ${home}`);
  // Volume tmpfs, subPath binds and container roots: none may outlive `k8ts down`.
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const point = line.split(' ')[4];
    if (point?.startsWith(`${home}/`)) out.push(`mount ${point}`);
  }
  return out;
}

/** The network namespace of a pod, as its node's agent names it. */
/** A pod as far as its network namespace's name needs it: placed on a node, with its uid. */
export interface PlacedPod {
  metadata: { uid: string };
  spec: { nodeName: string };
}

export function podNetnsOf(c: Cluster, pod: PlacedPod): string {
  return `${nodeNetnsPrefix(c.plan, pod.spec.nodeName)}pod-${pod.metadata.uid.replace(/-/g, '').slice(0, 12)}`;
}

/** Every pod network namespace of the cluster. */
export function podNetnses(c: Cluster): string[] {
  const own = new RegExp(`^${c.plan.netnsPrefix}node\\d+-pod-`);
  return sh(['ip', 'netns', 'list'])
    .stdout.split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => own.test(n));
}

/** A lab process's record (pid and argv), as `k8ts up` wrote it. */
export function labProcess(c: Cluster, name: string): { pid: number; argv: string[]; cgroups?: string[] } {
  return JSON.parse(readFileSync(join(c.home, c.name, 'pids', `${name}.json`), 'utf8'));
}

/** kill -9 a lab process (the server, or `agent-<node>`), run `during`, and start it again as `k8ts up` did. */
export async function restartLabProcess(c: Cluster, name: string, during: () => Promise<void> = async () => {}): Promise<void> {
  const rec = labProcess(c, name);
  process.kill(rec.pid, 'SIGKILL');
  await sleep(300);
  try {
    await during();
  } finally {
    const { startProcess } = await import('../../src/lab/procs.js');
    const node = name.startsWith('agent-') ? name.slice('agent-'.length) : undefined;
    await startProcess(join(c.home, c.name), name, rec.argv, node ? { netns: nodeNetns(c, node), cgroups: rec.cgroups } : {});
  }
}

/** Poll f until it returns a truthy value (or fail, naming what was awaited and the last value). */
export async function until<T>(what: string, f: () => Promise<T>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      last = await f();
      if (last) return last as T;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${ms / 1000} s waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}
