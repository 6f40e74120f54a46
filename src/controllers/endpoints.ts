// The v1 Endpoints controller, for clients older than EndpointSlices: one Endpoints object per service with a
// selector, named like the service, its pods grouped into subsets by the ports they serve, ready pods under
// `addresses` and the rest under `notReadyAddresses`. Written only when its content changes.
import { isPodReady } from '../api/conditions.js';
import { ENDPOINTS, PODS, SERVICES } from '../api/kinds.js';
import type { Endpoints, Pod, Service } from '../api/types.js';
import { WriteExpectations } from '../client/expectations.js';
import type { SharedInformer } from '../client/informer.js';
import { isNotFound, objectKey, type Client } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import {
  backingPods,
  canonical,
  derivedLabels,
  hasSelector,
  podHostname,
  podIPv4,
  podPorts,
  podTargetRef,
  type ResolvedPort,
  sameContent,
  selects,
} from './podendpoints.js';

/** Full resync period of the informers: a safety net only; every change arrives by watch. */
const RESYNC_MS = 10 * 60_000;

/** Marks Endpoints this controller made, as Kubernetes does (it also tells a mirroring controller to skip them). */
export const SKIP_MIRROR_LABEL = 'endpointslice.kubernetes.io/skip-mirror';

interface Address {
  ip: string;
  nodeName?: string;
  hostname?: string;
  targetRef: { kind: string; namespace: string; name: string; uid: string };
}

interface Subset {
  addresses?: Address[];
  notReadyAddresses?: Address[];
  ports?: (Omit<ResolvedPort, 'name'> & { name?: string })[];
}

const byIP = (a: Address, b: Address) => a.ip.localeCompare(b.ip, 'en', { numeric: true }) || a.targetRef.name.localeCompare(b.targetRef.name);

/** The subsets a service's pods make: one per distinct set of resolved ports. */
export function endpointSubsets(svc: Service, pods: Iterable<Pod>): Subset[] {
  const publish = svc.spec?.publishNotReadyAddresses === true;
  const hasPorts = (svc.spec?.ports ?? []).length > 0;
  const groups = new Map<string, { ports: ResolvedPort[]; ready: Address[]; notReady: Address[] }>();
  for (const pod of backingPods(svc, pods)) {
    // Terminating pods no longer take new traffic here; EndpointSlices carry them with terminating=true.
    if (pod.metadata.deletionTimestamp && !publish) continue;
    const ports = podPorts(svc, pod).sort((a, b) => a.name.localeCompare(b.name) || a.port - b.port || a.protocol.localeCompare(b.protocol));
    if (hasPorts && ports.length === 0) continue;
    const a: Address = { ip: podIPv4(pod)!, targetRef: podTargetRef(pod) };
    if (pod.spec?.nodeName) a.nodeName = pod.spec.nodeName;
    const h = podHostname(svc, pod);
    if (h) a.hostname = h;
    const k = canonical(ports);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ports, ready: [], notReady: [] }));
    (publish || isPodReady(pod) ? g.ready : g.notReady).push(a);
  }
  const out: Subset[] = [];
  for (const [k, g] of [...groups].sort((a, b) => a[0].localeCompare(b[0]))) {
    void k;
    const ss: Subset = {};
    if (g.ready.length) ss.addresses = g.ready.sort(byIP);
    if (g.notReady.length) ss.notReadyAddresses = g.notReady.sort(byIP);
    // An unnamed port has no name field in Endpoints (EndpointSlices spell it "").
    if (g.ports.length) ss.ports = g.ports.map(({ name, ...p }) => (name ? { name, ...p } : p));
    out.push(ss);
  }
  return out;
}

