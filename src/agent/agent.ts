// `k8ts agent`: one per node. Registers the Node and keeps its Lease fresh, converges routes to the other
// nodes' pod CIDRs and the masquerade rule, runs the pods bound to this node, and serves their logs,
// exec and port-forward to the API server.
import { startupMark } from '../util/startup.js';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { CONFIGMAPS, ENDPOINTSLICES, NODES, PODS, SECRETS, SERVICES } from '../api/kinds.js';
import type { ConfigMap, EndpointSlice, Node, Pod, Secret, Service } from '../api/types.js';
import { SharedInformerFactory } from '../client/factory.js';
import type { Registration, SharedInformer } from '../client/informer.js';
import { EventRecorder } from '../client/events.js';
import { objectKey } from '../client/types.js';
import { RestClient, type RestConfig } from '../client/rest.js';
import { WorkQueue } from '../client/workqueue.js';
import { run } from '../util/exec.js';
import { registerNode, renewLease, postReady } from './node.js';
import { L_POD, PodManager, onlyStatusChanged, podEnvReferences, podRefNames, podVolumeReferences } from './pods.js';
import { VolumeManager } from './volumes/manager.js';
import { TokenManager, apiTokenIssuer } from './volumes/tokens.js';
import { CertificateManager } from './certmanager.js';
import { type NodeCredentials, requestNodeCredentials } from './identity.js';
import { LocalClaims } from './claims.js';
import { type Backend, VXLAN_OVERHEAD, removeRoutes, syncRoutes } from './routes.js';
import { Masquerade, removeNat } from './nat.js';
import { type ContainerLogLimits, Runtime } from './runtime/runtime.js';
import { AgentMetrics, instrumentRuntime, type RemoteMetrics } from './metrics.js';
import { type CgroupDirs, cgroupUsage, dirsUsage, hostUsage, parseMountinfo, resourceMetricsText, type RunningContainer } from './resourcemetrics.js';
import { ImageStore } from './images/store.js';
import { ensureBuiltin } from './images/builtin.js';
import { Puller } from './images/pull.js';
import { Registries } from './images/registries.js';
import { ImageService, type ImageGcOptions } from './images/service.js';
import { StreamServer } from './streamserver.js';
import { CallerAuth } from './callerauth.js';
import { ServingCertificate, servingNames } from './servingcert.js';
import { readPeers } from './peers.js';
import { k8tsBridgePlugin } from './cni/plugin.js';
import { execPlugin } from './cni/exec.js';
import { NodeHelper, installNodeHelper, installedNodeHelper } from './helper.js';
import type { CniConfig, CniPlugin } from './cni/types.js';
import { LbAnnouncer, desiredAnnouncements } from './announce.js';
import { ServiceProxy } from './proxy/proxier.js';
import { startDnsWorker } from '../dns/worker.js';
import { startPolicyEngine, type PolicyFeed } from './policy/feed.js';
import type { Worker } from 'node:worker_threads';

const LEASE_RENEW_MS = 10_000;
/** Between the agent's looks at every pod of its node (the kubelet's --sync-frequency; its default is 1 min). */
export const DEFAULT_SYNC_FREQUENCY_MS = 10_000;
const RESYNC_MS = 30_000;
/** How long a ConfigMap or Secret no pod uses stays watched: a pod deleted and made again reuses the watch. */
const REFERENCE_IDLE_MS = 10_000;

/** The watch of one ConfigMap or Secret, and the pods ("ns/name") on this node that read it. */
interface ReferencedObject {
  informer: SharedInformer<ConfigMap | Secret>;
  registration: Registration;
  users: Set<string>;
  /** Set while no pod uses it: when it fires, the watch ends. */
  idle?: NodeJS.Timeout;
}

/** The network plugin: ours in-process, or the reference bridge + host-local binaries through the same
 *  interface (CNI spec 1.0.0: they predate 1.1). Both put pods on cbr0 with an IP from the node's CIDR. */
export function cniFor(kind: 'k8ts' | 'reference', podCIDR: string, dataDir: string, mtu?: number): { plugin: CniPlugin; conf: CniConfig } {
  const common = { name: 'k8ts', bridge: 'cbr0', isGateway: true, hairpinMode: true, ...(mtu ? { mtu } : {}) };
  if (kind === 'reference') {
    return {
      plugin: execPlugin(join(REFERENCE_CNI_DIR, 'bridge'), { cniPath: [REFERENCE_CNI_DIR] }),
      conf: {
        cniVersion: '1.0.0',
        type: 'bridge',
        ...common,
        isDefaultGateway: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: podCIDR }]], dataDir: join(dataDir, 'ipam-host-local') },
      },
    };
  }
  return {
    plugin: k8tsBridgePlugin(),
    conf: { cniVersion: '1.1.0', type: 'k8ts-bridge', ...common, ipam: { type: 'k8ts-ipam', subnet: podCIDR, dataDir: join(dataDir, 'ipam') } },
  };
}

/** Where Debian's containernetworking-plugins puts the reference plugins. */
export const REFERENCE_CNI_DIR = '/usr/lib/cni';

/** A node's local start-up that needs no API server: the image store cleaned, and the runtime's version for
 *  the Node's nodeInfo. The CLI starts it before the node joins, so it runs while the join waits for the
 *  server; `Agent.start` makes one itself when not given. (The built-in busybox is made once the node is
 *  Ready: see `Agent.start`.) */
export interface NodePreparation {
  store: ImageStore;
  /** The store ready for pulls: what a killed pull left in tmp/ removed. */
  storeReady: Promise<void>;
  runcVersion: Promise<string>;
}

