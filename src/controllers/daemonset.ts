// The DaemonSet controller: one pod per node the DaemonSet should run on (nodeSelector, required node
// affinity, taints against the template's tolerations plus the ones upstream adds to every daemon pod),
// pinned to its node by a matchFields metadata.name affinity so the scheduler stays the only binder;
// RollingUpdate (maxUnavailable or maxSurge) and OnDelete; ControllerRevisions; the status
// `kubectl rollout status ds` reads.
import { isPodReady } from '../api/conditions.js';
import { CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS } from '../api/kinds.js';
import { selectorIsValid } from '../api/labels.js';
import { nodeMatchesPod, targetNodeName, untoleratedTaint } from '../api/nodeaffinity.js';
import { scaledValue } from '../api/intstr.js';
import { TEMPLATE_GENERATION_ANNOTATION } from '../api/strategies/sets.js';
import type { ControllerRevision, DaemonSet, Node, Pod, PodSpec, Toleration } from '../api/types.js';
import { semanticEqual } from '../api/validation.js';
import { EventRecorder } from '../client/events.js';
import { Expectations } from '../client/expectations.js';
import { byOwnerUid, OWNER_UID_INDEX } from '../client/indexer.js';
import type { SharedInformer } from '../client/informer.js';
import { type Client, errorCode, objectKey } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import { ensureRevision, ownedRevisions, ownerRef, REVISION_HASH_LABEL, truncateHistory } from './history.js';

export const POD_TEMPLATE_GENERATION_LABEL = 'pod-template-generation';

/** The tolerations upstream adds to every daemon pod (AddOrUpdateDaemonPodTolerations). */
export function daemonPodTolerations(spec: PodSpec): Toleration[] {
  const add: Toleration[] = [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  ];
  if (spec.hostNetwork) add.push({ key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' });
  const out = [...(spec.tolerations ?? [])];
  for (const t of add) {
    // Same key and effect: ours replaces theirs, as upstream's AddOrUpdateTolerationInPod.
    const i = out.findIndex((o) => o.key === t.key && o.effect === t.effect);
    if (i >= 0) out[i] = t;
    else out.push(t);
  }
  return out;
}

/** The template's spec as the daemon pod for one node has it: tolerations added, pinned to the node. */
export function daemonPodSpec(template: PodSpec, node: string): PodSpec {
  const spec = structuredClone(template);
  spec.tolerations = daemonPodTolerations(spec);
  const pin = { key: 'metadata.name', operator: 'In', values: [node] };
  const affinity = spec.affinity ?? {};
  const na = affinity.nodeAffinity ?? {};
  const terms = na.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  // Every term keeps its expressions and gets the node as its only field (ReplaceDaemonSetPodNodeNameNodeAffinity).
  const next = terms.length ? terms.map((t) => ({ ...t, matchFields: [pin] })) : [{ matchFields: [pin] }];
  spec.affinity = { ...affinity, nodeAffinity: { ...na, requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: next } } };
  return spec;
}

/** NodeShouldRunDaemonPod: should a new pod go there, may an existing one stay. */
export function nodeShouldRunDaemonPod(node: Node, ds: DaemonSet): { shouldRun: boolean; shouldContinueRunning: boolean } {
  const template = ds.spec?.template?.spec;
  if (!template) return { shouldRun: false, shouldContinueRunning: false };
  if (template.nodeName && template.nodeName !== node.metadata.name) return { shouldRun: false, shouldContinueRunning: false };
  if (!nodeMatchesPod(template, node)) return { shouldRun: false, shouldContinueRunning: false };
  const tolerations = daemonPodTolerations(template);
  if (untoleratedTaint(node.spec?.taints, tolerations, ['NoExecute'])) return { shouldRun: false, shouldContinueRunning: false };
  if (untoleratedTaint(node.spec?.taints, tolerations, ['NoSchedule'])) return { shouldRun: false, shouldContinueRunning: true };
  return { shouldRun: true, shouldContinueRunning: true };
}

/** Ready for at least minReadySeconds (podutil.IsPodAvailable). */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: number): boolean {
  if (!isPodReady(pod)) return false;
  if (!minReadySeconds) return true;
  const c = pod.status?.conditions?.find((x) => x.type === 'Ready');
  const since = c?.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= now;
}

