// The registry's write hooks for Services: cluster IPs, node ports and the health-check node port are
// claimed before a service is written, given back if the write fails, and released when a service no
// longer needs them (type change) or is deleted. Errors are worded as Kubernetes words them.
import type { FieldError, KObject } from '../../api/types.js';
import type { Store } from '../../store/types.js';
import { goStringSlice, invalid } from '../../api/fielderror.js';
import { parseIP, isV4 } from '../../api/ipaddr.js';
import { arr, asObj, asString, isObj, type JsonObject } from '../../api/narrow.js';

import { errors } from '../../api/status.js';
import type { WriteHooks, WriteTxn } from '../registry.js';
import type { ClaimOwner } from './claims.js';
import { ClusterIPAllocator } from './clusterip.js';
import { NodePortAllocator } from './nodeport.js';
import { type Allocation, AllocationError, type RangeAllocator } from './range.js';

/** A Service's spec as a write carries it, before validation: each field is narrowed where read. */
type SpecFields = JsonObject;

export interface ServiceAllocatorOptions {
  /** IPv4 CIDR the cluster IPs come from (default 10.96.0.0/16). */
  serviceCidr?: string;
  /** Node port range, FIRST-LAST (default 30000-32767). */
  nodePortRange?: string;
  /** In [0, 1): replaceable for tests. */
  random?: () => number;
}

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';
export const DEFAULT_NODE_PORT_RANGE = '30000-32767';
/** What a dry run shows for a node port it did not allocate: Kubernetes counts up from here. */
const DRY_RUN_PORT_BASE = 32768;

/** What a service holds: cluster IPs, node ports, and the health-check node port. */
export interface HeldValues {
  ips: string[];
  nodePorts: number[];
  healthCheckNodePort?: number;
}

const isHeadless = (spec: SpecFields) => arr(spec.clusterIPs)[0] === 'None' || spec.clusterIP === 'None';
const hasNodePorts = (spec: SpecFields) => spec.type === 'NodePort' || spec.type === 'LoadBalancer';
const needsHealthCheck = (spec: SpecFields) => spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** The values a service, as stored, holds claims for. */
export function heldValues(svc: KObject): HeldValues {
  const spec = isObj(svc.spec) ? svc.spec : {};
  const out: HeldValues = { ips: [], nodePorts: [] };
  if (spec.type !== 'ExternalName' && !isHeadless(spec)) {
    const ips = arr(spec.clusterIPs).length ? arr(spec.clusterIPs) : [spec.clusterIP];
    out.ips = [...new Set(ips.filter((ip): ip is string => typeof ip === 'string' && ip !== '' && ip !== 'None'))];
  }
  if (hasNodePorts(spec))
    out.nodePorts = [
      ...new Set(
        arr(spec.ports)
          .map((p) => asObj(p).nodePort)
          .filter(isPort),
      ),
    ];
  if (needsHealthCheck(spec) && isPort(spec.healthCheckNodePort)) out.healthCheckNodePort = spec.healthCheckNodePort;
  return out;
}

/** Every port a service holds, node ports and health check alike (they share one range). */
export function heldPorts(h: HeldValues): number[] {
  return h.healthCheckNodePort ? [...new Set([...h.nodePorts, h.healthCheckNodePort])] : h.nodePorts;
}

function ownerOf(svc: KObject): ClaimOwner {
  return { namespace: svc.metadata.namespace ?? '', name: svc.metadata.name ?? '', uid: svc.metadata.uid ?? '' };
}

function familyOf(ip: string): 'IPv4' | 'IPv6' | undefined {
  const p = parseIP(ip);
  return p ? (isV4(p) ? 'IPv4' : 'IPv6') : undefined;
}

/** One create's or update's allocations: what it claimed (undone on failure) and what it will release
 *  (on success), each at the revision it saw. */
class Plan implements WriteTxn {
  made: { alloc: RangeAllocator; a: Allocation }[] = [];
  toRelease: { alloc: RangeAllocator; value: string; revision: number }[] = [];

  async commit(): Promise<void> {
    for (const r of this.toRelease) await bestEffort(`release ${r.value}`, () => r.alloc.claims.delete(r.value, r.revision));
  }

  async revert(): Promise<void> {
    for (const m of this.made.reverse()) await bestEffort(`give back ${m.a.value}`, () => m.alloc.undo(m.a));
    this.made = [];
  }
}

const NOTHING: WriteTxn = { commit: async () => {}, revert: async () => {} };

async function bestEffort(what: string, f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    // What is left behind is the repair loop's to fix.
    console.error(`k8ts service allocation: could not ${what}:`, e instanceof Error ? e.message : e);
  }
}

