// `k8ts up`, `k8ts down`, `k8ts kubeconfig`, `k8ts status`: a whole cluster on this machine — the server
// on the host, one network namespace per node running `k8ts agent` — built step by step and removed whole.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { generateEncryptionConfig } from '../store/encryption.js';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { up, PreflightError } from '../lab/up.js';
import { down } from '../lab/down.js';
import { listPlans, loadPlan, nodeNetnsPrefix, type ClusterPlan } from '../lab/plan.js';
import { k8tsHome } from '../lab/paths.js';
import { startProcess, logTail, logFile, isRunning } from '../lab/procs.js';
import { controlPlaneCgroup, dnsCgroup, nodeCgroups } from '../lab/cgroups.js';
import type { Step } from '../lab/steps.js';
import { stepLine } from '../lab/steps.js';
import { RestClient, configFromKubeconfig } from '../client/rest.js';
import { NODES } from '../api/kinds.js';
import type { Node } from '../api/types.js';
import { SharedInformer } from '../client/informer.js';
import { NOT_READY_TAINT, UNREACHABLE_TAINT } from '../controllers/nodelifecycle.js';
import { generateBootstrapToken } from '../api/bootstraptoken.js';
import { isNodeReady } from '../api/conditions.js';
import { ensureClusterCa, kubeconfig } from '../apiserver/certs.js';
import { run } from '../util/exec.js';
import { cliEntry } from '../util/layout.js';
import { REALTIME_DNS_NODE_FLAGS } from '../dns/placement.js';
import { Registries } from '../agent/images/registries.js';
import { type FlagSpec, UsageError, flagHelp, parseFlags } from './args.js';
import { serveUi } from './ui.js';
import { checkSyncFrequency } from './agent.js';
import { DEFAULT_SYNC_FREQUENCY_MS } from '../agent/agent.js';

