// The v1 Endpoints controller, for clients older than EndpointSlices: one Endpoints object per service with a
// selector, named like the service, its pods grouped into subsets by the ports they serve, ready pods under
// `addresses` and the rest under `notReadyAddresses`. Written only when its content changes.
import { isPodReady } from '../api/conditions.js';
import { findResource } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { Informer, objectKey } from '../client/informer.js';
import { isNotFound, type Client } from '../client/types.js';
import { WorkQueue } from '../client/workqueue.js';
import {
  backingPods, canonical, derivedLabels, hasSelector, NamespaceIndex, podHostname, podIPv4, podPorts,
  podTargetRef, type ResolvedPort, sameContent, selects,
} from './podendpoints.js';

/** Full resync period of the informers: a safety net only; every change arrives by watch. */
const RESYNC_MS = 10 * 60_000;

const SERVICES = findResource('', 'v1', 'services')!;
const PODS = findResource('', 'v1', 'pods')!;
const ENDPOINTS = findResource('', 'v1', 'endpoints')!;
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
export function endpointSubsets(svc: KObject, pods: Iterable<KObject>): Subset[] {
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

export class EndpointsController {
  private services: Informer;
  private pods: Informer;
  private endpoints: Informer;
  private queue: WorkQueue;
  private servicesByNs = new NamespaceIndex();
  private podsByNs = new NamespaceIndex();
  /** Endpoints key → resourceVersion we wrote (or 'gone'), until the informer shows it. */
  private expected = new Map<string, { rv: number | 'gone'; at: number }>();

  constructor(private client: Client, workers = 4) {
    // Resync rarely (kube-controller-manager's is hours): a 30 s resync of 10,000 services queues 10,000
    // keys ahead of a new service's, which showed as a one-second tail in programming latency.
    this.services = new Informer(client, SERVICES, undefined, {}, RESYNC_MS);
    this.pods = new Informer(client, PODS, undefined, {}, RESYNC_MS);
    this.endpoints = new Informer(client, ENDPOINTS, undefined, {}, RESYNC_MS);
    this.queue = new WorkQueue((key) => this.sync(key), workers,
      (key, err) => console.error(`endpoints controller: ${key}:`, err instanceof Error ? err.message : err));
    this.services.on({
      onAdd: (s) => this.serviceChanged(s),
      onUpdate: (s) => this.serviceChanged(s),
      onDelete: (s) => {
        this.servicesByNs.delete(s);
        this.queue.add(objectKey(s));
      },
    });
    const podEvent = (p: KObject, old?: KObject) => {
      for (const svc of this.servicesByNs.in(p.metadata.namespace!)) {
        if (selects(svc, p.metadata.labels) || (old && selects(svc, old.metadata.labels))) this.queue.add(objectKey(svc));
      }
    };
    this.pods.on({
      onAdd: (p) => {
        this.podsByNs.set(p);
        podEvent(p);
      },
      onUpdate: (p, old) => {
        this.podsByNs.set(p);
        podEvent(p, old);
      },
      onDelete: (p) => {
        this.podsByNs.delete(p);
        podEvent(p);
      },
    });
    // Our own Endpoints: repair edits and deletions by others, and clean up after services gone while we were down.
    const epEvent = (e: KObject) => {
      if (e.metadata.labels?.[SKIP_MIRROR_LABEL] === 'true' || this.services.get(objectKey(e))) this.queue.add(objectKey(e));
    };
    this.endpoints.on({ onAdd: epEvent, onUpdate: epEvent, onDelete: epEvent });
  }

  async start(): Promise<void> {
    for (const i of [this.services, this.pods, this.endpoints]) i.start();
    await Promise.all([this.services.hasSynced(), this.pods.hasSynced(), this.endpoints.hasSynced()]);
    this.queue.start();
  }

  stop(): void {
    for (const i of [this.services, this.pods, this.endpoints]) i.stop();
    this.queue.stop();
  }

  private serviceChanged(s: KObject): void {
    this.servicesByNs.set(s);
    this.queue.add(objectKey(s));
  }

  private caughtUp(key: string): boolean {
    const e = this.expected.get(key);
    if (!e) return true;
    const cur = this.endpoints.get(key);
    const seen = e.rv === 'gone' ? !cur : !!cur && Number(cur.metadata.resourceVersion) >= e.rv;
    if (seen || Date.now() - e.at > 5_000) this.expected.delete(key);
    return !this.expected.has(key);
  }

  private async sync(key: string): Promise<void> {
    if (!this.caughtUp(key)) {
      this.queue.addAfter(key, 50);
      return;
    }
    const svc = this.services.get(key);
    const cur = this.endpoints.get(key);
    if (!svc) {
      // Only ours: a user's Endpoints for a selector-less service outlive nothing they did not ask for.
      if (cur?.metadata.labels?.[SKIP_MIRROR_LABEL] === 'true') await this.remove(key, cur);
      return;
    }
    // A service without a selector is the user's to describe.
    if (!hasSelector(svc)) return;
    const ns = svc.metadata.namespace!;
    const subsets = endpointSubsets(svc, this.podsByNs.in(ns));
    const labels = { ...derivedLabels(svc), [SKIP_MIRROR_LABEL]: 'true' };
    if (cur) {
      if (sameContent(cur.subsets ?? [], subsets) && sameContent(cur.metadata.labels ?? {}, labels)) return;
      const next = structuredClone(cur);
      next.metadata.labels = labels;
      next.subsets = subsets;
      const saved = await this.client.update(ENDPOINTS, ns, next);
      this.expected.set(key, { rv: Number(saved.metadata.resourceVersion), at: Date.now() });
      return;
    }
    const saved = await this.client.create(ENDPOINTS, ns, {
      apiVersion: 'v1', kind: 'Endpoints', metadata: { name: svc.metadata.name, namespace: ns, labels }, subsets,
    });
    this.expected.set(key, { rv: Number(saved.metadata.resourceVersion), at: Date.now() });
  }

  private async remove(key: string, e: KObject): Promise<void> {
    try {
      await this.client.delete(ENDPOINTS, e.metadata.namespace, e.metadata.name!, { preconditions: { uid: e.metadata.uid } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.expected.set(key, { rv: 'gone', at: Date.now() });
  }
}
