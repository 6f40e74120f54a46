// The cluster zone (Kubernetes DNS-Based Service Discovery, schema 1.0.1) built from Services and
// EndpointSlices, updated object by object, and the lookup that turns a question into an answer.
import type { EndpointSlice, KObject, Namespace as KNamespace, Service } from '../api/types.js';
import { isV4, parseIP } from '../api/ipaddr.js';
import type { EventHandler } from '../client/informer.js';
import { CLASS_IN, RCODE, TYPE, nameToLabels, type ResourceRecord } from './message.js';

export const SCHEMA_VERSION = '1.0.1';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const TOLERATE_UNREADY = 'service.alpha.kubernetes.io/tolerate-unready-endpoints';
/** How many CNAMEs inside the zone one answer follows. */
const MAX_CHAIN = 8;

export interface ZoneOptions {
  /** The cluster domain; default cluster.local. */
  domain?: string;
  /** TTL of every record and of negative answers; default 5 s (CoreDNS's default). */
  ttl?: number;
  /** Addresses `ns.dns.<domain>` answers with (the kube-dns service IP); the apex NS names it. */
  nameservers?: string[];
  /** Answer `a-b-c-d.<ns>.pod.<domain>` with a.b.c.d without checking a pod has it (kube-dns's "insecure"); default on. */
  podRecords?: boolean;
}

export interface Answer {
  rcode: number;
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
  /** The answer ends in a CNAME to this name outside the zone: the server may resolve it upstream. */
  chase?: string;
  /** Follows a CNAME to another name in the zone, so any change may alter it. */
  volatile?: boolean;
}

interface ServiceEntry {
  ns: string;
  name: string;
  svc?: Service;
  slices: Map<string, EndpointSlice>;
  /** Names this service contributes records (or empty non-terminals) to. */
  names: string[];
}

interface Namespace {
  services: number;
  explicit: boolean;
}

type Node = Map<string, ResourceRecord[]>;

const lc = (s: unknown): string => String(s ?? '').toLowerCase();

