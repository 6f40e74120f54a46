// The k8ts-bridge network configuration: its JSON shape, defaults, and validation with spec error codes
// (1 for a version we do not speak, 7 for anything else wrong, naming the field).
import { isAbsolute } from 'node:path';
import { CniError, ErrorCode, SUPPORTED_VERSIONS, isSupportedVersion, type CniDns, type CniResult, type CniVersion, type ValidAttachment } from './types.js';
import { formatIp, inSubnet, parseIp, parseSubnet, type Subnet } from './ipv4.js';

export const PLUGIN_TYPE = 'k8ts-bridge';
export const IPAM_TYPE = 'k8ts-ipam';

/** The configuration as a runtime writes it. */
export type K8tsBridgeConfig = {
  cniVersion: string;
  name: string;
  type: string;
  /** Bridge on the node; default cbr0. */
  bridge?: string;
  /** Put the gateway address on the bridge and give pods a default route through it; default true. */
  isGateway?: boolean;
  /** Let a pod reach itself through the bridge (service hairpin); default true. */
  hairpinMode?: boolean;
  mtu?: number;
  /** Accepted and ignored: masquerade is the agent's nftables' job. */
  ipMasq?: boolean;
  ipam: {
    type: string;
    subnet: string;
    gateway?: string;
    rangeStart?: string;
    rangeEnd?: string;
    /** Allocations live in dataDir/<network name>/. */
    dataDir: string;
  };
  dns?: CniDns;
  prevResult?: CniResult;
  'cni.dev/valid-attachments'?: ValidAttachment[];
} & Record<string, unknown>;

/** A validated configuration with defaults applied. */
export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  bridge: string;
  isGateway: boolean;
  hairpinMode: boolean;
  mtu?: number;
  ipam: IpamConf;
  dns?: CniDns;
  prevResult?: CniResult;
  validAttachments?: ValidAttachment[];
}

