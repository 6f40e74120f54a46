// The scheduler: takes each pending pod off a queue, runs the framework's filter and score plugins
// (scheduler/) over a cache kept current by the informers, assumes the pod onto the best node and binds
// it in the background, so the next pod is placed while the binding is in flight. A pod no node takes
// gets a FailedScheduling event and PodScheduled=False with upstream's per-node reasons, and waits until
// a node or pod changes. Pods with schedulingGates wait with PodScheduled=False/SchedulingGated.
import { isDeepStrictEqual } from 'node:util';
import { NAMESPACES, NODES, PODS } from '../api/kinds.js';
import type { Namespace, Node, Pod, PodCondition } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { VolumeBinding } from './volumebinding.js';
import { EventRecorder } from '../client/events.js';
import { type Client, errorCode, objectKey } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { now } from '../util/time.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import { readinessTaintKey } from './nodelifecycle.js';
import { SchedulerCache } from './scheduler/cache.js';
import { type Plugin, schedulePod } from './scheduler/framework.js';
import { podInfo } from './scheduler/podinfo.js';
import { DEFAULT_PLUGINS } from './scheduler/plugins/index.js';

export const SCHEDULER_NAME = 'default-scheduler';
/** Binds in flight at once (upstream binds each pod in its own goroutine). */
const MAX_BINDS_IN_FLIGHT = 64;
/** An unschedulable pod is tried again at least this often (upstream's podMaxInUnschedulablePodsDuration). */
const UNSCHEDULABLE_RETRY_MS = 5 * 60_000;

function isPending(p: Pod): boolean {
  return (
    !p.spec?.nodeName &&
    !p.metadata.deletionTimestamp &&
    (p.spec?.schedulerName ?? SCHEDULER_NAME) === SCHEDULER_NAME &&
    p.status?.phase !== 'Succeeded' &&
    p.status?.phase !== 'Failed'
  );
}

/** What of a node the plugins read. */
function schedulingView(n: Node): unknown {
  return [n.metadata.labels, n.spec?.taints, n.spec?.unschedulable, n.status?.allocatable, readinessTaintKey(n)];
}

export interface SchedulerStats {
  scheduled: number;
  unschedulable: number;
  bindErrors: number;
}

export class Scheduler implements Controller {
  private client: Client;
  private pods: SharedInformer<Pod>;
  private nodes: SharedInformer<Node>;
  private namespaces: SharedInformer<Namespace>;
  private queue: WorkQueue;
  private events: EventRecorder;
  private cache = new SchedulerCache();
  /** Pods that fit nowhere at their last attempt, with the message they were given. */
  private unschedulable = new Map<string, string>();
  private inFlight = 0;
  private bindWaiters: (() => void)[] = [];
  private regs = new Registrations();
  private flushTimer?: NodeJS.Timeout;
  readonly stats: SchedulerStats = { scheduled: 0, unschedulable: 0, bindErrors: 0 };
  /** Claims and volumes (volumebinding.ts): a plugin for the filters, and the selected node before binding. */
  private volumeBinding: VolumeBinding;
  private plugins: Plugin[];

  private readonly qm: QueueMetrics | undefined;

