// The Deployment controller: one ReplicaSet per pod template (named and labelled by the template's hash),
// rolled by RollingUpdate within maxSurge/maxUnavailable or by Recreate, scaled proportionally mid-rollout,
// paused, with revisions, the Progressing/Available conditions and the history limit. It writes
// ReplicaSets only with the resourceVersion it read, so a stale cache costs a retry, never a wrong scale.
import { PODS, DEPLOYMENTS, REPLICASETS } from '../api/kinds.js';
import type { Deployment, DeploymentStatus, Pod, ReplicaSet } from '../api/types.js';
import { selectorIsEmpty, selectorIsValid, selectorMatches } from '../api/labels.js';
import { EventRecorder } from '../client/events.js';
import { OWNER_UID_INDEX, byOwnerUid } from '../client/indexer.js';
import type { SharedInformer } from '../client/informer.js';
import { errorCode, isNotFound, objectKey } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import {
  activeOrLatest,
  byCreation,
  byRevision,
  calculateStatus,
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  desiredReplicasAnnotation,
  equalIgnoreHash,
  getCondition,
  hasProgressDeadline,
  isRollingUpdate,
  maxRevision,
  maxSurge,
  maxUnavailable,
  newCondition,
  newRSNewReplicas,
  POD_TEMPLATE_HASH,
  proportionalSizes,
  removeCondition,
  replicasOf,
  REVISION,
  revisionOf,
  rsReplicas,
  sameStatus,
  setCondition,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
  sumSpec,
  sumStatus,
  templateHash,
} from './deploymentutil.js';
import { controllerRefOf } from './podcontrol.js';

type Result = void | { requeueAfterMs: number };

/** Thrown to end a sync early and let the queue retry (a conflict on a write, a hash collision). */
class Retry extends Error {}

export class DeploymentController implements Controller {
  private deployments: SharedInformer<Deployment>;
  private replicaSets: SharedInformer<ReplicaSet>;
  private pods: SharedInformer<Pod>;
  private queue: WorkQueue;
  private events: EventRecorder;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(
    private ctx: ControllerContext,
    workers = 5,
  ) {
    this.qm = queueMetrics(ctx, 'deployment');
    this.deployments = ctx.informers.informerFor(DEPLOYMENTS);
    this.replicaSets = ctx.informers.informerFor(REPLICASETS);
    this.pods = ctx.informers.informerFor(PODS);
    if (!this.replicaSets.indexer.hasIndex(OWNER_UID_INDEX)) this.replicaSets.addIndex(OWNER_UID_INDEX, byOwnerUid);
    if (!this.pods.indexer.hasIndex(OWNER_UID_INDEX)) this.pods.addIndex(OWNER_UID_INDEX, byOwnerUid);
    this.events = new EventRecorder(ctx.client, 'deployment-controller');
    this.queue = new WorkQueue((key) => this.sync(key), { metrics: this.qm, workers });
  }

