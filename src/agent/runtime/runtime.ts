// The node's container runtime: runc containers in pod network namespaces, each started and waited for by
// its own shim, with all state on disk under one directory per node so agent restarts lose nothing.
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants as fsc, existsSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync, watch, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { delimiter, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { MissingCommandError, PACKAGE_OF, spawnProcess } from '../../util/exec.js';
import {
  containerPaths,
  nowNs,
  parseExit,
  parseProcRef,
  processAlive,
  readText,
  toDate,
  waitFor,
  writeAtomic,
  type ContainerPaths,
  type ContainerState,
} from './container.js';
import { ContainerNotFoundError, InvalidSpecError, StartError } from './errors.js';
import { loadImage, resolveImage, type ImageRecord } from './images.js';
import { ImageStore } from '../images/store.js';
import { resolveUser, UserLookupError } from '../images/user.js';
import { readLog, type LogOptions } from './logs.js';
import { Runc, runcError } from './runc.js';
import { startExec, type ExecOptions, type ExecSession } from './session.js';
import { SHIM_SCRIPT, shimSyscalls } from './shim.js';
import { installedNodeHelper, type Held, type NodeHelper } from '../helper.js';
import { containerArgv, ociConfig, type ContainerSpec } from './spec.js';

export type { ContainerState, ContainerStatus } from './container.js';
export type { ContainerSpec, VolumeMount, SecurityContext } from './spec.js';
export type { ExecOptions, ExecSession } from './session.js';
export type { LogOptions } from './logs.js';

export interface RuntimeOptions {
  /** This node's runtime state: runc's root, one directory per container. Not shared with other nodes. */
  stateDir: string;
  /** The node's image store (src/agent/images): images are pulled or imported there before create(). */
  imagesDir: string;
  /** Parent cgroup for containers (cgroupsPath = <parent>/<id>); default: runc's, beside the agent's own. */
  cgroupParent?: string;
  /** Programs, found in PATH unless given. */
  runc?: string;
  perl?: string;
  script?: string;
  stty?: string;
  /** How long create() waits for runc to start the process. */
  startTimeoutMs?: number;
  /** Container log rotation, as the kubelet's containerLogMaxSize / containerLogMaxFiles (default 10 MiB × 5):
   *  the current file is rotated when it would pass maxBytes; at most maxFiles files, the current one included. */
  containerLog?: ContainerLogLimits;
}

export interface ContainerLogLimits {
  maxBytes: number;
  maxFiles: number;
}

export const DEFAULT_CONTAINER_LOG: ContainerLogLimits = { maxBytes: 10 * 1024 * 1024, maxFiles: 5 };

/** The limits' own rules (the flags are parsed and checked in the CLI; this guards every other caller). */
export function checkContainerLogLimits(l: ContainerLogLimits): string | undefined {
  if (!Number.isSafeInteger(l.maxBytes) || l.maxBytes < MIN_LOG_BYTES || l.maxBytes > MAX_LOG_BYTES) {
    return `container log max size ${l.maxBytes}: expected a whole number of bytes from ${MIN_LOG_BYTES} (4Ki) to ${MAX_LOG_BYTES} (1Ti)`;
  }
  if (!Number.isSafeInteger(l.maxFiles) || l.maxFiles < 2 || l.maxFiles > 1000) {
    return `container log max files ${l.maxFiles}: expected a whole number from 2 (the current file and one rotated) to 1000`;
  }
  return undefined;
}
const MIN_LOG_BYTES = 4096;
const MAX_LOG_BYTES = 2 ** 40;

/** What list() and inspect() tell about a container: what it was created from, and its state now. */
export interface ContainerInfo {
  id: string;
  name: string;
  podName: string;
  /** The image reference as given, the reference spelled out, and the image id. */
  image: string;
  imageRef: string;
  imageId: string;
  /** `<repository>@<digest>` of the image (the kubelet's imageID); empty for containers made before images were pulled. */
  repoDigest: string;
  labels: Record<string, string>;
  createdAt: Date;
  state: ContainerState;
}

interface Meta {
  id: string;
  name: string;
  podName: string;
  image: string;
  imageRef: string;
  imageId: string;
  repoDigest?: string;
  labels: Record<string, string>;
  createdAt: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A started shim waiting to be told its container. */
interface Shim {
  alive(): boolean;
  /** Gives it the container; resolves once the process runs, StartError if it could not be started. */
  go(id: string, p: ContainerPaths): Promise<void>;
  /** Makes it exit without starting anything. */
  abort(): void;
}

/** Drops keys whose value is undefined, so states compare and print cleanly. */
function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function writeAtomicSync(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** A directory's names (none if it is missing), read synchronously as readText reads (container.ts). */
function readdirOr(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Is there a process with this pid (signal 0 checks without sending)? */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function which(name: string, given?: string): string {
  const candidates = given ? [given] : (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, fsc.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new MissingCommandError(given ?? name, PACKAGE_OF[name]);
}

export class Runtime {
  readonly stateDir: string;
  readonly imagesDir: string;
  readonly containersDir: string;
  /** Where each shim notes its container's exit (an empty file named by the id): see watchExits. */
  readonly exitsDir: string;
  readonly runc: Runc;
  private readonly perl: string;
  private readonly script: string;
  private readonly stty: string;
  private readonly shimPath: string;
  private readonly syscalls: string;
  private readonly logLimits: ContainerLogLimits;
  private ready?: Promise<void>;
  private spare?: Shim;
  private store: ImageStore;
  /**
   * Containers create() is making now. Until its shim has written its pid file such a container has a
   * directory and no process, which state() must not take for a dead container: a concurrent list() would
   * otherwise record a lost exit for it, and the container, running fine, would be reported stopped forever.
   */
  private creating = new Set<string>();
  /** Containers remove() is deleting now: state() must not write into a directory on its way out. */
  private removing = new Set<string>();
  /**
   * Each container's meta.json, read once: it is written before the container starts and never changed, and
   * every pod sync looks its containers up by label (re-reading every file made a node's resync O(pods²)).
   */
  private metas = new Map<string, Meta>();

  constructor(private readonly opts: RuntimeOptions) {
    this.stateDir = opts.stateDir;
    this.imagesDir = opts.imagesDir;
    this.store = new ImageStore(opts.imagesDir);
    this.containersDir = join(opts.stateDir, 'containers');
    this.exitsDir = join(opts.stateDir, 'exits');
    this.runc = new Runc(which('runc', opts.runc), join(opts.stateDir, 'runc'));
    this.perl = which('perl', opts.perl);
    this.script = which('script', opts.script);
    this.stty = which('stty', opts.stty);
    this.shimPath = join(opts.stateDir, 'shim.pl');
    this.syscalls = shimSyscalls();
    this.logLimits = opts.containerLog ?? DEFAULT_CONTAINER_LOG;
    const bad = checkContainerLogLimits(this.logLimits);
    if (bad) throw new InvalidSpecError(bad);
  }

  private setup(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.containersDir, { recursive: true });
      await mkdir(this.exitsDir, { recursive: true });
      await mkdir(this.runc.root, { recursive: true, mode: 0o700 });
      if ((await readText(this.shimPath)) !== SHIM_SCRIPT) await writeAtomic(this.shimPath, SHIM_SCRIPT);
    })();
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }

  private boundingPromise?: Promise<bigint | undefined>;
  /** This process's capability bounding set (CapBnd in /proc/self/status). */
  private bounding(): Promise<bigint | undefined> {
    this.boundingPromise ??= readText('/proc/self/status').then(
      (t) => {
        const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(t ?? '');
        return m ? BigInt(`0x${m[1]}`) : undefined;
      },
      () => undefined,
    );
    return this.boundingPromise;
  }

  private lastCapPromise?: Promise<number | undefined>;
  private lastCap(): Promise<number | undefined> {
    this.lastCapPromise ??= readText('/proc/sys/kernel/cap_last_cap').then(
      (t) => (t ? Number(t.trim()) : undefined),
      () => undefined,
    );
    return this.lastCapPromise;
  }

  /** Read at every create: a tag may have moved since the last (a pull under imagePullPolicy Always). */
  private image(ref: string): Promise<ImageRecord> {
    return loadImage(this.store, ref);
  }

  paths(id: string): ContainerPaths {
    if (!ID.test(id)) throw new InvalidSpecError(`invalid container id ${JSON.stringify(id)}`);
    return containerPaths(this.containersDir, id);
  }

  /**
   * Creates and starts a container; resolves with its id once its process runs. Image problems throw
   * ImageError, spec problems InvalidSpecError, and a process runc could not start (e.g. a command that
   * is not in the image) StartError with runc's message; nothing is left behind in those cases.
   */
  async create(spec: ContainerSpec): Promise<string> {
    await this.setup();
    const resolved = resolveImage(spec.image);
    const image = await this.image(spec.image);
    const argv = containerArgv(image.config, spec.command, spec.args);
    let user;
    try {
      user = resolveUser(image.config.user, image.lowerdirs);
    } catch (e) {
      if (e instanceof UserLookupError) throw new InvalidSpecError(e.message);
      throw e;
    }
    const id = spec.id ?? randomBytes(32).toString('hex');
    const p = this.paths(id);
    try {
      mkdirSync(p.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new InvalidSpecError(`container id ${id} is already in use`);
      throw e;
    }
    this.creating.add(id);
    try {
      // Written synchronously: a dozen small file operations take well under a millisecond this way,
      // several through the thread pool.
      for (const d of [p.rootfs, p.upper, p.work]) mkdirSync(d);
      const config = ociConfig({
        spec,
        image: image.config,
        argv,
        lower: image.lowerdirs,
        upper: p.upper,
        work: p.work,
        user,
        lastCap: await this.lastCap(),
        bounding: await this.bounding(),
        cgroupsPath: this.opts.cgroupParent ? posix.join(this.opts.cgroupParent, id) : undefined,
        annotations: { 'io.k8ts.container.name': spec.name, 'io.k8ts.pod.name': spec.podName },
      });
      this.makeWorkingDir(image, p, (config.process as { cwd: string }).cwd);
      const meta: Meta = {
        id,
        name: spec.name,
        podName: spec.podName,
        image: spec.image,
        imageRef: resolved.ref,
        imageId: image.id,
        repoDigest: image.repoDigest,
        labels: spec.labels ?? {},
        createdAt: new Date().toISOString(),
      };
      writeAtomicSync(p.config, JSON.stringify(config));
      writeAtomicSync(p.meta, JSON.stringify(meta));
      this.metas.set(id, meta);
      writeFileSync(p.log, '', { flag: 'a' });
      await this.takeShim().go(id, p);
      return id;
    } catch (e) {
      this.creating.delete(id);
      await this.remove(id).catch(() => {});
      throw e;
    } finally {
      this.creating.delete(id);
      // The next create's shim starts now, off this create's path.
      this.spare ??= this.spawnShim();
    }
  }

  /** Ends the spare shim (containers and their shims are not touched). */
  close(): void {
    this.spare?.abort();
    this.spare = undefined;
  }

  // Docker and containerd create a missing working directory; with an overlay root it is one mkdir in upper.
  private makeWorkingDir(image: ImageRecord, p: ContainerPaths, cwd: string): void {
    const rel = posix.normalize(cwd).replace(/^\/+/, '');
    if (!rel || rel.startsWith('..') || image.lowerdirs.some((d) => existsSync(join(d, rel)))) return;
    mkdirSync(join(p.upper, rel), { recursive: true, mode: 0o755 });
  }

  private takeShim(): Shim {
    const s = this.spare;
    this.spare = undefined;
    return s?.alive() ? s : this.spawnShim();
  }

  private spawnShim(): Shim {
    const helper = installedNodeHelper();
    return helper ? this.heldShim(helper) : this.forkedShim();
  }

  private shimArgv(): string[] {
    return [this.perl, this.shimPath, this.runc.bin, this.runc.root, this.syscalls, this.exitsDir];
  }

  /**
   * Calls `onExit` for each container whose shim notes its exit, as it notes it, and at once for the notes
   * left while nobody watched (the agent was down): the kubelet's PLEG relists every second to learn the
   * same; here one inotify watch on one directory learns it without a poll. A note is taken (removed) before
   * the call, and only by whoever removes it, so the watch's event for that removal calls nothing. The call
   * gets the container's labels, read from its meta.json (empty if it is gone). Returns the stop function;
   * `onError` hears of a watch that failed (the caller's periodic look at every pod still finds exits).
   */
  watchExits(onExit: (id: string, labels: Record<string, string>) => void, onError: (e: Error) => void = () => {}): () => void {
    mkdirSync(this.exitsDir, { recursive: true });
    const take = (name: string) => {
      if (!ID.test(name)) return;
      try {
        unlinkSync(join(this.exitsDir, name));
      } catch {
        return;
      }
      this.meta(name)
        .catch(() => undefined)
        .then((m) => onExit(name, m?.labels ?? {}))
        .catch((e: Error) => onError(e));
    };
    const takeAll = () => {
      for (const name of readdirOr(this.exitsDir)) take(name);
    };
    // Watched before the first look, so a note made in between is seen by one or the other.
    const watcher = watch(this.exitsDir, (_event, name) => (name ? take(String(name)) : takeAll()));
    watcher.on('error', (e) => onError(e));
    takeAll();
    return () => watcher.close();
  }

  /** The line for a shim that waits for its container. */
  private goLine(id: string, p: ContainerPaths): string {
    return `go\t${id}\t${p.dir}\t${this.logLimits.maxBytes}\t${this.logLimits.maxFiles}\n`;
  }

  /** The shim's answer: nothing if it started the container, else the StartError with runc's reason. */
  private async shimAnswer(id: string, p: ContainerPaths, l: string): Promise<void> {
    if (l.startsWith('started ')) return;
    const why = (await runcError(p.runcLog)) ?? (await readText(p.log))?.trim() ?? (await readText(p.shimLog))?.trim();
    throw new StartError(id, why || `the container shim failed (${l || 'no output'})`);
  }

  /** Rejects with a StartError once the start timeout passes; clear() stops the clock. */
  private startClock(id: string): { expired: Promise<never>; clear: () => void } {
    const timeoutMs = this.opts.startTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StartError(id, `runc did not start the container within ${timeoutMs} ms`)), timeoutMs);
    });
    return { expired, clear: () => clearTimeout(timer) };
  }

  /**
   * A spare shim started by the node helper (helper.ts): the same program and protocol, but no fork of the
   * agent, whose spawn cost it 15–20 ms of its event loop per container. The helper holds the shim's stdin
   * and stdout and passes the go line and the answer.
   */
  private heldShim(helper: NodeHelper): Shim {
    const started = helper.hold(this.shimArgv(), join(this.stateDir, 'shim.log'));
    let held: Held | undefined;
    let used = false;
    started.then(
      (h) => (held = h),
      () => (used = true),
    );
    return {
      alive: () => !used && (held === undefined || pidAlive(held.pid)),
      abort: () => {
        used = true;
        started.then((h) => helper.drop(h)).catch(() => {});
      },
      go: async (id: string, p: ContainerPaths) => {
        used = true;
        const clock = this.startClock(id);
        try {
          const h = await Promise.race([started, clock.expired]);
          await this.shimAnswer(id, p, await Promise.race([helper.talk(h, this.goLine(id, p)), clock.expired]));
        } catch (e) {
          // The helper failing (it died with the spare, say) is a failed start like any other.
          throw e instanceof StartError ? e : new StartError(id, `the container shim could not be started: ${(e as Error).message}`);
        } finally {
          clock.clear();
        }
      },
    };
  }

  /** A spare shim forked from the agent itself (no node helper installed: tests, K8TS_NODE_HELPER=0). */
  private forkedShim(): Shim {
    const spareLog = openSync(join(this.stateDir, 'shim.log'), 'a');
    let sp;
    try {
      sp = spawnProcess(this.shimArgv(), {
        stdio: ['pipe', 'pipe', spareLog],
        detached: true,
      });
    } finally {
      closeSync(spareLog);
    }
    const { child } = sp;
    // The shim must outlive the agent, and a spare must not keep it running: no handle of ours holds them.
    const handles = [child, child.stdin, child.stdout] as unknown as { ref(): void; unref(): void }[];
    for (const h of handles) h.unref();
    let buf = '';
    let gotLine: (l: string) => void;
    let failed: (e: Error) => void;
    const line = new Promise<string>((resolve, reject) => {
      gotLine = resolve;
      failed = reject;
    });
    line.catch(() => {});
    child.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) gotLine(buf.slice(0, nl));
    });
    child.stdout!.on('close', () => gotLine(buf));
    sp.exited.catch((e: Error) => failed(e));
    return {
      alive: () => child.exitCode === null && child.signalCode === null && !child.stdin!.destroyed,
      abort: () => child.stdin!.end(),
      go: async (id: string, p: ContainerPaths) => {
        const clock = this.startClock(id);
        for (const h of handles) h.ref();
        try {
          child.stdin!.end(this.goLine(id, p));
          await this.shimAnswer(id, p, await Promise.race([line, clock.expired]));
        } finally {
          clock.clear();
          child.stdout!.destroy();
          for (const h of handles) h.unref();
        }
      },
    };
  }

  /** The container's state, read from disk; works the same for containers started by an earlier agent. */
  async state(id: string): Promise<ContainerState> {
    const p = this.paths(id);
    // Taken before reading: files read while create() was still running may predate the shim's.
    const creating = this.creating.has(id);
    if (!existsSync(p.dir)) throw new ContainerNotFoundError(id);
    const [initText, shimText] = await Promise.all([readText(p.init), readText(p.shim)]);
    const init = parseProcRef(initText);
    const shim = parseProcRef(shimText);
    const shimAlive = shim ? await processAlive(shim) : false;
    const base = { id, pid: init?.pid, startedAt: init?.time ? toDate(init.time) : undefined, shimPid: shimAlive ? shim!.pid : undefined };
    const stopped = async (): Promise<ContainerState | undefined> => {
      const exit = parseExit(await readText(p.exit));
      if (!exit) return undefined;
      return defined<ContainerState>({
        ...base,
        status: 'stopped',
        exitCode: exit.exitCode,
        signal: exit.signal,
        finishedAt: toDate(exit.time),
        reason: exit.exitCode === undefined ? 'ExitCodeLost' : undefined,
        shimPid: shim && (await processAlive(shim)) ? shim.pid : undefined,
      });
    };
    const done = await stopped();
    if (done) return done;
    if (init && (await processAlive(init))) return defined<ContainerState>({ ...base, status: 'running' });
    if (!init && (shimAlive || creating)) return defined<ContainerState>({ ...base, status: 'created' });
    // The process is gone: a live shim is about to write its exit status; a dead one never will.
    if (shimAlive) {
      const exit = await waitFor(p.dir, stopped, 2000, 10);
      if (exit) return exit;
    }
    if (!(await readText(p.exit))) {
      const at = nowNs();
      if (this.removing.has(id)) return defined<ContainerState>({ ...base, status: 'stopped', reason: 'ExitCodeLost', finishedAt: toDate(at) });
      await writeAtomic(p.exit, `- - ${at.sec} ${at.nsec}\n`);
    }
    return (await stopped())!;
  }

  /** What the container was created from, with its state. */
  async inspect(id: string): Promise<ContainerInfo> {
    const p = this.paths(id);
    const state = await this.state(id);
    const m: Partial<Meta> = (await this.meta(id)) ?? {};
    return {
      id,
      name: m.name ?? '',
      podName: m.podName ?? '',
      image: m.image ?? '',
      imageRef: m.imageRef ?? '',
      imageId: m.imageId ?? '',
      repoDigest: m.repoDigest ?? '',
      labels: m.labels ?? {},
      createdAt: m.createdAt ? new Date(m.createdAt) : (await stat(p.dir)).ctime,
      state,
    };
  }

  /** The container's metadata; undefined while it is missing or half-written. */
  private async meta(id: string): Promise<Meta | undefined> {
    const known = this.metas.get(id);
    if (known) return known;
    const text = await readText(this.paths(id).meta);
    if (!text) return undefined;
    try {
      const m = JSON.parse(text) as Meta;
      this.metas.set(id, m);
      return m;
    } catch {
      return undefined;
    }
  }

  /**
   * Every container under this runtime's state dir (to reconcile against pods after a restart), or only
   * those carrying all of `labels`: their small metadata files are read first, so looking up one pod's
   * containers does not cost a state check of every container on the node.
   */
  async list(labels?: Record<string, string>): Promise<ContainerInfo[]> {
    const names = readdirOr(this.containersDir);
    // Forget containers removed behind our back (another process, a test).
    if (this.metas.size > names.length) {
      const present = new Set(names);
      for (const id of this.metas.keys()) if (!present.has(id)) this.metas.delete(id);
    }
    const out: ContainerInfo[] = [];
    const wanted = labels ? Object.entries(labels) : [];
    for (const id of names) {
      if (!ID.test(id)) continue;
      if (wanted.length) {
        const have = (await this.meta(id))?.labels ?? {};
        if (!wanted.every(([k, v]) => have[k] === v)) continue;
      }
      try {
        out.push(await this.inspect(id));
      } catch (e) {
        if (e instanceof ContainerNotFoundError) continue;
        // Removed by a concurrent remove() while we read it: no longer a container, and not an error.
        if (!existsSync(this.paths(id).dir)) continue;
        throw e;
      }
    }
    return out;
  }

  /** Sends a signal to the container's process; a container that is not running is left alone. */
  async kill(id: string, signal: NodeJS.Signals | number = 'SIGKILL'): Promise<void> {
    const p = this.paths(id);
    if (!existsSync(p.dir)) throw new ContainerNotFoundError(id);
    const init = parseProcRef(await readText(p.init));
    if (!init || !(await processAlive(init))) return;
    try {
      process.kill(init.pid, signal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }

  /** Resolves with the state once the container has stopped, or with its current state after timeoutMs. */
  async waitStopped(id: string, timeoutMs: number): Promise<ContainerState> {
    const p = this.paths(id);
    const st = await waitFor(
      p.dir,
      async () => {
        const s = await this.state(id);
        return s.status === 'stopped' ? s : undefined;
      },
      timeoutMs,
    );
    return st ?? this.state(id);
  }

  /** SIGTERM, up to graceSeconds for the process to exit, then SIGKILL (grace 0: SIGKILL at once). */
  async stop(id: string, graceSeconds: number): Promise<ContainerState> {
    let st = await this.state(id);
    if (st.status === 'stopped') return st;
    if (graceSeconds > 0) {
      await this.kill(id, 'SIGTERM');
      st = await this.waitStopped(id, graceSeconds * 1000);
      if (st.status === 'stopped') return st;
    }
    await this.kill(id, 'SIGKILL');
    return this.waitStopped(id, 10_000);
  }

  /** Kills the container if needed and removes everything it had (runc state, rootfs, logs). Idempotent. */
  async remove(id: string): Promise<void> {
    const p = this.paths(id);
    if (!existsSync(p.dir)) return;
    this.removing.add(id);
    try {
      await this.removeNow(id, p);
    } finally {
      this.removing.delete(id);
    }
  }

  private async removeNow(id: string, p: ContainerPaths): Promise<void> {
    const st = await this.state(id).catch(() => undefined);
    if (st && st.status !== 'stopped') {
      await this.kill(id, 'SIGKILL');
      await this.waitStopped(id, 10_000);
    }
    // Let the shim finish (it deletes runc's state, then writes done) before its directory goes away.
    const shim = parseProcRef(await readText(p.shim));
    if (shim) {
      const finished = async () => (existsSync(p.done) || !(await processAlive(shim)) ? true : undefined);
      const gone = await waitFor(p.dir, finished, 10_000, 20);
      if (!gone) {
        try {
          process.kill(shim.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    if (await this.runc.known(id)) await this.runc.delete(id, true);
    await rm(p.dir, { recursive: true, force: true });
    this.metas.delete(id);
  }

  /** Runs a process in a running container (runc exec); see ExecSession. */
  async exec(id: string, argv: string[], opts: ExecOptions = {}): Promise<ExecSession> {
    const p = this.paths(id);
    const st = await this.state(id);
    const proc = ((await this.config(id)).process ?? {}) as { env?: string[]; cwd?: string };
    return startExec(
      { runc: this.runc, script: this.script, stty: this.stty, id, dir: p.dir, state: st, process: proc, env: proc.env ?? [], cwd: proc.cwd ?? '/' },
      argv,
      opts,
    );
  }

  /** The container's output (stdout and stderr interleaved as written); see LogOptions. */
  async readLog(id: string, opts: LogOptions = {}): Promise<Readable> {
    const p = this.paths(id);
    if (!existsSync(p.dir)) throw new ContainerNotFoundError(id);
    return readLog(p, opts, async () => ((await this.state(id).catch(() => undefined))?.status ?? 'stopped') === 'stopped');
  }

  /** The OCI config a container was created with (for debugging and tests). */
  async config(id: string): Promise<Record<string, unknown>> {
    const text = await readFile(this.paths(id).config, 'utf8').catch(() => {
      throw new ContainerNotFoundError(id);
    });
    return JSON.parse(text) as Record<string, unknown>;
  }
}