  constructor(ctx: ControllerContext, plugins: Plugin[] = DEFAULT_PLUGINS) {
    this.qm = queueMetrics(ctx, 'scheduler');
    this.client = ctx.client;
    this.volumeBinding = new VolumeBinding(ctx.informers);
    this.plugins = [...plugins, this.volumeBinding.plugin()];
    this.pods = ctx.informers.informerFor(PODS);
    this.nodes = ctx.informers.informerFor(NODES);
    this.namespaces = ctx.informers.informerFor(NAMESPACES);
    this.events = new EventRecorder(ctx.client, SCHEDULER_NAME);
    this.queue = new WorkQueue((key) => this.scheduleOne(key), {
      metrics: this.qm,
      workers: 1,
      onError: (key, err) => console.error(`scheduler: ${key}:`, err instanceof Error ? err.message : err),
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.pods.waitForSync(), this.nodes.waitForSync(), this.namespaces.waitForSync(), this.volumeBinding.waitForSync()]);
    // A claim or volume that appears or binds may make a waiting pod schedulable.
    const volumesChanged = () => this.flushUnschedulable();
    this.regs.add(this.volumeBinding.claims.addEventHandler({ onAdd: volumesChanged, onUpdate: volumesChanged }));
    this.regs.add(this.volumeBinding.volumes.addEventHandler({ onAdd: volumesChanged, onUpdate: volumesChanged }));
    this.regs.add(
      this.nodes.addEventHandler({
        onAdd: (n) => {
          this.cache.setNode(n);
          this.flushUnschedulable();
        },
        onUpdate: (n, old) => {
          this.cache.setNode(n);
          // Heartbeats change nothing a filter reads; only a change that may make room retries the pending pods.
          if (!isDeepStrictEqual(schedulingView(n), schedulingView(old))) this.flushUnschedulable();
        },
        onDelete: (n) => this.cache.removeNode(n.metadata.name!),
      }),
    );
    this.regs.add(
      this.pods.addEventHandler({
        onAdd: (p) => this.podChanged(p),
        onUpdate: (p, old) => this.podChanged(p, old),
        onDelete: (p) => {
          const key = objectKey(p);
          this.unschedulable.delete(key);
          if (p.spec?.nodeName) {
            this.cache.removePod(key);
            this.flushUnschedulable();
          }
        },
      }),
    );
    this.regs.add(this.namespaces.addEventHandler({ onUpdate: (n, old) => n !== old && this.flushUnschedulable() }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
    clearTimeout(this.flushTimer);
    this.unschedulable.clear();
  }

  private podChanged(p: Pod, old?: Pod): void {
    const key = objectKey(p);
    if (p.spec?.nodeName) {
      this.unschedulable.delete(key);
      this.cache.setPod(p, key);
      // A bound pod that finished or changed labels may free room or satisfy someone's affinity.
      if (old && (old.status?.phase !== p.status?.phase || !old.spec?.nodeName || !isDeepStrictEqual(old.metadata.labels, p.metadata.labels)))
        this.flushUnschedulable();
      return;
    }
    if (!isPending(p)) return;
    if (p.spec?.schedulingGates?.length) {
      void this.gated(p);
      return;
    }
    // An unschedulable pod waits for a cluster change unless its own spec changed (its status writes,
    // ours included, do not send it round again).
    if (this.unschedulable.has(key) && old && isDeepStrictEqual(old.spec, p.spec)) return;
    this.queue.add(key);
  }

  /** A change that may make room: every unschedulable pod goes back on the queue (batched per tick). */
  private flushUnschedulable(): void {
    if (!this.unschedulable.size || this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      for (const key of this.unschedulable.keys()) this.queue.add(key);
    }, 50);
    this.flushTimer.unref();
  }

  private async scheduleOne(key: string): Promise<void | { requeueAfterMs: number }> {
    const pod = this.pods.lister.getByKey(key);
    if (!pod || !isPending(pod) || pod.spec?.schedulingGates?.length || this.cache.isAssumed(key)) return;
    while (this.inFlight >= MAX_BINDS_IN_FLIGHT) await new Promise<void>((r) => this.bindWaiters.push(r));
    const info = podInfo(pod, key);
    const result = schedulePod(this.plugins, {
      pod: info,
      cache: this.cache,
      nodes: this.cache.nodeList(),
      namespaceLabels: (ns) => this.namespaces.lister.get(undefined, ns)?.metadata.labels ?? (this.namespaces.lister.get(undefined, ns) ? {} : undefined),
    });
    if (result.node === undefined) {
      this.stats.unschedulable++;
      const first = this.unschedulable.get(key) !== result.message;
      this.unschedulable.set(key, result.message);
      if (first) await this.markUnschedulable(pod, result.message);
      return { requeueAfterMs: UNSCHEDULABLE_RETRY_MS };
    }
    this.unschedulable.delete(key);
    this.cache.assume(info, result.node);
    this.inFlight++;
    void this.bind(pod, key, result.node).finally(() => {
      this.inFlight--;
      this.bindWaiters.shift()?.();
    });
  }

  private async bind(pod: Pod, key: string, node: string): Promise<void> {
    try {
      // WaitForFirstConsumer claims learn their node first (the binder and the provisioner act on it).
      await this.volumeBinding.select(this.client, this.volumeBinding.plan(pod).toSelect, node);
      await this.client.bind(pod.metadata.namespace!, pod.metadata.name!, node);
    } catch (e) {
      this.cache.forget(key);
      this.stats.bindErrors++;
      const code = errorCode(e);
      if (code !== 404 && code !== 409) {
        console.error(`scheduler: binding ${key} to ${node}:`, e instanceof Error ? e.message : e);
        this.queue.addAfter(key, 1000);
      }
      return;
    }
    this.stats.scheduled++;
    void this.events.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${key} to ${node}`);
  }

  private async markUnschedulable(pod: Pod, message: string): Promise<void> {
    await this.events.record(pod, 'Warning', 'FailedScheduling', message);
    await this.setScheduledCondition(pod, 'Unschedulable', message);
  }

  private async gated(pod: Pod): Promise<void> {
    const c = pod.status?.conditions?.find((x) => x.type === 'PodScheduled');
    if (c?.reason === 'SchedulingGated') return;
    await this.setScheduledCondition(pod, 'SchedulingGated', 'Scheduling is blocked due to non-empty scheduling gates').catch((e) => {
      console.error(`scheduler: ${objectKey(pod)}:`, e instanceof Error ? e.message : e);
    });
  }

  private async setScheduledCondition(pod: Pod, reason: string, message: string): Promise<void> {
    const prev = pod.status?.conditions?.find((x) => x.type === 'PodScheduled');
    const cond: PodCondition = {
      type: 'PodScheduled',
      status: 'False',
      reason,
      message,
      lastTransitionTime: prev?.status === 'False' && prev.lastTransitionTime ? prev.lastTransitionTime : now(),
    };
    const conds = (pod.status?.conditions ?? []).filter((x) => x.type !== 'PodScheduled');
    conds.push(cond);
    try {
      await this.client.patch(PODS, pod.metadata.namespace, pod.metadata.name!, 'merge', { status: { conditions: conds } }, 'status');
    } catch (e) {
      if (errorCode(e) !== 404) throw e;
    }
  }
}