const isActive = (p: Pod): boolean => !p.metadata.deletionTimestamp && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded';

/** Oldest first, and Running before Pending at equal age (podByCreationTimestampAndPhase). */
function byAge(a: Pod, b: Pod): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.metadata.name!.localeCompare(b.metadata.name!);
}

/** Daemon controller workers, and how long a failed pod's node waits before a new pod (upstream backs off). */
const WORKERS = 2;
const FAILED_POD_BACKOFF_MS = 1000;

export class DaemonSetController implements Controller {
  private client: Client;
  private dss: SharedInformer<DaemonSet>;
  private pods: SharedInformer<Pod>;
  private nodes: SharedInformer<Node>;
  private revisions: SharedInformer<ControllerRevision>;
  private queue: WorkQueue;
  private expectations = new Expectations();
  private events: EventRecorder;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(ctx: ControllerContext) {
    this.qm = queueMetrics(ctx, 'daemonset');
    this.queue = new WorkQueue((key) => this.sync(key), {
      metrics: this.qm,
      workers: WORKERS,
      onError: (key, err) => console.error(`daemonset controller: ${key}:`, err instanceof Error ? err.message : err),
    });
    this.client = ctx.client;
    this.dss = ctx.informers.informerFor(DAEMONSETS);
    this.pods = ctx.informers.informerFor(PODS).addIndex(OWNER_UID_INDEX, byOwnerUid);
    this.nodes = ctx.informers.informerFor(NODES);
    this.revisions = ctx.informers.informerFor(CONTROLLERREVISIONS).addIndex(OWNER_UID_INDEX, byOwnerUid);
    this.events = new EventRecorder(ctx.client, 'daemonset-controller');
  }

