// The k8ts-bridge CNI plugin: each pod gets one veth pair whose host end sits on the node's bridge, an
// address from k8ts-ipam, and a default route through the bridge's gateway address.
//
// Speed comes from process count. Inside the agent, whose node helper stands in the node's network
// namespace, ADD and DEL are rtnetlink messages the helper sends (rtnl.ts): no process at all. Elsewhere (the
// CNI binary, tests without a helper) ADD is one `ip -batch` on the node side (the veth is created with its
// peer directly in the pod namespace) and one `ip -batch` in the pod; DEL is one `ip` process.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { CommandError, MissingCommandError, run } from '../../util/exec.js';
import { batchSafePath, parseNetConf, validContainerId, validIfName, type K8tsBridgeConfig, type NetConf } from './config.js';
import { CURRENT_NETNS, IpBatchError, failedLines, ipBatch, netnsFromPath, netnsPath, parseJsonLines, type IpLink, type IpRoute, type Netns } from './ip.js';
import { fileIpam, type Attachment, type Ipam } from './ipam.js';
import { formatIp, parseIp } from './ipv4.js';
import { installedNodeHelper, RtnlError, HelperError, type NodeHelper } from '../helper.js';
import { addAddress, createVeth, getLink, parseLinks, replaceDefaultRoute, setHairpin, setLink, type LinkInfo } from './rtnl.js';
import {
  CniError,
  ErrorCode,
  LATEST_VERSION,
  SUPPORTED_VERSIONS,
  compareVersions,
  isSupportedVersion,
  type CniConfig,
  type CniInterface,
  type CniIpConfig,
  type CniPlugin,
  type CniResult,
  type RuntimeParams,
  type ValidAttachment,
  type VersionResult,
} from './types.js';

export interface PluginOptions {
  /** Network namespace (a name under /run/netns) holding the bridge and host veth ends; default: the current one. */
  hostNetns?: string;
}

/** Host end of a pod's veth: stable for a (container, interface) so a retry or DEL finds it. */
export function hostVethName(containerId: string, ifName: string): string {
  return `veth${createHash('sha256').update(`${containerId}\0${ifName}`).digest('hex').slice(0, 8)}`;
}

/** Alias written on the host veth, naming its attachment, so GC and a retried ADD can tell whose it is. */
export function attachmentAlias(network: string, containerId: string, ifName: string): string {
  const alias = `k8ts/${network}/${containerId}/${ifName}`;
  if (Buffer.byteLength(alias) <= 255) return alias;
  return `k8ts/${network}/#${createHash('sha256').update(`${containerId}\0${ifName}`).digest('hex')}`;
}

/** A locally administered MAC carrying an IPv4 address: stable for the bridge and for each pod address. */
export function macForIp(ip: number): string {
  return ['0a', '58', ...[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

function randomMac(): string {
  const b = randomBytes(6);
  b[0] = 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function hostNetns(opts: PluginOptions): Netns {
  if (!opts.hostNetns) return CURRENT_NETNS;
  return opts.hostNetns.includes('/') ? netnsFromPath(opts.hostNetns) : { kind: 'named', name: opts.hostNetns };
}

function owner(rt: RuntimeParams): Attachment {
  return { containerId: rt.containerId, ifName: rt.ifName };
}

/** Code 4 naming every variable that is missing or malformed. */
function checkRuntime(rt: RuntimeParams, needNetns: boolean): void {
  const bad: string[] = [];
  if (!rt.containerId || !validContainerId(rt.containerId))
    bad.push(`CNI_CONTAINERID (${rt.containerId ? JSON.stringify(rt.containerId) + ' has characters other than letters, digits, _ . -' : 'missing'})`);
  if (!rt.ifName || !validIfName(rt.ifName))
    bad.push(
      `CNI_IFNAME (${rt.ifName ? JSON.stringify(rt.ifName) + ' is not a valid interface name (1-15 characters, none of / : # \' " \\ or white space)' : 'missing'})`,
    );
  if (needNetns && !rt.netns) bad.push('CNI_NETNS (missing)');
  if (rt.netns && !batchSafePath(rt.netns)) bad.push(`CNI_NETNS (${JSON.stringify(rt.netns)} contains white space, '#', quotes or backslashes)`);
  if (bad.length)
    throw new CniError(ErrorCode.InvalidEnvironment, `invalid environment variables: ${bad.map((b) => b.split(' ')[0]).join(', ')}`, bad.join('; '));
}

function requireVersion(conf: NetConf, min: string, command: string): void {
  if (compareVersions(conf.cniVersion, min) < 0) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `config version ${conf.cniVersion} does not allow ${command}`,
      `${command} needs cniVersion ${min} or later`,
    );
  }
}

function asCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof IpBatchError) return new CniError(ErrorCode.CommandFailed, e.message, `${e.failure.argv.join(' ')} <<< ${e.command ?? ''}`);
  if (e instanceof CommandError || e instanceof MissingCommandError || e instanceof RtnlError || e instanceof HelperError)
    return new CniError(ErrorCode.CommandFailed, e.message);
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) return new CniError(ErrorCode.IoFailure, err.message);
  return new CniError(ErrorCode.Internal, 'internal error in k8ts-bridge', String(err?.stack ?? e));
}

