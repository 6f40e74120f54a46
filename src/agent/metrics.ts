// The agent's Prometheus metrics, named as the kubelet's where one fits (kubelet_running_pods,
// kubelet_running_containers, kubelet_pod_start_duration_seconds), plus its pod work queue and the
// process; one registry per agent, served at /metrics on the agent's endpoint (through the node proxy).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueueMetricsProvider } from '../client/workqueuemetrics.js';

/** The kubelet's kubelet_pod_start_duration_seconds buckets (pkg/kubelet/metrics). */
export const POD_START_BUCKETS = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];

export interface AgentMetricsSources {
  /** Pod sandboxes on this node. */
  runningPods(): number;
  /** Containers by their runtime state (running, created, exited …). */
  containers(): Promise<Record<string, number>>;
  /** NetworkPolicy: drops read from the NFLOG log by direction (monotonic), and the kernel's drop counters
   *  of the pods isolated now by direction (a pod's counter goes when it is no longer isolated). */
  policy?: { logged(): Record<string, number>; dropped(): Promise<Record<string, number>> };
}

export class AgentMetrics {
  readonly registry = new Registry();
  readonly podStart: Histogram;
  readonly podQueue: QueueMetrics;
  /** When this agent first saw each pod it has not yet seen running, by uid. */
  private firstSeen = new Map<string, number>();

  constructor(sources: AgentMetricsSources, opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    new Gauge({ name: 'kubelet_running_pods', help: 'Number of pods that have a running pod sandbox', registers,
      collect() {
        this.set(sources.runningPods());
      } });
    new Gauge({ name: 'kubelet_running_containers', help: 'Number of containers currently running', labelNames: ['container_state'], registers,
      async collect() {
        this.reset();
        for (const [state, n] of Object.entries(await sources.containers())) this.set({ container_state: state }, n);
      } });
    const policy = sources.policy;
    if (policy) {
      new Counter({ name: 'k8ts_networkpolicy_drops_logged_total', help: 'Packets dropped by NetworkPolicy (or sent to a service without endpoints) read from the drop log, by direction',
        labelNames: ['direction'], registers,
        collect() {
          this.reset();
          for (const [direction, n] of Object.entries(policy.logged())) this.inc({ direction }, n);
        } });
      new Gauge({ name: 'k8ts_networkpolicy_dropped_packets', help: 'Packets the kernel dropped by NetworkPolicy for the pods isolated now, by direction',
        labelNames: ['direction'], registers,
        async collect() {
          this.reset();
          for (const [direction, n] of Object.entries(await policy.dropped())) this.set({ direction }, n);
        } });
    }
    this.podStart = new Histogram({ name: 'kubelet_pod_start_duration_seconds', registers, buckets: POD_START_BUCKETS,
      help: 'Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run' });
    this.podQueue = new WorkQueueMetricsProvider(this.registry).forQueue('k8ts_agent_pods');
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

  async expose(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
