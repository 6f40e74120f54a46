// `k8ts simulate`: a scale test in the way of kubemark. Hollow nodes (src/agent/hollow.ts) join one real
// `k8ts server` (started here on SQLite or etcd, or given by URL), pods are created for them, and the run
// reports API latency, pod start-up latency, scheduler throughput, watch fan-out, Lease renewals and the
// server's RSS and CPU beside the Kubernetes SLOs.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CSRS, NAMESPACES, PODS, SECRETS } from '../api/kinds.js';
import type { Namespace, Pod, Secret } from '../api/types.js';
import { bootstrapTokenSecret, generateBootstrapToken } from '../api/bootstraptoken.js';
import { SharedInformerFactory } from '../client/factory.js';
import { RestClient, configFromKubeconfig } from '../client/rest.js';
import { errorCode } from '../client/types.js';
import { HollowFleet, type HollowFleetOptions } from '../agent/hollow.js';
import { issue } from '../api/certificates/issue.js';
import { startEtcd, type TestEtcd } from '../store/testing/etcd.js';
import { type FlagSpec, UsageError, flagHelp, parseFlags } from './args.js';
import { cliEntry } from '../util/layout.js';

const FLAGS = {
  nodes: { type: 'number', help: 'hollow nodes to run (required)', metavar: 'N' },
  'pods-per-node': { type: 'number', default: 30, help: 'pods created per hollow node', metavar: 'P' },
  store: {
    type: 'string',
    default: 'sqlite',
    help: 'the datastore of the server started here: sqlite or etcd (a private etcd is started)',
    metavar: 'sqlite|etcd',
  },
  server: { type: 'string', help: 'use this running API server instead of starting one (needs --kubeconfig)', metavar: 'URL' },
  kubeconfig: { type: 'string', help: 'an admin kubeconfig of --server (to make the bootstrap token, the namespace and the pods)', metavar: 'FILE' },
  'create-workers': { type: 'number', default: 16, help: 'pod creations in flight', metavar: 'N' },
  qps: { type: 'number', default: 0, help: 'pod creations per second at most (0: as fast as the workers go)', metavar: 'Q' },
  steady: {
    type: 'number',
    default: 30,
    help: 'seconds to keep every pod running before deleting them (Lease renewals and the idle cost are measured here)',
    metavar: 'SECONDS',
  },
  identity: {
    type: 'string',
    default: 'csr',
    help: "how each hollow node gets its own client certificate: csr (the kubelet's TLS bootstrap: a bootstrap token, a CSR per node approved and signed by the server) or ca (the same certificate signed here with the started server's CA key: no CSR round trips)",
    metavar: 'csr|ca',
  },
  'join-concurrency': { type: 'number', default: 32, help: 'nodes joining (CSR, registration) at once', metavar: 'N' },
  'lease-seconds': { type: 'number', default: 10, help: "Lease renewal period of each hollow node (the kubelet's 10 s)", metavar: 'SECONDS' },
  'node-monitor-grace-period': { type: 'number', default: 40, help: "the started server's --node-monitor-grace-period", metavar: 'SECONDS' },
  'cpu-prof': { type: 'string', help: 'run the started server under node --cpu-prof and write its profile into DIR', metavar: 'DIR' },
  prefix: { type: 'string', help: "prefix of the hollow nodes' names and the namespace (default hollow-<random>)", metavar: 'NAME' },
  progress: { type: 'number', default: 30, help: 'print pods created, bound and Running this often while they start (0: never)', metavar: 'SECONDS' },
  timeout: { type: 'number', default: 900, help: 'seconds the pods may take to be Running (and the namespace to go) before the run fails', metavar: 'SECONDS' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies FlagSpec;

/** The flags whose value is a number (what `whole` reads). */
type NumberFlag = { [K in keyof typeof FLAGS]: (typeof FLAGS)[K]['type'] extends 'number' ? K : never }[keyof typeof FLAGS];

export const simulateHelp = `Usage: k8ts simulate --nodes N [--pods-per-node P] [--store sqlite|etcd] [--server URL --kubeconfig FILE] [flags]

A scale test in the way of kubemark. Starts a real k8ts server (its own data dir under $TMPDIR, on SQLite, or
on a private etcd with --store etcd), or uses --server. N hollow nodes then join it in this one process, each
as a kubelet does: a bootstrap token buys its own client certificate through a CSR (system:node:NAME, approved
and signed by the server's controllers), it registers its Node (InternalIP 127.77.x.y, where nothing
listens), renews its Lease in kube-node-lease every 10 s and re-posts Ready every 60 s, over two
connections of its own (a kubelet multiplexes one HTTP/2 connection). One pod informer,
indexed by node name, serves the whole fleet; each node reports its pods Running (podIP from its pod CIDR,
conditions, containerStatuses) and finishes their deletion, running no containers and no network.
Then N×P pods are created directly (one container, small requests) in a namespace of their own, observed
through a watch until all are Running, kept for --steady seconds, and deleted with the namespace.

Prints: API call latency per call (p50/p99, and the p99 in each phase: join, pods starting, steady, deleting;
SLO: p99 ≤ 1 s for single objects), pod start-up latency from the create request to Running seen in the
watch (SLO: p99 ≤ 5 s), scheduler throughput (pods bound/s), watch
events delivered per second, Lease renewals per second, the server's (and etcd's) peak RSS and CPU, the
machine's load before and after. Everything started is stopped and its data removed at the end; against
--server, the namespace, the Nodes, their Leases, CSRs and the bootstrap token are deleted.

Flags:
${flagHelp(FLAGS)}
`;

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const fmtMs = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '-');
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** RSS (MiB) and CPU seconds of a process from /proc; undefined once it is gone. */
function procUsage(pid: number): { rssMiB: number; cpuS: number } | undefined {
  try {
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN) / 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 (from 1), in clock ticks (100 per second on Linux).
    return { rssMiB: rss, cpuS: (Number(f[11]) + Number(f[12])) / 100 };
  } catch {
    return undefined;
  }
}

