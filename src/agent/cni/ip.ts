// Runs `ip -batch` in a chosen network namespace and says which line failed, so callers know exactly
// what a half-done batch made.
import { CommandError, run } from '../../util/exec.js';

/** Where a batch runs: the current namespace, one named under /run/netns, or one given by path. */
export type Netns = { kind: 'current' } | { kind: 'named'; name: string } | { kind: 'path'; path: string };

export const CURRENT_NETNS: Netns = { kind: 'current' };

/** /run/netns/NAME (and /var/run/netns/NAME) become named namespaces, so `ip -n` can enter them. */
export function netnsFromPath(path: string): Netns {
  const m = /^(?:\/var)?\/run\/netns\/([^/]+)$/.exec(path);
  return m ? { kind: 'named', name: m[1] } : { kind: 'path', path };
}

export function netnsPath(ns: Netns): string | undefined {
  if (ns.kind === 'named') return `/run/netns/${ns.name}`;
  if (ns.kind === 'path') return ns.path;
  return undefined;
}

export function describeNetns(ns: Netns): string {
  return ns.kind === 'current' ? 'the current network namespace' : `network namespace ${netnsPath(ns)}`;
}

/** A batch stopped at `line` (1-based), whose text was `command`. */
export class IpBatchError extends Error {
  readonly code = 'IpBatchFailed';
  constructor(
    readonly ns: Netns,
    readonly line: number | undefined,
    readonly command: string | undefined,
    readonly failure: CommandError,
  ) {
    const what = failure.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('Command failed'))
      .join('; ');
    super(`ip ${command ?? '(batch)'} failed in ${describeNetns(ns)}: ${what || `exit ${failure.exitCode}`}`);
    this.name = 'IpBatchError';
  }

  /** The kernel's or ip's message, without the batch bookkeeping lines. */
  get reason(): string {
    return this.failure.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('Command failed'))
      .join('; ');
  }
}

export interface BatchOptions {
  /** Ask for JSON output (`ip -j`). */
  json?: boolean;
  /** Keep going after a failed line (`ip -force`); the error then names the first failed line. */
  force?: boolean;
}

function argv(ns: Netns, opts: BatchOptions): string[] {
  const flags = [...(opts.json ? ['-j'] : []), ...(opts.force ? ['-force'] : []), '-batch', '-'];
  if (ns.kind === 'named') return ['ip', '-n', ns.name, ...flags];
  if (ns.kind === 'path') return ['nsenter', `--net=${ns.path}`, 'ip', ...flags];
  return ['ip', ...flags];
}

/** Lines that failed, from ip's "Command failed -:N" reports. */
export function failedLines(stderr: string): number[] {
  return [...stderr.matchAll(/Command failed -:(\d+)/g)].map((m) => Number(m[1]));
}

/** Runs the lines as one `ip -batch`; returns stdout. */
export async function ipBatch(ns: Netns, lines: string[], opts: BatchOptions = {}): Promise<string> {
  try {
    return (await run(argv(ns, opts), { input: lines.join('\n') + '\n' })).stdout;
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
    const line = failedLines(e.stderr)[0];
    throw new IpBatchError(ns, line, line ? lines[line - 1] : undefined, e);
  }
}

/** `ip -j -batch` prints one JSON array per show command, each on its own line. */
export function parseJsonLines<T>(stdout: string): T[][] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T[]);
}

/** The parts of `ip -j link show` / `ip -j addr show` output this plugin reads. */
export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  address?: string;
  master?: string;
  operstate?: string;
  ifalias?: string;
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}
