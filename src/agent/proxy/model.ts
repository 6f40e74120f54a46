// The service proxy's desired state: from Services and their EndpointSlices, one flat entry per service
// port saying which addresses and ports lead to which endpoints on this node, and how.
import type { EndpointSlice, Service } from '../../api/types.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface Endpoint {
  ip: string;
  port: number;
}

export interface ServicePortModel {
  /** `namespace/name:portName/PROTO`, stable across updates; the port name may be empty. */
  id: string;
  protocol: Protocol;
  /** The service port (ClusterIP, external and LoadBalancer IPs listen on it). */
  port: number;
  clusterIPs: string[];
  externalIPs: string[];
  loadBalancerIPs: string[];
  nodePort?: number;
  /** sessionAffinity ClientIP: how long a client sticks to its endpoint, in seconds. */
  affinitySeconds?: number;
  /** externalTrafficPolicy Local: NodePort/external/LB traffic only to this node's endpoints, no masquerade. */
  externalLocal: boolean;
  /** internalTrafficPolicy Local: ClusterIP traffic only to this node's endpoints. */
  internalLocal: boolean;
  /** Usable endpoints (ready; serving+terminating when none is ready), sorted, deduplicated. */
  endpoints: Endpoint[];
  /** The same choice made among this node's endpoints only. */
  localEndpoints: Endpoint[];
}

export interface NodeView {
  nodeName: string;
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** kube-proxy's default for sessionAffinityConfig.clientIP.timeoutSeconds (3 hours). */
export const DEFAULT_AFFINITY_SECONDS = 10800;

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const isIPv4 = (s: unknown): s is string => typeof s === 'string' && IPV4.test(s);

export interface SliceEndpoint {
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  local: boolean;
}

function protocolOf(p: unknown): Protocol | undefined {
  const v = p ?? 'TCP';
  return v === 'TCP' || v === 'UDP' || v === 'SCTP' ? v : undefined;
}

/** kube-proxy's rule: ready endpoints; when there is none, the ones still serving while terminating. */
export function usable<E extends SliceEndpoint>(eps: E[]): E[] {
  const ready = eps.filter((e) => e.ready);
  return ready.length ? ready : eps.filter((e) => e.serving && e.terminating);
}

/** Endpoints in address order, so the bucket each one gets in the backends map is stable. */
function sortDedupe(eps: Endpoint[]): Endpoint[] {
  if (eps.length < 2) return eps;
  let sorted = true;
  for (let i = 1; i < eps.length && sorted; i++) sorted = ipNumber(eps[i - 1].ip) * 65536 + eps[i - 1].port < ipNumber(eps[i].ip) * 65536 + eps[i].port;
  if (sorted) return eps;
  // Called once per service port on every sync: sort on a number and drop neighbours, no per-call Map.
  const keyed = eps.map((e) => ({ e, order: ipNumber(e.ip) * 65536 + e.port }));
  keyed.sort((a, b) => a.order - b.order);
  const out: Endpoint[] = [keyed[0].e];
  for (let i = 1; i < keyed.length; i++) if (keyed[i].order !== keyed[i - 1].order) out.push(keyed[i].e);
  return out;
}

/** A dotted quad (already validated) as a number, without splitting the string. */
function ipNumber(ip: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return n * 256 + part;
}

/** Whether a service gets rules at all: ExternalName and headless services do not. */
export function isProxied(svc: Service): boolean {
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') return false;
  const ips: unknown[] = spec.clusterIPs ?? (spec.clusterIP !== undefined ? [spec.clusterIP] : []);
  return ips.some(isIPv4);
}

/**
 * The flat model for every proxied service port. Slices are matched to services by the
 * kubernetes.io/service-name label and namespace; slice ports to service ports by name and protocol.
 */
export function buildModel(services: Service[], slices: EndpointSlice[], node: NodeView): ServicePortModel[] {
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const name = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!name) continue;
    const key = `${s.metadata.namespace ?? 'default'}/${name}`;
    let list = slicesBySvc.get(key);
    if (!list) slicesBySvc.set(key, (list = []));
    list.push(s);
  }
  const out: ServicePortModel[] = [];
  for (const svc of services) {
    out.push(...serviceModel(svc, slicesBySvc.get(`${svc.metadata.namespace ?? 'default'}/${svc.metadata.name}`) ?? [], node));
  }
  return out.sort(byId);
}

