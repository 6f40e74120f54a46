// Each lab node's own cgroup: the node's agent runs in it, and so does everything the agent starts (runc,
// the shims, and the containers runc nests under its own cgroup), so the node's CPU and memory (kubectl top
// node, the agent's node_* series) are that node's, not the whole host's. Made beside the cgroup `k8ts up`
// runs in (as runc nests containers under its own), one directory per lab with one per node inside, in the
// v1 hierarchies that account CPU (cpuacct) and memory; recorded in the cluster directory and removed by
// `k8ts down` (and by a failed up) after the processes in them are gone.
//
// Beside them, where the host has a v1 cpu hierarchy, one cgroup for the lab's DNS threads (`<lab>-dns`):
// each agent moves its DNS worker's thread into it, and its cpu.shares (DNS_CPU_SHARES) puts that thread
// ahead of the host's other work, as the kubelet reserves CPU for system daemons. Why: with
// `kernel.sched_autogroup_enabled` every session is one scheduling entity of weight 1024 whatever its
// processes' nice values, so on a busy machine a query waited behind every busy session (p50 40–72 ms at
// load 23); in a cgroup of 10× that weight the thread runs as soon as a query wakes it.
//
// And one for the control plane (`<lab>-control-plane`, the API server): every node waits on it (to join, to
// list, to be told what to run), so on a machine where the agents and the server share few CPUs it gets four
// sessions' worth (CONTROL_PLANE_CPU_SHARES) rather than one. At `k8ts up` the server and three agents start
// at once as four sessions of equal weight, so the server ran on half a CPU of two while the agents, which
// can do nothing but wait for it, took the rest.
import { existsSync } from 'node:fs';
import { appendFile, readFile, readdir, rmdir, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CgroupMounts, parseMountinfo, parseProcCgroup, under } from '../agent/resourcemetrics.js';
import { LabError } from './errors.js';
import type { ClusterPlan } from './plan.js';

/** Every directory made, one per line, parents before children: what `down` removes, children first. */
const LIST = 'cgroups.list';

/** The DNS cgroup's cpu.shares: ten host sessions' worth (each autogroup weighs 1024). */
export const DNS_CPU_SHARES = 10240;
/** The control plane's cpu.shares: four sessions' worth. */
export const CONTROL_PLANE_CPU_SHARES = 4096;

export interface NodeCgroups {
  /** The lab's own directory in each hierarchy. */
  lab: string[];
  /** Per node: its directory in each hierarchy (the agent's --node-cgroups, its launcher's cgroups). */
  nodes: Map<string, string[]>;
  /** The lab's DNS cgroup in the v1 cpu hierarchy (the agents' --dns-cgroup); absent when the host has none. */
  dns?: string;
  /** The control plane's cgroup in the v1 cpu hierarchy (the API server starts in it); absent when the host has none. */
  controlPlane?: string;
}

/** The lab's directory name: the claimed stem keeps it unique on the host, the name makes it readable. */
export function labCgroupName(plan: Pick<ClusterPlan, 'stem' | 'name'>): string {
  return `${plan.stem}-${plan.name}`;
}

/** The name of the lab's DNS cgroup, a sibling of the lab's directory in the cpu hierarchy. */
export function dnsCgroupName(plan: Pick<ClusterPlan, 'stem' | 'name'>): string {
  return `${labCgroupName(plan)}-dns`;
}

/** The name of the lab's control-plane cgroup, another sibling in the cpu hierarchy. */
export function controlPlaneCgroupName(plan: Pick<ClusterPlan, 'stem' | 'name'>): string {
  return `${labCgroupName(plan)}-control-plane`;
}

/**
 * Where the lab's cgroups go on this host, or why none can be made. v1 (this host's kind, or a hybrid):
 * under our own cgroup of the cpuacct and memory hierarchies. A v2-only host is not handled yet: a process
 * there sits in a cgroup with processes, under which no controllers can be enabled for children.
 */
export function planCgroups(plan: Pick<ClusterPlan, 'stem' | 'name' | 'nodes'>, mountinfo: string, selfCgroup: string): NodeCgroups | { unavailable: string } {
  const mounts: CgroupMounts = parseMountinfo(mountinfo);
  const own = parseProcCgroup(selfCgroup);
  const bases = new Set<string>();
  for (const c of ['cpuacct', 'memory'] as const) {
    const m = mounts.v1.get(c);
    const path = own.v1.get(c);
    if (!m || path === undefined)
      return { unavailable: `no cgroup v1 ${c} hierarchy on this host${mounts.v2 ? ' (cgroup v2 node cgroups are not made yet)' : ''}` };
    if (!m.mountPoint.startsWith('/sys/fs/cgroup/')) return { unavailable: `the ${c} hierarchy is mounted at ${m.mountPoint}, not under /sys/fs/cgroup` };
    // Our own cgroup as this mount shows it (a cgroup namespace or bind mount shows a part of the tree).
    const base = under(m, path);
    if (base === undefined) return { unavailable: `our ${c} cgroup ${path} is outside its mount` };
    bases.add(base);
  }
  const lab = [...bases].map((b) => join(b, labCgroupName(plan)));
  const out: NodeCgroups = { lab, nodes: new Map(plan.nodes.map((n) => [n.name, lab.map((l) => join(l, n.name))])) };
  const cpuBase = cpuCgroupBase(mountinfo, selfCgroup);
  if (cpuBase !== undefined) {
    out.dns = join(cpuBase, dnsCgroupName(plan));
    out.controlPlane = join(cpuBase, controlPlaneCgroupName(plan));
  }
  return out;
}