const notFound = (e: unknown) => e instanceof IpBatchError && /Cannot find device|does not exist/.test(e.reason);

/** One ADD's view of the configuration and runtime parameters. */
class Attach {
  readonly node: Netns;
  readonly pod: Netns;
  readonly veth: string;
  readonly alias: string;
  readonly prefix: number;
  readonly gateway: string;

  constructor(
    readonly conf: NetConf,
    readonly rt: RuntimeParams,
    opts: PluginOptions,
  ) {
    this.node = hostNetns(opts);
    this.pod = netnsFromPath(rt.netns);
    this.veth = hostVethName(rt.containerId, rt.ifName);
    this.alias = attachmentAlias(conf.name, rt.containerId, rt.ifName);
    this.prefix = conf.ipam.subnet.prefix;
    this.gateway = formatIp(conf.ipam.gateway);
  }

  /** Node side: converge the bridge (address, up), create the veth into the pod, attach it, hairpin. */
  nodeLines(ip: number, hostMac: string): { lines: string[]; bridgeLines: number; linkAddLine: number } {
    const { conf, veth, rt } = this;
    const mtu = conf.mtu ? ` mtu ${conf.mtu}` : '';
    const lines: string[] = [];
    if (conf.isGateway) lines.push(`addr replace ${this.gateway}/${this.prefix} brd + dev ${conf.bridge}`);
    lines.push(`link set dev ${conf.bridge} up`);
    const bridgeLines = lines.length;
    lines.push(
      `link add name ${veth} address ${hostMac}${mtu} master ${conf.bridge} up type veth peer name ${rt.ifName} address ${macForIp(ip)}${mtu} netns ${rt.netns}`,
    );
    const linkAddLine = lines.length;
    lines.push(`link set dev ${veth} alias ${this.alias}`);
    if (conf.hairpinMode) lines.push(`link set dev ${veth} type bridge_slave hairpin on`);
    lines.push(`link show dev ${conf.bridge}`);
    return { lines, bridgeLines, linkAddLine };
  }

  podLines(ip: number): string[] {
    const { conf, rt } = this;
    const lines = ['link set dev lo up', `addr add ${formatIp(ip)}/${this.prefix} brd + dev ${rt.ifName}`, `link set dev ${rt.ifName} up`];
    if (conf.isGateway) lines.push(`route replace default via ${this.gateway} dev ${rt.ifName}`);
    return lines;
  }

