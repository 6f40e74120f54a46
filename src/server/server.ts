// The server role, as k3s's server starts it: open the datastore, make or load credentials, serve the
// API, and run the control plane's loops on top of it through the one door every component uses (a
// Client, here in-process). Loops that must run once per cluster run only while this server holds their
// Lease: the controller manager, the scheduler, and the API server's own compactor and allocation repair.
import { startupMark } from '../util/startup.js';
import { Registry as PromRegistry } from 'prom-client';
import { WorkQueueMetricsProvider } from '../client/workqueuemetrics.js';
import { setDefaultTolerationSeconds } from '../api/strategies/poddefaults.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { randomUUID } from 'node:crypto';
import { openStore } from '../store/index.js';
import { parseEncryptionConfig } from '../store/encryption.js';
import { EncryptedStore } from '../store/encrypted.js';
import type { Store } from '../store/types.js';
import { CaSigner } from '../api/certificates/csr.js';
import { ensureAdminToken, ensurePki, kubeconfig } from '../apiserver/certs.js';
import { ApiServer } from '../apiserver/server.js';
import { ensureSigningKey } from '../apiserver/serviceaccount/signer.js';
import { ResourceMetrics } from '../apiserver/resourcemetrics.js';
import { NodeProxy } from '../apiserver/nodeproxy.js';
import { LocalClient } from '../apiserver/localclient.js';
import { AllocationRepair, DEFAULT_SERVICE_CIDR, ServiceAllocations } from '../apiserver/allocators/index.js';
import { formatIPv4, parseCidr } from '../util/cidr.js';
import { SharedInformerFactory } from '../client/factory.js';
import { bootstrapNamespaces } from '../controllers/namespace.js';
import { BOOTSTRAP_NAMESPACE, bootstrapTokenSecret, parseBootstrapToken } from '../api/bootstraptoken.js';
import { SECRETS } from '../api/kinds.js';
import type { Secret } from '../api/types.js';
import { type Client, errorCode } from '../client/types.js';
import { bootstrapStorageClass } from '../controllers/localpath.js';
import { KubernetesService } from '../controllers/kubernetesservice.js';
import type { IPRange } from '../controllers/loadbalancer.js';
import { RbacAuthorizer } from '../apiserver/authz/rbac.js';
import { escalationHooks } from '../apiserver/authz/escalation.js';
import { feedNodeGraph, feedRbac } from '../apiserver/authz/feed.js';
import { ChainAuthorizer, NodeAuthorizer, NodeGraph } from '../apiserver/authz/node.js';
import { nodeRestrictionHooks } from '../apiserver/authz/noderestriction.js';
import { reconcileBootstrapPolicy } from '../apiserver/authz/bootstrap.js';
import { readTokenFile } from '../apiserver/tokenfile.js';
import type { ServerLimits } from '../apiserver/limits.js';
import type { UserInfo } from '../apiserver/authz/attributes.js';
import { Compactor } from './compactor.js';
import { tightenDataDir } from '../util/filemodes.js';
import { controllerManager, scheduler } from './controllers.js';
import { Singleton } from './singleton.js';

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
  /** tolerationSeconds of the not-ready/unreachable tolerations every new pod gets (Kubernetes: 300 each). */
  defaultNotReadyTolerationSeconds?: number;
  defaultUnreachableTolerationSeconds?: number;
  /** How long Events are kept after they were last seen (Kubernetes: one hour). */
  eventTtlMs?: number;
  /** LoadBalancer IPs are handed out from this range (on the node network); no LoadBalancer controller without it. */
  lbPool?: IPRange;
  /** ClusterIP of the kube-dns service; no cluster DNS service and endpoints without it. */
  dnsServiceIP?: string;
  /** This server's name (its identity Lease and leader-election identity); default: the host name. */
  serverName?: string;
  /** Leader election timings (client-go's defaults: 15 s, 10 s, 2 s); tests shorten them. */
  leaderElection?: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** Events the watch cache keeps (default 100,000); tests shrink it to reach 410 Gone. */
  watchCacheEvents?: number;
  /** How often the agents' resource metrics are scraped for metrics.k8s.io (metrics-server's --metric-resolution; 15 s). */
  metricResolutionMs?: number;
  /** The `iss` of service-account tokens and the API audience (default https://kubernetes.default.svc.cluster.local). */
  serviceAccountIssuer?: string;
  /** Where the server's own log lines go (default: stderr). */
  log?: (line: string) => void;
  /** kube-apiserver's --anonymous-auth (default true): credential-less requests are system:anonymous, held by RBAC. */
  anonymousAuth?: boolean;
  /** Extra users: kube-apiserver's --token-auth-file (CSV `token,user,uid[,"group1,group2"]`). */
  tokenAuthFile?: string;
  /** A bootstrap token for agents to join with, put in as its Secret before the server serves (see
   *  putBootstrapToken); `writtenAt` is when its file was written (ms). */
  bootstrapToken?: { token: string; writtenAt: number };
  /** The API server's limits under load and abuse (src/apiserver/limits.ts; upstream's defaults). */
  limits?: Partial<ServerLimits>;
  /** kube-apiserver's --encryption-provider-config: an EncryptionConfiguration file (src/store/encryption.ts). */
  encryptionProviderConfig?: string;
  /** Tests put a store in front of the real one (a slowed one, to reach the request timeout). */
  wrapStore?: (store: Store) => Store;
}

