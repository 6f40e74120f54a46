// The agent's /metrics/resource, the kubelet's resource-metrics endpoint that metrics-server (here: the API
// server's metrics.k8s.io) scrapes: CPU time and working-set memory of the node and of every running container
// and pod, read from the cgroups the container runtime put them in (v2, or v1 on a hybrid host) at scrape time.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Cumulative CPU time and the working set now of one cgroup (or the host). */
export interface Usage {
  cpuSeconds: number;
  workingSetBytes: number;
}

/** Where a cgroup hierarchy is mounted: v2 (unified), or v1 by controller (cpu, cpuacct, memory). */
export interface CgroupMounts {
  v2?: { mountPoint: string; root: string };
  v1: Map<string, { mountPoint: string; root: string }>;
}

/** The cgroup mounts of this mount namespace, from mountinfo (fields: id parent dev root mountpoint ... - fstype source options). */
export function parseMountinfo(text: string): CgroupMounts {
  const out: CgroupMounts = { v1: new Map() };
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const [fstype, , options = ''] = line.slice(sep + 3).split(' ');
    const m = { root: unescapeMount(pre[3] ?? '/'), mountPoint: unescapeMount(pre[4] ?? '') };
    if (fstype === 'cgroup2') out.v2 ??= m;
    else if (fstype === 'cgroup') for (const o of options.split(',')) if (o === 'cpu' || o === 'cpuacct' || o === 'memory') out.v1.set(o, m);
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** A process's cgroups from /proc/PID/cgroup: the v2 path ("0::/x") and the v1 path by controller. */
export function parseProcCgroup(text: string): { v2?: string; v1: Map<string, string> } {
  const out: { v2?: string; v1: Map<string, string> } = { v1: new Map() };
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const controllers = line.slice(a + 1, b);
    const path = line.slice(b + 1);
    if (line.slice(0, a) === '0' && controllers === '') out.v2 = path;
    else for (const c of controllers.split(',')) out.v1.set(c, path);
  }
  return out;
}

/** A path in a hierarchy mounted at mountPoint whose own root is `root` (a cgroup namespace or bind mount). */
export function under(m: { mountPoint: string; root: string }, path: string): string | undefined {
  const rel = m.root === '/' ? path : path.startsWith(`${m.root}/`) || path === m.root ? path.slice(m.root.length) : undefined;
  if (rel === undefined || rel.split('/').includes('..')) return undefined;
  return join(m.mountPoint, rel);
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** `key value` lines (cpu.stat, memory.stat) as numbers. */
function flatKeyed(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) m.set(k, Number(v));
  }
  return m;
}

/** The directories that hold one cgroup's accounting: its v2 directory, or its v1 cpuacct and memory ones. */
export interface CgroupDirs {
  v2?: string;
  cpuacct?: string;
  memory?: string;
}

/**
 * The usage of one cgroup as cAdvisor reads it: CPU from cpu.stat usage_usec (v2) or cpuacct.usage (v1, ns);
 * working set = usage − inactive_file (v2 memory.current and memory.stat, v1 memory.usage_in_bytes and
 * total_inactive_file), never below 0. Both count the cgroup's descendants too (v1 with use_hierarchy, the
 * default). Undefined when a file cannot be read.
 */
export async function dirsUsage(d: CgroupDirs): Promise<Usage | undefined> {
  let cpuSeconds: number | undefined;
  let workingSetBytes: number | undefined;
  if (d.v2) {
    const stat = await readText(join(d.v2, 'cpu.stat'));
    const usec = stat === undefined ? undefined : flatKeyed(stat).get('usage_usec');
    if (usec !== undefined && Number.isFinite(usec)) cpuSeconds = usec / 1e6;
    const current = await readText(join(d.v2, 'memory.current'));
    const mstat = await readText(join(d.v2, 'memory.stat'));
    if (current !== undefined && mstat !== undefined) {
      workingSetBytes = Math.max(0, Number(current.trim()) - (flatKeyed(mstat).get('inactive_file') ?? 0));
    }
  }
  if (cpuSeconds === undefined && d.cpuacct) {
    const ns = await readText(join(d.cpuacct, 'cpuacct.usage'));
    if (ns !== undefined && /^\d+\s*$/.test(ns)) cpuSeconds = Number(ns.trim()) / 1e9;
  }
  if (workingSetBytes === undefined && d.memory) {
    const usage = await readText(join(d.memory, 'memory.usage_in_bytes'));
    const mstat = await readText(join(d.memory, 'memory.stat'));
    if (usage !== undefined && mstat !== undefined) {
      workingSetBytes = Math.max(0, Number(usage.trim()) - (flatKeyed(mstat).get('total_inactive_file') ?? 0));
    }
  }
  if (cpuSeconds === undefined || workingSetBytes === undefined || !Number.isFinite(workingSetBytes)) return undefined;
  return { cpuSeconds, workingSetBytes };
}