  /** Creates the bridge if it is missing; a concurrent creator winning the race is fine. */
  async ensureBridge(): Promise<void> {
    const { conf } = this;
    const mtu = conf.mtu ? ` mtu ${conf.mtu}` : '';
    const lines = [`link add name ${conf.bridge} address ${macForIp(conf.ipam.gateway)}${mtu} type bridge`];
    if (conf.isGateway) lines.push(`addr replace ${this.gateway}/${this.prefix} brd + dev ${conf.bridge}`);
    lines.push(`link set dev ${conf.bridge} up`);
    try {
      await ipBatch(this.node, lines, { force: true });
    } catch (e) {
      if (!(e instanceof IpBatchError)) throw e;
      if (failedLines(e.failure.stderr).some((l) => l !== 1) || !/File exists/.test(e.reason)) throw e;
    }
    if (conf.isGateway) await enableForwarding(this.node);
  }

  /**
   * The veth or the pod's interface already exists. If it is this attachment, left half-made by a crash or
   * detached by DEL, it is removed and ADD goes on; a live attachment or someone else's interface is an error.
   */
  async resolveExisting(): Promise<void> {
    const { conf, rt, veth } = this;
    const [host, podLink] = await Promise.all([
      ipBatch(this.node, [`link show dev ${veth}`], { json: true }).then(
        (o) => parseJsonLines<IpLink>(o)[0]?.[0],
        (e) => {
          if (notFound(e)) return undefined;
          throw e;
        },
      ),
      ipBatch(this.pod, [`addr show dev ${rt.ifName}`], { json: true }).then(
        (o) => parseJsonLines<IpLink>(o)[0]?.[0],
        (e) => {
          if (notFound(e)) return undefined;
          throw e;
        },
      ),
    ]);
    if (host) {
      if (host.ifalias !== this.alias) {
        throw new CniError(
          ErrorCode.InterfaceExists,
          `host interface ${veth} already exists`,
          `it belongs to ${host.ifalias ? JSON.stringify(host.ifalias) : 'an unknown attachment'}, not ${this.alias}`,
        );
      }
      const live = host.master === conf.bridge && host.flags.includes('UP') && !!podLink?.addr_info?.some((a) => a.family === 'inet');
      if (live) {
        throw new CniError(
          ErrorCode.InterfaceExists,
          `interface ${rt.ifName} already exists in ${rt.netns}`,
          `container ${rt.containerId} is already attached to network ${conf.name} through ${veth}; DEL it before adding it again`,
        );
      }
      await ipBatch(this.node, [`link del dev ${veth}`]);
      return;
    }
    if (podLink)
      throw new CniError(
        ErrorCode.InterfaceExists,
        `interface ${rt.ifName} already exists in ${rt.netns}`,
        'it was not made by k8ts-bridge for this container',
      );
  }

  result(ip: number, hostMac: string, bridgeMac: string | undefined): CniResult {
    const { conf, rt } = this;
    const withMtu = (i: CniInterface): CniInterface => (conf.mtu && compareVersions(conf.cniVersion, '1.1.0') >= 0 ? { ...i, mtu: conf.mtu } : i);
    const interfaces: CniInterface[] = [
      withMtu(bridgeMac ? { name: conf.bridge, mac: bridgeMac } : { name: conf.bridge }),
      withMtu({ name: this.veth, mac: hostMac }),
      withMtu({ name: rt.ifName, mac: macForIp(ip), sandbox: rt.netns }),
    ];
    const ipc: CniIpConfig = { address: `${formatIp(ip)}/${this.prefix}`, interface: 2 };
    if (conf.cniVersion === '0.4.0') ipc.version = '4';
    if (conf.isGateway) ipc.gateway = this.gateway;
    const res: CniResult = { cniVersion: conf.cniVersion, interfaces, ips: [ipc], routes: conf.isGateway ? [{ dst: '0.0.0.0/0', gw: this.gateway }] : [] };
    if (conf.dns) res.dns = conf.dns;
    return res;
  }
}

async function enableForwarding(ns: Netns): Promise<void> {
  const file = '/proc/sys/net/ipv4/ip_forward';
  if (ns.kind === 'current') {
    if (readFileSync(file, 'utf8').trim() !== '1') writeFileSync(file, '1');
    return;
  }
  await run(['nsenter', `--net=${netnsPath(ns)}`, 'sh', '-c', `[ "$(cat ${file})" = 1 ] || echo 1 > ${file}`]);
}

