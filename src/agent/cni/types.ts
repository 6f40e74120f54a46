// The CNI protocol as data: spec versions, error codes, result shapes, and the one interface every
// plugin (ours in-process, any executable) is driven through.

/** Spec versions this plugin speaks, oldest first. */
export const SUPPORTED_VERSIONS = ['0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = '1.1.0';

export function isSupportedVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Numeric `a.b.c` comparison; versions that are not three numbers compare as 0.0.0. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => (/^\d+\.\d+\.\d+$/.test(v) ? v.split('.').map(Number) : [0, 0, 0]);
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

/** Well-known error codes of the spec (0-99) and this plugin's own (100+). */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  NotAvailableLimitedConnectivity: 51,
  // k8ts-bridge specific
  CommandFailed: 100,
  InterfaceExists: 101,
  CheckFailed: 102,
  RangeExhausted: 103,
  Internal: 199,
} as const;

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type CniCommand = (typeof COMMANDS)[number];

/** An error in the spec's shape; `code` is the stable machine-readable part. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly details = '',
  ) {
    super(details ? `${msg}: ${details}` : msg);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string = LATEST_VERSION): CniErrorJson {
    const out: CniErrorJson = { cniVersion, code: this.code, msg: this.msg };
    if (this.details) out.details = this.details;
    return out;
  }
}

export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export interface CniInterface {
  name: string;
  mac?: string;
  /** 1.1.0 and later. */
  mtu?: number;
  sandbox?: string;
}

export interface CniIpConfig {
  /** "4" or "6"; present in 0.3.x/0.4.0 results only. */
  version?: string;
  address: string;
  gateway?: string;
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** The ADD success result. */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

export interface VersionResult {
  cniVersion: string;
  supportedVersions: string[];
}

/** One attachment as the runtime names it in `cni.dev/valid-attachments`. */
export interface ValidAttachment {
  containerID: string;
  ifname: string;
}

/** What the runtime passes besides the configuration: CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS. */
export interface RuntimeParams {
  containerId: string;
  /** Path of the pod's network namespace (e.g. /run/netns/NAME); may be empty on DEL. */
  netns: string;
  ifName: string;
  args?: Record<string, string>;
}

/** A network configuration as JSON: the spec's keys plus whatever the plugin type defines. */
export type CniConfig = { cniVersion: string; name: string; type: string } & Record<string, unknown>;

/** Every CNI plugin the agent can use, whether it runs in-process or as an executable. */
export interface CniPlugin {
  add(conf: CniConfig, rt: RuntimeParams): Promise<CniResult>;
  /** `conf.prevResult` should hold the ADD result when the runtime has it. */
  del(conf: CniConfig, rt: RuntimeParams): Promise<void>;
  /** `conf.prevResult` must hold the ADD result. */
  check(conf: CniConfig, rt: RuntimeParams): Promise<void>;
  status(conf: CniConfig): Promise<void>;
  gc(conf: CniConfig, valid: ValidAttachment[]): Promise<void>;
  version(cniVersion?: string): Promise<VersionResult>;
}

/** Parses CNI_ARGS ("K1=V1;K2=V2"); pairs without '=' are ignored. */
export function parseCniArgs(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (s ?? '').split(';')) {
    const i = pair.indexOf('=');
    if (i > 0) out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

export function formatCniArgs(args: Record<string, string> | undefined): string {
  return Object.entries(args ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(';');
}
