// The ReplicaSet and ReplicationController controller (one loop, two kinds): keeps `replicas` pods of the
// template, creating in slow-start batches (1, 2, 4 … at most 500 per sync) and deleting the cheapest pods
// first, never acting on a cache that has not seen its last writes (expectations); adopts matching orphans,
// releases pods that stop matching; writes status (ready, available after minReadySeconds, ReplicaFailure).
import { isPodReady } from '../api/conditions.js';
import { PODS, REPLICASETS, REPLICATIONCONTROLLERS } from '../api/kinds.js';
import type { ResourceDef } from '../api/resources.js';
import type {
  LabelSelector,
  OwnerReference,
  Pod,
  PodTemplateSpec,
  ReplicaSet,
  ReplicaSetCondition,
  ReplicaSetStatus,
  ReplicationController,
} from '../api/types.js';
import { selectorIsValid, selectorMatches } from '../api/labels.js';
import { EventRecorder } from '../client/events.js';
import { TrackingExpectations } from '../client/expectations.js';
import { OWNER_UID_INDEX, byOwnerUid } from '../client/indexer.js';
import type { SharedInformer } from '../client/informer.js';
import { errorCode, isNotFound, objectKey } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { now } from '../util/time.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import { controllerRefOf, podActive, rankPodsForDeletion } from './podcontrol.js';

/** At most this many creates or deletes per sync (upstream's burstReplicas). */
export const BURST_REPLICAS = 500;
/** Pods without a controller, by namespace: the orphans a sync may adopt. */
const ORPHANS_BY_NAMESPACE = 'replicaset-controller:orphans';

type Replicated = ReplicaSet | ReplicationController;

/** What differs between the two kinds: the API, the selector's shape. */
interface KindOps<T extends Replicated> {
  resource: ResourceDef<T>;
  apiVersion: string;
  kind: 'ReplicaSet' | 'ReplicationController';
  component: string;
  selector(o: T): LabelSelector | undefined;
}

const RS_OPS: KindOps<ReplicaSet> = {
  resource: REPLICASETS,
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  component: 'replicaset-controller',
  selector: (o) => o.spec?.selector,
};

const RC_OPS: KindOps<ReplicationController> = {
  resource: REPLICATIONCONTROLLERS,
  apiVersion: 'v1',
  kind: 'ReplicationController',
  component: 'replication-controller',
  selector: (o) => (o.spec?.selector && Object.keys(o.spec.selector).length ? { matchLabels: o.spec.selector } : undefined),
};

const orphansByNamespace = (p: Pod): string[] => (controllerRefOf(p) || !p.metadata.namespace ? [] : [p.metadata.namespace]);

/** Slow start: call fn count times in batches of 1, 2, 4 …; stop at the first batch with a failure.
 *  Returns how many calls succeeded and the first error. */
export async function slowStartBatch(count: number, fn: () => Promise<void>): Promise<{ ok: number; err?: unknown }> {
  let remaining = count;
  let ok = 0;
  for (let batch = Math.min(remaining, 1); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, fn));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    ok += results.length - results.filter((r) => r.status === 'rejected').length;
    if (failed) return { ok, err: failed.reason };
    remaining -= batch;
  }
  return { ok };
}

export class ReplicaSetController<T extends Replicated = ReplicaSet> implements Controller {
  private owners: SharedInformer<T>;
  private pods: SharedInformer<Pod>;
  private queue: WorkQueue;
  private expectations = new TrackingExpectations();
  private events: EventRecorder;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(
    private ctx: ControllerContext,
    private ops: KindOps<T>,
    workers = 5,
  ) {
    this.qm = queueMetrics(ctx, ops.kind === 'ReplicaSet' ? 'replicaset' : 'replicationmanager');
    this.owners = ctx.informers.informerFor(ops.resource);
    this.pods = ctx.informers.informerFor(PODS);
    if (!this.pods.indexer.hasIndex(OWNER_UID_INDEX)) this.pods.addIndex(OWNER_UID_INDEX, byOwnerUid);
    if (!this.pods.indexer.hasIndex(ORPHANS_BY_NAMESPACE)) this.pods.addIndex(ORPHANS_BY_NAMESPACE, orphansByNamespace);
    this.events = new EventRecorder(ctx.client, ops.component);
    this.queue = new WorkQueue((key) => this.sync(key), { metrics: this.qm, workers });
  }

  static forReplicaSets(ctx: ControllerContext): ReplicaSetController<ReplicaSet> {
    return new ReplicaSetController(ctx, RS_OPS);
  }