/** The node's image store: `imagesDir`, or `images/` under its data directory. */
export const nodeImageStore = (dataDir: string, imagesDir?: string) => new ImageStore(imagesDir ?? join(dataDir, 'images'));

export function prepareNode(store: ImageStore): NodePreparation {
  const storeReady = store.cleanTmp().then(() => {});
  const runcVersion = run(['runc', '--version']).then(({ stdout }) => stdout.split('\n')[0].split(/\s+/).pop() ?? 'unknown');
  // Both are awaited by Agent.start; these only keep an early failure from being "unhandled" meanwhile.
  storeReady.catch(() => {});
  runcVersion.catch(() => {});
  return { store, storeReady, runcVersion };
}

export interface AgentOptions {
  /** The local start-up, begun before the join (prepareNode); default: begun by start(). */
  prepared?: NodePreparation;
  /** Which CNI plugin makes pod networks. */
  cni: 'k8ts' | 'reference';
  rest: RestConfig;
  nodeName: string;
  nodeIP: string;
  dataDir: string;
  backend: Backend;
  clusterCIDR: string;
  /** The interface on the node network. */
  uplink: string;
  netnsPrefix: string;
  clusterDNS?: string;
  clusterDomain: string;
  /** Port of this node's DNS server on nodeIP (0: none); the kube-dns service sends each pod's queries here. */
  dnsPort?: number;
  /** Servers for names outside the cluster domain; none: such names are refused at once. */
  dnsUpstreams?: string[];
  /** A v1 cpu cgroup the DNS worker's thread moves into (priority over the host's other work; see lab/cgroups.ts). */
  dnsCgroup?: string;
  /** Make the DNS worker's thread SCHED_RR (the cgroup is then the fallback; see dns/placement.ts). */
  dnsRealtime?: boolean;
  /** Mirrors, credentials and TLS per registry (registries.yaml); default: every registry over HTTPS, anonymously. */
  registries?: Registries;
  /** The image store; default <dataDir>/images. */
  imagesDir?: string;
  /** Image garbage collection thresholds (the kubelet's defaults: 85 %, 80 %, 2 minutes). */
  imageGc?: ImageGcOptions;
  /** Container log rotation (the kubelet's defaults: 10 MiB × 5 files). */
  containerLog?: ContainerLogLimits;
  log?: (line: string) => void;
  /** How long start() waits for the serving certificate before it goes on with the self-signed one
   *  (default 30 s; the request keeps running). */
  servingCertWaitMs?: number;
  /** Between looks at every pod of the node (the informer's resync): DEFAULT_SYNC_FREQUENCY_MS. */
  syncFrequencyMs?: number;
  /** How long the watch of a ConfigMap or Secret no pod on the node uses any more stays open (default 10 s):
   *  a pod made again at once finds it running. */
  referenceIdleMs?: number;
  /** Set when rest carries this node's own client certificate (system:node:<name>): the agent renews it
   *  through a new CSR before it expires. */
  nodeCredentials?: NodeCredentials;
  /** The node's own cgroup (k8ts up gives each lab node one): its usage is the node's in /metrics/resource;
   *  without it the node is the whole host. */
  nodeCgroups?: CgroupDirs;
}

export class Agent {
  readonly client: RestClient;
  private runtime: Runtime;
  /** One watch and one cache per kind for the whole agent (the DNS worker, a thread of its own, has its own). */
  readonly informers: SharedInformerFactory;
  private nodes!: SharedInformer<Node>;
  private pods!: SharedInformer<Pod>;
  private queue!: WorkQueue;
  /** Volumes-only refreshes, keyed `<cause>|<ns>/<pod>` (cause: configMap/<name>, secret/<name>, pod). */
  private refreshQueue!: WorkQueue;
  private podManager!: PodManager;
  private claims!: LocalClaims;
  private timers: NodeJS.Timeout[] = [];
  private podCIDR = '';
  private stopped = false;
  private streams?: StreamServer;
  private services!: SharedInformer<Service>;
  private slices!: SharedInformer<EndpointSlice>;
  private announcer!: LbAnnouncer;
  private lbTimer?: NodeJS.Timeout;
  private lbApplied?: string;
  private lbChain: Promise<void> = Promise.resolve();
  /** The peers (name, node IP, pod CIDR) the routes and masquerade were last converged to. */
  private routesApplied?: string;
  private masquerade?: Masquerade;
  private routesChain: Promise<void> = Promise.resolve();
  private dns?: Worker;
  private proxy?: ServiceProxy;
  private policy?: PolicyFeed;
  private log: (line: string) => void;
  private events!: EventRecorder;
  private store: ImageStore;
  private prepared?: NodePreparation;
  private puller: Puller;
  private images!: ImageService;
  private imagesPosted = '';
  /** Nodes left out of the routes and the masquerade set, and why (reported once per reason). */
  private rejectedPeers = new Map<string, string>();

  /** The node's serving certificate (kubelet-serving), asked for once the Node lists its addresses. */
  private serving?: ServingCertificate;
  /** Who may call the stream server (TokenReview, SubjectAccessReview), as the kubelet's webhook mode. */
  readonly callerAuth: CallerAuth;

  /** One informer per ConfigMap or Secret a pod on this node uses ("configMap/ns/name"), with the pods that use
   *  it; one that no pod uses any more is stopped after a grace (the kubelet's watch-based manager counts
   *  references the same way), so a node does not keep a watch open for every object its pods ever read. */
  private refs = new Map<string, ReferencedObject>();
  /** What each pod on this node reads ("ns/name" → reference keys), as its last sync saw it. */
  private podRefs = new Map<string, Set<string>>();

