// Turns a pod container (Kubernetes semantics) into the OCI runtime config runc runs.
import { InvalidSpecError } from './errors.js';
import type { ImageConfig } from './images.js';

/** A host path made visible in the container (emptyDir volumes and the like). */
export interface VolumeMount {
  hostPath: string;
  containerPath: string;
  readOnly?: boolean;
  /**
   * The pod's mountPropagation: None (rprivate, the default), HostToContainer (rslave: mounts made on the
   * host under the path appear inside) or Bidirectional (rshared: and the container's mounts reach the host).
   */
  propagation?: 'None' | 'HostToContainer' | 'Bidirectional';
}

const PROPAGATION_OPTION = { None: 'rprivate', HostToContainer: 'rslave', Bidirectional: 'rshared' } as const;

export interface SecurityContext {
  privileged?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  runAsUser?: number;
  runAsGroup?: number;
  readOnlyRootFilesystem?: boolean;
}

/** One container of a pod, as the agent asks for it. */
export interface ContainerSpec {
  /** Container name within the pod. */
  name: string;
  /** Pod name: the container's hostname unless hostname is given. */
  podName: string;
  /** The container's hostname (the pod's spec.hostname); default: the pod name. */
  hostname?: string;
  image: string;
  /** Replaces the image's entrypoint (Kubernetes `command`). */
  command?: string[];
  /** Replaces the image's cmd (Kubernetes `args`). */
  args?: string[];
  env?: { name: string; value: string }[];
  workingDir?: string;
  /** Path of the pod's network namespace (e.g. /run/netns/<pod>); the container joins it. */
  netns: string;
  /** Host files bind-mounted over /etc/hosts, /etc/hostname and /etc/resolv.conf. */
  etcHosts?: string;
  etcHostname?: string;
  resolvConf?: string;
  mounts?: VolumeMount[];
  securityContext?: SecurityContext;
  /** Join this pid namespace (/proc/<pid>/ns/pid of a running container) instead of a new one: ephemeral debug containers. */
  pidns?: string;
  /** Opaque to the runtime; kept with the container and returned by list() (pod uid, restart count…). */
  labels?: Record<string, string>;
  /** Use this id instead of a random one (tests, benchmarks). */
  id?: string;
}

/** Capabilities a `docker run` container gets, the Kubernetes default (moby oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Linux capabilities by number (capability.h); privileged containers get those up to cap_last_cap. */
export const ALL_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
].map((c) => `CAP_${c}`);

/** The process argv: command overrides the entrypoint, args override cmd (and are appended to command). */
export function containerArgv(image: ImageConfig, command?: string[], args?: string[]): string[] {
  const argv = command?.length ? [...command, ...(args ?? [])] : [...image.entrypoint, ...(args?.length ? args : image.cmd)];
  if (!argv.length) throw new InvalidSpecError('no command to run: the container sets neither command nor args and the image has no entrypoint or cmd');
  return argv;
}

/** Image env, then HOSTNAME, then the container's env; a later entry with the same name replaces an earlier one. */
export function containerEnv(image: ImageConfig, hostname: string, env: { name: string; value: string }[] = [], extra: string[] = []): string[] {
  const out = new Map<string, string>();
  const put = (kv: string) => {
    const i = kv.indexOf('=');
    out.set(i < 0 ? kv : kv.slice(0, i), kv);
  };
  image.env.forEach(put);
  put(`HOSTNAME=${hostname}`);
  extra.forEach(put);
  for (const e of env) {
    if (!e.name || e.name.includes('=') || e.name.includes('\0')) throw new InvalidSpecError(`invalid environment variable name ${JSON.stringify(e.name)}`);
    put(`${e.name}=${e.value ?? ''}`);
  }
  return [...out.values()];
}

function capName(c: string): string {
  const n = c.toUpperCase();
  return n.startsWith('CAP_') ? n : `CAP_${n}`;
}

