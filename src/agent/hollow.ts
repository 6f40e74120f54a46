// Hollow nodes, as kubemark's hollow kubelets: many nodes in one process that join with their own client
// certificates, register, renew their Leases and report the pods bound to them Running with an IP from
// their pod CIDR, running no containers and no network. For scale tests of one real control plane.
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { NODES, PODS } from '../api/kinds.js';
import type { ContainerStatus, Node, Pod, PodCondition } from '../api/types.js';
import { SharedInformerFactory } from '../client/factory.js';
import type { SharedInformer } from '../client/informer.js';
import { NODE_NAME_INDEX, byNodeName } from '../client/indexer.js';
import { RestClient } from '../client/rest.js';
import { errorCode, objectKey } from '../client/types.js';
import { WorkQueue } from '../client/workqueue.js';
import { now } from '../util/time.js';
import { ensureNodeCredentials } from './identity.js';
import { registerNode, renewLease } from './node.js';

export interface HollowFleetOptions {
  server: string;
  ca: string | Buffer;
  /** The nodes' names (each a DNS-1123 subdomain). */
  names: string[];
  /** How each node gets its client certificate (CN system:node:<name>, O system:nodes): through the
   *  kubelet's TLS bootstrap with one bootstrap token for the whole fleet, as a node pool joins with one
   *  (a CSR per node, approved and signed by the server's controllers), or from a function that issues it
   *  (the same certificate signed with the cluster CA directly: a fleet of thousands joins in seconds). */
  identity: { bootstrapToken: string } | { issue: (name: string) => Promise<{ cert: string; key: string }> };
  /** Each node keeps its key and certificate in DIR/<name>/pki, as an agent does in its data dir. */
  dataDir: string;
  /** Lease renewal period (the kubelet's 10 s). */
  leaseMs?: number;
  /** Ready re-posted this often (the kubelet's node status report frequency: 5 min; the agent's 60 s). */
  statusMs?: number;
  /** Nodes joining at once (each a CSR, approved and signed by the server's controllers). */
  joinConcurrency?: number;
  /** Connections each node keeps to the server (default 2). A kubelet holds one HTTP/2 connection and
   *  multiplexes on it; over HTTP/1.1, a node allowed client-go's 32 opened a new connection (a TLS handshake
   *  on the server) for every request that found the others busy: at 1,000 nodes with the server slowed,
   *  7,000 connections, the accept queue full, and Lease renewals reset. */
  connectionsPerNode?: number;
  /** Pod syncs in flight across the fleet. */
  workers?: number;
  log?: (line: string) => void;
  /** Every API call the nodes make, timed: call is `VERB resource[/subresource]`, ok false on an error. */
  observe?: (call: string, ms: number, ok: boolean) => void;
}

/** Addresses no one listens on: the API server's metrics scraper and node proxy find nothing there (and
 *  nothing leaves the host, as an address on a real network would through the default route). */
export function hollowNodeIP(i: number): string {
  return `127.77.${(i >> 8) & 255}.${i & 255}`;
}

/** The IPv4 addresses of a pod CIDR a pod may take: the network, the gateway (.1) and the broadcast left out. */
class PodIPs {
  private base: number;
  private size: number;
  private used = new Map<string, number>();
  private free: number[] = [];
  private next = 2;

  constructor(cidr: string) {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
    const bits = Number(m?.[5]);
    const octets = m ? m.slice(1, 5).map(Number) : [];
    if (!m || octets.some((o) => o > 255) || !(bits >= 8 && bits <= 30)) throw new Error(`pod CIDR ${JSON.stringify(cidr)} is not an IPv4 CIDR from /8 to /30`);
    this.base = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
    this.size = 2 ** (32 - bits);
  }

  take(uid: string): string {
    let i = this.used.get(uid);
    if (i === undefined) {
      i = this.free.pop() ?? (this.next < this.size - 1 ? this.next++ : undefined);
      if (i === undefined) throw new Error('the pod CIDR is full');
      this.used.set(uid, i);
    }
    const a = (this.base + i) >>> 0;
    return `${a >>> 24}.${(a >> 16) & 255}.${(a >> 8) & 255}.${a & 255}`;
  }

