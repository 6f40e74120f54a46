// The StatefulSet controller: pods <name>-<ordinal> with a stable identity (hostname = pod name,
// subdomain = serviceName, so the headless Service's DNS names them), created in ordinal order and
// removed in reverse under OrderedReady (each Running and Ready before the next), all at once under
// Parallel; RollingUpdate from the highest ordinal down to `partition`, one pod at a time; OnDelete;
// ControllerRevisions (current/update revision in status) for `kubectl rollout history|undo sts`; each
// pod's claims from volumeClaimTemplates (<template>-<pod>), made before the pod and kept after it.
import { isPodReady } from '../api/conditions.js';
import { CONTROLLERREVISIONS, PERSISTENTVOLUMECLAIMS, PODS, STATEFULSETS } from '../api/kinds.js';
import { selectorIsValid } from '../api/labels.js';
import type { ControllerRevision, PersistentVolumeClaim, Pod, StatefulSet } from '../api/types.js';
import { EventRecorder } from '../client/events.js';
import { byOwnerUid, OWNER_UID_INDEX } from '../client/indexer.js';
import type { SharedInformer } from '../client/informer.js';
import { type Client, errorCode, objectKey } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import { isPodAvailable } from './daemonset.js';
import { ensureRevision, ownedRevisions, ownerRef, REVISION_HASH_LABEL, templateOf, truncateHistory } from './history.js';

export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

/** The condition earlier versions set while volumeClaimTemplates could not be honoured: cleared when seen. */
export const VOLUME_CLAIMS_UNSUPPORTED = 'VolumeClaimTemplatesUnsupported';

const isRunningAndReady = (p: Pod): boolean => p.status?.phase === 'Running' && isPodReady(p);
const isTerminating = (p: Pod): boolean => !!p.metadata.deletionTimestamp;
const isFailed = (p: Pod): boolean => p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded';

/** The ordinal of a pod named <set>-<n>, or -1. */
export function ordinalOf(set: StatefulSet, pod: Pod): number {
  const prefix = `${set.metadata.name}-`;
  const name = pod.metadata.name ?? '';
  if (!name.startsWith(prefix)) return -1;
  const rest = name.slice(prefix.length);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : -1;
}

export class StatefulSetController implements Controller {
  private client: Client;
  private sets: SharedInformer<StatefulSet>;
  private pods: SharedInformer<Pod>;
  private revisions: SharedInformer<ControllerRevision>;
  private queue: WorkQueue;
  private events: EventRecorder;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(ctx: ControllerContext) {
    this.qm = queueMetrics(ctx, 'statefulset');
    this.queue = new WorkQueue((key) => this.sync(key), {
      metrics: this.qm,
      workers: 2,
      onError: (key, err) => console.error(`statefulset controller: ${key}:`, err instanceof Error ? err.message : err),
    });
    this.client = ctx.client;
    this.sets = ctx.informers.informerFor(STATEFULSETS);
    this.pods = ctx.informers.informerFor(PODS).addIndex(OWNER_UID_INDEX, byOwnerUid);
    this.revisions = ctx.informers.informerFor(CONTROLLERREVISIONS).addIndex(OWNER_UID_INDEX, byOwnerUid);
    this.events = new EventRecorder(ctx.client, 'statefulset-controller');
  }