/**
 * The capability set: the Docker defaults, or all capabilities when privileged; `add`/`drop` apply as in
 * containerd: ALL in add first, ALL in drop next, then single adds, then single drops.
 */
export function capabilitySet(sc: SecurityContext = {}, lastCap = ALL_CAPABILITIES.length - 1, bounding?: bigint): string[] {
  const known = ALL_CAPABILITIES.slice(0, lastCap + 1);
  // Privileged: every capability the agent itself may pass on (containerd's WithAllCurrentCapabilities);
  // one outside the agent's bounding set (a node that is itself a container) would make runc fail.
  if (sc.privileged) return bounding === undefined ? known : known.filter((_, i) => (bounding >> BigInt(i)) & 1n);
  const add = (sc.capabilities?.add ?? []).map(capName);
  const drop = (sc.capabilities?.drop ?? []).map(capName);
  for (const c of [...add, ...drop]) {
    if (c !== 'CAP_ALL' && !ALL_CAPABILITIES.includes(c)) throw new InvalidSpecError(`unknown capability ${c}`);
  }
  let caps = new Set(DEFAULT_CAPABILITIES);
  if (add.includes('CAP_ALL')) caps = new Set(known);
  if (drop.includes('CAP_ALL')) caps = new Set();
  for (const c of add) if (c !== 'CAP_ALL') caps.add(c);
  for (const c of drop) caps.delete(c);
  return [...caps].filter((c) => known.includes(c));
}

export interface OciInput {
  spec: ContainerSpec;
  image: ImageConfig;
  argv: string[];
  /** Image layers, topmost first (overlay lowerdirs; one for a one-layer image), and this container's upper and work dirs. */
  lower: string | string[];
  upper: string;
  work: string;
  lastCap?: number;
  /** The agent's own capability bounding set (CapBnd), which a privileged container gets at most. */
  bounding?: bigint;
  /** The image's user as numbers (default root); the pod's runAsUser/runAsGroup override it. */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  cgroupsPath?: string;
  annotations?: Record<string, string>;
}

const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

function absolute(what: string, p: string): string {
  if (!p.startsWith('/')) throw new InvalidSpecError(`${what} must be an absolute path, got ${JSON.stringify(p)}`);
  return p;
}

function overlayPath(p: string): string {
  // The overlay mount option string is comma-separated and uses ':' between lower dirs.
  if (/[,:\s]/.test(p)) throw new InvalidSpecError(`path ${JSON.stringify(p)} cannot be used in an overlay mount (contains , : or space)`);
  return p;
}

/** mount(2) takes the option string in one page. */
const MOUNT_DATA_MAX = 4095;

function overlayOptions(lower: string | string[], upper: string, work: string): string[] {
  const lowers = (Array.isArray(lower) ? lower : [lower]).map(overlayPath);
  if (!lowers.length) throw new InvalidSpecError('an image without layers cannot be a root filesystem');
  const opts = [`lowerdir=${lowers.join(':')}`, `upperdir=${overlayPath(upper)}`, `workdir=${overlayPath(work)}`];
  if (opts.join(',').length > MOUNT_DATA_MAX) {
    throw new InvalidSpecError(
      `the image's ${lowers.length} layers make an overlay option string of ${opts.join(',').length} bytes, more than mount(2) takes (${MOUNT_DATA_MAX}); use a shorter --data-dir or an image with fewer layers`,
    );
  }
  return opts;
}

/**
 * The process's ids: the pod's runAsUser/runAsGroup over the image's user. A runAsUser without runAsGroup
 * keeps the image's group only when the image's user is that same uid (the kubelet's rule of thumb: the
 * group of a user chosen by number is root's).
 */
function processUser(sc: SecurityContext, image?: { uid: number; gid: number; additionalGids?: number[] }): Record<string, unknown> {
  const img = image ?? { uid: 0, gid: 0 };
  const uid = sc.runAsUser ?? img.uid;
  const gid = sc.runAsGroup ?? (sc.runAsUser === undefined || sc.runAsUser === img.uid ? img.gid : 0);
  const extra = sc.runAsUser === undefined && sc.runAsGroup === undefined ? img.additionalGids : undefined;
  return { uid, gid, ...(extra?.length ? { additionalGids: extra } : {}) };
}

