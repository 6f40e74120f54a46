// `k8ts agent`: the node role, in the foreground.
import { startupMark } from '../util/startup.js';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { tightenDataDir } from '../util/filemodes.js';
import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { Agent, DEFAULT_SYNC_FREQUENCY_MS, nodeImageStore, prepareNode } from '../agent/agent.js';
import { checkContainerLogLimits, type ContainerLogLimits } from '../agent/runtime/index.js';
import { isQuantity, parseQuantity } from '../api/quantity.js';
import { ensureNodeCredentials } from '../agent/identity.js';
import { parseBootstrapToken } from '../api/bootstraptoken.js';
import { Registries } from '../agent/images/registries.js';
import { type CgroupDirs, classifyCgroupDir, dirsUsage, parseMountinfo } from '../agent/resourcemetrics.js';
import { type FlagSpec, UsageError, flagHelp, parseFlags, requireFlags } from './args.js';

const FLAGS = {
  server: { type: 'string', help: 'API server URL, e.g. https://172.30.0.1:6443', metavar: 'URL' },
  token: {
    type: 'string',
    help: 'refused: a token on a command line is readable by every user of the host (ps, /proc); use --bootstrap-token-file',
    metavar: 'T',
  },
  'token-file': {
    type: 'string',
    help: 'refused: there is no shared node token any more (the agent authorizes the API server by its client certificate); remove the flag',
    metavar: 'FILE',
  },
  'bootstrap-token-file': {
    type: 'string',
    help: 'file holding a bootstrap token (k8ts token create): the agent asks for its own client certificate (system:node:NAME) with it, keeps it in DATA-DIR/pki and uses it from then on',
    metavar: 'FILE',
  },
  'ca-file': { type: 'string', help: "the server's CA certificate (its DATA-DIR/pki/ca.crt)", metavar: 'FILE' },
  'node-name': { type: 'string', help: 'name of this node', metavar: 'N' },
  'node-ip': { type: 'string', help: "this node's address on the node network (default: the address of the uplink)", metavar: 'IP' },
  'data-dir': { type: 'string', default: '/var/lib/k8ts/agent', help: 'state: runtime, images, IPAM, pods', metavar: 'DIR' },
  backend: { type: 'string', default: 'host-gw', help: 'routes between nodes: host-gw or vxlan', metavar: 'host-gw|vxlan' },
  'cluster-cidr': { type: 'string', default: '10.244.0.0/16', help: 'pod CIDR of the whole cluster (traffic leaving it is masqueraded)', metavar: 'CIDR' },
  uplink: { type: 'string', help: "interface on the node network (default: the one holding --node-ip, else the default route's)", metavar: 'IFACE' },
  cni: {
    type: 'string',
    default: 'k8ts',
    help: "CNI plugin: k8ts (in-process) or reference (Debian's bridge + host-local binaries)",
    metavar: 'k8ts|reference',
  },
  'netns-prefix': {
    type: 'string',
    default: 'k8ts-',
    help: "prefix of pod network namespace names; unique per node when nodes share one host's /run/netns (its start-up sweep removes unknown ones under it)",
    metavar: 'PREFIX',
  },
  'cluster-dns': { type: 'string', default: '10.96.0.10', help: "nameserver written into pods' resolv.conf", metavar: 'IP' },
  'cluster-domain': { type: 'string', default: 'cluster.local', help: 'cluster DNS domain', metavar: 'DOMAIN' },
  'dns-port': { type: 'number', default: 53, help: "port of this node's DNS server on --node-ip, UDP and TCP (0: none)", metavar: 'PORT' },
  'dns-upstream': {
    type: 'string',
    help: 'comma-separated servers (IP or IP:PORT) for names outside the cluster domain; without it such names are refused at once',
    metavar: 'SERVERS',
  },
  'dns-cgroup': {
    type: 'string',
    help: "a cgroup directory of the host's v1 cpu hierarchy the DNS worker's thread moves into, so queries are answered ahead of the host's other work on a busy machine (k8ts up makes one with cpu.shares 10240)",
    metavar: 'DIR',
  },
  'dns-realtime': {
    type: 'boolean',
    help: "make the DNS worker's thread SCHED_RR at priority 1 (util-linux chrt), so a query preempts the host's busy processes; where the host refuses, --dns-cgroup is used (k8ts up sets both)",
  },
  'sync-frequency': {
    type: 'number',
    default: DEFAULT_SYNC_FREQUENCY_MS / 1000,
    help: "seconds between looks at every pod of the node (the kubelet's flag of that name); a container's exit is seen at once, through its shim's notice, not at the next look",
    metavar: 'SECONDS',
  },
  registries: {
    type: 'string',
    help: "registries.yaml (k3s's format): mirrors with endpoints and rewrites, per-host auth and TLS; plain HTTP only where an endpoint says http://",
    metavar: 'FILE',
  },
  'images-dir': {
    type: 'string',
    help: "the image store (default DATA-DIR/images); one per agent (image GC sees only this agent's containers)",
    metavar: 'DIR',
  },
  'image-gc-high-threshold': {
    type: 'number',
    default: 85,
    help: "percent of the image store's disk in use above which unused images are removed",
    metavar: 'PERCENT',
  },
  'image-gc-low-threshold': { type: 'number', default: 80, help: 'percent of disk use image GC frees down to', metavar: 'PERCENT' },
  'node-cgroups': {
    type: 'string',
    help: "comma-separated cgroup directories that are this node's own (v1 cpuacct and memory, or one v2): the node's CPU and memory in /metrics/resource and kubectl top are read from them instead of the whole host's (k8ts up runs each agent in one)",
    metavar: 'DIRS',
  },
  'minimum-image-gc-age': { type: 'number', default: 120, help: 'seconds an unused image is kept at least', metavar: 'SECONDS' },
  'container-log-max-size': {
    type: 'string',
    default: '10Mi',
    help: "a container's log file is rotated when it would grow past this size (a quantity: 10Mi, 512Ki, 5M; 4Ki … 1Ti), as the kubelet's containerLogMaxSize",
    metavar: 'SIZE',
  },
  'container-log-max-files': {
    type: 'number',
    default: 5,
    help: 'log files kept per container, the current one included (2 … 1000); the oldest rotated file is deleted',
    metavar: 'N',
  },
  help: { type: 'boolean', help: 'show this help' },
} satisfies FlagSpec;

