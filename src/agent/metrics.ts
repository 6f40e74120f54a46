// The agent's Prometheus metrics, named as upstream names the equivalent part where one exists: the kubelet's
// (kubelet_running_pods, kubelet_pod_start_duration_seconds, kubelet_runtime_operations_duration_seconds,
// prober_probe_total), kube-proxy's (kubeproxy_sync_proxy_rules_*) and CoreDNS's (coredns_dns_*, counted in
// the DNS worker thread and merged in here at scrape time); k8ts_* where upstream has none (CNI ADD/DEL, the
// steps of a pod's start, the proxy's rule counts). One registry per agent, served at /metrics on the
// agent's endpoint (through the node proxy).
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { CniPlugin } from './cni/types.js';
import type { Runtime } from './runtime/runtime.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueueMetricsProvider } from '../client/workqueuemetrics.js';

/** The kubelet's kubelet_pod_start_duration_seconds buckets (pkg/kubelet/metrics). */
export const POD_START_BUCKETS = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];

/** One registry's series as getMetricsAsJSON() gives them (what the DNS worker posts). */
export type RemoteMetrics = MetricObjectWithValues<MetricValue<string>>[];

/** The kubelet's runtime-operation buckets (pkg/kubelet/metrics: exponential 0.005 s × 2.5, 12 of them). */
export const RUNTIME_BUCKETS = Array.from({ length: 12 }, (_, i) => Number((0.005 * 2.5 ** i).toPrecision(6)));
/** kube-proxy's sync buckets (exponential 0.001 s × 2, 15 of them). */
export const PROXY_SYNC_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);
/** Prometheus's default buckets, which the kubelet's prober_probe_duration_seconds uses. */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** The steps of a pod's start measured one by one (k8ts_pod_start_step_duration_seconds{step}). */
export type PodStartStep = 'sandbox' | 'volumes' | 'image' | 'network_ready' | 'container';
const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The service proxy's figures a scrape reads (ServiceProxy.counts()). */
export interface ProxyCounts {
  services: number;
  servicePorts: number;
  endpoints: number;
  /** nftables map/set elements and chains the proxy's table holds (its "rules"). */
  elements: number;
  chains: number;
}

export interface AgentMetricsSources {
  /** Pod sandboxes on this node. */
  runningPods(): number;
  /** Containers by their runtime state (running, created, exited …). */
  containers(): Promise<Record<string, number>>;
  /** NetworkPolicy: drops read from the NFLOG log by direction (monotonic), and the kernel's drop counters
   *  of the pods isolated now by direction (a pod's counter goes when it is no longer isolated). */
  policy?: { logged(): Record<string, number>; dropped(): Promise<Record<string, number>> };
  /** The service proxy's current counts. */
  proxy?: () => ProxyCounts;
  /** Series counted elsewhere (the DNS worker thread), as prom-client's getMetricsAsJSON() gives them. */
  remote?: () => Promise<RemoteMetrics[]>;
}

export class AgentMetrics {
  readonly registry = new Registry();
  readonly podStart: Histogram;
  readonly podQueue: QueueMetrics;
  readonly podStartStep: Histogram<'step'>;
  readonly cni: Histogram<'operation'>;
  readonly cniErrors: Counter<'operation'>;
  readonly runtimeOps: Histogram<'operation_type'>;
  readonly runtimeErrors: Counter<'operation_type'>;
  readonly proxySync: Histogram;
  readonly proxyFullSync: Histogram;
  readonly proxyPartialSync: Histogram;
  readonly proxyLastSync: Gauge;
  readonly proxyServiceChanges: Counter;
  readonly proxyEndpointChanges: Counter;
  readonly probes: Counter<'probe_type' | 'result' | 'container' | 'pod' | 'namespace' | 'pod_uid'>;
  readonly probeDuration: Histogram<'probe_type' | 'container' | 'pod' | 'namespace'>;
  private remote?: () => Promise<RemoteMetrics[]>;
  /** When this agent first saw each pod it has not yet seen running, by uid. */
  private firstSeen = new Map<string, number>();