/** The config.json of the container's bundle. */
export function ociConfig(input: OciInput): Record<string, unknown> {
  const { spec, image } = input;
  const sc = spec.securityContext ?? {};
  const hostname = (spec.hostname || spec.podName).slice(0, 63);
  const caps = capabilitySet(sc, input.lastCap, input.bounding);
  const cwd = absolute('workingDir', spec.workingDir || image.workingDir || '/');
  const bind = (source: string, destination: string, ro = false, propagation: 'rprivate' | 'rslave' | 'rshared' = 'rprivate') => ({
    destination,
    type: 'bind',
    source,
    options: ['rbind', propagation, ro ? 'ro' : 'rw'],
  });
  const mounts: Record<string, unknown>[] = [
    // The writable root: an overlay mounted by runc inside the container's own mount namespace, so the
    // host never holds a mount for it and nothing can leak when the container goes away.
    {
      destination: '/',
      type: 'overlay',
      source: 'overlay',
      options: overlayOptions(input.lower, input.upper, input.work),
    },
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', sc.privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', sc.privileged ? 'rw' : 'ro'] },
  ];
  if (spec.etcHosts) mounts.push(bind(absolute('etcHosts', spec.etcHosts), '/etc/hosts'));
  if (spec.etcHostname) mounts.push(bind(absolute('etcHostname', spec.etcHostname), '/etc/hostname'));
  if (spec.resolvConf) mounts.push(bind(absolute('resolvConf', spec.resolvConf), '/etc/resolv.conf'));
  for (const m of spec.mounts ?? []) {
    const dest = absolute('volume mount path', m.containerPath);
    if (dest === '/') throw new InvalidSpecError('a volume cannot be mounted over /');
    const prop = PROPAGATION_OPTION[m.propagation ?? 'None'];
    if (!prop) throw new InvalidSpecError(`unknown mount propagation ${JSON.stringify(m.propagation)} for ${dest}`);
    if (m.propagation === 'Bidirectional' && !sc.privileged)
      throw new InvalidSpecError(`Bidirectional mount propagation of ${dest} is available only to privileged containers`);
    mounts.push(bind(absolute('volume host path', m.hostPath), dest, m.readOnly, prop));
  }
  // The container's root propagation as containerd sets it: rshared when a mount is Bidirectional (its
  // copies stay in the host's peer group), else rslave (runc's own default, which lets an rslave bind
  // receive the host's mounts).
  const rootfsPropagation = (spec.mounts ?? []).some((m) => m.propagation === 'Bidirectional') ? 'rshared' : 'rslave';
  const linux: Record<string, unknown> = {
    // ipc and uts are private to the container for now; sharing them across a pod's containers (as
    // Kubernetes does through the sandbox) is a later step.
    namespaces: [
      spec.pidns ? { type: 'pid', path: absolute('pidns', spec.pidns) } : { type: 'pid' },
      { type: 'network', path: absolute('netns', spec.netns) },
      { type: 'ipc' },
      { type: 'uts' },
      { type: 'mount' },
    ],
    resources: { devices: [{ allow: !!sc.privileged, access: 'rwm' }] },
    rootfsPropagation,
  };
  if (!sc.privileged) {
    linux.maskedPaths = MASKED_PATHS;
    linux.readonlyPaths = READONLY_PATHS;
  }
  if (input.cgroupsPath) linux.cgroupsPath = input.cgroupsPath;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: processUser(sc, input.user),
      args: input.argv,
      env: containerEnv(image, hostname, spec.env),
      cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
    },
    root: { path: 'rootfs', readonly: !!sc.readOnlyRootFilesystem },
    hostname,
    mounts,
    linux,
    annotations: input.annotations ?? {},
  };
}
