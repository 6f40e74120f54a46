// `k8ts down`: removes everything of one cluster, named in its cluster.json or by its stem, and nothing of
// any other: processes, namespaces, host links, host nftables tables, cgroups, mounts, the state directory, the claim.
import { appendFile, readFile, readdir, readlink, rm, stat } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../util/exec.js';
import { removeCgroups } from './cgroups.js';
import { claimHolder, claimPath, releaseClaim } from './claims.js';
import { LabError } from './errors.js';
import { listLinks, listNetns } from './hostnet.js';
import { mountsUnder, unmountUnder } from './mounts.js';
import { netnsPath, k8tsHome } from './paths.js';
import { type ClusterPlan, clusterDir, loadPlan, validateName } from './plan.js';
import { stopAll } from './procs.js';
import { beginFor, stderrLog, stepLine } from './steps.js';
import { deleteLinks, deleteNetns, waitLinksGone } from './topology.js';

export interface DownOptions {
  home?: string;
  /** Progress lines; default stderr. */
  log?: (line: string) => void;
  /** How long a process gets between SIGTERM and SIGKILL; default 5 s. */
  stopTimeoutMs?: number;
}

export interface DownReport {
  name: string;
  /** Recorded processes that were running and were stopped. */
  processes: { role: string; pid: number }[];
  /** Unrecorded processes found inside the cluster's namespaces (containers, strays) and killed. */
  killed: number[];
  netns: string[];
  links: string[];
  nftTables: string[];
  mounts: string[];
  /** The lab's cgroup directories (its own and its nodes'). */
  cgroups: string[];
  files: string[];
}

const NETNS_LIST = 'netns.list';

/** Tears down the cluster called name in K8TS_HOME. */
export async function down(name: string, opts: DownOptions = {}): Promise<DownReport> {
  validateName(name);
  const home = opts.home ?? k8tsHome();
  const dir = clusterDir(home, name);
  if (!existsSync(dir)) throw new LabError('ClusterNotFound', `no cluster ${JSON.stringify(name)} in ${home}`);
  if (!existsSync(join(dir, 'cluster.json'))) {
    // A state directory without a plan (an `up` that died early): all we know of is the directory.
    const report = emptyReport(name);
    report.mounts = await unmountUnder(dir);
    await removeDir(dir);
    report.files.push(dir);
    return report;
  }
  return downPlan(await loadPlan(home, name), opts);
}

/**
 * Tears down the cluster of a plan. Every phase runs even if an earlier one failed; the state directory and
 * the claim are kept when anything failed, so that a second `down` knows what is left.
 */
