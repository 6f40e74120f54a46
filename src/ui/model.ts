// What the topology page draws, cut from the API objects: only the fields a picture needs, so a page with
// 300 pods loads a small snapshot and each watch event becomes one small message.
import type { KObject, Node } from '../api/types.js';

export type Kind = 'Node' | 'Pod' | 'Service' | 'EndpointSlice' | 'NetworkPolicy' | 'Namespace';

export interface Slim {
  kind: Kind;
  /** namespace/name, or name for cluster-scoped kinds. */
  key: string;
  [field: string]: unknown;
}

const internalIP = (n: Node) => (n.status?.addresses ?? []).find((a: any) => a.type === 'InternalIP')?.address as string | undefined;
const key = (o: KObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!);

export function slim(kind: Kind, o: KObject): Slim {
  const base = { kind, key: key(o), name: o.metadata.name, namespace: o.metadata.namespace };
  switch (kind) {
    case 'Node':
      return { ...base, ip: internalIP(o), podCIDR: o.spec?.podCIDR,
        ready: (o.status?.conditions ?? []).find((c: any) => c.type === 'Ready')?.status === 'True' };
    case 'Pod':
      return { ...base, node: o.spec?.nodeName, ip: o.status?.podIP, phase: o.status?.phase ?? 'Pending', deleting: !!o.metadata.deletionTimestamp,
        hostNetwork: !!o.spec?.hostNetwork, labels: o.metadata.labels ?? {},
        ready: (o.status?.conditions ?? []).find((c: any) => c.type === 'Ready')?.status === 'True',
        containers: (o.spec?.containers ?? []).map((c: any) => ({ name: c.name, image: c.image, ports: (c.ports ?? []).map((p: any) => `${p.containerPort}/${p.protocol ?? 'TCP'}`) })) };
    case 'Service':
      return { ...base, type: o.spec?.type ?? 'ClusterIP', clusterIP: o.spec?.clusterIP, selector: o.spec?.selector,
        ports: (o.spec?.ports ?? []).map((p: any) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP', targetPort: p.targetPort, nodePort: p.nodePort })),
        lbIPs: (o.status?.loadBalancer?.ingress ?? []).map((i: any) => i.ip).filter(Boolean), externalIPs: o.spec?.externalIPs ?? [] };
    case 'EndpointSlice':
      return { ...base, service: o.metadata.labels?.['kubernetes.io/service-name'],
        endpoints: (o.endpoints ?? []).map((e: any) => ({ ip: e.addresses?.[0], ready: e.conditions?.ready !== false, pod: e.targetRef?.kind === 'Pod' ? e.targetRef.name : undefined, node: e.nodeName })),
        ports: (o.ports ?? []).map((p: any) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' })) };
    case 'NetworkPolicy':
      return { ...base, spec: o.spec ?? {} };
    case 'Namespace':
      return { ...base, labels: o.metadata.labels ?? {} };
  }
}
