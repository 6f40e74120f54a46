// The garbage collector: deletes objects whose every owner (by ownerReferences uid) is gone, waits for
// blocking dependents before letting an owner deleted in the foreground go (`foregroundDeletion`), and
// takes the owner's reference off its dependents before letting an orphaning owner go (`orphan`). The
// dependency graph is built from the shared informers of every served kind (events aside, as upstream),
// so a server that restarts rebuilds it from the API and finishes what was in flight.
import { RESOURCES, findResourceByKind, type ResourceDef } from '../api/resources.js';
import type { KObject, OwnerReference } from '../api/types.js';
import { EventRecorder } from '../client/events.js';
import type { SharedInformer } from '../client/informer.js';
import { errorCode, isNotFound, type DeleteOptions } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';

const FOREGROUND = 'foregroundDeletion';
const ORPHAN = 'orphan';
/** Owners confirmed gone by a live read, remembered so a thousand dependents cost one read (upstream's absentOwnerCache). */
const ABSENT_CACHE = 10_000;

interface GraphNode {
  r: ResourceDef;
  obj: KObject;
}

/** Kinds the collector watches: everything listable, watchable and deletable but Events (upstream ignores them). */
export function collectedResources(): ResourceDef[] {
  return RESOURCES.filter((r) => r.plural !== 'events' && ['list', 'watch', 'delete'].every((v) => r.verbs.includes(v)));
}

const uidOf = (o: KObject): string => o.metadata.uid ?? '';
const isDeleting = (o: KObject): boolean => !!o.metadata.deletionTimestamp;
const hasFinalizer = (o: KObject, f: string): boolean => !!o.metadata.finalizers?.includes(f);

export class GarbageCollector implements Controller {
  private informers: { r: ResourceDef; inf: SharedInformer<KObject> }[];
  private nodes = new Map<string, GraphNode>();
  /** owner uid → uids of the objects that name it (the owner may not exist: that is what makes garbage). */
  private dependents = new Map<string, Set<string>>();
  private absent = new Set<string>();
  private queue: WorkQueue;
  private events: EventRecorder;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(
    private ctx: ControllerContext,
    workers = 20,
  ) {
    this.qm = queueMetrics(ctx, 'garbage_collector_attempt_to_delete');
    this.informers = collectedResources().map((r) => ({ r, inf: ctx.informers.informerFor(r) }));
    this.events = new EventRecorder(ctx.client, 'garbage-collector-controller');
    this.queue = new WorkQueue((uid) => this.process(uid), { metrics: this.qm, workers });
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map(({ inf }) => inf.waitForSync()));
    for (const { r, inf } of this.informers) {
      this.regs.add(
        inf.addEventHandler({
          onAdd: (o) => this.upsert(r, o, undefined),
          onUpdate: (o, old) => {
            if (o !== old) this.upsert(r, o, old);
          },
          onDelete: (o) => this.remove(o),
        }),
      );
    }
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  /** What the graph holds (tests and the docs' claim that it is rebuilt after a restart). */
  graphSize(): { nodes: number; owners: number } {
    return { nodes: this.nodes.size, owners: this.dependents.size };
  }

  private upsert(r: ResourceDef, o: KObject, old: KObject | undefined): void {
    const uid = uidOf(o);
    if (!uid) return;
    this.nodes.set(uid, { r, obj: o });
    this.absent.delete(uid);
    const before = new Set((old?.metadata.ownerReferences ?? []).map((x) => x.uid));
    const after = new Set((o.metadata.ownerReferences ?? []).map((x) => x.uid));
    for (const u of before) if (!after.has(u)) this.unlink(u, uid);
    for (const u of after) {
      let s = this.dependents.get(u);
      if (!s) this.dependents.set(u, (s = new Set()));
      s.add(uid);
    }
    const ownersChanged =
      !old ||
      before.size !== after.size ||
      [...after].some((u) => !before.has(u)) ||
      JSON.stringify(old.metadata.ownerReferences) !== JSON.stringify(o.metadata.ownerReferences);
    if (after.size && (ownersChanged || isDeleting(o) !== (old ? isDeleting(old) : false))) this.queue.add(uid);
    // An owner being deleted with a finalizer of ours: handle it, and (foreground) its dependents.
    if (isDeleting(o) && (hasFinalizer(o, FOREGROUND) || hasFinalizer(o, ORPHAN))) {
      this.queue.add(uid);
      if (hasFinalizer(o, FOREGROUND)) for (const d of this.dependents.get(uid) ?? []) this.queue.add(d);
    }
    // Owners that were previously unseen might be what dependents were waiting for (a create racing a GC).
    if (!old) for (const d of this.dependents.get(uid) ?? []) this.queue.add(d);
  }

