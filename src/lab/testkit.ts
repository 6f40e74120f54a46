// Helpers for the lab's tests: root detection, a private K8TS_HOME, unique names, captured progress lines.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../util/exec.js';

export const isRoot = process.getuid?.() === 0;

/** For `test(name, { skip: NEEDS_ROOT }, ...)`: false as root, the reason otherwise. */
export const NEEDS_ROOT: string | false = isRoot ? false : 'needs root (creates network namespaces, links and mounts): run the tests as root';

export async function tempHome(): Promise<{ home: string; cleanup(): Promise<void> }> {
  const home = await mkdtemp(join(tmpdir(), 'k8ts-lab-test-'));
  return { home, cleanup: () => rm(home, { recursive: true, force: true }) };
}

/** A cluster name no other test run uses: t<pid><random>. */
export function uniqueName(tag = 't'): string {
  return `${tag}${process.pid}${Math.random().toString(36).slice(2, 7)}`;
}

export function captureLog(): { lines: string[]; log(line: string): void } {
  const lines: string[] = [];
  return { lines, log: (l) => lines.push(l) };
}

/** One ICMP echo from inside netns (or the host), through busybox, which the lab requires anyway. */
export async function ping(ip: string, netns?: string): Promise<void> {
  const argv = ['busybox', 'ping', '-c', '1', '-W', '2', ip];
  await run(netns ? ['nsenter', `--net=/run/netns/${netns}`, '--', ...argv] : argv);
}

/** Names of host links, as `ip -o link` lists them. */
export async function hostLinks(): Promise<string[]> {
  const { stdout } = await run(['ip', '-o', 'link']);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(': ')[1].split('@')[0]);
}

export async function netnsList(): Promise<string[]> {
  const { stdout } = await run(['ip', 'netns', 'list']);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[0]);
}

/**
 * Interface indexes of the host links of a cluster's stem (its bridge and node veths). A link's index is
 * not reused soon, so "these indexes are gone" stays true even when a concurrent test's cluster takes the
 * freed stem and its names at once.
 */
export async function stemLinkIndexes(stem: string): Promise<number[]> {
  const own = new RegExp(`^${stem}(n\\d+)?$`);
  const links = JSON.parse((await run(['ip', '-j', 'link', 'show'])).stdout) as { ifindex: number; ifname: string }[];
  return links.filter((l) => own.test(l.ifname)).map((l) => l.ifindex);
}

export async function hostLinkIndexes(): Promise<number[]> {
  return (JSON.parse((await run(['ip', '-j', 'link', 'show'])).stdout) as { ifindex: number }[]).map((l) => l.ifindex);
}