export class ServiceAllocations implements WriteHooks {
  readonly ips: ClusterIPAllocator;
  readonly ports: NodePortAllocator;

  constructor(store: Store, opts: ServiceAllocatorOptions = {}) {
    this.ips = new ClusterIPAllocator(store, opts.serviceCidr ?? DEFAULT_SERVICE_CIDR, opts.random);
    this.ports = new NodePortAllocator(store, opts.nodePortRange ?? DEFAULT_NODE_PORT_RANGE, opts.random);
  }

  beforeCreate(svc: KObject, dryRun: boolean): Promise<WriteTxn> {
    return this.allocate(svc, undefined, dryRun);
  }

  beforeUpdate(next: KObject, cur: KObject, dryRun: boolean): Promise<WriteTxn> {
    return this.allocate(next, cur, dryRun);
  }

  async afterDelete(svc: KObject): Promise<void> {
    const h = heldValues(svc);
    const uid = svc.metadata.uid ?? '';
    for (const ip of h.ips) if (this.ips.contains(ip)) await this.ips.release(this.ips.canonical(ip), uid);
    for (const p of heldPorts(h)) if (this.ports.contains(String(p))) await this.ports.release(String(p), uid);
  }

  /** Claims what next needs beyond what cur holds, and plans to release what cur holds beyond next. */
  private async allocate(next: KObject, cur: KObject | undefined, dryRun: boolean): Promise<WriteTxn> {
    if (!isObj(next.spec)) return NOTHING;
    const plan = new Plan();
    try {
      const old = cur ? heldValues(cur) : { ips: [], nodePorts: [] };
      await this.allocateIPs(next, old, plan, dryRun);
      await this.allocatePorts(next, old, plan, dryRun);
      if (dryRun) return NOTHING;
      await this.planReleases(next, old, plan);
      return plan;
    } catch (e) {
      await plan.revert();
      throw e;
    }
  }

  private async allocateIPs(svc: KObject, old: HeldValues, plan: Plan, dryRun: boolean): Promise<void> {
    const spec = svc.spec;
    if (!isObj(spec)) return;
    if (spec.type === 'ExternalName' || isHeadless(spec)) return;
    const famErrs = this.familyErrors(spec);
    if (famErrs.length) throw errors.invalid('Service', '', svc.metadata.name ?? '', famErrs);
    const want: string = asString(arr(spec.clusterIPs)[0]) || asString(spec.clusterIP) || '';
    let ip = want;
    if (!want) {
      if (dryRun) {
        ip = this.ips.networkAddress;
      } else {
        const a = await this.ips.allocateNext(ownerOf(svc)).catch((e) => {
          throw e instanceof AllocationError ? errors.internal(`failed to allocate a serviceIP: ${e.message}`) : e;
        });
        plan.made.push({ alloc: this.ips, a });
        ip = a.value;
      }
    } else if (!old.ips.includes(want)) {
      try {
        if (dryRun) await this.ips.check(want, svc.metadata.uid ?? '');
        else plan.made.push({ alloc: this.ips, a: await this.ips.allocate(want, ownerOf(svc)) });
      } catch (e) {
        if (!(e instanceof AllocationError)) throw e;
        throw errors.invalid('Service', '', svc.metadata.name ?? '', [
          invalid('spec.clusterIPs', goStringSlice(arr(spec.clusterIPs).length ? spec.clusterIPs : [want]), `failed to allocate IP ${want}: ${e.message}`),
        ]);
      }
    }
    spec.clusterIP = ip;
    spec.clusterIPs = [ip, ...arr(spec.clusterIPs).slice(1)];
  }

