// Pods on this node: each pod is a network namespace (CNI ADD into cbr0) and one runc container per pod
// container joined to it. Level-triggered: every sync reads the pod from the API and the containers and
// sandboxes from the node, acts on the difference (start, restart with back-off, stop, tear down) and
// posts the pod's status. Restarting the agent repairs, never duplicates: sandboxes and containers are
// found again by the pod's uid.
import { PODS } from '../api/kinds.js';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Container, ContainerStatus, Pod, PodCondition, PodStatus } from '../api/types.js';

/** Pod status as the agent writes it: conditions with `lastProbeTime: null` (a nil Time, as the kubelet writes it). */
type WirePodStatus = Omit<PodStatus, 'conditions'> & { conditions: (Omit<PodCondition, 'lastProbeTime'> & { lastProbeTime: null })[] };
import type { Client } from '../client/types.js';
import type { EventRecorder } from '../client/events.js';
import { netnsAdd, netnsDel } from './helper.js';
import type { CniConfig, CniPlugin } from './cni/types.js';
import type { Runtime, ContainerInfo } from './runtime/runtime.js';
import type { ImageService } from './images/service.js';
import { ProbeManager, probeRunner, type ProbeManagerOptions, type ProbeRunner } from './probes.js';
import { Backoff } from './backoff.js';
import { PodTrace } from './podtrace.js';
import type { PodStartStep } from './metrics.js';
import { now } from '../util/time.js';
import type { Service } from '../api/types.js';
import { MountError, type VolumeManager, checkPropagationSource, mountSubPath, type NodeVolume, type RefreshCause } from './volumes/manager.js';
import type { TokenManager } from './volumes/tokens.js';
import type { NodeFacts, ObjectSource } from './volumes/sources.js';
import { ContainerConfigError, containerEnv, expandArgs } from './env.js';
import type { VolumeMount } from './runtime/spec.js';

