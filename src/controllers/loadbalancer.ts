// LoadBalancer IPs from a pool on the node network (as MetalLB or ServiceLB do for a lab): each LoadBalancer
// service of ours gets one free IPv4 in status.loadBalancer.ingress, a requested one when it is in the pool and
// free. The services' status is the record of what is taken, so a restart rebuilds it and never hands out twice.
import { SERVICES } from '../api/kinds.js';
import type { Service } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { EventRecorder } from '../client/events.js';
import { isNotFound, objectKey, type Client } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
export const LB_CLASS = 'k8ts.io/lb';
export const LB_IP_ANNOTATION = 'k8ts.io/loadbalancer-ip';

export interface IPRange {
  first: string;
  last: string;
}

export class PoolError extends Error {
  readonly code = 'InvalidLoadBalancerPool';
  constructor(message: string) {
    super(message);
    this.name = 'PoolError';
  }
}

export function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** "FIRST-LAST" (as the --lb-pool flag takes it) to a checked range. */
export function parseIPRange(s: string): IPRange {
  const [first, last, extra] = s.split('-');
  if (extra !== undefined || !first || !last)
    throw new PoolError(`load-balancer pool ${JSON.stringify(s)}: expected FIRST-LAST, e.g. 172.30.0.200-172.30.0.250`);
  checkRange({ first: first.trim(), last: last.trim() });
  return { first: first.trim(), last: last.trim() };
}

function checkRange(r: IPRange): { lo: number; hi: number } {
  const lo = ipToInt(r.first);
  const hi = ipToInt(r.last);
  if (lo === undefined) throw new PoolError(`load-balancer pool: first address ${JSON.stringify(r.first)} is not an IPv4 address`);
  if (hi === undefined) throw new PoolError(`load-balancer pool: last address ${JSON.stringify(r.last)} is not an IPv4 address`);
  if (lo > hi) throw new PoolError(`load-balancer pool: ${r.first} comes after ${r.last}`);
  return { lo, hi };
}

/** A service this controller serves: type LoadBalancer with no class, or ours. */
export function wantsPoolIP(svc: Service | undefined): boolean {
  if (!svc || svc.metadata.deletionTimestamp || svc.spec?.type !== 'LoadBalancer') return false;
  const cls = svc.spec?.loadBalancerClass;
  return !cls || cls === LB_CLASS;
}

function statusIPs(svc: Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((i) => String(i?.ip ?? '')).filter(Boolean);
}

export class LoadBalancerController implements Controller {
  private client: Client;
  private services: SharedInformer<Service>;
  private queue!: WorkQueue;
  private regs = new Registrations();
  private events: EventRecorder;
  private lo: number;
  private hi: number;
  /** IP → the service key holding it. */
  private holder = new Map<string, string>();
  /** Service key → its IP. */
  private held = new Map<string, string>();
  private poolText: string;

  private readonly qm: QueueMetrics | undefined;

  constructor(ctx: ControllerContext, pool: IPRange) {
    this.qm = queueMetrics(ctx, 'k8ts_loadbalancer');
    ({ lo: this.lo, hi: this.hi } = checkRange(pool));
    this.client = ctx.client;
    this.poolText = `${pool.first}-${pool.last}`;
    this.services = ctx.informers.informerFor(SERVICES);
    this.events = new EventRecorder(ctx.client, 'loadbalancer-controller');
  }

  async start(): Promise<void> {
    this.queue = new WorkQueue((key) => this.sync(key), {
      workers: 1,
      metrics: this.qm,
      onError: (key, err) => console.error(`loadbalancer controller: ${key}:`, err instanceof Error ? err.message : err),
    });
    await this.services.waitForSync();
    // What the API says is taken, before anything new is handed out.
    this.holder.clear();
    this.held.clear();
    for (const svc of this.services.lister.list()) {
      if (!wantsPoolIP(svc)) continue;
      const ip = statusIPs(svc).find((x) => this.inPool(x) && !this.holder.has(x));
      if (ip) this.claim(objectKey(svc), ip);
    }
    const changed = (s: Service) => this.queue.add(objectKey(s));
    this.regs.add(this.services.addEventHandler({ onAdd: changed, onUpdate: changed, onDelete: changed }, 30_000));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue?.stop();
  }

