// The `kubernetes` service in `default`: the API server's own ClusterIP (the first IP of the service
// CIDR, port 443 "https" to the server's port), with the EndpointSlice and Endpoints that point at the
// advertise address. Level-triggered: reconciled on start, on any change to the three objects, and on a
// timer; a deleted one comes back, a changed one is put right.
import { findResource } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { parseIP, isV4, isLoopback, isUnspecified } from '../api/ipaddr.js';
import type { Registry } from '../apiserver/registry.js';
import { ApiError } from '../api/status.js';
import type { Subscription } from '../apiserver/watchcache.js';
import { WorkQueue } from '../client/workqueue.js';

const SERVICES = findResource('', 'v1', 'services')!;
const ENDPOINTS = findResource('', 'v1', 'endpoints')!;
const SLICES = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;
const NS = 'default';
const NAME = 'kubernetes';
const KEY = `${NS}/${NAME}`;

export interface KubernetesServiceOptions {
  /** The service's ClusterIP: the first usable address of the service CIDR. */
  serviceIP: string;
  /** Where clients reach the API server: the endpoint's address and port. */
  address: string;
  port: number;
  /** Time between level-triggered passes (default 10 s, as the API server's endpoint reconciler). */
  intervalMs?: number;
}

const sameJSON = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const arr = (v: unknown): any[] => (Array.isArray(v) ? v : []);

export class KubernetesService {
  private queue: WorkQueue;
  private subs: Subscription[] = [];
  private timer?: NodeJS.Timeout;
  /** Endpoint objects are skipped when the address may not be an endpoint (loopback, unspecified). */
  private endpointsUsable: boolean;

  constructor(private reg: Registry, private o: KubernetesServiceOptions) {
    this.queue = new WorkQueue(() => this.reconcile(), 1, (_k, e) => console.error(`kubernetes service: ${e instanceof Error ? e.message : e}`));
    const ip = parseIP(o.address);
    this.endpointsUsable = Boolean(ip && !isLoopback(ip) && !isUnspecified(ip));
  }

