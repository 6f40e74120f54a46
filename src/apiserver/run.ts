// The server role: open the datastore, make or load credentials, serve the API, run the controllers.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { ensureAdminToken, ensurePki, ensureToken, kubeconfig } from './certs.js';
import { ApiServer } from './server.js';
import { NamespaceController, bootstrapNamespaces } from '../controllers/namespace.js';
import { Compactor } from './compactor.js';
import { NodeProxy } from './nodeproxy.js';
import { LocalClient } from './localclient.js';
import { Scheduler } from '../controllers/scheduler.js';
import { NodeIpam } from '../controllers/nodeipam.js';
import { NodeLifecycle } from '../controllers/nodelifecycle.js';
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
  /** How long Events are kept after they were last seen (Kubernetes: one hour). */
  eventTtlMs?: number;
  /** LoadBalancer IPs are handed out from this range (on the node network); no LoadBalancer controller without it. */
  lbPool?: IPRange;
  /** ClusterIP of the kube-dns service; no cluster DNS service and endpoints without it. */
  dnsServiceIP?: string;
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
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const pki = await ensurePki(o.dataDir, [...o.listen.map((l) => l.host), ...(o.sans ?? [])]);
  const token = ensureAdminToken(o.dataDir);
  const nodeToken = ensureToken(o.dataDir, 'node.token');
  const store = await openStore({ backend: o.store, dataDir: o.dataDir, etcdEndpoints: o.etcdEndpoints, etcdPrefix: o.etcdPrefix });
  let api: ApiServer;
  try {
    api = await ApiServer.start({ store, cert: pki.serverCert, key: pki.serverKey, listen: o.listen,
      tokens: new Map([[token, { name: 'admin', groups: ['system:masters'] }], [nodeToken, { name: 'system:node', groups: ['system:nodes'] }]]) });
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
      for (const c of controllers) c.stop();
      nsController.stop();
      await api.close();
      await store.close();
    },
  };
}