const BACKOFF_BASE_MS = 10_000;
const BACKOFF_MAX_MS = 300_000;
const L_POD_UID = 'k8ts.pod.uid';
const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The label of a container naming its pod (namespace/name), the agent's work-queue key. */
export const L_POD = 'k8ts.pod';
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
  networkReady?: (pod: Pod, ip: string) => Promise<void>;
  /** Makes sure a container's image is on the node (pull policy, pulls, back-off, events). */
  images: ImageService;
  /** The pods' volumes on this node (set up before the first container, torn down with the sandbox). */
  volumes: VolumeManager;
  /** ConfigMaps and Secrets (env, volumes) and Services (service links), from the agent's caches. */
  objects: ObjectSource;
  services: () => Service[];
  node: NodeFacts;
  /** The projected ServiceAccount tokens: a pod is synced again when one of its tokens is due for refresh. */
  tokens?: TokenManager;
  /** The back-off's clock (tests move it; default Date.now). */
  clock?: () => number;
  /** The agent's metrics: each step of a pod's start timed, each probe run counted. */
  metrics?: {
    step<T>(step: PodStartStep, f: () => Promise<T>): Promise<T>;
    probeRan: NonNullable<ProbeManagerOptions['ran']>;
    probeGone: NonNullable<ProbeManagerOptions['gone']>;
  };
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
  /** Crash-loop back-off per pod uid/container: 10 s doubling to 5 min, forgiven after 10 minutes without a failure. */
  private backoff: Backoff;
  /** uid → namespace/name of every sandbox on this node, so a sync of a key finds the pods it replaced or lost. */
  private keyOf = new Map<string, string>();
  /** Why a container could not be started: an image reason (ErrImagePull, ImagePullBackOff…) or CreateContainerError. */
  private imageErrors = new Map<string, { reason: string; message: string }>();
  /** Containers killed for failing a liveness or startup probe: restarted even under OnFailure if they exit 0. */
  private probeKilled = new Set<string>();
  /** Each pod's set-up volumes (by uid), for the mounts of its containers. */
  private volumesOf = new Map<string, Map<string, NodeVolume>>();
  readonly probes: ProbeManager;
  /** Where each pod's start went, printed with NODE_DEBUG=k8ts:pods. */
  readonly trace = new PodTrace();
  private dir: string;

  constructor(
    private client: Client,
    private runtime: Runtime,
    private events: EventRecorder,
    private o: PodManagerOptions,
    private requeue: (key: string, ms: number) => void,
  ) {
    this.backoff = new Backoff(BACKOFF_BASE_MS, BACKOFF_MAX_MS, o.clock);
    this.dir = join(o.dataDir, 'pods');
    mkdirSync(this.dir, { recursive: true });
    for (const sb of this.sandboxes()) this.keyOf.set(sb.uid, `${sb.namespace}/${sb.name}`);
    this.probes = new ProbeManager({
      run: o.probeRunner ?? probeRunner(runtime),
      record: (pod, type, reason, message) => events.record(pod, type, reason, message),
      // A probe result flipped: the pod's status is recomputed (and written if it changed) right away.
      changed: (key) => requeue(key, 0),
      ran: o.metrics?.probeRan,
      gone: o.metrics?.probeGone,
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

  /** Times one step of a pod's start when the agent measures them (metrics) or traces them (NODE_DEBUG=k8ts:pods). */
  private step<T>(uid: string, step: PodStartStep, f: () => Promise<T>): Promise<T> {
    const timed = this.o.metrics ? () => this.o.metrics!.step(step, f) : f;
    return this.trace.step(uid, step, timed);
  }

  private async ensureSandbox(pod: Pod): Promise<Sandbox> {
    const uid = pod.metadata.uid!;
    const p = this.sandboxPath(uid);
    this.keyOf.set(uid, `${pod.metadata.namespace}/${pod.metadata.name}`);
    if (existsSync(p)) {
      const sb = JSON.parse(readFileSync(p, 'utf8')) as Sandbox;
      if (existsSync(`/run/netns/${sb.netns}`)) return sb;
    }
    return this.step(uid, 'sandbox', () => this.createSandbox(pod, p));
  }

  /** A new sandbox: its network namespace, CNI ADD, its /etc files and its record. */
  private async createSandbox(pod: Pod, p: string): Promise<Sandbox> {
    const uid = pod.metadata.uid!;
    const netns = this.netnsName(uid);
    if (!existsSync(`/run/netns/${netns}`)) await this.trace.step(uid, 'netns', () => netnsAdd(netns));
    // A namespace without a record: a crash came between `netns add` and the record, maybe after CNI ADD.
    // DEL (idempotent) undoes a half-made attachment, which a second ADD would refuse, and frees its IP.
    else await this.o.cni.plugin.del(this.o.cni.conf, { containerId: uid, netns: `/run/netns/${netns}`, ifName: 'eth0' });
    // Record the intent before CNI ADD, so a crash in between is found and undone by the sweep.
    const podDir = join(this.dir, uid);
    mkdirSync(podDir, { recursive: true });
    const result = await this.trace.step(uid, 'cni', () =>
      this.o.cni.plugin.add(this.o.cni.conf, { containerId: uid, netns: `/run/netns/${netns}`, ifName: 'eth0' }),
    );
    const ip = result.ips?.[0]?.address.split('/')[0];
    if (!ip) throw new Error(`CNI ADD for pod ${pod.metadata.namespace}/${pod.metadata.name} returned no IP`);
    const sb: Sandbox = { uid, namespace: pod.metadata.namespace!, name: pod.metadata.name!, netns, ip, createdAt: now() };
    this.writeEtc(pod, podDir, ip);
    writeFileSync(`${p}.tmp`, JSON.stringify(sb));
    renameSync(`${p}.tmp`, p);
    return sb;
  }

  private writeEtc(pod: Pod, podDir: string, ip: string): void {
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
    if (existsSync(`/run/netns/${netns}`)) await netnsDel(netns).catch(() => {});
    // tmpfs volumes are unmounted first: nothing of a Secret stays in memory, and rm never crosses a mount.
    await this.o.volumes.tearDown(join(this.dir, uid));
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
  async sync(key: string, pod: Pod | undefined): Promise<void> {
    for (const [uid, k] of [...this.keyOf]) if (k === key && uid !== pod?.metadata.uid) await this.cleanup(uid);
    if (!pod) return;
    const uid = pod.metadata.uid!;
    // The uid names the pod's directory, its network namespace and its containers' labels: only the
    // server's own form (a UUID) is used for any of them.
    if (!UID.test(uid)) throw new Error(`pod ${key} has uid ${JSON.stringify(String(uid).slice(0, 64))}, not a UUID: left alone`);
    this.trace.dequeued(uid);
    if (pod.metadata.deletionTimestamp) {
      this.trace.forget(uid);
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
    let vols: Map<string, NodeVolume>;
    try {
      // Timed as a start step the first time only: every later sync sets them up again, idempotently.
      const setUp = () => this.o.volumes.setUp(pod as Pod, join(this.dir, uid));
      vols = await (this.volumesOf.has(uid) ? setUp() : this.step(uid, 'volumes', setUp));
    } catch (e) {
      if (!(e instanceof MountError)) throw e;
      // As the kubelet: a FailedMount event, the pod stays ContainerCreating, and it is retried (at once
      // when the object it waits for appears: the agent's ConfigMap/Secret informers requeue it).
      await this.events.record(pod, 'Warning', 'FailedMount', e.message);
      await this.postStatus(pod, sb, await this.containersOf(uid), { reason: 'ContainerCreating', message: e.message });
      this.requeue(key, 5000);
      return;
    }
    this.volumesOf.set(uid, vols);
    let existing = await this.containersOf(uid);
    const restartPolicy = pod.spec?.restartPolicy ?? 'Always';
    if (await this.killUnhealthy(pod, existing, restartPolicy)) existing = await this.containersOf(uid);
    // Workers first (seeded from the last posted status after an agent restart): a sidecar's startupProbe
    // result decides below whether the next init container may start.
    this.syncProbes(pod, sb, existing);
    let nextWake = 0;
    let networkChecked = false;
    const init = this.initProgress(pod, existing);
    if (init.failed && restartPolicy === 'Never') {
      this.syncProbes(pod, sb, existing);
      await this.postStatus(pod, sb, existing);
      return;
    }
    const plan: { c: Container; sidecar: boolean; init: boolean }[] = [];
    for (const c of pod.spec?.initContainers ?? []) {
      const sidecar = c.restartPolicy === 'Always';
      plan.push({ c, sidecar, init: true });
    }
    if (init.done) for (const c of pod.spec?.containers ?? []) plan.push({ c, sidecar: false, init: false });
    for (const { c, sidecar, init: isInit } of plan) {
      const mine = existing.filter((x) => x.labels[L_CONTAINER] === c.name).sort((a, b) => Number(b.labels[L_RESTARTS]) - Number(a.labels[L_RESTARTS]));
      const latest = mine[0];
      if (latest && latest.state.status !== 'stopped') {
        // An init container runs alone until it is done; a sidecar has to be running and started (its
        // startupProbe passed, when it has one): the probe's flip syncs the pod again.
        if (isInit && !sidecar) break;
        if (isInit && !this.probes.status(latest.id, c).started) break;
        continue;
      }
      if (isInit && !sidecar && latest?.state.exitCode === 0) continue;
      if (latest) {
        const code = latest.state.exitCode ?? 1;
        // Init containers: OnFailure and Always both restart a failed one; sidecars always restart.
        const restart = sidecar || restartPolicy === 'Always' || ((isInit || restartPolicy === 'OnFailure') && (code !== 0 || this.probeKilled.has(latest.id)));
        if (!restart) {
          if (isInit) break;
          continue;
        }
        const bk = `${uid}/${c.name}`;
        const wait = this.backoff.remaining(bk);
        if (wait > 0) {
          nextWake = nextWake ? Math.min(nextWake, wait) : wait;
          if (isInit && !sidecar) break;
          continue;
        }
        // The back-off doubles from 10 s to 5 min; a container that finished more than twice the cap after
        // its last restart was fine meanwhile and starts afresh at 10 s (the kubelet's expiry).
        this.backoff.next(bk, latest.state.finishedAt?.getTime());
      }
      const restarts = latest ? Number(latest.labels[L_RESTARTS] ?? 0) + 1 : 0;
      if (!networkChecked && this.o.networkReady) {
        try {
          await this.step(uid, 'network_ready', () => this.o.networkReady!(pod, sb.ip));
        } catch (e) {
          const msg = `network policy for ${sb.ip} not in place: ${e instanceof Error ? e.message : e}`;
          await this.events.record(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${msg}`);
          this.requeue(key, 2000);
          return;
        }
      }
      networkChecked = true;
      const started = await this.startContainer(pod, sb, c, restarts);
      // An init container's exit is what lets the next one start: the pod is synced the moment it stops.
      if (started && isInit && !sidecar) this.syncOnExit(key, started);
      // Keep only the newest exited attempt (for `kubectl logs --previous` and lastState).
      for (const old of mine.slice(1)) {
        await this.removeContainer(old.id).catch(() => {});
        this.probeKilled.delete(old.id);
      }
      // The next init container waits for this one: a sync comes when it exits (or, for a sidecar, the
      // next one starts once this one runs).
      if (isInit && (!sidecar || !started || c.startupProbe)) break;
    }
    if (init.done) await this.startEphemeral(pod as Pod, sb, existing);
    existing = await this.containersOf(uid);
    this.syncProbes(pod, sb, existing);
    await this.postStatus(pod, sb, existing);
    // A projected token due for refresh brings the pod back (the sync re-renders its volumes).
    const tokenDue = this.o.tokens?.nextRefreshMs(uid);
    if (tokenDue !== undefined) nextWake = nextWake ? Math.min(nextWake, tokenDue) : Math.max(tokenDue, 1);
    if (nextWake) this.requeue(key, nextWake + 50);
  }

  /**
   * The volumes-only refresh of a pod whose ConfigMap, Secret or downward fields changed: only the volumes
   * that read it are rendered and swapped, beside (never instead of) the pod's sync. 'sync' when the pod's
   * volumes were not set up by this agent yet: then only the full sync can do it (and report why not).
   */
  async refreshVolumes(pod: Pod, cause: RefreshCause): Promise<'done' | 'sync'> {
    const uid = pod.metadata.uid!;
    if (!UID.test(uid)) return 'done';
    if (pod.metadata.deletionTimestamp) return 'done';
    if (!this.volumesOf.has(uid)) return 'sync';
    await this.o.volumes.refresh(pod, join(this.dir, uid), cause);
    return 'done';
  }

  /** Containers whose exit re-syncs their pod at once (init containers), each watched once. */
  private exitWatched = new Set<string>();

  private syncOnExit(key: string, id: string): void {
    if (this.exitWatched.has(id)) return;
    this.exitWatched.add(id);
    const watch = async (): Promise<void> => {
      for (;;) {
        const st = await this.runtime.waitStopped(id, 300_000).catch(() => undefined);
        if (!st || st.status === 'stopped') break;
      }
      this.exitWatched.delete(id);
      this.requeue(key, 0);
    };
    void watch();
  }

  /**
   * Ephemeral containers (kubectl debug): started once each, never restarted, in the pod's network
   * namespace with its volumes; with targetContainerName, in the target's pid namespace when it runs.
   */
  private async startEphemeral(pod: Pod, sb: Sandbox, existing: ContainerInfo[]): Promise<void> {
    for (const ec of pod.spec?.ephemeralContainers ?? []) {
      if (this.newest(existing, ec.name)) continue;
      if (this.imageErrors.get(`${pod.metadata.uid}/${ec.name}`)?.reason === 'CreateContainerError') continue;
      let pidns: string | undefined;
      if (ec.targetContainerName) {
        const target = this.newest(existing, ec.targetContainerName);
        if (target && target.state.status !== 'stopped' && target.state.pid) pidns = `/proc/${target.state.pid}/ns/pid`;
      }
      // Ephemeral containers have no probes, ports, lifecycle or resources (validation refuses them).
      await this.startContainer(pod, sb, ec, 0, pidns);
    }
  }

  /** The newest attempt of each of the pod's app and sidecar containers. */
  private latestOf(pod: Pod, containers: ContainerInfo[]): Map<string, ContainerInfo> {
    const out = new Map<string, ContainerInfo>();
    for (const x of containers) {
      const name = x.labels[L_CONTAINER];
      const cur = out.get(name);
      if (!cur || Number(x.labels[L_RESTARTS]) > Number(cur.labels[L_RESTARTS])) out.set(name, x);
    }
    // App containers and sidecars: the ones that are probed and killed for failing a probe.
    const probed = new Set([
      ...((pod.spec?.containers ?? []) as Container[]).map((c) => c.name),
      ...((pod.spec?.initContainers ?? []) as Container[]).filter((c) => c.restartPolicy === 'Always').map((c) => c.name),
    ]);
    for (const name of [...out.keys()]) if (!probed.has(name)) out.delete(name);
    return out;
  }

  /** Probe workers for the running containers (and none for the others), seeded from the status last posted. */
  private syncProbes(pod: Pod, sb: Sandbox, containers: ContainerInfo[]): void {
    const prior: ContainerStatus[] = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
    const running = [...this.latestOf(pod, containers).values()]
      .filter((x) => x.state.status !== 'stopped')
      .map((x) => {
        const was = prior.find((s) => s.containerID === `runc://${x.id}`);
        return { name: x.labels[L_CONTAINER], id: x.id, startedAt: x.state.startedAt, wasReady: was?.ready === true, wasStarted: was?.started === true };
      });
    this.probes.sync(pod, sb.ip, running);
  }

  /**
   * Kills the running containers whose liveness or startup probe failed, as the kubelet does; the restart
   * (and its back-off) is then the ordinary restart of an exited container. True if it killed any.
   */
  private async killUnhealthy(pod: Pod, containers: ContainerInfo[], restartPolicy: string): Promise<boolean> {
    let killed = false;
    for (const [name, x] of this.latestOf(pod, containers)) {
      if (x.state.status === 'stopped') continue;
      const why = this.probes.failed(x.id);
      if (!why) continue;
      const grace = this.probes.probe(x.id, why)?.terminationGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
      this.probes.removeContainer(x.id);
      this.probeKilled.add(x.id);
      const sidecar = ((pod.spec?.initContainers ?? []) as Container[]).some((c) => c.name === name && c.restartPolicy === 'Always');
      await this.events.record(
        pod,
        'Normal',
        'Killing',
        `Container ${name} failed ${why} probe${restartPolicy === 'Never' && !sidecar ? '' : ', will be restarted'}`,
      );
      await this.runtime.stop(x.id, grace);
      killed = true;
    }
    return killed;
  }

  /** Where the pod's init containers are: all done (app containers may start), or one failed for good. */
  private initProgress(pod: Pod, containers: ContainerInfo[]): { done: boolean; failed: boolean } {
    // Once an app container has been started the pod stays initialized (as the kubelet's): a sidecar that
    // stops later is restarted beside the app containers, never in front of them.
    const apps = new Set(((pod.spec?.containers ?? []) as Container[]).map((c) => c.name));
    if (containers.some((x) => apps.has(x.labels[L_CONTAINER]))) return { done: true, failed: false };
    for (const c of (pod.spec?.initContainers ?? []) as Container[]) {
      const latest = this.newest(containers, c.name);
      if (c.restartPolicy === 'Always') {
        if (!latest || latest.state.status === 'stopped') return { done: false, failed: false };
        // A sidecar with a startupProbe counts once the probe has passed (the kubelet's "started").
        if (!this.probes.status(latest.id, c).started) return { done: false, failed: false };
        continue;
      }
      if (latest?.state.status !== 'stopped') return { done: false, failed: false };
      if (latest.state.exitCode !== 0) return { done: false, failed: true };
    }
    return { done: true, failed: false };
  }

  private newest(containers: ContainerInfo[], name: string): ContainerInfo | undefined {
    return containers.filter((x) => x.labels[L_CONTAINER] === name).sort((a, b) => Number(b.labels[L_RESTARTS]) - Number(a.labels[L_RESTARTS]))[0];
  }

  /** The bind mounts of a container: its volumeMounts over the pod's set-up volumes, subPath bound on the node. */
  private async mountsFor(pod: Pod, c: Container, env: { name: string; value: string }[]): Promise<VolumeMount[]> {
    const uid = pod.metadata.uid!;
    const vols = this.volumesOf.get(uid) ?? new Map<string, NodeVolume>();
    const out: VolumeMount[] = [];
    for (const [i, m] of (c.volumeMounts ?? []).entries()) {
      const v = vols.get(m.name);
      if (!v) throw new ContainerConfigError(`volume "${m.name}" of mount ${m.mountPath} is not set up`);
      let sub = m.subPath;
      if (m.subPathExpr) {
        const vars = new Map(env.map((e) => [e.name, e.value]));
        sub = m.subPathExpr.replace(/\$\(([^)]*)\)/g, (all, n: string) => vars.get(n) ?? all);
      }
      let host = v.hostPath;
      if (sub) {
        // The kubelet's layout: <pod>/volume-subpaths/<volume>/<container>/<mount index>.
        host = join(this.dir, uid, 'volume-subpaths', m.name, c.name, String(i));
        try {
          await mountSubPath(v.hostPath, sub, v.atomic, host);
        } catch (e) {
          throw new ContainerConfigError(
            `failed to prepare subPath for volumeMount "${m.name}" of container "${c.name}": ${e instanceof Error ? e.message : e}`,
          );
        }
      }
      // mountPropagation, as the kubelet's makeMounts and containerd check it: Bidirectional only for a
      // privileged container, and anything but None only from a mount that propagates.
      const propagation = (m.mountPropagation ?? 'None') as 'None' | 'HostToContainer' | 'Bidirectional';
      if (!['None', 'HostToContainer', 'Bidirectional'].includes(propagation))
        throw new ContainerConfigError(`invalid mountPropagation ${JSON.stringify(propagation)} for volumeMount "${m.name}"`);
      if (propagation === 'Bidirectional' && c.securityContext?.privileged !== true) {
        throw new ContainerConfigError(
          `volumeMount "${m.name}" of container "${c.name}": Bidirectional mount propagation is available only to privileged containers`,
        );
      }
      if (propagation !== 'None') {
        try {
          checkPropagationSource(host, propagation);
        } catch (e) {
          throw new ContainerConfigError(`volumeMount "${m.name}" (mountPropagation ${propagation}): ${e instanceof Error ? e.message : e}`);
        }
      }
      out.push({ hostPath: host, containerPath: m.mountPath, readOnly: v.readOnly || Boolean(m.readOnly), propagation });
    }
    return out;
  }

  private async startContainer(pod: Pod, sb: Sandbox, c: Container, restarts: number, pidns?: string): Promise<string | undefined> {
    const uid = pod.metadata.uid!;
    const key = `${uid}/${c.name}`;
    const img = await this.step(uid, 'image', () => this.o.images.ensure(pod, c));
    if (!img.ok) {
      this.imageErrors.set(key, { reason: img.reason, message: img.message });
      // Right after a failed pull the next sync reports ImagePullBackOff, as the kubelet's does; the pull
      // is tried again when the back-off ends.
      if (img.retryMs !== undefined) this.requeue(`${pod.metadata.namespace}/${pod.metadata.name}`, img.reason === 'ErrImagePull' ? 1000 : img.retryMs + 50);
      return undefined;
    }
    this.imageErrors.delete(key);
    const podDir = join(this.dir, uid);
    let env: { name: string; value: string }[];
    let mounts: VolumeMount[];
    try {
      env = containerEnv(pod, c, {
        objects: this.o.objects,
        node: this.o.node,
        services: this.o.services(),
        podIP: sb.ip,
        skipped: (message) => void this.events.record(pod, 'Warning', 'InvalidEnvironmentVariableNames', message),
      });
      mounts = await this.mountsFor(pod, c, env);
    } catch (e) {
      if (!(e instanceof ContainerConfigError)) throw e;
      // As the kubelet: the container waits with CreateContainerConfigError; the pod is retried when the
      // object appears (informer) and on the back-off timer.
      this.imageErrors.set(key, { reason: 'CreateContainerConfigError', message: e.message });
      await this.events.record(pod, 'Warning', 'Failed', `Error: ${e.message}`);
      this.requeue(`${pod.metadata.namespace}/${pod.metadata.name}`, 5000);
      return undefined;
    }
    try {
      const id = await this.step(uid, 'container', () =>
        this.runtime.create({
          name: c.name,
          podName: pod.metadata.name!,
          hostname: utsHostname(pod, this.o.clusterDomain),
          image: c.image ?? '',
          command: expandArgs(c.command, env),
          args: expandArgs(c.args, env),
          env,
          workingDir: c.workingDir,
          mounts,
          netns: `/run/netns/${sb.netns}`,
          etcHosts: join(podDir, 'hosts'),
          etcHostname: join(podDir, 'hostname'),
          resolvConf: join(podDir, 'resolv.conf'),
          securityContext: c.securityContext,
          pidns,
          labels: { [L_POD_UID]: uid, [L_POD]: `${pod.metadata.namespace}/${pod.metadata.name}`, [L_CONTAINER]: c.name, [L_RESTARTS]: String(restarts) },
        }),
      );
      // Not waited for, as the kubelet's recorder is not: two event POSTs in a row stood between a started
      // container and its Running status (best effort, in order: Created before Started).
      void this.events
        .record(pod, 'Normal', 'Created', `Created container ${c.name}`)
        .then(() => this.events.record(pod, 'Normal', 'Started', `Started container ${c.name}`));
      return id;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.imageErrors.set(key, { reason: 'CreateContainerError', message: msg });
      await this.events.record(pod, 'Warning', 'Failed', `Error: ${msg}`);
      return undefined;
    }
  }

  /** Graceful termination: SIGTERM, the grace period, SIGKILL; then the sandbox; then the final delete. */
  private async terminate(pod: Pod): Promise<void> {
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
    this.trace.forget(uid);
    this.probes.removePod(uid);
    for (const c of await this.containersOf(uid)) {
      if (c.state.status !== 'stopped') await this.runtime.kill(c.id, 'SIGKILL').catch(() => {});
      await this.removeContainer(c.id).catch(() => {});
      this.probeKilled.delete(c.id);
    }
    await this.removeSandbox(uid);
    this.backoff.forget(`${uid}/`);
    for (const k of this.imageErrors.keys()) if (k.startsWith(`${uid}/`)) this.imageErrors.delete(k);
    this.volumesOf.delete(uid);
    this.o.images.forgetPod(uid);
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
      if (!known.has(ns) && !live.has(ns)) await netnsDel(ns).catch(() => {});
    }
    // Release IPs held for pods that are gone (plugins that predate CNI 1.1 have no GC: their DELs above did it).
    await this.o.cni.plugin
      .gc(
        this.o.cni.conf,
        [...liveUids].map((u) => ({ containerID: u, ifname: 'eth0' })),
      )
      .catch(() => {});
  }

  // ---- status ----

  /** One container's status (the newest attempt, the one before as lastState) and how it counts for the phase. */
  private containerStatus(
    pod: Pod,
    c: Container,
    containers: ContainerInfo[],
    kind: 'app' | 'init' | 'sidecar' | 'ephemeral',
    waiting?: { reason: string; message?: string },
  ): { st: ContainerStatus; count: 'running' | 'waiting' | 'terminated' | 'failed' } {
    const uid = pod.metadata.uid!;
    const mine = containers.filter((x) => x.labels[L_CONTAINER] === c.name).sort((a, b) => Number(b.labels[L_RESTARTS]) - Number(a.labels[L_RESTARTS]));
    const latest = mine[0];
    const prev = mine[1];
    const restartCount = latest ? Number(latest.labels[L_RESTARTS] ?? 0) : 0;
    const st: ContainerStatus = {
      name: c.name,
      image: latest?.imageRef || (c.image ?? ''),
      imageID: latest ? latest.repoDigest || latest.imageId : '',
      ready: false,
      restartCount,
    };
    if (kind !== 'ephemeral') st.started = false;
    if (latest) st.containerID = `runc://${latest.id}`;
    const err = this.imageErrors.get(`${uid}/${c.name}`);
    const bk = this.backoff.get(`${uid}/${c.name}`);
    const inBackoff = this.backoff.remaining(`${uid}/${c.name}`) > 0;
    const term = (x: ContainerInfo) => ({
      terminated: {
        exitCode: x.state.exitCode ?? 137,
        reason: x.state.exitCode === 0 ? 'Completed' : 'Error',
        startedAt: iso(x.state.startedAt),
        finishedAt: iso(x.state.finishedAt),
        containerID: `runc://${x.id}`,
      },
    });
    const restarts = kind === 'init' || kind === 'sidecar' || (pod.spec?.restartPolicy ?? 'Always') !== 'Never';
    if (latest && latest.state.status !== 'stopped') {
      st.state = { running: { startedAt: iso(latest.state.startedAt) } };
      // App containers and sidecars: started by their startupProbe, ready by their readinessProbe (each
      // true once running when there is none); an init container runs to completion, never ready.
      if (kind === 'app' || kind === 'sidecar') Object.assign(st, this.probes.status(latest.id, c));
      else if (kind === 'init') st.started = true;
      if (prev) st.lastState = term(prev);
      return { st, count: 'running' };
    }
    if (err) {
      st.state = { waiting: { reason: err.reason, message: err.message } };
      if (latest) st.lastState = term(latest);
      return { st, count: 'waiting' };
    }
    if (latest && kind !== 'ephemeral' && bk && inBackoff && restarts && !(kind === 'init' && latest.state.exitCode === 0)) {
      st.state = {
        waiting: {
          reason: 'CrashLoopBackOff',
          message: `back-off ${Math.round(bk.delay / 1000)}s restarting failed container=${c.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${uid})`,
        },
      };
      st.lastState = term(latest);
      return { st, count: 'waiting' };
    }
    if (latest) {
      st.state = term(latest);
      // A completed init container counts as ready (the kubelet's status for it).
      if (kind === 'init' && latest.state.exitCode === 0) st.ready = true;
      return { st, count: (latest.state.exitCode ?? 1) !== 0 ? 'failed' : 'terminated' };
    }
    st.state = { waiting: { reason: waiting?.reason ?? 'ContainerCreating', ...(waiting?.message ? { message: waiting.message } : {}) } };
    return { st, count: 'waiting' };
  }

  private async postStatus(pod: Pod, sb: Sandbox | undefined, containers: ContainerInfo[], waiting?: { reason: string; message: string }): Promise<void> {
    const statuses: ContainerStatus[] = [];
    let running = 0;
    let terminated = 0;
    let failed = 0;
    let waitingCount = 0;
    const init = this.initProgress(pod, containers);
    // Until the init containers are done, the app containers wait with PodInitializing (the kubelet's reason).
    const appWaiting = init.done ? waiting : { reason: 'PodInitializing' };
    for (const c of (pod.spec?.containers ?? []) as Container[]) {
      const { st, count } = this.containerStatus(pod, c, containers, 'app', appWaiting);
      if (count === 'running') running++;
      else if (count === 'waiting') waitingCount++;
      else {
        terminated++;
        if (count === 'failed') failed++;
      }
      statuses.push(st);
    }
    const initStatuses = ((pod.spec?.initContainers ?? []) as Container[]).map(
      (c, i) =>
        this.containerStatus(pod, c, containers, c.restartPolicy === 'Always' ? 'sidecar' : 'init', i === 0 ? waiting : { reason: 'PodInitializing' }).st,
    );
    const ephemeralStatuses = ((pod.spec?.ephemeralContainers ?? []) as Container[]).map((c) => this.containerStatus(pod, c, containers, 'ephemeral').st);
    const total = statuses.length;
    const restartPolicy = pod.spec?.restartPolicy ?? 'Always';
    const phase =
      init.failed && restartPolicy === 'Never'
        ? 'Failed'
        : !init.done
          ? 'Pending'
          : podPhase(
              { total, running, terminated, failed, waiting: waitingCount, restarted: statuses.some((s) => s.restartCount > 0 || s.lastState) },
              restartPolicy,
            );
    const incomplete = initStatuses.filter((s) => !(s.ready || (s.state?.running && s.started))).map((s) => s.name);
    // A sidecar's readiness counts in the pod's, as the kubelet's (restartable init containers first).
    const sidecarStatuses = initStatuses.filter((_, i) => (pod.spec?.initContainers as Container[] | undefined)?.[i]?.restartPolicy === 'Always');
    const allReady = total > 0 && statuses.every((s) => s.ready) && sidecarStatuses.every((s) => s.ready);
    const prevConds: PodCondition[] = pod.status?.conditions ?? [];
    const cond = (type: string, status: boolean, reason?: string, message?: string) => {
      const old = prevConds.find((c) => c.type === type);
      const s = status ? 'True' : 'False';
      return {
        type,
        status: s,
        lastProbeTime: null,
        lastTransitionTime: old && old.status === s ? old.lastTransitionTime : now(),
        ...(reason && !status ? { reason } : {}),
        ...(message && !status ? { message } : {}),
      };
    };
    const unready = [...sidecarStatuses, ...statuses].filter((s) => !s.ready).map((s) => s.name);
    const unreadyMsg = unready.length ? `containers with unready status: [${unready.join(' ')}]` : undefined;
    const status: WirePodStatus = {
      phase,
      conditions: [
        cond('PodReadyToStartContainers', Boolean(sb)),
        cond('Initialized', init.done, 'ContainersNotInitialized', `containers with incomplete status: [${incomplete.join(' ')}]`),
        cond('Ready', allReady, 'ContainersNotReady', unreadyMsg),
        cond('ContainersReady', allReady, 'ContainersNotReady', unreadyMsg),
        cond('PodScheduled', true),
      ],
      hostIP: this.o.nodeIP,
      hostIPs: [{ ip: this.o.nodeIP }],
      startTime: pod.status?.startTime ?? now(),
      containerStatuses: statuses,
      ...(initStatuses.length ? { initContainerStatuses: initStatuses } : {}),
      ...(ephemeralStatuses.length ? { ephemeralContainerStatuses: ephemeralStatuses } : {}),
      qosClass: pod.status?.qosClass ?? 'BestEffort',
    };
    if (sb) {
      status.podIP = sb.ip;
      status.podIPs = [{ ip: sb.ip }];
    }
    if (sameStatus(status, pod.status ?? {})) return;
    try {
      // Conditions carry `lastProbeTime: null` as the kubelet writes a nil Time; kubernetes-types has no null there.
      const uid = pod.metadata.uid!;
      await this.trace.step(uid, 'status', () =>
        this.client.update(PODS, pod.metadata.namespace, { ...pod, status: status as unknown as PodStatus }, 'status'),
      );
      if (phase === 'Running' && sb) this.trace.running(uid, `${pod.metadata.namespace}/${pod.metadata.name}`);
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 409) this.requeue(`${pod.metadata.namespace}/${pod.metadata.name}`, 100);
      else if (code !== 404) throw e;
    }
  }
}

/** Every ConfigMap and Secret the pod's volumes and env read (not imagePullSecrets: those are read when pulling). */
export function podRefNames(pod: Pod): { kind: 'configMap' | 'secret'; name: string }[] {
  const out = new Map<string, { kind: 'configMap' | 'secret'; name: string }>();
  const add = (kind: 'configMap' | 'secret', name: string | undefined) => name && out.set(`${kind}/${name}`, { kind, name });
  const spec = pod.spec;
  if (!spec) return [];
  for (const v of spec.volumes ?? []) {
    add('configMap', v.configMap?.name);
    add('secret', v.secret?.secretName);
    for (const src of v.projected?.sources ?? []) {
      add('configMap', src.configMap?.name);
      add('secret', src.secret?.name);
    }
  }
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])] as Container[]) {
    for (const f of c.envFrom ?? []) {
      add('configMap', f.configMapRef?.name);
      add('secret', f.secretRef?.name);
    }
    for (const e of c.env ?? []) {
      add('configMap', e.valueFrom?.configMapKeyRef?.name);
      add('secret', e.valueFrom?.secretKeyRef?.name);
    }
  }
  return [...out.values()];
}