const UP_FLAGS = {
  name: { type: 'string', default: 'default', help: 'cluster name (several can run side by side)', metavar: 'NAME' },
  nodes: { type: 'number', default: 2, help: 'number of nodes', metavar: 'N' },
  backend: { type: 'string', default: 'host-gw', help: 'routes between nodes: host-gw or vxlan', metavar: 'host-gw|vxlan' },
  store: { type: 'string', default: 'sqlite', help: 'datastore: sqlite or etcd', metavar: 'sqlite|etcd' },
  cni: { type: 'string', default: 'k8ts', help: "CNI plugin: k8ts, or reference (Debian's bridge + host-local)", metavar: 'k8ts|reference' },
  'node-monitor-grace-period': {
    type: 'number',
    default: 40,
    help: "seconds without a Lease renewal before a node is NotReady (the server's flag; agents renew every 10 s)",
    metavar: 'SECONDS',
  },
  'default-toleration-seconds': {
    type: 'number',
    default: 300,
    help: "tolerationSeconds of the not-ready/unreachable tolerations every pod gets: how long pods stay on a failed node (the server's --default-*-toleration-seconds)",
    metavar: 'SECONDS',
  },
  'metric-resolution': {
    type: 'number',
    default: 15,
    help: "seconds between scrapes of the nodes' resource metrics for kubectl top (the server's flag)",
    metavar: 'SECONDS',
  },
  'sync-frequency': {
    type: 'number',
    default: DEFAULT_SYNC_FREQUENCY_MS / 1000,
    help: "seconds between each agent's look at every pod of its node (the agents' flag; a container's exit is seen at once without it)",
    metavar: 'SECONDS',
  },
  timeout: { type: 'number', default: 60, help: 'seconds to wait for every node to be Ready', metavar: 'SECONDS' },
  registries: { type: 'string', help: "registries.yaml (k3s's format) for every node: mirrors, credentials, TLS", metavar: 'FILE' },
  ui: { type: 'boolean', help: 'then serve the topology page (k8ts ui) until interrupted' },
  'ui-port': { type: 'number', default: 8474, help: 'port of the topology page with --ui (0 picks a free one)', metavar: 'PORT' },
  'no-open': { type: 'boolean', help: 'with --ui: do not start a browser on the page' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies FlagSpec;

export const upHelp = `Usage: k8ts up [--name NAME] [--nodes N] [--backend host-gw|vxlan] [--store sqlite|etcd] [--cni k8ts|reference] [--registries FILE]
                [--ui [--ui-port PORT] [--no-open]]
                [--node-monitor-grace-period SECONDS] [--default-toleration-seconds SECONDS] [--metric-resolution SECONDS]
                [--sync-frequency SECONDS]

Builds a cluster on this machine and returns when every node is Ready: a node network on a host bridge,
one network namespace per node running \`k8ts agent\` in a cgroup of that node (so \`kubectl top nodes\`
shows each node's own usage), the API server on the host. Checks the host first
(root, kernel features, commands, address ranges). A failed up removes what it made.
Kubeconfig: \${K8TS_HOME:-~/.k8ts}/NAME/kubeconfig.
K8TS_NODE_FLAGS="--cpu-prof --cpu-prof-dir=DIR" passes Node.js flags to the server and agents (profiling).
K8TS_NODE_HELPER=0 reaches the agents: each forks its programs itself instead of through its node helper.

Flags:
${flagHelp(UP_FLAGS)}
`;

/** The command line of a lab process: node with K8TS_NODE_FLAGS and the role's own Node.js flags, then the CLI. */
function node(roleFlags: readonly string[], ...args: string[]): string[] {
  return [process.execPath, ...nodeFlags(), ...roleFlags, cliEntry(), ...args];
}

/** K8TS_NODE_FLAGS: extra Node.js flags for every process the lab starts (the server, each agent), for
 *  profiling a cluster's start-up (`--cpu-prof --cpu-prof-dir=DIR`, which NODE_OPTIONS refuses). Each must
 *  be one `--flag` or `--flag=value` word. */
export function nodeFlags(env = process.env.K8TS_NODE_FLAGS): string[] {
  const words = (env ?? '').split(/\s+/).filter(Boolean);
  for (const w of words)
    if (!/^--[a-z][a-z0-9-]*(=[\w./:,-]+)?$/.test(w)) throw new UsageError(`K8TS_NODE_FLAGS: ${JSON.stringify(w)} is not a --flag or --flag=value`);
  return words;
}

async function waitFor<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (let d = 10; Date.now() < end; d = Math.min(d * 2, 50)) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, d));
  }
  throw new Error(`timed out after ${ms / 1000} s waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

/** The cluster's steps: the control plane's (etcd, the CA, the server), which `up` runs before it makes the
 *  nodes so that the server boots meanwhile, and the nodes' (the agents, then the waits). */
function clusterSteps(
  plan: ClusterPlan,
  timeoutMs: number,
  cni: string,
  registries?: string,
  serverFlags: string[] = [],
  agentFlags: string[] = [],
): { control: Step[]; nodes: Step[] } {
  const server = plan.paths.server;
  const port = plan.apiServer.port;
  const listen = plan.apiServer.addresses.map((a) => `${a}:${port}`).join(',');
  const control: Step[] = [];
  const nodes: Step[] = [];
  if (plan.store === 'etcd') {
    const e = plan.etcd!;
    control.push({
      name: `Starting etcd on 127.0.0.1:${e.clientPort}`,
      execute: async () => {
        await startProcess(
          plan.dir,
          'etcd',
          [
            'etcd',
            '--name',
            plan.stem,
            '--data-dir',
            join(plan.dir, 'etcd'),
            '--listen-client-urls',
            `http://127.0.0.1:${e.clientPort}`,
            '--advertise-client-urls',
            `http://127.0.0.1:${e.clientPort}`,
            '--listen-peer-urls',
            `http://127.0.0.1:${e.peerPort}`,
            '--initial-advertise-peer-urls',
            `http://127.0.0.1:${e.peerPort}`,
            '--initial-cluster',
            `${plan.stem}=http://127.0.0.1:${e.peerPort}`,
          ],
          { settleMs: 100 },
        );
      },
    });
  }
  // kubeadm's order: the cluster CA and a bootstrap token first, made here, so that the server and the
  // agents can start side by side (an agent's start-up, ~1 s of its own, overlaps the server's); the server
  // puts the token's Secret in before it serves (--bootstrap-token-file), so each agent joins at its first
  // try after the server answers (it retries until then).
  const token = generateBootstrapToken();
  control.push({
    name: 'Making the cluster CA and a bootstrap token for the agents to join with',
    execute: async () => {
      await ensureClusterCa(server);
      writeFileSync(join(plan.dir, 'bootstrap.token'), `${token.token}\n`, { mode: 0o600, flag: 'wx' });
    },
  });
  control.push({
    name: `Starting the API server on ${listen} (${plan.store})`,
    execute: async () => {
      const args = [
        'server',
        '--data-dir',
        server,
        '--listen',
        listen,
        '--store',
        plan.store,
        '--cluster-cidr',
        plan.clusterCIDR,
        '--node-cidr-mask-size',
        String(plan.nodeCIDRMaskSize),
        '--tls-san',
        plan.hostIP,
        '--service-cluster-ip-range',
        plan.serviceCIDR,
        '--advertise-address',
        plan.hostIP,
        '--lb-pool',
        `${plan.lbPool.first}-${plan.lbPool.last}`,
        '--cluster-dns',
        plan.dnsServiceIP,
        '--bootstrap-token-file',
        join(plan.dir, 'bootstrap.token'),
        ...serverFlags,
      ];
      if (plan.store === 'etcd') args.push('--etcd-endpoints', `http://127.0.0.1:${plan.etcd!.clientPort}`);
      // Secrets are encrypted at rest with a key made once per lab (kept, so a restart reads what it wrote).
      const encConfig = join(server, 'encryption-config.yaml');
      if (!existsSync(encConfig)) {
        mkdirSync(server, { recursive: true, mode: 0o700 });
        writeFileSync(encConfig, generateEncryptionConfig(), { mode: 0o600, flag: 'wx' });
      }
      args.push('--encryption-provider-config', encConfig);
      // In the control plane's cgroup where the host has one: every node waits on the server (lab/cgroups.ts).
      const cp = await controlPlaneCgroup(plan);
      await startProcess(plan.dir, 'server', node([], ...args), cp ? { cgroups: [cp] } : {});
    },
  });
  nodes.push({
    name: `Starting ${plan.nodes.length} agent${plan.nodes.length > 1 ? 's' : ''} (${plan.backend})`,
    execute: async () => {
      const cgroups = await nodeCgroups(plan);
      const dns = await dnsCgroup(plan);
      await Promise.all(
        plan.nodes.map((n) =>
          startProcess(
            plan.dir,
            `agent-${n.name}`,
            node(
              // V8's collector on the collecting thread, so the real-time DNS thread never waits on a helper (dns/placement.ts).
              REALTIME_DNS_NODE_FLAGS,
              'agent',
              // Each agent joins with the bootstrap token, runs as system:node:<name>, serves a certificate from
              // the cluster CA and authorizes the API server's calls (kube-apiserver-kubelet-client) like anyone's.
              '--server',
              `https://${plan.hostIP}:${port}`,
              '--bootstrap-token-file',
              join(plan.dir, 'bootstrap.token'),
              '--ca-file',
              join(server, 'pki/ca.crt'),
              '--node-name',
              n.name,
              '--node-ip',
              n.ip,
              '--data-dir',
              n.dir,
              '--backend',
              plan.backend,
              '--cluster-cidr',
              plan.clusterCIDR,
              '--uplink',
              'eth0',
              '--netns-prefix',
              nodeNetnsPrefix(plan, n.name),
              '--cluster-dns',
              plan.dnsServiceIP,
              '--cni',
              cni,
              ...(registries ? ['--registries', registries] : []),
              // The node's own cgroup: the agent starts in it (and so do its pods, nested by runc) and reads the node's usage there.
              ...(cgroups.has(n.name) ? ['--node-cgroups', cgroups.get(n.name)!.join(',')] : []),
              // The node's DNS thread answers ahead of the host's other work: SCHED_RR where the host allows it,
              // else in the lab's DNS cgroup of high cpu.shares.
              '--dns-realtime',
              ...(dns ? ['--dns-cgroup', dns] : []),
              ...agentFlags,
            ),
            { netns: n.netns, cgroups: cgroups.get(n.name) },
          ),
        ),
      );
    },
  });
  nodes.push({
    name: 'Waiting for the API server',
    execute: async () => {
      await waitFor('the API server', timeoutMs, async () => {
        if (!(await isRunning(plan.dir, 'server'))) throw new Error(`the server exited:\n${await logTail(logFile(plan.dir, 'server'), 15)}`);
        return existsSync(join(server, 'kubeconfig')) && /serving on/.test(readFileSync(logFile(plan.dir, 'server'), 'utf8'));
      });
      // The admin's client certificate (as kind's kubeconfig), and the token kubeconfig beside it.
      const common = { server: `https://127.0.0.1:${port}`, caCert: readFileSync(join(server, 'pki/ca.crt'), 'utf8'), name: `k8ts-${plan.name}` };
      writeFileSync(
        plan.paths.kubeconfig,
        kubeconfig({
          ...common,
          user: { clientCert: readFileSync(join(server, 'pki/admin.crt'), 'utf8'), clientKey: readFileSync(join(server, 'pki/admin.key'), 'utf8') },
        }),
        { mode: 0o600 },
      );
      writeFileSync(
        tokenKubeconfigPath(plan.paths.kubeconfig),
        kubeconfig({ ...common, user: { token: readFileSync(join(server, 'admin.token'), 'utf8').trim() } }),
        { mode: 0o600 },
      );
    },
  });
  nodes.push({
    name: 'Waiting for every node to be Ready',
    execute: async () => {
      const c = new RestClient(configFromKubeconfig(plan.paths.kubeconfig));
      try {
        await nodesReady(
          c,
          plan.nodes.map((n) => n.name),
          timeoutMs,
          async () => {
            for (const n of plan.nodes) {
              if (!(await isRunning(plan.dir, `agent-${n.name}`)))
                throw new Error(`agent ${n.name} exited:\n${await logTail(logFile(plan.dir, `agent-${n.name}`), 15)}`);
            }
          },
        );
      } finally {
        c.close();
      }
    },
  });
  return { control, nodes };
}