/**
 * The usage of the cgroup a process is in (dirsUsage of its directories). Undefined when the process is gone
 * or a file cannot be read (a container that just exited is left out, not reported as zero).
 */
export async function cgroupUsage(mounts: CgroupMounts, pid: number, procRoot = '/proc'): Promise<Usage | undefined> {
  const self = await readText(`${procRoot}/${pid}/cgroup`);
  if (self === undefined) return undefined;
  const cg = parseProcCgroup(self);
  const at = (c: 'cpuacct' | 'memory') => {
    const m = mounts.v1.get(c);
    const path = cg.v1.get(c);
    return m && path !== undefined ? under(m, path) : undefined;
  };
  return dirsUsage({ v2: mounts.v2 && cg.v2 !== undefined ? under(mounts.v2, cg.v2) : undefined, cpuacct: at('cpuacct'), memory: at('memory') });
}

/**
 * Which hierarchy a cgroup directory (a path under a cgroup mount, as `k8ts up` hands a node its own) is
 * in: v2, or the v1 controllers it accounts for. Undefined for a path under no cgroup mount, or one with
 * `..` in it.
 */
export function classifyCgroupDir(mounts: CgroupMounts, dir: string): CgroupDirs | undefined {
  if (!dir.startsWith('/') || dir.split('/').includes('..')) return undefined;
  const inside = (m: { mountPoint: string }) => dir.startsWith(`${m.mountPoint}/`);
  const out: CgroupDirs = {};
  if (mounts.v2 && inside(mounts.v2)) out.v2 = dir;
  for (const c of ['cpuacct', 'memory'] as const) {
    const m = mounts.v1.get(c);
    if (m && inside(m)) out[c] = dir;
  }
  return out.v2 || out.cpuacct || out.memory ? out : undefined;
}

/** The kernel's USER_HZ: /proc/stat counts in 1/100 s on every Linux architecture k8ts runs on. */
const USER_HZ = 100;

/**
 * The host as a node: CPU time not idle from /proc/stat (user nice system irq softirq steal), working set
 * from /proc/meminfo (MemTotal − MemFree − Inactive(file)), as cAdvisor reads the root of a v2 host.
 */
