// Pods on this node: each pod is a network namespace (CNI ADD into cbr0) and one runc container per pod
// container joined to it. Level-triggered: every sync reads the pod from the API and the containers and
// sandboxes from the node, acts on the difference (start, restart with back-off, stop, tear down) and
// posts the pod's status. Restarting the agent repairs, never duplicates: sandboxes and containers are
// found again by the pod's uid.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findResource } from '../api/resources.js';
import type { Container, KObject, Pod } from '../api/types.js';
import type { Client } from '../client/types.js';
import type { EventRecorder } from '../client/events.js';
import { run } from '../util/exec.js';
import type { CniConfig, CniPlugin } from './cni/types.js';
import type { Runtime, ContainerInfo } from './runtime/runtime.js';
import type { ImageService } from './images/service.js';
import { ProbeManager, probeRunner, type ProbeRunner } from './probes.js';
import { now } from '../util/time.js';
import type { LocalClaims } from './claims.js';
import { resolveEnv } from './downward.js';

const PODS = findResource('', 'v1', 'pods')!;
const BACKOFF_BASE_MS = 10_000;
const BACKOFF_MAX_MS = 300_000;
const L_POD_UID = 'k8ts.pod.uid';
const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const L_POD = 'k8ts.pod';
const L_CONTAINER = 'k8ts.container';
const L_RESTARTS = 'k8ts.restarts';

export interface PodManagerOptions {
  nodeName: string;
  nodeIP: string;
  dataDir: string;
  netnsPrefix: string;
  /** The CNI plugin (ours in-process, or any plugin binary) and its network configuration. */
  cni: { plugin: CniPlugin; conf: CniConfig };
  clusterDNS?: string;
  clusterDomain: string;
  /** Runs one container probe (default: exec through the runtime, httpGet and tcpSocket from this namespace). */
  probeRunner?: ProbeRunner;
  /**
   * Awaited before any of a pod's containers starts, with the sandbox's address: the NetworkPolicy engine
   * resolves once the pod's rules are in the kernel, so no packet reaches or leaves the pod unjudged.
   */
  networkReady?: (pod: KObject, ip: string) => Promise<void>;
  /** Makes sure a container's image is on the node (pull policy, pulls, back-off, events). */
  images: ImageService;
  /** persistentVolumeClaim volumes as host directories (claims.ts); without it such a pod waits. */
  claims?: LocalClaims;
}

/** What the node holds for a pod between syncs (also on disk, for agent restarts). */
interface Sandbox {
  uid: string;
  namespace: string;
  name: string;
  netns: string;
  ip: string;
  createdAt: string;
}


function iso(d: Date | undefined): string | undefined {
  return d ? d.toISOString().replace(/\.\d+Z$/, 'Z') : undefined;
}

export class PodManager {
  private backoff = new Map<string, { until: number; delay: number }>();
  /** uid → namespace/name of every sandbox on this node, so a sync of a key finds the pods it replaced or lost. */
  private keyOf = new Map<string, string>();
  /** Why a container could not be started: an image reason (ErrImagePull, ImagePullBackOff…) or CreateContainerError. */
  private imageErrors = new Map<string, { reason: string; message: string }>();
  /** Containers killed for failing a liveness or startup probe: restarted even under OnFailure if they exit 0. */
  private probeKilled = new Set<string>();
  readonly probes: ProbeManager;
  private dir: string;

  constructor(private client: Client, private runtime: Runtime, private events: EventRecorder, private o: PodManagerOptions,
    private requeue: (key: string, ms: number) => void) {
    this.dir = join(o.dataDir, 'pods');
    mkdirSync(this.dir, { recursive: true });
    for (const sb of this.sandboxes()) this.keyOf.set(sb.uid, `${sb.namespace}/${sb.name}`);
    this.probes = new ProbeManager({
      run: o.probeRunner ?? probeRunner(runtime),
      record: (pod, type, reason, message) => events.record(pod, type, reason, message),
      // A probe result flipped: the pod's status is recomputed (and written if it changed) right away.
      changed: (key) => requeue(key, 0),
    });
  }

  /** Stops the probe workers (the agent is stopping; containers keep running). */
  close(): void {
    this.probes.close();
  }