export class EndpointsController implements Controller {
  private client: Client;
  private services: SharedInformer<Service>;
  private pods: SharedInformer<Pod>;
  private endpoints: SharedInformer<Endpoints>;
  private queue!: WorkQueue;
  /** Our writes, until the informer shows them. */
  private expected = new WriteExpectations();
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(
    ctx: ControllerContext,
    private workers = 4,
  ) {
    this.qm = queueMetrics(ctx, 'endpoint');
    this.client = ctx.client;
    this.services = ctx.informers.informerFor(SERVICES);
    this.pods = ctx.informers.informerFor(PODS);
    this.endpoints = ctx.informers.informerFor(ENDPOINTS);
  }

  async start(): Promise<void> {
    this.queue = new WorkQueue((key) => this.sync(key), {
      workers: this.workers,
      metrics: this.qm,
      onError: (key, err) => console.error(`endpoints controller: ${key}:`, err instanceof Error ? err.message : err),
    });
    await Promise.all([this.services.waitForSync(), this.pods.waitForSync(), this.endpoints.waitForSync()]);
    const svcChanged = (s: Service) => this.queue.add(objectKey(s));
    // Resync rarely (kube-controller-manager's is hours): a 30 s resync of 10,000 services queues 10,000
    // keys ahead of a new service's, which showed as a one-second tail in programming latency.
    this.regs.add(this.services.addEventHandler({ onAdd: svcChanged, onUpdate: svcChanged, onDelete: svcChanged }, RESYNC_MS));
    const podEvent = (p: Pod, old?: Pod) => {
      for (const svc of this.services.lister.inNamespace(p.metadata.namespace!)) {
        if (selects(svc, p.metadata.labels) || (old && selects(svc, old.metadata.labels))) this.queue.add(objectKey(svc));
      }
    };
    this.regs.add(this.pods.addEventHandler({ onAdd: (p) => podEvent(p), onUpdate: (p, old) => p !== old && podEvent(p, old), onDelete: (p) => podEvent(p) }));
    // Our own Endpoints: repair edits and deletions by others, and clean up after services gone while we were down.
    const epEvent = (e: Endpoints) => {
      if (e.metadata.labels?.[SKIP_MIRROR_LABEL] === 'true' || this.services.lister.getByKey(objectKey(e))) this.queue.add(objectKey(e));
    };
    this.regs.add(this.endpoints.addEventHandler({ onAdd: epEvent, onUpdate: epEvent, onDelete: epEvent }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue?.stop();
  }

  private async sync(key: string): Promise<void> {
    const cur = this.endpoints.lister.getByKey(key);
    if (!this.expected.caughtUp(key, cur)) {
      this.queue.addAfter(key, 50);
      return;
    }
    const svc = this.services.lister.getByKey(key);
    if (!svc) {
      // Only ours: a user's Endpoints for a selector-less service outlive nothing they did not ask for.
      if (cur?.metadata.labels?.[SKIP_MIRROR_LABEL] === 'true') await this.remove(key, cur);
      return;
    }
    // A service without a selector is the user's to describe.
    if (!hasSelector(svc)) return;
    const ns = svc.metadata.namespace!;
    const subsets = endpointSubsets(svc, this.pods.lister.inNamespace(ns));
    const labels = { ...derivedLabels(svc), [SKIP_MIRROR_LABEL]: 'true' };
    if (cur) {
      if (sameContent(cur.subsets ?? [], subsets) && sameContent(cur.metadata.labels ?? {}, labels)) return;
      const next = structuredClone(cur);
      next.metadata.labels = labels;
      next.subsets = subsets;
      const saved = await this.client.update(ENDPOINTS, ns, next);
      this.expected.wrote(key, saved.metadata.resourceVersion);
      return;
    }
    const saved = await this.client.create(ENDPOINTS, ns, {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: svc.metadata.name, namespace: ns, labels },
      subsets,
    });
    this.expected.wrote(key, saved.metadata.resourceVersion);
  }

  private async remove(key: string, e: Endpoints): Promise<void> {
    try {
      await this.client.delete(ENDPOINTS, e.metadata.namespace, e.metadata.name!, { preconditions: { uid: e.metadata.uid } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.expected.wrote(key, 'gone');
  }
}
