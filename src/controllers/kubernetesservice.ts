// The `kubernetes` service in `default`: the API servers' own ClusterIP (the first IP of the service
// CIDR, port 443 "https"), with an EndpointSlice and Endpoints listing every live API server. Every server
// runs this loop (as upstream's lease endpoint reconciler): each keeps its identity Lease fresh, and each
// writes the same endpoints, computed from the identity Leases that have not expired, so two servers give
// two endpoints and a dead one drops out once its Lease expires. Level-triggered: on start, on any change
// to the objects or the Leases, and on a timer; a deleted object comes back, a changed one is put right.
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ENDPOINTS, ENDPOINTSLICES as SLICES, LEASES, SERVICES } from '../api/kinds.js';
import { isLoopback, isUnspecified, isV4, parseIP } from '../api/ipaddr.js';
import type { EndpointSlice, Endpoints, Lease, Service } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { type Client, errorCode } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { microNow } from '../util/time.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';

const NS = 'default';
const NAME = 'kubernetes';
const KEY = `${NS}/${NAME}`;
const LEASE_NS = 'kube-system';
/** Upstream's label on kube-apiserver identity Leases. */
export const IDENTITY_LABEL = 'apiserver.kubernetes.io/identity';
export const IDENTITY_VALUE = 'kube-apiserver';
/** Where each server's Lease says clients reach it. */
export const ADVERTISE_ADDRESS_ANNOTATION = 'k8ts.io/advertise-address';
export const ADVERTISE_PORT_ANNOTATION = 'k8ts.io/advertise-port';
/** Expired identity Leases are deleted after an hour, as upstream's garbage collector does. */
const LEASE_GC_MS = 3_600_000;

export interface KubernetesServiceOptions {
  /** The service's ClusterIP: the first usable address of the service CIDR. */
  serviceIP: string;
  /** Where clients reach this API server: the endpoint's address and port. */
  address: string;
  port: number;
  /** This server's name in its identity Lease (default: the host's name; servers sharing a host need their own). */
  serverName?: string;
  /** How long an identity Lease lasts unrenewed (default 15 s, as upstream's master lease TTL). */
  leaseDurationSeconds?: number;
  /** Time between passes and renewals (default 5 s). */
  intervalMs?: number;
  log?: (line: string) => void;
}

/** Upstream's API server ID: "apiserver-" + base32 of the first 16 bytes of sha256(len-prefixed hostname,
 *  len-prefixed "kube-apiserver"), lowercased, unpadded. It names the server's identity Lease. */
export function apiserverId(host: string): string {
  const field = (s: string) => {
    const b = Buffer.from(s);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    return Buffer.concat([len, b]);
  };
  const hash = createHash('sha256')
    .update(Buffer.concat([field(host), field(IDENTITY_VALUE)]))
    .digest()
    .subarray(0, 16);
  return `apiserver-${base32(hash).toLowerCase()}`;
}

function base32(b: Buffer): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += A[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += A[(value << (5 - bits)) & 31];
  return out;
}

/** An API server that clients can reach, from its identity Lease. */
interface LiveServer {
  address: string;
  port: number;
}