/** Whether the pod reads ConfigMap or Secret `name` (in a volume, a projection, env or envFrom). */
export function podReferences(pod: Pod, kind: 'configMap' | 'secret', name: string): boolean {
  return podVolumeReferences(pod, kind, name) || podEnvReferences(pod, kind, name);
}

/** Whether one of the pod's volumes (configMap, secret, or a projection) reads ConfigMap or Secret `name`. */
export function podVolumeReferences(pod: Pod, kind: 'configMap' | 'secret', name: string): boolean {
  for (const v of pod.spec?.volumes ?? []) {
    if (kind === 'configMap' && v.configMap?.name === name) return true;
    if (kind === 'secret' && v.secret?.secretName === name) return true;
    for (const src of v.projected?.sources ?? []) if ((kind === 'configMap' ? src.configMap : src.secret)?.name === name) return true;
  }
  return false;
}

/** Whether a container's env or envFrom reads ConfigMap or Secret `name`. */
export function podEnvReferences(pod: Pod, kind: 'configMap' | 'secret', name: string): boolean {
  const spec = pod.spec;
  if (!spec) return false;
  const all = [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])] as Container[];
  for (const c of all) {
    for (const f of c.envFrom ?? []) if ((kind === 'configMap' ? f.configMapRef : f.secretRef)?.name === name) return true;
    for (const e of c.env ?? []) if ((kind === 'configMap' ? e.valueFrom?.configMapKeyRef : e.valueFrom?.secretKeyRef)?.name === name) return true;
  }
  return false;
}