  async start(): Promise<void> {
    await Promise.all([this.sets.waitForSync(), this.pods.waitForSync(), this.revisions.waitForSync()]);
    const enqueue = (s: StatefulSet) => this.queue.add(objectKey(s));
    this.regs.add(this.sets.addEventHandler({ onAdd: enqueue, onUpdate: enqueue, onDelete: enqueue }));
    const byPod = (p: Pod) => {
      const ref = (p.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === 'StatefulSet');
      if (ref) this.queue.add(`${p.metadata.namespace}/${ref.name}`);
    };
    this.regs.add(this.pods.addEventHandler({ onAdd: byPod, onUpdate: (p, old) => p !== old && byPod(p), onDelete: byPod }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs: number }> {
    const set = this.sets.lister.getByKey(key);
    if (!set || set.metadata.deletionTimestamp || !selectorIsValid(set.spec?.selector)) return;
    const spec = set.spec!;
    const uid = set.metadata.uid!;
    const pods = this.pods.lister.byIndex(OWNER_UID_INDEX, uid).filter((p) => (p.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === uid));
    const revisions = ownedRevisions(this.revisions.lister.byIndex(OWNER_UID_INDEX, uid), set);
    const { revision: updateRevision, collisionCount } = await ensureRevision(this.client, set, 'StatefulSet', revisions, spec.template.metadata?.labels ?? {});
    const all = revisions.some((r) => r.metadata.name === updateRevision.metadata.name) ? revisions : [...revisions, updateRevision];
    const currentRevision = all.find((r) => r.metadata.name === set.status?.currentRevision) ?? updateRevision;

    const start = spec.ordinals?.start ?? 0;
    const replicas = spec.replicas ?? 1;
    const parallel = spec.podManagementPolicy === 'Parallel';
    const rolling = spec.updateStrategy?.type !== 'OnDelete';
    const partition = rolling ? (spec.updateStrategy?.rollingUpdate?.partition ?? 0) : 0;
    const slots: (Pod | undefined)[] = new Array(replicas).fill(undefined);
    const condemned: Pod[] = [];
    for (const p of pods) {
      const o = ordinalOf(set, p);
      if (o >= start && o < start + replicas) slots[o - start] = p;
      else condemned.push(p);
    }
    condemned.sort((a, b) => ordinalOf(set, b) - ordinalOf(set, a));
    const revisionOf = (p: Pod) => p.metadata.labels?.[REVISION_HASH_LABEL];

    let blocked = false;
    // Create, replace failed pods and wait, in ordinal order.
    for (let i = 0; i < replicas; i++) {
      const ordinal = start + i;
      let pod = slots[i];
      if (pod && isFailed(pod) && !isTerminating(pod)) {
        await this.deletePod(set, pod, 'delete');
        if (!parallel) {
          blocked = true;
          break;
        }
        continue;
      }
      if (!pod) {
        const useCurrent = rolling && ordinal < start + partition;
        pod = await this.createPod(set, ordinal, useCurrent ? currentRevision : updateRevision);
        if (!pod) return;
        slots[i] = pod;
        if (!parallel) {
          blocked = true;
          break;
        }
        continue;
      }
      if (parallel) continue;
      if (isTerminating(pod) || !isRunningAndReady(pod)) {
        blocked = true;
        break;
      }
    }
    // Scale down: the highest ordinal first, one at a time while any pod is unhealthy or terminating.
    if (!blocked) {
      for (const p of condemned) {
        if (isTerminating(p)) {
          if (!parallel) {
            blocked = true;
            break;
          }
          continue;
        }
        if (!parallel && slots.some((s) => !s || !isRunningAndReady(s))) {
          blocked = true;
          break;
        }
        await this.deletePod(set, p, 'delete');
        if (!parallel) {
          blocked = true;
          break;
        }
      }
    }
    // Rolling update: from the top down to the partition, one pod at a time, each healthy before the next.
    if (!blocked && rolling && !condemned.some((p) => !isTerminating(p))) {
      for (let i = replicas - 1; i >= partition; i--) {
        const p = slots[i];
        if (!p) break;
        if (revisionOf(p) !== updateRevision.metadata.name && !isTerminating(p)) {
          await this.deletePod(set, p, 'delete');
          break;
        }
        if (!isRunningAndReady(p)) break;
      }
    }
    await this.updateStatus(set, pods, currentRevision, updateRevision, collisionCount);
    const live = new Set([currentRevision.metadata.name!, updateRevision.metadata.name!]);
    for (const p of pods) {
      const r = revisionOf(p);
      if (r) live.add(r);
    }
    await truncateHistory(this.client, set, all, live);
    const minReady = spec.minReadySeconds ?? 0;
    if (minReady && pods.some((p) => isPodReady(p) && !isPodAvailable(p, minReady, Date.now()))) return { requeueAfterMs: 1000 };
  }

  private async createPod(set: StatefulSet, ordinal: number, revision: ControllerRevision): Promise<Pod | undefined> {
    const ns = set.metadata.namespace!;
    const name = `${set.metadata.name}-${ordinal}`;
    const template = templateOf(revision);
    const spec = structuredClone(template.spec ?? { containers: [] });
    // Each claim template gives the pod its own claim <template>-<pod>, made first and kept (Retain).
    for (const t of set.spec?.volumeClaimTemplates ?? []) {
      const claimName = `${t.metadata!.name}-${name}`;
      if (!(await this.ensureClaim(set, t, claimName))) return undefined;
      spec.volumes = [...(spec.volumes ?? []).filter((v) => v.name !== t.metadata!.name), { name: t.metadata!.name!, persistentVolumeClaim: { claimName } }];
    }
    spec.hostname = name;
    if (set.spec?.serviceName) spec.subdomain = set.spec.serviceName;
    try {
      const pod = await this.client.create(PODS, ns, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          namespace: ns,
          labels: {
            ...(template.metadata?.labels ?? {}),
            [POD_NAME_LABEL]: name,
            [POD_INDEX_LABEL]: String(ordinal),
            [REVISION_HASH_LABEL]: revision.metadata.name!,
          },
          annotations: template.metadata?.annotations,
          ownerReferences: [ownerRef(set, 'StatefulSet')],
        },
        spec,
      });
      await this.events.record(set, 'Normal', 'SuccessfulCreate', `create Pod ${name} in StatefulSet ${set.metadata.name} successful`);
      return pod;
    } catch (e) {
      // A pod of that name that the cache has not shown yet (or another owner's): wait for the informer.
      if (errorCode(e) === 409) return undefined;
      await this.events.record(
        set,
        'Warning',
        'FailedCreate',
        `create Pod ${name} in StatefulSet ${set.metadata.name} failed error: ${e instanceof Error ? e.message : String(e)}`,
      );
      throw e;
    }
  }

