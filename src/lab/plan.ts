// The cluster plan: every name, address, range and port of one lab cluster, decided before anything is made
// and kept in K8TS_HOME/<name>/cluster.json so that `down` knows exactly what to remove.
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Cidr, contains, formatCidr, formatIPv4, last, overlaps, parseCidr } from '../util/cidr.js';
import { readClaims, releaseClaim, tryClaim } from './claims.js';
import { LabError } from './errors.js';
import { type HostNet, readHostNet } from './hostnet.js';
import { RUN_DIR, k8tsHome } from './paths.js';

export type Backend = 'host-gw' | 'vxlan';
export type StoreKind = 'sqlite' | 'etcd';

export interface PlanOptions {
  name: string;
  nodes: number;
  backend?: Backend;
  store?: StoreKind;
  /** Default: K8TS_HOME or ~/.k8ts. */
  home?: string;
  /** Overrides of the ranges derived from the cluster index (the node network must be a /24 or larger). */
  nodeNetwork?: string;
  clusterCIDR?: string;
  serviceCIDR?: string;
  apiPort?: number;
  /** Where host-wide index claims live; default /run/k8ts/lab. */
  runDir?: string;
  /** The host's network as it is now; default: read it with `ip`. */
  host?: HostNet;
}

export interface NodePlan {
  /** The Kubernetes node name. */
  name: string;
  netns: string;
  ip: string;
  /** The host end of the node's veth pair, a port of the host bridge. */
  hostVeth: string;
  /** The agent's state directory. */
  dir: string;
}

export interface ClusterPlan {
  version: 1;
  name: string;
  index: number;
  /**
   * "k8ts<index>": the host bridge's name and the stem of every host-wide name the cluster uses
   * (namespaces "<stem>-…", host veths "<stem>n<i>", nftables tables "<stem>" and "<stem>-…"). The index is
   * claimed host-wide, so everything under this stem belongs to this cluster alone.
   */
  stem: string;
  home: string;
  /** K8TS_HOME/<name>. */
  dir: string;
  backend: Backend;
  store: StoreKind;
  nodeNetwork: string;
  bridge: string;
  hostIP: string;
  nodes: NodePlan[];
  /** Every network namespace of the cluster, nodes' and pods', starts with this. */
  netnsPrefix: string;
  clusterCIDR: string;
  /** Each node gets a subnet of this size from clusterCIDR, assigned by the server's node IPAM. */
  nodeCIDRMaskSize: number;
  serviceCIDR: string;
  kubernetesServiceIP: string;
  dnsServiceIP: string;
  /** Load-balancer addresses, at the top of the node network. */
  lbPool: { first: string; last: string };
  apiServer: { addresses: string[]; port: number };
  etcd?: { clientPort: number; peerPort: number };
  /** Host nftables tables of this cluster are named this or start with this and a dash. */
  nftTable: string;
  paths: { server: string; logs: string; pids: string; kubeconfig: string };
  runDir: string;
  createdAt: string;
}

/** Cluster CIDRs count up from 10.244.0.0/16; 10.255 is the last. */
export const MAX_CLUSTERS = 12;
export const MAX_NODES = 189;
const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;
/** Node IPs start at .11 (the DESIGN picture) and stop below the load-balancer pool. */
const FIRST_NODE_OFFSET = 11;
const LB_FROM_TOP = { first: 55, last: 5 };

export function validateName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new LabError('InvalidName', `cluster name ${JSON.stringify(name)}: use 1–40 lowercase letters, digits and inner dashes`);
  }
}

export function clusterDir(home: string, name: string): string {
  return join(home, name);
}

