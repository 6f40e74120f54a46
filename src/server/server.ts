// The server role: open the datastore, make or load credentials, serve the API, run the controllers.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { ensureAdminToken, ensurePki, ensureToken, kubeconfig } from '../apiserver/certs.js';
import { ApiServer } from '../apiserver/server.js';
import { NamespaceController, bootstrapNamespaces } from '../controllers/namespace.js';
import { Compactor } from './compactor.js';
import { NodeProxy } from '../apiserver/nodeproxy.js';
import { LocalClient } from '../apiserver/localclient.js';
import { Scheduler } from '../controllers/scheduler.js';
import { NodeIpam } from '../controllers/nodeipam.js';
import { NodeLifecycle } from '../controllers/nodelifecycle.js';
import { AllocationRepair, ServiceAllocations } from '../apiserver/allocators/index.js';
import { KubernetesService } from '../controllers/kubernetesservice.js';
import { EventTtl } from '../controllers/eventttl.js';
import { EndpointSliceController } from '../controllers/endpointslice.js';
import { EndpointsController } from '../controllers/endpoints.js';
import { LoadBalancerController, type IPRange } from '../controllers/loadbalancer.js';
import { ClusterDns } from '../controllers/clusterdns.js';

export interface ServerOptions {
  dataDir: string;
  store: 'sqlite' | 'etcd' | 'memory';
  etcdEndpoints?: string[];
  etcdPrefix?: string;
  /** Addresses to serve on (one port for all). */
  listen: { host: string; port: number }[];
  /** Extra names and IPs for the serving certificate. */
  sans?: string[];
  /** Pod CIDR of the whole cluster; each node gets a /nodeCidrMaskSize of it. */
  clusterCidr?: string;
  nodeCidrMaskSize?: number;
  /** How long a node's Lease may go unrenewed before the node is NotReady. */
  nodeMonitorGracePeriodMs?: number;
  /** IPv4 CIDR that service cluster IPs come from (default 10.96.0.0/16; `kubernetes` gets its first IP). */
  serviceCidr?: string;
  /** Node port range, FIRST-LAST (default 30000-32767). */
  nodePortRange?: string;
  /** The `kubernetes` service's endpoint address (default: see defaultAdvertiseAddress). */
  advertiseAddress?: string;
  /** The `kubernetes` service's endpoint port (default: the port the server serves on). */
  advertisePort?: number;
  /** How long Events are kept after they were last seen (Kubernetes: one hour). */
  eventTtlMs?: number;
  /** LoadBalancer IPs are handed out from this range (on the node network); no LoadBalancer controller without it. */
  lbPool?: IPRange;
  /** ClusterIP of the kube-dns service; no cluster DNS service and endpoints without it. */
  dnsServiceIP?: string;
}

/** The first listen address when pods could reach it, else this host's first non-loopback IPv4 (as
 *  kube-apiserver picks one), else the first listen address anyway. */
export function defaultAdvertiseAddress(listen: { host: string }[]): string {
  const concrete = listen.map((l) => l.host).find((h) => h && !['0.0.0.0', '::', 'localhost'].includes(h) && !h.startsWith('127.') && h !== '::1');
  if (concrete) return concrete;
  for (const addrs of Object.values(networkInterfaces())) {
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal && !x.address.startsWith('169.254.'));
    if (a) return a.address;
  }
  return listen[0]?.host || '127.0.0.1';
}

export interface RunningServer {
  api: ApiServer;
  store: Store;
  url: string;
  kubeconfigPath: string;
  token: string;
  caPath: string;
  close(): Promise<void>;
}

export async function runServer(o: ServerOptions): Promise<RunningServer> {
  if (o.advertiseAddress !== undefined && !isIP(o.advertiseAddress)) throw new TypeError(`advertise address ${JSON.stringify(o.advertiseAddress)} is not an IP address`);
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const pki = await ensurePki(o.dataDir, [...o.listen.map((l) => l.host), ...(o.sans ?? [])]);
  const token = ensureAdminToken(o.dataDir);
  const nodeToken = ensureToken(o.dataDir, 'node.token');
  const store = await openStore({ backend: o.store, dataDir: o.dataDir, etcdEndpoints: o.etcdEndpoints, etcdPrefix: o.etcdPrefix });
  let api: ApiServer;
  let allocations: ServiceAllocations;
  try {
    allocations = new ServiceAllocations(store, { serviceCidr: o.serviceCidr, nodePortRange: o.nodePortRange });
    api = await ApiServer.start({ store, cert: pki.serverCert, key: pki.serverKey, listen: o.listen,
      tokens: new Map([[token, { name: 'admin', groups: ['system:masters'] }], [nodeToken, { name: 'system:node', groups: ['system:nodes'] }]]),
      hooks: new Map([['services', allocations]]) });
  } catch (e) {
    await store.close();
    throw e;
  }
  api.nodeProxy = new NodeProxy(api.registry, nodeToken);
  await bootstrapNamespaces(api.registry);
  const nsController = new NamespaceController(api.registry);
  await nsController.start();
  const compactor = new Compactor(store);
  compactor.start();
  // Claims a crash left behind are fixed at start, then every few minutes.
  const repair = new AllocationRepair(store, allocations);
  await repair.runOnce().catch((e) => console.error('k8ts server: service allocation repair:', e instanceof Error ? e.message : e));
  repair.start();
  const kubernetesService = new KubernetesService(api.registry, { serviceIP: allocations.ips.nth(1),
    address: o.advertiseAddress ?? defaultAdvertiseAddress(o.listen), port: o.advertisePort ?? api.port });
  await kubernetesService.start();
  const client = new LocalClient(api.registry);
  const controllers = [
    new Scheduler(client),
    new NodeIpam(client, o.clusterCidr ?? '10.244.0.0/16', o.nodeCidrMaskSize ?? 24),
    new NodeLifecycle(client, o.nodeMonitorGracePeriodMs ?? 40_000),
    new EventTtl(client, o.eventTtlMs ?? 3_600_000),
    new EndpointSliceController(client),
    new EndpointsController(client),
    ...(o.lbPool ? [new LoadBalancerController(client, o.lbPool)] : []),
    ...(o.dnsServiceIP ? [new ClusterDns(client, o.dnsServiceIP)] : []),
  ];
  for (const c of controllers) await c.start();
  const kubeconfigPath = join(o.dataDir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfig({ server: api.url, caCert: pki.caCert, token }), { mode: 0o600 });
  return {
    api,
    store,
    url: api.url,
    kubeconfigPath,
    token,
    caPath: pki.caPath,
    async close() {
      compactor.stop();
      repair.stop();
      kubernetesService.stop();
      for (const c of controllers) c.stop();
      nsController.stop();
      await api.close();
      await store.close();
    },
  };
}
