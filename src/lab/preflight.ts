// Checks, before `up` touches anything, that this host can run the planned cluster: root, kernel features,
// commands, address ranges that no host route or address already uses, free ports. Reports every problem at once.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { PACKAGE_OF, run } from '../util/exec.js';
import { type Cidr, formatCidr, overlaps, parseCidr } from '../util/cidr.js';
import { type HostNet, readHostNet } from './hostnet.js';
import { netnsPath } from './paths.js';
import type { ClusterPlan } from './plan.js';

export type ProblemCode = 'NotRoot' | 'MissingKernelFeature' | 'MissingCommand' | 'RangeCollision' | 'PortInUse' | 'Leftover';

export interface Problem {
  code: ProblemCode;
  message: string;
}

export interface PreflightOptions {
  /** Read routes and addresses from this named namespace instead of the host's (tests fake a host this way). */
  netns?: string;
  /** The host's network, already read. */
  host?: HostNet;
  /** Directories to look for commands in; default $PATH plus the sbin directories. */
  searchPath?: string;
  /** Create a throwaway namespace to try veth, bridge, vxlan and nf_tables; default true (when root). */
  probeKernel?: boolean;
  /** Try to bind the planned ports on 127.0.0.1; default true. */
  checkPorts?: boolean;
  /**
   * Where a kernel probe that passed is remembered for the rest of this boot (the kernel's features do not
   * change without a reboot, and the probe costs a namespace and five processes); default: none, probe always.
   */
  kernelProofDir?: string;
}

export async function preflight(plan: ClusterPlan, opts: PreflightOptions = {}): Promise<Problem[]> {
  const problems: Problem[] = [];
  const root = process.getuid?.() === 0;
  if (!root) problems.push({ code: 'NotRoot', message: 'k8ts up needs root: it creates network namespaces, links and mounts (run it with sudo)' });
  const missing = missingCommands(requiredCommands(plan), opts.searchPath);
  problems.push(
    ...missing.map((c) => ({
      code: 'MissingCommand' as const,
      message: `${c}: not found (install the Debian package ${PACKAGE_OF[c]}: apt-get install ${PACKAGE_OF[c]})`,
    })),
  );
  // The kernel probe, the host's network and the ports are independent: looked at side by side.
  const [kernel, host, ports] = await Promise.all([
    root && opts.probeKernel !== false
      ? checkKernelOnce({ nft: !missing.includes('nft') && !missing.includes('nsenter') }, opts.kernelProofDir)
      : Promise.resolve([] as Problem[]),
    opts.host ?? (opts.netns ? readHostNet({ netns: opts.netns }) : readHostNet()),
    opts.checkPorts !== false ? checkPorts(plan) : Promise.resolve([] as Problem[]),
  ]);
  problems.push(...kernel, ...checkRanges(plan, host), ...checkLeftovers(plan, host), ...ports);
  return problems;
}

export function requiredCommands(plan: Pick<ClusterPlan, 'store'>): string[] {
  return ['ip', 'nft', 'runc', 'busybox', 'nsenter', 'openssl', 'conntrack', 'tcpdump', ...(plan.store === 'etcd' ? ['etcd'] : [])];
}

export function missingCommands(commands: string[], searchPath?: string): string[] {
  const dirs = (searchPath ?? [process.env.PATH ?? '', '/usr/local/sbin', '/usr/sbin', '/sbin'].join(delimiter)).split(delimiter).filter(Boolean);
  return commands.filter((c) => !dirs.some((d) => isExecutable(join(d, c))));
}

/** The plan's ranges against each other and against every IPv4 route (all tables) and address of the host. */
export function checkRanges(plan: Pick<ClusterPlan, 'nodeNetwork' | 'clusterCIDR' | 'serviceCIDR'>, host: HostNet): Problem[] {
  const ranges: [string, Cidr][] = [
    ['node network', parseCidr(plan.nodeNetwork)],
    ['cluster CIDR', parseCidr(plan.clusterCIDR)],
    ['service CIDR', parseCidr(plan.serviceCIDR)],
  ];
  const problems: Problem[] = [];
  const collide = (what: string, c: Cidr, other: string) =>
    problems.push({ code: 'RangeCollision', message: `${what} ${formatCidr(c)} collides with ${other}; choose another ${what}` });
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      if (overlaps(ranges[i][1], ranges[j][1])) collide(ranges[i][0], ranges[i][1], `the ${ranges[j][0]} ${formatCidr(ranges[j][1])}`);
    }
  }
  for (const [what, c] of ranges) {
    for (const r of host.routes) if (overlaps(r.cidr, c)) collide(what, c, `the host route "${r.text}"`);
    for (const a of host.addresses) if (overlaps(a.cidr, c)) collide(what, c, `the host address ${a.address} on ${a.dev}`);
  }
  return problems;
}