/** The admin token's user: in system:masters, bound to cluster-admin (as kubeadm's kubernetes-admin). */
export const ADMIN_USER: UserInfo = { name: 'admin', groups: ['system:masters'] };

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
  /** The shared informers of this server's loops (their counters show relists). */
  informers: SharedInformerFactory;
  /** The loops that run while this server leads them, by Lease name. */
  singletons: Singleton[];
  close(): Promise<void>;
}

/** Lease names in kube-system, as kube-controller-manager and kube-scheduler use them; the API server's
 *  cluster-wide loops (compaction, allocation repair) take a third. */
export const LEASE_CONTROLLER_MANAGER = 'kube-controller-manager';
export const LEASE_SCHEDULER = 'kube-scheduler';
export const LEASE_APISERVER = 'k8ts-apiserver-singletons';

export async function runServer(o: ServerOptions): Promise<RunningServer> {
  if (o.advertiseAddress !== undefined && !isIP(o.advertiseAddress))
    throw new TypeError(`advertise address ${JSON.stringify(o.advertiseAddress)} is not an IP address`);
  const log = o.log ?? ((l: string) => process.stderr.write(`k8ts server: ${l}\n`));
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  for (const p of tightenDataDir(o.dataDir)) log(`file modes: tightened ${p}`);
  setDefaultTolerationSeconds(o.defaultNotReadyTolerationSeconds ?? 300, o.defaultUnreachableTolerationSeconds ?? 300);
  // Pods reach the API at the `kubernetes` Service's ClusterIP (the first address of the service range) and
  // check the serving certificate against it, as client-go's and client-python's in-cluster configs do.
  const kubernetesServiceIP = formatIPv4(parseCidr(o.serviceCidr ?? DEFAULT_SERVICE_CIDR).base + 1);
  const pki = await ensurePki(o.dataDir, [...o.listen.map((l) => l.host), kubernetesServiceIP, ...(o.sans ?? [])]);
  startupMark('server: PKI ready');
  const token = ensureAdminToken(o.dataDir);
  const tokens = new Map<string, UserInfo>([[token, ADMIN_USER]]);
  if (o.tokenAuthFile) for (const [t, u] of readTokenFile(o.tokenAuthFile)) tokens.set(t, u);
  const rbac = new RbacAuthorizer();
  // One metrics registry for everything this process runs (API server, controllers), served at /metrics.
  const metricsRegistry = new PromRegistry();
  const saKey = await ensureSigningKey(o.dataDir);
  const caSigner = await CaSigner.load(pki.caCert, readFileSync(join(o.dataDir, 'pki/ca.key'), 'utf8'));
  startupMark('server: signing keys loaded');
  // The configuration is read and proven before the store opens: a bad one stops the start, naming the field.
  const encryption =
    o.encryptionProviderConfig === undefined ? undefined : parseEncryptionConfig(readFileSync(o.encryptionProviderConfig, 'utf8'), o.encryptionProviderConfig);
  const rawStore = await openStore({ backend: o.store, dataDir: o.dataDir, etcdEndpoints: o.etcdEndpoints, etcdPrefix: o.etcdPrefix });
  startupMark('server: store open');
  let store: Store = rawStore;
  if (encryption) {
    store = new EncryptedStore(rawStore, encryption, { metrics: metricsRegistry, log });
    for (const line of EncryptedStore.describe(encryption)) log(`encryption at rest: ${line}`);
  }
  if (o.wrapStore) store = o.wrapStore(store);
  let api: ApiServer;
  let allocations: ServiceAllocations;
  try {
    allocations = new ServiceAllocations(store, { serviceCidr: o.serviceCidr, nodePortRange: o.nodePortRange });
    api = await ApiServer.start({
      store,
      cert: pki.serverCert,
      key: pki.serverKey,
      clientCA: pki.caCert,
      listen: o.listen,
      tokens,
      hooks: new Map([['services', allocations], ...escalationHooks(rbac), ...nodeRestrictionHooks()]),
      watchCacheEvents: o.watchCacheEvents,
      serviceAccounts: { key: saKey, issuer: o.serviceAccountIssuer },
      metricsRegistry,
      limits: o.limits,
      anonymousAuth: o.anonymousAuth,
    });
  } catch (e) {
    await store.close();
    throw e;
  }
  startupMark('server: listening');
  api.rbac = rbac;
  // --authorization-mode=Node,RBAC: a node's own identity reaches what its pods use and its own objects.
  const nodeGraph = new NodeGraph();
  api.authorizer = new ChainAuthorizer(new NodeAuthorizer(nodeGraph), rbac);
  // Agents are verified against the cluster CA and see the API server as kube-apiserver-kubelet-client.
  api.nodeProxy = new NodeProxy(api.registry, { ca: pki.caCert, cert: pki.kubeletClientCert, key: pki.kubeletClientKey });
  const nodeProxy = api.nodeProxy;
  api.resourceMetrics = new ResourceMetrics(api.registry, {
    resolutionMs: o.metricResolutionMs,
    log,
    fetch: (node, path, timeoutMs) => nodeProxy.fetchNode(node, path, timeoutMs),
  });
  api.resourceMetrics.start();
  const client = new LocalClient(api.registry);
  const informers = new SharedInformerFactory(client, log);
  const ctx = { client, informers, queueMetrics: new WorkQueueMetricsProvider(metricsRegistry) };
  await bootstrapNamespaces(client);
  // The default roles, then the index from informers. The authorizer is on from the first request: RBAC
  // only ever allows, so an index still filling can refuse early but never allow wrongly. The server's own components use
  // the in-process client, which never passes through HTTP authorization: they are the API server itself
  // (upstream's loopback identity, system:apiserver in system:masters, is allowed everything too).
  for (const line of await reconcileBootstrapPolicy(client)) log(`rbac bootstrap: ${line}`);
  startupMark('server: RBAC bootstrap reconciled');
  const rbacSynced = feedRbac(rbac, informers);
  const graphSynced = feedNodeGraph(nodeGraph, informers);
  await bootstrapStorageClass(client);
  informers.start();
  await rbacSynced;
  await graphSynced;
  // The join token once RBAC lets bootstrappers ask for certificates (a token that authenticates earlier
  // would meet a 403, which ends a join): agents started beside the server are retrying with it already.
  if (o.bootstrapToken) log(await putBootstrapToken(client, o.bootstrapToken));
  startupMark('server: authorizer caches synced');
  const serverName = o.serverName ?? hostname();
  const identity = `${serverName}_${randomUUID()}`;

  // Every server keeps the `kubernetes` service and lists itself in its endpoints (its identity Lease).
  const kubernetesService = new KubernetesService(ctx, {
    serviceIP: allocations.ips.nth(1),
    address: o.advertiseAddress ?? defaultAdvertiseAddress(o.listen),
    port: o.advertisePort ?? api.port,
    serverName,
    log,
  });
  await kubernetesService.start();
  startupMark('server: kubernetes service');

  const election = { client, identity, ...o.leaderElection, log };
  const repair = new AllocationRepair(store, allocations);
  const compactor = new Compactor(store);
  const singletons = [
    new Singleton(LEASE_APISERVER, election, {
      async start() {
        // Claims a crash left behind are fixed first, then every few minutes.
        await repair.runOnce().catch((e) => log(`service allocation repair: ${e instanceof Error ? e.message : e}`));
        repair.start();
        compactor.start();
      },
      stop() {
        compactor.stop();
        repair.stop();
      },
    }),
    new Singleton(
      LEASE_CONTROLLER_MANAGER,
      election,
      controllerManager(ctx, { ...o, rootCaPem: pki.caCert, caSigner, authorize: (a) => rbac.authorize(a).allowed }),
    ),
    new Singleton(LEASE_SCHEDULER, election, scheduler(ctx)),
  ];
  for (const s of singletons) s.start();

  const kubeconfigPath = join(o.dataDir, 'kubeconfig');
  // The admin authenticates with its client certificate, as kubeadm's admin.conf; the token kubeconfig is
  // kept beside it for clients that cannot present one.
  writeFileSync(kubeconfigPath, kubeconfig({ server: api.url, caCert: pki.caCert, user: { clientCert: pki.adminCert, clientKey: pki.adminKey } }), {
    mode: 0o600,
  });
  writeFileSync(join(o.dataDir, 'kubeconfig-token'), kubeconfig({ server: api.url, caCert: pki.caCert, user: { token } }), { mode: 0o600 });
  // writeFileSync's mode applies only to a new file; the datastore's files are made by SQLite.
  tightenDataDir(o.dataDir);
  return {
    api,
    store,
    url: api.url,
    kubeconfigPath,
    token,
    caPath: pki.caPath,
    informers,
    singletons,
    async close() {
      // Leases are released, so another server takes over at once rather than after they expire.
      await Promise.all(singletons.map((s) => s.stop()));
      await kubernetesService.stopAndRemove();
      informers.stop();
      await api.resourceMetrics?.stop();
      await api.close();
      await store.close();
    },
  };
}