export const agentHelp = `Usage: k8ts agent --server URL --ca-file FILE --node-name N --bootstrap-token-file F [flags]

Runs a node: registers the Node (NotReady until the pod network below is set up, then Ready) and renews
its Lease, runs the pods bound to it (a network namespace on
cbr0 per pod, runc containers), converges routes to the other nodes' pod CIDRs (host-gw or VXLAN),
masquerades traffic that leaves the cluster, makes Services real with nftables (its own table), announces
the LoadBalancer IPs it owns on the node network, and serves cluster DNS on --node-ip. Pulls images from
OCI registries (Docker Hub, GHCR, your own; mirrors and credentials from --registries and the pods'
imagePullSecrets) into a content-addressed store; busybox is built in. Each container's output goes through
its shim into DATA-DIR/runtime/containers/ID/log, rotated at --container-log-max-size with at most
--container-log-max-files files kept (kubectl logs reads the current one, as from the kubelet). Needs root.
With --bootstrap-token-file the node joins as the kubelet's TLS bootstrap does: it makes a key, submits a
CertificateSigningRequest for system:node:NAME in system:nodes (approved automatically for bootstrap
tokens), stores key and certificate 0600 in DATA-DIR/pki, talks to the API server as itself from then on
(restarts reuse them) and renews the certificate before it expires. Its endpoint on NODE-IP:10250 serves a
certificate from the cluster CA for the node's addresses (a kubernetes.io/kubelet-serving CSR, approved
automatically when the node asks for its own addresses; self-signed until issued) and lets in, as the
kubelet in webhook mode, callers with a client certificate from the CA or a token the API server vouches
for (TokenReview) whom a SubjectAccessReview allows nodes/proxy, nodes/log, nodes/metrics … of this node.
Every program the agent runs (ip, nft, runc's shims…) is started by one small helper process of its own
(perl, DATA-DIR/helper/helper.pl), which also makes the pods' network namespaces and mounts itself, so
the agent never forks; K8TS_NODE_HELPER=0 makes the agent fork each program itself instead.

Flags:
${flagHelp(FLAGS)}
`;

/** --container-log-max-size and --container-log-max-files, checked: a clear refusal naming the flag. */
export function containerLogFlags(size: unknown, files: unknown): ContainerLogLimits {
  const q = parseQuantity(size);
  if (!isQuantity(q)) throw new UsageError(`--container-log-max-size ${JSON.stringify(size)}: ${q.error} (e.g. 10Mi)`);
  const whole = q.nanos % 1_000_000_000n === 0n;
  const bytes = q.nanos / 1_000_000_000n;
  if (!whole || bytes < 4096n || bytes > 2n ** 40n) {
    throw new UsageError(`--container-log-max-size ${JSON.stringify(size)}: expected a whole number of bytes from 4Ki to 1Ti (e.g. 10Mi)`);
  }
  if (typeof files !== 'number' || !Number.isInteger(files) || files < 2 || files > 1000) {
    throw new UsageError(`--container-log-max-files ${JSON.stringify(files)}: expected a whole number from 2 (the current file and one rotated) to 1000`);
  }
  const limits = { maxBytes: Number(bytes), maxFiles: files };
  const bad = checkContainerLogLimits(limits);
  if (bad) throw new UsageError(bad);
  return limits;
}

