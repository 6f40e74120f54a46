// The EndpointSlice controller: for every service with a selector, IPv4 slices listing the pods it selects,
// with ready/serving/terminating conditions and resolved target ports. Pods stay in the slice they are in,
// so a change rewrites one slice, and nothing is written when the slices already say the right thing.
import { isPodReady } from '../api/conditions.js';
import { ENDPOINTSLICES as SLICES, PODS, SERVICES } from '../api/kinds.js';
import type { EndpointSlice, Pod, Service } from '../api/types.js';
import { WriteExpectations } from '../client/expectations.js';
import type { SharedInformer } from '../client/informer.js';
import { isNotFound, objectKey, type Client } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import {
  backingPods,
  canonical,
  controllerRef,
  derivedLabels,
  hasSelector,
  MANAGED_BY_LABEL,
  podHostname,
  podIPv4,
  podPorts,
  podTargetRef,
  type ResolvedPort,
  sameContent,
  selects,
  SERVICE_NAME_LABEL,
} from './podendpoints.js';

/** Full resync period of the informers: a safety net only; every change arrives by watch. */
const RESYNC_MS = 10 * 60_000;

/** Slices by the service they belong to (namespace/name), ours only. */
const BY_SERVICE = 'endpointslice-controller:service';

export const ENDPOINTSLICE_CONTROLLER = 'endpointslice-controller.k8s.io';
export const MAX_ENDPOINTS_PER_SLICE = 100;
/** How long a write of ours may stay unseen by the informer before we stop waiting for it. */
const EXPECTATION_TTL_MS = 5_000;

export interface EndpointSliceOptions {
  maxEndpointsPerSlice?: number;
  workers?: number;
}

interface Endpoint {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
  nodeName?: string;
  hostname?: string;
  targetRef: { kind: string; namespace: string; name: string; uid: string };
}

/** One slice's worth of the desired state; `slice` is the existing slice it will be written to, if any. */
interface Bucket {
  ports: ResolvedPort[];
  endpoints: Endpoint[];
  slice?: EndpointSlice;
}

function endpointFor(svc: Service, pod: Pod): Endpoint {
  const terminating = !!pod.metadata.deletionTimestamp;
  const serving = isPodReady(pod);
  const ready = svc.spec?.publishNotReadyAddresses === true || (serving && !terminating);
  const ep: Endpoint = { addresses: [podIPv4(pod)!], conditions: { ready, serving, terminating }, targetRef: podTargetRef(pod) };
  if (pod.spec?.nodeName) ep.nodeName = pod.spec.nodeName;
  const h = podHostname(svc, pod);
  if (h) ep.hostname = h;
  return ep;
}

const byPod = (a: Endpoint, b: Endpoint) => a.targetRef.name.localeCompare(b.targetRef.name) || a.addresses[0].localeCompare(b.addresses[0]);

function sliceEndpoints(s: EndpointSlice): Endpoint[] {
  return [...((s.endpoints ?? []) as Endpoint[])].sort((a, b) => String(a?.targetRef?.name ?? '').localeCompare(String(b?.targetRef?.name ?? '')));
}

function ownedBy(s: EndpointSlice, svc: Service): boolean {
  return (s.metadata.ownerReferences ?? []).some((r) => r?.controller && r?.uid === svc.metadata.uid);
}

export class EndpointSliceController implements Controller {
  private client: Client;
  private services: SharedInformer<Service>;
  private pods: SharedInformer<Pod>;
  private slices: SharedInformer<EndpointSlice>;
  private queue!: WorkQueue;
  /** Our writes per slice (namespace/name), until the informer shows them. */
  private expected = new WriteExpectations(EXPECTATION_TTL_MS);
  private max: number;
  private workers: number;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(ctx: ControllerContext, opts: EndpointSliceOptions = {}) {
    this.qm = queueMetrics(ctx, 'endpoint_slice');
    this.client = ctx.client;
    this.max = opts.maxEndpointsPerSlice ?? MAX_ENDPOINTS_PER_SLICE;
    this.workers = opts.workers ?? 4;
    this.services = ctx.informers.informerFor(SERVICES);
    this.pods = ctx.informers.informerFor(PODS);
    // Every slice (one cache with whoever else reads slices); ours are found through this index.
    this.slices = ctx.informers.informerFor(SLICES);
    if (!this.slices.indexer.hasIndex(BY_SERVICE)) {
      this.slices.addIndex(BY_SERVICE, (s) => {
        const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
        return svc && s.metadata.labels?.[MANAGED_BY_LABEL] === ENDPOINTSLICE_CONTROLLER ? [`${s.metadata.namespace}/${svc}`] : [];
      });
    }
  }