  async start(): Promise<void> {
    if (!this.endpointsUsable) {
      console.error(`kubernetes service: advertise address ${this.o.address} cannot be an endpoint (loopback or unspecified); ` +
        'the service gets no EndpointSlice or Endpoints: set --advertise-address to an address pods can reach');
    }
    const from = this.reg.cache.revision;
    const watched = [
      `/registry/core/services/${KEY}`,
      `/registry/core/endpoints/${KEY}`,
      `/registry/discovery.k8s.io/endpointslices/${KEY}`,
    ];
    for (const key of watched) {
      const sub = this.reg.cache.subscribe(key, from, (evs) => {
        if (evs.some((e) => e.key === key)) this.queue.add(KEY);
      }, () => this.queue.add(KEY));
      if (sub) this.subs.push(sub);
    }
    try {
      await this.reconcile();
    } catch (e) {
      console.error(`kubernetes service: ${e instanceof Error ? e.message : e}`);
    }
    this.queue.start();
    this.timer = setInterval(() => this.queue.add(KEY), this.o.intervalMs ?? 10_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    for (const s of this.subs) s.close();
    this.queue.stop();
  }

  /** One pass over the three objects. */
  async reconcile(): Promise<void> {
    await this.reconcileService();
    if (!this.endpointsUsable) return;
    await this.reconcileSlice();
    await this.reconcileEndpoints();
  }

  private get ports() {
    return [{ name: 'https', protocol: 'TCP', port: 443, targetPort: this.o.port }];
  }

  private desiredService(): KObject {
    return {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: NAME, namespace: NS, labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: { type: 'ClusterIP', clusterIP: this.o.serviceIP, clusterIPs: [this.o.serviceIP], ports: this.ports, sessionAffinity: 'None' },
    };
  }

  private async reconcileService(): Promise<void> {
    const cur = await this.reg.tryGet(SERVICES, NS, NAME);
    if (cur && cur.spec?.clusterIP !== this.o.serviceIP) {
      // The ClusterIP is immutable: a service from another service CIDR is replaced.
      await ignore([404, 409], () => this.reg.delete(SERVICES, NS, NAME, { preconditions: { uid: cur.metadata.uid } }));
    } else if (cur) {
      const ports = arr(cur.spec?.ports).map((p) => ({ name: p?.name, protocol: p?.protocol, port: p?.port, targetPort: p?.targetPort }));
      const selector = cur.spec?.selector;
      const labels = cur.metadata.labels ?? {};
      if (sameJSON(ports, this.ports) && cur.spec?.type === 'ClusterIP' && !(selector && Object.keys(selector).length) &&
        labels.component === 'apiserver' && labels.provider === 'kubernetes') return;
      await ignore([404], () => this.reg.guaranteedUpdate(SERVICES, NS, NAME, (svc) => {
        svc.metadata.labels = { ...(svc.metadata.labels ?? {}), component: 'apiserver', provider: 'kubernetes' };
        svc.spec = { ...svc.spec, type: 'ClusterIP', ports: this.ports };
        delete svc.spec.selector;
        return svc;
      }));
      return;
    }
    await ignore([409], () => this.reg.create(SERVICES, NS, this.desiredService()));
  }

  private endpointPorts() {
    return [{ name: 'https', port: this.o.port, protocol: 'TCP' }];
  }

  private addressType(): 'IPv4' | 'IPv6' {
    const ip = parseIP(this.o.address);
    return ip && isV4(ip) ? 'IPv4' : 'IPv6';
  }

  private async reconcileSlice(): Promise<void> {
    const want = {
      addressType: this.addressType(),
      endpoints: [{ addresses: [this.o.address], conditions: { ready: true } }],
      ports: this.endpointPorts(),
    };
    const label = { 'kubernetes.io/service-name': NAME };
    const cur = await this.reg.tryGet(SLICES, NS, NAME);
    if (cur) {
      const have = {
        addressType: cur.addressType,
        endpoints: arr(cur.endpoints).map((e) => ({ addresses: e?.addresses, conditions: { ready: e?.conditions?.ready } })),
        ports: arr(cur.ports).map((p) => ({ name: p?.name, port: p?.port, protocol: p?.protocol })),
      };
      if (sameJSON(have, want) && cur.metadata.labels?.['kubernetes.io/service-name'] === NAME) return;
      if (cur.addressType !== want.addressType) {
        // addressType is immutable.
        await ignore([404, 409], () => this.reg.delete(SLICES, NS, NAME, { preconditions: { uid: cur.metadata.uid } }));
      } else {
        await ignore([404], () => this.reg.guaranteedUpdate(SLICES, NS, NAME, (s) => ({
          ...s, ...want, metadata: { ...s.metadata, labels: { ...(s.metadata.labels ?? {}), ...label } },
        })));
        return;
      }
    }
    await ignore([409], () => this.reg.create(SLICES, NS, { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: NAME, labels: label }, ...want }));
  }

  private async reconcileEndpoints(): Promise<void> {
    const subsets = [{ addresses: [{ ip: this.o.address }], ports: this.endpointPorts() }];
    // The API server's Endpoints are not to be mirrored into a second slice.
    const label = { 'endpointslice.kubernetes.io/skip-mirror': 'true' };
    const cur = await this.reg.tryGet(ENDPOINTS, NS, NAME);
    if (cur) {
      const have = arr(cur.subsets).map((s) => ({
        addresses: arr(s?.addresses).map((a) => ({ ip: a?.ip })),
        ports: arr(s?.ports).map((p) => ({ name: p?.name, port: p?.port, protocol: p?.protocol })),
      }));
      if (sameJSON(have, subsets) && cur.metadata.labels?.['endpointslice.kubernetes.io/skip-mirror'] === 'true') return;
      await ignore([404], () => this.reg.guaranteedUpdate(ENDPOINTS, NS, NAME, (ep) => ({
        ...ep, subsets, metadata: { ...ep.metadata, labels: { ...(ep.metadata.labels ?? {}), ...label } },
      })));
      return;
    }
    await ignore([409], () => this.reg.create(ENDPOINTS, NS, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: NAME, labels: label }, subsets }));
  }
}

/** Runs f; an ApiError with one of these codes means another writer got there first (the next pass looks again). */
async function ignore(codes: number[], f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!(e instanceof ApiError && codes.includes(e.code))) throw e;
  }
}
