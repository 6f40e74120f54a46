// The kube-dns service for node-local DNS: the DNS server runs inside every agent on the node's InternalIP,
// so kube-dns has no selector and its endpoints are the nodes themselves (an EndpointSlice and an Endpoints
// object, one address per node, ready when the node is). Recreated whenever someone deletes them.
import { isNodeReady } from '../api/conditions.js';
import { ENDPOINTS, ENDPOINTSLICES as SLICES, NODES, SERVICES } from '../api/kinds.js';
import type { EndpointSlice, Endpoints, KObject, Node, Service } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { isNotFound, type Client } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';
import { controllerRef, MANAGED_BY_LABEL, sameContent, SERVICE_NAME_LABEL } from './podendpoints.js';

export const DNS_NAMESPACE = 'kube-system';
export const DNS_SERVICE = 'kube-dns';
// A label value may not hold a '/', so the manager is named in the style of endpointslice-controller.k8s.io.
export const CLUSTERDNS_MANAGER = 'clusterdns.k8ts.io';
const SERVICE_LABELS = { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true' };
const SERVICE_PORTS = [
  { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
  { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
];
const ENDPOINT_PORTS = SERVICE_PORTS.map(({ name, port, protocol }) => ({ name, port, protocol }));
const KEY = 'kube-dns';

function internalIPv4(node: Node): string | undefined {
  return (node.status?.addresses ?? []).find((a) => a?.type === 'InternalIP' && /^\d{1,3}(\.\d{1,3}){3}$/.test(String(a?.address)))?.address;
}

export class ClusterDns implements Controller {
  private client: Client;
  private nodes: SharedInformer<Node>;
  private services: SharedInformer<Service>;
  private slices: SharedInformer<EndpointSlice>;
  private endpoints: SharedInformer<Endpoints>;
  private queue!: WorkQueue;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(
    ctx: ControllerContext,
    private serviceIP: string,
  ) {
    this.qm = queueMetrics(ctx, 'k8ts_cluster_dns');
    this.client = ctx.client;
    // The shared caches of every service, slice and Endpoints (the endpoint controllers hold them anyway)
    // rather than three watches filtered to one name.
    this.nodes = ctx.informers.informerFor(NODES);
    this.services = ctx.informers.informerFor(SERVICES);
    this.slices = ctx.informers.informerFor(SLICES);
    this.endpoints = ctx.informers.informerFor(ENDPOINTS);
  }

  async start(): Promise<void> {
    this.queue = new WorkQueue(() => this.sync(), {
      workers: 1,
      metrics: this.qm,
      onError: (_k, err) => console.error('cluster dns:', err instanceof Error ? err.message : err),
    });
    await Promise.all([this.nodes.waitForSync(), this.services.waitForSync(), this.slices.waitForSync(), this.endpoints.waitForSync()]);
    const poke = () => this.queue.add(KEY);
    const mine = (o: KObject) => {
      if (o.metadata.namespace === DNS_NAMESPACE && o.metadata.name === DNS_SERVICE) poke();
    };
    const onMine = { onAdd: mine, onUpdate: mine, onDelete: mine };
    this.regs.add(
      this.nodes.addEventHandler({ onAdd: poke, onUpdate: poke, onDelete: poke }, 30_000),
      this.services.addEventHandler(onMine),
      this.slices.addEventHandler(onMine),
      this.endpoints.addEventHandler(onMine),
    );
    this.queue.start();
    this.queue.add(KEY);
  }

  stop(): void {
    this.regs.removeAll();
    this.queue?.stop();
  }

  private async sync(): Promise<void> {
    const svc = await this.ensureService();
    const nodes = this.nodes.lister
      .list()
      .map((n) => ({ n, ip: internalIPv4(n) }))
      .filter((x): x is { n: Node; ip: string } => !!x.ip)
      .sort((a, b) => a.n.metadata.name!.localeCompare(b.n.metadata.name!));
    await this.ensureSlice(svc, nodes);
    await this.ensureEndpoints(nodes);
  }

  private async ensureService(): Promise<Service> {
    const cur = this.services.lister.get(DNS_NAMESPACE, DNS_SERVICE);
    if (!cur) {
      return this.client.create(SERVICES, DNS_NAMESPACE, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: DNS_SERVICE, namespace: DNS_NAMESPACE, labels: { ...SERVICE_LABELS } },
        spec: { type: 'ClusterIP', clusterIP: this.serviceIP, ports: SERVICE_PORTS, internalTrafficPolicy: 'Local' },
      });
    }
    const spec = cur.spec ?? {};
    const ports = (spec.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, targetPort: p.targetPort }));
    const labelsOk = Object.entries(SERVICE_LABELS).every(([k, v]) => cur.metadata.labels?.[k] === v);
    if (sameContent(ports, SERVICE_PORTS) && !spec.selector && spec.internalTrafficPolicy === 'Local' && labelsOk) return cur;
    // Put back what the agents' DNS and the proxy rely on; the ClusterIP itself is immutable here.
    const next = structuredClone(cur);
    next.metadata.labels = { ...(cur.metadata.labels ?? {}), ...SERVICE_LABELS };
    next.spec = { ...spec, ports: SERVICE_PORTS, internalTrafficPolicy: 'Local' };
    delete next.spec.selector;
    return this.client.update(SERVICES, DNS_NAMESPACE, next);
  }

  private async ensureSlice(svc: Service, nodes: { n: Node; ip: string }[]): Promise<void> {
    const endpoints = nodes.map(({ n, ip }) => {
      const ready = isNodeReady(n);
      return { addresses: [ip], conditions: { ready, serving: ready, terminating: false }, nodeName: n.metadata.name };
    });
    const labels = { [SERVICE_NAME_LABEL]: DNS_SERVICE, [MANAGED_BY_LABEL]: CLUSTERDNS_MANAGER };
    const owners = [controllerRef(svc)];
    const cur = this.slices.lister.get(DNS_NAMESPACE, DNS_SERVICE);
    if (!cur) {
      await this.client
        .create(SLICES, DNS_NAMESPACE, {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { name: DNS_SERVICE, namespace: DNS_NAMESPACE, labels, ownerReferences: owners },
          addressType: 'IPv4',
          endpoints,
          ports: ENDPOINT_PORTS,
        })
        .catch(ignoreExists);
      return;
    }
    if (
      sameContent(cur.endpoints ?? [], endpoints) &&
      sameContent(cur.ports ?? [], ENDPOINT_PORTS) &&
      sameContent(cur.metadata.labels ?? {}, labels) &&
      sameContent(cur.metadata.ownerReferences ?? [], owners)
    )
      return;
    const next = structuredClone(cur);
    Object.assign(next, { endpoints, ports: ENDPOINT_PORTS });
    next.metadata.labels = labels;
    next.metadata.ownerReferences = owners;
    await this.client.update(SLICES, DNS_NAMESPACE, next).catch(ignoreGone);
  }

  private async ensureEndpoints(nodes: { n: Node; ip: string }[]): Promise<void> {
    const addr = ({ n, ip }: { n: Node; ip: string }) => ({ ip, nodeName: n.metadata.name });
    const ready = nodes.filter((x) => isNodeReady(x.n)).map(addr);
    const notReady = nodes.filter((x) => !isNodeReady(x.n)).map(addr);
    const subsets = nodes.length
      ? [
          {
            ...(ready.length ? { addresses: ready } : {}),
            ...(notReady.length ? { notReadyAddresses: notReady } : {}),
            ports: ENDPOINT_PORTS,
          },
        ]
      : [];
    const labels = { ...SERVICE_LABELS };
    const cur = this.endpoints.lister.get(DNS_NAMESPACE, DNS_SERVICE);
    if (!cur) {
      await this.client
        .create(ENDPOINTS, DNS_NAMESPACE, {
          apiVersion: 'v1',
          kind: 'Endpoints',
          metadata: { name: DNS_SERVICE, namespace: DNS_NAMESPACE, labels },
          subsets,
        })
        .catch(ignoreExists);
      return;
    }
    if (sameContent(cur.subsets ?? [], subsets) && sameContent(cur.metadata.labels ?? {}, labels)) return;
    const next = structuredClone(cur);
    next.subsets = subsets;
    next.metadata.labels = labels;
    await this.client.update(ENDPOINTS, DNS_NAMESPACE, next).catch(ignoreGone);
  }
}

// The informer has not seen our create yet, or has not seen someone's delete: its event brings us back.
function ignoreExists(e: unknown): void {
  if ((e as { code?: number }).code !== 409) throw e;
}

function ignoreGone(e: unknown): void {
  if (!isNotFound(e) && (e as { code?: number }).code !== 409) throw e;
}