  /** IPs handed out now, IP → namespace/name. */
  allocations(): Map<string, string> {
    return new Map(this.holder);
  }

  private inPool(ip: string): boolean {
    const n = ipToInt(ip);
    return n !== undefined && n >= this.lo && n <= this.hi;
  }

  private claim(key: string, ip: string): void {
    this.holder.set(ip, key);
    this.held.set(key, ip);
  }

  private release(key: string): void {
    const ip = this.held.get(key);
    if (ip === undefined) return;
    this.held.delete(key);
    if (this.holder.get(ip) === key) this.holder.delete(ip);
    // An IP came free: services waiting for one get another try.
    for (const s of this.services.lister.list()) if (wantsPoolIP(s) && !this.held.has(objectKey(s))) this.queue.add(objectKey(s));
  }

  private firstFree(): string | undefined {
    for (let n = this.lo; n <= this.hi; n++) {
      const ip = intToIp(n);
      if (!this.holder.has(ip)) return ip;
    }
    return undefined;
  }

  private async sync(key: string): Promise<void> {
    const svc = this.services.lister.getByKey(key);
    if (!wantsPoolIP(svc)) {
      this.release(key);
      // Another class's service keeps whatever its own controller wrote; ours had its status cleared by the
      // API server when its type changed.
      return;
    }
    const s = svc!;
    const requested = s.metadata.annotations?.[LB_IP_ANNOTATION] || s.spec?.loadBalancerIP || '';
    const shown = statusIPs(s);
    let ip = this.held.get(key);
    // The status may name an IP we have not recorded (written before a restart, or by hand): take it if free.
    if (!ip) {
      const mine = shown.find((x) => this.inPool(x) && !this.holder.has(x));
      if (mine && (!requested || requested === mine)) this.claim(key, (ip = mine));
    }
    if (requested && ip !== requested) {
      const other = this.holder.get(requested);
      if (!this.inPool(requested) || (other && other !== key)) {
        if (ip) this.release(key);
        await this.clearStatus(s);
        const why = !this.inPool(requested) ? `is not in pool ${this.poolText}` : `is already in use by ${other}`;
        await this.events.record(s, 'Warning', 'AllocationFailed', `requested IP ${requested} ${why}`);
        return;
      }
      if (ip) this.release(key);
      this.claim(key, (ip = requested));
    }
    if (!ip) {
      const free = this.firstFree();
      if (!free) {
        if (shown.length) await this.clearStatus(s);
        await this.events.record(s, 'Warning', 'AllocationFailed', `no available IP in pool ${this.poolText}`);
        return;
      }
      this.claim(key, (ip = free));
    }
    if (shown.length === 1 && shown[0] === ip && (s.status?.loadBalancer?.ingress?.[0]?.ipMode ?? 'VIP') === 'VIP') return;
    try {
      await this.client.patch(
        SERVICES,
        s.metadata.namespace,
        s.metadata.name!,
        'merge',
        { status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } } },
        'status',
      );
    } catch (e) {
      // The claim stays only for an IP that the service really shows.
      this.release(key);
      if (isNotFound(e)) return;
      throw e;
    }
    await this.events.record(s, 'Normal', 'IPAllocated', `Assigned IP ["${ip}"]`);
  }

  private async clearStatus(s: Service): Promise<void> {
    if (!statusIPs(s).length) return;
    try {
      await this.client.patch(SERVICES, s.metadata.namespace, s.metadata.name!, 'merge', { status: { loadBalancer: { ingress: null } } }, 'status');
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}