  async start(): Promise<void> {
    this.queue = new WorkQueue((key) => this.sync(key), {
      workers: this.workers,
      metrics: this.qm,
      onError: (key, err) => console.error(`endpointslice controller: ${key}:`, err instanceof Error ? err.message : err),
    });
    await Promise.all([this.services.waitForSync(), this.pods.waitForSync(), this.slices.waitForSync()]);
    const svcChanged = (s: Service) => this.queue.add(objectKey(s));
    // Resync rarely (kube-controller-manager's is hours): a 30 s resync of 10,000 services queues 10,000
    // keys ahead of a new service's, which showed as a one-second tail in programming latency.
    this.regs.add(this.services.addEventHandler({ onAdd: svcChanged, onUpdate: svcChanged, onDelete: svcChanged }, RESYNC_MS));
    this.regs.add(
      this.pods.addEventHandler({
        onAdd: (p) => this.podChanged(p),
        onUpdate: (p, old) => p !== old && this.podChanged(p, old),
        onDelete: (p) => this.podChanged(p),
      }),
    );
    const sliceChanged = (s: EndpointSlice) => {
      const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
      if (svc && s.metadata.labels?.[MANAGED_BY_LABEL] === ENDPOINTSLICE_CONTROLLER) this.queue.add(`${s.metadata.namespace}/${svc}`);
    };
    this.regs.add(this.slices.addEventHandler({ onAdd: sliceChanged, onUpdate: sliceChanged, onDelete: sliceChanged }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue?.stop();
  }

  private podChanged(p: Pod, old?: Pod): void {
    for (const svc of this.services.lister.inNamespace(p.metadata.namespace!)) {
      if (selects(svc, p.metadata.labels) || (old && selects(svc, old.metadata.labels))) this.queue.add(objectKey(svc));
    }
  }

  /** False while a write of ours has not reached the informer: acting on an older view would duplicate slices. */
  private caughtUp(key: string): boolean {
    const ns = key.slice(0, key.indexOf('/'));
    let ok = true;
    for (const name of this.pendingWrites.get(key) ?? []) {
      if (this.expected.caughtUp(`${ns}/${name}`, this.slices.lister.get(ns, name))) this.pendingWrites.get(key)!.delete(name);
      else ok = false;
    }
    if (this.pendingWrites.get(key)?.size === 0) this.pendingWrites.delete(key);
    return ok;
  }

  /** Service key → names of slices we wrote and wait to see. */
  private pendingWrites = new Map<string, Set<string>>();

  private expect(key: string, slice: EndpointSlice, rv: string | 'gone' | undefined): void {
    const name = slice.metadata.name!;
    let m = this.pendingWrites.get(key);
    if (!m) this.pendingWrites.set(key, (m = new Set()));
    m.add(name);
    this.expected.wrote(`${slice.metadata.namespace ?? key.slice(0, key.indexOf('/'))}/${name}`, rv);
  }

  private async sync(key: string): Promise<void> {
    if (!this.caughtUp(key)) {
      this.queue.addAfter(key, 50);
      return;
    }
    const svc = this.services.lister.getByKey(key);
    const existing = this.slices.lister.byIndex(BY_SERVICE, key).sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
    if (!svc || !hasSelector(svc)) {
      for (const s of existing) await this.remove(key, s);
      return;
    }
    const owned = existing.filter((s) => ownedBy(s, svc));
    const buckets = this.plan(svc, owned);
    const used = new Set(buckets.map((b) => b.slice).filter(Boolean));
    // A new bucket takes over a slice that would otherwise be deleted: one write instead of two.
    const spare = owned.filter((s) => !used.has(s));
    for (const b of buckets) if (!b.slice && spare.length) b.slice = spare.shift();
    for (const b of buckets) await this.write(key, svc, b);
    for (const s of existing) if (!buckets.some((b) => b.slice === s)) await this.remove(key, s);
  }

  /** Group the service's endpoints by their resolved ports, keeping each pod in the slice it is in already. */
  private plan(svc: Service, owned: EndpointSlice[]): Bucket[] {
    const groups = new Map<string, { ports: ResolvedPort[]; endpoints: Endpoint[] }>();
    const hasPorts = (svc.spec?.ports ?? []).length > 0;
    for (const pod of backingPods(svc, this.pods.lister.inNamespace(svc.metadata.namespace!))) {
      const ports = podPorts(svc, pod);
      if (hasPorts && ports.length === 0) continue;
      const k = canonical(ports);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { ports, endpoints: [] }));
      g.endpoints.push(endpointFor(svc, pod));
    }
    if (groups.size === 0) {
      // Kubernetes keeps one empty slice for a service without endpoints, so readers can tell "none" from "not yet".
      return [{ ports: [], endpoints: [], slice: owned.find((s) => !(s.endpoints ?? []).length) ?? owned[0] }];
    }
    const out: Bucket[] = [];
    const taken = new Set<EndpointSlice>();
    for (const [k, g] of groups) {
      const candidates = owned.filter((s) => !taken.has(s) && canonical(s.ports ?? []) === k);
      const fill = new Map<EndpointSlice, Endpoint[]>(candidates.map((s) => [s, []]));
      const where = new Map<string, EndpointSlice>();
      for (const s of candidates) for (const ep of (s.endpoints ?? []) as Endpoint[]) if (ep?.targetRef?.uid) where.set(ep.targetRef.uid, s);
      const rest: Endpoint[] = [];
      for (const ep of g.endpoints) {
        const s = where.get(ep.targetRef.uid);
        const list = s && fill.get(s);
        if (list && list.length < this.max) list.push(ep);
        else rest.push(ep);
      }
      for (const ep of rest) {
        const room = [...fill.values()].find((l) => l.length < this.max);
        if (room) room.push(ep);
        else {
          const nb: Bucket = { ports: g.ports, endpoints: [ep] };
          out.push(nb);
          fill.set({ metadata: {}, addressType: 'IPv4', endpoints: [] }, nb.endpoints);
        }
      }
      for (const [s, list] of fill) {
        if (!s.metadata.name || list.length === 0) continue;
        taken.add(s);
        out.push({ ports: g.ports, endpoints: list, slice: s });
      }
    }
    for (const b of out) b.endpoints.sort(byPod);
    return out;
  }

