// What a pod contributes to a service's endpoints: selection, readiness, target-port resolution, hostname,
// shared by the EndpointSlice and Endpoints controllers so both views of a service always agree.
import type { OwnerReference, Pod, Service, ServicePort } from '../api/types.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

/** A service whose endpoints a controller derives from pods: it has a selector and is not ExternalName. */
export function hasSelector(svc: Service): boolean {
  return svc.spec?.type !== 'ExternalName' && Object.keys(svc.spec?.selector ?? {}).length > 0;
}

export function selects(svc: Service, labels: Record<string, string> | undefined): boolean {
  const sel = svc.spec?.selector ?? {};
  const keys = Object.keys(sel);
  return keys.length > 0 && keys.every((k) => labels?.[k] === sel[k]);
}

export function isTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** The pod's IPv4 address, from podIPs or the older singular field. */
export function podIPv4(pod: Pod): string | undefined {
  const ips = [...(pod.status?.podIPs ?? []).map((p) => p.ip ?? ''), pod.status?.podIP ?? ''];
  return ips.find((ip) => /^\d{1,3}(\.\d{1,3}){3}$/.test(ip));
}

/** The pods that back a service: selected, in its namespace, with an IP, not finished. */
export function backingPods(svc: Service, pods: Iterable<Pod>): Pod[] {
  const out: Pod[] = [];
  for (const p of pods) {
    if (p.metadata.namespace !== svc.metadata.namespace || !selects(svc, p.metadata.labels)) continue;
    if (isTerminal(p) || !podIPv4(p)) continue;
    out.push(p);
  }
  return out.sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
}

/** The port a service port reaches on this pod: a number, or the pod's containerPort of that name and
 *  protocol; undefined when the pod has no such named port (it then gets no endpoint for that port). */
export function resolveTargetPort(svcPort: ServicePort, pod: Pod): number | undefined {
  const t = svcPort.targetPort ?? svcPort.port;
  if (typeof t === 'number') return t;
  if (typeof t === 'string' && /^\d+$/.test(t)) return Number(t);
  const protocol = svcPort.protocol ?? 'TCP';
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name === t && (p.protocol ?? 'TCP') === protocol && typeof p.containerPort === 'number') return p.containerPort;
    }
  }
  return undefined;
}

export interface ResolvedPort {
  name: string;
  protocol: string;
  port: number;
  appProtocol?: string;
}

/** The service's ports as this pod serves them, in service order, leaving out ports the pod lacks. */
export function podPorts(svc: Service, pod: Pod): ResolvedPort[] {
  const out: ResolvedPort[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const port = resolveTargetPort(sp, pod);
    if (port === undefined) continue;
    const r: ResolvedPort = { name: sp.name ?? '', protocol: sp.protocol ?? 'TCP', port };
    if (sp.appProtocol) r.appProtocol = sp.appProtocol;
    out.push(r);
  }
  return out;
}

/** The DNS hostname a pod gets under a headless service: spec.hostname when spec.subdomain names the service. */
export function podHostname(svc: Service, pod: Pod): string | undefined {
  const h = pod.spec?.hostname;
  return h && pod.spec?.subdomain === svc.metadata.name && pod.metadata.namespace === svc.metadata.namespace ? h : undefined;
}

export function podTargetRef(pod: Pod): { kind: string; namespace: string; name: string; uid: string } {
  return { kind: 'Pod', namespace: pod.metadata.namespace!, name: pod.metadata.name!, uid: pod.metadata.uid! };
}

/** Labels a controller puts on a service's derived objects: the service's own, plus the headless mark. */
export function derivedLabels(svc: Service): Record<string, string> {
  const l: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
  if (svc.spec?.clusterIP === 'None') l[HEADLESS_LABEL] = '';
  else delete l[HEADLESS_LABEL];
  return l;
}

/** JSON with object keys sorted: equal strings mean equal content, whatever order fields were written in. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, x[k]]),
        )
      : x,
  );
}

export function sameContent(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

export function controllerRef(svc: Service): OwnerReference {
  return { apiVersion: 'v1', kind: 'Service', name: svc.metadata.name!, uid: svc.metadata.uid!, controller: true, blockOwnerDeletion: true };
}
