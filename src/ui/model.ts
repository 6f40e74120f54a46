// What the topology page draws, cut from the API objects: only the fields a picture needs, so a page with
// 300 pods loads a small snapshot and each watch event becomes one small message.
import { ENDPOINTSLICES, NAMESPACES, NETWORKPOLICIES, NODES, PODS, SERVICES } from '../api/kinds.js';
import type { ResourceDef } from '../api/resources.js';
import type { EndpointSlice, KObject, Namespace, NetworkPolicy, Node, Pod, Service } from '../api/types.js';
import type { SharedInformerFactory } from '../client/factory.js';
import type { Registration } from '../client/informer.js';

export type Kind = 'Node' | 'Pod' | 'Service' | 'EndpointSlice' | 'NetworkPolicy' | 'Namespace';

export interface Slim {
  kind: Kind;
  /** namespace/name, or name for cluster-scoped kinds. */
  key: string;
  [field: string]: unknown;
}

/** One kind the page draws: its informer's objects, cut to `Slim`s. Each entry keeps its kind's type
 *  inside (`uiKind<Pod>`), so the server can hold them in one list without handling objects itself. */
export interface UiKind {
  kind: Kind;
  /** Every cached object, cut. */
  list(informers: SharedInformerFactory): Slim[];
  /** Calls `changed` with each add/update (with the old cut) and delete, cut. */
  watch(informers: SharedInformerFactory, changed: (op: 'upsert' | 'delete', s: Slim, old?: Slim) => void): Registration;
}

const key = (o: KObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!);
const ready = (conditions: { type: string; status: string }[] | undefined) => (conditions ?? []).find((c) => c.type === 'Ready')?.status === 'True';

function uiKind<T extends KObject>(kind: Kind, def: ResourceDef<T>, cut: (o: T) => Record<string, unknown>): UiKind {
  const slim = (o: T): Slim => ({ kind, key: key(o), name: o.metadata.name, namespace: o.metadata.namespace, ...cut(o) });
  return {
    kind,
    list: (informers) => informers.informerFor(def).lister.list().map(slim),
    watch: (informers, changed) =>
      informers.informerFor(def).addEventHandler({
        onAdd: (o) => changed('upsert', slim(o)),
        onUpdate: (o, old) => o !== old && changed('upsert', slim(o), slim(old)),
        onDelete: (o) => changed('delete', slim(o)),
      }),
  };
}

/** The port the node's agent serves on, as the agent publishes it when it registers the node (the
 *  kubelet's `status.daemonEndpoints`); undefined when no agent did. */
export const agentPort = (n: Node): number | undefined => Number(n.status?.daemonEndpoints?.kubeletEndpoint?.Port) || undefined;

const slimNode = (n: Node) => ({
  ip: (n.status?.addresses ?? []).find((a) => a.type === 'InternalIP')?.address,
  podCIDR: n.spec?.podCIDR,
  ready: ready(n.status?.conditions),
  agentPort: agentPort(n),
});

const slimPod = (o: Pod) => ({
  node: o.spec?.nodeName,
  ip: o.status?.podIP,
  phase: o.status?.phase ?? 'Pending',
  deleting: !!o.metadata.deletionTimestamp,
  hostNetwork: !!o.spec?.hostNetwork,
  labels: o.metadata.labels ?? {},
  ready: ready(o.status?.conditions),
  containers: (o.spec?.containers ?? []).map((c) => ({
    name: c.name,
    image: c.image,
    ports: (c.ports ?? []).map((p) => `${p.containerPort}/${p.protocol ?? 'TCP'}`),
  })),
});

const slimService = (o: Service) => ({
  type: o.spec?.type ?? 'ClusterIP',
  clusterIP: o.spec?.clusterIP,
  selector: o.spec?.selector,
  ports: (o.spec?.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP', targetPort: p.targetPort, nodePort: p.nodePort })),
  lbIPs: (o.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter(Boolean),
  externalIPs: o.spec?.externalIPs ?? [],
});

const slimEndpointSlice = (o: EndpointSlice) => ({
  service: o.metadata.labels?.['kubernetes.io/service-name'],
  endpoints: (o.endpoints ?? []).map((e) => ({
    ip: e.addresses?.[0],
    ready: e.conditions?.ready !== false,
    pod: e.targetRef?.kind === 'Pod' ? e.targetRef.name : undefined,
    node: e.nodeName,
  })),
  ports: (o.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' })),
});

/** The kinds the page draws, nodes first (the server asks the nodes' kernels for their facts). */
export const UI_KINDS: UiKind[] = [
  uiKind<Node>('Node', NODES, slimNode),
  uiKind<Namespace>('Namespace', NAMESPACES, (o) => ({ labels: o.metadata.labels ?? {} })),
  uiKind<Pod>('Pod', PODS, slimPod),
  uiKind<Service>('Service', SERVICES, slimService),
  uiKind<EndpointSlice>('EndpointSlice', ENDPOINTSLICES, slimEndpointSlice),
  uiKind<NetworkPolicy>('NetworkPolicy', NETWORKPOLICIES, (o) => ({ spec: o.spec ?? {} })),
];