export async function hostUsage(procRoot = '/proc'): Promise<Usage | undefined> {
  const stat = await readText(`${procRoot}/stat`);
  const meminfo = await readText(`${procRoot}/meminfo`);
  if (stat === undefined || meminfo === undefined) return undefined;
  const cpu = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (!cpu) return undefined;
  const f = cpu.trim().split(/\s+/).slice(1).map(Number);
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  const kb = (key: string) => {
    const m = new RegExp(`^${key.replace(/[()]/g, '\\$&')}:\\s+(\\d+) kB$`, 'm').exec(meminfo);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kb('MemTotal');
  const free = kb('MemFree');
  if (total === undefined || free === undefined || !Number.isFinite(busy)) return undefined;
  return { cpuSeconds: busy / USER_HZ, workingSetBytes: Math.max(0, total - free - (kb('Inactive(file)') ?? 0)) };
}

/** One running container: its pod and name, the host pid of its process, when it started. */
export interface RunningContainer {
  namespace: string;
  pod: string;
  container: string;
  pid: number;
  startedAt?: Date;
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/**
 * The text of /metrics/resource under the kubelet's names, every sample with the time it was read (ms):
 * node_*, container_* (container, namespace, pod), pod_* (the sum of its containers: runc gives a pod no
 * cgroup of its own), container_start_time_seconds and scrape_error. Written here rather than through
 * prom-client because every sample carries its own timestamp, which the consumer needs for rates.
 */
export async function resourceMetricsText(
  node: () => Promise<Usage | undefined>,
  containers: RunningContainer[],
  usageOf: (pid: number) => Promise<Usage | undefined>,
): Promise<string> {
  let failed = false;
  const nodeTs = Date.now();
  const nodeUsage = await node();
  if (!nodeUsage) failed = true;
  const rows: { c: RunningContainer; u: Usage; ts: number }[] = [];
  for (const c of containers) {
    const u = await usageOf(c.pid);
    if (u) rows.push({ c, u, ts: Date.now() });
  }
  const out: string[] = [];
  const family = (name: string, type: string, help: string, lines: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
  };
  const cl = (c: RunningContainer) => `container="${esc(c.container)}",namespace="${esc(c.namespace)}",pod="${esc(c.pod)}"`;
  family(
    'container_cpu_usage_seconds_total',
    'counter',
    '[STABLE] Cumulative cpu time consumed by the container in core-seconds',
    rows.map(({ c, u, ts }) => `container_cpu_usage_seconds_total{${cl(c)}} ${u.cpuSeconds} ${ts}`),
  );
  family(
    'container_memory_working_set_bytes',
    'gauge',
    '[STABLE] Current working set of the container in bytes',
    rows.map(({ c, u, ts }) => `container_memory_working_set_bytes{${cl(c)}} ${u.workingSetBytes} ${ts}`),
  );
  family(
    'container_start_time_seconds',
    'gauge',
    '[STABLE] Start time of the container since unix epoch in seconds',
    rows.filter((r) => r.c.startedAt).map(({ c, ts }) => `container_start_time_seconds{${cl(c)}} ${c.startedAt!.getTime() / 1000} ${ts}`),
  );
  if (nodeUsage) {
    family('node_cpu_usage_seconds_total', 'counter', '[STABLE] Cumulative cpu time consumed by the node in core-seconds', [
      `node_cpu_usage_seconds_total ${nodeUsage.cpuSeconds} ${nodeTs}`,
    ]);
    family('node_memory_working_set_bytes', 'gauge', '[STABLE] Current working set of the node in bytes', [
      `node_memory_working_set_bytes ${nodeUsage.workingSetBytes} ${nodeTs}`,
    ]);
  }
  const pods = new Map<string, { namespace: string; pod: string; cpu: number; mem: number; ts: number }>();
  for (const { c, u, ts } of rows) {
    const k = `${c.namespace}/${c.pod}`;
    const p = pods.get(k) ?? { namespace: c.namespace, pod: c.pod, cpu: 0, mem: 0, ts: 0 };
    p.cpu += u.cpuSeconds;
    p.mem += u.workingSetBytes;
    p.ts = Math.max(p.ts, ts);
    pods.set(k, p);
  }
  const pl = (p: { namespace: string; pod: string }) => `namespace="${esc(p.namespace)}",pod="${esc(p.pod)}"`;
  family(
    'pod_cpu_usage_seconds_total',
    'counter',
    '[STABLE] Cumulative cpu time consumed by the pod in core-seconds',
    [...pods.values()].map((p) => `pod_cpu_usage_seconds_total{${pl(p)}} ${p.cpu} ${p.ts}`),
  );
  family(
    'pod_memory_working_set_bytes',
    'gauge',
    '[STABLE] Current working set of the pod in bytes',
    [...pods.values()].map((p) => `pod_memory_working_set_bytes{${pl(p)}} ${p.mem} ${p.ts}`),
  );
  family('scrape_error', 'gauge', '[ALPHA] 1 if there was an error while getting container metrics, 0 otherwise', [`scrape_error ${failed ? 1 : 0}`]);
  return `${out.join('\n')}\n`;
}