const { ENODEV, EEXIST } = constants.errno;

/** The installed node helper, when it stands in this attachment's node namespace and the pod's is one it can
 *  name (under /run/netns): then the links are made by rtnetlink, without `ip`. */
function helperFor(node: Netns, podNetns?: string): NodeHelper | undefined {
  const h = installedNodeHelper();
  if (!h || (h.netns ?? '') !== (netnsPath(node) ?? '')) return undefined;
  if (podNetns !== undefined && netnsFromPath(podNetns).kind !== 'named') return undefined;
  return h;
}

/**
 * ADD's links by rtnetlink, the same as the two batches make: the veth made from inside the pod with its
 * peer in the node's namespace, the host end on the bridge (up, its alias, hairpin), the bridge converged,
 * and the pod's lo and interface up with its address and default route. Returns the bridge's MAC.
 */
async function attachByRtnl(h: NodeHelper, a: Attach, ip: number, hostMac: string, made: () => void): Promise<string | undefined> {
  const { conf, rt, veth } = a;
  const pod = netnsPath(a.pod)!;
  const gateway = conf.ipam.gateway;
  let bridge: LinkInfo | undefined;
  for (let attempt = 0; !bridge; attempt++) {
    try {
      bridge = parseLinks(await h.rtnl(`ip link show dev ${conf.bridge}`, [getLink(conf.bridge)]))[0];
      if (!bridge) throw new Error(`the kernel did not describe bridge ${conf.bridge}`);
    } catch (e) {
      if (!(e instanceof RtnlError && e.errno === ENODEV) || attempt) throw e;
      await a.ensureBridge();
    }
  }
  const mtu = conf.mtu || undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      await h.rtnl(
        `ip link add ${veth} type veth peer name ${rt.ifName} netns ${rt.netns}`,
        [createVeth({ name: rt.ifName, mac: macForIp(ip), mtu }, { name: veth, mac: hostMac, mtu }, h.pid!)],
        pod,
      );
      break;
    } catch (e) {
      if (!(e instanceof RtnlError && e.errno === EEXIST) || attempt) throw e;
      await a.resolveExisting();
    }
  }
  made();
  const [, podLinks] = await Promise.all([
    h.rtnl(`ip link set dev ${veth} master ${conf.bridge} up`, [
      ...(conf.isGateway ? [addAddress(bridge.index, gateway, a.prefix, 'replace')] : []),
      setLink(bridge.index, { up: true }),
      setLink(veth, { master: bridge.index, up: true, alias: a.alias }),
      ...(conf.hairpinMode ? [setHairpin(veth, true)] : []),
    ]),
    h.rtnl(`ip link set dev lo up in ${rt.netns}`, [setLink('lo', { up: true }), getLink(rt.ifName)], pod),
  ]);
  const link = parseLinks(podLinks)[0];
  if (!link) throw new Error(`the kernel did not describe ${rt.ifName} in ${rt.netns}`);
  await h.rtnl(
    `ip addr add ${formatIp(ip)}/${a.prefix} dev ${rt.ifName} in ${rt.netns}`,
    [addAddress(link.index, ip, a.prefix, 'add'), setLink(link.index, { up: true }), ...(conf.isGateway ? [replaceDefaultRoute(gateway, link.index)] : [])],
    pod,
  );
  return bridge.mac;
}