/** How long a token given with --bootstrap-token-file stays valid after its file was written. */
export const BOOTSTRAP_TOKEN_FILE_TTL_S = 24 * 3600;

/**
 * Puts the start-up bootstrap token in kube-system as its Secret (kubeadm's layout), valid for
 * BOOTSTRAP_TOKEN_FILE_TTL_S from when its file was written, so a restart never extends it: nothing is made
 * when a Secret of that token id is there already or the file is older than that. Returns the log line.
 */
export async function putBootstrapToken(client: Client, t: { token: string; writtenAt: number }): Promise<string> {
  const parsed = parseBootstrapToken(t.token);
  if (!parsed) throw new TypeError('the bootstrap token does not parse (expected [a-z0-9]{6}.[a-z0-9]{16})');
  const until = t.writtenAt + BOOTSTRAP_TOKEN_FILE_TTL_S * 1000;
  if (until <= Date.now())
    return `bootstrap token ${parsed.id}: its file is older than ${BOOTSTRAP_TOKEN_FILE_TTL_S / 3600} h, not added (k8ts token create makes a new one)`;
  const secret = bootstrapTokenSecret(parsed, { ttlSeconds: BOOTSTRAP_TOKEN_FILE_TTL_S, now: t.writtenAt, description: 'k8ts server --bootstrap-token-file' });
  try {
    await client.create(SECRETS, BOOTSTRAP_NAMESPACE, secret as Secret);
  } catch (e) {
    if (errorCode(e) === 409) return `bootstrap token ${parsed.id} is in kube-system already`;
    throw e;
  }
  return `bootstrap token ${parsed.id} added, valid until ${new Date(until).toISOString()}`;
}
