// The lab's wiring on the host: the node network bridge with its one address, and per node a network
// namespace joined to it by a veth pair. Creation is batched; removal deletes namespaces, which takes their
// veths with them (the fast path), and tolerates anything already gone.
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { run } from '../util/exec.js';
import { parseCidr } from '../util/cidr.js';
import { listLinks, listNetns } from './hostnet.js';
import { netnsPath } from './paths.js';
import type { ClusterPlan, NodePlan } from './plan.js';
import type { Step } from './steps.js';

/**
 * Inside a node: it routes for its pods; loose reverse-path filtering, because asymmetric paths are normal
 * here (VXLAN, a load-balancer address answered by another node) and strict mode would drop them.
 */
const NODE_SYSCTLS: Record<string, string> = {
  'net/ipv4/ip_forward': '1',
  'net/ipv4/conf/all/rp_filter': '2',
  'net/ipv4/conf/default/rp_filter': '2',
};

export function topologySteps(plan: ClusterPlan): Step[] {
  return [
    {
      name: `Creating node network ${plan.bridge} ${plan.nodeNetwork}`,
      execute: () => createBridge(plan),
      undo: () => destroyBridge(plan).then(() => {}),
    },
    {
      name: `Creating ${plan.nodes.length} node${plan.nodes.length === 1 ? '' : 's'}: ${plan.nodes.map((n) => `${n.name} ${n.ip}`).join(', ')}`,
      execute: () => createNodes(plan),
      undo: () => destroyNodes(plan).then(() => {}),
    },
  ];
}

/** The host bridge with the host's address: the kernel adds the one connected route, and nothing else is routed. */
export async function createBridge(plan: ClusterPlan): Promise<void> {
  const prefix = parseCidr(plan.nodeNetwork).prefix;
  await run(['ip', 'link', 'add', plan.bridge, 'type', 'bridge']);
  // No IPv6 on our host links: no link-local address and no fe80::/64 or multicast route in the host's tables.
  await disableIPv6(plan.bridge);
  await ipBatch([`addr add ${plan.hostIP}/${prefix} dev ${plan.bridge}`, `link set ${plan.bridge} up`]);
}

export async function createNodes(plan: ClusterPlan, nodes: NodePlan[] = plan.nodes): Promise<void> {
  await ipBatch([
    ...nodes.map((n) => `netns add ${n.netns}`),
    // The peer is born inside the node namespace: cheaper than creating it here and moving it.
    ...nodes.map((n) => `link add ${n.hostVeth} type veth peer name eth0 netns ${n.netns}`),
    ...nodes.map((n) => `link set ${n.hostVeth} master ${plan.bridge}`),
  ]);
  await Promise.all(nodes.map((n) => disableIPv6(n.hostVeth)));
  await ipBatch(nodes.map((n) => `link set ${n.hostVeth} up`));
  const prefix = parseCidr(plan.nodeNetwork).prefix;
  await Promise.all(
    nodes.map(async (n) => {
      await ipBatch(['link set lo up', `addr add ${n.ip}/${prefix} dev eth0`, 'link set eth0 up', `route add default via ${plan.hostIP} dev eth0`], n.netns);
      await writeSysctls(n.netns, NODE_SYSCTLS);
    }),
  );
}

/** Deletes the plan's node namespaces (and so their veths) and any host veth left behind; returns what it removed. */
export async function destroyNodes(plan: ClusterPlan): Promise<{ netns: string[]; links: string[] }> {
  const present = new Set(await listNetns());
  const netns = plan.nodes.map((n) => n.netns).filter((ns) => present.has(ns));
  const had = new Set(await listLinks());
  const veths = plan.nodes.map((n) => n.hostVeth).filter((l) => had.has(l));
  await deleteNetns(netns);
  await deleteLinks(await waitLinksGone(veths));
  return { netns, links: veths };
}

/**
 * Waits for links to go by themselves (a veth follows its peer's namespace a moment after `netns del`, far
 * cheaper than `link del`); returns those still there after ms, e.g. held by a process left in a namespace.
 */
export async function waitLinksGone(names: string[], ms = 1000): Promise<string[]> {
  const deadline = Date.now() + ms;
  let left = names;
  while (left.length) {
    const links = new Set(await listLinks());
    left = left.filter((l) => links.has(l));
    if (!left.length || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return left;
}

export async function destroyBridge(plan: ClusterPlan): Promise<string[]> {
  const links = await listLinks();
  const gone = links.includes(plan.bridge) ? [plan.bridge] : [];
  await deleteLinks(gone);
  return gone;
}

/** Removes the whole topology of the plan; safe to call on a half-made or already removed cluster. */
export async function destroyTopology(plan: ClusterPlan): Promise<{ netns: string[]; links: string[] }> {
  const nodes = await destroyNodes(plan);
  const bridge = await destroyBridge(plan);
  return { netns: nodes.netns, links: [...nodes.links, ...bridge] };
}

/** Deletes named network namespaces; one that vanished meanwhile is not an error. */
export async function deleteNetns(names: string[]): Promise<void> {
  await deleteTolerant(
    names.map((n) => `netns del ${n}`),
    async () => {
      const left = new Set(await listNetns());
      return names.filter((n) => left.has(n));
    },
  );
}

/**
 * Deletes host links; one that vanished meanwhile is not an error (a veth goes by itself, a moment after
 * its peer's namespace is freed).
 */
export async function deleteLinks(names: string[]): Promise<void> {
  await deleteTolerant(
    names.map((n) => `link del ${n}`),
    async () => {
      const left = new Set(await listLinks());
      return names.filter((n) => left.has(n));
    },
  );
}

async function deleteTolerant(lines: string[], remaining: () => Promise<string[]>): Promise<void> {
  if (!lines.length) return;
  try {
    // -force: one missing object must not stop the deletion of the others.
    await run(['ip', '-force', '-batch', '-'], { input: lines.join('\n') + '\n' });
  } catch (e) {
    if ((await remaining()).length) throw e;
  }
}

/** One `ip` process for many commands; with netns, they run inside that namespace. */
export async function ipBatch(lines: string[], netns?: string): Promise<void> {
  if (!lines.length) return;
  await run([...(netns ? ['ip', '-n', netns] : ['ip']), '-batch', '-'], { input: lines.join('\n') + '\n' });
}

async function disableIPv6(dev: string): Promise<void> {
  const f = `/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`;
  if (existsSync(f)) await writeFile(f, '1');
}

/**
 * /proc/sys/net shows the namespace of the process that opens it, so a process inside the node writes them:
 * one `sh`, entered with nsenter --net only (no private mount namespace).
 */
async function writeSysctls(netns: string, sysctls: Record<string, string>): Promise<void> {
  const script = Object.entries(sysctls)
    .map(([k, v]) => `echo ${v} > /proc/sys/${k}`)
    .join(' && ');
  await run(['nsenter', `--net=${netnsPath(netns)}`, '--', 'sh', '-c', script]);
}