async function add(conf: NetConf, rt: RuntimeParams, opts: PluginOptions): Promise<CniResult> {
  checkRuntime(rt, true);
  if (!existsSync(rt.netns))
    throw new CniError(ErrorCode.InvalidEnvironment, 'invalid environment variables: CNI_NETNS', `network namespace ${rt.netns} does not exist`);
  const a = new Attach(conf, rt, opts);
  const ipam = fileIpam(conf.ipam, conf.name);
  const { ip: ipText, reused } = await ipam.allocate(owner(rt));
  const ip = parseIp(ipText)!;
  const hostMac = randomMac();
  let vethMade = false;
  try {
    const h = helperFor(a.node, rt.netns);
    if (h) {
      const bridgeMac = await attachByRtnl(h, a, ip, hostMac, () => {
        vethMade = true;
      });
      return a.result(ip, hostMac, bridgeMac);
    }
    const { lines, bridgeLines, linkAddLine } = a.nodeLines(ip, hostMac);
    let out: string | undefined;
    for (let attempt = 0; out === undefined; attempt++) {
      try {
        out = await ipBatch(a.node, lines, { json: true });
      } catch (e) {
        if (!(e instanceof IpBatchError) || e.line === undefined) throw e;
        vethMade = e.line > linkAddLine;
        if (vethMade || attempt >= 2) throw e;
        if (e.line <= bridgeLines && notFound(e)) await a.ensureBridge();
        else if (e.line === linkAddLine && /File exists/.test(e.reason)) await a.resolveExisting();
        else throw e;
      }
    }
    vethMade = true;
    const bridgeMac = parseJsonLines<IpLink>(out).at(-1)?.[0]?.address;
    await ipBatch(a.pod, a.podLines(ip));
    return a.result(ip, hostMac, bridgeMac);
  } catch (e) {
    await undoAdd(a, ipam, vethMade, reused);
    throw e;
  }
}

/** Removes what a failed ADD made: the veth (with its peer) and a newly reserved address. */
async function undoAdd(a: Attach, ipam: Ipam, vethMade: boolean, reused: boolean): Promise<void> {
  if (vethMade) await ipBatch(a.node, [`link del dev ${a.veth}`]).catch(() => undefined);
  if (!reused) await ipam.release(owner(a.rt)).catch(() => undefined);
}

/**
 * Teardown is "set the host end down" plus releasing the address, not deleting the veth: deleting a
 * veth waits on the kernel's slow unregister path, while the runtime deletes the pod namespace right
 * after DEL, which removes the pair asynchronously. bench/cni.ts measures the options (p50 per pod on
 * a loaded 2-vCPU VM, before a 7.6 ms `ip netns del`): `link del` 36 ms, `nomaster down` 10 ms, `down`
 * 9 ms, nothing 0 ms — but doing nothing leaves a pod whose namespace outlives DEL on the bridge with
 * an address that is handed out again. A downed host end cuts the pod off the bridge at once; GC and a
 * later ADD for the same attachment delete such leftovers.
 *
 * Links are touched only while IPAM holds a reservation for the attachment: every veth ADD leaves
 * behind has one, so a repeated DEL costs no process, and a DEL after an ADD that failed on a veth name
 * collision cannot take down the other pod's link.
 */
async function del(conf: NetConf, rt: RuntimeParams, opts: PluginOptions): Promise<void> {
  checkRuntime(rt, false);
  const ipam = fileIpam(conf.ipam, conf.name);
  const hint = prevAddress(conf, rt);
  if (!ipam.lookup(owner(rt), hint)) return;
  if (!rt.netns || existsSync(rt.netns)) {
    const node = hostNetns(opts);
    const veth = hostVethName(rt.containerId, rt.ifName);
    const h = helperFor(node);
    if (h)
      await h.rtnl(`ip link set dev ${veth} down`, [setLink(veth, { up: false })]).catch((e) => {
        if (!(e instanceof RtnlError && e.errno === ENODEV)) throw e;
      });
    else
      await ipBatch(node, [`link set dev ${veth} down`]).catch((e) => {
        if (!notFound(e)) throw e;
      });
  }
  await ipam.release(owner(rt), hint);
}

/** The pod address the ADD result (prevResult) recorded for this attachment, without its prefix. */
function prevAddress(conf: NetConf, rt: RuntimeParams): string | undefined {
  const prev = conf.prevResult;
  if (!prev?.ips) return undefined;
  const idx = prev.interfaces?.findIndex((i) => i.name === rt.ifName && !!i.sandbox);
  const ipc = prev.ips.find((i) => idx === undefined || idx < 0 || i.interface === undefined || i.interface === idx);
  return ipc?.address.split('/')[0];
}