/** d.c.b.a.in-addr.arpa or the ip6.arpa nibble name of an address; undefined for non-IPs. */
export function reverseName(address: string): string | undefined {
  const ip = parseIP(address);
  if (!ip) return undefined;
  if (isV4(ip)) return `${ip[15]}.${ip[14]}.${ip[13]}.${ip[12]}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) nibbles.push((ip[i] & 0xf).toString(16), (ip[i] >> 4).toString(16));
  return `${nibbles.join('.')}.ip6.arpa`;
}

function ipRecord(name: string, address: string, ttl: number): ResourceRecord | undefined {
  const ip = parseIP(address);
  if (!ip) return undefined;
  return { name, type: isV4(ip) ? TYPE.A : TYPE.AAAA, class: CLASS_IN, ttl, data: { kind: 'ip', address } };
}

/** The label an endpoint without a hostname goes by: its address with dashes (10-244-1-5). */
export function dashedAddress(address: string): string {
  return address.toLowerCase().replace(/[.:]/g, '-');
}

/** A name that can go on the wire (labels of 1-63 bytes, 255 in all): what an ExternalName must be to be served. */
function isWireName(name: string): boolean {
  try {
    nameToLabels(name);
    return true;
  } catch {
    return false;
  }
}

export class ClusterZone {
  readonly domain: string;
  readonly ttl: number;
  private readonly podRecords: boolean;
  private readonly nodes = new Map<string, Node>();
  private readonly services = new Map<string, ServiceEntry>();
  /** Slice key → service key, so a slice that moves or loses its label is removed from the old one. */
  private readonly sliceOwner = new Map<string, string>();
  private readonly namespaces = new Map<string, Namespace>();
  private readonly listeners: ((names: string[]) => void)[] = [];
  private readonly soa: ResourceRecord;

  constructor(opts: ZoneOptions = {}) {
    this.domain = lc(opts.domain ?? 'cluster.local').replace(/\.$/, '');
    this.ttl = opts.ttl ?? 5;
    this.podRecords = opts.podRecords ?? true;
    const d = this.domain;
    this.soa = {
      name: d,
      type: TYPE.SOA,
      class: CLASS_IN,
      ttl: this.ttl,
      data: {
        kind: 'soa',
        mname: `ns.dns.${d}`,
        rname: `hostmaster.${d}`,
        serial: Math.floor(Date.now() / 1000),
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: this.ttl,
      },
    };
    const fixed: ResourceRecord[] = [
      this.soa,
      { name: d, type: TYPE.NS, class: CLASS_IN, ttl: this.ttl, data: { kind: 'name', target: `ns.dns.${d}` } },
      { name: `dns-version.${d}`, type: TYPE.TXT, class: CLASS_IN, ttl: this.ttl, data: { kind: 'txt', texts: [SCHEMA_VERSION] } },
    ];
    for (const ip of opts.nameservers ?? []) {
      const rr = ipRecord(`ns.dns.${d}`, ip, this.ttl);
      if (rr) fixed.push(rr);
    }
    const byName = new Map<string, ResourceRecord[]>();
    for (const n of [`dns.${d}`, `svc.${d}`, `pod.${d}`, `ns.dns.${d}`]) byName.set(n, []);
    for (const rr of fixed) byName.set(rr.name, [...(byName.get(rr.name) ?? []), rr]);
    for (const [n, rrs] of byName) this.add('#zone', n, rrs);
  }

  /** Called with the names whose answers changed (the server drops what it cached for them). */
  onChange(fn: (names: string[]) => void): void {
    this.listeners.push(fn);
  }

  get serviceCount(): number {
    return this.services.size;
  }

  get nameCount(): number {
    return this.nodes.size;
  }

  // -------------------------------------------------------------------------------------------------------
  // Feeding objects

  upsertService(svc: Service): void {
    const e = this.entry(svc.metadata.namespace ?? 'default', svc.metadata.name ?? '');
    if (e.svc && e.svc.metadata.uid === svc.metadata.uid && e.svc.metadata.resourceVersion === svc.metadata.resourceVersion && svc.metadata.resourceVersion)
      return;
    if (!e.svc) this.namespaceRef(e.ns, +1);
    e.svc = svc;
    this.rebuild(e);
  }

  deleteService(svc: Service): void {
    const key = `${svc.metadata.namespace ?? 'default'}/${svc.metadata.name}`;
    const e = this.services.get(key);
    if (!e?.svc) return;
    e.svc = undefined;
    this.namespaceRef(e.ns, -1);
    this.rebuild(e);
  }

  upsertSlice(slice: EndpointSlice): void {
    const sliceKey = `${slice.metadata.namespace ?? 'default'}/${slice.metadata.name}`;
    const svcName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    const owner = svcName ? `${slice.metadata.namespace ?? 'default'}/${svcName}` : undefined;
    const prev = this.sliceOwner.get(sliceKey);
    if (prev && prev !== owner) this.deleteSlice(slice);
    if (!owner || !svcName) return;
    const e = this.entry(slice.metadata.namespace ?? 'default', svcName);
    const old = e.slices.get(slice.metadata.name ?? '');
    if (old && old.metadata.uid === slice.metadata.uid && old.metadata.resourceVersion === slice.metadata.resourceVersion && slice.metadata.resourceVersion)
      return;
    e.slices.set(slice.metadata.name ?? '', slice);
    this.sliceOwner.set(sliceKey, owner);
    this.rebuild(e);
  }

  deleteSlice(slice: EndpointSlice): void {
    const sliceKey = `${slice.metadata.namespace ?? 'default'}/${slice.metadata.name}`;
    const owner = this.sliceOwner.get(sliceKey);
    if (!owner) return;
    this.sliceOwner.delete(sliceKey);
    const e = this.services.get(owner);
    if (!e) return;
    e.slices.delete(slice.metadata.name ?? '');
    this.rebuild(e);
  }

  /** Namespaces are also known from their services; feeding them makes `<ns>.svc.<domain>` exist while empty. */
  upsertNamespace(ns: KNamespace): void {
    const name = lc(ns.metadata.name);
    const n = this.namespaces.get(name);
    if (n?.explicit) return;
    this.namespaces.set(name, { services: n?.services ?? 0, explicit: true });
    if (!n) this.namespaceNode(name, true);
  }

  deleteNamespace(ns: KNamespace): void {
    const name = lc(ns.metadata.name);
    const n = this.namespaces.get(name);
    if (!n?.explicit) return;
    n.explicit = false;
    if (n.services === 0) {
      this.namespaces.delete(name);
      this.namespaceNode(name, false);
    }
  }

  /** Handlers to add to the informers of services, endpointslices and (optionally) namespaces. */
  handlers(kind: 'services'): EventHandler<Service>;
  handlers(kind: 'endpointslices'): EventHandler<EndpointSlice>;
  handlers(kind: 'namespaces'): EventHandler<KNamespace>;
  handlers(kind: 'services' | 'endpointslices' | 'namespaces'): EventHandler<Service> | EventHandler<EndpointSlice> | EventHandler<KNamespace> {
    const on = <T extends KObject>(up: (o: T) => void, del: (o: T) => void): EventHandler<T> => ({
      onAdd: (o) => up(o),
      onUpdate: (o, old) => o !== old && up(o),
      onDelete: (o) => del(o),
    });
    if (kind === 'services')
      return on<Service>(
        (o) => this.upsertService(o),
        (o) => this.deleteService(o),
      );
    if (kind === 'endpointslices')
      return on<EndpointSlice>(
        (o) => this.upsertSlice(o),
        (o) => this.deleteSlice(o),
      );
    return on<KNamespace>(
      (o) => this.upsertNamespace(o),
      (o) => this.deleteNamespace(o),
    );
  }

  private entry(ns: string, name: string): ServiceEntry {
    const key = `${ns}/${name}`;
    let e = this.services.get(key);
    if (!e) {
      e = { ns, name, slices: new Map(), names: [] };
      this.services.set(key, e);
    }
    return e;
  }

  private namespaceRef(ns: string, delta: number): void {
    const name = lc(ns);
    const n = this.namespaces.get(name) ?? { services: 0, explicit: false };
    const existed = this.namespaces.has(name);
    n.services += delta;
    if (n.services <= 0 && !n.explicit) {
      this.namespaces.delete(name);
      if (existed) this.namespaceNode(name, false);
    } else {
      this.namespaces.set(name, n);
      if (!existed) this.namespaceNode(name, true);
    }
  }

  private namespaceNode(ns: string, exists: boolean): void {
    const name = `${ns}.svc.${this.domain}`;
    if (exists) this.add('#ns', name, []);
    else this.remove('#ns', name);
    this.emit([name]);
  }

  // -------------------------------------------------------------------------------------------------------
  // Records of one service

  private rebuild(e: ServiceEntry): void {
    const key = `${e.ns}/${e.name}`;
    const records = e.svc ? this.serviceRecords(e.svc, [...e.slices.values()]) : new Map<string, ResourceRecord[]>();
    const changed = new Set(e.names);
    for (const n of e.names) this.remove(key, n);
    for (const [n, rrs] of records) {
      this.add(key, n, rrs);
      changed.add(n);
    }
    e.names = [...records.keys()];
    if (!e.svc && e.slices.size === 0) this.services.delete(key);
    this.emit([...changed]);
  }

  private serviceRecords(svc: Service, slices: EndpointSlice[]): Map<string, ResourceRecord[]> {
    const out = new Map<string, ResourceRecord[]>();
    const ttl = this.ttl;
    const seen = new Set<string>();
    const put = (rr: ResourceRecord) => {
      const id = `${rr.name} ${rr.type} ${JSON.stringify(rr.data)}`;
      if (seen.has(id)) return;
      seen.add(id);
      const list = out.get(rr.name);
      if (list) list.push(rr);
      else out.set(rr.name, [rr]);
    };
    const ns = lc(svc.metadata.namespace ?? 'default');
    const fqdn = `${lc(svc.metadata.name)}.${ns}.svc.${this.domain}`;
    const spec = svc.spec ?? {};
    if (spec.type === 'ExternalName') {
      const target = lc(spec.externalName).replace(/\.$/, '');
      if (target && isWireName(target)) put({ name: fqdn, type: TYPE.CNAME, class: CLASS_IN, ttl, data: { kind: 'name', target } });
    } else if (spec.clusterIP === 'None') {
      this.headlessRecords(svc, slices, fqdn, put);
    } else {
      const ips: string[] = Array.isArray(spec.clusterIPs) && spec.clusterIPs.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
      let any = false;
      for (const ip of ips) {
        const rr = ipRecord(fqdn, ip, ttl);
        if (!rr) continue;
        any = true;
        put(rr);
        const rev = reverseName(ip);
        if (rev) put({ name: rev, type: TYPE.PTR, class: CLASS_IN, ttl, data: { kind: 'name', target: fqdn } });
      }
      if (any) {
        for (const p of spec.ports ?? []) {
          if (!p?.name || !p.port) continue;
          put({
            name: `_${lc(p.name)}._${lc(p.protocol ?? 'TCP')}.${fqdn}`,
            type: TYPE.SRV,
            class: CLASS_IN,
            ttl,
            data: { kind: 'srv', priority: 0, weight: 100, port: Number(p.port), target: fqdn },
          });
        }
      }
    }
    // Empty non-terminals between the records and the namespace (e.g. _tcp.<svc>...).
    for (const n of [...out.keys()]) {
      if (!n.endsWith(`.${this.domain}`)) continue;
      for (let p = n.slice(n.indexOf('.') + 1); p !== fqdn && p.endsWith(fqdn); p = p.slice(p.indexOf('.') + 1)) {
        if (!out.has(p)) out.set(p, []);
      }
    }
    return out;
  }

  private headlessRecords(svc: Service, slices: EndpointSlice[], fqdn: string, put: (rr: ResourceRecord) => void): void {
    const ttl = this.ttl;
    const all = svc.spec?.publishNotReadyAddresses === true || svc.metadata.annotations?.[TOLERATE_UNREADY] === 'true';
    const srv = new Map<string, ResourceRecord[]>();
    const srvSeen = new Set<string>();
    for (const slice of slices) {
      if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
      const ports = (slice.ports ?? []).filter((p) => p?.name && p.port);
      for (const ep of slice.endpoints ?? []) {
        // A nil ready condition means unknown, which consumers take as ready.
        if (!all && ep?.conditions?.ready === false) continue;
        for (const address of ep?.addresses ?? []) {
          const host = ep.hostname ? lc(ep.hostname) : dashedAddress(address);
          const hostFqdn = `${host}.${fqdn}`;
          const a = ipRecord(fqdn, address, ttl);
          const ha = ipRecord(hostFqdn, address, ttl);
          if (!a || !ha) continue;
          put(a);
          put(ha);
          const rev = reverseName(address);
          if (rev) put({ name: rev, type: TYPE.PTR, class: CLASS_IN, ttl, data: { kind: 'name', target: hostFqdn } });
          for (const p of ports) {
            const name = `_${lc(p.name)}._${lc(p.protocol ?? 'TCP')}.${fqdn}`;
            const id = `${name} ${hostFqdn} ${p.port}`;
            if (srvSeen.has(id)) continue;
            srvSeen.add(id);
            const list = srv.get(name) ?? [];
            list.push({ name, type: TYPE.SRV, class: CLASS_IN, ttl, data: { kind: 'srv', priority: 0, weight: 0, port: Number(p.port), target: hostFqdn } });
            srv.set(name, list);
          }
        }
      }
    }
    // Equal shares of 100 (at least 1), as the records are equal alternatives.
    for (const list of srv.values()) {
      const weight = Math.max(1, Math.floor(100 / list.length));
      for (const rr of list) {
        if (rr.data.kind === 'srv') rr.data.weight = weight;
        put(rr);
      }
    }
  }

  private add(owner: string, name: string, rrs: ResourceRecord[]): void {
    let node = this.nodes.get(name);
    if (!node) this.nodes.set(name, (node = new Map()));
    node.set(owner, rrs);
  }

  private remove(owner: string, name: string): void {
    const node = this.nodes.get(name);
    if (!node) return;
    node.delete(owner);
    if (node.size === 0) this.nodes.delete(name);
  }

  private emit(names: string[]): void {
    if (names.length) for (const l of this.listeners) l(names);
  }

  // -------------------------------------------------------------------------------------------------------
  // Lookup

  /** True when `name` (lower case, no final dot) is the cluster domain or below it. */
  inZone(name: string): boolean {
    return name === this.domain || name.endsWith(`.${this.domain}`);
  }

  /**
   * The answer for a lower-cased name and type in class IN, or undefined when the name is not this server's
   * to answer (outside the domain, or a reverse name for an address no service has).
   */
  resolve(name: string, qtype: number): Answer | undefined {
    if (this.inZone(name)) return this.lookup(name, qtype, 0);
    if ((name.endsWith('.in-addr.arpa') || name.endsWith('.ip6.arpa')) && this.nodes.has(name)) {
      const a = this.lookup(name, qtype, 0);
      // Not the reverse zone's authority: no SOA to offer with a negative answer.
      a.authorities = [];
      return a;
    }
    return undefined;
  }

  private records(name: string): ResourceRecord[] | undefined {
    const node = this.nodes.get(name);
    if (node) {
      const out: ResourceRecord[] = [];
      for (const rrs of node.values()) for (const rr of rrs) out.push(rr);
      return out;
    }
    return this.podRecord(name);
  }

  /** a-b-c-d.<ns>.pod.<domain> → a.b.c.d; `<ns>.pod.<domain>` exists with no records. */
  private podRecord(name: string): ResourceRecord[] | undefined {
    if (!this.podRecords) return undefined;
    const suffix = `.pod.${this.domain}`;
    if (!name.endsWith(suffix)) return undefined;
    const labels = name.slice(0, -suffix.length).split('.');
    if (labels.length === 1) return labels[0] ? [] : undefined;
    if (labels.length !== 2) return undefined;
    const m = /^(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})$/.exec(labels[0]);
    if (!m) return undefined;
    const address = m.slice(1).map(Number).join('.');
    if (`${m.slice(1).join('.')}` !== address) return undefined;
    const rr = ipRecord(name, address, this.ttl);
    return rr && rr.type === TYPE.A ? [rr] : undefined;
  }

  private lookup(name: string, qtype: number, depth: number): Answer {
    const rrs = this.records(name);
    if (!rrs) return { rcode: RCODE.NXDOMAIN, answers: [], authorities: [this.soa], additionals: [] };
    const cname = rrs.find((r) => r.type === TYPE.CNAME);
    if (cname && qtype !== TYPE.CNAME && cname.data.kind === 'name') {
      const target = cname.data.target;
      if (!this.inZone(target)) return { rcode: RCODE.NOERROR, answers: [cname], authorities: [], additionals: [], chase: target };
      if (depth >= MAX_CHAIN) return { rcode: RCODE.NOERROR, answers: [cname], authorities: [], additionals: [], volatile: true };
      const rest = this.lookup(target, qtype, depth + 1);
      return { ...rest, answers: [cname, ...rest.answers], volatile: true };
    }
    const answers = qtype === TYPE.ANY ? rrs : rrs.filter((r) => r.type === qtype);
    if (!answers.length) return { rcode: RCODE.NOERROR, answers: [], authorities: [this.soa], additionals: [] };
    const additionals: ResourceRecord[] = [];
    if (qtype === TYPE.SRV) {
      const seen = new Set<string>();
      for (const rr of answers) {
        if (rr.data.kind !== 'srv' || seen.has(rr.data.target)) continue;
        seen.add(rr.data.target);
        for (const t of this.nodes.get(rr.data.target)?.values() ?? []) for (const x of t) if (x.type === TYPE.A || x.type === TYPE.AAAA) additionals.push(x);
      }
    }
    return { rcode: RCODE.NOERROR, answers, authorities: [], additionals };
  }
}