/** Links or namespaces with the cluster's names, from an earlier run that was not taken down. */
export function checkLeftovers(plan: ClusterPlan, host: HostNet): Problem[] {
  const links = [plan.bridge, ...plan.nodes.map((n) => n.hostVeth)].filter((l) => host.links.includes(l));
  const netns = host.netns.filter((n) => n.startsWith(plan.netnsPrefix));
  const found = [...links.map((l) => `link ${l}`), ...netns.map((n) => `network namespace ${n}`)];
  return found.length
    ? [
        {
          code: 'Leftover',
          message: `${found.join(', ')} already exist${found.length === 1 ? 's' : ''} on this host (left by an earlier cluster ${plan.stem}?); remove ${found.length === 1 ? 'it' : 'them'} first`,
        },
      ]
    : [];
}

/**
 * Tries each feature the lab needs inside a throwaway namespace, so the host's own network is never touched,
 * and removes the namespace whatever happens.
 */
export async function checkKernel(opts: { nft?: boolean } = {}): Promise<Problem[]> {
  if (!existsSync('/proc/self/ns/net')) {
    return [{ code: 'MissingKernelFeature', message: 'the kernel has no network namespaces (CONFIG_NET_NS)' }];
  }
  const ns = `k8tsprobe-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const problems: Problem[] = [];
  try {
    await run(['ip', 'netns', 'add', ns]);
  } catch (e) {
    return [{ code: 'MissingKernelFeature', message: `cannot create a network namespace: ${(e as Error).message}` }];
  }
  try {
    const probes: [string, string, string[]][] = [
      ['veth', 'CONFIG_VETH', ['ip', '-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']],
      ['bridge', 'CONFIG_BRIDGE', ['ip', '-n', ns, 'link', 'add', 'b0', 'type', 'bridge']],
      ['vxlan', 'CONFIG_VXLAN', ['ip', '-n', ns, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '1', 'dstport', '4789']],
    ];
    if (opts.nft !== false) {
      probes.push(['nf_tables', 'CONFIG_NF_TABLES', ['nsenter', `--net=${netnsPath(ns)}`, '--', 'nft', 'add', 'table', 'inet', 'k8tsprobe']]);
    }
    const results = await Promise.allSettled(probes.map(([, , argv]) => run(argv)));
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        const [feature, config] = probes[i];
        problems.push({ code: 'MissingKernelFeature', message: `the kernel cannot make ${feature} (${config}): ${(r.reason as Error).message}` });
      }
    });
  } finally {
    await run(['ip', 'netns', 'del', ns]);
  }
  return problems;
}

/** This boot's identity (a new one after every reboot), or undefined where the kernel does not say. */
export function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * checkKernel, remembered in dir for this boot once it passed: a file naming the boot and what was probed.
 * Only a pass is kept (a failure is probed again, so a module loaded meanwhile is seen); a file that does not
 * parse or names another boot is ignored and replaced.
 */
export async function checkKernelOnce(opts: { nft?: boolean }, dir: string | undefined): Promise<Problem[]> {
  const boot = bootId();
  if (!dir || !boot) return checkKernel(opts);
  const proof = join(dir, 'kernel-probe.json');
  const want = { boot, nft: opts.nft !== false };
  const had = await readFile(proof, 'utf8')
    .then((t) => JSON.parse(t) as unknown)
    .catch(() => undefined);
  if (had && typeof had === 'object' && (had as { boot?: unknown }).boot === boot && ((had as { nft?: unknown }).nft === true || !want.nft)) return [];
  const problems = await checkKernel(opts);
  if (!problems.length) {
    // Written through a private temporary name and renamed: concurrent ups never read half a file.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${proof}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(want)}\n`);
    await rename(tmp, proof);
  }
  return problems;
}

export async function checkPorts(plan: ClusterPlan): Promise<Problem[]> {
  const ports: [number, string][] = [[plan.apiServer.port, 'API server']];
  if (plan.etcd) ports.push([plan.etcd.clientPort, 'etcd client'], [plan.etcd.peerPort, 'etcd peer']);
  const problems: Problem[] = [];
  for (const [port, what] of ports) {
    const err = await tryBind(port);
    if (err) problems.push({ code: 'PortInUse', message: `port ${port} (${what}) on 127.0.0.1 is not free: ${err}` });
  }
  return problems;
}

function tryBind(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
