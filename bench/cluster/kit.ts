// Pieces of the cluster benchmark: lab clusters made and removed with the real `k8ts up`/`k8ts down` (and a
// check that nothing of them is left), the cluster's process tree and its memory, a pod watch that notes
// when each pod is first seen Running with an IP, the floors (bare pod plumbing + runc, a bare veth pair)
// and iperf3 between network namespaces.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { run } from '../../src/util/exec.js';
import type { KObject, Pod } from '../../src/api/types.js';
import { EVENTS, NAMESPACES, PODS } from '../../src/api/kinds.js';
import { RestClient, configFromKubeconfig } from '../../src/client/rest.js';
import { loadPlan, nodeNetnsPrefix, type ClusterPlan } from '../../src/lab/plan.js';
import { listLinks, listNetns } from '../../src/lab/hostnet.js';
import { readProc } from '../../src/lab/procs.js';
import { type Proc, processTable } from '../lib.js';
import { ensureImages } from '../../src/agent/runtime/images.js';
import { containerArgv, ociConfig } from '../../src/agent/runtime/spec.js';

export { PODS };

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const K8TS = join(ROOT, 'bin/k8ts');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The machine's busy and idle CPU time so far (s), from /proc/stat. */
function machineCpu(): { busy: number; idle: number } {
  const t = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  return { busy: (t[0] + t[1] + t[2] + t[4] + t[5] + t[6] + t[7]) / 100, idle: t[3] / 100 };
}

/**
 * Waits until the machine is quiet: two half-second samples in a row below `share` of its CPUs busy (at most
 * maxMs). A deleted network namespace is torn down by the kernel later, in a kernel worker: after 100 of them
 * (a floor run's cleanup) that was seconds of CPU, which fell into whatever was measured next. Returns the
 * time waited, in ms.
 */
export async function settle(share = 0.15, maxMs = 30_000): Promise<number> {
  const t0 = performance.now();
  let quiet = 0;
  let a = machineCpu();
  while (quiet < 2 && performance.now() - t0 < maxMs) {
    await sleep(500);
    const b = machineCpu();
    const busy = (b.busy - a.busy) / Math.max(0.001, b.busy - a.busy + b.idle - a.idle);
    quiet = busy < share ? quiet + 1 : 0;
    a = b;
  }
  return performance.now() - t0;
}

// ---- clusters ----

export interface Cluster {
  name: string;
  plan: ClusterPlan;
  client: RestClient;
}

/** Every process the bench started and has not seen exit (iperf3 servers), for cleanup on any exit path. */
export const children = new Set<ChildProcess>();

export async function k8ts(home: string, args: string[]): Promise<{ ms: number; stdout: string; stderr: string }> {
  const t0 = performance.now();
  const r = await run([K8TS, ...args], { env: { ...process.env, K8TS_HOME: home } });
  return { ms: performance.now() - t0, ...r };
}

/** `k8ts up`; returns the cluster and the command's wall time, and the step lines it printed. */
export async function clusterUp(
  home: string,
  name: string,
  nodes: number,
  backend: 'host-gw' | 'vxlan',
  made: Set<string>,
): Promise<{ cluster: Cluster; ms: number; steps: string[] }> {
  made.add(name);
  const r = await k8ts(home, ['up', '--name', name, '--nodes', String(nodes), '--backend', backend]);
  const plan = await loadPlan(home, name);
  const client = new RestClient(configFromKubeconfig(plan.paths.kubeconfig));
  return { cluster: { name, plan, client }, ms: r.ms, steps: r.stderr.split('\n').filter((l) => /^[✓✗]/.test(l)) };
}

/**
 * `k8ts down`, then a look for anything of the cluster still there: its state directory, namespaces,
 * host links, nftables tables, and any process that was part of it (pids seen before down, by start time).
 */
/** The end of a benchmark on a lab of its own: the lab down (what it left behind counted as a failure) and
 *  its K8TS_HOME removed. Called from a finally block, so it runs on failure too. */
export async function labDone(home: string, c: Cluster | undefined, made: Set<string>, failures: string[]): Promise<void> {
  if (c) {
    const d = await clusterDown(home, c, made);
    if (d.left.length) failures.push(`lab left behind: ${d.left.join(', ')}`);
  }
  rmSync(home, { recursive: true, force: true });
}

