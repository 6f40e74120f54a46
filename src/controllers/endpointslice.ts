// The EndpointSlice controller: for every service with a selector, IPv4 slices listing the pods it selects,
// with ready/serving/terminating conditions and resolved target ports. Pods stay in the slice they are in,
// so a change rewrites one slice, and nothing is written when the slices already say the right thing.
import { isPodReady } from '../api/conditions.js';
import { findResource } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { Informer, objectKey } from '../client/informer.js';
import { isNotFound, type Client } from '../client/types.js';
import { WorkQueue } from '../client/workqueue.js';
import {
  backingPods, canonical, controllerRef, derivedLabels, hasSelector, MANAGED_BY_LABEL, NamespaceIndex,
  podHostname, podIPv4, podPorts, podTargetRef, type ResolvedPort, sameContent, selects, SERVICE_NAME_LABEL,
} from './podendpoints.js';

/** Full resync period of the informers: a safety net only; every change arrives by watch. */
const RESYNC_MS = 10 * 60_000;

const SERVICES = findResource('', 'v1', 'services')!;
const PODS = findResource('', 'v1', 'pods')!;
const SLICES = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;

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
  slice?: KObject;
}

function endpointFor(svc: KObject, pod: KObject): Endpoint {
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

function sliceEndpoints(s: KObject): Endpoint[] {
  return [...((s.endpoints ?? []) as Endpoint[])].sort((a, b) => String(a?.targetRef?.name ?? '').localeCompare(String(b?.targetRef?.name ?? '')));
}

function ownedBy(s: KObject, svc: KObject): boolean {
  return (s.metadata.ownerReferences ?? []).some((r: any) => r?.controller && r?.uid === svc.metadata.uid);
}

export class EndpointSliceController {
  private services: Informer;
  private pods: Informer;
  private slices: Informer;
  private queue: WorkQueue;
  private servicesByNs = new NamespaceIndex();
  private podsByNs = new NamespaceIndex();
  /** Service key → its slices, by slice name. */
  private slicesBySvc = new Map<string, Map<string, KObject>>();
  /** Service key → slice name → the resourceVersion we wrote (or 'gone'), until the informer shows it. */
  private expected = new Map<string, Map<string, { rv: number | 'gone'; at: number }>>();
  private max: number;

  constructor(private client: Client, opts: EndpointSliceOptions = {}) {
    this.max = opts.maxEndpointsPerSlice ?? MAX_ENDPOINTS_PER_SLICE;
    // Resync rarely (kube-controller-manager's is hours): a 30 s resync of 10,000 services queues 10,000
    // keys ahead of a new service's, which showed as a one-second tail in programming latency.
    this.services = new Informer(client, SERVICES, undefined, {}, RESYNC_MS);
    this.pods = new Informer(client, PODS, undefined, {}, RESYNC_MS);
    this.slices = new Informer(client, SLICES, undefined, { labelSelector: `${MANAGED_BY_LABEL}=${ENDPOINTSLICE_CONTROLLER}` }, RESYNC_MS);
    this.queue = new WorkQueue((key) => this.sync(key), opts.workers ?? 4,
      (key, err) => console.error(`endpointslice controller: ${key}:`, err instanceof Error ? err.message : err));
    this.services.on({
      onAdd: (s) => this.serviceChanged(s),
      onUpdate: (s) => this.serviceChanged(s),
      onDelete: (s) => {
        this.servicesByNs.delete(s);
        this.queue.add(objectKey(s));
      },
    });
    this.pods.on({
      onAdd: (p) => {
        this.podsByNs.set(p);
        this.podChanged(p);
      },
      onUpdate: (p, old) => {
        this.podsByNs.set(p);
        this.podChanged(p, old);
      },
      onDelete: (p) => {
        this.podsByNs.delete(p);
        this.podChanged(p);
      },
    });
    this.slices.on({
      onAdd: (s) => this.sliceChanged(s, false),
      onUpdate: (s) => this.sliceChanged(s, false),
      onDelete: (s) => this.sliceChanged(s, true),
    });
  }

  async start(): Promise<void> {
    for (const i of [this.services, this.pods, this.slices]) i.start();
    await Promise.all([this.services.hasSynced(), this.pods.hasSynced(), this.slices.hasSynced()]);
    this.queue.start();
  }

  stop(): void {
    for (const i of [this.services, this.pods, this.slices]) i.stop();
    this.queue.stop();
  }

  private serviceChanged(s: KObject): void {
    this.servicesByNs.set(s);
    this.queue.add(objectKey(s));
  }

  private podChanged(p: KObject, old?: KObject): void {
    for (const svc of this.servicesByNs.in(p.metadata.namespace!)) {
      if (selects(svc, p.metadata.labels) || (old && selects(svc, old.metadata.labels))) this.queue.add(objectKey(svc));
    }
  }

  private sliceChanged(s: KObject, deleted: boolean): void {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc) return;
    const key = `${s.metadata.namespace}/${svc}`;
    let m = this.slicesBySvc.get(key);
    if (deleted) {
      m?.delete(s.metadata.name!);
      if (m?.size === 0) this.slicesBySvc.delete(key);
    } else {
      if (!m) this.slicesBySvc.set(key, (m = new Map()));
      m.set(s.metadata.name!, s);
    }
    this.queue.add(key);
  }

  /** False while a write of ours has not reached the informer: acting on an older view would duplicate slices. */
  private caughtUp(key: string): boolean {
    const exp = this.expected.get(key);
    if (!exp) return true;
    const mine = this.slicesBySvc.get(key);
    const at = Date.now();
    for (const [name, e] of exp) {
      const cur = mine?.get(name);
      const seen = e.rv === 'gone' ? !cur : !!cur && Number(cur.metadata.resourceVersion) >= e.rv;
      if (seen || at - e.at > EXPECTATION_TTL_MS) exp.delete(name);
    }
    if (exp.size === 0) this.expected.delete(key);
    return exp.size === 0;
  }

  private expect(key: string, name: string, rv: number | 'gone'): void {
    let m = this.expected.get(key);
    if (!m) this.expected.set(key, (m = new Map()));
    m.set(name, { rv, at: Date.now() });
  }

  private async sync(key: string): Promise<void> {
    if (!this.caughtUp(key)) {
      this.queue.addAfter(key, 50);
      return;
    }
    const svc = this.services.get(key);
    const existing = [...(this.slicesBySvc.get(key)?.values() ?? [])].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
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
  private plan(svc: KObject, owned: KObject[]): Bucket[] {
    const groups = new Map<string, { ports: ResolvedPort[]; endpoints: Endpoint[] }>();
    const hasPorts = (svc.spec?.ports ?? []).length > 0;
    for (const pod of backingPods(svc, this.podsByNs.in(svc.metadata.namespace!))) {
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
    const taken = new Set<KObject>();
    for (const [k, g] of groups) {
      const candidates = owned.filter((s) => !taken.has(s) && canonical(s.ports ?? []) === k);
      const fill = new Map<KObject, Endpoint[]>(candidates.map((s) => [s, []]));
      const where = new Map<string, KObject>();
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
          fill.set({ metadata: {} } as KObject, nb.endpoints);
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

  private async write(key: string, svc: KObject, b: Bucket): Promise<void> {
    const ns = svc.metadata.namespace!;
    const labels = { ...derivedLabels(svc), [SERVICE_NAME_LABEL]: svc.metadata.name!, [MANAGED_BY_LABEL]: ENDPOINTSLICE_CONTROLLER };
    const owners = [controllerRef(svc)];
    const s = b.slice;
    if (s) {
      if (sameContent(s.metadata.labels ?? {}, labels) && sameContent(s.metadata.ownerReferences ?? [], owners)
        && sameContent(sliceEndpoints(s), b.endpoints) && sameContent(s.ports ?? [], b.ports) && s.addressType === 'IPv4') return;
      const next = structuredClone(s);
      next.metadata.labels = labels;
      next.metadata.ownerReferences = owners;
      next.endpoints = b.endpoints;
      next.ports = b.ports;
      const saved = await this.client.update(SLICES, ns, next);
      this.expect(key, saved.metadata.name!, Number(saved.metadata.resourceVersion));
      return;
    }
    const saved = await this.client.create(SLICES, ns, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      // Room for the 5-character random suffix within the 63-character name limit.
      metadata: { generateName: `${svc.metadata.name!.slice(0, 57)}-`, namespace: ns, labels, ownerReferences: owners },
      addressType: 'IPv4', endpoints: b.endpoints, ports: b.ports,
    });
    this.expect(key, saved.metadata.name!, Number(saved.metadata.resourceVersion));
  }

  private async remove(key: string, s: KObject): Promise<void> {
    try {
      await this.client.delete(SLICES, s.metadata.namespace, s.metadata.name!, { preconditions: { uid: s.metadata.uid } });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    this.expect(key, s.metadata.name!, 'gone');
  }
}