const PHASES = ['join', 'starting', 'steady', 'deleting'] as const;
type Phase = (typeof PHASES)[number];
const PHASE_AT_MARK: Record<string, Phase> = { join: 'join', create: 'starting', steady: 'steady', delete: 'deleting' };

/** Peak RSS and CPU use of one process over a phase of the run. */
class Sampler {
  peakRss = 0;
  private timer: NodeJS.Timeout;
  private marks = new Map<string, { cpuS: number; t: number }>();

  constructor(private pid: number) {
    this.timer = setInterval(() => this.sample(), 500);
    this.timer.unref();
  }

  private sample(): { rssMiB: number; cpuS: number } | undefined {
    const u = procUsage(this.pid);
    if (u && u.rssMiB > this.peakRss) this.peakRss = u.rssMiB;
    return u;
  }

  mark(name: string): void {
    this.marks.set(name, { cpuS: this.sample()?.cpuS ?? Number.NaN, t: performance.now() });
  }

  /** CPU used between two marks, in cores (1.0 = one core busy). */
  cores(from: string, to: string): number {
    const a = this.marks.get(from);
    const b = this.marks.get(to);
    return a && b ? (b.cpuS - a.cpuS) / ((b.t - a.t) / 1000) : Number.NaN;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

interface Started {
  url: string;
  kubeconfig: string;
  pid?: number;
  etcdPid?: number;
  /** Why the server ended before stop() (its exit and the last of its log), if it did. */
  died(): string | undefined;
  stop(): Promise<void>;
}

/** `k8ts server` as a child of this process (under --cpu-prof when asked), on loopback, port picked by the kernel. */
async function startServer(
  dir: string,
  store: string,
  etcd: TestEtcd | undefined,
  nodes: number,
  graceS: number,
  warn: (line: string) => void,
  cpuProf?: string,
): Promise<Started> {
  const main = cliEntry();
  const dataDir = join(dir, 'server');
  // Each node takes a /24 of the cluster CIDR: 10.128.0.0/12 holds 4,096 of them, outside the service range.
  const cidr = nodes > 256 ? ['--cluster-cidr', '10.128.0.0/12'] : [];
  const args = [
    ...(cpuProf ? ['--cpu-prof', '--cpu-prof-dir', cpuProf] : []),
    main,
    'server',
    '--data-dir',
    dataDir,
    '--listen',
    '127.0.0.1:0',
    '--store',
    store,
    '--node-monitor-grace-period',
    String(graceS),
    '--server-name',
    `simulate-${process.pid}`,
    ...cidr,
    ...(etcd ? ['--etcd-endpoints', etcd.endpoint, '--etcd-prefix', `/k8ts-simulate-${process.pid}`] : []),
  ];
  const proc: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const url = await new Promise<string>((res, rej) => {
    proc.stderr!.on('data', (b: Buffer) => {
      log = (log + b.toString()).slice(-8000);
      const m = /serving on (\S+)/.exec(log);
      if (m) res(m[1]);
    });
    proc.once('exit', (c, sig) => rej(new Error(`the server exited (${c ?? sig}) before serving:\n${log}`)));
  });
  let stopping = false;
  let killed = false;
  let died: string | undefined;
  proc.once('exit', (c, sig) => {
    if (!stopping) died = `the server (pid ${proc.pid}) exited (${c ?? sig}) during the run; the end of its log:\n${log}`;
  });
  return {
    url,
    kubeconfig: join(dataDir, 'kubeconfig'),
    pid: proc.pid,
    etcdPid: etcd?.pid(),
    died: () => died,
    async stop() {
      stopping = true;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      // SIGTERM lets a --cpu-prof server write its profile; SIGKILL after 20 s, or 120 s when profiling: an
      // overloaded server's graceful close took longer than 20 s at 1,000 nodes, and a killed one writes no profile.
      proc.kill('SIGTERM');
      const waitS = cpuProf ? 120 : 20;
      const force = setTimeout(() => {
        killed = true;
        proc.kill('SIGKILL');
      }, waitS * 1000);
      await gone;
      clearTimeout(force);
      if (killed) warn(`the server did not exit within ${waitS} s of SIGTERM and was killed${cpuProf ? ' (so it wrote no CPU profile)' : ''}`);
    },
  };
}

function simPod(name: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'simulate' } },
    spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.9', resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
  } as Pod;
}

