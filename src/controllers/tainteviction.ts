// Taint-based eviction (upstream's taint-eviction controller): a pod on a node with a NoExecute taint it
// does not tolerate is deleted at once; one that tolerates every such taint for a limited time
// (tolerationSeconds) is deleted when the shortest of those runs out, counted from the taint's timeAdded;
// a toleration without tolerationSeconds keeps it forever. Deletion marks the pod with the
// DisruptionTarget condition first, as upstream does, so its owner and users see why it went.
import { isDeepStrictEqual } from 'node:util';
import { NODES, PODS } from '../api/kinds.js';
import type { Node, Pod, PodCondition, Taint, Toleration } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { EventRecorder } from '../client/events.js';
import { NODE_NAME_INDEX, byNodeName } from '../client/indexer.js';
import { type Client, errorCode, objectKey } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { now } from '../util/time.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import { toleratesTaint } from '../api/nodeaffinity.js';

/** When the pod must go (ms since the epoch; `at` or earlier: now), or undefined if it may stay. As
 *  upstream: each NoExecute taint is matched by the first toleration that tolerates it; an untolerated
 *  taint evicts at once; otherwise the shortest tolerationSeconds among the matched tolerations counts
 *  (0 or less: at once), and when none has a limit the pod stays. k8ts counts from the taint's
 *  timeAdded (upstream from when its controller saw the taint), so a restart does not reset the clock. */
export function evictionTime(taints: Taint[], tolerations: Toleration[], at: number): number | undefined {
  let due: number | undefined;
  for (const taint of taints) {
    if (taint.effect !== 'NoExecute') continue;
    const t = tolerations.find((x) => toleratesTaint(x, taint));
    if (!t) return at;
    if (t.tolerationSeconds === undefined || t.tolerationSeconds === null) continue;
    if (t.tolerationSeconds <= 0) return at;
    const when = (Date.parse(taint.timeAdded ?? '') || at) + t.tolerationSeconds * 1000;
    due = due === undefined ? when : Math.min(due, when);
  }
  return due;
}

export class TaintEvictionController implements Controller {
  private client: Client;
  private nodes: SharedInformer<Node>;
  private pods: SharedInformer<Pod>;
  private queue: WorkQueue;
  private events: EventRecorder;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(ctx: ControllerContext) {
    this.qm = queueMetrics(ctx, 'noexec_taint_pod');
    this.client = ctx.client;
    this.nodes = ctx.informers.informerFor(NODES);
    this.pods = ctx.informers.informerFor(PODS).addIndex(NODE_NAME_INDEX, byNodeName);
    this.events = new EventRecorder(ctx.client, 'taint-eviction-controller');
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      metrics: this.qm,
      workers: 4,
      onError: (key, err) => console.error(`taint eviction: ${key}:`, err instanceof Error ? err.message : err),
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.nodes.waitForSync(), this.pods.waitForSync()]);
    const nodeChanged = (n: Node, old?: Node) => {
      if (old && isDeepStrictEqual(old.spec?.taints, n.spec?.taints)) return;
      if (!(n.spec?.taints ?? []).some((t) => t.effect === 'NoExecute')) return;
      for (const p of this.pods.lister.byIndex(NODE_NAME_INDEX, n.metadata.name!)) this.queue.add(objectKey(p));
    };
    this.regs.add(this.nodes.addEventHandler({ onAdd: (n) => nodeChanged(n), onUpdate: (n, old) => nodeChanged(n, old) }));
    const podChanged = (p: Pod, old?: Pod) => {
      if (!p.spec?.nodeName || p.metadata.deletionTimestamp) return;
      if (old && old.spec?.nodeName === p.spec.nodeName && isDeepStrictEqual(old.spec?.tolerations, p.spec.tolerations)) return;
      this.queue.add(objectKey(p));
    };
    this.regs.add(this.pods.addEventHandler({ onAdd: (p) => podChanged(p), onUpdate: (p, old) => podChanged(p, old) }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private async reconcile(key: string): Promise<void | { requeueAfterMs: number }> {
    const pod = this.pods.lister.getByKey(key);
    if (!pod?.spec?.nodeName || pod.metadata.deletionTimestamp) return;
    const node = this.nodes.lister.get(undefined, pod.spec.nodeName);
    if (!node) return;
    const at = Date.now();
    const due = evictionTime(node.spec?.taints ?? [], pod.spec.tolerations ?? [], at);
    if (due === undefined) return;
    // Level-triggered: a taint removed before the time is up is seen when the key comes back.
    if (due > at) return { requeueAfterMs: due - at + 10 };
    await this.evict(pod);
  }

  private async evict(pod: Pod): Promise<void> {
    const ns = pod.metadata.namespace!;
    const name = pod.metadata.name!;
    await this.events.record(pod, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${ns}/${name}`);
    const cond: PodCondition = {
      type: 'DisruptionTarget',
      status: 'True',
      reason: 'DeletionByTaintManager',
      message: 'Taint manager: deleting due to NoExecute taint',
      lastTransitionTime: now(),
    };
    try {
      const conds = [...(pod.status?.conditions ?? []).filter((c) => c.type !== 'DisruptionTarget'), cond];
      await this.client.patch(PODS, ns, name, 'merge', { status: { conditions: conds } }, 'status');
      await this.client.delete(PODS, ns, name, { preconditions: { uid: pod.metadata.uid } });
    } catch (e) {
      const code = errorCode(e);
      if (code !== 404 && code !== 409) throw e;
    }
  }
}
