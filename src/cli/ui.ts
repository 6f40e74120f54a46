// `k8ts ui`: serves the live topology page on 127.0.0.1 with the kubeconfig's credentials (as `kubectl
// proxy` and `minikube dashboard` do), prints its URL, opens a browser if there is one, and runs until
// interrupted.
import { spawn } from 'node:child_process';
import { configFromKubeconfig } from '../client/rest.js';
import { k8tsHome } from '../lab/paths.js';
import { loadPlan } from '../lab/plan.js';
import { UiServer } from '../ui/server.js';
import { flagHelp, parseFlags, UsageError, type FlagSpec, type Flags } from './args.js';

const UI_FLAGS = {
  name: { type: 'string', default: 'default', help: 'the lab cluster (as k8ts kubeconfig picks it)', metavar: 'NAME' },
  kubeconfig: { type: 'string', help: "any k8ts cluster's kubeconfig instead of a lab one", metavar: 'FILE' },
  port: { type: 'number', default: 8474, help: 'port on 127.0.0.1 (0 picks a free one)', metavar: 'PORT' },
  'no-open': { type: 'boolean', help: 'do not start a browser (xdg-open) on the page' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies FlagSpec;

export const uiHelp = `Usage: k8ts ui [--name CLUSTER | --kubeconfig FILE] [--port PORT] [--no-open]

Serves a live picture of the cluster on http://127.0.0.1:PORT/: nodes, each node's cbr0 with its gateway
address, the veth pairs, pods with their IPs and phases, the routes between nodes (host-gw or the VXLAN
device), Services with their ClusterIP/NodePort/LoadBalancer IP and lines to their ready endpoints, and
NetworkPolicies as the flows they allow. It changes as the cluster does (watches, no refresh). Click an
element for its details and the kernel facts its node's agent reads (interfaces, MACs, routes, nft map
entries); select two pods (or a pod, then a Service) and press Trace to follow a packet hop by hop, as
\`k8ts trace\` does. Read-only: the page can only read what it draws and run a trace, with the
kubeconfig's credentials. Runs until interrupted.

${flagHelp(UI_FLAGS)}
`;

/** Parsed and checked flags: the kubeconfig path and port. */
export async function uiTarget(flags: Flags<typeof UI_FLAGS>): Promise<{ kubeconfig: string; port: number }> {
  const port = flags.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${port}: expected 0-65535`);
  const kubeconfig = flags.kubeconfig ?? (await loadPlan(k8tsHome(), flags.name)).paths.kubeconfig;
  return { kubeconfig, port };
}

/** Starts the page's server, prints its URL, opens a browser unless told not to, and serves until SIGINT/SIGTERM. */
export async function serveUi(kubeconfig: string, port: number, open: boolean): Promise<void> {
  const ui = new UiServer({ config: configFromKubeconfig(kubeconfig), port });
  let url: string;
  try {
    url = await ui.start();
  } catch (e) {
    await ui.close();
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new UsageError(`port ${port} on 127.0.0.1 is in use: pick another with --port (0: any free one)`);
    throw e;
  }
  process.stdout.write(`k8ts ui: serving the cluster's topology at ${url} (Ctrl-C to stop)\n`);
  if (open && (process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) {
    const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
    child.on('error', () => process.stderr.write(`k8ts ui: could not start a browser (xdg-open); open ${url}\n`));
    child.unref();
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await ui.close();
}

export async function uiCommand(argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv, UI_FLAGS);
  if (flags.help) return void process.stdout.write(uiHelp);
  if (rest.length) throw new UsageError(`ui takes no arguments, not ${JSON.stringify(rest[0])}\n\n${uiHelp}`);
  const { kubeconfig, port } = await uiTarget(flags);
  await serveUi(kubeconfig, port, !flags['no-open']);
}