  static forReplicationControllers(ctx: ControllerContext): ReplicaSetController<ReplicationController> {
    return new ReplicaSetController(ctx, RC_OPS);
  }

  async start(): Promise<void> {
    await Promise.all([this.owners.waitForSync(), this.pods.waitForSync()]);
    const enqueue = (o: T) => this.queue.add(objectKey(o));
    this.regs.add(
      this.owners.addEventHandler({
        onAdd: enqueue,
        onUpdate: enqueue,
        onDelete: (o) => {
          this.expectations.delete(objectKey(o));
          enqueue(o);
        },
      }),
    );
    this.regs.add(
      this.pods.addEventHandler({
        onAdd: (p) => this.podAdded(p),
        onUpdate: (p, old) => this.podUpdated(p, old),
        onDelete: (p) => this.podGone(p),
      }),
    );
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  /** The owner of this kind the pod's controller reference names, if it exists with that uid. */
  private ownerOf(p: Pod, ref = controllerRefOf(p)): T | undefined {
    if (!ref || ref.kind !== this.ops.kind || ref.apiVersion.split('/')[0] !== this.ops.apiVersion.split('/')[0]) return undefined;
    const o = this.owners.lister.get(p.metadata.namespace, ref.name);
    return o && o.metadata.uid === ref.uid ? o : undefined;
  }

  /** Owners in the pod's namespace whose selector matches it (an orphan's candidates for adoption). */
  private matchingOwners(p: Pod): T[] {
    if (!p.metadata.namespace) return [];
    return this.owners.lister.inNamespace(p.metadata.namespace).filter((o) => selectorMatches(this.ops.selector(o), p.metadata.labels));
  }

  private podAdded(p: Pod): void {
    if (p.metadata.deletionTimestamp) return this.podGone(p);
    const owner = this.ownerOf(p);
    if (owner) {
      this.expectations.creationObserved(objectKey(owner));
      this.queue.add(objectKey(owner));
      return;
    }
    if (!controllerRefOf(p)) for (const o of this.matchingOwners(p)) this.queue.add(objectKey(o));
  }

  private podUpdated(p: Pod, old: Pod): void {
    if (p === old) return;
    if (p.metadata.deletionTimestamp && !old.metadata.deletionTimestamp) return this.podGone(p);
    const ref = controllerRefOf(p);
    const oldRef = controllerRefOf(old);
    if (oldRef && oldRef.uid !== ref?.uid) {
      const prev = this.ownerOf(old, oldRef);
      if (prev) this.queue.add(objectKey(prev));
    }
    const owner = this.ownerOf(p);
    if (owner) {
      this.queue.add(objectKey(owner));
      // Ready now: available once minReadySeconds have passed, which no event will announce.
      const mrs = owner.spec?.minReadySeconds ?? 0;
      if (mrs > 0 && isPodReady(p) && !isPodReady(old)) this.queue.addAfter(objectKey(owner), mrs * 1000 + 100);
      return;
    }
    if (!ref) for (const o of this.matchingOwners(p)) this.queue.add(objectKey(o));
  }

  private podGone(p: Pod): void {
    const owner = this.ownerOf(p);
    if (!owner) return;
    const key = objectKey(owner);
    this.expectations.deletionObservedOf(key, objectKey(p));
    this.queue.add(key);
  }

  private ownerRef(o: T): OwnerReference {
    return { apiVersion: this.ops.apiVersion, kind: this.ops.kind, name: o.metadata.name!, uid: o.metadata.uid!, controller: true, blockOwnerDeletion: true };
  }

  private async sync(key: string): Promise<void | { requeueAfterMs: number }> {
    const cached = this.owners.lister.getByKey(key);
    if (!cached) {
      this.expectations.delete(key);
      return;
    }
    const owner = cached;
    const ns = owner.metadata.namespace!;
    const selector = this.ops.selector(owner);
    const needsSync = this.expectations.satisfied(key);
    const pods = selector && selectorIsValid(selector) ? await this.claimPods(owner, selector) : [];
    let failure: { reason: string; message: string } | undefined;
    if (needsSync && !owner.metadata.deletionTimestamp) failure = await this.manageReplicas(owner, ns, key, pods);
    return this.writeStatus(owner, pods, failure);
  }

  /**
   * The active pods this owner controls after adopting matching orphans and releasing owned pods that no
   * longer match (upstream's ClaimPods); an owner being deleted adopts nothing.
   */
  private async claimPods(owner: T, selector: LabelSelector): Promise<Pod[]> {
    const uid = owner.metadata.uid!;
    const ns = owner.metadata.namespace!;
    const out: Pod[] = [];
    let canAdopt: boolean | undefined;
    for (const p of this.pods.lister.byIndex(OWNER_UID_INDEX, uid)) {
      if (controllerRefOf(p)?.uid !== uid || p.metadata.namespace !== ns) continue;
      if (selectorMatches(selector, p.metadata.labels)) {
        if (podActive(p)) out.push(p);
        continue;
      }
      if (owner.metadata.deletionTimestamp || p.metadata.deletionTimestamp) continue;
      await this.release(owner, p);
    }
    for (const p of this.pods.lister.byIndex(ORPHANS_BY_NAMESPACE, ns)) {
      if (!podActive(p) || !selectorMatches(selector, p.metadata.labels)) continue;
      // Adoption is checked against the live owner once per sync: a cache may still hold an owner that
      // was deleted (or deleted and made again under the same name).
      canAdopt ??= await this.canAdopt(owner);
      if (!canAdopt) break;
      const adopted = await this.adopt(owner, p);
      if (adopted) out.push(adopted);
    }
    return out;
  }

  private async canAdopt(owner: T): Promise<boolean> {
    const live = await this.ctx.client.get(this.ops.resource, owner.metadata.namespace, owner.metadata.name!);
    return !!live && live.metadata.uid === owner.metadata.uid && !live.metadata.deletionTimestamp;
  }

  private async adopt(owner: T, p: Pod): Promise<Pod | undefined> {
    // The uid in the patch makes it fail if the pod was replaced meanwhile; the merge keeps other owners.
    const refs = [...(p.metadata.ownerReferences ?? []), this.ownerRef(owner)];
    try {
      return await this.ctx.client.patch(PODS, p.metadata.namespace, p.metadata.name!, 'merge', {
        metadata: { uid: p.metadata.uid, resourceVersion: p.metadata.resourceVersion, ownerReferences: refs },
      });
    } catch (e) {
      if (isNotFound(e) || errorCode(e) === 409 || errorCode(e) === 422) return undefined;
      throw e;
    }
  }

  private async release(owner: T, p: Pod): Promise<void> {
    const refs = (p.metadata.ownerReferences ?? []).filter((r) => r.uid !== owner.metadata.uid);
    try {
      await this.ctx.client.patch(PODS, p.metadata.namespace, p.metadata.name!, 'merge', {
        metadata: { uid: p.metadata.uid, resourceVersion: p.metadata.resourceVersion, ownerReferences: refs.length ? refs : null },
      });
    } catch (e) {
      if (!isNotFound(e) && errorCode(e) !== 409 && errorCode(e) !== 422) throw e;
    }
  }

  /** Create or delete toward spec.replicas; returns the failure to report in ReplicaFailure, if any. */
  private async manageReplicas(owner: T, ns: string, key: string, pods: Pod[]): Promise<{ reason: string; message: string } | undefined> {
    const want = owner.spec?.replicas ?? 1;
    const diff = pods.length - want;
    if (diff < 0) {
      const n = Math.min(-diff, BURST_REPLICAS);
      this.expectations.expectCreations(key, n);
      const template = owner.spec?.template;
      const { ok, err } = await slowStartBatch(n, () => this.createPod(owner, ns, template));
      if (n - ok > 0) this.expectations.lowerExpectations(key, n - ok, 0);
      if (err) {
        const message = err instanceof Error ? err.message : String(err);
        void this.events.record(this.described(owner), 'Warning', 'FailedCreate', `Error creating: ${message}`);
        return { reason: 'FailedCreate', message };
      }
    } else if (diff > 0) {
      const n = Math.min(diff, BURST_REPLICAS);
      const victims = rankPodsForDeletion(pods, this.relatedPods(owner), n);
      this.expectations.expectDeletionsOf(key, victims.map(objectKey));
      let first: unknown;
      await Promise.all(
        victims.map(async (p) => {
          try {
            await this.ctx.client.delete(PODS, ns, p.metadata.name!, { preconditions: { uid: p.metadata.uid } });
            void this.events.record(this.described(owner), 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
          } catch (e) {
            this.expectations.deletionFailed(key, objectKey(p));
            if (!isNotFound(e) && errorCode(e) !== 409) first ??= e;
          }
        }),
      );
      if (first) {
        const message = first instanceof Error ? first.message : String(first);
        void this.events.record(this.described(owner), 'Warning', 'FailedDelete', `Error deleting: ${message}`);
        return { reason: 'FailedDelete', message };
      }
    }
    return undefined;
  }

  /** Pods of every ReplicaSet with the same controller (a Deployment's): the spread the ranking keeps even. */
  private relatedPods(owner: T): Pod[] {
    const ctl = owner.metadata.ownerReferences?.find((r) => r.controller);
    if (!ctl || this.ops.kind !== 'ReplicaSet') return this.pods.lister.byIndex(OWNER_UID_INDEX, owner.metadata.uid!);
    const siblings = this.owners.lister
      .inNamespace(owner.metadata.namespace!)
      .filter((o) => o.metadata.ownerReferences?.some((r) => r.controller && r.uid === ctl.uid));
    return siblings.flatMap((o) => this.pods.lister.byIndex(OWNER_UID_INDEX, o.metadata.uid!));
  }

  private described(o: T): T {
    return { ...o, apiVersion: this.ops.apiVersion, kind: this.ops.kind };
  }

  private async createPod(owner: T, ns: string, template: PodTemplateSpec | undefined): Promise<void> {
    const m = template?.metadata ?? {};
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${owner.metadata.name}-`,
        namespace: ns,
        ...(m.labels ? { labels: { ...m.labels } } : {}),
        ...(m.annotations ? { annotations: { ...m.annotations } } : {}),
        ...(m.finalizers ? { finalizers: [...m.finalizers] } : {}),
        ownerReferences: [this.ownerRef(owner)],
      },
      spec: structuredClone(template?.spec ?? { containers: [] }),
    };
    let made: Pod;
    try {
      made = await this.ctx.client.create(PODS, ns, pod);
    } catch (e) {
      // A namespace being deleted refuses new pods; that is no failure of this owner (upstream ignores it).
      if (errorCode(e) === 403 && /because it is being terminated/.test(e instanceof Error ? e.message : '')) return;
      throw e;
    }
    void this.events.record(this.described(owner), 'Normal', 'SuccessfulCreate', `Created pod: ${made.metadata.name}`);
  }

  /** Status from the claimed pods; written only when it changed. Requeues for pods that become available later. */
  private async writeStatus(owner: T, pods: Pod[], failure: { reason: string; message: string } | undefined): Promise<void | { requeueAfterMs: number }> {
    const minReady = owner.spec?.minReadySeconds ?? 0;
    const t = Date.now();
    const labels = owner.spec?.template?.metadata?.labels ?? {};
    let ready = 0;
    let available = 0;
    let fully = 0;
    let nextAvailable = Infinity;
    for (const p of pods) {
      if (Object.entries(labels).every(([k, v]) => p.metadata.labels?.[k] === v)) fully++;
      if (!isPodReady(p)) continue;
      ready++;
      const since = readySince(p);
      const at = since + minReady * 1000;
      if (minReady === 0 || at <= t) available++;
      else nextAvailable = Math.min(nextAvailable, at);
    }
    const conditions = (owner.status?.conditions ?? []).filter((c) => c.type !== 'ReplicaFailure');
    const prior = owner.status?.conditions?.find((c) => c.type === 'ReplicaFailure');
    if (failure) {
      const same = prior && prior.reason === failure.reason && prior.message === failure.message && prior.status === 'True';
      conditions.push(
        same
          ? prior
          : ({ type: 'ReplicaFailure', status: 'True', reason: failure.reason, message: failure.message, lastTransitionTime: now() } as ReplicaSetCondition),
      );
    }
    const status: ReplicaSetStatus = {
      replicas: pods.length,
      fullyLabeledReplicas: fully,
      readyReplicas: ready,
      availableReplicas: available,
      observedGeneration: owner.metadata.generation ?? 0,
      ...(conditions.length ? { conditions } : {}),
    };
    const cur: ReplicaSetStatus = owner.status ?? { replicas: 0 };
    const changed =
      (cur.replicas ?? 0) !== status.replicas ||
      (cur.fullyLabeledReplicas ?? 0) !== status.fullyLabeledReplicas ||
      (cur.readyReplicas ?? 0) !== status.readyReplicas ||
      (cur.availableReplicas ?? 0) !== status.availableReplicas ||
      (cur.observedGeneration ?? 0) !== status.observedGeneration ||
      JSON.stringify(cur.conditions ?? []) !== JSON.stringify(status.conditions ?? []);
    if (changed) {
      const next = { ...owner, status } as T;
      try {
        await this.ctx.client.update(this.ops.resource, owner.metadata.namespace, next, 'status');
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    if (nextAvailable !== Infinity) return { requeueAfterMs: Math.max(100, nextAvailable - t + 50) };
  }
}

/** When the pod's Ready condition last turned True (ms). */
function readySince(p: Pod): number {
  const c = p.status?.conditions?.find((x) => x.type === 'Ready');
  const t = c?.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
  return Number.isFinite(t) ? t : 0;
}