export async function clusterDown(
  home: string,
  c: { name: string; plan?: ClusterPlan; client?: RestClient },
  made: Set<string>,
): Promise<{ ms: number; left: string[] }> {
  c.client?.close();
  const plan = c.plan ?? (await loadPlan(home, c.name).catch(() => undefined));
  const before = plan ? clusterProcesses(plan) : [];
  const containers = plan
    ? plan.nodes.flatMap((n) => {
        try {
          return readdirSync(join(n.dir, 'runtime', 'containers'));
        } catch {
          return [];
        }
      })
    : [];
  let ms = NaN;
  const left: string[] = [];
  try {
    ms = (await k8ts(home, ['down', '--name', c.name])).ms;
    made.delete(c.name);
  } catch (e) {
    left.push(`k8ts down failed: ${e instanceof Error ? e.message : e}`);
  }
  if (!plan) return { ms, left };
  if (existsSync(plan.dir)) left.push(`state directory ${plan.dir}`);
  const ns = (await listNetns()).filter((n) => n.startsWith(plan.netnsPrefix));
  if (ns.length) left.push(`namespaces ${ns.join(' ')}`);
  const own = new RegExp(`^${plan.stem}(n\\d+)?$`);
  const links = (await listLinks()).filter((l) => own.test(l));
  if (links.length) left.push(`links ${links.join(' ')}`);
  const tables = (JSON.parse((await run(['nft', '-j', 'list', 'tables'])).stdout).nftables as { table?: { name: string } }[]).flatMap((x) =>
    x.table && (x.table.name === plan.nftTable || x.table.name.startsWith(`${plan.nftTable}-`)) ? [x.table.name] : [],
  );
  if (tables.length) left.push(`nftables tables ${tables.join(' ')}`);
  const alive: string[] = [];
  for (const p of before) {
    const now = await readProc(p.pid);
    if (now && now.startTime === p.startTime) alive.push(`${p.pid} (${p.comm})`);
  }
  if (alive.length) left.push(`processes ${alive.join(' ')}`);
  const cgroups = leftCgroups(containers);
  if (cgroups.length) left.push(`cgroups ${cgroups.join(' ')}`);
  return { ms, left };
}

/** runc makes a cgroup named after each container in every hierarchy; those of the given ids still there. */
export function leftCgroups(ids: string[]): string[] {
  if (!ids.length) return [];
  const roots = readdirSync('/sys/fs/cgroup')
    .map((h) => join('/sys/fs/cgroup', h))
    .filter((h) => existsSync(join(h, 'cgroup.procs')));
  if (!roots.length) roots.push('/sys/fs/cgroup');
  return ids.flatMap((id) => roots.filter((r) => existsSync(join(r, id))).map((r) => join(r, id)));
}

// ---- processes and memory ----

/** The recorded processes of the cluster (pid files) and all their descendants, live ones only; role per pid. */
export function clusterProcesses(plan: ClusterPlan): (Proc & { role: string })[] {
  const table = processTable();
  const kids = new Map<number, Proc[]>();
  for (const p of table.values()) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), p]);
  const out: (Proc & { role: string })[] = [];
  let roots: string[] = [];
  try {
    roots = readdirSync(plan.paths.pids).filter((f) => f.endsWith('.pid'));
  } catch {
    return out;
  }
  for (const f of roots) {
    const pid = Number(readFileSync(join(plan.paths.pids, f), 'utf8').trim());
    const root = table.get(pid);
    if (!root) continue;
    const role = f.replace(/\.pid$/, '').replace(/-.*/, '');
    const stack = [root];
    while (stack.length) {
      const p = stack.pop()!;
      if (p.state !== 'Z')
        out.push({
          ...p,
          role:
            p === root ? role : p.comm.startsWith('k8ts-shim') ? 'shim' : p.comm === 'runc' ? 'runc' : p.ppid === root.pid ? `${role}'s helper` : 'container',
        });
      stack.push(...(kids.get(p.pid) ?? []));
    }
  }
  return out;
}