export interface SimulateOptions {
  nodes: number;
  podsPerNode: number;
  store: 'sqlite' | 'etcd';
  server?: string;
  kubeconfig?: string;
  createWorkers: number;
  qps: number;
  steadyS: number;
  joinConcurrency: number;
  leaseS: number;
  graceS: number;
  cpuProf?: string;
  prefix: string;
  timeoutS: number;
  progressS: number;
  identity: 'csr' | 'ca';
  out: (line: string) => void;
}

export async function simulateCommand(argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv, FLAGS);
  if (flags.help) {
    process.stdout.write(simulateHelp);
    return;
  }
  if (rest.length) throw new UsageError(`k8ts simulate: unexpected argument ${JSON.stringify(rest[0])}`);
  const whole = (f: NumberFlag, min: number, max: number): number => {
    const n = flags[f];
    if (n === undefined || !Number.isSafeInteger(n) || n < min || n > max)
      throw new UsageError(`k8ts simulate: --${f} ${n ?? '(missing)'}: expected a whole number from ${min} to ${max}`);
    return n;
  };
  if (flags.nodes === undefined) throw new UsageError('k8ts simulate: --nodes is required, e.g. --nodes 100');
  const nodes = whole('nodes', 1, 4096);
  if (flags.store !== 'sqlite' && flags.store !== 'etcd')
    throw new UsageError(`k8ts simulate: --store ${JSON.stringify(flags.store)}: expected sqlite or etcd`);
  if (!!flags.server !== !!flags.kubeconfig) throw new UsageError('k8ts simulate: --server and --kubeconfig go together (an admin kubeconfig of that server)');
  if (flags.identity !== 'csr' && flags.identity !== 'ca')
    throw new UsageError(`k8ts simulate: --identity ${JSON.stringify(flags.identity)}: expected csr or ca`);
  if (flags.server && flags.identity === 'ca')
    throw new UsageError('k8ts simulate: --identity ca signs with the CA key of the server started here; against --server use --identity csr');
  if (flags.server && flags['cpu-prof']) throw new UsageError('k8ts simulate: --cpu-prof profiles the server started here; it cannot be used with --server');
  const prefix = flags.prefix ?? `hollow-${Math.random().toString(36).slice(2, 7)}`;
  if (!/^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/.test(prefix))
    throw new UsageError(
      `k8ts simulate: --prefix ${JSON.stringify(prefix)}: expected lower-case letters, digits and '-', at most 42, starting and ending with a letter or digit`,
    );
  const opts: SimulateOptions = {
    nodes,
    podsPerNode: whole('pods-per-node', 0, 110),
    store: flags.store,
    server: flags.server,
    kubeconfig: flags.kubeconfig && resolve(flags.kubeconfig),
    createWorkers: whole('create-workers', 1, 1024),
    qps: whole('qps', 0, 1_000_000),
    steadyS: whole('steady', 0, 86_400),
    joinConcurrency: whole('join-concurrency', 1, 1024),
    leaseS: whole('lease-seconds', 1, 3600),
    graceS: whole('node-monitor-grace-period', 1, 3600),
    cpuProf: flags['cpu-prof'] && resolve(flags['cpu-prof']),
    prefix,
    identity: flags.identity,
    timeoutS: whole('timeout', 1, 86_400),
    progressS: whole('progress', 0, 86_400),
    out: (l) => process.stdout.write(`${l}\n`),
  };
  if (opts.server) {
    try {
      new URL(opts.server);
    } catch {
      throw new UsageError(`k8ts simulate: --server ${JSON.stringify(opts.server)}: expected a URL, e.g. https://127.0.0.1:6443`);
    }
    if (!existsSync(opts.kubeconfig!)) throw new UsageError(`k8ts simulate: --kubeconfig ${opts.kubeconfig}: no such file`);
  }
  const failed = await simulate(opts);
  if (failed) throw new Error(failed);
}

