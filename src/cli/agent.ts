// `k8ts agent`: the node role, in the foreground.
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { tightenDataDir } from '../util/filemodes.js';
import { resolve } from 'node:path';
import { Agent } from '../agent/agent.js';
import { Registries } from '../agent/images/registries.js';
import { run } from '../util/exec.js';
import { type FlagSpec, UsageError, flagHelp, parseFlags } from './args.js';

const FLAGS: FlagSpec = {
  server: { type: 'string', help: 'API server URL, e.g. https://172.30.0.1:6443', metavar: 'URL' },
  token: { type: 'string', help: 'refused: a token on a command line is readable by every user of the host (ps, /proc); use --token-file', metavar: 'T' },
  'token-file': { type: 'string', help: 'file holding the bearer token for the API server (made 0600 at every start)', metavar: 'FILE' },
  'ca-file': { type: 'string', help: 'the server\'s CA certificate (its DATA-DIR/pki/ca.crt)', metavar: 'FILE' },
  'node-name': { type: 'string', help: 'name of this node', metavar: 'N' },
  'node-ip': { type: 'string', help: 'this node\'s address on the node network (default: the address of the uplink)', metavar: 'IP' },
  'data-dir': { type: 'string', default: '/var/lib/k8ts/agent', help: 'state: runtime, images, IPAM, pods', metavar: 'DIR' },
  backend: { type: 'string', default: 'host-gw', help: 'routes between nodes: host-gw or vxlan', metavar: 'host-gw|vxlan' },
  'cluster-cidr': { type: 'string', default: '10.244.0.0/16', help: 'pod CIDR of the whole cluster (traffic leaving it is masqueraded)', metavar: 'CIDR' },
  uplink: { type: 'string', help: 'interface on the node network (default: the one holding --node-ip, else the default route\'s)', metavar: 'IFACE' },
  cni: { type: 'string', default: 'k8ts', help: 'CNI plugin: k8ts (in-process) or reference (Debian\'s bridge + host-local binaries)', metavar: 'k8ts|reference' },
  'netns-prefix': { type: 'string', default: 'k8ts-', help: 'prefix of pod network namespace names; unique per node when nodes share one host\'s /run/netns (its start-up sweep removes unknown ones under it)', metavar: 'PREFIX' },
  'cluster-dns': { type: 'string', default: '10.96.0.10', help: 'nameserver written into pods\' resolv.conf', metavar: 'IP' },
  'cluster-domain': { type: 'string', default: 'cluster.local', help: 'cluster DNS domain', metavar: 'DOMAIN' },
  'dns-port': { type: 'number', default: 53, help: 'port of this node\'s DNS server on --node-ip, UDP and TCP (0: none)', metavar: 'PORT' },
  'dns-upstream': { type: 'string', help: 'comma-separated servers (IP or IP:PORT) for names outside the cluster domain; without it such names are refused at once', metavar: 'SERVERS' },
  registries: { type: 'string', help: 'registries.yaml (k3s\'s format): mirrors with endpoints and rewrites, per-host auth and TLS; plain HTTP only where an endpoint says http://', metavar: 'FILE' },
  'images-dir': { type: 'string', help: 'the image store (default DATA-DIR/images); one per agent (image GC sees only this agent\'s containers)', metavar: 'DIR' },
  'image-gc-high-threshold': { type: 'number', default: 85, help: 'percent of the image store\'s disk in use above which unused images are removed', metavar: 'PERCENT' },
  'image-gc-low-threshold': { type: 'number', default: 80, help: 'percent of disk use image GC frees down to', metavar: 'PERCENT' },
  'minimum-image-gc-age': { type: 'number', default: 120, help: 'seconds an unused image is kept at least', metavar: 'SECONDS' },
  help: { type: 'boolean', help: 'show this help' },
};

export const agentHelp = `Usage: k8ts agent --server URL --token-file FILE --ca-file FILE --node-name N [flags]

Runs a node: registers the Node and renews its Lease, runs the pods bound to it (a network namespace on
cbr0 per pod, runc containers), converges routes to the other nodes' pod CIDRs (host-gw or VXLAN),
masquerades traffic that leaves the cluster, makes Services real with nftables (its own table), announces
the LoadBalancer IPs it owns on the node network, and serves cluster DNS on --node-ip. Pulls images from
OCI registries (Docker Hub, GHCR, your own; mirrors and credentials from --registries and the pods'
imagePullSecrets) into a content-addressed store; busybox is built in. Needs root.

Flags:
${flagHelp(FLAGS)}
`;