interface AddrInfo {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

/** The interfaces that hold an address, from the kernel through libuv (getifaddrs), in the order it lists
 *  them: what `ip -j addr show` said, without a process. */
function interfaces(): AddrInfo[] {
  return Object.entries(networkInterfaces()).map(([ifname, addrs]) => ({
    ifname,
    addr_info: (addrs ?? []).map((a) => ({ family: a.family === 'IPv4' ? 'inet' : 'inet6', local: a.address, prefixlen: Number(a.cidr?.split('/')[1] ?? 0) })),
  }));
}

/** --node-cgroups: existing directories under this host's cgroup mounts, which together account CPU and memory. */
async function nodeCgroupsFlag(value: string): Promise<CgroupDirs> {
  const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  const out: CgroupDirs = {};
  for (const dir of value.split(',').filter(Boolean)) {
    const c = classifyCgroupDir(mounts, dir);
    if (!c)
      throw new UsageError(
        `k8ts agent --node-cgroups: ${JSON.stringify(dir)} is not an absolute path under a cgroup mount of this host (${[mounts.v2?.mountPoint, ...[...mounts.v1.values()].map((m) => m.mountPoint)].filter(Boolean).join(', ') || 'none'})`,
      );
    if (!existsSync(dir) || !lstatSync(dir).isDirectory()) throw new UsageError(`k8ts agent --node-cgroups: ${dir} is not a cgroup directory (make it first)`);
    Object.assign(out, c);
  }
  if (!(await dirsUsage(out)))
    throw new UsageError(
      `k8ts agent --node-cgroups ${value}: CPU and memory cannot both be read there (give the cpuacct and memory directories of a v1 host, or a v2 directory with the memory controller)`,
    );
  return out;
}

/** --dns-cgroup: an existing directory of the host's v1 cpu hierarchy (a thread can be moved into it by itself). */
function dnsCgroupFlag(value: string): string {
  const cpu = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).v1.get('cpu');
  if (!cpu)
    throw new UsageError(
      'k8ts agent --dns-cgroup: this host has no cgroup v1 cpu hierarchy (a v2 host has no per-thread cpu cgroups of this kind); leave the flag out',
    );
  const dir = resolve(value);
  if (dir !== value || !dir.startsWith(`${cpu.mountPoint}/`))
    throw new UsageError(`k8ts agent --dns-cgroup: ${JSON.stringify(value)} is not an absolute path under the cpu hierarchy ${cpu.mountPoint}`);
  if (!existsSync(`${dir}/tasks`) || !existsSync(`${dir}/cpu.shares`))
    throw new UsageError(`k8ts agent --dns-cgroup: ${dir} is not a cpu cgroup directory (make it first)`);
  return dir;
}

/** --sync-frequency, the agent's and `k8ts up`'s: seconds from 1 to a day. */
export function checkSyncFrequency(seconds: number): number {
  if (!(seconds >= 1 && seconds <= 86400)) throw new UsageError(`--sync-frequency ${seconds}: expected seconds from 1 to 86400`);
  return seconds;
}