/**
 * The pod phase from its containers, as the kubelet decides it: when every container has exited the pod
 * is finished only if nothing will restart them (Always restarts all; OnFailure restarts the failed ones).
 */
export function podPhase(
  c: { total: number; running: number; terminated: number; failed: number; waiting: number; restarted: boolean },
  restartPolicy: string,
): string {
  if (c.total && c.terminated === c.total) {
    if (restartPolicy === 'Never') return c.failed ? 'Failed' : 'Succeeded';
    if (restartPolicy === 'OnFailure' && !c.failed) return 'Succeeded';
    return 'Running';
  }
  if (c.running > 0 || (c.terminated > 0 && c.waiting === 0) || c.restarted) return 'Running';
  return 'Pending';
}

/** Whether two versions of a pod differ in nothing but their status and bookkeeping (resourceVersion, managedFields). */
export function onlyStatusChanged(old: Pod, p: Pod): boolean {
  const m = old.metadata;
  const n = p.metadata;
  return (
    m.uid === n.uid &&
    m.deletionTimestamp === n.deletionTimestamp &&
    m.deletionGracePeriodSeconds === n.deletionGracePeriodSeconds &&
    m.generation === n.generation &&
    JSON.stringify(m.labels ?? {}) === JSON.stringify(n.labels ?? {}) &&
    JSON.stringify(m.annotations ?? {}) === JSON.stringify(n.annotations ?? {}) &&
    JSON.stringify(m.finalizers ?? []) === JSON.stringify(n.finalizers ?? []) &&
    JSON.stringify(old.spec) === JSON.stringify(p.spec)
  );
}

