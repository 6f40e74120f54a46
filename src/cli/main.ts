// The k8ts command: one program, several roles. Each subcommand parses its flags and calls the library.
import { UsageError } from './args.js';
import { KUBE_VERSION } from '../api/version.js';
import { progress } from '../lab/progress.js';

const HELP = `k8ts — a small, real, Kubernetes-compatible cluster whose networking is real Linux networking.

Usage: k8ts <command> [flags]

Commands:
  server     run the API server, datastore and controllers (k8ts server --help)
  agent      run a node: pods on cbr0, routes between nodes (k8ts agent --help)
  up         build a multi-node cluster on this machine (k8ts up --help)
  down       remove a cluster made by up, leaving nothing behind
  token      create, list and delete bootstrap tokens agents join with (k8ts token --help)
  image      import, pull and list images on a cluster's nodes (k8ts image --help)
  kubeconfig print the path of a cluster's kubeconfig
  status     list the clusters on this machine
  trace      show each hop of a packet from a pod (or this host) to a pod, Service or address, and probe it
  drops      list what NetworkPolicy (and "no endpoints") dropped recently, and why
  ui         serve a live picture of the cluster's network on 127.0.0.1 (k8ts ui --help)
  simulate   a scale test: N hollow nodes (kubemark's way) against one real server (k8ts simulate --help)
  version    print the version
  help       show this help

Use the real kubectl against it: export KUBECONFIG=<data-dir>/kubeconfig
`;

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'server':
      return (await import('./server.js')).serverCommand(rest);
    case 'agent':
      return (await import('./agent.js')).agentCommand(rest);
    case 'up':
      return (await import('./lab.js')).upCommand(rest);
    case 'down':
      return (await import('./lab.js')).downCommand(rest);
    case 'token':
      return (await import('./token.js')).tokenCommand(rest);
    case 'image':
      return (await import('./image.js')).imageCommand(rest);
    case 'kubeconfig':
      return (await import('./lab.js')).kubeconfigCommand(rest);
    case 'status':
      return (await import('./lab.js')).statusCommand(rest);
    case 'trace':
      return (await import('./netpol.js')).traceCommand(rest);
    case 'drops':
      return (await import('./netpol.js')).dropsCommand(rest);
    case 'ui':
      return (await import('./ui.js')).uiCommand(rest);
    case 'simulate':
      return (await import('./simulate.js')).simulateCommand(rest);
    case 'version':
    case '--version':
      process.stdout.write(`k8ts 0.1.0 (Kubernetes API ${KUBE_VERSION.gitVersion})\n`);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}; see 'k8ts help'`);
  }
}

main(process.argv.slice(2)).catch((e) => {
  progress.clear();
  if (e instanceof UsageError) {
    process.stderr.write(`k8ts: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`k8ts: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