  private async write(key: string, svc: Service, b: Bucket): Promise<void> {
    const ns = svc.metadata.namespace!;
    const labels = { ...derivedLabels(svc), [SERVICE_NAME_LABEL]: svc.metadata.name!, [MANAGED_BY_LABEL]: ENDPOINTSLICE_CONTROLLER };
    const owners = [controllerRef(svc)];
    const s = b.slice;
    if (s) {
      if (
        sameContent(s.metadata.labels ?? {}, labels) &&
        sameContent(s.metadata.ownerReferences ?? [], owners) &&
        sameContent(sliceEndpoints(s), b.endpoints) &&
        sameContent(s.ports ?? [], b.ports) &&
        s.addressType === 'IPv4'
      )
        return;
      const next = structuredClone(s);
      next.metadata.labels = labels;
      next.metadata.ownerReferences = owners;
      next.endpoints = b.endpoints;
      next.ports = b.ports;
      const saved = await this.client.update(SLICES, ns, next);
      this.expect(key, saved, saved.metadata.resourceVersion);
      return;
    }
    const saved = await this.client.create(SLICES, ns, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      // Room for the 5-character random suffix within the 63-character name limit.
      metadata: { generateName: `${svc.metadata.name!.slice(0, 57)}-`, namespace: ns, labels, ownerReferences: owners },
      addressType: 'IPv4',
      endpoints: b.endpoints,
      ports: b.ports,
    });
    this.expect(key, saved, saved.metadata.resourceVersion);
  }

  private async remove(key: string, s: EndpointSlice): Promise<void> {
    try {
      await this.client.delete(SLICES, s.metadata.namespace, s.metadata.name!, { preconditions: { uid: s.metadata.uid } });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    this.expect(key, s, 'gone');
  }
}