/**
 * Whether a computed status says what the stored one says: transition times aside, and as the server
 * stores it, which leaves out fields that are null (`lastProbeTime: null`) and may order keys its own way.
 * A plain text comparison never matched, so every sync of a running pod wrote its status again.
 */
export function sameStatus(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonicalStatus(a)) === JSON.stringify(canonicalStatus(b));
}

function canonicalStatus(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonicalStatus);
  if (!v || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const x = (v as Record<string, unknown>)[k];
    if (x === null || x === undefined || k === 'lastTransitionTime') continue;
    out[k] = canonicalStatus(x);
  }
  return out;
}

/**
 * The pod's hostname (spec.hostname, else its name, cut to 63 characters as the kubelet does) and, when it
 * has a subdomain, its fully qualified name <hostname>.<subdomain>.<namespace>.svc.<cluster domain>.
 */
export function podHostname(pod: Pod, clusterDomain: string): { hostname: string; fqdn?: string } {
  let hostname = String(pod.spec?.hostname || pod.metadata.name || '');
  if (hostname.length > 63) hostname = hostname.slice(0, 63).replace(/[-.]+$/, '');
  const sub = pod.spec?.subdomain;
  return sub ? { hostname, fqdn: `${hostname}.${sub}.${pod.metadata.namespace ?? 'default'}.svc.${clusterDomain}` } : { hostname };
}

/** The hostname the containers get: the fully qualified one under setHostnameAsFQDN. */
function utsHostname(pod: Pod, clusterDomain: string): string {
  const { hostname, fqdn } = podHostname(pod, clusterDomain);
  return pod.spec?.setHostnameAsFQDN && fqdn ? fqdn : hostname;
}

/** The pod's /etc/hosts in the kubelet's layout: localhost lines, the pod's own name(s), then hostAliases. */
export function hostsFile(pod: Pod, ips: string[], clusterDomain: string): string {
  const { hostname, fqdn } = podHostname(pod, clusterDomain);
  let out =
    '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' +
    'fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n';
  for (const ip of ips) out += fqdn ? `${ip}\t${fqdn}\t${hostname}\n` : `${ip}\t${hostname}\n`;
  const aliases = pod.spec?.hostAliases ?? [];
  if (aliases.length) {
    out += '\n# Entries added by HostAliases.\n';
    for (const a of aliases) out += `${a.ip}\t${(a.hostnames ?? []).join('\t')}\n`;
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
export function resolvConf(pod: Pod, clusterDNS: string | undefined, domain: string): string {
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