const sameJSON = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export class KubernetesService implements Controller {
  private client: Client;
  private queue!: WorkQueue;
  private timer?: NodeJS.Timeout;
  private services: SharedInformer<Service>;
  private slices: SharedInformer<EndpointSlice>;
  private endpoints: SharedInformer<Endpoints>;
  private leases: SharedInformer<Lease>;
  private regs = new Registrations();
  /** Endpoint objects are skipped when the address may not be an endpoint (loopback, unspecified). */
  private endpointsUsable: boolean;
  readonly leaseName: string;
  private readonly holder: string;
  private readonly durationS: number;
  private readonly log: (line: string) => void;
  private stopped = false;

  private readonly qm: QueueMetrics | undefined;

  constructor(
    ctx: ControllerContext,
    private o: KubernetesServiceOptions,
  ) {
    this.qm = queueMetrics(ctx, 'k8ts_kubernetes_service');
    this.client = ctx.client;
    const ip = parseIP(o.address);
    this.endpointsUsable = Boolean(ip && !isLoopback(ip) && !isUnspecified(ip));
    const host = o.serverName ?? hostname();
    this.leaseName = apiserverId(host);
    this.holder = `${this.leaseName}_${randomUUID()}`;
    this.durationS = o.leaseDurationSeconds ?? 15;
    this.log = o.log ?? ((l) => console.error(l));
    this.services = ctx.informers.informerFor(SERVICES);
    this.slices = ctx.informers.informerFor(SLICES);
    this.endpoints = ctx.informers.informerFor(ENDPOINTS);
    this.leases = ctx.informers.informerFor(LEASES, { namespace: LEASE_NS, labelSelector: `${IDENTITY_LABEL}=${IDENTITY_VALUE}` });
  }

  async start(): Promise<void> {
    this.stopped = false;
    if (!this.endpointsUsable) {
      this.log(
        `kubernetes service: advertise address ${this.o.address} cannot be an endpoint (loopback or unspecified); ` +
          'the service gets no EndpointSlice or Endpoints: set --advertise-address to an address pods can reach',
      );
    }
    this.queue = new WorkQueue(() => this.reconcile(), {
      workers: 1,
      metrics: this.qm,
      onError: (_k, e) => this.log(`kubernetes service: ${e instanceof Error ? e.message : e}`),
    });
    await this.renewIdentity().catch((e) => this.log(`kubernetes service: identity lease: ${e instanceof Error ? e.message : e}`));
    await Promise.all([this.services, this.slices, this.endpoints, this.leases].map((i) => i.waitForSync()));
    // The first pass is done before start returns, so a server that is up has its service and endpoints:
    // a client's first request may ask for them. Nothing else runs a pass yet (no handlers, no queue);
    // a failure is logged and the queue's passes below retry.
    await this.reconcile().catch((e) => this.log(`kubernetes service: ${e instanceof Error ? e.message : e}`));
    const poke = (o: { metadata: { namespace?: string; name?: string } }) => {
      if (o.metadata.namespace === NS && o.metadata.name === NAME) this.queue.add(KEY);
    };
    const onMine = { onAdd: poke, onUpdate: poke, onDelete: poke };
    const any = () => this.queue.add(KEY);
    this.regs.add(
      this.services.addEventHandler(onMine),
      this.slices.addEventHandler(onMine),
      this.endpoints.addEventHandler(onMine),
      this.leases.addEventHandler({ onAdd: any, onUpdate: any, onDelete: any }),
    );
    this.queue.start();
    this.queue.add(KEY);
    // Each tick renews this server's Lease and looks again: others' Leases expire by time, not by events.
    this.timer = setInterval(() => {
      void this.renewIdentity().catch((e) => this.log(`kubernetes service: identity lease: ${e instanceof Error ? e.message : e}`));
      this.queue.add(KEY);
    }, this.o.intervalMs ?? 5_000);
    this.timer.unref();
  }

  /** Stop; on a clean shutdown this server's Lease goes and the endpoints are written without it. */
  async stopAndRemove(): Promise<void> {
    this.stop();
    try {
      await this.client.delete(LEASES, LEASE_NS, this.leaseName, { preconditions: {} });
      await this.reconcile([{ name: this.leaseName, gone: true }]);
    } catch (e) {
      if (errorCode(e) !== 404) this.log(`kubernetes service: removing this server: ${e instanceof Error ? e.message : e}`);
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.regs.removeAll();
    this.queue?.stop();
  }

  /** Create or renew this server's identity Lease, naming where clients reach it. */
  async renewIdentity(): Promise<void> {
    if (this.stopped) return;
    const spec = { holderIdentity: this.holder, leaseDurationSeconds: this.durationS, renewTime: microNow() };
    const meta = {
      labels: { [IDENTITY_LABEL]: IDENTITY_VALUE, 'kubernetes.io/hostname': this.o.serverName ?? hostname() },
      annotations: { [ADVERTISE_ADDRESS_ANNOTATION]: this.o.address, [ADVERTISE_PORT_ANNOTATION]: String(this.o.port) },
    };
    try {
      await this.client.patch(LEASES, LEASE_NS, this.leaseName, 'merge', { metadata: meta, spec });
    } catch (e) {
      if (errorCode(e) !== 404) throw e;
      await this.client.create(LEASES, LEASE_NS, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.leaseName, namespace: LEASE_NS, ...meta },
        spec: { ...spec, acquireTime: spec.renewTime },
      });
    }
  }

  /** The API servers whose identity Leases are fresh, sorted; expired Leases older than an hour are deleted. */
  private async liveServers(exclude: { name: string; gone: boolean }[] = []): Promise<LiveServer[]> {
    const now = Date.now();
    const out = new Map<string, LiveServer>();
    for (const l of this.leases.lister.list()) {
      if (exclude.some((x) => x.name === l.metadata.name)) continue;
      const renewed = Date.parse(l.spec?.renewTime ?? '');
      const until = renewed + (l.spec?.leaseDurationSeconds ?? 0) * 1000;
      if (!Number.isFinite(renewed) || until < now) {
        if (now - (Number.isFinite(until) ? until : 0) > LEASE_GC_MS) {
          await this.client.delete(LEASES, LEASE_NS, l.metadata.name!, { preconditions: { uid: l.metadata.uid } }).catch(() => {});
        }
        continue;
      }
      const address = l.metadata.annotations?.[ADVERTISE_ADDRESS_ANNOTATION] ?? '';
      const port = Number(l.metadata.annotations?.[ADVERTISE_PORT_ANNOTATION]);
      const ip = parseIP(address);
      if (!ip || isLoopback(ip) || isUnspecified(ip) || !Number.isInteger(port) || port < 1 || port > 65535) continue;
      out.set(`${address}:${port}`, { address, port });
    }
    // This server is live while it runs, even before its own Lease reaches the cache.
    if (this.endpointsUsable && !exclude.length) out.set(`${this.o.address}:${this.o.port}`, { address: this.o.address, port: this.o.port });
    return [...out.values()].sort((a, b) => a.address.localeCompare(b.address, 'en', { numeric: true }) || a.port - b.port);
  }

  /** One pass over the three objects. */
  async reconcile(exclude: { name: string; gone: boolean }[] = []): Promise<void> {
    await this.reconcileService();
    const live = (await this.liveServers(exclude)).filter((s) => {
      const ip = parseIP(s.address);
      return ip && isV4(ip) === (this.addressType() === 'IPv4');
    });
    if (!this.endpointsUsable && !live.length) return;
    // Every server must serve on the same port for one slice to list them all (as upstream requires); the
    // most common port wins, the lowest on a tie, so all servers compute the same answer.
    const byPort = new Map<number, string[]>();
    for (const s of live) byPort.set(s.port, [...(byPort.get(s.port) ?? []), s.address]);
    const [port, addresses] = [...byPort].sort((a, b) => b[1].length - a[1].length || a[0] - b[0])[0] ?? [this.o.port, []];
    if (byPort.size > 1)
      this.log(`kubernetes service: API servers advertise different ports (${[...byPort.keys()].join(', ')}); endpoints list those on ${port}`);
    await this.reconcileSlice(addresses, port);
    await this.reconcileEndpoints(addresses, port);
  }

  private get ports() {
    return [{ name: 'https', protocol: 'TCP', port: 443, targetPort: this.o.port }];
  }

  private async reconcileService(): Promise<void> {
    const cur = this.services.lister.get(NS, NAME) ?? (await this.client.get(SERVICES, NS, NAME));
    if (cur && cur.spec?.clusterIP !== this.o.serviceIP) {
      // The ClusterIP is immutable: a service from another service CIDR is replaced.
      await ignore([404, 409], () => this.client.delete(SERVICES, NS, NAME, { preconditions: { uid: cur.metadata.uid } }));
    } else if (cur) {
      const ports = (cur.spec?.ports ?? []).map((p) => ({ name: p.name, protocol: p.protocol, port: p.port, targetPort: p.targetPort }));
      const selector = cur.spec?.selector;
      const labels = cur.metadata.labels ?? {};
      if (
        sameJSON(ports, this.ports) &&
        cur.spec?.type === 'ClusterIP' &&
        !(selector && Object.keys(selector).length) &&
        labels.component === 'apiserver' &&
        labels.provider === 'kubernetes'
      )
        return;
      const next = structuredClone(cur);
      next.metadata.labels = { ...labels, component: 'apiserver', provider: 'kubernetes' };
      next.spec = { ...next.spec, type: 'ClusterIP', ports: this.ports };
      delete next.spec.selector;
      await ignore([404, 409], () => this.client.update(SERVICES, NS, next));
      return;
    }
    await ignore([409], () =>
      this.client.create(SERVICES, NS, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: NAME, namespace: NS, labels: { component: 'apiserver', provider: 'kubernetes' } },
        spec: { type: 'ClusterIP', clusterIP: this.o.serviceIP, clusterIPs: [this.o.serviceIP], ports: this.ports, sessionAffinity: 'None' },
      }),
    );
  }

  private addressType(): 'IPv4' | 'IPv6' {
    const ip = parseIP(this.o.address);
    return !ip || isV4(ip) ? 'IPv4' : 'IPv6';
  }

  private async reconcileSlice(addresses: string[], port: number): Promise<void> {
    const want = {
      addressType: this.addressType(),
      endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
      ports: [{ name: 'https', port, protocol: 'TCP' }],
    };
    const label = { 'kubernetes.io/service-name': NAME };
    const cur = this.slices.lister.get(NS, NAME) ?? (await this.client.get(SLICES, NS, NAME));
    if (cur) {
      const have = {
        addressType: cur.addressType,
        endpoints: (cur.endpoints ?? []).map((e) => ({ addresses: e.addresses, conditions: { ready: e.conditions?.ready } })),
        ports: (cur.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
      };
      if (sameJSON(have, want) && cur.metadata.labels?.['kubernetes.io/service-name'] === NAME) return;
      if (cur.addressType !== want.addressType) {
        // addressType is immutable.
        await ignore([404, 409], () => this.client.delete(SLICES, NS, NAME, { preconditions: { uid: cur.metadata.uid } }));
      } else {
        const next: EndpointSlice = { ...structuredClone(cur), ...want };
        next.metadata.labels = { ...(cur.metadata.labels ?? {}), ...label };
        await ignore([404, 409], () => this.client.update(SLICES, NS, next));
        return;
      }
    }
    await ignore([409], () =>
      this.client.create(SLICES, NS, { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: NAME, labels: label }, ...want }),
    );
  }

  private async reconcileEndpoints(addresses: string[], port: number): Promise<void> {
    const subsets = addresses.length ? [{ addresses: addresses.map((ip) => ({ ip })), ports: [{ name: 'https', port, protocol: 'TCP' }] }] : [];
    // The API server's Endpoints are not to be mirrored into a second slice.
    const label = { 'endpointslice.kubernetes.io/skip-mirror': 'true' };
    const cur = this.endpoints.lister.get(NS, NAME) ?? (await this.client.get(ENDPOINTS, NS, NAME));
    if (cur) {
      const have = (cur.subsets ?? []).map((s) => ({
        addresses: (s.addresses ?? []).map((a) => ({ ip: a.ip })),
        ports: (s.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
      }));
      if (sameJSON(have, subsets) && cur.metadata.labels?.['endpointslice.kubernetes.io/skip-mirror'] === 'true') return;
      const next: Endpoints = { ...structuredClone(cur), subsets };
      next.metadata.labels = { ...(cur.metadata.labels ?? {}), ...label };
      await ignore([404, 409], () => this.client.update(ENDPOINTS, NS, next));
      return;
    }
    await ignore([409], () => this.client.create(ENDPOINTS, NS, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: NAME, labels: label }, subsets }));
  }
}

/** Runs f; an API error with one of these codes means another writer got there first (the next pass looks again). */
async function ignore(codes: number[], f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!codes.includes(errorCode(e) ?? 0)) throw e;
  }
}