  /** The informer of one referenced object, made (and started) on first ask. One asked for by a lookup that
   *  no pod claims (yet) is on the idle clock like any other without users. */
  private referenced(kind: 'configMap' | 'secret', ns: string, name: string): SharedInformer<ConfigMap | Secret> {
    const k = `${kind}/${ns}/${name}`;
    let ref = this.refs.get(k);
    if (!ref) {
      const inf = this.informers.informerFor<ConfigMap | Secret>(kind === 'configMap' ? CONFIGMAPS : SECRETS, {
        namespace: ns,
        fieldSelector: `metadata.name=${name}`,
      });
      // A change goes two ways: a pod whose container env reads it gets the full sync (a container waiting
      // for a key starts); one whose volumes read it gets the volumes-only refresh, which rewrites just those
      // volumes without queueing behind the full syncs of every pod on the node.
      const changed = () => {
        for (const p of this.pods?.lister.inNamespace(ns) ?? []) {
          if (podEnvReferences(p, kind, name)) this.queue.add(objectKey(p));
          if (podVolumeReferences(p, kind, name)) this.refreshQueue.add(`${kind}/${name}|${objectKey(p)}`);
        }
      };
      const registration = inf.addEventHandler({ onAdd: changed, onUpdate: (o, old) => o !== old && changed(), onDelete: changed });
      ref = { informer: inf, registration, users: new Set() };
      this.refs.set(k, ref);
      this.idleRef(k, ref);
    }
    return ref.informer;
  }

  /** Starts the idle clock of a reference no pod uses: when it runs out still unused, the watch ends. */
  private idleRef(k: string, ref: ReferencedObject): void {
    if (ref.users.size || ref.idle) return;
    ref.idle = setTimeout(() => {
      ref.idle = undefined;
      if (ref.users.size || this.refs.get(k) !== ref) return;
      this.refs.delete(k);
      ref.registration.remove();
      this.informers.release(ref.informer);
    }, this.o.referenceIdleMs ?? REFERENCE_IDLE_MS);
    ref.idle.unref();
  }

  /** Records what a pod reads now (nothing, for a pod that is gone): references it gained count it as a user,
   *  the ones it lost no longer do and go on the idle clock when nobody else uses them. */
  private setPodReferences(podKey: string, now: Set<string>): void {
    const before = this.podRefs.get(podKey) ?? new Set<string>();
    for (const k of now) {
      const ref = this.refs.get(k);
      if (!ref) continue;
      ref.users.add(podKey);
      clearTimeout(ref.idle);
      ref.idle = undefined;
    }
    for (const k of before) {
      if (now.has(k)) continue;
      const ref = this.refs.get(k);
      if (!ref) continue;
      ref.users.delete(podKey);
      this.idleRef(k, ref);
    }
    if (now.size) this.podRefs.set(podKey, now);
    else this.podRefs.delete(podKey);
  }