/** Decides a plan from the options, the clusters in K8TS_HOME, the host-wide claims and the host's network. Writes nothing. */
export async function planCluster(opts: PlanOptions): Promise<ClusterPlan> {
  validateName(opts.name);
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_NODES) {
    throw new LabError('InvalidOption', `nodes: ${opts.nodes}: expected a whole number from 1 to ${MAX_NODES}`);
  }
  if (opts.backend && opts.backend !== 'host-gw' && opts.backend !== 'vxlan') {
    throw new LabError('InvalidOption', `backend ${JSON.stringify(opts.backend)}: expected host-gw or vxlan`);
  }
  if (opts.store && opts.store !== 'sqlite' && opts.store !== 'etcd') {
    throw new LabError('InvalidOption', `store ${JSON.stringify(opts.store)}: expected sqlite or etcd`);
  }
  const home = opts.home ?? k8tsHome();
  const runDir = opts.runDir ?? RUN_DIR;
  refuseExisting(home, opts.name);
  const overrides = {
    nodeNetwork: opts.nodeNetwork ? parseOption('nodeNetwork', opts.nodeNetwork) : undefined,
    clusterCIDR: opts.clusterCIDR ? parseOption('clusterCIDR', opts.clusterCIDR) : undefined,
    serviceCIDR: opts.serviceCIDR ? parseOption('serviceCIDR', opts.serviceCIDR) : undefined,
  };
  if (overrides.nodeNetwork && overrides.nodeNetwork.prefix > 24) {
    throw new LabError('InvalidOption', `nodeNetwork ${opts.nodeNetwork}: must be a /24 or larger (room for ${MAX_NODES} nodes and the load-balancer pool)`);
  }
  if (overrides.clusterCIDR && overrides.clusterCIDR.prefix > 20) {
    throw new LabError('InvalidOption', `clusterCIDR ${opts.clusterCIDR}: must be a /20 or larger (a /24 per node)`);
  }
  if (opts.apiPort !== undefined && (!Number.isInteger(opts.apiPort) || opts.apiPort < 1 || opts.apiPort > 65535)) {
    throw new LabError('InvalidOption', `apiPort ${opts.apiPort}: expected a port number`);
  }
  if (opts.nodes + FIRST_NODE_OFFSET >= 256 - LB_FROM_TOP.first) {
    throw new LabError('InvalidOption', `nodes: ${opts.nodes} do not fit below the load-balancer pool`);
  }

  const host = opts.host ?? (await readHostNet());
  const taken = new Map<number, string>();
  const used: { cidr: Cidr; owner: string }[] = [];
  for (const p of await listPlans(home)) {
    taken.set(p.index, `cluster ${p.name} in ${home}`);
    for (const r of planRanges(p)) used.push({ cidr: parseCidr(r), owner: `cluster ${p.name} in ${home}` });
  }
  for (const c of await readClaims(runDir)) {
    taken.set(c.index, `cluster ${c.name} (${c.dir})`);
    for (const r of c.ranges) used.push({ cidr: parseCidr(r), owner: `cluster ${c.name} (${c.dir})` });
  }
  for (const [what, cidr] of Object.entries(overrides)) {
    const hit = cidr && used.find((u) => overlaps(u.cidr, cidr));
    if (hit) throw new LabError('RangeCollision', `${what} ${formatCidr(cidr!)} overlaps ${formatCidr(hit.cidr)} of ${hit.owner}`);
  }

  for (let index = 0; index < MAX_CLUSTERS; index++) {
    if (taken.has(index)) continue;
    const stem = `k8ts${index}`;
    if (hostUsesStem(host, stem)) continue;
    const derived = derivedRanges(index);
    const ranges = {
      nodeNetwork: overrides.nodeNetwork ?? derived.nodeNetwork,
      clusterCIDR: overrides.clusterCIDR ?? derived.clusterCIDR,
      serviceCIDR: overrides.serviceCIDR ?? derived.serviceCIDR,
    };
    // A derived range that the host or another cluster already uses means "try the next index"; an
    // overridden one is the user's choice, and preflight says what it collides with.
    const busy = (Object.keys(derived) as (keyof typeof derived)[]).some(
      (k) => !overrides[k] && (used.some((u) => overlaps(u.cidr, ranges[k])) || hostOverlaps(host, ranges[k])),
    );
    if (busy) continue;
    return buildPlan({ ...opts, home, runDir, index, stem, ...ranges });
  }
  throw new LabError(
    'LabFull',
    `no free cluster index on this machine (${MAX_CLUSTERS} at most; taken: ${[...taken.values()].join(', ') || 'none, but every range collides with a host route'}); remove one with k8ts down <name>`,
  );
}