interface AddrInfo {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

async function interfaces(): Promise<AddrInfo[]> {
  return JSON.parse((await run(['ip', '-j', 'addr', 'show'])).stdout) as AddrInfo[];
}

export async function agentCommand(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags.help) {
    process.stdout.write(agentHelp);
    return;
  }
  for (const f of ['server', 'node-name', 'ca-file']) if (!flags[f]) throw new UsageError(`k8ts agent: --${f} is required`);
  if (flags.token !== undefined) throw new UsageError('k8ts agent: --token is refused (a command line is visible to every user of the host); put the token in a file and pass --token-file FILE');
  if (!flags['token-file']) throw new UsageError('k8ts agent: --token-file is required');
  const tokenFile = resolve(flags['token-file']);
  if (existsSync(tokenFile) && !lstatSync(tokenFile).isSymbolicLink()) chmodSync(tokenFile, 0o600);
  const token = readFileSync(tokenFile, 'utf8').trim();
  if (!token) throw new UsageError(`k8ts agent: --token-file ${tokenFile} is empty`);
  if (flags.backend !== 'host-gw' && flags.backend !== 'vxlan') throw new UsageError(`--backend ${JSON.stringify(flags.backend)}: expected host-gw or vxlan`);
  if (flags.cni !== 'k8ts' && flags.cni !== 'reference') throw new UsageError(`--cni ${JSON.stringify(flags.cni)}: expected k8ts or reference`);
  const dnsPort = flags['dns-port'];
  if (!Number.isInteger(dnsPort) || dnsPort < 0 || dnsPort > 65535) throw new UsageError(`--dns-port ${dnsPort}: expected a port number, or 0 for no DNS server`);
  const high = flags['image-gc-high-threshold'];
  const low = flags['image-gc-low-threshold'];
  if (!(high >= 0 && high <= 100 && low >= 0 && low <= high)) throw new UsageError(`--image-gc-low-threshold ${low} and --image-gc-high-threshold ${high}: expected 0 ≤ low ≤ high ≤ 100`);
  let registries: Registries | undefined;
  if (flags.registries) {
    try {
      registries = Registries.fromFile(flags.registries);
    } catch (e) {
      throw new UsageError(`k8ts agent --registries: ${(e as Error).message}`);
    }
  }
  const dataDir = resolve(flags['data-dir']);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  tightenDataDir(dataDir);
  if (process.getuid?.() !== 0) throw new Error('k8ts agent needs root: it makes network namespaces, links, routes and runc containers');
  const ifs = await interfaces();
  let nodeIP: string | undefined = flags['node-ip'];
  let uplink: string | undefined = flags.uplink;
  const holder = ifs.find((i) => (uplink ? i.ifname === uplink : nodeIP ? i.addr_info.some((a) => a.local === nodeIP) : i.ifname !== 'lo' && i.addr_info.some((a) => a.family === 'inet')));
  if (!holder) throw new UsageError(`k8ts agent: cannot find the uplink interface${uplink ? ` ${uplink}` : nodeIP ? ` holding ${nodeIP}` : ''}; pass --uplink and --node-ip`);
  uplink ??= holder.ifname;
  const a = holder.addr_info.find((x) => x.family === 'inet' && (!nodeIP || x.local === nodeIP));
  if (!a) throw new UsageError(`k8ts agent: ${uplink} has no IPv4 address${nodeIP ? ` ${nodeIP}` : ''}`);
  nodeIP ??= a.local;
  const agent = new Agent({
    rest: { server: flags.server, token, ca: readFileSync(flags['ca-file']) },
    cni: flags.cni, nodeName: flags['node-name'], nodeIP, dataDir, backend: flags.backend,
    clusterCIDR: flags['cluster-cidr'], uplink, netnsPrefix: flags['netns-prefix'],
    clusterDNS: flags['cluster-dns'] || undefined, clusterDomain: flags['cluster-domain'],
    dnsPort: flags['dns-port'], registries, imagesDir: flags['images-dir'] ? resolve(flags['images-dir']) : undefined,
    imageGc: { highPercent: high, lowPercent: low, minAgeMs: flags['minimum-image-gc-age'] * 1000 }, dnsUpstreams: flags['dns-upstream'] ? String(flags['dns-upstream']).split(',').filter(Boolean) : [],
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