function statusKB(pid: number, field: string): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function pssKB(pid: number): number {
  try {
    return Number(/Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export interface Memory {
  /** Sum of VmRSS (shared pages counted in every process), MB. */
  rss: number;
  /** Sum of Pss (shared pages split between their users), MB. */
  pss: number;
  byRole: Record<string, { n: number; rss: number }>;
}

export function clusterMemory(plan: ClusterPlan): Memory {
  const m: Memory = { rss: 0, pss: 0, byRole: {} };
  for (const p of clusterProcesses(plan)) {
    const rss = statusKB(p.pid, 'VmRSS') / 1024;
    m.rss += rss;
    m.pss += pssKB(p.pid) / 1024;
    const r = (m.byRole[p.role] ??= { n: 0, rss: 0 });
    r.n++;
    r.rss += rss;
  }
  return m;
}

export interface CpuSnapshot {
  /** pid:starttime → role and CPU seconds of the process itself and of its reaped children (ip, nft, runc…). */
  procs: Map<string, { role: string; self: number; children: number }>;
  /** The whole machine, all tenants: CPU seconds busy and idle (/proc/stat). */
  busy: number;
  idle: number;
}

const HZ = 100;

export function cpuSnapshot(plan: ClusterPlan): CpuSnapshot {
  const procs = new Map<string, { role: string; self: number; children: number }>();
  for (const p of clusterProcesses(plan)) {
    try {
      const st = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      procs.set(`${p.pid}:${p.startTime}`, { role: p.role, self: (Number(f[11]) + Number(f[12])) / HZ, children: (Number(f[13]) + Number(f[14])) / HZ });
    } catch {
      // Exited meanwhile.
    }
  }
  return { procs, ...machineCpu() };
}

/**
 * CPU seconds of the machine's processes that are not the cluster's, between two process tables, by command
 * name (kernel workers' numbers dropped: kworker/u4:2 counts as kworker); those that exited in between are
 * lost, as in cpuSpent. Biggest first.
 */
export function outsideCpu(a: Map<number, Proc>, b: Map<number, Proc>, plan: ClusterPlan): [string, number][] {
  const ours = new Set(clusterProcesses(plan).map((p) => p.pid));
  const by = new Map<string, number>();
  for (const p of b.values()) {
    if (ours.has(p.pid)) continue;
    const before = a.get(p.pid);
    const ticks = p.ticks - (before && before.startTime === p.startTime ? before.ticks : 0);
    if (ticks <= 0) continue;
    const name = p.comm.replace(/[/:][^a-z]*$|\/.*$/i, '');
    by.set(name, (by.get(name) ?? 0) + ticks / HZ);
  }
  return [...by].sort((x, y) => y[1] - x[1]);
}

/** CPU seconds spent between two snapshots, by role (processes born in between count whole; those gone are lost). */
export function cpuSpent(a: CpuSnapshot, b: CpuSnapshot): { byRole: Map<string, number>; busy: number; idle: number } {
  const byRole = new Map<string, number>();
  const add = (k: string, v: number) => byRole.set(k, (byRole.get(k) ?? 0) + v);
  for (const [k, p] of b.procs) {
    const before = a.procs.get(k) ?? { self: 0, children: 0 };
    add(p.role, p.self - before.self);
    add(`${p.role}'s exited children`, p.children - before.children);
  }
  return { byRole, busy: b.busy - a.busy, idle: b.idle - a.idle };
}

// ---- pods ----

export function benchPod(name: string, nodeName?: string): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { ...(nodeName ? { nodeName } : {}), terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: 'busybox', command: ['sleep', '3600'] }] },
  } as KObject;
}

export async function createNamespace(c: Cluster, ns: string): Promise<void> {
  await c.client.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } as KObject);
}

export function podNetns(plan: ClusterPlan, pod: Pod): string {
  return `${nodeNetnsPrefix(plan, pod.spec?.nodeName ?? '')}pod-${pod.metadata.uid!.replace(/-/g, '').slice(0, 12)}`;
}

/** Notes, per pod name, when a watch first showed it Running with a pod IP (performance.now()). */
export class PodWatch {
  readonly running = new Map<string, number>();
  /** When the watch first showed the pod bound to a node. */
  readonly bound = new Map<string, number>();
  readonly pods = new Map<string, Pod>();
  private handle?: { close(): void };
  private closed = false;
  errors = 0;