  // ---- sandboxes ----

  private sandboxPath(uid: string): string {
    return join(this.dir, `${uid}.json`);
  }

  sandboxes(): Sandbox[] {
    const out: Sandbox[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, f), 'utf8')));
      } catch {
        /* a half-written record: the netns sweep below finds what it named */
      }
    }
    return out;
  }

  private netnsName(uid: string): string {
    return `${this.o.netnsPrefix}pod-${uid.replace(/-/g, '').slice(0, 12)}`;
  }

  private async ensureSandbox(pod: KObject): Promise<Sandbox> {
    const uid = pod.metadata.uid!;
    const p = this.sandboxPath(uid);
    this.keyOf.set(uid, `${pod.metadata.namespace}/${pod.metadata.name}`);
    if (existsSync(p)) {
      const sb = JSON.parse(readFileSync(p, 'utf8')) as Sandbox;
      if (existsSync(`/run/netns/${sb.netns}`)) return sb;
    }
    const netns = this.netnsName(uid);
    if (!existsSync(`/run/netns/${netns}`)) await run(['ip', 'netns', 'add', netns]);
    // A namespace without a record: a crash came between `netns add` and the record, maybe after CNI ADD.
    // DEL (idempotent) undoes a half-made attachment, which a second ADD would refuse, and frees its IP.
    else await this.o.cni.plugin.del(this.o.cni.conf, { containerId: uid, netns: `/run/netns/${netns}`, ifName: 'eth0' });
    // Record the intent before CNI ADD, so a crash in between is found and undone by the sweep.
    const podDir = join(this.dir, uid);
    mkdirSync(podDir, { recursive: true });
    const result = await this.o.cni.plugin.add(this.o.cni.conf, { containerId: uid, netns: `/run/netns/${netns}`, ifName: 'eth0' });
    const ip = result.ips?.[0]?.address.split('/')[0];
    if (!ip) throw new Error(`CNI ADD for pod ${pod.metadata.namespace}/${pod.metadata.name} returned no IP`);
    const sb: Sandbox = { uid, namespace: pod.metadata.namespace!, name: pod.metadata.name!, netns, ip, createdAt: now() };
    this.writeEtc(pod, podDir, ip);
    writeFileSync(`${p}.tmp`, JSON.stringify(sb));
    (await import('node:fs')).renameSync(`${p}.tmp`, p);
    return sb;
  }

  private writeEtc(pod: KObject, podDir: string, ip: string): void {
    writeFileSync(join(podDir, 'hostname'), `${utsHostname(pod, this.o.clusterDomain)}\n`);
    writeFileSync(join(podDir, 'hosts'), hostsFile(pod, [ip], this.o.clusterDomain));
    writeFileSync(join(podDir, 'resolv.conf'), resolvConf(pod, this.o.clusterDNS, this.o.clusterDomain));
  }

  /** Tear down a pod's network: CNI DEL (releases the IP), then the namespace (the veth goes with it). */
  async removeSandbox(uid: string): Promise<void> {
    const p = this.sandboxPath(uid);
    let netns = this.netnsName(uid);
    if (existsSync(p)) {
      try {
        netns = (JSON.parse(readFileSync(p, 'utf8')) as Sandbox).netns;
      } catch {
        /* use the derived name */
      }
    }
    await this.o.cni.plugin.del(this.o.cni.conf, { containerId: uid, netns: `/run/netns/${netns}`, ifName: 'eth0' });
    if (existsSync(`/run/netns/${netns}`)) await run(['ip', 'netns', 'del', netns]).catch(() => {});
    rmSync(join(this.dir, uid), { recursive: true, force: true });
    rmSync(p, { force: true });
    this.keyOf.delete(uid);
  }

  // ---- the sync ----

  private async removeContainer(id: string): Promise<void> {
    await this.runtime.remove(id);
  }

  private async containersOf(uid: string): Promise<ContainerInfo[]> {
    return this.runtime.list({ [L_POD_UID]: uid });
  }

  /**
   * Reconcile one pod (by namespace/name); pod is the API's view, or undefined when it is gone. Pods of
   * this key that are gone (deleted, or replaced by a new pod of the same name) are torn down here, in the
   * work queue: never at the same time as a sync of the same key, and retried with back-off if it fails.
   */
  async sync(key: string, pod: KObject | undefined): Promise<void> {
    for (const [uid, k] of [...this.keyOf]) if (k === key && uid !== pod?.metadata.uid) await this.cleanup(uid);
    if (!pod) return;
    const uid = pod.metadata.uid!;
    // The uid names the pod's directory, its network namespace and its containers' labels: only the
    // server's own form (a UUID) is used for any of them.
    if (!UID.test(uid)) throw new Error(`pod ${key} has uid ${JSON.stringify(String(uid).slice(0, 64))}, not a UUID: left alone`);
    if (pod.metadata.deletionTimestamp) {
      await this.terminate(pod);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      this.probes.removePod(uid);
      return;
    }
    let sb: Sandbox;
    try {
      sb = await this.ensureSandbox(pod);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      await this.events.record(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${msg}`);
      await this.postStatus(pod, undefined, await this.containersOf(uid), { reason: 'ContainerCreating', message: msg });
      this.requeue(key, 5000);
      return;
    }
    // Claims first: a container never starts without the volume it mounts (the kubelet's FailedMount wait).
    if ((pod.spec?.volumes ?? []).some((v: any) => v?.persistentVolumeClaim)) {
      const pending = this.o.claims ? this.o.claims.prepare(pod as Pod) : 'persistentVolumeClaim volumes are not served by this agent';
      if (pending) {
        await this.events.record(pod, 'Warning', 'FailedMount', pending);
        await this.postStatus(pod, sb, await this.containersOf(uid), { reason: 'ContainerCreating', message: pending });
        this.requeue(key, 2000);
        return;
      }
    }
    let existing = await this.containersOf(uid);
    const restartPolicy = pod.spec?.restartPolicy ?? 'Always';
    if (await this.killUnhealthy(pod, existing, restartPolicy)) existing = await this.containersOf(uid);
    let nextWake = 0;
    let networkChecked = false;
    for (const c of (pod.spec?.containers ?? []) as any[]) {
      const mine = existing.filter((x) => x.labels[L_CONTAINER] === c.name).sort((a, b) => Number(b.labels[L_RESTARTS]) - Number(a.labels[L_RESTARTS]));
      const latest = mine[0];
      if (latest && latest.state.status !== 'stopped') continue;
      if (latest) {
        const code = latest.state.exitCode ?? 1;
        const restart = restartPolicy === 'Always' || (restartPolicy === 'OnFailure' && (code !== 0 || this.probeKilled.has(latest.id)));
        if (!restart) continue;
        const bk = `${uid}/${c.name}`;
        const b = this.backoff.get(bk);
        if (b && Date.now() < b.until) {
          nextWake = nextWake ? Math.min(nextWake, b.until - Date.now()) : b.until - Date.now();
          continue;
        }
        // Back-off doubles from 10 s to 5 min, reset after a container ran 10 minutes without trouble.
        const ranFor = (latest.state.finishedAt?.getTime() ?? Date.now()) - (latest.state.startedAt?.getTime() ?? Date.now());
        const delay = ranFor > 600_000 ? BACKOFF_BASE_MS : Math.min((b?.delay ?? BACKOFF_BASE_MS / 2) * 2, BACKOFF_MAX_MS);
        this.backoff.set(bk, { until: Date.now() + delay, delay });
      }
      const restarts = latest ? Number(latest.labels[L_RESTARTS] ?? 0) + 1 : 0;
      if (!networkChecked && this.o.networkReady) {
        try {
          await this.o.networkReady(pod, sb.ip);
        } catch (e) {
          const msg = `network policy for ${sb.ip} not in place: ${e instanceof Error ? e.message : e}`;
          await this.events.record(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${msg}`);
          this.requeue(key, 2000);
          return;
        }
      }
      networkChecked = true;
      await this.startContainer(pod, sb, c, restarts);
      // Keep only the newest exited attempt (for `kubectl logs --previous` and lastState).
      for (const old of mine.slice(1)) {
        await this.removeContainer(old.id).catch(() => {});
        this.probeKilled.delete(old.id);
      }
    }
    existing = await this.containersOf(uid);
    this.syncProbes(pod, sb, existing);
    await this.postStatus(pod, sb, existing);
    if (nextWake) this.requeue(key, nextWake + 50);
  }

  /** The newest attempt of each of the pod's containers. */
  private latestOf(pod: KObject, containers: ContainerInfo[]): Map<string, ContainerInfo> {
    const out = new Map<string, ContainerInfo>();
    for (const x of containers) {
      const name = x.labels[L_CONTAINER];
      const cur = out.get(name);
      if (!cur || Number(x.labels[L_RESTARTS]) > Number(cur.labels[L_RESTARTS])) out.set(name, x);
    }
    for (const name of [...out.keys()]) if (!((pod.spec?.containers ?? []) as any[]).some((c) => c.name === name)) out.delete(name);
    return out;
  }

  /** Probe workers for the running containers (and none for the others), seeded from the status last posted. */
  private syncProbes(pod: KObject, sb: Sandbox, containers: ContainerInfo[]): void {
    const prior: any[] = pod.status?.containerStatuses ?? [];
    const running = [...this.latestOf(pod, containers).values()].filter((x) => x.state.status !== 'stopped').map((x) => {
      const was = prior.find((s) => s.containerID === `runc://${x.id}`);
      return { name: x.labels[L_CONTAINER], id: x.id, startedAt: x.state.startedAt, wasReady: was?.ready === true, wasStarted: was?.started === true };
    });
    this.probes.sync(pod, sb.ip, running);
  }

  /**
   * Kills the running containers whose liveness or startup probe failed, as the kubelet does; the restart
   * (and its back-off) is then the ordinary restart of an exited container. True if it killed any.
   */
  private async killUnhealthy(pod: KObject, containers: ContainerInfo[], restartPolicy: string): Promise<boolean> {
    let killed = false;
    for (const [name, x] of this.latestOf(pod, containers)) {
      if (x.state.status === 'stopped') continue;
      const why = this.probes.failed(x.id);
      if (!why) continue;
      const grace = this.probes.probe(x.id, why)?.terminationGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
      this.probes.removeContainer(x.id);
      this.probeKilled.add(x.id);
      await this.events.record(pod, 'Normal', 'Killing',
        `Container ${name} failed ${why} probe${restartPolicy === 'Never' ? '' : ', will be restarted'}`);
      await this.runtime.stop(x.id, grace);
      killed = true;
    }
    return killed;
  }

  private async startContainer(pod: KObject, sb: Sandbox, c: any, restarts: number): Promise<void> {
    const uid = pod.metadata.uid!;
    const key = `${uid}/${c.name}`;
    const img = await this.o.images.ensure(pod, c);
    if (!img.ok) {
      this.imageErrors.set(key, { reason: img.reason, message: img.message });
      // Right after a failed pull the next sync reports ImagePullBackOff, as the kubelet's does; the pull
      // is tried again when the back-off ends.
      if (img.retryMs !== undefined) this.requeue(`${pod.metadata.namespace}/${pod.metadata.name}`, img.reason === 'ErrImagePull' ? 1000 : img.retryMs + 50);
      return;
    }
    this.imageErrors.delete(key);
    const podDir = join(this.dir, uid);
    const env = resolveEnv(pod as Pod, c as Container);
    try {
      await this.runtime.create({
        name: c.name, podName: pod.metadata.name!, hostname: utsHostname(pod, this.o.clusterDomain), image: c.image, command: c.command, args: c.args, env, workingDir: c.workingDir,
        netns: `/run/netns/${sb.netns}`, etcHosts: join(podDir, 'hosts'), etcHostname: join(podDir, 'hostname'), resolvConf: join(podDir, 'resolv.conf'),
        securityContext: c.securityContext, mounts: this.o.claims?.mounts(pod as Pod, c),
        labels: { [L_POD_UID]: uid, [L_POD]: `${pod.metadata.namespace}/${pod.metadata.name}`, [L_CONTAINER]: c.name, [L_RESTARTS]: String(restarts) },
      });
            await this.events.record(pod, 'Normal', 'Created', `Created container ${c.name}`);
      await this.events.record(pod, 'Normal', 'Started', `Started container ${c.name}`);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.imageErrors.set(key, { reason: 'CreateContainerError', message: msg });
      await this.events.record(pod, 'Warning', 'Failed', `Error: ${msg}`);
    }
  }

  /** Graceful termination: SIGTERM, the grace period, SIGKILL; then the sandbox; then the final delete. */
  private async terminate(pod: KObject): Promise<void> {
    const uid = pod.metadata.uid!;
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    const containers = await this.containersOf(uid);
    const running = containers.filter((c) => c.state.status !== 'stopped');
    if (running.length) await this.events.record(pod, 'Normal', 'Killing', `Stopping container ${running.map((c) => c.labels[L_CONTAINER]).join(', ')}`);
    await Promise.all(running.map((c) => this.runtime.stop(c.id, grace).catch(() => {})));
    await this.cleanup(uid);
    try {
      await this.client.delete(PODS, pod.metadata.namespace, pod.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid } });
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code !== 404 && code !== 409) throw e;
    }
  }

  /** Remove every container and the sandbox of a pod uid. */
  async cleanup(uid: string): Promise<void> {
    this.probes.removePod(uid);
    for (const c of await this.containersOf(uid)) {
      if (c.state.status !== 'stopped') await this.runtime.kill(c.id, 'SIGKILL').catch(() => {});
      await this.removeContainer(c.id).catch(() => {});
      this.probeKilled.delete(c.id);
    }
    await this.removeSandbox(uid);
    for (const k of this.backoff.keys()) if (k.startsWith(`${uid}/`)) this.backoff.delete(k);
    for (const k of this.imageErrors.keys()) if (k.startsWith(`${uid}/`)) this.imageErrors.delete(k);
    this.o.images.forgetPod(uid);
    this.o.claims?.forget(uid);
  }

  /** After a restart: tear down what belongs to pods that no longer exist, and release IPs nobody holds. */
  async sweep(liveUids: Set<string>): Promise<void> {
    const uids = new Set<string>();
    for (const c of await this.runtime.list()) if (c.labels[L_POD_UID]) uids.add(c.labels[L_POD_UID]);
    for (const s of this.sandboxes()) uids.add(s.uid);
    for (const d of readdirSync(this.dir)) if (!d.endsWith('.json') && !d.endsWith('.tmp')) uids.add(d);
    for (const uid of uids) if (!liveUids.has(uid)) await this.cleanup(uid);
    // Namespaces named like ours with no record are leftovers of a crash between `netns add` and the record.
    const known = new Set(this.sandboxes().map((s) => s.netns));
    const live = new Set([...liveUids].map((u) => this.netnsName(u)));
    for (const ns of readdirSync('/run/netns').filter((n) => n.startsWith(`${this.o.netnsPrefix}pod-`))) {
      if (!known.has(ns) && !live.has(ns)) await run(['ip', 'netns', 'del', ns]).catch(() => {});
    }
    // Release IPs held for pods that are gone (plugins that predate CNI 1.1 have no GC: their DELs above did it).
    await this.o.cni.plugin.gc(this.o.cni.conf, [...liveUids].map((u) => ({ containerID: u, ifname: 'eth0' }))).catch(() => {});
  }

  // ---- status ----

  private async postStatus(pod: KObject, sb: Sandbox | undefined, containers: ContainerInfo[], waiting?: { reason: string; message: string }): Promise<void> {
    const uid = pod.metadata.uid!;
    const statuses: any[] = [];
    let running = 0;
    let terminated = 0;
    let failed = 0;
    let waitingCount = 0;
    for (const c of (pod.spec?.containers ?? []) as any[]) {
      const mine = containers.filter((x) => x.labels[L_CONTAINER] === c.name).sort((a, b) => Number(b.labels[L_RESTARTS]) - Number(a.labels[L_RESTARTS]));
      const latest = mine[0];
      const prev = mine[1];
      const restartCount = latest ? Number(latest.labels[L_RESTARTS] ?? 0) : 0;
      const st: any = { name: c.name, image: latest?.imageRef || c.image, imageID: latest ? latest.repoDigest || latest.imageId : '', ready: false, restartCount, started: false };
      if (latest) st.containerID = `runc://${latest.id}`;
      const err = this.imageErrors.get(`${uid}/${c.name}`);
      const bk = this.backoff.get(`${uid}/${c.name}`);
      const term = (x: ContainerInfo) => ({ terminated: { exitCode: x.state.exitCode ?? 137, reason: x.state.exitCode === 0 ? 'Completed' : 'Error',
        startedAt: iso(x.state.startedAt), finishedAt: iso(x.state.finishedAt), containerID: `runc://${x.id}` } });
      if (latest && latest.state.status !== 'stopped') {
        st.state = { running: { startedAt: iso(latest.state.startedAt) } };
        Object.assign(st, this.probes.status(latest.id, c));
        running++;
        if (prev) st.lastState = term(prev);
      } else if (err && err.reason !== 'CreateContainerError') {
        st.state = { waiting: { reason: err.reason, message: err.message } };
        if (latest) st.lastState = term(latest);
        waitingCount++;
      } else if (err) {
        st.state = { waiting: { reason: 'CreateContainerError', message: err.message } };
        if (latest) st.lastState = term(latest);
        waitingCount++;
      } else if (latest && bk && Date.now() < bk.until && (pod.spec?.restartPolicy ?? 'Always') !== 'Never') {
        st.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(bk.delay / 1000)}s restarting failed container=${c.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${uid})` } };
        st.lastState = term(latest);
        waitingCount++;
      } else if (latest) {
        st.state = term(latest);
        terminated++;
        if ((latest.state.exitCode ?? 1) !== 0) failed++;
      } else {
        st.state = { waiting: { reason: waiting?.reason ?? 'ContainerCreating', ...(waiting ? { message: waiting.message } : {}) } };
        waitingCount++;
      }
      statuses.push(st);
    }
    const total = statuses.length;
    const phase = podPhase({ total, running, terminated, failed, waiting: waitingCount, restarted: statuses.some((s) => s.restartCount > 0 || s.lastState) },
      pod.spec?.restartPolicy ?? 'Always');
    const allReady = total > 0 && statuses.every((s) => s.ready);
    const prevConds: any[] = pod.status?.conditions ?? [];
    const cond = (type: string, status: boolean, reason?: string, message?: string) => {
      const old = prevConds.find((c) => c.type === type);
      const s = status ? 'True' : 'False';
      return { type, status: s, lastProbeTime: null, lastTransitionTime: old && old.status === s ? old.lastTransitionTime : now(),
        ...(reason && !status ? { reason } : {}), ...(message && !status ? { message } : {}) };
    };
    const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
    const unreadyMsg = unready.length ? `containers with unready status: [${unready.join(' ')}]` : undefined;
    const status: any = {
      phase,
      conditions: [
        cond('PodReadyToStartContainers', Boolean(sb)),
        cond('Initialized', true),
        cond('Ready', allReady, 'ContainersNotReady', unreadyMsg),
        cond('ContainersReady', allReady, 'ContainersNotReady', unreadyMsg),
        cond('PodScheduled', true),
      ],
      hostIP: this.o.nodeIP,
      hostIPs: [{ ip: this.o.nodeIP }],
      startTime: pod.status?.startTime ?? now(),
      containerStatuses: statuses,
      qosClass: pod.status?.qosClass ?? 'BestEffort',
    };
    if (sb) {
      status.podIP = sb.ip;
      status.podIPs = [{ ip: sb.ip }];
    }
    if (JSON.stringify(strip(status)) === JSON.stringify(strip(pod.status ?? {}))) return;
    try {
      await this.client.update(PODS, pod.metadata.namespace, { ...pod, status }, 'status');
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 409) this.requeue(`${pod.metadata.namespace}/${pod.metadata.name}`, 100);
      else if (code !== 404) throw e;
    }
  }
}

/**
 * The pod phase from its containers, as the kubelet decides it: when every container has exited the pod
 * is finished only if nothing will restart them (Always restarts all; OnFailure restarts the failed ones).
 */
export function podPhase(c: { total: number; running: number; terminated: number; failed: number; waiting: number; restarted: boolean }, restartPolicy: string): string {
  if (c.total && c.terminated === c.total) {
    if (restartPolicy === 'Never') return c.failed ? 'Failed' : 'Succeeded';
    if (restartPolicy === 'OnFailure' && !c.failed) return 'Succeeded';
    return 'Running';
  }
  if (c.running > 0 || (c.terminated > 0 && c.waiting === 0) || c.restarted) return 'Running';
  return 'Pending';
}

/** Status without the timestamps that change on every computation. */
function strip(s: any): unknown {
  return JSON.parse(JSON.stringify(s, (k, v) => (k === 'lastTransitionTime' ? undefined : v)));
}

/**
 * The pod's hostname (spec.hostname, else its name, cut to 63 characters as the kubelet does) and, when it
 * has a subdomain, its fully qualified name <hostname>.<subdomain>.<namespace>.svc.<cluster domain>.
 */
export function podHostname(pod: KObject, clusterDomain: string): { hostname: string; fqdn?: string } {
  let hostname = String(pod.spec?.hostname || pod.metadata.name || '');
  if (hostname.length > 63) hostname = hostname.slice(0, 63).replace(/[-.]+$/, '');
  const sub = pod.spec?.subdomain;
  return sub ? { hostname, fqdn: `${hostname}.${sub}.${pod.metadata.namespace ?? 'default'}.svc.${clusterDomain}` } : { hostname };
}

/** The hostname the containers get: the fully qualified one under setHostnameAsFQDN. */
function utsHostname(pod: KObject, clusterDomain: string): string {
  const { hostname, fqdn } = podHostname(pod, clusterDomain);
  return pod.spec?.setHostnameAsFQDN && fqdn ? fqdn : hostname;
}

/** The pod's /etc/hosts in the kubelet's layout: localhost lines, the pod's own name(s), then hostAliases. */
export function hostsFile(pod: KObject, ips: string[], clusterDomain: string): string {
  const { hostname, fqdn } = podHostname(pod, clusterDomain);
  let out = '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
    + 'fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n';
  for (const ip of ips) out += fqdn ? `${ip}\t${fqdn}\t${hostname}\n` : `${ip}\t${hostname}\n`;
  const aliases: any[] = pod.spec?.hostAliases ?? [];
  if (aliases.length) {
    out += '\n# Entries added by HostAliases.\n';
    for (const a of aliases) out += `${a.ip}\t${((a.hostnames ?? []) as string[]).join('\t')}\n`;
  }
  return out;
}

/**
 * The pod's /etc/resolv.conf as the kubelet writes it. ClusterFirst: the cluster DNS, the search path
 * `<ns>.svc.<domain> svc.<domain> <domain>` and ndots:5; Default: nothing of the cluster's (k8ts nodes
 * pass no host resolver into pods); None: only dnsConfig. dnsConfig's nameservers, searches and options
 * are merged in for every policy (options by name, the pod's value winning), within resolv.conf's limits
 * of 3 nameservers and 32 search domains.
 */
export function resolvConf(pod: KObject, clusterDNS: string | undefined, domain: string): string {
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  const cfg = pod.spec?.dnsConfig ?? {};
  let servers: string[] = [];
  let searches: string[] = [];
  const options = new Map<string, string | undefined>();
  if (policy !== 'None' && policy !== 'Default' && clusterDNS) {
    const ns = pod.metadata.namespace!;
    servers = [clusterDNS];
    searches = [`${ns}.svc.${domain}`, `svc.${domain}`, domain];
    options.set('ndots', '5');
  }
  servers.push(...((cfg.nameservers ?? []) as string[]));
  searches.push(...((cfg.searches ?? []) as string[]));
  for (const o of (cfg.options ?? []) as { name: string; value?: string }[]) if (o?.name) options.set(o.name, o.value);
  const lines: string[] = [];
  const uniq = (xs: string[]) => [...new Set(xs)];
  if (searches.length) lines.push(`search ${uniq(searches).slice(0, 32).join(' ')}`);
  for (const sv of uniq(servers).slice(0, 3)) lines.push(`nameserver ${sv}`);
  if (options.size) lines.push(`options ${[...options].map(([k, v]) => (v === undefined || v === null ? k : `${k}:${v}`)).join(' ')}`);
  return `${lines.join('\n')}\n`;
}
