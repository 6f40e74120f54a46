// Where the lab keeps things: the per-user state (K8TS_HOME) and the host-wide runtime files under /run.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** K8TS_HOME, or ~/.k8ts. */
export function k8tsHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.K8TS_HOME || join(homedir(), '.k8ts');
}

/**
 * Host-wide cluster index claims. They live in /run (not K8TS_HOME) because bridge names, node networks and
 * ports are host-wide: two K8TS_HOMEs on one machine must not both take index 0. /run empties on reboot,
 * exactly when the namespaces and links the claims stand for disappear too.
 */
export const RUN_DIR = '/run/k8ts/lab';

/** The bind-mount `ip netns add` makes for a named network namespace. */
export function netnsPath(netns: string): string {
  return `/run/netns/${netns}`;
}

export const NETNS_DIR = '/run/netns';