  /** The pod's claim from a template, created when missing; false when it is being deleted (wait for it). */
  private async ensureClaim(
    set: StatefulSet,
    t: NonNullable<NonNullable<StatefulSet['spec']>['volumeClaimTemplates']>[number],
    claimName: string,
  ): Promise<boolean> {
    const ns = set.metadata.namespace!;
    const cur = await this.client.get(PERSISTENTVOLUMECLAIMS, ns, claimName);
    if (cur) return !cur.metadata.deletionTimestamp;
    try {
      await this.client.create(PERSISTENTVOLUMECLAIMS, ns, {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name: claimName,
          namespace: ns,
          labels: { ...(t.metadata?.labels ?? {}), ...(set.spec?.selector?.matchLabels ?? {}) },
          annotations: t.metadata?.annotations,
        },
        spec: structuredClone(t.spec ?? {}),
      } as PersistentVolumeClaim);
      await this.events.record(
        set,
        'Normal',
        'SuccessfulCreate',
        `create Claim ${claimName} Pod ${claimName.slice(t.metadata!.name!.length + 1)} in StatefulSet ${set.metadata.name} success`,
      );
    } catch (e) {
      if (errorCode(e) === 409) return true;
      await this.events.record(
        set,
        'Warning',
        'FailedCreate',
        `create Claim ${claimName} for Pod ${claimName.slice(t.metadata!.name!.length + 1)} in StatefulSet ${set.metadata.name} failed error: ${e instanceof Error ? e.message : String(e)}`,
      );
      throw e;
    }
    return true;
  }

  private async deletePod(set: StatefulSet, pod: Pod, verb: 'delete'): Promise<void> {
    try {
      await this.client.delete(PODS, pod.metadata.namespace, pod.metadata.name!, { preconditions: { uid: pod.metadata.uid } });
      await this.events.record(set, 'Normal', 'SuccessfulDelete', `${verb} Pod ${pod.metadata.name} in StatefulSet ${set.metadata.name} successful`);
    } catch (e) {
      if (errorCode(e) !== 404 && errorCode(e) !== 409) throw e;
    }
  }

  private async updateStatus(set: StatefulSet, pods: Pod[], current: ControllerRevision, update: ControllerRevision, collisionCount: number): Promise<void> {
    const now = Date.now();
    const minReady = set.spec?.minReadySeconds ?? 0;
    let replicas = 0,
      ready = 0,
      available = 0,
      currentReplicas = 0,
      updatedReplicas = 0;
    for (const p of pods) {
      if (ordinalOf(set, p) < 0) continue;
      replicas++;
      if (isRunningAndReady(p) && !isTerminating(p)) {
        ready++;
        if (isPodAvailable(p, minReady, now)) available++;
      }
      if (isTerminating(p)) continue;
      const r = p.metadata.labels?.[REVISION_HASH_LABEL];
      if (r === current.metadata.name) currentReplicas++;
      if (r === update.metadata.name) updatedReplicas++;
    }
    let currentRevision = current.metadata.name!;
    // The rollout is complete when every pod is updated and ready: the update revision becomes current.
    if (set.spec?.updateStrategy?.type !== 'OnDelete' && updatedReplicas === replicas && ready === replicas && replicas === (set.spec?.replicas ?? 1)) {
      currentRevision = update.metadata.name!;
      currentReplicas = updatedReplicas;
    }
    const conditions = (set.status?.conditions ?? []).filter((c) => c.type !== VOLUME_CLAIMS_UNSUPPORTED);
    const status: NonNullable<StatefulSet['status']> = {
      observedGeneration: set.metadata.generation,
      replicas,
      readyReplicas: ready,
      currentReplicas,
      updatedReplicas,
      availableReplicas: available,
      currentRevision,
      updateRevision: update.metadata.name!,
      collisionCount,
      ...(conditions.length ? { conditions } : {}),
    };
    const prev = set.status ?? { replicas: 0 };
    const same =
      (Object.keys(status) as (keyof typeof status)[]).every((k) => JSON.stringify(prev[k] ?? 0) === JSON.stringify(status[k] ?? 0)) &&
      (prev.conditions ?? []).length === conditions.length;
    if (same) return;
    try {
      await this.client.update(STATEFULSETS, set.metadata.namespace, { ...structuredClone(set), status }, 'status');
    } catch (e) {
      // 409: the object changed since the cache copy; its update event brings this key back. Requeueing
      // here at once would spin without yielding to the watch that brings the newer copy.
      if (errorCode(e) !== 404 && errorCode(e) !== 409) throw e;
    }
  }
}