const byId = (a: ServicePortModel, b: ServicePortModel) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The model of one service's ports, from the slices that name it (the caller matched them by label and
 * namespace). Written to allocate little: a full sync runs it for every service, cold.
 */
export function serviceModel(svc: Service, slices: readonly EndpointSlice[], node: NodeView): ServicePortModel[] {
  if (!isProxied(svc)) return [];
  const out: ServicePortModel[] = [];
  const svcKey = `${svc.metadata.namespace ?? 'default'}/${svc.metadata.name}`;
  const spec = svc.spec ?? {};
  const clusterIPs = ((spec.clusterIPs ?? [spec.clusterIP]) as unknown[]).filter(isIPv4);
  const externalIPs = ((spec.externalIPs ?? []) as unknown[]).filter(isIPv4);
  const loadBalancerIPs = spec.type === 'LoadBalancer' ? ((svc.status?.loadBalancer?.ingress ?? []) as { ip?: string }[]).map((i) => i.ip).filter(isIPv4) : [];
  const affinitySeconds =
    spec.sessionAffinity === 'ClientIP' ? Number(spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS) : undefined;
  const hasNodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  const externalLocal = spec.externalTrafficPolicy === 'Local' && (hasNodePorts || externalIPs.length > 0);
  const internalLocal = spec.internalTrafficPolicy === 'Local';
  for (const sp of spec.ports ?? []) {
    const protocol = protocolOf(sp.protocol);
    const port = Number(sp.port);
    if (!protocol || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    const portName: string = sp.name ?? '';
    // usable() by hand: ready endpoints, else the serving+terminating ones; the same among local ones.
    const ready: Endpoint[] = [];
    const readyLocal: Endpoint[] = [];
    const fallback: Endpoint[] = [];
    const fallbackLocal: Endpoint[] = [];
    for (const slice of slices) {
      if ((slice.addressType ?? 'IPv4') !== 'IPv4') continue;
      let epPort = NaN;
      for (const p of slice.ports ?? []) {
        if ((p.name ?? '') === portName && protocolOf(p.protocol) === protocol) {
          epPort = Number(p.port);
          break;
        }
      }
      if (!Number.isInteger(epPort) || epPort < 1 || epPort > 65535) continue;
      for (const ep of slice.endpoints ?? []) {
        const c = ep.conditions ?? {};
        // A nil condition means "unknown", which consumers read as ready/serving; terminating defaults to no.
        const isReady = c.ready !== false;
        const serving = (c.serving ?? isReady) !== false;
        const terminating = c.terminating === true;
        if (!isReady && !(serving && terminating)) continue;
        const local = ep.nodeName === node.nodeName;
        for (const ip of (ep.addresses ?? []) as unknown[]) {
          if (!isIPv4(ip)) continue;
          const e = { ip, port: epPort };
          if (isReady) {
            ready.push(e);
            if (local) readyLocal.push(e);
          }
          if (serving && terminating) {
            fallback.push(e);
            if (local) fallbackLocal.push(e);
          }
        }
      }
    }
    out.push({
      id: `${svcKey}:${portName}/${protocol}`,
      protocol,
      port,
      clusterIPs,
      externalIPs,
      loadBalancerIPs,
      nodePort: hasNodePorts && sp.nodePort !== undefined && Number.isInteger(sp.nodePort) && sp.nodePort > 0 ? sp.nodePort : undefined,
      affinitySeconds: affinitySeconds !== undefined && affinitySeconds > 0 ? Math.floor(affinitySeconds) : undefined,
      externalLocal,
      internalLocal,
      endpoints: sortDedupe(ready.length ? ready : fallback),
      localEndpoints: sortDedupe(readyLocal.length ? readyLocal : fallbackLocal),
    });
  }
  return out.length > 1 ? out.sort(byId) : out;
}
