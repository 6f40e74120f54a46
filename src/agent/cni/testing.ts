// Test and benchmark fixtures for CNI: throwaway network namespaces ("k8tscni-" + random) standing for a
// node and its pods, so nothing touches the host's own links or routes, and probes of what a pod sees.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../util/exec.js';
import { ipBatch, parseJsonLines, type IpLink, type IpRoute } from './ip.js';

export const IS_ROOT = process.getuid?.() === 0;
export const SKIP_NOT_ROOT = IS_ROOT ? false : 'needs root: creates network namespaces, veths and bridges (run the tests as root)';

/** The checkout this module was built from (dist/src/agent/cni → four levels up). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const K8TS_CNI_BIN = join(REPO_ROOT, 'bin/k8ts-cni');
export const REFERENCE_CNI_DIR = '/usr/lib/cni';

export function uniqueName(kind: string): string {
  return `k8tscni-${kind}${randomBytes(4).toString('hex')}`;
}

/** A node namespace with any number of pod namespaces and a data dir, all removed by cleanup(). */
export class Lab {
  readonly node = uniqueName('n');
  readonly dataDir = mkdtempSync(join(tmpdir(), 'k8tscni-'));
  private readonly pods: string[] = [];
  private started = false;

  async start(): Promise<this> {
    await run(['ip', 'netns', 'add', this.node]);
    this.started = true;
    await ipBatch({ kind: 'named', name: this.node }, ['link set dev lo up']);
    return this;
  }

  /** A new, empty pod namespace; returns its path. */
  async pod(): Promise<string> {
    const name = uniqueName('p');
    this.pods.push(name);
    await run(['ip', 'netns', 'add', name]);
    return `/run/netns/${name}`;
  }

  async deletePod(path: string): Promise<void> {
    const name = path.split('/').pop()!;
    await run(['ip', 'netns', 'del', name]).catch(() => undefined);
    this.pods.splice(this.pods.indexOf(name), 1);
  }

  async cleanup(): Promise<void> {
    for (const p of this.pods.splice(0)) await run(['ip', 'netns', 'del', p]).catch(() => undefined);
    if (this.started) await run(['ip', 'netns', 'del', this.node]).catch(() => undefined);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** One ICMP echo from inside a namespace (busybox from Debian's busybox-static). */
export async function ping(fromNetns: string, ip: string): Promise<boolean> {
  const name = fromNetns.split('/').pop()!;
  try {
    await run(['ip', 'netns', 'exec', name, 'busybox', 'ping', '-c', '1', '-W', '2', ip], { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** What a namespace holds: links with addresses, and routes. */
export async function inspect(netns: string): Promise<{ links: IpLink[]; routes: IpRoute[] }> {
  const name = netns.split('/').pop()!;
  const [links = [], routes = []] = parseJsonLines<IpLink | IpRoute>(await ipBatch({ kind: 'named', name }, ['addr show', 'route show'], { json: true }));
  return { links: links as IpLink[], routes: routes as IpRoute[] };
}

/** IPv4 addresses (with prefix) of one interface in a namespace. */
export async function addressesOf(netns: string, ifName: string): Promise<string[]> {
  const { links } = await inspect(netns);
  const l = links.find((x) => x.ifname === ifName);
  return (l?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}