/** The address ranges a plan occupies, as CIDR strings. */
/** The pod network namespace prefix of one node. Nodes of a lab cluster share the host's /run/netns, and an
 *  agent's start-up sweep removes pod namespaces under its prefix that it has no record of, so each node's
 *  prefix must be its own. */
export function nodeNetnsPrefix(plan: Pick<ClusterPlan, 'netnsPrefix'>, node: string): string {
  return `${plan.netnsPrefix}${node}-`;
}

export function planRanges(p: Pick<ClusterPlan, 'nodeNetwork' | 'clusterCIDR' | 'serviceCIDR'>): string[] {
  return [p.nodeNetwork, p.clusterCIDR, p.serviceCIDR];
}

/**
 * Claims the plan's index host-wide and writes K8TS_HOME/<name>/cluster.json. Fails with 'IndexTaken' when
 * another `up` got there first (plan again) and 'ClusterExists' when the name is already up.
 */
export async function savePlan(plan: ClusterPlan): Promise<void> {
  await mkdir(plan.home, { recursive: true, mode: 0o700 });
  try {
    await mkdir(plan.dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') refuseExisting(plan.home, plan.name);
    throw e;
  }
  const claimed = await tryClaim(plan.runDir, {
    index: plan.index,
    name: plan.name,
    dir: plan.dir,
    pid: process.pid,
    ranges: planRanges(plan),
    createdAt: plan.createdAt,
  }).catch(async (e) => {
    await rm(plan.dir, { recursive: true, force: true });
    throw e;
  });
  if (!claimed) {
    await rm(plan.dir, { recursive: true, force: true });
    throw new LabError('IndexTaken', `cluster index ${plan.index} (${plan.stem}) was taken by another k8ts up while planning ${plan.name}; plan again`);
  }
  await Promise.all([plan.paths.logs, plan.paths.pids].map((d) => mkdir(d, { recursive: true })));
  const tmp = join(plan.dir, '.cluster.json.tmp');
  await writeFile(tmp, JSON.stringify(plan, null, 2) + '\n');
  await rename(tmp, join(plan.dir, 'cluster.json'));
}

/** Plans and saves, planning again if a concurrent `up` took the index in between. */
export async function reservePlan(opts: PlanOptions): Promise<ClusterPlan> {
  for (let attempt = 1; ; attempt++) {
    const plan = await planCluster(attempt === 1 ? opts : { ...opts, host: undefined });
    try {
      await savePlan(plan);
      return plan;
    } catch (e) {
      if (!(e instanceof LabError && e.code === 'IndexTaken') || attempt >= 5) throw e;
    }
  }
}

/** Removes the state directory and the host-wide claim of a plan (nothing else). */
export async function releasePlan(plan: ClusterPlan): Promise<void> {
  await rm(plan.dir, { recursive: true, force: true });
  await releaseClaim(plan.runDir, plan.index, plan.dir);
}

export async function loadPlan(home: string, name: string): Promise<ClusterPlan> {
  validateName(name);
  const file = join(clusterDir(home, name), 'cluster.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new LabError('ClusterNotFound', `no cluster ${JSON.stringify(name)} in ${home} (no ${file})`);
    throw e;
  }
  return JSON.parse(text) as ClusterPlan;
}

/** Every cluster with a cluster.json in K8TS_HOME. */
export async function listPlans(home: string): Promise<ClusterPlan[]> {
  let names: string[];
  try {
    names = await readdir(home);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: ClusterPlan[] = [];
  for (const n of names.sort()) {
    if (!NAME_RE.test(n) || !existsSync(join(home, n, 'cluster.json'))) continue;
    out.push(await loadPlan(home, n));
  }
  return out;
}

function refuseExisting(home: string, name: string): void {
  const dir = clusterDir(home, name);
  if (existsSync(join(dir, 'cluster.json'))) {
    throw new LabError('ClusterExists', `cluster ${JSON.stringify(name)} is already up (state in ${dir}); use it, or remove it first with: k8ts down ${name}`);
  }
  if (existsSync(dir)) {
    throw new LabError('ClusterExists', `${dir} exists without cluster.json (left by a failed up or down); remove it with: k8ts down ${name}`);
  }
}

function derivedRanges(index: number): { nodeNetwork: Cidr; clusterCIDR: Cidr; serviceCIDR: Cidr } {
  return {
    nodeNetwork: parseCidr(`172.30.${index}.0/24`),
    clusterCIDR: parseCidr(`10.${244 + index}.0.0/16`),
    serviceCIDR: parseCidr(`10.${96 + index}.0.0/16`),
  };
}

function hostUsesStem(host: HostNet, stem: string): boolean {
  const veth = new RegExp(`^${stem}n\\d+$`);
  return host.links.some((l) => l === stem || veth.test(l)) || host.netns.some((n) => n.startsWith(`${stem}-`));
}

function hostOverlaps(host: HostNet, cidr: Cidr): boolean {
  return host.routes.some((r) => overlaps(r.cidr, cidr)) || host.addresses.some((a) => overlaps(a.cidr, cidr));
}

function parseOption(what: string, value: string): Cidr {
  try {
    return parseCidr(value);
  } catch (e) {
    throw new LabError('InvalidOption', `${what}: ${(e as Error).message}`);
  }
}

interface BuildInput extends Omit<PlanOptions, 'nodeNetwork' | 'clusterCIDR' | 'serviceCIDR'> {
  home: string;
  runDir: string;
  index: number;
  stem: string;
  nodeNetwork: Cidr;
  clusterCIDR: Cidr;
  serviceCIDR: Cidr;
}

function buildPlan(o: BuildInput): ClusterPlan {
  const dir = clusterDir(o.home, o.name);
  const store = o.store ?? 'sqlite';
  const net = o.nodeNetwork.base;
  const top = last(o.nodeNetwork);
  const hostIP = formatIPv4(net + 1);
  const netnsPrefix = `${o.stem}-`;
  // Namespace names only need to be unique (the stem makes them so) and readable in `ip netns list`.
  const shortName = o.name.slice(0, 16).replace(/-+$/, '');
  const nodes: NodePlan[] = [];
  for (let i = 1; i <= o.nodes; i++) {
    const ip = net + FIRST_NODE_OFFSET + i - 1;
    if (!contains(o.nodeNetwork, ip)) throw new LabError('InvalidOption', `node ${i} does not fit in ${formatCidr(o.nodeNetwork)}`);
    nodes.push({
      name: `node${i}`,
      netns: `${netnsPrefix}${shortName}-node${i}`,
      ip: formatIPv4(ip),
      hostVeth: `${o.stem}n${i}`,
      dir: join(dir, 'agents', `node${i}`),
    });
  }
  const svc = o.serviceCIDR.base;
  return {
    version: 1,
    name: o.name,
    index: o.index,
    stem: o.stem,
    home: o.home,
    dir,
    backend: o.backend ?? 'host-gw',
    store,
    nodeNetwork: formatCidr(o.nodeNetwork),
    bridge: o.stem,
    hostIP,
    nodes,
    netnsPrefix,
    clusterCIDR: formatCidr(o.clusterCIDR),
    nodeCIDRMaskSize: 24,
    serviceCIDR: formatCidr(o.serviceCIDR),
    kubernetesServiceIP: formatIPv4(svc + 1),
    dnsServiceIP: formatIPv4(svc + 10),
    lbPool: { first: formatIPv4(top - LB_FROM_TOP.first), last: formatIPv4(top - LB_FROM_TOP.last) },
    apiServer: { addresses: [hostIP, '127.0.0.1'], port: o.apiPort ?? 6443 + o.index },
    ...(store === 'etcd' ? { etcd: { clientPort: 2379 + 2 * o.index, peerPort: 2380 + 2 * o.index } } : {}),
    nftTable: o.stem,
    paths: { server: join(dir, 'server'), logs: join(dir, 'logs'), pids: join(dir, 'pids'), kubeconfig: join(dir, 'kubeconfig') },
    runDir: o.runDir,
    createdAt: new Date().toISOString(),
  };
}