  async start(): Promise<void> {
    await Promise.all([this.dss.waitForSync(), this.pods.waitForSync(), this.nodes.waitForSync(), this.revisions.waitForSync()]);
    const enqueue = (ds: DaemonSet) => this.queue.add(objectKey(ds));
    this.regs.add(
      this.dss.addEventHandler({
        onAdd: enqueue,
        onUpdate: enqueue,
        onDelete: (ds) => {
          this.expectations.delete(objectKey(ds));
          enqueue(ds);
        },
      }),
    );
    const owner = (p: Pod): string | undefined => {
      const ref = (p.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === 'DaemonSet');
      return ref ? `${p.metadata.namespace}/${ref.name}` : undefined;
    };
    this.regs.add(
      this.pods.addEventHandler({
        onAdd: (p) => {
          const k = owner(p);
          if (!k) return;
          this.expectations.creationObserved(k);
          this.queue.add(k);
        },
        onUpdate: (p, old) => {
          const k = owner(p);
          if (k && p !== old) this.queue.add(k);
        },
        onDelete: (p) => {
          const k = owner(p);
          if (!k) return;
          this.expectations.deletionObserved(k);
          this.queue.add(k);
        },
      }),
    );
    const all = () => {
      for (const ds of this.dss.lister.list()) enqueue(ds);
    };
    this.regs.add(
      this.nodes.addEventHandler({
        onAdd: all,
        onUpdate: (n, old) => {
          if (n !== old && !(semanticEqual(n.metadata.labels, old.metadata.labels) && semanticEqual(n.spec?.taints, old.spec?.taints))) all();
        },
        onDelete: all,
      }),
    );
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs: number }> {
    const ds = this.dss.lister.getByKey(key);
    if (!ds || ds.metadata.deletionTimestamp) return;
    const sel = ds.spec?.selector;
    if (!selectorIsValid(sel)) return;
    // Our pods: those this DaemonSet controls (adoption of orphans is left to a later change).
    const pods = this.pods.lister
      .byIndex(OWNER_UID_INDEX, ds.metadata.uid!)
      .filter((p) => (p.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === ds.metadata.uid));
    const revisions = ownedRevisions(this.revisions.lister.byIndex(OWNER_UID_INDEX, ds.metadata.uid!), ds);
    const { revision, collisionCount } = await ensureRevision(this.client, ds, 'DaemonSet', revisions, ds.spec?.template?.metadata?.labels ?? {});
    const hash = revision.metadata.labels?.[REVISION_HASH_LABEL] ?? '';
    const generation = ds.metadata.annotations?.[TEMPLATE_GENERATION_ANNOTATION];
    const updated = (p: Pod): boolean => {
      const h = p.metadata.labels?.[REVISION_HASH_LABEL];
      return h ? h === hash : p.metadata.labels?.[POD_TEMPLATE_GENERATION_LABEL] === generation;
    };
    const byNode = new Map<string, Pod[]>();
    for (const p of pods) {
      const n = targetNodeName(p.spec) ?? '';
      if (!byNode.has(n)) byNode.set(n, []);
      byNode.get(n)!.push(p);
    }
    const nodes = this.nodes.lister.list();
    const now = Date.now();
    const minReady = ds.spec?.minReadySeconds ?? 0;
    let requeueAfterMs = 0;

    if (this.expectations.satisfied(key)) {
      const create: string[] = [];
      const remove: Pod[] = [];
      const surge = ds.spec?.updateStrategy?.type === 'RollingUpdate' && scaledValue(ds.spec.updateStrategy.rollingUpdate?.maxSurge, 1, true) > 0;
      const known = new Set(nodes.map((n) => n.metadata.name!));
      for (const [n, list] of byNode) if (!known.has(n)) remove.push(...list.filter((p) => !p.metadata.deletionTimestamp));
      for (const node of nodes) {
        const { shouldRun, shouldContinueRunning } = nodeShouldRunDaemonPod(node, ds);
        const list = byNode.get(node.metadata.name!) ?? [];
        if (!shouldContinueRunning) {
          remove.push(...list.filter((p) => !p.metadata.deletionTimestamp));
          continue;
        }
        const running: Pod[] = [];
        for (const p of list) {
          if (p.metadata.deletionTimestamp) continue;
          if (p.status?.phase === 'Failed') {
            // A failed daemon pod is replaced, after a pause so a crashing template does not spin.
            const age = now - Date.parse(p.status?.startTime ?? p.metadata.creationTimestamp ?? '');
            if (age >= FAILED_POD_BACKOFF_MS) remove.push(p);
            else requeueAfterMs = FAILED_POD_BACKOFF_MS;
            continue;
          }
          running.push(p);
        }
        running.sort(byAge);
        if (running.length === 0) {
          if (shouldRun && !list.some((p) => p.status?.phase === 'Failed')) create.push(node.metadata.name!);
        } else if (!surge) {
          remove.push(...running.slice(1));
        } else if (running.length > 1) {
          // With surge, an old and a new pod may share a node while the new one is not yet ready.
          const newest = running.filter(updated);
          const old = running.filter((p) => !updated(p));
          const keepNew = newest[0];
          const keepOld = old[0];
          const keep = new Set<Pod>();
          if (keepNew) keep.add(keepNew);
          if (keepOld && keepNew && !isPodReady(keepNew) && isPodReady(keepOld)) keep.add(keepOld);
          if (!keepNew) keep.add(keepOld);
          remove.push(...running.filter((p) => !keep.has(p)));
        }
      }
      if (create.length || remove.length) {
        await this.syncNodes(ds, key, create, remove, hash, generation);
      } else if (ds.spec?.updateStrategy?.type === 'RollingUpdate') {
        const plan = this.rollingUpdate(ds, nodes, byNode, updated, now);
        if (plan.create.length || plan.remove.length) await this.syncNodes(ds, key, plan.create, plan.remove, hash, generation);
        if (plan.waitMs) requeueAfterMs = requeueAfterMs ? Math.min(requeueAfterMs, plan.waitMs) : plan.waitMs;
      }
    }

    await this.updateStatus(ds, nodes, byNode, updated, now, minReady, collisionCount);
    const live = new Set<string>([revision.metadata.name!]);
    for (const r of revisions)
      if (pods.some((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === r.metadata.labels?.[REVISION_HASH_LABEL])) live.add(r.metadata.name!);
    await truncateHistory(this.client, ds, revisions, live);
    if (minReady && pods.some((p) => isPodReady(p) && !isPodAvailable(p, minReady, now))) {
      requeueAfterMs = requeueAfterMs ? Math.min(requeueAfterMs, 1000) : 1000;
    }
    return requeueAfterMs ? { requeueAfterMs } : undefined;
  }

  /** Which old pods go and which nodes get a new pod this pass (upstream's rollingUpdate). */
  private rollingUpdate(
    ds: DaemonSet,
    nodes: Node[],
    byNode: Map<string, Pod[]>,
    updated: (p: Pod) => boolean,
    now: number,
  ): { create: string[]; remove: Pod[]; waitMs: number } {
    const minReady = ds.spec?.minReadySeconds ?? 0;
    const available = (p: Pod) => isPodAvailable(p, minReady, now);
    const desired = nodes.filter((n) => nodeShouldRunDaemonPod(n, ds).shouldRun).length;
    const ru = ds.spec?.updateStrategy?.rollingUpdate;
    const maxSurge = scaledValue(ru?.maxSurge, desired, true);
    let maxUnavailable = scaledValue(ru?.maxUnavailable, desired, true);
    if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
    const waitMs = minReady ? 1000 : 0;
    const pairs = [...byNode]
      .filter(([n]) => n)
      .map(([n, list]) => {
        const active = list.filter(isActive);
        return { node: n, active, newPod: active.find(updated), oldPod: active.find((p) => !updated(p)) };
      });
    if (maxSurge === 0) {
      let unavailable = 0;
      const replace: Pod[] = [];
      const candidates: Pod[] = [];
      for (const { active, newPod, oldPod } of pairs) {
        if (active.length > 1 || (!newPod && !oldPod)) {
          unavailable++;
        } else if (newPod) {
          if (!available(newPod)) unavailable++;
        } else if (oldPod) {
          if (!available(oldPod)) replace.push(oldPod);
          else if (unavailable < maxUnavailable) candidates.push(oldPod);
        }
      }
      const room = Math.min(Math.max(0, maxUnavailable - unavailable), candidates.length);
      return { create: [], remove: [...replace, ...candidates.slice(0, room)], waitMs };
    }
    let surged = 0;
    const remove: Pod[] = [];
    const allowed: string[] = [];
    const candidates: string[] = [];
    const nodeByName = new Map(nodes.map((n) => [n.metadata.name!, n]));
    for (const { node, active, newPod, oldPod } of pairs) {
      if (active.length > 2) {
        surged++;
        continue;
      }
      if (!oldPod) continue;
      if (!newPod) {
        const n = nodeByName.get(node);
        if (!available(oldPod)) {
          if (n && nodeShouldRunDaemonPod(n, ds).shouldRun) allowed.push(node);
        } else if (surged < maxSurge) {
          candidates.push(node);
        }
        continue;
      }
      if (!available(newPod)) {
        surged++;
        continue;
      }
      remove.push(oldPod);
    }
    const room = Math.min(Math.max(0, maxSurge - surged), candidates.length);
    return { create: [...allowed, ...candidates.slice(0, room)], remove, waitMs };
  }

  private async syncNodes(ds: DaemonSet, key: string, create: string[], remove: Pod[], hash: string, generation: string | undefined): Promise<void> {
    this.expectations.expect(key, create.length, remove.length);
    const ns = ds.metadata.namespace!;
    const template = ds.spec!.template;
    const errors: unknown[] = [];
    // Slow start as upstream: batches of 1, 2, 4 … so a refused template fails once, not N times.
    let batch = 1;
    for (let i = 0; i < create.length; i += batch, batch *= 2) {
      const chunk = create.slice(i, i + batch);
      const results = await Promise.allSettled(
        chunk.map((node) =>
          this.client.create(PODS, ns, {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: {
              generateName: `${ds.metadata.name}-`,
              namespace: ns,
              labels: {
                ...(template.metadata?.labels ?? {}),
                [REVISION_HASH_LABEL]: hash,
                ...(generation ? { [POD_TEMPLATE_GENERATION_LABEL]: generation } : {}),
              },
              annotations: template.metadata?.annotations,
              ownerReferences: [ownerRef(ds, 'DaemonSet')],
            },
            spec: daemonPodSpec(template.spec ?? { containers: [] }, node),
          }),
        ),
      );
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      for (const f of failed) {
        errors.push(f.reason);
        await this.events.record(ds, 'Warning', 'FailedCreate', `Error creating: ${f.reason instanceof Error ? f.reason.message : String(f.reason)}`);
      }
      for (const r of results) {
        if (r.status === 'fulfilled') await this.events.record(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${r.value.metadata.name}`);
      }
      if (failed.length) {
        // The rest of this pass will not be created: no add will come for them.
        this.expectations.lowerExpectations(key, failed.length + Math.max(0, create.length - i - chunk.length), 0);
        break;
      }
    }
    await Promise.all(
      remove.map(async (p) => {
        try {
          await this.client.delete(PODS, ns, p.metadata.name!, { preconditions: { uid: p.metadata.uid } });
          await this.events.record(ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
        } catch (e) {
          this.expectations.lowerExpectations(key, 0, 1);
          if (errorCode(e) !== 404 && errorCode(e) !== 409) errors.push(e);
        }
      }),
    );
    if (errors.length) throw errors[0];
  }

  private async updateStatus(
    ds: DaemonSet,
    nodes: Node[],
    byNode: Map<string, Pod[]>,
    updated: (p: Pod) => boolean,
    now: number,
    minReady: number,
    collisionCount: number,
  ): Promise<void> {
    let desired = 0,
      current = 0,
      misscheduled = 0,
      ready = 0,
      available = 0,
      upToDate = 0;
    for (const node of nodes) {
      const { shouldRun } = nodeShouldRunDaemonPod(node, ds);
      const list = (byNode.get(node.metadata.name!) ?? []).filter((p) => !p.metadata.deletionTimestamp).sort(byAge);
      if (!shouldRun) {
        if (list.length) misscheduled++;
        continue;
      }
      desired++;
      if (!list.length) continue;
      current++;
      const p = list[0];
      if (isPodReady(p)) {
        ready++;
        if (isPodAvailable(p, minReady, now)) available++;
      }
      if (updated(p)) upToDate++;
    }
    const status = {
      currentNumberScheduled: current,
      numberMisscheduled: misscheduled,
      desiredNumberScheduled: desired,
      numberReady: ready,
      observedGeneration: ds.metadata.generation,
      updatedNumberScheduled: upToDate,
      numberAvailable: available,
      numberUnavailable: desired - available,
      ...(collisionCount ? { collisionCount } : {}),
    };
    const prev = ds.status ?? {};
    if (Object.entries(status).every(([k, v]) => (prev as Record<string, unknown>)[k] === v || ((prev as Record<string, unknown>)[k] ?? 0) === v)) return;
    try {
      await this.client.update(DAEMONSETS, ds.metadata.namespace, { ...structuredClone(ds), status: { ...prev, ...status } }, 'status');
    } catch (e) {
      // 409: the object changed since the cache copy; its update event brings this key back. Requeueing
      // here at once would spin without yielding to the watch that brings the newer copy.
      if (errorCode(e) !== 404 && errorCode(e) !== 409) throw e;
    }
  }
}