async function check(conf: NetConf, rt: RuntimeParams, opts: PluginOptions): Promise<void> {
  checkRuntime(rt, true);
  const prev = conf.prevResult;
  if (!prev) throw new CniError(ErrorCode.InvalidConfig, 'invalid network config: prevResult: required for CHECK');
  const fail = (what: string) => new CniError(ErrorCode.CheckFailed, `CHECK failed for container ${rt.containerId}: ${what}`);
  if (!existsSync(rt.netns)) throw fail(`network namespace ${rt.netns} does not exist`);
  const a = new Attach(conf, rt, opts);
  const sandboxIdx = prev.interfaces?.findIndex((i) => i.name === rt.ifName && !!i.sandbox) ?? -1;
  const sandbox = sandboxIdx >= 0 ? prev.interfaces![sandboxIdx] : undefined;
  const expected = (prev.ips ?? []).filter((i) => i.interface === undefined || i.interface === sandboxIdx).map((i) => i.address);
  if (!expected.length) throw fail(`prevResult has no address for ${rt.ifName}`);

  const [nodeOut, podOut, reserved] = await Promise.all([
    ipBatch(a.node, ['link show', 'addr show'], { json: true }),
    ipBatch(a.pod, ['addr show', 'route show default'], { json: true }),
    fileIpam(conf.ipam, conf.name).lookup(owner(rt)),
  ]);
  const [nodeLinks = [], nodeAddrs = []] = parseJsonLines<IpLink>(nodeOut);
  const [podAddrs = [], podRoutesRaw = []] = parseJsonLines<IpLink | IpRoute>(podOut);
  const podLinks = podAddrs as IpLink[];
  const podRoutes = podRoutesRaw as IpRoute[];

  const host = nodeLinks.find((l) => l.ifname === a.veth);
  if (!host) throw fail(`host interface ${a.veth} is missing`);
  if (host.ifalias !== a.alias) throw fail(`host interface ${a.veth} belongs to ${host.ifalias ?? 'an unknown attachment'}`);
  if (host.master !== conf.bridge) throw fail(`host interface ${a.veth} is not attached to bridge ${conf.bridge}`);
  if (!host.flags.includes('UP')) throw fail(`host interface ${a.veth} is down`);
  const bridge = nodeAddrs.find((l) => l.ifname === conf.bridge);
  if (!bridge) throw fail(`bridge ${conf.bridge} is missing`);
  if (!bridge.flags.includes('UP')) throw fail(`bridge ${conf.bridge} is down`);
  if (conf.isGateway && !bridge.addr_info?.some((x) => x.family === 'inet' && x.local === a.gateway && x.prefixlen === a.prefix)) {
    throw fail(`bridge ${conf.bridge} lacks the gateway address ${a.gateway}/${a.prefix}`);
  }

  const link = podLinks.find((l) => l.ifname === rt.ifName);
  if (!link) throw fail(`interface ${rt.ifName} is missing in ${rt.netns}`);
  if (!link.flags.includes('UP')) throw fail(`interface ${rt.ifName} is down`);
  if (sandbox?.mac && link.address?.toLowerCase() !== sandbox.mac.toLowerCase())
    throw fail(`interface ${rt.ifName} has MAC ${link.address}, the ADD result says ${sandbox.mac}`);
  for (const want of expected) {
    if (!link.addr_info?.some((x) => `${x.local}/${x.prefixlen}` === want)) throw fail(`interface ${rt.ifName} lacks address ${want}`);
  }
  const lo = podLinks.find((l) => l.ifname === 'lo');
  if (!lo?.flags.includes('UP')) throw fail(`loopback is down in ${rt.netns}`);
  if (conf.isGateway && !podRoutes.some((r) => r.dst === 'default' && r.gateway === a.gateway && r.dev === rt.ifName)) {
    throw fail(`default route via ${a.gateway} dev ${rt.ifName} is missing`);
  }
  const ip = expected[0].split('/')[0];
  if (reserved !== ip) throw fail(reserved ? `IPAM holds ${reserved} for it, not ${ip}` : `no IPAM reservation for ${ip}`);
}