  release(uid: string): void {
    const i = this.used.get(uid);
    if (i === undefined) return;
    this.used.delete(uid);
    this.free.push(i);
  }
}

interface HollowNode {
  name: string;
  ip: string;
  client: RestClient;
  ips?: PodIPs;
  timers: NodeJS.Timeout[];
}

export class HollowFleet {
  private nodes = new Map<string, HollowNode>();
  private informers?: SharedInformerFactory;
  private pods?: SharedInformer<Pod>;
  private nodeInformer?: SharedInformer<Node>;
  private queue?: WorkQueue;
  private stopped = false;
  private log: (line: string) => void;
  /** Counters for the report. */
  readonly stats = { leaseRenewals: 0, leaseErrors: 0, statusUpdates: 0, podsRunning: 0, podsDeleted: 0, syncErrors: 0 };
  /** Pod uid → the uid's status was written Running (a later event of the same pod needs nothing). */
  private reported = new Set<string>();

  constructor(private o: HollowFleetOptions) {
    this.log = o.log ?? ((l) => process.stderr.write(`${l}\n`));
  }

  private async timed<T>(call: string, f: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      const r = await f();
      this.o.observe?.(call, performance.now() - t0, true);
      return r;
    } catch (e) {
      this.o.observe?.(call, performance.now() - t0, false);
      throw e;
    }
  }

  /** Watch events the fleet's informers received (pods and nodes). */
  get watchEvents(): number {
    return (this.pods?.stats.events ?? 0) + (this.nodeInformer?.stats.events ?? 0);
  }

  /** The nodes that have joined so far. */
  get size(): number {
    return this.nodes.size;
  }

  /** Joins every node (credentials, Node, Lease), then starts the one pod informer of the fleet. */
  async start(): Promise<void> {
    const names = [...this.o.names];
    let next = 0;
    const width = Math.max(1, this.o.joinConcurrency ?? 32);
    await Promise.all(
      Array.from({ length: Math.min(width, names.length) }, async () => {
        while (next < names.length && !this.stopped) {
          const i = next++;
          await this.join(names[i], i);
        }
      }),
    );
    if (this.stopped) return;
    // One informer of pods (and one of nodes, for the pod CIDRs) for the whole fleet, indexed by node name:
    // what one process holding many nodes should do — a watch per node would cost the server a watcher
    // and every event a selector check per hollow node. It reads as the first node (k8ts:node-agent lets
    // every node list and watch pods, as an agent's NetworkPolicy engine does).
    const watcher = this.nodes.get(names[0])!.client;
    this.informers = new SharedInformerFactory(watcher, this.log);
    this.pods = this.informers.informerFor(PODS);
    this.pods.addIndex(NODE_NAME_INDEX, byNodeName);
    this.nodeInformer = this.informers.informerFor(NODES);
    this.queue = new WorkQueue((key) => this.sync(key), {
      workers: this.o.workers ?? 32,
      onError: () => {
        this.stats.syncErrors++;
      },
    });
    this.informers.start();
    await Promise.all([this.pods.waitForSync(), this.nodeInformer.waitForSync()]);
    const mine = (p: Pod) => p.spec?.nodeName !== undefined && this.nodes.has(p.spec.nodeName);
    const enqueue = (p: Pod) => {
      if (mine(p)) this.queue!.add(objectKey(p));
    };
    this.pods.addEventHandler({
      onAdd: enqueue,
      onUpdate: (p, old) => p !== old && enqueue(p),
      onDelete: (p) => {
        if (!mine(p)) return;
        this.nodes.get(p.spec!.nodeName!)?.ips?.release(p.metadata.uid!);
        this.reported.delete(p.metadata.uid!);
      },
    });
    // A pod CIDR assigned after a pod arrived: the node's pods are synced again.
    this.nodeInformer.addEventHandler({
      onUpdate: (n, old) => {
        if (n.spec?.podCIDR && n.spec.podCIDR !== old.spec?.podCIDR && this.nodes.has(n.metadata.name!)) {
          for (const p of this.pods!.lister.byIndex(NODE_NAME_INDEX, n.metadata.name!)) this.queue!.add(objectKey(p));
        }
      },
    });
    this.queue.start();
  }

  private async join(name: string, i: number): Promise<void> {
    const id = this.o.identity;
    const creds =
      'issue' in id
        ? await this.timed('JOIN issued', () => id.issue(name))
        : await this.retrying(() =>
            this.timed('JOIN csr', () =>
              ensureNodeCredentials({
                server: this.o.server,
                ca: this.o.ca,
                nodeName: name,
                dataDir: join(this.o.dataDir, name),
                bootstrapToken: id.bootstrapToken,
                log: () => {},
                timeoutMs: 300_000,
              }),
            ),
          );
    const client = new RestClient({
      server: this.o.server,
      ca: this.o.ca,
      cert: creds.cert,
      key: creds.key,
      userAgent: `k8ts-hollow/${name}`,
      maxConnections: this.o.connectionsPerNode ?? 2,
    });
    const n: HollowNode = { name, ip: hollowNodeIP(i), client, timers: [] };
    this.nodes.set(name, n);
    // As the kubelet, registration is tried until it works: a shed request, a reset connection, a slow
    // server are reasons to wait, not to give up (back-off 0.5 s doubling to 8 s).
    await this.retrying(() => this.timed('REGISTER nodes', () => registerNode(client, name, n.ip, 'hollow://0.1.0', true)));
    await this.renew(n);
    // Each node on its own phase, as kubelets started at different moments: no fleet-wide thundering herd.
    const leaseMs = this.o.leaseMs ?? 10_000;
    const statusMs = this.o.statusMs ?? 60_000;
    const first = setTimeout(() => {
      if (this.stopped) return;
      void this.renew(n);
      const t = setInterval(() => void this.renew(n), leaseMs);
      t.unref();
      n.timers.push(t);
    }, Math.random() * leaseMs);
    first.unref();
    const ready = setInterval(() => void this.postReady(n), statusMs);
    ready.unref();
    n.timers.push(first, ready);
  }

  /** As the kubelet registers: tried until it works (a shed request, a reset connection, a slow server are
   *  reasons to wait), back-off 0.5 s doubling to 8 s, 20 tries. */
  private async retrying<T>(f: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await f();
      } catch (e) {
        if (this.stopped || attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 8000)));
      }
    }
  }

  private async renew(n: HollowNode): Promise<void> {
    if (this.stopped) return;
    try {
      await this.timed('PATCH leases', () => renewLease(n.client, n.name));
      this.stats.leaseRenewals++;
    } catch (e) {
      if (this.stopped) return; // a renewal cut off by stop()
      this.stats.leaseErrors++;
      if (this.stats.leaseErrors <= 5) this.log(`hollow node ${n.name}: renewing its Lease: ${e instanceof Error ? e.message : e}`);
    }
  }

  private async postReady(n: HollowNode): Promise<void> {
    if (this.stopped) return;
    const t = now();
    const node = this.nodeInformer?.lister.get(undefined, n.name);
    const conds = (node?.status?.conditions ?? []).map((c) =>
      c.type !== 'Ready'
        ? { ...c, lastHeartbeatTime: t }
        : {
            ...c,
            status: 'True',
            reason: 'KubeletReady',
            message: 'hollow node is posting ready status',
            lastHeartbeatTime: t,
            lastTransitionTime: c.status === 'True' ? c.lastTransitionTime : t,
          },
    );
    if (!conds.length) return;
    await this.timed('PATCH nodes/status', () => n.client.patch(NODES, undefined, n.name, 'merge', { status: { conditions: conds } }, 'status')).catch(
      () => {},
    );
  }

  /** One pod: Running with an IP when it is bound here and not yet reported; finished when it is being deleted. */
  private async sync(key: string): Promise<void | { requeueAfterMs: number }> {
    const pod = this.pods!.lister.getByKey(key);
    if (!pod || this.stopped) return;
    const n = this.nodes.get(pod.spec?.nodeName ?? '');
    if (!n) return;
    const uid = pod.metadata.uid!;
    if (pod.metadata.deletionTimestamp) {
      // The containers "stopped" at once: the kubelet's last word is the delete with grace 0.
      try {
        await this.timed('DELETE pods', () =>
          n.client.delete(PODS, pod.metadata.namespace, pod.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid } }),
        );
        this.stats.podsDeleted++;
      } catch (e) {
        if (errorCode(e) !== 404 && errorCode(e) !== 409) throw e;
      }
      n.ips?.release(uid);
      this.reported.delete(uid);
      return;
    }
    if (this.reported.has(uid) || pod.status?.phase === 'Running' || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    if (!n.ips) {
      const cidr = this.nodeInformer!.lister.get(undefined, n.name)?.spec?.podCIDR;
      if (!cidr) return { requeueAfterMs: 250 };
      n.ips = new PodIPs(cidr);
    }
    const podIP = n.ips.take(uid);
    await this.timed('PATCH pods/status', () =>
      n.client.patch(PODS, pod.metadata.namespace, pod.metadata.name!, 'merge', { status: runningStatus(pod, n.ip, podIP) }, 'status'),
    );
    this.reported.add(uid);
    this.stats.statusUpdates++;
    this.stats.podsRunning++;
  }

  /** Stops every loop and connection; the Nodes stay, so the node lifecycle controller sees them go silent. */
  stop(): void {
    this.stopped = true;
    this.queue?.stop();
    this.informers?.stop();
    for (const n of this.nodes.values()) {
      for (const t of n.timers) clearTimeout(t);
      n.client.close();
    }
  }

  /** Deletes each node's Node (as itself; its Lease goes with it, owned by the Node), then stops. */
  async remove(): Promise<void> {
    this.stopped = true;
    this.queue?.stop();
    this.informers?.stop();
    const all = [...this.nodes.values()];
    for (const n of all) for (const t of n.timers) clearTimeout(t);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(32, all.length) }, async () => {
        while (next < all.length) {
          const n = all[next++];
          await n.client.delete(NODES, undefined, n.name).catch((e) => {
            if (errorCode(e) !== 404) this.log(`hollow node ${n.name}: deleting its Node: ${e instanceof Error ? e.message : e}`);
          });
        }
      }),
    );
    for (const n of all) n.client.close();
  }
}

