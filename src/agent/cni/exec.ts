// Runs any CNI plugin executable with the spec's protocol (CNI_* environment, config on stdin, result or
// error JSON on stdout), so the agent can drive the reference plugins and ours the same way.
import { CommandError, MissingCommandError, run } from '../../util/exec.js';
import {
  CniError,
  ErrorCode,
  formatCniArgs,
  type CniCommand,
  type CniConfig,
  type CniErrorJson,
  type CniPlugin,
  type CniResult,
  type RuntimeParams,
  type ValidAttachment,
  type VersionResult,
} from './types.js';

export interface ExecOptions {
  /** CNI_PATH: where the plugin finds delegated plugins (IPAM); default /usr/lib/cni and /opt/cni/bin. */
  cniPath?: string[];
  /** Run the plugin inside this network namespace (a name under /run/netns), via nsenter --net. */
  hostNetns?: string;
  timeoutMs?: number;
}

export const DEFAULT_CNI_PATH = ['/usr/lib/cni', '/opt/cni/bin'];

function isErrorJson(v: unknown): v is CniErrorJson {
  return typeof v === 'object' && v !== null && typeof (v as CniErrorJson).code === 'number';
}

/**
 * One invocation. Returns the decoded stdout (undefined when the plugin printed nothing, as DEL, CHECK,
 * STATUS and GC do); a plugin error becomes a CniError with the plugin's code, msg and details.
 */
export async function invokePlugin(path: string, command: CniCommand, conf: object, rt?: RuntimeParams, opts: ExecOptions = {}): Promise<unknown> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CNI_')) env[k] = v;
  env.CNI_COMMAND = command;
  env.CNI_PATH = (opts.cniPath ?? DEFAULT_CNI_PATH).join(':');
  if (rt) {
    env.CNI_CONTAINERID = rt.containerId;
    env.CNI_NETNS = rt.netns;
    env.CNI_IFNAME = rt.ifName;
    if (rt.args) env.CNI_ARGS = formatCniArgs(rt.args);
  }
  const argv = opts.hostNetns ? ['nsenter', `--net=${opts.hostNetns.includes('/') ? opts.hostNetns : `/run/netns/${opts.hostNetns}`}`, path] : [path];
  let stdout: string;
  try {
    stdout = (await run(argv, { input: JSON.stringify(conf), env, timeoutMs: opts.timeoutMs })).stdout;
  } catch (e) {
    if (e instanceof MissingCommandError) throw new CniError(ErrorCode.CommandFailed, `CNI plugin ${path} not found`, e.message);
    if (!(e instanceof CommandError)) throw e;
    let parsed: unknown;
    try {
      parsed = JSON.parse(e.stdout);
    } catch {
      parsed = undefined;
    }
    if (isErrorJson(parsed)) throw new CniError(parsed.code, parsed.msg, [parsed.details, e.stderr.trim()].filter(Boolean).join('\n'));
    throw new CniError(
      ErrorCode.CommandFailed,
      `CNI plugin ${path} ${command} failed (${e.exitCode !== null ? `exit ${e.exitCode}` : `signal ${e.signal}`}) without an error result`,
      (e.stdout + e.stderr).trim(),
    );
  }
  if (!stdout.trim()) return undefined;
  try {
    return JSON.parse(stdout);
  } catch {
    throw new CniError(ErrorCode.DecodingFailure, `CNI plugin ${path} ${command} printed something that is not JSON`, stdout.slice(0, 500));
  }
}

/** A plugin executable behind the interface the agent drives every CNI plugin through. */
export function execPlugin(path: string, opts: ExecOptions = {}): CniPlugin {
  return {
    async add(conf: CniConfig, rt: RuntimeParams): Promise<CniResult> {
      const out = await invokePlugin(path, 'ADD', conf, rt, opts);
      if (typeof out !== 'object' || out === null || typeof (out as CniResult).cniVersion !== 'string') {
        throw new CniError(ErrorCode.DecodingFailure, `CNI plugin ${path} ADD printed no result`, JSON.stringify(out ?? null));
      }
      return out as CniResult;
    },
    async del(conf, rt) {
      await invokePlugin(path, 'DEL', conf, rt, opts);
    },
    async check(conf, rt) {
      await invokePlugin(path, 'CHECK', conf, rt, opts);
    },
    async status(conf) {
      await invokePlugin(path, 'STATUS', conf, undefined, opts);
    },
    async gc(conf, valid: ValidAttachment[]) {
      await invokePlugin(path, 'GC', { ...conf, 'cni.dev/valid-attachments': valid }, undefined, opts);
    },
    async version(cniVersion?: string): Promise<VersionResult> {
      const out = await invokePlugin(path, 'VERSION', cniVersion ? { cniVersion } : {}, undefined, opts);
      if (typeof out !== 'object' || out === null || !Array.isArray((out as VersionResult).supportedVersions)) {
        throw new CniError(ErrorCode.DecodingFailure, `CNI plugin ${path} VERSION printed no version result`, JSON.stringify(out ?? null));
      }
      return out as VersionResult;
    },
  };
}