export async function agentCommand(argv: string[]): Promise<void> {
  startupMark('agent: bundle loaded');
  const parsed = parseFlags(argv, FLAGS).flags;
  if (parsed.help) {
    process.stdout.write(agentHelp);
    return;
  }
  const flags = requireFlags(parsed, ['server', 'node-name', 'ca-file'], 'k8ts agent');
  if (flags.token !== undefined)
    throw new UsageError(
      'k8ts agent: --token is refused (a command line is visible to every user of the host); a node joins with a bootstrap token in a file: --bootstrap-token-file FILE',
    );
  if (flags['token-file'] !== undefined)
    throw new UsageError(
      'k8ts agent: --token-file is no longer used: the API server calls agents with its own client certificate and the agent authorizes it (SubjectAccessReview); remove the flag',
    );
  let bootstrapToken: string | undefined;
  if (flags['bootstrap-token-file'] && existsSync(flags['bootstrap-token-file'])) {
    const bt = resolve(flags['bootstrap-token-file']);
    if (!lstatSync(bt).isSymbolicLink()) chmodSync(bt, 0o600);
    bootstrapToken = readFileSync(bt, 'utf8').trim();
    // Never echoed: a malformed file may hold some other secret.
    if (!parseBootstrapToken(bootstrapToken))
      throw new UsageError(
        `k8ts agent: --bootstrap-token-file ${flags['bootstrap-token-file']}: not a bootstrap token (expected [a-z0-9]{6}.[a-z0-9]{16}, as k8ts token create prints)`,
      );
  }
  if (flags.backend !== 'host-gw' && flags.backend !== 'vxlan') throw new UsageError(`--backend ${JSON.stringify(flags.backend)}: expected host-gw or vxlan`);
  if (flags.cni !== 'k8ts' && flags.cni !== 'reference') throw new UsageError(`--cni ${JSON.stringify(flags.cni)}: expected k8ts or reference`);
  const dnsPort = flags['dns-port'];
  if (!Number.isInteger(dnsPort) || dnsPort < 0 || dnsPort > 65535)
    throw new UsageError(`--dns-port ${dnsPort}: expected a port number, or 0 for no DNS server`);
  const high = flags['image-gc-high-threshold'];
  const low = flags['image-gc-low-threshold'];
  if (!(high >= 0 && high <= 100 && low >= 0 && low <= high))
    throw new UsageError(`--image-gc-low-threshold ${low} and --image-gc-high-threshold ${high}: expected 0 ≤ low ≤ high ≤ 100`);
  const syncFrequency = checkSyncFrequency(flags['sync-frequency']);
  const containerLog = containerLogFlags(flags['container-log-max-size'], flags['container-log-max-files']);
  let registries: Registries | undefined;
  if (flags.registries) {
    try {
      registries = Registries.fromFile(flags.registries);
    } catch (e) {
      throw new UsageError(`k8ts agent --registries: ${(e as Error).message}`);
    }
  }
  const nodeCgroups = flags['node-cgroups'] !== undefined ? await nodeCgroupsFlag(String(flags['node-cgroups'])) : undefined;
  const dnsCgroup = flags['dns-cgroup'] !== undefined ? dnsCgroupFlag(String(flags['dns-cgroup'])) : undefined;
  const dataDir = resolve(flags['data-dir']);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  tightenDataDir(dataDir);
  if (process.getuid?.() !== 0) throw new Error('k8ts agent needs root: it makes network namespaces, links, routes and runc containers');
  const ifs = interfaces();
  let nodeIP: string | undefined = flags['node-ip'];
  let uplink: string | undefined = flags.uplink;
  const holder = ifs.find((i) =>
    uplink ? i.ifname === uplink : nodeIP ? i.addr_info.some((a) => a.local === nodeIP) : i.ifname !== 'lo' && i.addr_info.some((a) => a.family === 'inet'),
  );
  if (!holder)
    throw new UsageError(
      `k8ts agent: cannot find the uplink interface${uplink ? ` ${uplink} (or it has no address)` : nodeIP ? ` holding ${nodeIP}` : ''}; pass --uplink and --node-ip`,
    );
  uplink ??= holder.ifname;
  const a = holder.addr_info.find((x) => x.family === 'inet' && (!nodeIP || x.local === nodeIP));
  if (!a) throw new UsageError(`k8ts agent: ${uplink} has no IPv4 address${nodeIP ? ` ${nodeIP}` : ''}`);
  nodeIP ??= a.local;
  const ca = readFileSync(flags['ca-file']);
  const imagesDir = flags['images-dir'] ? resolve(flags['images-dir']) : undefined;
  // The node's own start-up (image store, runtime version) goes on while it joins.
  const prepared = prepareNode(nodeImageStore(dataDir, imagesDir));
  // The node's own identity: stored credentials, or a certificate asked for with the bootstrap token.
  startupMark('agent: flags');
  const nodeCredentials = await ensureNodeCredentials({
    server: flags.server,
    ca,
    nodeName: flags['node-name'],
    dataDir,
    bootstrapToken,
    log: (l) => process.stderr.write(`${l}\n`),
  }).catch((e) => {
    throw new UsageError(`k8ts agent: ${e instanceof Error ? e.message : String(e)}`);
  });
  startupMark('agent: node credentials');
  const agent = new Agent({
    rest: { server: flags.server, ca, cert: nodeCredentials.cert, key: nodeCredentials.key },
    nodeCredentials,
    cni: flags.cni,
    nodeName: flags['node-name'],
    nodeIP,
    dataDir,
    backend: flags.backend,
    clusterCIDR: flags['cluster-cidr'],
    uplink,
    netnsPrefix: flags['netns-prefix'],
    clusterDNS: flags['cluster-dns'] || undefined,
    clusterDomain: flags['cluster-domain'],
    dnsPort: flags['dns-port'],
    registries,
    imagesDir,
    prepared,
    imageGc: { highPercent: high, lowPercent: low, minAgeMs: flags['minimum-image-gc-age'] * 1000 },
    containerLog,
    nodeCgroups,
    dnsUpstreams: flags['dns-upstream'] ? String(flags['dns-upstream']).split(',').filter(Boolean) : [],
    dnsCgroup,
    dnsRealtime: flags['dns-realtime'] === true,
    syncFrequencyMs: syncFrequency * 1000,
  });
  const stop = async (sig: string) => {
    process.stderr.write(`k8ts agent: ${sig}, stopping (pods keep running)\n`);
    await agent.stop().catch(() => {});
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  await agent.start();
}