/** The status a kubelet writes once every container of the pod runs: phase, conditions, IPs, container statuses. */
export function runningStatus(pod: Pod, hostIP: string, podIP: string): Record<string, unknown> {
  const t = now();
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  const cond = (type: string): PodCondition => ({ type, status: 'True', lastProbeTime: null as unknown as undefined, lastTransitionTime: t });
  const spec = pod.spec;
  /** A container as a kubelet reports it once started (init containers: done, not started). */
  const status = (c: { name: string; image?: string }, started: boolean, state: ContainerStatus['state']): ContainerStatus => ({
    name: c.name,
    image: c.image ?? '', // validation requires an image; the fallback only satisfies the type
    imageID: `hollow://${c.image}`,
    containerID: `hollow://${pod.metadata.uid}/${c.name}`,
    ready: true,
    restartCount: 0,
    started,
    state,
  });
  return {
    phase: 'Running',
    conditions: [cond('PodReadyToStartContainers'), cond('Initialized'), cond('Ready'), cond('ContainersReady'), scheduled ?? cond('PodScheduled')],
    hostIP,
    hostIPs: [{ ip: hostIP }],
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: t,
    ...(spec?.initContainers?.length
      ? {
          initContainerStatuses: spec.initContainers.map((c) =>
            status(c, false, { terminated: { exitCode: 0, reason: 'Completed', startedAt: t, finishedAt: t } }),
          ),
        }
      : {}),
    containerStatuses: (spec?.containers ?? []).map((c) => status(c, true, { running: { startedAt: t } })),
  };
}