  constructor(
    private c: Cluster,
    private ns: string,
  ) {}

  private see(p: Pod, at: number): void {
    this.pods.set(p.metadata.name!, p);
    if (p.spec?.nodeName && !this.bound.has(p.metadata.name!)) this.bound.set(p.metadata.name!, at);
    if (p.status?.phase === 'Running' && p.status?.podIP && !this.running.has(p.metadata.name!)) this.running.set(p.metadata.name!, at);
  }

  async start(): Promise<this> {
    const { items, resourceVersion } = await this.c.client.list(PODS, this.ns);
    for (const p of items) this.see(p, performance.now());
    this.handle = await this.c.client.watch(PODS, this.ns, resourceVersion, {
      onEvent: (type, obj) => {
        if (type === 'DELETED') this.pods.delete(obj.metadata.name!);
        else this.see(obj, performance.now());
      },
      onError: () => {
        // A lost watch: re-list (those found Running now get a later time than the truth) and watch again.
        if (this.closed) return;
        this.errors++;
        void this.start().catch(() => undefined);
      },
    });
    return this;
  }

  /** Waits until every name was seen Running or the time is up; returns the names still not Running. */
  async waitAll(names: string[], timeoutMs: number): Promise<string[]> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const missing = names.filter((n) => !this.running.has(n));
      if (!missing.length || performance.now() > end) return missing;
      await sleep(20);
    }
  }

  close(): void {
    this.closed = true;
    this.handle?.close();
  }
}