  /** This cluster is single-stack, of the service CIDR's family (IPv4). */
  private familyErrors(spec: SpecFields): FieldError[] {
    // Headless without a selector may name any families: nothing is allocated for it.
    if (isHeadless(spec) && !Object.keys(isObj(spec.selector) ? spec.selector : {}).length) return [];
    const errs: FieldError[] = [];
    const ips = arr(spec.clusterIPs).map(String);
    const fams = arr(spec.ipFamilies).map(String);
    if (spec.ipFamilyPolicy === 'SingleStack') {
      if (ips.length === 2)
        errs.push(
          invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"),
        );
      if (fams.length === 2)
        errs.push(
          invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"),
        );
    }
    ips.forEach((ip, i) => {
      const fam = ip === 'None' ? undefined : familyOf(ip);
      if (fam && fam !== 'IPv4') errs.push(invalid(`spec.clusterIPs[${i}]`, goStringSlice(spec.clusterIPs), `${fam} is not configured on this cluster`));
    });
    if (errs.length) return errs;
    if (spec.ipFamilyPolicy === 'RequireDualStack')
      errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, 'this cluster is not configured for dual-stack services'));
    fams.forEach((f, i) => {
      if (f !== 'IPv4') errs.push(invalid(`spec.ipFamilies[${i}]`, f, 'not configured on this cluster'));
    });
    return errs;
  }

  private async allocatePorts(svc: KObject, old: HeldValues, plan: Plan, dryRun: boolean): Promise<void> {
    const spec = svc.spec;
    if (!isObj(spec)) return;
    const oldPorts = new Set(heldPorts(old));
    const mine = new Set<number>();
    const madeNow: number[] = [];
    const owner = ownerOf(svc);
    const take = async (port: number): Promise<void> => {
      if (oldPorts.has(port) || mine.has(port)) return;
      if (dryRun) await this.ports.check(String(port), owner.uid);
      else plan.made.push({ alloc: this.ports, a: await this.ports.allocate(String(port), owner) });
      mine.add(port);
      madeNow.push(port);
    };
    const next = async (): Promise<number> => {
      let port: number;
      if (dryRun) {
        port = Math.max(DRY_RUN_PORT_BASE, ...madeNow) + 1;
      } else {
        const a = await this.ports.allocateNext(owner);
        plan.made.push({ alloc: this.ports, a });
        port = Number(a.value);
      }
      mine.add(port);
      madeNow.push(port);
      return port;
    };
    if (hasNodePorts(spec)) {
      const auto = spec.type === 'NodePort' || spec.allocateLoadBalancerNodePorts !== false;
      const ports = arr(spec.ports);
      // Ports with the same port number (TCP and UDP of one port) share one node port.
      const byPort = new Map<unknown, number>();
      for (let i = 0; i < ports.length; i++) {
        const p = ports[i];
        if (!isObj(p) || !isPort(p.nodePort)) continue;
        try {
          await take(p.nodePort);
        } catch (e) {
          if (!(e instanceof AllocationError)) throw e;
          throw errors.invalid('Service', '', svc.metadata.name ?? '', [invalid(`spec.ports[${i}].nodePort`, p.nodePort, e.message)]);
        }
        if (!byPort.has(p.port)) byPort.set(p.port, p.nodePort);
      }
      for (const p of ports) {
        if (!isObj(p) || isPort(p.nodePort) || !auto) continue;
        let port = byPort.get(p.port);
        if (port === undefined) {
          port = await next().catch((e) => {
            throw e instanceof AllocationError ? errors.internal(`failed to allocate a nodePort: ${e.message}`) : e;
          });
          byPort.set(p.port, port);
        }
        p.nodePort = port;
      }
    }
    if (needsHealthCheck(spec)) {
      const hc = spec.healthCheckNodePort;
      if (isPort(hc)) {
        try {
          // The health check may not share a port with the service's own node ports.
          if (hasNodePorts(spec) && arr(spec.ports).some((p) => asObj(p).nodePort === hc))
            throw new AllocationError('Allocated', 'provided port is already allocated');
          await take(hc);
        } catch (e) {
          if (!(e instanceof AllocationError)) throw e;
          throw errors.internal(`failed to allocate requested HealthCheck NodePort ${hc}: ${e.message}`);
        }
      } else {
        spec.healthCheckNodePort = await next().catch((e) => {
          // Kubernetes prints the port it did not get, which is always 0.
          throw e instanceof AllocationError ? errors.internal(`failed to allocate a HealthCheck NodePort 0: ${e.message}`) : e;
        });
      }
    }
  }

  /** What cur held and next does not: released on commit, if still ours at the revision seen now. */
  private async planReleases(next: KObject, old: HeldValues, plan: Plan): Promise<void> {
    const now = heldValues(next);
    const uid = next.metadata.uid ?? '';
    const gone = (alloc: RangeAllocator, before: string[], after: string[]) => {
      const keep = new Set(after.filter((v) => alloc.contains(v)).map((v) => alloc.canonical(v)));
      return before
        .filter((v) => alloc.contains(v))
        .map((v) => alloc.canonical(v))
        .filter((v) => !keep.has(v));
    };
    const todo: [RangeAllocator, string][] = [
      ...gone(this.ips, old.ips, now.ips).map((v): [RangeAllocator, string] => [this.ips, v]),
      ...gone(this.ports, heldPorts(old).map(String), heldPorts(now).map(String)).map((v): [RangeAllocator, string] => [this.ports, v]),
    ];
    for (const [alloc, value] of todo) {
      const c = await alloc.claims.get(value);
      if (c && c.owner.uid === uid) plan.toRelease.push({ alloc, value, revision: c.revision });
    }
  }
}
