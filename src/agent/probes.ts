// Container probes as the kubelet runs them: one worker per running container and probe kind, on its own
// timer, keeping the result the pod's status shows (readiness → ready, startup → started) and telling the
// pod manager when a result flips, so status follows within a probe period instead of the next resync.
// Liveness and startup failures are reported to the pod manager, which kills and restarts the container.
import type { Pod } from '../api/types.js';
import { ProbeError, execProbe, httpGetProbe, resolvePort, tcpSocketProbe, type ContainerPort, type ExecRunner, type ProbeOutcome } from './probe-handlers.js';

export type ProbeKind = 'readiness' | 'liveness' | 'startup';

/** A probe as the pod spec gives it (the API server has filled in the defaults; they are applied again here). */
export interface ProbeSpec {
  exec?: { command?: string[] };
  httpGet?: { host?: string; port: number | string; path?: string; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { host?: string; port: number | string };
  grpc?: { port: number; service?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
  terminationGracePeriodSeconds?: number;
}

/** What a handler needs to probe one container. */
export interface ProbeTarget {
  containerId: string;
  containerName: string;
  podIP: string;
  ports: ContainerPort[];
}

/** Runs one probe once. */
export type ProbeRunner = (probe: ProbeSpec, target: ProbeTarget) => Promise<ProbeOutcome>;

/** Timers and the time, so tests can drive the workers without waiting. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

const KIND_NAME: Record<ProbeKind, string> = { readiness: 'Readiness', liveness: 'Liveness', startup: 'Startup' };

/** The probe with Kubernetes' defaults for fields left out. */
export function probeDefaults(
  p: ProbeSpec,
): Required<Pick<ProbeSpec, 'initialDelaySeconds' | 'periodSeconds' | 'timeoutSeconds' | 'successThreshold' | 'failureThreshold'>> {
  return {
    initialDelaySeconds: p.initialDelaySeconds || 0,
    periodSeconds: p.periodSeconds || 10,
    timeoutSeconds: p.timeoutSeconds || 1,
    successThreshold: p.successThreshold || 1,
    failureThreshold: p.failureThreshold || 3,
  };
}

/** The real handlers: exec through the runtime, httpGet and tcpSocket from this network namespace. */
export function probeRunner(runtime: ExecRunner): ProbeRunner {
  return async (p, t) => {
    const timeoutMs = probeDefaults(p).timeoutSeconds * 1000;
    if (p.exec) {
      if (!p.exec.command?.length) throw new ProbeError('ProbeInvalid', `exec probe of container ${t.containerName} has no command`);
      return execProbe(runtime, t.containerId, p.exec.command, timeoutMs);
    }
    if (p.httpGet) return httpGetProbe(p.httpGet, p.httpGet.host || t.podIP, resolvePort(p.httpGet.port, t.ports, t.containerName), timeoutMs);
    if (p.tcpSocket) return tcpSocketProbe(p.tcpSocket.host || t.podIP, resolvePort(p.tcpSocket.port, t.ports, t.containerName), timeoutMs);
    if (p.grpc) throw new ProbeError('ProbeUnsupported', 'gRPC probes are not supported by k8ts; use exec, httpGet or tcpSocket');
    throw new ProbeError('ProbeInvalid', `missing probe handler for container ${t.containerName}`);
  };
}

/**
 * A probe's result between runs, with the kubelet's thresholds: a result is taken only after it came
 * successThreshold (success) or failureThreshold (failure) times in a row.
 */
export class ProbeState {
  result: 'success' | 'failure' | 'unknown';
  private last: 'success' | 'failure' | 'unknown' = 'unknown';
  private run = 0;

  constructor(
    readonly kind: ProbeKind,
    private successThreshold: number,
    private failureThreshold: number,
  ) {
    // Not ready until a readiness probe succeeds; alive until a liveness probe fails; not started yet.
    this.result = kind === 'readiness' ? 'failure' : kind === 'liveness' ? 'success' : 'unknown';
  }

  /** Records one probe's outcome; true when the result changed. */
  observe(ok: boolean): boolean {
    const r = ok ? 'success' : 'failure';
    if (r === this.last) this.run++;
    else {
      this.last = r;
      this.run = 1;
    }
    if (this.run < (ok ? this.successThreshold : this.failureThreshold)) return false;
    const changed = this.result !== r;
    this.result = r;
    // After a liveness or startup failure the container is restarted: count afresh for the next one.
    if (!ok && this.kind !== 'readiness') this.run = 0;
    return changed;
  }
}

interface Worker {
  uid: string;
  key: string;
  pod: Pod;
  kind: ProbeKind;
  probe: ProbeSpec;
  target: ProbeTarget;
  /** When the container started (ms); initialDelaySeconds counts from here. */
  startedAt: number;
  state: ProbeState;
  timer?: unknown;
  lastRun: number;
  inFlight: boolean;
  stopped: boolean;
  /** A liveness or startup probe that failed: no more probing of this container. */
  onHold: boolean;
}

/** A running container of a pod, as the pod manager sees it on a sync. */
export interface RunningContainer {
  name: string;
  id: string;
  startedAt?: Date;
  /**
   * What the pod's status last said of this very container: an agent restart then keeps a ready container
   * ready (and a started one started) instead of dropping it from its services until the next probe.
   */
  wasReady?: boolean;
  wasStarted?: boolean;
}

export interface ProbeManagerOptions {
  /** Runs one probe (default: the real handlers; tests give their own). */
  run: ProbeRunner;
  /** Records an event about the pod (reason Unhealthy, ProbeWarning). */
  record: (pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>;
  /** Called with the pod's namespace/name when a result changed: its status must be recomputed. */
  changed: (key: string) => void;
  clock?: Clock;
  log?: (line: string) => void;
  /** Each probe run, with the kubelet's result names (prober_probe_total): a probe that could not run is unknown. */
  ran?: (p: ProbeRun & { result: 'successful' | 'failed' | 'unknown'; seconds: number }) => void;
  /** A worker stopped: its series go. */
  gone?: (p: ProbeRun) => void;
}

/** Which probe ran: its kind, pod and container. */
export interface ProbeRun {
  kind: ProbeKind;
  namespace: string;
  pod: string;
  uid: string;
  container: string;
}

/** The probe workers of this node's containers. */
export class ProbeManager {
  /** By container id, then kind. */
  private workers = new Map<string, Map<ProbeKind, Worker>>();
  private clock: Clock;

  constructor(private o: ProbeManagerOptions) {
    this.clock = o.clock ?? realClock;
  }

  /**
   * Brings the workers of one pod in line with its running containers: workers for each probe of a
   * container that runs, none for containers that stopped or were replaced. Idempotent; cheap when nothing changed.
   */
  sync(pod: Pod, podIP: string, running: RunningContainer[]): void {
    const uid = pod.metadata.uid!;
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const ids = new Set(running.map((c) => c.id));
    for (const [id, ws] of this.workers) {
      const any = ws.values().next().value as Worker | undefined;
      if (any?.uid === uid && !ids.has(id)) this.removeContainer(id);
    }
    // What the workers and their events name: the pod's identity, not the whole (changing) object.
    const ref: Pod = {
      apiVersion: pod.apiVersion ?? 'v1',
      kind: pod.kind ?? 'Pod',
      metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, uid },
    };
    for (const rc of running) {
      if (this.workers.has(rc.id)) continue;
      // App containers and sidecars (init containers with restartPolicy Always) are probed; plain init containers are not.
      const spec =
        (pod.spec?.containers ?? []).find((c) => c.name === rc.name) ??
        (pod.spec?.initContainers ?? []).find((c) => c.name === rc.name && c.restartPolicy === 'Always');
      if (!spec) continue;
      const ws = new Map<ProbeKind, Worker>();
      const target: ProbeTarget = { containerId: rc.id, containerName: rc.name, podIP, ports: spec.ports ?? [] };
      for (const kind of ['startup', 'readiness', 'liveness'] as ProbeKind[]) {
        const probe: ProbeSpec | undefined = spec[`${kind}Probe` as const];
        if (!probe) continue;
        const d = probeDefaults(probe);
        ws.set(kind, {
          uid,
          key,
          pod: ref,
          kind,
          probe,
          target,
          startedAt: rc.startedAt?.getTime() ?? this.clock.now(),
          state: new ProbeState(kind, d.successThreshold, d.failureThreshold),
          lastRun: 0,
          inFlight: false,
          stopped: false,
          onHold: false,
        });
        if ((kind === 'readiness' && rc.wasReady) || (kind === 'startup' && rc.wasStarted)) ws.get(kind)!.state.result = 'success';
      }
      if (!ws.size) continue;
      this.workers.set(rc.id, ws);
      for (const w of ws.values()) this.schedule(w);
    }
  }

  /**
   * What the pod's status shows for a running container: started (startup probe) and ready (readiness
   * probe). A probe whose worker has not run yet counts as not passed.
   */
  status(containerId: string, container: { startupProbe?: unknown; readinessProbe?: unknown }): { started: boolean; ready: boolean } {
    const ws = this.workers.get(containerId);
    const started = !container.startupProbe || ws?.get('startup')?.state.result === 'success';
    return { started, ready: started && (!container.readinessProbe || ws?.get('readiness')?.state.result === 'success') };
  }

  /** Whether a container must be killed: its liveness or startup probe failed. */
  failed(containerId: string): 'liveness' | 'startup' | undefined {
    const ws = this.workers.get(containerId);
    if (ws?.get('startup')?.state.result === 'failure') return 'startup';
    if (ws?.get('liveness')?.state.result === 'failure') return 'liveness';
    return undefined;
  }

  /** The probe of a kind that a container's workers run (for its terminationGracePeriodSeconds). */
  probe(containerId: string, kind: ProbeKind): ProbeSpec | undefined {
    return this.workers.get(containerId)?.get(kind)?.probe;
  }

  /** Stops a container's workers and forgets its results. */
  removeContainer(containerId: string): void {
    const ws = this.workers.get(containerId);
    if (!ws) return;
    for (const w of ws.values()) this.stop(w);
    this.workers.delete(containerId);
  }

  /** Stops every worker of a pod (it is gone, finished or being torn down). */
  removePod(uid: string): void {
    for (const [id, ws] of [...this.workers]) {
      if ((ws.values().next().value as Worker | undefined)?.uid === uid) this.removeContainer(id);
    }
  }

  /** Stops all workers (the agent is stopping). */
  close(): void {
    for (const id of [...this.workers.keys()]) this.removeContainer(id);
  }

  /** How many workers run (tests: nothing leaks). */
  get size(): number {
    let n = 0;
    for (const ws of this.workers.values()) n += ws.size;
    return n;
  }

  private stop(w: Worker): void {
    w.stopped = true;
    this.o.gone?.(this.runOf(w));
    if (w.timer !== undefined) this.clock.clearTimeout(w.timer);
    w.timer = undefined;
  }

  private runOf(w: Worker): ProbeRun {
    return { kind: w.kind, namespace: w.pod.metadata.namespace ?? '', pod: w.pod.metadata.name ?? '', uid: w.uid, container: w.target.containerName };
  }

  /** Arms the worker's timer for its next run: after the initial delay, then every period (as a ticker). */
  private schedule(w: Worker, asap = false): void {
    if (w.stopped || w.onHold || w.inFlight) return;
    const d = probeDefaults(w.probe);
    const now = this.clock.now();
    let at = Math.max(w.startedAt + d.initialDelaySeconds * 1000, w.lastRun ? w.lastRun + d.periodSeconds * 1000 : 0);
    if (asap) at = Math.max(w.startedAt + d.initialDelaySeconds * 1000, now);
    if (w.timer !== undefined) this.clock.clearTimeout(w.timer);
    w.timer = this.clock.setTimeout(
      () => {
        w.timer = undefined;
        void this.tick(w);
      },
      Math.max(0, at - now),
    );
  }

  private async tick(w: Worker): Promise<void> {
    if (w.stopped || w.onHold) return;
    const startup = this.workers.get(w.target.containerId)?.get('startup');
    const started = !startup || startup.state.result === 'success';
    // The startup probe holds the others back until it succeeds, and stops once it has.
    if (w.kind !== 'startup' && !started) {
      w.lastRun = this.clock.now();
      this.schedule(w);
      return;
    }
    if (w.kind === 'startup' && started) return;
    w.lastRun = this.clock.now();
    w.inFlight = true;
    let outcome: ProbeOutcome | undefined;
    const t0 = performance.now();
    try {
      outcome = await this.o.run(w.probe, w.target);
      // A warning (an httpGet redirect elsewhere) passes, as in the kubelet.
      this.o.ran?.({ ...this.runOf(w), result: outcome.result === 'failure' ? 'failed' : 'successful', seconds: (performance.now() - t0) / 1000 });
    } catch (e) {
      this.o.ran?.({ ...this.runOf(w), result: 'unknown', seconds: (performance.now() - t0) / 1000 });
      // The probe could not be run: the result stays as it was, as in the kubelet.
      const msg = e instanceof Error ? e.message : String(e);
      const quiet = (e as { code?: string }).code === 'ContainerNotRunning' || (e as { code?: string }).code === 'ContainerNotFound';
      if (!w.stopped && !quiet) await this.o.record(w.pod, 'Warning', 'Unhealthy', `${KIND_NAME[w.kind]} probe errored: ${msg}`);
    } finally {
      w.inFlight = false;
    }
    if (w.stopped) return;
    if (outcome) {
      const name = KIND_NAME[w.kind];
      if (outcome.result === 'failure') await this.o.record(w.pod, 'Warning', 'Unhealthy', `${name} probe failed: ${outcome.output}`);
      else if (outcome.result === 'warning') await this.o.record(w.pod, 'Warning', 'ProbeWarning', `${name} probe warning: ${outcome.output}`);
      if (w.stopped) return;
      const changed = w.state.observe(outcome.result !== 'failure');
      if (w.kind !== 'readiness' && w.state.result === 'failure') w.onHold = true;
      if (changed) {
        this.o.log?.(`probe: ${w.key} container ${w.target.containerName}: ${w.kind} ${w.state.result}`);
        this.o.changed(w.key);
        // A container that has just started is probed for readiness and liveness now, not a period later.
        if (w.kind === 'startup' && w.state.result === 'success') {
          for (const k of ['readiness', 'liveness'] as ProbeKind[]) {
            const other = this.workers.get(w.target.containerId)?.get(k);
            if (other) this.schedule(other, true);
          }
        }
      }
    }
    if (w.kind === 'startup' && w.state.result === 'success') return;
    this.schedule(w);
  }
}