async function status(conf: NetConf): Promise<void> {
  requireVersion(conf, '1.1.0', 'STATUS');
  await fileIpam(conf.ipam, conf.name).status();
}

/** Releases addresses of attachments the runtime no longer knows, and deletes their leftover host veths. */
async function gc(conf: NetConf, opts: PluginOptions): Promise<void> {
  requireVersion(conf, '1.1.0', 'GC');
  if (!conf.validAttachments) throw new CniError(ErrorCode.InvalidConfig, 'invalid network config: cni.dev/valid-attachments: required for GC');
  const valid = conf.validAttachments;
  const errors: string[] = [];
  await fileIpam(conf.ipam, conf.name)
    .gc(valid.map((v) => ({ containerId: v.containerID, ifName: v.ifname })))
    .catch((e: unknown) => errors.push(asCniError(e).message));
  const node = hostNetns(opts);
  const keep = new Set(valid.map((v) => attachmentAlias(conf.name, v.containerID, v.ifname)));
  const prefix = `k8ts/${conf.name}/`;
  try {
    const links = parseJsonLines<IpLink>(await ipBatch(node, ['link show type veth'], { json: true }))[0] ?? [];
    const stale = links.filter((l) => l.ifalias?.startsWith(prefix) && !keep.has(l.ifalias));
    if (stale.length)
      await ipBatch(
        node,
        stale.map((l) => `link del dev ${l.ifname}`),
        { force: true },
      ).catch((e) => {
        if (!notFound(e)) throw e;
      });
  } catch (e) {
    errors.push(asCniError(e).message);
  }
  if (errors.length) throw new CniError(ErrorCode.CommandFailed, 'GC did not finish cleanly', errors.join('; '));
}

export function cniVersion(inputVersion?: string): VersionResult {
  return { cniVersion: isSupportedVersion(inputVersion) ? inputVersion : LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw asCniError(e);
  }
}

/** ADD: attach the pod namespace rt.netns to the network; returns the spec result for conf.cniVersion. */
export function cniAdd(conf: K8tsBridgeConfig, rt: RuntimeParams, opts: PluginOptions = {}): Promise<CniResult> {
  return guarded(() => add(parseNetConf(conf), rt, opts));
}

/** DEL: idempotent; a missing namespace, link or reservation is success. */
export function cniDel(conf: K8tsBridgeConfig, rt: RuntimeParams, opts: PluginOptions = {}): Promise<void> {
  return guarded(() => del(parseNetConf(conf), rt, opts));
}

/** CHECK: conf.prevResult must be the ADD result; throws code 102 naming the first thing not as ADD made it. */
export function cniCheck(conf: K8tsBridgeConfig, rt: RuntimeParams, opts: PluginOptions = {}): Promise<void> {
  return guarded(() => check(parseNetConf(conf), rt, opts));
}

/** STATUS: throws code 50 if ADD could not succeed now (data dir not writable, range exhausted). */
export function cniStatus(conf: K8tsBridgeConfig, _opts: PluginOptions = {}): Promise<void> {
  return guarded(() => status(parseNetConf(conf)));
}

/** GC: conf['cni.dev/valid-attachments'] lists the attachments to keep. */
export function cniGc(conf: K8tsBridgeConfig, opts: PluginOptions = {}): Promise<void> {
  return guarded(() => gc(parseNetConf(conf), opts));
}

/** The plugin behind the interface the agent drives every CNI plugin through. */
export function k8tsBridgePlugin(opts: PluginOptions = {}): CniPlugin {
  const c = (conf: CniConfig) => conf as K8tsBridgeConfig;
  return {
    add: (conf, rt) => cniAdd(c(conf), rt, opts),
    del: (conf, rt) => cniDel(c(conf), rt, opts),
    check: (conf, rt) => cniCheck(c(conf), rt, opts),
    status: (conf) => cniStatus(c(conf), opts),
    gc: (conf, valid: ValidAttachment[]) => cniGc({ ...c(conf), 'cni.dev/valid-attachments': valid }, opts),
    version: async (v) => cniVersion(v),
  };
}