  private unlink(owner: string, dep: string): void {
    const s = this.dependents.get(owner);
    if (!s) return;
    s.delete(dep);
    if (!s.size) this.dependents.delete(owner);
  }

  private remove(o: KObject): void {
    const uid = uidOf(o);
    const known = this.nodes.get(uid)?.obj ?? o;
    this.nodes.delete(uid);
    for (const ref of known.metadata.ownerReferences ?? []) {
      this.unlink(ref.uid, uid);
      // One fewer dependent for an owner waiting in the foreground.
      if (this.nodes.has(ref.uid)) this.queue.add(ref.uid);
    }
    this.rememberAbsent(uid);
    for (const d of this.dependents.get(uid) ?? []) this.queue.add(d);
  }

  private rememberAbsent(uid: string): void {
    this.absent.add(uid);
    if (this.absent.size > ABSENT_CACHE) this.absent.delete(this.absent.values().next().value!);
  }

  private async process(uid: string): Promise<void> {
    const n = this.nodes.get(uid);
    if (!n) return;
    const o = n.obj;
    if (isDeleting(o) && hasFinalizer(o, ORPHAN)) return this.orphanDependents(n);
    if (isDeleting(o) && hasFinalizer(o, FOREGROUND)) await this.processDeletingDependents(n);
    if (o.metadata.ownerReferences?.length) await this.attemptToDelete(n);
  }

  /** The live dependents of uid (the ones the graph knows). */
  private dependentNodes(uid: string): GraphNode[] {
    return [...(this.dependents.get(uid) ?? [])].map((d) => this.nodes.get(d)).filter((x): x is GraphNode => !!x);
  }

  /** Orphan: take the owner's reference off every dependent, then drop the `orphan` finalizer. */
  private async orphanDependents(n: GraphNode): Promise<void> {
    const uid = uidOf(n.obj);
    await Promise.all(this.dependentNodes(uid).map((d) => this.patchOwners(d, (refs) => refs.filter((r) => r.uid !== uid))));
    await this.removeFinalizer(n, ORPHAN);
  }

  /** Foreground: the owner goes once no dependent that blocks its deletion is left. */
  private async processDeletingDependents(n: GraphNode): Promise<void> {
    const uid = uidOf(n.obj);
    const blocking = this.dependentNodes(uid).filter((d) => d.obj.metadata.ownerReferences?.some((r) => r.uid === uid && r.blockOwnerDeletion === true));
    if (blocking.length === 0) {
      await this.removeFinalizer(n, FOREGROUND);
      return;
    }
    for (const d of this.dependentNodes(uid)) this.queue.add(uidOf(d.obj));
  }

  /** A dependent: deleted when no owner is solid (exists and is not waiting for its dependents' deletion). */
  private async attemptToDelete(n: GraphNode): Promise<void> {
    const o = n.obj;
    if (isDeleting(o) && !hasFinalizer(o, FOREGROUND)) return;
    const solid: OwnerReference[] = [];
    const dangling: OwnerReference[] = [];
    const waiting: OwnerReference[] = [];
    for (const ref of o.metadata.ownerReferences ?? []) {
      const state = await this.ownerState(n, ref);
      if (state === 'solid') solid.push(ref);
      else if (state === 'waiting') waiting.push(ref);
      else dangling.push(ref);
    }
    if (solid.length) {
      if (!dangling.length && !waiting.some((r) => r.blockOwnerDeletion)) return;
      // Solid owners keep it; references to gone owners go, and owners waiting on it are unblocked.
      const gone = new Set(dangling.map((r) => r.uid));
      const wait = new Set(waiting.map((r) => r.uid));
      await this.patchOwners(n, (refs) => refs.filter((r) => !gone.has(r.uid)).map((r) => (wait.has(r.uid) ? { ...r, blockOwnerDeletion: false } : r)));
      return;
    }
    if (isDeleting(o)) return;
    let policy: DeleteOptions['propagationPolicy'];
    if (waiting.length && this.dependents.get(uidOf(o))?.size) {
      // Its own dependents go first (Foreground), so the waiting owner goes after all of them. Only when one
      // of those dependents is itself waiting on its dependents (a possible cycle) does it stop blocking the owner.
      if (this.dependentNodes(uidOf(o)).some((d) => isDeleting(d.obj) && hasFinalizer(d.obj, FOREGROUND))) {
        const wait = new Set(waiting.map((r) => r.uid));
        await this.patchOwners(n, (refs) => refs.map((r) => (wait.has(r.uid) ? { ...r, blockOwnerDeletion: false } : r)));
      }
      policy = 'Foreground';
    } else if (hasFinalizer(o, ORPHAN)) policy = 'Orphan';
    else if (hasFinalizer(o, FOREGROUND)) policy = 'Foreground';
    else policy = 'Background';
    try {
      await this.ctx.client.delete(n.r, o.metadata.namespace, o.metadata.name!, { preconditions: { uid: uidOf(o) }, propagationPolicy: policy });
    } catch (e) {
      if (!isNotFound(e) && errorCode(e) !== 409) throw e;
    }
  }