export async function downPlan(plan: ClusterPlan, opts: DownOptions = {}): Promise<DownReport> {
  const log = opts.log ?? stderrLog;
  const report = emptyReport(plan.name);
  const errors: string[] = [];
  const begin = beginFor(log);
  const phase = async (name: string, fn: () => Promise<string | void>) => {
    begin(name);
    const t0 = performance.now();
    try {
      const detail = await fn();
      log(stepLine(true, `${name}${detail ? ` ${detail}` : ''}`, performance.now() - t0));
    } catch (e) {
      log(stepLine(false, name, performance.now() - t0));
      errors.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  await phase('Stopping processes', async () => {
    const stopped = await stopAll(plan.dir, { timeoutMs: opts.stopTimeoutMs });
    report.processes = stopped.map((r) => ({ role: r.role, pid: r.pid }));
    return list(stopped.map((r) => `${r.role}[${r.pid}]`));
  });
  // Everything below is found by the stem, which is ours only while we hold the index's claim (or nobody
  // does). A stale plan, say from before a reboot, whose index another cluster has taken since, must not
  // take that cluster's namespaces and links with it.
  const holder = await claimHolder(plan.runDir, plan.index);
  if (holder !== undefined && holder !== plan.dir) {
    log(stepLine(true, `Skipping namespaces, links and nftables tables of ${plan.stem}: they belong to ${holder} now`, 0));
    return finish();
  }
  const netns = await clusterNetns(plan);
  await phase("Stopping what runs in the cluster's namespaces", async () => {
    report.killed = await killInNetns(netns, opts.stopTimeoutMs ?? 5000);
    return list(report.killed.map(String));
  });
  const ownLink = new RegExp(`^${plan.stem}(n\\d+)?$`);
  const isOurs = (l: string) => ownLink.test(l) || l === plan.bridge || plan.nodes.some((n) => n.hostVeth === l);
  const linksBefore = (await listLinks().catch(() => [] as string[])).filter(isOurs);
  await phase('Removing network namespaces', async () => {
    await deleteNetns(netns);
    report.netns = netns;
    return list(netns);
  });
  await phase('Removing host links', async () => {
    // Node veths go with their namespaces; what is still there after a moment is deleted here.
    const veths = (await listLinks()).filter((l) => isOurs(l) && l !== plan.bridge);
    const stuck = await waitLinksGone(veths);
    const left = [...stuck, ...((await listLinks()).includes(plan.bridge) ? [plan.bridge] : [])];
    await deleteLinks(left);
    report.links = [...new Set([...linksBefore, ...left])].sort();
    return list(report.links);
  });
  await phase('Removing host nftables tables', async () => {
    report.nftTables = await deleteNftTables(plan.nftTable);
    return list(report.nftTables);
  });
  return finish();

  async function finish(): Promise<DownReport> {
    // The cgroups are recorded by their full paths, so they are ours whoever holds the stem now.
    await phase('Removing cgroups', async () => {
      report.cgroups = await removeCgroups(plan);
      return list(report.cgroups);
    });
    await phase(`Unmounting under ${plan.dir}`, async () => {
      report.mounts = await unmountUnder(plan.dir);
      return list(report.mounts);
    });
    if (errors.length) {
      throw new LabError(
        'DownIncomplete',
        `cluster ${plan.name} is not fully removed (state kept in ${plan.dir} for another k8ts down):\n${errors.join('\n')}`,
      );
    }
    await phase(`Removing ${plan.dir}`, async () => {
      await removeDir(plan.dir);
      report.files.push(plan.dir);
      if (await releaseClaim(plan.runDir, plan.index, plan.dir)) report.files.push(claimPath(plan.runDir, plan.index));
    });
    if (errors.length) throw new LabError('DownIncomplete', `cluster ${plan.name}: ${errors.join('\n')}`);
    return report;
  }
}

/** Records a namespace the cluster made outside its naming scheme, so that `down` removes it too. */
export async function recordNetns(plan: ClusterPlan, netns: string): Promise<void> {
  if (!/^[A-Za-z0-9._-]+$/.test(netns)) throw new LabError('InvalidOption', `network namespace name ${JSON.stringify(netns)}`);
  await appendFile(join(plan.dir, NETNS_LIST), netns + '\n');
}

/** The cluster's namespaces that exist now: its nodes', recorded ones, and any carrying its prefix. */
export async function clusterNetns(plan: ClusterPlan): Promise<string[]> {
  const recorded = (await readFile(join(plan.dir, NETNS_LIST), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const ours = new Set([...plan.nodes.map((n) => n.netns), ...recorded]);
  return (await listNetns()).filter((n) => ours.has(n) || n.startsWith(plan.netnsPrefix));
}

/**
 * Kills every process whose network namespace is one of these (SIGTERM, then SIGKILL): a namespace with a
 * process in it outlives `ip netns del`, and so would its veth on our bridge. A container's first process
 * (pid 1 of a PID namespace of its own) gets SIGKILL at once: the kernel drops a signal to a namespace's init
 * that it has no handler for, so a `sleep` there never ends on SIGTERM and held every `down` of a cluster
 * with pods for the whole timeout; the cluster is going away, and its containers with it.
 */
export async function killInNetns(netns: string[], timeoutMs: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const n of netns) {
    try {
      inodes.add(`net:[${(await stat(netnsPath(n))).ino}]`);
    } catch {
      // Gone meanwhile: nothing runs in it that we could find by it.
    }
  }
  if (!inodes.size) return [];
  const find = async () => {
    const pids: number[] = [];
    for (const p of await readdir('/proc')) {
      if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
      const ns = await readlink(`/proc/${p}/ns/net`).catch(() => '');
      if (inodes.has(ns)) pids.push(Number(p));
    }
    return pids;
  };
  const found = await find();
  const send = (pids: number[], sig: NodeJS.Signals) =>
    pids.forEach((p) => {
      try {
        process.kill(p, sig);
      } catch {
        // Exited meanwhile.
      }
    });
  const inits = found.filter(isNamespaceInit);
  send(inits, 'SIGKILL');
  send(
    found.filter((p) => !inits.includes(p)),
    'SIGTERM',
  );
  const deadline = Date.now() + timeoutMs;
  let left = found;
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    // A zombie has no namespaces left, so it no longer shows up here.
    left = (await find()).filter((p) => found.includes(p));
  }
  send(left, 'SIGKILL');
  const killDeadline = Date.now() + 2000;
  while (left.length && Date.now() < killDeadline) {
    await new Promise((r) => setTimeout(r, 10));
    left = (await find()).filter((p) => found.includes(p));
  }
  return found;
}

/** Whether pid is the first process of a PID namespace below ours (its status's NSpid ends in 1). */
function isNamespaceInit(pid: number): boolean {
  try {
    const line =
      /^NSpid:\s+(.*)$/m
        .exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
        .trim()
        .split(/\s+/) ?? [];
    return line.length > 1 && line[line.length - 1] === '1';
  } catch {
    return false;
  }
}

/** Deletes host nftables tables named `stem` or `stem-…`, in any family, in one transaction. */
export async function deleteNftTables(stem: string): Promise<string[]> {
  let out: string;
  try {
    out = (await run(['nft', '-j', 'list', 'tables'])).stdout;
  } catch (e) {
    // Without nft nothing of ours can exist in nftables.
    if ((e as { code?: string }).code === 'MissingCommand') return [];
    throw e;
  }
  const tables = (JSON.parse(out).nftables as { table?: { family: string; name: string } }[])
    .flatMap((x) => (x.table ? [x.table] : []))
    .filter((t) => t.name === stem || t.name.startsWith(`${stem}-`));
  if (tables.length) await run(['nft', '-f', '-'], { input: tables.map((t) => `delete table ${t.family} ${t.name}\n`).join('') });
  return tables.map((t) => `${t.family} ${t.name}`);
}

async function removeDir(dir: string): Promise<void> {
  // A mount left under it would have its contents deleted by a recursive rm: never remove through one.
  const left = await mountsUnder(dir);
  if (left.length) throw new LabError('DownIncomplete', `${dir} still has mounts (${left.join(', ')}); not removing it`);
  await rm(dir, { recursive: true, force: true });
}

function emptyReport(name: string): DownReport {
  return { name, processes: [], killed: [], netns: [], links: [], nftTables: [], mounts: [], cgroups: [], files: [] };
}

function list(items: string[]): string {
  return items.length ? `(${items.join(', ')})` : '(none)';
}