/** The whole run; returns why it failed (an SLO is reported, not a failure), or undefined. */
export async function simulate(o: SimulateOptions): Promise<string | undefined> {
  const out = o.out;
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-simulate-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  let interrupted = false;
  let fleetRef: HollowFleet | undefined;
  // ^C ends the run at its next step (joins stop at once) and still cleans up.
  const onSignal = () => {
    interrupted = true;
    fleetRef?.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const check = () => {
    if (interrupted) throw new Error('interrupted');
  };
  out(`k8ts simulate: ${o.nodes} hollow nodes × ${o.podsPerNode} pods; load before ${load()}`);
  let started: Started | undefined;
  try {
    if (!o.server) {
      let etcd: TestEtcd | undefined;
      if (o.store === 'etcd') {
        etcd = await startEtcd();
        cleanups.push(() => etcd!.stop());
      }
      if (o.cpuProf) mkdirSync(o.cpuProf, { recursive: true });
      started = await startServer(dir, o.store, etcd, o.nodes, o.graceS, out, o.cpuProf);
      cleanups.push(() => started!.stop());
      out(`server: ${started.url} (${o.store}, pid ${started.pid}${etcd ? `, etcd pid ${started.etcdPid}` : ''})`);
    }
    const url = o.server ?? started!.url;
    const kubeconfig = o.kubeconfig ?? started!.kubeconfig;
    const cfg = configFromKubeconfig(kubeconfig);
    const admin = new RestClient({ ...cfg, server: url, userAgent: 'k8ts-simulate' });
    cleanups.push(async () => admin.close());
    const server = started?.pid ? new Sampler(started.pid) : undefined;
    const etcdS = started?.etcdPid ? new Sampler(started.etcdPid) : undefined;
    const self = new Sampler(process.pid);
    const samplers = [server, etcdS, self].filter((s): s is Sampler => !!s);
    cleanups.push(async () => {
      for (const s of samplers) s.stop();
    });
    // The phase each API call is made in, so a tail can be told apart: pods starting, steady, deleting.
    let phase: Phase = 'join';
    const mark = (m: string) => {
      for (const s of samplers) s.mark(m);
      phase = PHASE_AT_MARK[m] ?? phase;
    };

    // API calls by name: the hollow nodes' and the pod creations, timed where they are made.
    const calls = new Map<string, { errors: number; byPhase: Record<Phase, number[]> }>();
    const observe = (call: string, ms: number, ok: boolean) => {
      let c = calls.get(call);
      if (!c) calls.set(call, (c = { errors: 0, byPhase: { join: [], starting: [], steady: [], deleting: [] } }));
      c.byPhase[phase].push(ms);
      if (!ok) c.errors++;
    };

    // The fleet joins with one bootstrap token, as a node pool does.
    const t = generateBootstrapToken();
    await admin.create(SECRETS, 'kube-system', bootstrapTokenSecret(t, { ttlSeconds: 7200, description: `k8ts simulate ${o.prefix}` }) as Secret);
    cleanups.push(() => admin.delete(SECRETS, 'kube-system', `bootstrap-token-${t.id}`).catch(() => {}));
    const names = Array.from({ length: o.nodes }, (_, i) => `${o.prefix}-${i}`);
    let identity: HollowFleetOptions['identity'] = { bootstrapToken: t.token };
    if (o.identity === 'ca') {
      const pki = join(dir, 'server', 'pki');
      const ca = { certPem: readFileSync(join(pki, 'ca.crt'), 'utf8'), keyPem: readFileSync(join(pki, 'ca.key'), 'utf8') };
      // What the kubelet-client signer would issue for the node's CSR: CN system:node:NAME, O system:nodes, clientAuth.
      identity = {
        issue: async (name) => {
          const made = await issue(ca, { subject: { cn: `system:node:${name}`, o: ['system:nodes'] }, usage: 'client', days: 1 });
          return { key: made.keyPem, cert: made.certPem };
        },
      };
    }
    const fleet = new HollowFleet({
      server: url,
      ca: cfg.ca,
      names,
      identity,
      dataDir: join(dir, 'nodes'),
      leaseMs: o.leaseS * 1000,
      joinConcurrency: o.joinConcurrency,
      observe,
      log: (l) => out(l),
    });
    fleetRef = fleet;
    cleanups.push(async () => {
      if (o.server) {
        await fleet.remove();
        // Each node's CSR, named node-csr-<node>-<random>.
        const { items } = await admin.list(CSRS);
        for (const c of items) if (c.metadata.name!.startsWith(`node-csr-${o.prefix}-`)) await admin.delete(CSRS, undefined, c.metadata.name!).catch(() => {});
      } else fleet.stop();
    });
    mark('join');
    const tJoin = performance.now();
    await fleet.start();
    check();
    const joinS = (performance.now() - tJoin) / 1000;
    mark('joined');
    out(
      `joined: ${o.nodes} nodes in ${joinS.toFixed(1)} s (${(o.nodes / joinS).toFixed(1)} nodes/s: ${o.identity === 'csr' ? 'CSR' : 'certificate signed here'}, registration, first Lease)`,
    );

    const ns = `${o.prefix}-pods`;
    await admin.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } as Namespace);
    let nsDeleted = false;
    cleanups.push(async () => {
      if (nsDeleted) return;
      await admin.delete(NAMESPACES, undefined, ns).catch(() => {});
    });

    // The observer: one watch of the namespace's pods, as the density test's; times from the create request.
    const total = o.nodes * o.podsPerNode;
    const sent = new Map<string, number>();
    const bound = new Map<string, number>();
    const running = new Map<string, number>();
    const watchers = new SharedInformerFactory(admin);
    cleanups.push(async () => watchers.stop());
    const podsSeen = watchers.informerFor(PODS, { namespace: ns });
    const seen = (p: Pod) => {
      const name = p.metadata.name!;
      const at = performance.now();
      if (p.spec?.nodeName && !bound.has(name)) bound.set(name, at);
      if (p.status?.phase === 'Running' && !running.has(name)) running.set(name, at);
    };
    podsSeen.addEventHandler({ onAdd: seen, onUpdate: (p) => seen(p) });
    watchers.start();
    await podsSeen.waitForSync();

    mark('create');
    const eventsBefore = fleet.watchEvents + podsSeen.stats.events;
    const tCreate = performance.now();
    let nextPod = 0;
    let created = 0;
    // A line every --progress seconds while the pods start: a long run shows where it is and how the server holds up.
    const progress =
      o.progressS > 0
        ? setInterval(() => {
            const rss = started?.pid ? procUsage(started.pid)?.rssMiB : undefined;
            out(
              `  +${((performance.now() - tCreate) / 1000).toFixed(0)} s: ${created} created, ${bound.size} bound, ${running.size} Running of ${total}` +
                `${rss !== undefined ? `; server RSS ${rss.toFixed(0)} MiB` : ''}; load ${load()}`,
            );
          }, o.progressS * 1000)
        : undefined;
    progress?.unref();
    cleanups.push(async () => clearInterval(progress));
    const gap = o.qps > 0 ? 1000 / o.qps : 0;
    await Promise.all(
      Array.from({ length: Math.min(o.createWorkers, Math.max(1, total)) }, async () => {
        while (nextPod < total && !interrupted) {
          const i = nextPod++;
          if (gap) {
            const due = tCreate + i * gap;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          }
          const name = `p-${i}`;
          const t0 = performance.now();
          sent.set(name, t0);
          for (let attempt = 0; ; attempt++) {
            try {
              await admin.create(PODS, ns, simPod(name));
              observe('POST pods', performance.now() - t0, true);
              created++;
              break;
            } catch (e) {
              observe('POST pods', performance.now() - t0, false);
              if (errorCode(e) === 409 || attempt >= 5) {
                if (errorCode(e) === 409) break;
                throw e;
              }
              await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
            }
          }
        }
      }),
    );
    check();
    const createS = (performance.now() - tCreate) / 1000;
    const deadline = Date.now() + o.timeoutS * 1000;
    while (running.size < total && Date.now() < deadline && !interrupted) await new Promise((r) => setTimeout(r, 50));
    check();
    const allRunningS = (performance.now() - tCreate) / 1000;
    clearInterval(progress);
    mark('running');
    if (running.size < total) return `only ${running.size} of ${total} pods were Running after ${o.timeoutS} s (bound: ${bound.size})`;
    const eventsCreate = fleet.watchEvents + podsSeen.stats.events - eventsBefore;

    // Steady state: every node renewing its Lease, nothing else changing.
    const renewalsBefore = fleet.stats.leaseRenewals;
    const tSteady = performance.now();
    mark('steady');
    while (performance.now() - tSteady < o.steadyS * 1000 && !interrupted) await new Promise((r) => setTimeout(r, 200));
    check();
    const steadyS = (performance.now() - tSteady) / 1000;
    mark('steady-end');
    const renewalsPerS = (fleet.stats.leaseRenewals - renewalsBefore) / steadyS;
    const rssAtSteady = server ? (procUsage(started!.pid!)?.rssMiB ?? Number.NaN) : Number.NaN;

    // Deletion: the namespace, its pods finished by their hollow nodes.
    mark('delete');
    const tDelete = performance.now();
    await admin.delete(NAMESPACES, undefined, ns);
    while (Date.now() < deadline + o.timeoutS * 1000 && !interrupted && (await admin.get(NAMESPACES, undefined, ns)))
      await new Promise((r) => setTimeout(r, 250));
    nsDeleted = !(await admin.get(NAMESPACES, undefined, ns));
    const deleteS = (performance.now() - tDelete) / 1000;

    // The report.
    const startup = [...running].map(([n, at]) => at - sent.get(n)!).sort((a, b) => a - b);
    const boundAt = [...bound.values()].sort((a, b) => a - b);
    const schedRate = boundAt.length > 1 ? (boundAt.length - 1) / ((boundAt[boundAt.length - 1] - boundAt[0]) / 1000) : Number.NaN;
    out('');
    out(
      `pods: ${total} created in ${createS.toFixed(1)} s (${(total / createS).toFixed(0)}/s, ${o.createWorkers} in flight${o.qps ? `, paced at ${o.qps}/s` : ''}); all Running after ${allRunningS.toFixed(1)} s`,
    );
    out(
      `pod start-up (create request → Running in a watch): p50 ${fmtMs(percentile(startup, 50))} ms, p99 ${fmtMs(percentile(startup, 99))} ms, max ${fmtMs(startup[startup.length - 1])} ms  (SLO p99 ≤ 5000 ms: ${percentile(startup, 99) <= 5000 ? 'met' : 'MISSED'})`,
    );
    out(`scheduler: ${schedRate.toFixed(0)} pods bound/s (first to last bind seen in the watch)`);
    out(`watch events delivered to this process while pods started: ${eventsCreate} (${(eventsCreate / allRunningS).toFixed(0)}/s)`);
    out(
      `lease renewals: ${renewalsPerS.toFixed(1)}/s over ${steadyS.toFixed(0)} s steady (${o.nodes} nodes every ${o.leaseS} s = ${(o.nodes / o.leaseS).toFixed(1)}/s expected); errors ${fleet.stats.leaseErrors}`,
    );
    out(`namespace with ${total} pods deleted in ${deleteS.toFixed(1)} s${nsDeleted ? '' : ' (NOT gone)'}`);
    out('');
    out('API call latency (client side, this process)   n        p50 ms   p99 ms   max ms   errors   SLO p99 ≤ 1 s');
    let worst = 0;
    for (const [call, c] of [...calls].sort()) {
      const s = PHASES.flatMap((ph) => c.byPhase[ph]).sort((a, b) => a - b);
      const p99 = percentile(s, 99);
      if (!call.startsWith('JOIN ') && call !== 'REGISTER nodes') worst = Math.max(worst, p99);
      out(
        `  ${call.padEnd(45)} ${String(s.length).padEnd(8)} ${fmtMs(percentile(s, 50)).padEnd(8)} ${fmtMs(p99).padEnd(8)} ${fmtMs(s[s.length - 1]).padEnd(8)} ${String(c.errors).padEnd(8)} ${call.startsWith('JOIN ') || call === 'REGISTER nodes' ? '(several calls)' : p99 <= 1000 ? 'met' : 'MISSED'}`,
      );
    }
    out('');
    out('API call p99 by phase, ms (n)              join             pods starting    steady           deleting');
    for (const [call, c] of [...calls].sort()) {
      if (call.startsWith('JOIN ') || call === 'REGISTER nodes') continue;
      const cell = (ms: number[]) =>
        (ms.length
          ? `${fmtMs(
              percentile(
                ms.sort((a, b) => a - b),
                99,
              ),
            )} (${ms.length})`
          : '-'
        ).padEnd(16);
      out(`  ${call.padEnd(40)} ${PHASES.map((ph) => cell(c.byPhase[ph])).join(' ')}`);
    }
    // Server CPU per unit of work: what the load of the machine changes least (a starved server takes longer,
    // not more CPU, for the same work).
    const steadyWrites = fleet.stats.leaseRenewals - renewalsBefore + (o.nodes * steadyS) / 60;
    const cpuMsPerPod = server ? (server.cores('create', 'running') * allRunningS * 1000) / total : Number.NaN;
    const cpuMsPerSteadyWrite = server ? (server.cores('steady', 'steady-end') * steadyS * 1000) / steadyWrites : Number.NaN;
    const row = (what: string, s: Sampler | undefined, rss?: number) => {
      if (!s) return;
      out(
        `  ${what.padEnd(12)} peak RSS ${s.peakRss.toFixed(0)} MiB${rss !== undefined ? ` (steady ${rss.toFixed(0)} MiB)` : ''}; CPU cores: join ${s.cores('join', 'joined').toFixed(2)}, pods starting ${s.cores('create', 'running').toFixed(2)}, steady ${s.cores('steady', 'steady-end').toFixed(2)}`,
      );
    };
    out('');
    out('processes:');
    row('server', server, rssAtSteady);
    row('etcd', etcdS);
    row('simulator', self);
    if (server)
      out(
        `server CPU per unit of work: ${cpuMsPerPod.toFixed(1)} ms per pod started (create, schedule, bind, status, events); ${cpuMsPerSteadyWrite.toFixed(1)} ms per steady-state write (Lease renewals, Ready re-posts)`,
      );
    out(`load after ${load()}`);
    out(
      `summary: nodes=${o.nodes} pods=${total} store=${o.server ? 'given' : o.store} join_s=${joinS.toFixed(1)} startup_p50_ms=${fmtMs(percentile(startup, 50))} startup_p99_ms=${fmtMs(percentile(startup, 99))} ` +
        `api_p99_worst_ms=${fmtMs(worst)} sched_pods_per_s=${schedRate.toFixed(0)} watch_events_per_s=${(eventsCreate / allRunningS).toFixed(0)} lease_renewals_per_s=${renewalsPerS.toFixed(1)} ` +
        `server_rss_peak_mib=${server?.peakRss.toFixed(0) ?? '-'} server_cpu_cores_starting=${server?.cores('create', 'running').toFixed(2) ?? '-'} server_cpu_cores_steady=${server?.cores('steady', 'steady-end').toFixed(2) ?? '-'} ` +
        `server_cpu_ms_per_pod=${cpuMsPerPod.toFixed(1)} server_cpu_ms_per_steady_write=${cpuMsPerSteadyWrite.toFixed(1)}`,
    );
    if (!nsDeleted) return `the namespace ${ns} was not gone after the timeout`;
    return undefined;
  } catch (e) {
    const died = started?.died();
    if (died) throw new Error(`${e instanceof Error ? e.message : e}\n${died}`);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const c of cleanups.reverse()) await c().catch((e) => out(`cleanup: ${e instanceof Error ? e.message : e}`));
    rmSync(dir, { recursive: true, force: true });
    if (o.cpuProf && existsSync(o.cpuProf)) {
      const profiles = readdirSync(o.cpuProf).filter((f) => f.endsWith('.cpuprofile'));
      // One file per thread of the server: its main thread and the SQLite writer thread.
      for (const f of profiles) out(`server CPU profile: ${join(o.cpuProf, f)}`);
    }
  }
}