  /**
   * solid: the owner exists (and is not being deleted in the foreground); waiting: it is, in the
   * foreground; absent: no object of that kind, name and uid in the dependent's namespace (or the cluster,
   * for cluster-scoped owners). A namespaced owner named by a cluster-scoped dependent cannot be resolved
   * and is treated as solid, as upstream does (the dependent is never collected), with a warning event.
   */
  private async ownerState(n: GraphNode, ref: OwnerReference): Promise<'solid' | 'waiting' | 'absent'> {
    const r = findResourceByKind(ref.apiVersion, ref.kind);
    if (!r) return 'solid';
    const dependentNs = n.obj.metadata.namespace;
    if (r.namespaced && !n.r.namespaced) {
      void this.events.record(
        this.described(n),
        'Warning',
        'OwnerRefInvalidNamespace',
        `ownerRef [${ref.apiVersion}/${ref.kind}, namespace: , name: ${ref.name}, uid: ${ref.uid}] does not exist in namespace ""`,
      );
      return 'solid';
    }
    const ns = r.namespaced ? dependentNs : undefined;
    const known = this.nodes.get(ref.uid);
    if (known && known.r === r && known.obj.metadata.namespace === ns && known.obj.metadata.name === ref.name) {
      return isDeleting(known.obj) && hasFinalizer(known.obj, FOREGROUND) ? 'waiting' : 'solid';
    }
    if (known && r.namespaced && known.obj.metadata.namespace !== ns) {
      void this.events.record(
        this.described(n),
        'Warning',
        'OwnerRefInvalidNamespace',
        `ownerRef [${ref.apiVersion}/${ref.kind}, namespace: ${ns ?? ''}, name: ${ref.name}, uid: ${ref.uid}] does not exist in namespace "${ns ?? ''}"`,
      );
    }
    if (this.absent.has(ref.uid)) return 'absent';
    // Not in the cache: ask the API, since a cache may lag behind a create.
    const live = await this.ctx.client.get(r, ns, ref.name);
    if (live && uidOf(live) === ref.uid) return isDeleting(live) && hasFinalizer(live, FOREGROUND) ? 'waiting' : 'solid';
    this.rememberAbsent(ref.uid);
    return 'absent';
  }

  private described(n: GraphNode): KObject {
    return { ...n.obj, apiVersion: n.r.group ? `${n.r.group}/${n.r.version}` : n.r.version, kind: n.r.kind };
  }

  /** Rewrite ownerReferences of a dependent read live (conflicts retry through the queue). */
  private async patchOwners(n: GraphNode, f: (refs: OwnerReference[]) => OwnerReference[]): Promise<void> {
    const o = n.obj;
    const live = await this.ctx.client.get(n.r, o.metadata.namespace, o.metadata.name!);
    if (!live || uidOf(live) !== uidOf(o)) return;
    const refs = f(live.metadata.ownerReferences ?? []);
    try {
      await this.ctx.client.patch(n.r, o.metadata.namespace, o.metadata.name!, 'merge', {
        metadata: { uid: uidOf(o), resourceVersion: live.metadata.resourceVersion, ownerReferences: refs.length ? refs : null },
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  private async removeFinalizer(n: GraphNode, finalizer: string): Promise<void> {
    const o = n.obj;
    const live = await this.ctx.client.get(n.r, o.metadata.namespace, o.metadata.name!);
    if (!live || uidOf(live) !== uidOf(o) || !hasFinalizer(live, finalizer)) return;
    const rest = (live.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    try {
      await this.ctx.client.patch(n.r, o.metadata.namespace, o.metadata.name!, 'merge', {
        metadata: { uid: uidOf(o), resourceVersion: live.metadata.resourceVersion, finalizers: rest.length ? rest : null },
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}