/** Our own cgroup in the v1 cpu hierarchy, where a cgroup of a chosen weight can be made beside us; undefined when there is none. */
export function cpuCgroupBase(mountinfo: string, selfCgroup: string): string | undefined {
  const cpu = parseMountinfo(mountinfo).v1.get('cpu');
  const path = parseProcCgroup(selfCgroup).v1.get('cpu');
  return cpu && path !== undefined && cpu.mountPoint.startsWith('/sys/fs/cgroup/') ? under(cpu, path) : undefined;
}

/** Makes the lab's and its nodes' cgroups (recording each before making it); undefined with the reason when this host gives none. */
export async function createCgroups(plan: ClusterPlan): Promise<NodeCgroups | { unavailable: string }> {
  const planned = planCgroups(plan, await readFile('/proc/self/mountinfo', 'utf8'), await readFile('/proc/self/cgroup', 'utf8'));
  if ('unavailable' in planned) return planned;
  const weighted: [string | undefined, number][] = [
    [planned.dns, DNS_CPU_SHARES],
    [planned.controlPlane, CONTROL_PLANE_CPU_SHARES],
  ];
  for (const dir of [...planned.lab, ...[...planned.nodes.values()].flat(), ...weighted.flatMap(([d]) => (d ? [d] : []))]) {
    // Recorded first: a make that fails half-way still leaves down (and up's undo) the whole list.
    await appendFile(join(plan.dir, LIST), `${dir}\n`);
    await mkdir(dir).catch((e: NodeJS.ErrnoException) => {
      // A directory of this name is ours (the claimed stem): one left by a lab that died with it.
      if (e.code !== 'EEXIST') throw new LabError('CgroupFailed', `making cgroup ${dir}: ${e.message}`);
    });
  }
  for (const [dir, shares] of weighted) {
    if (!dir) continue;
    await writeFile(join(dir, 'cpu.shares'), String(shares)).catch((e: Error) => {
      throw new LabError('CgroupFailed', `setting cpu.shares of ${dir}: ${e.message}`);
    });
  }
  return planned;
}

/** The lab's DNS cgroup, when createCgroups made one. */
export async function dnsCgroup(plan: ClusterPlan): Promise<string | undefined> {
  return (await recorded(plan)).find((d) => d.endsWith(`/${dnsCgroupName(plan)}`));
}

/** The lab's control-plane cgroup, when createCgroups made one. */
export async function controlPlaneCgroup(plan: ClusterPlan): Promise<string | undefined> {
  return (await recorded(plan)).find((d) => d.endsWith(`/${controlPlaneCgroupName(plan)}`));
}

/** The node cgroups of a lab that has them (recorded by createCgroups), by node name. */
export async function nodeCgroups(plan: ClusterPlan): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const dir of await recorded(plan)) {
    const node = plan.nodes.find((n) => dir.endsWith(`/${labCgroupName(plan)}/${n.name}`));
    if (node) out.set(node.name, [...(out.get(node.name) ?? []), dir]);
  }
  return out;
}

/** The recorded directories that are still plausibly ours: under /sys/fs/cgroup, the lab's directory, a node's inside it, or the lab's DNS or control-plane cgroup. */
async function recorded(plan: ClusterPlan): Promise<string[]> {
  const text = await readFile(join(plan.dir, LIST), 'utf8').catch(() => '');
  const lab = labCgroupName(plan);
  const dns = dnsCgroupName(plan);
  const controlPlane = controlPlaneCgroupName(plan);
  return text.split('\n').filter((d) => {
    const segs = d.split('/');
    return (
      d.startsWith('/sys/fs/cgroup/') &&
      segs.slice(1).every((s) => s !== '' && s !== '.' && s !== '..') &&
      (segs.at(-1) === lab || segs.at(-2) === lab || segs.at(-1) === dns || segs.at(-1) === controlPlane)
    );
  });
}

async function procsIn(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 0);
}

/** The directory and every cgroup below it, deepest first (runc leaves a container's behind when its state is lost). */
async function subtree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    let entries: string[];
    try {
      entries = await readdir(d);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e);
      if ((await stat(p).catch(() => undefined))?.isDirectory()) await walk(p);
    }
    out.push(d);
  };
  await walk(dir);
  return out;
}

/**
 * Removes the lab's cgroups, children first. Whatever still runs in them was started by the lab's agents
 * (a container whose runc state is gone, a shim): it is killed first, since a cgroup with a process in it
 * cannot be removed. Returns the directories removed; throws naming what is left.
 */
export async function removeCgroups(plan: ClusterPlan): Promise<string[]> {
  const dirs = await recorded(plan);
  // Children of every recorded directory, deepest first; the recorded parents last.
  const all: string[] = [];
  for (const d of [...dirs].reverse()) for (const s of await subtree(d)) if (!all.includes(s)) all.push(s);
  const left = async () => (await Promise.all(all.map(procsIn))).flat();
  let pids = await left();
  for (let i = 0; pids.length && i < 100; i++) {
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    await new Promise((r) => setTimeout(r, 20));
    pids = await left();
  }
  const removed: string[] = [];
  const failed: string[] = [];
  for (const d of all) {
    if (!existsSync(d)) continue;
    try {
      await rmdir(d);
      removed.push(d);
    } catch (e) {
      failed.push(`${d}: ${(e as Error).message}${pids.length ? ` (processes ${pids.join(', ')})` : ''}`);
    }
  }
  if (failed.length) throw new LabError('DownIncomplete', `cgroups left: ${failed.join('; ')}`);
  return removed;
}