  /** Watches what the pod reads before it syncs; an object the node may not read (yet) is waited for a
   *  moment only: the pod's sync reports it missing and retries. */
  private async watchReferences(pod: Pod): Promise<void> {
    const ns = pod.metadata.namespace!;
    const infs: SharedInformer<ConfigMap | Secret>[] = [];
    const keys = new Set<string>();
    for (const r of podRefNames(pod)) {
      infs.push(this.referenced(r.kind, ns, r.name));
      keys.add(`${r.kind}/${ns}/${r.name}`);
    }
    this.setPodReferences(objectKey(pod), keys);
    if (!infs.length) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(infs.map((i) => i.waitForSync())),
      new Promise((r) => {
        timer = setTimeout(r, 5_000);
      }),
    ]);
    clearTimeout(timer);
  }

  /** The node's client certificate (system:node:<name>), renewed at 70–90 % of its life with a CSR made as the
   *  node itself (selfnodeclient, approved automatically); each new one goes to every connection. */
  private clientCert: CertificateManager;
  /** The process that runs the agent's programs, when this agent installed it. */
  private helper?: NodeHelper;

  constructor(private o: AgentOptions) {
    this.client = new RestClient({ ...o.rest, userAgent: `k8ts-agent/${o.nodeName}` });
    const imagesDir = o.imagesDir ?? join(o.dataDir, 'images');
    this.runtime = new Runtime({ stateDir: join(o.dataDir, 'runtime'), imagesDir, containerLog: o.containerLog });
    this.prepared = o.prepared;
    this.store = o.prepared?.store ?? new ImageStore(imagesDir);
    this.puller = new Puller(this.store, o.registries ?? Registries.empty());
    this.log = o.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.informers = new SharedInformerFactory(this.client, this.log);
    this.callerAuth = new CallerAuth({ nodeName: o.nodeName, post: (path, body) => this.client.postPath(path, body) });
    this.clientCert = new CertificateManager({
      what: 'node client',
      nodeName: o.nodeName,
      log: this.log,
      request: () => requestNodeCredentials(this.client, { server: o.rest.server, ca: o.rest.ca, nodeName: o.nodeName, dataDir: o.dataDir, log: this.log }),
      onChange: (next) => {
        this.client.setClientCertificate(next.cert, next.key);
        this.dns?.postMessage({ type: 'credentials', cert: next.cert, key: next.key });
      },
    });
  }

  async start(): Promise<void> {
    mkdirSync(this.o.dataDir, { recursive: true });
    // Every program the agent runs, and its namespaces and mounts, go through one small helper process (see
    // helper.ts); K8TS_NODE_HELPER=0 spawns them from the agent as before (benchmarks compare the two).
    if (process.env.K8TS_NODE_HELPER !== '0' && !installedNodeHelper()) {
      this.helper = new NodeHelper(join(this.o.dataDir, 'helper'));
      installNodeHelper(this.helper);
    }
    if (this.o.nodeCredentials) this.clientCert.start(this.o.nodeCredentials);
    // What a killed pull left in tmp/ is never trusted; it goes now, beside registration (begun before the
    // join when the CLI prepared the node); pods wait for it (below).
    const prepared = this.prepared ?? prepareNode(this.store);
    const storeReady = prepared.storeReady;
    // The built-in busybox is made once the pod loop starts, at the end of start (below): a fresh node's ~0.1 s
    // of CPU and a program, which at `up` competed with the server's boot and every node's join. Every image
    // lookup waits for it, as a pull is waited for; a node that cannot make it (no busybox-static) says so and
    // runs images from registries.
    let makeBuiltin!: () => void;
    const builtin = new Promise<void>((resolve) => (makeBuiltin = resolve))
      .then(() => storeReady)
      .then(() => ensureBuiltin(this.store))
      .then(
        () => startupMark('agent: built-in image'),
        (e) => this.log(`k8ts agent ${this.o.nodeName}: the built-in busybox image: ${e instanceof Error ? e.message : e}`),
      );
    const runcVersion = await prepared.runcVersion;
    startupMark('agent: runc version');
    // Ready=False until the pod network below is set up (an existing Node keeps its condition: see registerNode).
    const registered = await registerNode(this.client, this.o.nodeName, this.o.nodeIP, `runc://${runcVersion}`, false);
    startupMark('agent: node registered');
    // The serving certificate names the addresses the Node now lists (the approver checks them there).
    this.serving = new ServingCertificate({
      client: this.client,
      nodeName: this.o.nodeName,
      ca: this.o.rest.ca,
      dataDir: this.o.dataDir,
      log: this.log,
      onChange: (c) => this.streams?.setCertificate(c.cert, c.key),
    });
    this.serving.start(servingNames(registered as Node));
    await renewLease(this.client, this.o.nodeName);
    startupMark('agent: lease');
    this.every(LEASE_RENEW_MS, () => renewLease(this.client, this.o.nodeName));
    // Every informer the node needs starts now, so their lists load side by side while the pod CIDR comes
    // (seen through the node informer as soon as node IPAM writes it: no polling).
    this.informers.start();
    this.nodes = this.informers.informerFor(NODES);
    this.services = this.informers.informerFor(SERVICES);
    this.slices = this.informers.informerFor(ENDPOINTSLICES);
    // This node's pods only: a filtered informer, its own entry in the factory.
    this.pods = this.informers.informerFor(PODS, { fieldSelector: `spec.nodeName=${this.o.nodeName}` });
    this.podCIDR = await this.waitForPodCIDR();
    startupMark('agent: pod CIDR');
    this.log(`k8ts agent ${this.o.nodeName}: pod CIDR ${this.podCIDR}`);
    // Masquerade and routes are converged together once every Node is known (syncRoutes, below), and kept
    // current from then on by node changes and a resync.

    const mtu = this.o.backend === 'vxlan' ? (await this.uplinkMtu()) - VXLAN_OVERHEAD : undefined;
    const events = new EventRecorder(this.client, 'kubelet', this.o.nodeName);
    this.events = events;
    this.images = new ImageService({
      store: this.store,
      puller: this.puller,
      client: this.client,
      events,
      log: this.log,
      gc: this.o.imageGc ?? { highPercent: 85, lowPercent: 80, minAgeMs: 120_000 },
      ready: builtin,
    });
    // The Node's image list is for the scheduler's image locality: posted once the built-in image is made (the
    // list waits for it), not before the rest.
    void this.syncNodeImages().catch((e) => this.log(`k8ts agent ${this.o.nodeName}: node images: ${e instanceof Error ? e.message : e}`));
    this.every(30_000, () => this.syncNodeImages());
    this.every(300_000, () => this.imageGc());
    // ConfigMaps and Secrets feed env and volumes. A node may read only the ones its pods use (the Node
    // authorizer), so each is watched on its own (list/watch with metadata.name=, as the kubelet's
    // watch-based manager does); a change re-syncs the pods that read it, whose sync re-renders their
    // volumes (the atomic writer swaps only what differs).
    await this.services.waitForSync();
    startupMark('agent: services synced');
    const objects = {
      configMap: (ns: string, name: string) => this.referenced('configMap', ns, name).lister.get(ns, name) as ConfigMap | undefined,
      secret: (ns: string, name: string) => this.referenced('secret', ns, name).lister.get(ns, name) as Secret | undefined,
    };
    const node = { nodeName: this.o.nodeName, nodeIP: this.o.nodeIP, cpu: cpus().length, memory: totalmem() };
    // Tokens through the TokenRequest subresource, bound to the pod; audiences left to the API server's own.
    const tokens = new TokenManager(apiTokenIssuer((path, body) => this.client.postPath(path, body)));
    this.claims = new LocalClaims(this.informers, this.client, this.o.nodeName);
    const volumes = new VolumeManager({
      objects,
      node,
      tokens,
      apiAudiences: [],
      claims: this.claims,
      warn: (pod, message) => void events.record(pod, 'Warning', 'FailedMount', message),
    });
    // The agent's metrics first: the pod manager, the runtime and the proxy record into them as they work.
    const metrics = new AgentMetrics({
      runningPods: () => this.podManager.sandboxes().length,
      containers: async () => {
        const by: Record<string, number> = {};
        for (const c of await this.runtime.list()) by[c.state.status] = (by[c.state.status] ?? 0) + 1;
        return by;
      },
      policy: {
        logged: () => ({ ...(this.policy?.engine.loggedByDirection ?? {}) }),
        dropped: async () => {
          const by: Record<string, number> = { ingress: 0, egress: 0 };
          for (const p of (await this.policy?.engine.counters())?.pods ?? []) by[p.direction] = (by[p.direction] ?? 0) + p.packets;
          return by;
        },
      },
      proxy: () => this.proxy?.counts() ?? { services: 0, servicePorts: 0, endpoints: 0, elements: 0, chains: 0 },
      remote: () => this.dnsMetrics(),
    });
    instrumentRuntime(this.runtime, metrics);
    const cni = cniFor(this.o.cni, this.podCIDR, this.o.dataDir, mtu);
    this.podManager = new PodManager(
      this.client,
      this.runtime,
      events,
      {
        nodeName: this.o.nodeName,
        nodeIP: this.o.nodeIP,
        dataDir: this.o.dataDir,
        netnsPrefix: this.o.netnsPrefix,
        clusterDNS: this.o.clusterDNS,
        clusterDomain: this.o.clusterDomain,
        cni: { plugin: metrics.timedCni(cni.plugin), conf: cni.conf },
        images: this.images,
        // A pod's containers start only once its NetworkPolicy rules are in the kernel.
        networkReady: (pod, ip) => (this.policy ? this.policy.engine.localPodReady(pod, ip) : Promise.reject(new Error('the policy engine has not started'))),
        volumes,
        objects,
        node,
        tokens,
        services: () => this.services.lister.list(),
        metrics: { step: (step, f) => metrics.step(step, f), probeRan: (p) => metrics.probeRan(p), probeGone: (p) => metrics.probeGone(p) },
      },
      (key, ms) => this.queue.addAfter(key, ms),
    );
    this.nodes.addEventHandler({ onAdd: () => this.routesSoon(), onUpdate: (n, old) => n !== old && this.routesSoon(), onDelete: () => this.routesSoon() });
    await this.nodes.waitForSync();
    await this.syncRoutes();
    startupMark('agent: routes');
    this.every(RESYNC_MS, () => this.syncRoutes(true));

    // Services and their endpoints: the proxy's rules and the load-balancer IPs this node announces.
    // The proxy starts only once both caches are full: its first sync rewrites the table, and a partial
    // view would drop rules that traffic is using (after an agent restart the old rules keep working).
    this.announcer = new LbAnnouncer(this.o.uplink, this.log);
    const proxy = new ServiceProxy({
      nodeName: this.o.nodeName,
      nodeIPs: [this.o.nodeIP],
      log: this.log,
      synced: (seconds, full) => metrics.proxySynced(seconds, full),
      changed: (what) => (what === 'service' ? metrics.proxyServiceChanges : metrics.proxyEndpointChanges).inc(),
    });
    this.proxy = proxy;
    const feed = <T extends Service | EndpointSlice>(to: (type: 'ADDED' | 'MODIFIED' | 'DELETED', o: T) => void) => ({
      onAdd: (o: T) => {
        to('ADDED', o);
        this.lbSoon();
      },
      onUpdate: (o: T, old: T) => {
        if (o !== old) {
          to('MODIFIED', o);
          this.lbSoon();
        }
      },
      onDelete: (o: T) => {
        to('DELETED', o);
        this.lbSoon();
      },
    });
    // NetworkPolicy (src/agent/policy): starts now, so its first programming overlaps the proxy's; a pod's
    // containers wait for its rules, and Ready waits for its table (below).
    this.policy = startPolicyEngine(this.informers, {
      nodeName: this.o.nodeName,
      nodeIP: this.o.nodeIP,
      podCIDR: this.podCIDR,
      proxyTable: proxy.table,
      log: this.log,
      services: () => this.services.lister.list(),
      slices: () => this.slices.lister.list(),
      netnsOfPod: (key) =>
        this.podManager
          .sandboxes()
          .filter((s) => `${s.namespace}/${s.name}` === key)
          .map((s) => `/run/netns/${s.netns}`)[0],
      event: (o, type, reason, message) => void events.record(o, type, reason, message),
    });
    const table = this.policy.engine.programmer.table;
    this.policy.started.then(
      () => this.log(`k8ts agent ${this.o.nodeName}: network policy programmed (table ip ${table})`),
      (e) => this.log(`k8ts agent ${this.o.nodeName}: network policy: ${e instanceof Error ? e.message : e}`),
    );

    await this.slices.waitForSync();
    // Handlers join after the caches are full: each first gets every cached object as an add.
    proxy.update(this.services.lister.list(), this.slices.lister.list());
    this.services.addEventHandler(feed<Service>((type, o) => proxy.onServiceChange(type, o)));
    this.slices.addEventHandler(feed<EndpointSlice>((type, o) => proxy.onSliceChange(type, o)));
    await proxy.start();
    startupMark('agent: service proxy');
    this.log(
      `k8ts agent ${this.o.nodeName}: service proxy programmed ${proxy.stats.servicePorts} service ports in ${proxy.stats.lastFullSyncMs.toFixed(0)} ms (table ip ${proxy.table}${proxy.stats.lastFullVia === 'netlink' ? ', elements by netlink' : ''})`,
    );
    // The first sync lists the uplink's addresses (what an earlier run announced and no longer should goes):
    // usually the services' first events already ran it (lbSoon) while the proxy started.
    await this.syncAnnouncements();
    startupMark('agent: announcements');
    this.every(RESYNC_MS, () => this.syncAnnouncements(true));
    this.queue = new WorkQueue(
      async (key) => {
        const pod = this.pods.lister.getByKey(key);
        if (pod) await this.watchReferences(pod);
        // A pod gone from the API reads nothing any more.
        else this.setPodReferences(key, new Set());
        return this.podManager.sync(key, pod);
      },
      { workers: 16, metrics: metrics.podQueue, onError: (key, e) => this.log(`k8ts agent: pod ${key}: ${e instanceof Error ? e.message : e}`) },
    );
    this.refreshQueue = new WorkQueue(
      async (item) => {
        const bar = item.indexOf('|');
        const [cause, key] = [item.slice(0, bar), item.slice(bar + 1)];
        const pod = this.pods.lister.getByKey(key);
        if (!pod) return;
        const slash = cause.indexOf('/');
        const kind = slash < 0 ? cause : cause.slice(0, slash);
        const r = await this.podManager.refreshVolumes(
          pod,
          kind === 'pod' ? { kind: 'pod' } : { kind: kind as 'configMap' | 'secret', name: cause.slice(slash + 1) },
        );
        // Not set up by this agent yet: the full sync sets the volumes up (with what changed in them).
        if (r === 'sync') this.queue.add(key);
      },
      { workers: 4, onError: (key, e) => this.log(`k8ts agent: volume refresh ${key}: ${e instanceof Error ? e.message : e}`) },
    );
    await this.pods.waitForSync();
    startupMark('agent: pods synced');
    const podChanged = (p: Pod, old?: Pod) => {
      metrics.podSeen(p.metadata.uid, p.status?.phase, false);
      // A pod this agent has not started yet: its start is traced from now (NODE_DEBUG=k8ts:pods).
      if (!p.status?.containerStatuses && !p.metadata.deletionTimestamp) this.podManager.trace.seen(p.metadata.uid);
      // As the kubelet's pod config: an update that changed only the status (mostly this agent's own write)
      // is no reason for a sync. The informer's resync (the same object again) is: it finds exited containers.
      if (!old || old === p || !onlyStatusChanged(old, p)) this.queue.add(objectKey(p));
      // Labels or annotations a downwardAPI volume shows: refreshed at once, not after the full sync.
      if (
        old &&
        old !== p &&
        (JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(p.metadata.labels ?? {}) ||
          JSON.stringify(old.metadata.annotations ?? {}) !== JSON.stringify(p.metadata.annotations ?? {}))
      ) {
        this.refreshQueue.add(`pod|${objectKey(p)}`);
      }
    };
    this.pods.addEventHandler(
      {
        onAdd: (p: Pod) => podChanged(p),
        onUpdate: (p: Pod, old: Pod) => podChanged(p, old),
        onDelete: (p: Pod) => {
          metrics.podSeen(p.metadata.uid, undefined, true);
          this.queue.add(objectKey(p));
        },
      },
      this.o.syncFrequencyMs ?? DEFAULT_SYNC_FREQUENCY_MS,
    );
    // A container's exit, noticed by its shim: its pod is synced now (restarted, or its phase written), as the
    // kubelet's PLEG relist would within a second, and not only at the next look at every pod.
    this.stopExits = this.runtime.watchExits(
      (_id, labels) => {
        const key = labels[L_POD];
        if (key) this.queue.add(key);
      },
      (e) => this.log(`k8ts agent ${this.o.nodeName}: watching container exits: ${e.message}; exits are seen at the next look at every pod`),
    );
    // A pod waiting for its claim to bind is retried with its sync (the kubelet, too, gets claims by name).
    await this.claims.start();
    startupMark('agent: claims');
    this.streams = new StreamServer(
      {
        runtime: this.runtime,
        pod: (ns, name) => this.pods.lister.get(ns, name),
        netnsOf: (uid) => {
          const sb = this.podManager.sandboxes().find((s) => s.uid === uid);
          return sb ? `/run/netns/${sb.netns}` : undefined;
        },
        queries: this.policy.queries,
        metrics: () => metrics.expose(),
        resourceMetrics: () => this.resourceMetrics(),
      },
      this.callerAuth,
    );
    // The serving certificate in hand now (stored, or issued meanwhile); a later one arrives through onChange.
    const serving = this.serving.credentials;
    await this.streams.start(this.o.dataDir, this.o.nodeIP, { ca: this.o.rest.ca, cert: serving?.cert, key: serving?.key });
    startupMark('agent: streams');
    await this.podManager.sweep(new Set(this.pods.lister.list().map((p) => p.metadata.uid!)));
    startupMark('agent: sweep');
    await storeReady;
    startupMark('agent: image store');
    this.queue.start();
    this.refreshQueue.start();
    // The built-in image now, with the pod loop, not after the waits below: a serving certificate not yet
    // approved may hold Ready for 30 s, and pods that run busybox would wait as long.
    makeBuiltin();
    // Containers exit on their own: look at every pod regularly (the informer's resync re-adds them).
    // Ready means reachable too: the API server talks only to an agent with its CA-signed certificate.
    if (!(await this.serving.ready(this.o.servingCertWaitMs ?? 30_000))) {
      this.log(`k8ts agent ${this.o.nodeName}: no serving certificate yet (is its CSR approved?); exec, logs and the node proxy wait for it`);
    }
    // Ready now means what it says: the pod CIDR, masquerade, routes to the peers, the service proxy's and
    // the policy engine's tables are in the kernel, and pods are being synced. The policy engine's failure
    // is its own log line (above), not a reason to keep the node out of service.
    await this.policy.started.catch(() => {});
    startupMark('agent: policy programmed');
    await postReady(this.client, this.o.nodeName, true, 'k8ts agent is posting ready status');
    this.every(60_000, () => postReady(this.client, this.o.nodeName, true, 'k8ts agent is posting ready status'));
    startupMark('agent: ready');
    this.log(`k8ts agent ${this.o.nodeName}: ready`);
    // DNS is one part of the node, not a reason to stop the rest: it starts (and retries) on its own, once
    // the node is ready. Its worker thread loads its own module tree (~0.1 s of CPU), which at start-up would
    // compete with the work Ready waits for.
    if (this.o.dnsPort) void this.startDns(this.o.dnsPort);
  }

  private routesTimer?: NodeJS.Timeout;
  private stopExits?: () => void;

  /** The Node's status.images, written when the store's images changed. */
  private async syncNodeImages(): Promise<void> {
    const images = await this.images.nodeImages();
    const key = JSON.stringify(images);
    if (key === this.imagesPosted) return;
    await this.client.patch(NODES, undefined, this.o.nodeName, 'merge', { status: { images } }, 'status');
    this.imagesPosted = key;
  }

  /** Image GC: every image a container on this node was made from (running or exited) is in use. */
  private async imageGc(): Promise<void> {
    const inUse = new Set((await this.runtime.list()).map((c) => c.imageId));
    const r = await this.images.gc(inUse);
    if (r.removed.length) {
      this.log(`k8ts agent ${this.o.nodeName}: image GC: disk ${r.usageBefore.toFixed(1)}% → ${r.usageAfter.toFixed(1)}%, removed ${r.removed.join(', ')}`);
      await this.syncNodeImages();
    }
  }

  private routesSoon(): void {
    if (this.routesTimer) return;
    this.routesTimer = setTimeout(() => {
      this.routesTimer = undefined;
      void this.syncRoutes();
    }, 50);
  }

  /** Every Node as a peer, each field parsed and printed again here before it reaches a batch; a Node
   *  that does not parse is left out with a Warning event on it, and the others go on. */
  private peers(): ReturnType<typeof readPeers>['peers'] {
    const { peers, rejected } = readPeers(this.nodes?.lister.list() ?? []);
    for (const [name, why] of rejected) {
      if (this.rejectedPeers.get(name) === why) continue;
      this.log(`k8ts agent: node ${name} left out of routes and masquerade: ${why}`);
      const node = this.nodes.lister.get(undefined, name);
      if (node) void this.events?.record(node, 'Warning', 'InvalidNodeNetwork', `node ${this.o.nodeName} left this node out of its routes: ${why}`);
    }
    this.rejectedPeers = rejected;
    return peers;
  }

  /** Converges routes and masquerade to the Nodes' peers. A Node changes often (status, Lease-driven
   *  conditions, images) while its peer fields stay the same: such a change costs no `ip` or `nft` process;
   *  the periodic resync (`resync`) converges anyway, so a route changed behind the agent's back comes back. */
  private syncRoutes(resync = false): Promise<void> {
    // One pass at a time: a pass asked for while one runs starts after it, and sees what it applied (a node
    // joining makes several Node events in a row, and two passes at once would both write everything).
    this.routesChain = this.routesChain.then(() => this.convergeRoutes(resync));
    return this.routesChain;
  }

  private async convergeRoutes(resync: boolean): Promise<void> {
    const peers = this.peers();
    const key = JSON.stringify([this.podCIDR, peers.map((p) => [p.name, p.nodeIP, p.podCIDR])]);
    if (!resync && key === this.routesApplied) return;
    this.routesApplied = undefined;
    let routed = true;
    try {
      await syncRoutes(
        { backend: this.o.backend, uplink: this.o.uplink, self: { name: this.o.nodeName, nodeIP: this.o.nodeIP, podCIDR: this.podCIDR } },
        peers,
      );
    } catch (e) {
      this.log(`k8ts agent: routes: ${e instanceof Error ? e.message : e}`);
      routed = false;
    }
    try {
      await this.syncNat(resync);
      if (routed) this.routesApplied = key;
    } catch (e) {
      this.log(`k8ts agent: masquerade: ${e instanceof Error ? e.message : e}`);
    }
  }

  private lbSoon(): void {
    if (this.lbTimer) return;
    this.lbTimer = setTimeout(() => {
      this.lbTimer = undefined;
      void this.syncAnnouncements();
    }, 20);
  }

  /** What this node should announce, applied when it differs from what was last applied, or always on a
   *  resync (which lists the uplink's addresses, so outside changes are put right too). */
  private syncAnnouncements(resync = false): Promise<void> {
    // One at a time: a sync asked for while one runs starts after it, and finds it done when nothing changed.
    this.lbChain = this.lbChain.then(() => this.announce(resync));
    return this.lbChain;
  }

  private async announce(resync: boolean): Promise<void> {
    if (this.stopped) return;
    const want = desiredAnnouncements(this.o.nodeName, this.services.lister.list(), this.nodes.lister.list(), this.slices.lister.list());
    const key = [...want].sort().join(',');
    if (!resync && key === this.lbApplied) return;
    try {
      await this.announcer.sync(want);
      this.lbApplied = key;
    } catch (e) {
      this.log(`k8ts agent: load-balancer IPs: ${e instanceof Error ? e.message : e}`);
    }
  }

  /** Start the DNS worker, retrying with back-off: right after a crash the port can still be held for a
   *  moment by the previous agent's exiting process. */
  /** /metrics/resource: the running containers of this node's pods, found in the cgroups runc put their
   *  processes in (read from /proc/PID/cgroup, so whatever cgroup layout the host has); the node is its own
   *  cgroup when it was given one (a lab node: the agent and everything it starts), else the host. */
  private async resourceMetrics(): Promise<string> {
    const mounts = parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
    const running: RunningContainer[] = [];
    for (const c of await this.runtime.list()) {
      const pod = c.labels[L_POD] ?? '';
      const slash = pod.indexOf('/');
      const container = c.labels['k8ts.container'];
      if (c.state.status !== 'running' || !c.state.pid || slash < 1 || !container) continue;
      running.push({ namespace: pod.slice(0, slash), pod: pod.slice(slash + 1), container, pid: c.state.pid, startedAt: c.state.startedAt });
    }
    const nodeCgroups = this.o.nodeCgroups;
    return resourceMetricsText(
      () => (nodeCgroups ? dirsUsage(nodeCgroups) : hostUsage()),
      running,
      (pid) => cgroupUsage(mounts, pid),
    );
  }

  /** The DNS worker's series (coredns_dns_*), asked for at each scrape; none while it is not running. */
  private dnsMetrics(): Promise<RemoteMetrics[]> {
    const w = this.dns;
    if (!w) return Promise.resolve([]);
    return new Promise((resolve) => {
      const id = Math.random().toString(36).slice(2);
      const timer = setTimeout(() => done([]), 2000);
      const onMessage = (m: { type?: string; id?: string; metrics?: RemoteMetrics }) => {
        if (m?.type === 'metrics' && m.id === id) done([m.metrics ?? []]);
      };
      const done = (r: RemoteMetrics[]) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        resolve(r);
      };
      w.on('message', onMessage);
      w.postMessage({ type: 'metrics', id });
    });
  }

  private async startDns(port: number): Promise<void> {
    const { rest } = this.o;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const { worker, addresses } = await startDnsWorker(
          {
            rest: {
              server: rest.server,
              ca: rest.ca.toString(),
              ...(this.clientCert.credentials ? { cert: this.clientCert.credentials.cert, key: this.clientCert.credentials.key } : { token: rest.token }),
            },
            listen: [{ address: this.o.nodeIP, port }],
            domain: this.o.clusterDomain,
            upstreams: this.o.dnsUpstreams ?? [],
            nameservers: this.o.clusterDNS ? [this.o.clusterDNS] : [],
            ...(this.o.dnsCgroup ? { cpuCgroup: this.o.dnsCgroup } : {}),
            ...(this.o.dnsRealtime ? { realtime: true } : {}),
          },
          this.log,
        );
        if (this.stopped) return void worker.postMessage('stop');
        this.dns = worker;
        this.log(`k8ts agent ${this.o.nodeName}: DNS for ${this.o.clusterDomain} on ${addresses.map((a) => `${a.address}:${a.port}`).join(', ')}`);
        return;
      } catch (e) {
        const wait = Math.min(250 * 2 ** attempt, 5000);
        this.log(`k8ts agent ${this.o.nodeName}: DNS: ${e instanceof Error ? e.message : e}; trying again in ${wait} ms`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** The masquerade table, with the node set as the Nodes informer sees it (only this node before it syncs). */
  private async syncNat(resync: boolean): Promise<void> {
    const nodeIPs = [this.o.nodeIP, ...this.peers().map((p) => p.nodeIP)];
    this.masquerade ??= new Masquerade({ log: this.log });
    await this.masquerade.sync({ clusterCIDR: this.o.clusterCIDR, nodeIPs }, resync);
  }

  /** The node's pod CIDR, once node IPAM has written one that parses (from the node informer's events). */
  private waitForPodCIDR(): Promise<string> {
    return new Promise((resolve) => {
      let seen = 0;
      let found: string | undefined;
      const check = (n: Node) => {
        if (found || n.metadata.name !== this.o.nodeName || !n.spec?.podCIDR) return;
        const { peers, rejected } = readPeers([{ ...n, status: { addresses: [{ type: 'InternalIP', address: this.o.nodeIP }] } }]);
        if (peers[0]?.podCIDR) {
          found = peers[0].podCIDR;
          queueMicrotask(() => reg.remove()); // the handler may run inside addEventHandler, before reg is set
          resolve(found);
        } else if (seen++ % 60 === 0) {
          this.log(`k8ts agent ${this.o.nodeName}: waiting for a usable pod CIDR: ${[...rejected.values()].join('; ')}`);
        }
      };
      const reg = this.nodes.addEventHandler({ onAdd: check, onUpdate: (n) => check(n) });
    });
  }

  private async uplinkMtu(): Promise<number> {
    const { stdout } = await run(['ip', '-j', 'link', 'show', 'dev', this.o.uplink]);
    return (JSON.parse(stdout)[0]?.mtu as number) ?? 1500;
  }

  private every(ms: number, f: () => Promise<unknown>): void {
    const t = setInterval(() => {
      if (!this.stopped) f().catch((e) => this.log(`k8ts agent: ${e instanceof Error ? e.message : e}`));
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  /** Stop the agent's loops; pods keep running (the data plane does not need the agent). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clientCert.stop();
    for (const r of this.refs.values()) clearTimeout(r.idle);
    this.serving?.stop();
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.lbTimer);
    this.informers.stop();
    this.stopExits?.();
    this.dns?.postMessage('stop');
    await this.proxy?.stop();
    await this.policy?.stop();
    this.queue?.stop();
    this.refreshQueue?.stop();
    this.podManager?.close();
    this.streams?.close();
    this.runtime.close();
    this.puller.close();
    this.client.close();
    if (this.helper && installedNodeHelper() === this.helper) installNodeHelper(undefined);
    await this.helper?.close();
  }

  /** Remove everything the agent made on this node (pods, routes, nftables): `k8ts down` and tests. */
  async teardown(): Promise<void> {
    for (const s of this.podManager?.sandboxes() ?? []) await this.podManager.cleanup(s.uid).catch(() => {});
    await removeRoutes().catch(() => {});
    await this.announcer?.teardown();
    await this.proxy?.teardown();
    await this.policy?.engine.teardown();
    await removeNat();
  }
}