/** The taints node lifecycle mirrors a not-Ready condition in: a pod made while one is on is not scheduled there. */
const CONDITION_TAINTS = new Set([NOT_READY_TAINT, UNREACHABLE_TAINT]);

/** A Node a pod made now can use: Ready (its agent posts that once the pod network is set up), with a pod
 *  CIDR, and without the taints of a node that was not Ready. */
function usableNode(n: Node | undefined): boolean {
  return !!n && isNodeReady(n) && !!n.spec?.podCIDR && !(n.spec?.taints ?? []).some((t) => CONDITION_TAINTS.has(t.key));
}

/**
 * Resolves once every named Node is usable, seen through an informer (a list, then each change the moment it
 * is written; the reflector lists and watches again if the watch ends). `alive` is called every 250 ms and
 * throws when an agent has died, which ends the wait with its error; at the deadline the error names the
 * nodes still waiting and why.
 */
async function nodesReady(c: RestClient, names: string[], timeoutMs: number, alive: () => Promise<void>): Promise<void> {
  const nodes = new SharedInformer(c, NODES);
  const waiting = () => names.filter((name) => !usableNode(nodes.lister.get(undefined, name)));
  let tick: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const check = () => nodes.hasSynced() && !waiting().length && resolve();
      nodes.addEventHandler({ onAdd: check, onUpdate: check, onDelete: check });
      tick = setInterval(() => void alive().catch(reject), 250);
      deadline = setTimeout(() => {
        const why = waiting().map((name) => {
          const n = nodes.lister.get(undefined, name);
          const ready = n?.status?.conditions?.find((x) => x.type === 'Ready');
          return !n ? `${name}: not registered` : `${name}: Ready=${ready?.status ?? 'none'}${ready?.message ? ` (${ready.message})` : ''}`;
        });
        reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${names.length} Ready nodes: ${why.join('; ')}`));
      }, timeoutMs);
      nodes.start();
      void nodes.waitForSync().then(check);
    });
  } finally {
    clearInterval(tick);
    clearTimeout(deadline);
    nodes.stop();
  }
}

export async function upCommand(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, UP_FLAGS);
  if (flags.help) return void process.stdout.write(upHelp);
  if (flags.backend !== 'host-gw' && flags.backend !== 'vxlan') throw new UsageError(`--backend ${JSON.stringify(flags.backend)}: expected host-gw or vxlan`);
  if (flags.store !== 'sqlite' && flags.store !== 'etcd') throw new UsageError(`--store ${JSON.stringify(flags.store)}: expected sqlite or etcd`);
  if (flags.cni !== 'k8ts' && flags.cni !== 'reference') throw new UsageError(`--cni ${JSON.stringify(flags.cni)}: expected k8ts or reference`);
  for (const f of ['node-monitor-grace-period', 'default-toleration-seconds'] as const) {
    if (!Number.isInteger(flags[f]) || flags[f] < 0) throw new UsageError(`--${f} ${flags[f]}: expected a whole number of seconds ≥ 0`);
  }
  if (!(flags['metric-resolution'] >= 1 && flags['metric-resolution'] <= 3600))
    throw new UsageError(`--metric-resolution ${flags['metric-resolution']}: expected seconds from 1 to 3600`);
  checkSyncFrequency(flags['sync-frequency']);
  if (!Number.isInteger(flags['ui-port']) || flags['ui-port'] < 0 || flags['ui-port'] > 65535)
    throw new UsageError(`--ui-port ${flags['ui-port']}: expected 0-65535`);
  if (!Number.isInteger(flags.nodes) || flags.nodes < 1) throw new UsageError(`--nodes ${flags.nodes}: expected a whole number ≥ 1`);
  // Proven before anything is made; each node gets the cluster's own copy (k8ts image pull reads it too).
  const registriesText = flags.registries ? readRegistries(flags.registries) : undefined;
  // One set of steps per plan (it holds the bootstrap token): the control plane's run before the nodes are made.
  let made: { control: Step[]; nodes: Step[] } | undefined;
  const cluster = (p: ClusterPlan) =>
    (made ??= clusterSteps(
      p,
      flags.timeout * 1000,
      flags.cni,
      registriesText !== undefined ? join(p.dir, 'registries.yaml') : undefined,
      [
        '--node-monitor-grace-period',
        String(flags['node-monitor-grace-period']),
        '--default-not-ready-toleration-seconds',
        String(flags['default-toleration-seconds']),
        '--default-unreachable-toleration-seconds',
        String(flags['default-toleration-seconds']),
        '--metric-resolution',
        String(flags['metric-resolution']),
      ],
      ['--sync-frequency', String(flags['sync-frequency'])],
    ));
  const t0 = performance.now();
  try {
    const plan = await up({
      name: flags.name,
      nodes: flags.nodes,
      backend: flags.backend,
      store: flags.store,
      controlPlane: (p) => cluster(p).control,
      steps: (p) => {
        const steps = [...cluster(p).nodes];
        const file = join(p.dir, 'registries.yaml');
        if (registriesText !== undefined)
          steps.unshift({ name: `Writing the registries configuration ${file}`, execute: () => writeFileSync(file, registriesText, { mode: 0o600 }) });
        return steps;
      },
    });
    process.stderr.write(
      `${stepLine(true, `Cluster ${plan.name} is up with ${plan.nodes.length} Ready node${plan.nodes.length > 1 ? 's' : ''}`, performance.now() - t0)}\n`,
    );
    process.stdout.write(`export KUBECONFIG=${plan.paths.kubeconfig}\n`);
    if (flags.ui) await serveUi(plan.paths.kubeconfig, flags['ui-port'], !flags['no-open']);
  } catch (e) {
    if (e instanceof PreflightError) throw new Error(e.message);
    throw e;
  }
}

function readRegistries(file: string): string {
  try {
    Registries.fromFile(file);
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`k8ts up --registries: ${(e as Error).message}`);
  }
}

const NAME_FLAGS = {
  name: { type: 'string', default: 'default', help: 'cluster name', metavar: 'NAME' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies FlagSpec;

/**
 * Stop every container the cluster's agents started (runc state lives under each agent's dir). Several at a
 * time: `runc delete --force` mostly waits for the kill (~0.1 s each), and one by one a node with 110 pods
 * took ~25 s to come down.
 */
async function stopContainers(plan: ClusterPlan): Promise<void> {
  const jobs: string[][] = [];
  for (const n of plan.nodes) {
    const root = join(n.dir, 'runtime', 'runc');
    if (!existsSync(root)) continue;
    for (const id of readdirSync(root)) jobs.push(['runc', '--root', root, 'delete', '--force', id]);
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(16, jobs.length) }, async () => {
      while (next < jobs.length) await run(jobs[next++]).catch(() => {});
    }),
  );
}

export async function downCommand(argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv, NAME_FLAGS);
  if (flags.help)
    return void process.stdout.write(
      `Usage: k8ts down [--name NAME]\n\nRemoves every namespace, link, route, nftables table, cgroup, mount, process and file of the cluster.\n\n${flagHelp(NAME_FLAGS)}\n`,
    );
  const name = rest[0] ?? flags.name;
  const t0 = performance.now();
  const plan = await loadPlan(k8tsHome(), name).catch(() => undefined);
  if (plan) await stopContainers(plan);
  const report = await down(name);
  process.stderr.write(
    `${stepLine(true, `Cluster ${name} removed (${report.netns.length} namespaces, ${report.processes.length + report.killed.length} processes, ${report.links.length} links)`, performance.now() - t0)}\n`,
  );
}

const KUBECONFIG_FLAGS = {
  ...NAME_FLAGS,
  token: { type: 'boolean', help: 'the kubeconfig whose user is the admin bearer token instead of the client certificate' },
} satisfies FlagSpec;

export async function kubeconfigCommand(argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv, KUBECONFIG_FLAGS);
  if (flags.help) {
    return void process.stdout.write(
      `Usage: k8ts kubeconfig [--name NAME] [--token]\n\nPrints the path of the cluster's kubeconfig: the admin's client certificate\n(CN=kubernetes-admin, O=system:masters), or with --token one with the admin's bearer token.\n\n${flagHelp(KUBECONFIG_FLAGS)}\n`,
    );
  }
  const plan = await loadPlan(k8tsHome(), rest[0] ?? flags.name);
  process.stdout.write(`${flags.token ? tokenKubeconfigPath(plan.paths.kubeconfig) : plan.paths.kubeconfig}\n`);
}

