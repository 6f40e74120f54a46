// The allocation repair loop: compares the claims with the services that exist and fixes the gap.
// A claim whose owner is gone (or no longer uses the value) is released once it is older than a grace
// period (younger ones may belong to a write in flight); a value a service uses without a claim (a crash
// between steps, a lost claim) is claimed again. Two services using one value are reported, not changed.
import { SERVICES } from '../../api/kinds.js';
import { storagePrefix } from '../../api/resources.js';
import type { KObject } from '../../api/types.js';
import type { Store } from '../../store/types.js';
import type { Claim } from './claims.js';
import type { RangeAllocator } from './range.js';
import { type ServiceAllocations, heldPorts, heldValues } from './service.js';

export interface RepairOptions {
  /** A claim younger than this is never released (default 60 s). */
  graceMs?: number;
  /** Time between passes (default 3 minutes). */
  intervalMs?: number;
  log?: (msg: string) => void;
}

/** What one pass did, as "ip 10.96.0.5" / "port 30080" entries. */
export interface RepairReport {
  released: string[];
  claimed: string[];
  /** A value used by a service but held by another owner, or outside the configured range. */
  problems: string[];
}

interface Use {
  svc: KObject;
  alloc: RangeAllocator;
  value: string;
}

export class AllocationRepair {
  private timer?: NodeJS.Timeout;
  private running?: Promise<RepairReport>;
  private graceMs: number;
  private intervalMs: number;
  private log: (msg: string) => void;
  /** Problems already logged: a conflict found every pass is logged once per process. */
  private logged = new Set<string>();

  constructor(
    private store: Store,
    private alloc: ServiceAllocations,
    opts: RepairOptions = {},
  ) {
    this.graceMs = opts.graceMs ?? 60_000;
    this.intervalMs = opts.intervalMs ?? 180_000;
    this.log = opts.log ?? ((m) => console.error(`k8ts service allocation repair: ${m}`));
  }

  /** Passes on a timer (the caller runs the first one itself, so that start-up waits for it). */
  start(): void {
    this.timer = setInterval(() => void this.runOnce().catch((e) => this.log(`pass failed: ${e instanceof Error ? e.message : e}`)), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass; concurrent callers share it. */
  runOnce(): Promise<RepairReport> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<RepairReport> {
    const report: RepairReport = { released: [], claimed: [], problems: [] };
    const kinds: [string, RangeAllocator][] = [
      ['ip', this.alloc.ips],
      ['port', this.alloc.ports],
    ];
    // Claims first, services second: a claim made for a service created in between is then seen with
    // its service (and a young claim is left alone anyway).
    const claims = new Map<RangeAllocator, Claim[]>();
    for (const [, a] of kinds) claims.set(a, await a.claims.list());
    const services = await this.listServices();
    const byUid = new Map(services.map((s) => [s.metadata.uid, s]));
    const uses = new Map<string, Use[]>();
    for (const svc of services) {
      const h = heldValues(svc);
      const values: [RangeAllocator, string][] = [
        ...h.ips.map((v): [RangeAllocator, string] => [this.alloc.ips, v]),
        ...heldPorts(h).map((p): [RangeAllocator, string] => [this.alloc.ports, String(p)]),
      ];
      for (const [a, v] of values) {
        const label = `${a === this.alloc.ips ? 'ip' : 'port'} ${v}`;
        if (!a.contains(v)) {
          this.problem(
            report,
            `${label} of service ${svc.metadata.namespace}/${svc.metadata.name} is outside the range ${a === this.alloc.ips ? this.alloc.ips.range : this.alloc.ports.range}`,
          );
          continue;
        }
        const key = a.claims.keyOf(a.canonical(v));
        uses.set(key, [...(uses.get(key) ?? []), { svc, alloc: a, value: a.canonical(v) }]);
      }
    }
    const now = Date.now();
    /** Claims that stay, by key. */
    const claimed = new Map<string, Claim>();
    for (const [name, a] of kinds) {
      for (const c of claims.get(a)!) {
        const key = a.claims.keyOf(c.value);
        const owner = byUid.get(c.owner.uid);
        if (owner && (uses.get(key) ?? []).some((u) => u.svc === owner)) {
          claimed.set(key, c);
          continue;
        }
        const age = now - Date.parse(c.claimedAt);
        if (!(age >= this.graceMs)) {
          claimed.set(key, c);
          continue;
        }
        if (await a.claims.delete(c.value, c.revision)) {
          report.released.push(`${name} ${c.value}`);
          this.log(
            `released ${name} ${c.value}: its owner ${c.owner.namespace}/${c.owner.name} (uid ${c.owner.uid}) ${owner ? 'no longer uses it' : 'is gone'}`,
          );
        } else {
          claimed.set(key, c);
        }
      }
    }
    for (const [key, list] of uses) {
      const holder = claimed.get(key);
      if (holder) {
        for (const u of list) {
          if (u.svc.metadata.uid === holder.owner.uid) continue;
          this.problem(
            report,
            `${u.alloc === this.alloc.ips ? 'ip' : 'port'} ${u.value} of service ${u.svc.metadata.namespace}/${u.svc.metadata.name} is allocated to ${holder.owner.namespace}/${holder.owner.name} (two services use it)`,
          );
        }
        continue;
      }
      for (const u of list) {
        // Re-read: the service may have changed or gone since the list.
        const svc = await this.getService(u.svc);
        if (!svc) continue;
        const h = heldValues(svc);
        const still = [...h.ips, ...heldPorts(h).map(String)].some((v) => u.alloc.contains(v) && u.alloc.canonical(v) === u.value);
        if (!still) continue;
        const name = `${u.alloc === this.alloc.ips ? 'ip' : 'port'} ${u.value}`;
        const c = await u.alloc.claims.create(u.value, { namespace: svc.metadata.namespace ?? '', name: svc.metadata.name ?? '', uid: svc.metadata.uid ?? '' });
        if (c) {
          report.claimed.push(name);
          this.log(`claimed ${name} for service ${svc.metadata.namespace}/${svc.metadata.name}, which used it without a claim`);
          break;
        }
        const holder = await u.alloc.claims.get(u.value);
        if (holder && holder.owner.uid !== svc.metadata.uid) {
          this.problem(
            report,
            `${name} of service ${svc.metadata.namespace}/${svc.metadata.name} is allocated to ${holder.owner.namespace}/${holder.owner.name} (two services use it)`,
          );
        }
      }
    }
    return report;
  }

  private problem(report: RepairReport, msg: string): void {
    report.problems.push(msg);
    if (!this.logged.has(msg)) this.log(msg);
    this.logged.add(msg);
  }

  private async listServices(): Promise<KObject[]> {
    const out: KObject[] = [];
    const prefix = storagePrefix(SERVICES);
    let after: string | undefined;
    let revision: number | undefined;
    for (;;) {
      const page = await this.store.list(prefix, { limit: 1000, after, revision });
      revision = page.revision;
      for (const kv of page.items) out.push(JSON.parse(kv.value) as KObject);
      if (!page.more || page.items.length === 0) return out;
      after = page.items[page.items.length - 1].key;
    }
  }

  private async getService(svc: KObject): Promise<KObject | undefined> {
    const kv = await this.store.get(`${storagePrefix(SERVICES, svc.metadata.namespace)}${svc.metadata.name}`);
    const cur = kv ? (JSON.parse(kv.value) as KObject) : undefined;
    return cur && cur.metadata.uid === svc.metadata.uid ? cur : undefined;
  }
}