  async start(): Promise<void> {
    await Promise.all([this.deployments.waitForSync(), this.replicaSets.waitForSync(), this.pods.waitForSync()]);
    const enqueue = (d: Deployment) => this.queue.add(objectKey(d));
    this.regs.add(this.deployments.addEventHandler({ onAdd: enqueue, onUpdate: enqueue, onDelete: enqueue }));
    this.regs.add(
      this.replicaSets.addEventHandler({
        onAdd: (rs) => this.rsChanged(rs),
        onUpdate: (rs, old) => {
          if (rs === old) return;
          const oldRef = controllerRefOf(old);
          if (oldRef && oldRef.uid !== controllerRefOf(rs)?.uid) this.rsChanged(old);
          this.rsChanged(rs);
        },
        onDelete: (rs) => this.rsChanged(rs),
      }),
    );
    // Recreate waits for the old pods to be gone: their deletion is what lets it go on.
    this.regs.add(this.pods.addEventHandler({ onDelete: (p) => this.podGone(p) }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private ownerOf(rs: ReplicaSet): Deployment | undefined {
    const ref = controllerRefOf(rs);
    if (ref?.kind !== 'Deployment' || !ref.apiVersion.startsWith('apps/')) return undefined;
    const d = this.deployments.lister.get(rs.metadata.namespace, ref.name);
    return d && d.metadata.uid === ref.uid ? d : undefined;
  }

  private rsChanged(rs: ReplicaSet): void {
    const d = this.ownerOf(rs);
    if (d) return this.queue.add(objectKey(d));
    if (controllerRefOf(rs) || !rs.metadata.namespace) return;
    for (const x of this.deployments.lister.inNamespace(rs.metadata.namespace)) {
      if (selectorMatches(x.spec?.selector, rs.metadata.labels)) this.queue.add(objectKey(x));
    }
  }

  private podGone(p: Pod): void {
    const ref = controllerRefOf(p);
    if (ref?.kind !== 'ReplicaSet') return;
    const rs = this.replicaSets.lister.get(p.metadata.namespace, ref.name);
    const d = rs && this.ownerOf(rs);
    if (d && !isRollingUpdate(d)) this.queue.add(objectKey(d));
  }

  private async sync(key: string): Promise<Result> {
    const cached = this.deployments.lister.getByKey(key);
    if (!cached) return;
    const d = structuredClone(cached);
    try {
      return await this.syncDeployment(d);
    } catch (e) {
      if (e instanceof Retry || errorCode(e) === 409) return { requeueAfterMs: 20 };
      throw e;
    }
  }

  private async syncDeployment(d: Deployment): Promise<Result> {
    const sel = d.spec?.selector;
    if (!sel || !selectorIsValid(sel) || selectorIsEmpty(sel)) {
      void this.events.record(this.described(d), 'Warning', 'SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.');
      if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) {
        await this.writeStatus(d, { ...(d.status ?? {}), observedGeneration: d.metadata.generation ?? 0 });
      }
      return;
    }
    const rsList = await this.claimReplicaSets(d);
    if (d.metadata.deletionTimestamp) return this.syncStatusOnly(d, rsList);
    await this.checkPausedConditions(d);
    if (d.spec?.paused) return this.syncScale(d, rsList);
    if (this.isScalingEvent(d, rsList)) return this.syncScale(d, rsList);
    return isRollingUpdate(d) ? this.rolloutRolling(d, rsList) : this.rolloutRecreate(d, rsList);
  }

  private described(d: Deployment): Deployment {
    return { ...d, apiVersion: 'apps/v1', kind: 'Deployment' };
  }

  // ---- ownership ----

  /** The ReplicaSets this Deployment controls, after adopting matching orphans and releasing non-matching ones. */
  private async claimReplicaSets(d: Deployment): Promise<ReplicaSet[]> {
    const ns = d.metadata.namespace!;
    const uid = d.metadata.uid!;
    const out: ReplicaSet[] = [];
    let canAdopt: boolean | undefined;
    for (const rs of this.replicaSets.lister.inNamespace(ns)) {
      const ref = controllerRefOf(rs);
      const matches = selectorMatches(d.spec?.selector, rs.metadata.labels);
      if (ref?.uid === uid) {
        if (matches) out.push(rs);
        else if (!d.metadata.deletionTimestamp && !rs.metadata.deletionTimestamp)
          await this.setOwners(
            rs,
            (rs.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid),
          );
        continue;
      }
      if (ref || !matches || rs.metadata.deletionTimestamp || d.metadata.deletionTimestamp) continue;
      canAdopt ??= await (async () => {
        const live = await this.ctx.client.get(DEPLOYMENTS, ns, d.metadata.name!);
        return !!live && live.metadata.uid === uid && !live.metadata.deletionTimestamp;
      })();
      if (!canAdopt) continue;
      const adopted = await this.setOwners(rs, [
        ...(rs.metadata.ownerReferences ?? []),
        { apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name!, uid, controller: true, blockOwnerDeletion: true },
      ]);
      if (adopted) out.push(adopted);
    }
    return out;
  }

  private async setOwners(rs: ReplicaSet, refs: NonNullable<ReplicaSet['metadata']['ownerReferences']>): Promise<ReplicaSet | undefined> {
    try {
      return await this.ctx.client.patch(REPLICASETS, rs.metadata.namespace, rs.metadata.name!, 'merge', {
        metadata: { uid: rs.metadata.uid, resourceVersion: rs.metadata.resourceVersion, ownerReferences: refs.length ? refs : null },
      });
    } catch (e) {
      if (isNotFound(e) || errorCode(e) === 409 || errorCode(e) === 422) return undefined;
      throw e;
    }
  }

  // ---- the new ReplicaSet and revisions ----

  /** The ReplicaSet whose template is the Deployment's (the oldest such), and the others. */
  private split(d: Deployment, rsList: ReplicaSet[]): { newRS?: ReplicaSet; old: ReplicaSet[] } {
    const sorted = [...rsList].sort(byCreation);
    const newRS = sorted.find((rs) => equalIgnoreHash(rs.spec?.template, d.spec?.template));
    return { newRS, old: sorted.filter((rs) => rs !== newRS) };
  }

  /** getAllReplicaSetsAndSyncRevision: the new ReplicaSet brought to the next revision (made when asked). */
  private async newAndOld(d: Deployment, rsList: ReplicaSet[], create: boolean): Promise<{ newRS?: ReplicaSet; old: ReplicaSet[] }> {
    const { newRS: existing, old } = this.split(d, rsList);
    const newRevision = maxRevision(old) + 1;
    let newRS: ReplicaSet | undefined;
    if (existing) {
      const rs = structuredClone(existing);
      let changed = setNewReplicaSetAnnotations(d, rs, newRevision, true);
      if ((rs.spec!.minReadySeconds ?? 0) !== (d.spec?.minReadySeconds ?? 0)) {
        rs.spec!.minReadySeconds = d.spec?.minReadySeconds ?? 0;
        changed = true;
      }
      newRS = changed ? await this.ctx.client.update(REPLICASETS, rs.metadata.namespace, rs) : existing;
      const status: DeploymentStatus = structuredClone(d.status ?? {});
      let dirty = false;
      if (d.metadata.annotations?.[REVISION] !== String(revisionOf(newRS))) await this.setDeploymentRevision(d, revisionOf(newRS));
      if (hasProgressDeadline(d) && !getCondition(status, 'Progressing')) {
        setCondition(status, newCondition('Progressing', 'True', 'FoundNewReplicaSet', `Found new replica set "${newRS.metadata.name}"`));
        dirty = true;
      }
      if (dirty) await this.writeStatus(d, status);
    } else if (create) {
      newRS = await this.createNewRS(d, old, newRevision);
    }
    return { newRS, old };
  }

  private async setDeploymentRevision(d: Deployment, rev: number): Promise<void> {
    const updated = await this.ctx.client.patch(DEPLOYMENTS, d.metadata.namespace, d.metadata.name!, 'merge', {
      metadata: { resourceVersion: d.metadata.resourceVersion, annotations: { [REVISION]: String(rev) } },
    });
    d.metadata = updated.metadata;
  }

  private async createNewRS(d: Deployment, old: ReplicaSet[], revision: number): Promise<ReplicaSet> {
    const template = structuredClone(d.spec!.template!);
    const hash = templateHash(template, d.status?.collisionCount);
    template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH]: hash } };
    const sel = structuredClone(d.spec!.selector!);
    sel.matchLabels = { ...(sel.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash };
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace,
        labels: { ...(template.metadata.labels ?? {}) },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name!, uid: d.metadata.uid!, controller: true, blockOwnerDeletion: true },
        ],
      },
      spec: { replicas: 0, minReadySeconds: d.spec?.minReadySeconds ?? 0, selector: sel, template },
    };
    rs.spec!.replicas = newRSNewReplicas(d, old, rs);
    setNewReplicaSetAnnotations(d, rs, revision, false);
    let made: ReplicaSet;
    try {
      made = await this.ctx.client.create(REPLICASETS, d.metadata.namespace, rs);
    } catch (e) {
      if (errorCode(e) !== 409) throw e;
      // The name is taken: ours with this template (a cache behind our own create), or a hash collision.
      const there = await this.ctx.client.get(REPLICASETS, d.metadata.namespace, rs.metadata.name!);
      if (there && controllerRefOf(there)?.uid === d.metadata.uid && equalIgnoreHash(there.spec?.template, d.spec?.template)) return there;
      const status = structuredClone(d.status ?? {});
      status.collisionCount = (status.collisionCount ?? 0) + 1;
      await this.writeStatus(d, status);
      throw new Retry(`hash collision for ${rs.metadata.name}`);
    }
    if (rsReplicas(made) > 0) {
      void this.events.record(this.described(d), 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${made.metadata.name} from 0 to ${rsReplicas(made)}`);
    }
    await this.setDeploymentRevision(d, revision);
    if (hasProgressDeadline(d)) {
      const status = structuredClone(d.status ?? {});
      setCondition(status, newCondition('Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "${made.metadata.name}"`));
      await this.writeStatus(d, status);
    }
    return made;
  }

  // ---- scaling ----

  /** Scale one ReplicaSet (and stamp desired/max replicas on it): whether its size changed, and the object now. */
  private async resize(d: Deployment, rs: ReplicaSet, to: number): Promise<{ scaled: boolean; rs: ReplicaSet }> {
    const next = structuredClone(rs);
    const sized = rsReplicas(rs) !== to;
    const annotated = setReplicasAnnotations(next, replicasOf(d), replicasOf(d) + maxSurge(d));
    if (!sized && !annotated) return { scaled: false, rs };
    next.spec!.replicas = to;
    const written = await this.ctx.client.update(REPLICASETS, rs.metadata.namespace, next);
    if (sized) {
      const how = rsReplicas(rs) < to ? 'up' : 'down';
      void this.events.record(
        this.described(d),
        'Normal',
        'ScalingReplicaSet',
        `Scaled ${how} replica set ${rs.metadata.name} from ${rsReplicas(rs)} to ${to}`,
      );
    }
    return { scaled: sized, rs: written };
  }

  private async scaleRS(d: Deployment, rs: ReplicaSet, to: number): Promise<boolean> {
    return (await this.resize(d, rs, to)).scaled;
  }

  /** A change of spec.replicas the active ReplicaSets have not been told of. */
  private isScalingEvent(d: Deployment, rsList: ReplicaSet[]): boolean {
    return rsList.some((rs) => rsReplicas(rs) > 0 && (desiredReplicasAnnotation(rs) ?? replicasOf(d)) !== replicasOf(d));
  }

  /** sync(): scale (proportionally while rolling) and write status, for paused Deployments and scaling events. */
  private async syncScale(d: Deployment, rsList: ReplicaSet[]): Promise<Result> {
    const { newRS, old } = await this.newAndOld(d, rsList, false);
    await this.scale(d, newRS, old);
    if (d.spec?.paused) await this.cleanup(d, old);
    const { newRS: n2, old: o2 } = this.split(d, this.ownedNow(d));
    return this.syncStatus(d, [...o2, ...(n2 ? [n2] : [])], n2, false);
  }

  private async scale(d: Deployment, newRS: ReplicaSet | undefined, old: ReplicaSet[]): Promise<void> {
    const target = activeOrLatest(newRS, old);
    if (target) {
      await this.scaleRS(d, target, replicasOf(d));
      return;
    }
    if (
      newRS &&
      rsReplicas(newRS) === replicasOf(d) &&
      desiredReplicasAnnotation(newRS) === replicasOf(d) &&
      (newRS.status?.availableReplicas ?? 0) === replicasOf(d)
    ) {
      for (const rs of old) if (rsReplicas(rs) > 0) await this.scaleRS(d, rs, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const active = [...old, ...(newRS ? [newRS] : [])].filter((rs) => rsReplicas(rs) > 0);
    for (const [rs, size] of proportionalSizes(d, active)) await this.scaleRS(d, rs, size);
  }

  /** The ReplicaSets this Deployment controls as the cache holds them now. */
  private ownedNow(d: Deployment): ReplicaSet[] {
    return this.replicaSets.lister.byIndex(OWNER_UID_INDEX, d.metadata.uid!).filter((rs) => controllerRefOf(rs)?.uid === d.metadata.uid);
  }

  // ---- rollouts ----

  private async rolloutRolling(d: Deployment, rsList: ReplicaSet[]): Promise<Result> {
    const { newRS, old } = await this.newAndOld(d, rsList, true);
    const all = [...old, ...(newRS ? [newRS] : [])];
    if (newRS && (await this.reconcileNewRS(d, all, newRS))) return this.syncStatus(d, all, newRS, true);
    if (
      await this.reconcileOldRSs(
        d,
        all,
        old.filter((rs) => rsReplicas(rs) > 0),
        newRS,
      )
    )
      return this.syncStatus(d, all, newRS, true);
    if (deploymentComplete(d, calculateStatus(d, all, newRS))) await this.cleanup(d, old);
    return this.syncStatus(d, all, newRS, true);
  }

  private async reconcileNewRS(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet): Promise<boolean> {
    const want = replicasOf(d);
    if (rsReplicas(newRS) === want) return false;
    if (rsReplicas(newRS) > want) return this.scaleRS(d, newRS, want);
    return this.scaleRS(d, newRS, newRSNewReplicas(d, all, newRS));
  }

  private async reconcileOldRSs(d: Deployment, all: ReplicaSet[], oldActive: ReplicaSet[], newRS: ReplicaSet | undefined): Promise<boolean> {
    if (sumSpec(oldActive) === 0) return false;
    const minAvailable = replicasOf(d) - maxUnavailable(d);
    const newUnavailable = rsReplicas(newRS) - (newRS?.status?.availableReplicas ?? 0);
    const maxScaledDown = sumSpec(all) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    // First the old ReplicaSets' unhealthy pods: they count for nothing available.
    let cleaned = 0;
    const sorted = [...oldActive].sort(byCreation);
    for (let i = 0; i < sorted.length; i++) {
      const rs = sorted[i];
      if (cleaned >= maxScaledDown) break;
      const unhealthy = rsReplicas(rs) - (rs.status?.availableReplicas ?? 0);
      if (rsReplicas(rs) === 0 || unhealthy <= 0) continue;
      const n = Math.min(maxScaledDown - cleaned, unhealthy);
      sorted[i] = (await this.resize(d, rs, rsReplicas(rs) - n)).rs;
      cleaned += n;
    }
    // Then healthy old pods, as far as availability allows.
    const available = sumStatus(all, 'availableReplicas');
    let scaled = 0;
    if (available > minAvailable) {
      const total = available - minAvailable;
      for (const rs of sorted) {
        if (scaled >= total) break;
        if (rsReplicas(rs) === 0) continue;
        const n = Math.min(rsReplicas(rs), total - scaled);
        await this.scaleRS(d, rs, rsReplicas(rs) - n);
        scaled += n;
      }
    }
    return cleaned + scaled > 0;
  }

  private async rolloutRecreate(d: Deployment, rsList: ReplicaSet[]): Promise<Result> {
    let { newRS, old } = await this.newAndOld(d, rsList, false);
    let all = [...old, ...(newRS ? [newRS] : [])];
    let scaledDown = false;
    for (const rs of old) if (rsReplicas(rs) > 0 && (await this.scaleRS(d, rs, 0))) scaledDown = true;
    if (scaledDown || this.oldPodsRunning(newRS, old)) return this.syncStatus(d, all, newRS, true);
    if (!newRS) {
      ({ newRS, old } = await this.newAndOld(d, rsList, true));
      all = [...old, ...(newRS ? [newRS] : [])];
    }
    if (newRS) await this.scaleRS(d, newRS, replicasOf(d));
    if (deploymentComplete(d, calculateStatus(d, all, newRS))) await this.cleanup(d, old);
    return this.syncStatus(d, all, newRS, true);
  }

  /** Pods of the old ReplicaSets still there (terminating ones too), as Recreate must wait for them all. */
  private oldPodsRunning(newRS: ReplicaSet | undefined, old: ReplicaSet[]): boolean {
    if (sumStatus(old, 'replicas') > 0) return true;
    for (const rs of old) {
      if (rs.metadata.uid === newRS?.metadata.uid) continue;
      for (const p of this.pods.lister.byIndex(OWNER_UID_INDEX, rs.metadata.uid!)) {
        if (controllerRefOf(p)?.uid !== rs.metadata.uid) continue;
        if (p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded') return true;
      }
    }
    return false;
  }

  /** Delete the oldest ReplicaSets with no pods beyond revisionHistoryLimit. */
  private async cleanup(d: Deployment, old: ReplicaSet[]): Promise<void> {
    const limit = d.spec?.revisionHistoryLimit;
    if (limit === undefined || limit === null) return;
    const cleanable = old.filter((rs) => !rs.metadata.deletionTimestamp).sort(byRevision);
    const diff = cleanable.length - limit;
    for (let i = 0; i < diff; i++) {
      const rs = cleanable[i];
      if ((rs.status?.replicas ?? 0) !== 0 || rsReplicas(rs) !== 0 || (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0)) continue;
      try {
        await this.ctx.client.delete(REPLICASETS, rs.metadata.namespace, rs.metadata.name!, { preconditions: { uid: rs.metadata.uid } });
      } catch (e) {
        if (!isNotFound(e) && errorCode(e) !== 409) throw e;
      }
    }
  }

  // ---- status ----

  private async syncStatusOnly(d: Deployment, rsList: ReplicaSet[]): Promise<Result> {
    const { newRS, old } = await this.newAndOld(d, rsList, false);
    return this.syncStatus(d, [...old, ...(newRS ? [newRS] : [])], newRS, false);
  }

  private async checkPausedConditions(d: Deployment): Promise<void> {
    if (!hasProgressDeadline(d)) return;
    const c = getCondition(d.status, 'Progressing');
    if (c?.reason === 'ProgressDeadlineExceeded') return;
    const paused = !!d.spec?.paused;
    const status = structuredClone(d.status ?? {});
    if (paused && c?.reason !== 'DeploymentPaused') {
      setCondition(status, newCondition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused'));
    } else if (!paused && c?.reason === 'DeploymentPaused') {
      setCondition(status, newCondition('Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed'));
    } else return;
    await this.writeStatus(d, status);
  }

  /** syncRolloutStatus (progress: true) or syncDeploymentStatus: the status the ReplicaSets add up to. */
  private async syncStatus(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet | undefined, progress: boolean): Promise<Result> {
    const s = calculateStatus(d, all, newRS);
    if (progress) {
      if (!hasProgressDeadline(d)) removeCondition(s, 'Progressing');
      const cur = getCondition(s, 'Progressing');
      const complete = s.replicas === s.updatedReplicas && cur?.reason === 'NewReplicaSetAvailable';
      if (hasProgressDeadline(d) && !complete) {
        const name = newRS?.metadata.name ?? '';
        if (deploymentComplete(d, s)) {
          setCondition(
            s,
            newCondition(
              'Progressing',
              'True',
              'NewReplicaSetAvailable',
              newRS ? `ReplicaSet "${name}" has successfully progressed.` : 'Deployment has successfully progressed.',
            ),
          );
        } else if (deploymentProgressing(d, s)) {
          const c = newCondition('Progressing', 'True', 'ReplicaSetUpdated', newRS ? `ReplicaSet "${name}" is progressing.` : 'Deployment is progressing.');
          if (cur?.status === 'True') c.lastTransitionTime = cur.lastTransitionTime;
          // Progress refreshes lastUpdateTime even when the reason stays: that is what the deadline counts from.
          s.conditions = [...(s.conditions ?? []).filter((x) => x.type !== 'Progressing'), c];
        } else if (deploymentTimedOut(d, s)) {
          setCondition(
            s,
            newCondition(
              'Progressing',
              'False',
              'ProgressDeadlineExceeded',
              newRS ? `ReplicaSet "${name}" has timed out progressing.` : 'Deployment has timed out progressing.',
            ),
          );
        }
      }
      const failed = all.map((rs) => rs.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True')).find((c) => c);
      if (failed)
        setCondition(s, {
          ...newCondition('ReplicaFailure', 'True', failed.reason ?? 'FailedCreate', failed.message ?? ''),
          lastTransitionTime: failed.lastTransitionTime ?? newCondition('x', 'True', '', '').lastTransitionTime,
        });
      else removeCondition(s, 'ReplicaFailure');
    }
    if (!sameStatus(d.status, s)) await this.writeStatus(d, s);
    return progress ? this.requeueStuck(d, s) : undefined;
  }

  /** Come back when the progress deadline would pass, so a stuck rollout is reported on time. */
  private requeueStuck(d: Deployment, s: DeploymentStatus): Result {
    const c = getCondition(s, 'Progressing');
    if (!hasProgressDeadline(d) || !c || c.reason === 'NewReplicaSetAvailable' || c.reason === 'ProgressDeadlineExceeded') return;
    if (deploymentComplete(d, s)) return;
    const from = Date.parse(c.lastUpdateTime ?? '');
    if (!Number.isFinite(from)) return;
    const after = from + d.spec!.progressDeadlineSeconds! * 1000 - Date.now();
    return { requeueAfterMs: Math.max(1000, after + 1000) };
  }

  private async writeStatus(d: Deployment, status: DeploymentStatus): Promise<void> {
    const updated = await this.ctx.client.update(DEPLOYMENTS, d.metadata.namespace, { ...d, status }, 'status');
    d.metadata = updated.metadata;
    d.status = updated.status;
  }
}