export async function statusCommand(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, { help: NAME_FLAGS.help });
  if (flags.help) return void process.stdout.write('Usage: k8ts status\n\nLists the clusters on this machine, their nodes and processes.\n');
  const plans = await listPlans(k8tsHome());
  if (!plans.length) {
    process.stdout.write('no clusters (k8ts up makes one)\n');
    return;
  }
  for (const p of plans) {
    const server = await isRunning(p.dir, 'server');
    process.stdout.write(`${p.name}: nodes ${p.nodeNetwork} on ${p.bridge}, pods ${p.clusterCIDR}, services ${p.serviceCIDR}, ${p.backend}, ${p.store}\n`);
    process.stdout.write(`  server  https://127.0.0.1:${p.apiServer.port}  ${server ? 'running' : 'stopped'}\n`);
    for (const n of p.nodes)
      process.stdout.write(`  ${n.name.padEnd(8)} ${n.ip.padEnd(14)} ${(await isRunning(p.dir, `agent-${n.name}`)) ? 'running' : 'stopped'}\n`);
    process.stdout.write(`  kubeconfig ${p.paths.kubeconfig}\n`);
  }
}

/** The token kubeconfig kept beside a certificate one (KUBECONFIG-token). */
function tokenKubeconfigPath(p: string): string {
  return `${p}-token`;
}