export interface IpamConf {
  subnet: Subnet;
  gateway: number;
  rangeStart: number;
  rangeEnd: number;
  dataDir: string;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * Linux interface name rules as the spec states them for CNI_IFNAME, minus the characters `ip -batch`
 * gives a meaning to ('#' starts a comment, quotes and backslashes quote).
 */
export function validIfName(s: string): boolean {
  return s.length > 0 && s.length < 16 && s !== '.' && s !== '..' && !/[/:\s#"'\\]/.test(s);
}

/** A path `ip -batch` can carry as one word. */
export function batchSafePath(s: string): boolean {
  return !/[\s#"'\\]/.test(s);
}

export function validContainerId(s: string): boolean {
  return NAME_RE.test(s);
}

function invalid(field: string, problem: string): CniError {
  return new CniError(ErrorCode.InvalidConfig, `invalid network config: ${field}: ${problem}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optional<T>(obj: Record<string, unknown>, key: string, field: string, type: 'string' | 'boolean' | 'number'): T | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== type) throw invalid(field, `must be a ${type}, got ${JSON.stringify(v)}`);
  return v as T;
}

function required<T>(obj: Record<string, unknown>, key: string, field: string, type: 'string' | 'boolean' | 'number'): T {
  const v = optional<T>(obj, key, field, type);
  if (v === undefined || v === '') throw invalid(field, 'required');
  return v;
}

function ipField(obj: Record<string, unknown>, key: string, subnet: Subnet): number | undefined {
  const s = optional<string>(obj, key, `ipam.${key}`, 'string');
  if (s === undefined) return undefined;
  const ip = parseIp(s);
  if (ip === undefined) throw invalid(`ipam.${key}`, `${JSON.stringify(s)} is not an IPv4 address`);
  if (!inSubnet(ip, subnet)) throw invalid(`ipam.${key}`, `${s} is outside subnet ${formatIp(subnet.network)}/${subnet.prefix}`);
  if (ip === subnet.network || ip === subnet.broadcast) throw invalid(`ipam.${key}`, `${s} is the network or broadcast address of the subnet`);
  return ip;
}

/**
 * Checks the version first (code 1), then every field (code 7). `raw` is the decoded stdin JSON or the
 * object an in-process caller passes.
 */
export function parseNetConf(raw: unknown): NetConf {
  if (!isObject(raw)) throw invalid('(root)', 'the network configuration must be a JSON object');
  const cniVersion = required<string>(raw, 'cniVersion', 'cniVersion', 'string');
  if (!isSupportedVersion(cniVersion)) {
    throw new CniError(ErrorCode.IncompatibleVersion, `incompatible CNI version ${cniVersion}`, `k8ts-bridge supports ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  const name = required<string>(raw, 'name', 'name', 'string');
  if (!NAME_RE.test(name)) throw invalid('name', `${JSON.stringify(name)} must start with a letter or digit and hold only letters, digits, '_', '.', '-'`);
  const type = required<string>(raw, 'type', 'type', 'string');
  if (type !== PLUGIN_TYPE) throw invalid('type', `expected ${JSON.stringify(PLUGIN_TYPE)}, got ${JSON.stringify(type)}`);
  const bridge = optional<string>(raw, 'bridge', 'bridge', 'string') ?? 'cbr0';
  if (!validIfName(bridge))
    throw invalid('bridge', `${JSON.stringify(bridge)} is not a valid interface name (1-15 characters, none of / : # ' " \\ or white space)`);
  const isGateway = optional<boolean>(raw, 'isGateway', 'isGateway', 'boolean') ?? true;
  const hairpinMode = optional<boolean>(raw, 'hairpinMode', 'hairpinMode', 'boolean') ?? true;
  optional<boolean>(raw, 'ipMasq', 'ipMasq', 'boolean');
  const mtu = optional<number>(raw, 'mtu', 'mtu', 'number');
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) throw invalid('mtu', `${mtu} is not an integer between 68 and 65535`);

  const ipamRaw = raw.ipam;
  if (ipamRaw === undefined || ipamRaw === null) throw invalid('ipam', 'required');
  if (!isObject(ipamRaw)) throw invalid('ipam', 'must be an object');
  const ipamType = required<string>(ipamRaw, 'type', 'ipam.type', 'string');
  if (ipamType !== IPAM_TYPE) throw invalid('ipam.type', `expected ${JSON.stringify(IPAM_TYPE)}, got ${JSON.stringify(ipamType)}`);
  const subnetText = required<string>(ipamRaw, 'subnet', 'ipam.subnet', 'string');
  const subnet = parseSubnet(subnetText);
  if (!subnet) throw invalid('ipam.subnet', `${JSON.stringify(subnetText)} is not an IPv4 network in CIDR form (like 10.244.1.0/24; only IPv4 is supported)`);
  if (subnet.prefix > 30) throw invalid('ipam.subnet', `${subnetText} is too small: a /30 or larger is needed for a gateway and a pod`);
  const gateway = ipField(ipamRaw, 'gateway', subnet) ?? subnet.network + 1;
  const rangeStart = ipField(ipamRaw, 'rangeStart', subnet) ?? subnet.network + 1;
  const rangeEnd = ipField(ipamRaw, 'rangeEnd', subnet) ?? subnet.broadcast - 1;
  if (rangeStart > rangeEnd) throw invalid('ipam.rangeStart', `${formatIp(rangeStart)} is after ipam.rangeEnd ${formatIp(rangeEnd)}`);
  if (rangeStart === rangeEnd && rangeStart === gateway)
    throw invalid('ipam.rangeStart', `the range ${formatIp(rangeStart)}-${formatIp(rangeEnd)} holds only the gateway`);
  const dataDir = required<string>(ipamRaw, 'dataDir', 'ipam.dataDir', 'string');
  if (!isAbsolute(dataDir)) throw invalid('ipam.dataDir', `${JSON.stringify(dataDir)} must be an absolute path`);

  const conf: NetConf = { cniVersion, name, bridge, isGateway, hairpinMode, ipam: { subnet, gateway, rangeStart, rangeEnd, dataDir } };
  if (mtu !== undefined) conf.mtu = mtu;
  if (raw.dns !== undefined && raw.dns !== null) conf.dns = parseDns(raw.dns);
  if (raw.prevResult !== undefined && raw.prevResult !== null) {
    if (!isObject(raw.prevResult)) throw invalid('prevResult', 'must be an object');
    conf.prevResult = raw.prevResult as unknown as CniResult;
  }
  const valid = raw['cni.dev/valid-attachments'];
  if (valid !== undefined && valid !== null) conf.validAttachments = parseValidAttachments(valid);
  return conf;
}

function parseDns(v: unknown): CniDns {
  if (!isObject(v)) throw invalid('dns', 'must be an object');
  const strings = (key: string) => {
    const x = v[key];
    if (x === undefined) return;
    if (!Array.isArray(x) || x.some((s) => typeof s !== 'string')) throw invalid(`dns.${key}`, 'must be a list of strings');
  };
  strings('nameservers');
  strings('search');
  strings('options');
  optional<string>(v, 'domain', 'dns.domain', 'string');
  return v as CniDns;
}

function parseValidAttachments(v: unknown): ValidAttachment[] {
  if (!Array.isArray(v)) throw invalid('cni.dev/valid-attachments', 'must be a list of {containerID, ifname}');
  return v.map((a, i) => {
    if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw invalid(`cni.dev/valid-attachments[${i}]`, `must be {"containerID": string, "ifname": string}, got ${JSON.stringify(a)}`);
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}