/** Runs fn over items with at most `width` in flight. */
export async function pool<T>(items: T[], width: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

/** Deletes every pod of the namespace (grace 0) and waits until the API and the nodes hold none of them. */
export async function deleteAllPods(c: Cluster, ns: string, timeoutMs = 180_000): Promise<number> {
  const t0 = performance.now();
  const { items } = await c.client.list(PODS, ns);
  await pool(items, 16, async (p) => {
    await c.client.delete(PODS, ns, p.metadata.name!, { gracePeriodSeconds: 0 }).catch((e) => {
      if ((e as { code?: number }).code !== 404) throw e;
    });
  });
  const netns = new Set(items.map((p) => podNetns(c.plan, p)));
  for (;;) {
    const left = (await c.client.list(PODS, ns)).items.length + (await listNetns()).filter((n) => netns.has(n)).length;
    if (!left) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${left} pods or pod namespaces of ${ns} still there ${timeoutMs / 1000} s after deleting them`);
    await sleep(100);
  }
}

/** Why pods are not Running: their phase/waiting reasons counted, and the last event messages about them. */
export async function whyNotRunning(c: Cluster, ns: string, names: string[]): Promise<string> {
  const reasons = new Map<string, number>();
  for (const n of names.slice(0, 400)) {
    const p = await c.client.get(PODS, ns, n).catch(() => undefined);
    const w = p?.status?.containerStatuses?.[0]?.state?.waiting?.reason;
    const why = !p ? 'gone' : `${p.status?.phase ?? 'no status'}${p.spec?.nodeName ? ` on ${p.spec.nodeName}` : ' unscheduled'}${w ? ` (${w})` : ''}`;
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  const events = (await c.client.list(EVENTS, ns)).items
    .filter((e) => e.type === 'Warning' || e.reason === 'FailedScheduling')
    .slice(-3)
    .map((e) => `${e.reason}: ${e.message}`);
  return [...[...reasons].map(([k, v]) => `${v}× ${k}`), ...events].join('; ');
}

/** `runc run -d` with the container's stdio on /dev/null (a pipe would stay open as long as the container runs). */
function runcRunDetached(root: string, bundle: string, id: string): Promise<void> {
  return new Promise((res, rej) => {
    const p = spawn('runc', ['--root', root, 'run', '--detach', '--bundle', bundle, id], { stdio: 'ignore' });
    p.once('error', rej);
    p.once('exit', (code) => (code === 0 ? res() : rej(new Error(`runc run ${id} exited ${code}`))));
  });
}

// ---- the pod floor: bare plumbing and runc, no control plane ----

/**
 * Pods made directly, the cheapest way this machine allows: a node namespace with a bridge; per pod one
 * `ip -batch` in the node (`netns add` + the veth into the bridge, its peer born in the pod namespace), one
 * `ip -n POD -batch` (address, links up, default route) and `runc run -d` of busybox in that namespace.
 */
export class FloorLab {
  readonly id = randomBytes(3).toString('hex');
  readonly node = `k8tsb3-${this.id}-node`;
  private pods: string[] = [];
  private made = false;
  private runcRoot: string;
  private rootfs = '';
  private template: Record<string, unknown> = {};

  constructor(private dir: string) {
    this.runcRoot = join(dir, 'runc');
  }

  async start(): Promise<this> {
    mkdirSync(this.runcRoot, { recursive: true });
    await run(['ip', 'netns', 'add', this.node]);
    this.made = true;
    await run(['ip', '-n', this.node, '-batch', '-'], {
      input: 'link set lo up\nlink add cbr0 type bridge\naddr add 10.250.0.1/16 dev cbr0\nlink set cbr0 up\n',
    });
    const [image] = await ensureImages(join(this.dir, 'images'));
    this.rootfs = image.rootfs;
    const spec = { name: 'floor', podName: 'floor', image: 'busybox', command: ['sleep', '3600'], netns: '/run/netns/placeholder' };
    const cfg = ociConfig({
      spec,
      image: image.config,
      argv: containerArgv(image.config, spec.command),
      lower: image.rootfs,
      upper: '/nonexistent',
      work: '/nonexistent',
    });
    (cfg.mounts as unknown[]).shift(); // no overlay: the image rootfs itself, read-only
    this.template = cfg;
    return this;
  }

  /** Makes pod i and starts its container; returns ms from the first command until runc returned. */
  async pod(i: number): Promise<number> {
    const ns = `k8tsb3-${this.id}-p${i}`;
    const ip = `10.250.${(i >> 8) + 1}.${(i & 255) + 1}`;
    const bundle = join(this.dir, `b${i}`);
    const t0 = performance.now();
    this.pods.push(ns);
    await run(['nsenter', `--net=/run/netns/${this.node}`, 'ip', '-batch', '-'], {
      input: `netns add ${ns}\nlink add vf${this.id}${i} master cbr0 up type veth peer name eth0 netns ${ns}\n`,
    });
    await run(['ip', '-n', ns, '-batch', '-'], { input: `link set lo up\naddr add ${ip}/16 dev eth0\nlink set eth0 up\nroute add default via 10.250.0.1\n` });
    mkdirSync(bundle, { recursive: true });
    const cfg = structuredClone(this.template) as { root?: unknown; linux: { namespaces: { type: string; path?: string }[] } };
    cfg.root = { path: this.rootfs, readonly: true };
    cfg.linux.namespaces = cfg.linux.namespaces.map((n: { type: string }) => (n.type === 'network' ? { type: 'network', path: `/run/netns/${ns}` } : n));
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(cfg));
    await runcRunDetached(this.runcRoot, bundle, `k8tsb3-${this.id}-c${i}`);
    return performance.now() - t0;
  }

  /** Kills and deletes its containers, then its namespaces. */
  async cleanup(): Promise<string[]> {
    const left: string[] = [];
    const ids = existsSync(this.runcRoot)
      ? (await run(['runc', '--root', this.runcRoot, 'list', '-q']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean)
      : [];
    await pool(ids, 8, async (id) => {
      await run(['runc', '--root', this.runcRoot, 'kill', id, 'KILL']).catch(() => undefined);
    });
    for (let k = 0; k < 100; k++) {
      const stillRunning = (await run(['runc', '--root', this.runcRoot, 'list', '-f', 'json']).catch(() => ({ stdout: 'null' }))).stdout;
      if (!(JSON.parse(stillRunning || 'null') ?? []).some((c: { status: string }) => c.status === 'running')) break;
      await sleep(20);
    }
    await pool(ids, 8, async (id) => {
      await run(['runc', '--root', this.runcRoot, 'delete', '--force', id]).catch(() => undefined);
    });
    const cgroups = leftCgroups(ids);
    if (cgroups.length) left.push(`floor container cgroups ${cgroups.join(' ')}`);
    const stillThere = existsSync(this.runcRoot)
      ? (await run(['runc', '--root', this.runcRoot, 'list', '-q']).catch(() => ({ stdout: '' }))).stdout.trim()
      : '';
    if (stillThere) left.push(`floor containers ${stillThere.split('\n').join(' ')}`);
    const names = [...this.pods.splice(0), ...(this.made ? [this.node] : [])];
    if (names.length) await run(['ip', '-force', '-batch', '-'], { input: names.map((n) => `netns del ${n}\n`).join('') }).catch(() => undefined);
    this.made = false;
    const ns = (await listNetns()).filter((n) => n.startsWith(`k8tsb3-${this.id}-`));
    if (ns.length) left.push(`floor namespaces ${ns.join(' ')}`);
    return left;
  }
}

// ---- data path ----

/** Two namespaces joined by one veth pair and nothing else: the data path's floor. */
export class VethPair {
  readonly id = randomBytes(3).toString('hex');
  readonly a = `k8tsb3-${this.id}-va`;
  readonly b = `k8tsb3-${this.id}-vb`;
  readonly ipB = '192.168.250.2';

  async start(): Promise<this> {
    await run(['ip', '-batch', '-'], {
      input: `netns add ${this.a}\nnetns add ${this.b}\nlink add eth0 netns ${this.a} type veth peer name eth0 netns ${this.b}\n`,
    });
    await run(['ip', '-n', this.a, '-batch', '-'], { input: 'link set lo up\naddr add 192.168.250.1/30 dev eth0\nlink set eth0 up\n' });
    await run(['ip', '-n', this.b, '-batch', '-'], { input: `link set lo up\naddr add ${this.ipB}/30 dev eth0\nlink set eth0 up\n` });
    return this;
  }

  async cleanup(): Promise<string[]> {
    await run(['ip', '-force', '-batch', '-'], { input: `netns del ${this.a}\nnetns del ${this.b}\n` }).catch(() => undefined);
    const ns = (await listNetns()).filter((n) => n === this.a || n === this.b);
    return ns.length ? [`veth anchor namespaces ${ns.join(' ')}`] : [];
  }
}

/**
 * One single-stream iperf3 test: a one-off server (`-s -1`) in serverNs, the client in clientNs for
 * `seconds`; returns the receiver's Gbit/s. The server is a child of this process and is killed if it lingers.
 */
export async function iperf(serverNs: string, clientNs: string, ip: string, seconds: number): Promise<number> {
  const srv = spawn('nsenter', [`--net=/run/netns/${serverNs}`, 'iperf3', '-s', '-1', '-p', '5201', '--forceflush'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(srv);
  const exited = new Promise<void>((r) =>
    srv.once('exit', () => {
      children.delete(srv);
      r();
    }),
  );
  try {
    await new Promise<void>((res, rej) => {
      let out = '';
      const t = setTimeout(() => rej(new Error(`iperf3 server in ${serverNs} did not start listening: ${out}`)), 5000);
      srv.stdout!.on('data', (b: Buffer) => {
        out += b;
        if (/Server listening/.test(out)) {
          clearTimeout(t);
          res();
        }
      });
      srv.once('exit', (code) => {
        clearTimeout(t);
        rej(new Error(`iperf3 server in ${serverNs} exited ${code}: ${out}`));
      });
    });
    const { stdout } = await run(['nsenter', `--net=/run/netns/${clientNs}`, 'iperf3', '-c', ip, '-p', '5201', '-t', String(seconds), '-J'], {
      timeoutMs: (seconds + 15) * 1000,
    }).catch((e) => ({ stdout: (e as { stdout?: string }).stdout ?? '' }));
    const j = JSON.parse(stdout || '{}');
    if (j.error || !j.end?.sum_received) throw new Error(`iperf3 ${clientNs} → ${ip}: ${j.error ?? 'no result'}`);
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    await Promise.race([exited, sleep(2000)]);
    if (children.has(srv)) {
      srv.kill('SIGKILL');
      await exited;
    }
  }
}