  constructor(sources: AgentMetricsSources, opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    new Gauge({
      name: 'kubelet_running_pods',
      help: 'Number of pods that have a running pod sandbox',
      registers,
      collect() {
        this.set(sources.runningPods());
      },
    });
    new Gauge({
      name: 'kubelet_running_containers',
      help: 'Number of containers currently running',
      labelNames: ['container_state'],
      registers,
      async collect() {
        this.reset();
        for (const [state, n] of Object.entries(await sources.containers())) this.set({ container_state: state }, n);
      },
    });
    const policy = sources.policy;
    if (policy) {
      new Counter({
        name: 'k8ts_networkpolicy_drops_logged_total',
        help: 'Packets dropped by NetworkPolicy (or sent to a service without endpoints) read from the drop log, by direction',
        labelNames: ['direction'],
        registers,
        collect() {
          this.reset();
          for (const [direction, n] of Object.entries(policy.logged())) this.inc({ direction }, n);
        },
      });
      new Gauge({
        name: 'k8ts_networkpolicy_dropped_packets',
        help: 'Packets the kernel dropped by NetworkPolicy for the pods isolated now, by direction',
        labelNames: ['direction'],
        registers,
        async collect() {
          this.reset();
          for (const [direction, n] of Object.entries(await policy.dropped())) this.set({ direction }, n);
        },
      });
    }
    this.podStart = new Histogram({
      name: 'kubelet_pod_start_duration_seconds',
      registers,
      buckets: POD_START_BUCKETS,
      help: 'Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run',
    });
    this.podQueue = new WorkQueueMetricsProvider(this.registry).forQueue('k8ts_agent_pods');
    this.podStartStep = new Histogram({
      name: 'k8ts_pod_start_step_duration_seconds',
      labelNames: ['step'],
      registers,
      buckets: STEP_BUCKETS,
      help: 'Duration in seconds of each step of starting a pod: sandbox (network namespace and CNI ADD), volumes, image, network_ready (its NetworkPolicy rules in the kernel), container (create and start)',
    });
    this.cni = new Histogram({
      name: 'k8ts_cni_operation_duration_seconds',
      labelNames: ['operation'],
      registers,
      buckets: RUNTIME_BUCKETS,
      help: "Duration in seconds of CNI operations (ADD, DEL) on this node's network plugin",
    });
    this.cniErrors = new Counter({
      name: 'k8ts_cni_operation_errors_total',
      labelNames: ['operation'],
      registers,
      help: 'CNI operations (ADD, DEL) that failed',
    });
    this.runtimeOps = new Histogram({
      name: 'kubelet_runtime_operations_duration_seconds',
      labelNames: ['operation_type'],
      registers,
      buckets: RUNTIME_BUCKETS,
      help: 'Duration in seconds of runtime operations (runc), by operation type',
    });
    this.runtimeErrors = new Counter({
      name: 'kubelet_runtime_operations_errors_total',
      labelNames: ['operation_type'],
      registers,
      help: 'Cumulative number of runtime operation errors by operation type',
    });
    this.proxySync = new Histogram({
      name: 'kubeproxy_sync_proxy_rules_duration_seconds',
      registers,
      buckets: PROXY_SYNC_BUCKETS,
      help: 'SyncProxyRules latency in seconds',
    });
    this.proxyFullSync = new Histogram({
      name: 'kubeproxy_sync_full_proxy_rules_duration_seconds',
      registers,
      buckets: PROXY_SYNC_BUCKETS,
      help: 'SyncProxyRules latency in seconds for full resyncs',
    });
    this.proxyPartialSync = new Histogram({
      name: 'kubeproxy_sync_partial_proxy_rules_duration_seconds',
      registers,
      buckets: PROXY_SYNC_BUCKETS,
      help: 'SyncProxyRules latency in seconds for partial resyncs',
    });
    this.proxyLastSync = new Gauge({
      name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
      registers,
      help: 'The last time proxy rules were successfully synced',
    });
    this.proxyServiceChanges = new Counter({
      name: 'kubeproxy_sync_proxy_rules_service_changes_total',
      registers,
      help: 'Cumulative proxy rules Service changes',
    });
    this.proxyEndpointChanges = new Counter({
      name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total',
      registers,
      help: 'Cumulative proxy rules Endpoint changes',
    });
    const proxy = sources.proxy;
    if (proxy) {
      const counts: [keyof ProxyCounts, string, string][] = [
        ['services', 'k8ts_proxy_services', 'Services the service proxy programs'],
        ['servicePorts', 'k8ts_proxy_service_ports', 'Service ports the service proxy programs'],
        ['endpoints', 'k8ts_proxy_endpoints', 'Endpoints (summed over service ports) the service proxy programs'],
        ['elements', 'k8ts_proxy_nftables_elements', "Map and set elements in the service proxy's nftables table"],
        ['chains', 'k8ts_proxy_nftables_chains', "Per-service chains in the service proxy's nftables table"],
      ];
      for (const [field, name, help] of counts) {
        new Gauge({
          name,
          help,
          registers,
          collect() {
            this.set(proxy()[field]);
          },
        });
      }
    }
    // The kubelet's prober metrics, with its labels and result values (successful, failed, unknown).
    this.probes = new Counter({
      name: 'prober_probe_total',
      labelNames: ['probe_type', 'result', 'container', 'pod', 'namespace', 'pod_uid'],
      registers,
      help: 'Cumulative number of a liveness, readiness or startup probe for a container by result',
    });
    this.probeDuration = new Histogram({
      name: 'prober_probe_duration_seconds',
      labelNames: ['probe_type', 'container', 'pod', 'namespace'],
      registers,
      buckets: DEFAULT_BUCKETS,
      help: 'Duration in seconds for a probe response',
    });
    this.remote = sources.remote;
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** The agent saw this pod (an add or update from its informer); Running the first time ends its start. */
  podSeen(uid: string | undefined, phase: string | undefined, deleted: boolean): void {
    if (!uid) return;
    if (deleted) {
      this.firstSeen.delete(uid);
      return;
    }
    const t = this.firstSeen.get(uid);
    if (phase === 'Running') {
      if (t !== undefined && t >= 0) this.podStart.observe((performance.now() - t) / 1000);
      // -1: seen running, never measured again (a pod already running when the agent started is not a start).
      this.firstSeen.set(uid, -1);
    } else if (t === undefined && phase !== 'Succeeded' && phase !== 'Failed') {
      this.firstSeen.set(uid, performance.now());
    }
  }

  /** One probe ran (the kubelet counts a probe that could not run as unknown). */
  probeRan(p: {
    kind: 'liveness' | 'readiness' | 'startup';
    namespace: string;
    pod: string;
    uid: string;
    container: string;
    result: 'successful' | 'failed' | 'unknown';
    seconds: number;
  }): void {
    const probe_type = p.kind === 'liveness' ? 'Liveness' : p.kind === 'readiness' ? 'Readiness' : 'Startup';
    this.probes.inc({ probe_type, result: p.result, container: p.container, pod: p.pod, namespace: p.namespace, pod_uid: p.uid });
    if (p.result !== 'unknown') this.probeDuration.observe({ probe_type, container: p.container, pod: p.pod, namespace: p.namespace }, p.seconds);
  }

  /** A probe worker stopped (its container or pod went away): its series go, as the kubelet's do. */
  probeGone(p: { kind: 'liveness' | 'readiness' | 'startup'; namespace: string; pod: string; uid: string; container: string }): void {
    const probe_type = p.kind === 'liveness' ? 'Liveness' : p.kind === 'readiness' ? 'Readiness' : 'Startup';
    for (const result of ['successful', 'failed', 'unknown'])
      this.probes.remove({ probe_type, result, container: p.container, pod: p.pod, namespace: p.namespace, pod_uid: p.uid });
    this.probeDuration.remove({ probe_type, container: p.container, pod: p.pod, namespace: p.namespace });
  }

  /** One proxy sync that reached the kernel. */
  proxySynced(seconds: number, full: boolean): void {
    this.proxySync.observe(seconds);
    (full ? this.proxyFullSync : this.proxyPartialSync).observe(seconds);
    this.proxyLastSync.set(Date.now() / 1000);
  }

  /** Times a step of a pod's start. */
  async step<T>(step: PodStartStep, f: () => Promise<T>): Promise<T> {
    const end = this.podStartStep.startTimer({ step });
    const r = await f();
    end();
    return r;
  }

  /** The network plugin with its ADD and DEL timed (failures counted apart). */
  timedCni(plugin: CniPlugin): CniPlugin {
    const time = <T>(operation: 'ADD' | 'DEL', f: () => Promise<T>): Promise<T> => timedOp(this.cni, this.cniErrors, { operation }, f);
    return {
      add: (conf, rt) => time('ADD', () => plugin.add(conf, rt)),
      del: (conf, rt) => time('DEL', () => plugin.del(conf, rt)),
      check: (conf, rt) => plugin.check(conf, rt),
      status: (conf) => plugin.status(conf),
      gc: (conf, valid) => plugin.gc(conf, valid),
      version: (v) => plugin.version(v),
    };
  }

  /** Times one runtime (runc) operation under the kubelet's CRI operation name. */
  runtimeOp<T>(operation_type: string, f: () => Promise<T>): Promise<T> {
    return timedOp(this.runtimeOps, this.runtimeErrors, { operation_type }, f);
  }

  async expose(): Promise<{ body: string; contentType: string }> {
    let body = await this.registry.metrics();
    if (this.remote) {
      // The DNS worker's series: its registry as JSON, made a registry again here (as prom-client's cluster
      // aggregation does for worker processes). A worker that does not answer costs its series, not the scrape.
      const parts = await this.remote().catch(() => []);
      if (parts.length) body += await AggregatorRegistry.aggregate(parts).metrics();
    }
    return { body, contentType: this.registry.contentType };
  }
}

/** The runtime's operations and the kubelet's CRI name for each (create also starts: runc create + start). */
const RUNTIME_OPS = {
  create: 'create_container',
  stop: 'stop_container',
  kill: 'stop_container',
  remove: 'remove_container',
  exec: 'exec_sync',
  list: 'list_containers',
} as const;

/** Times every runc operation of this runtime in place (the pod manager, probes and streams share it). */
export function instrumentRuntime(runtime: Runtime, metrics: AgentMetrics): void {
  for (const [method, op] of Object.entries(RUNTIME_OPS) as [keyof typeof RUNTIME_OPS, string][]) {
    const f = (runtime[method] as (...a: unknown[]) => Promise<unknown>).bind(runtime);
    (runtime as unknown as Record<string, unknown>)[method] = (...a: unknown[]) => metrics.runtimeOp(op, () => f(...a));
  }
}

/** Runs f timed in a histogram, counting a failure in its errors counter under the same labels. */
async function timedOp<L extends string, T>(hist: Histogram<L>, errs: Counter<L>, labels: Partial<Record<L, string>>, f: () => Promise<T>): Promise<T> {
  const end = hist.startTimer(labels);
  try {
    return await f();
  } catch (e) {
    errs.inc(labels);
    throw e;
  } finally {
    end();
  }
}
