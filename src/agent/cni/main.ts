// k8ts-bridge as a standalone CNI executable: CNI_* environment and config on stdin in, result or error
// JSON on stdout out, exit status 0 on success and 1 on error. Logs go to stderr.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseNetConf } from './config.js';
import { cniAdd, cniCheck, cniDel, cniGc, cniStatus, cniVersion } from './plugin.js';
import { COMMANDS, CniError, ErrorCode, LATEST_VERSION, isSupportedVersion, parseCniArgs, type CniCommand, type RuntimeParams } from './types.js';
import type { K8tsBridgeConfig } from './config.js';

/** What one invocation printed and its exit status; separate from I/O so tests can call it directly. */
export interface Outcome {
  stdout: string;
  exitCode: number;
}

function decode(stdin: string): unknown {
  try {
    return JSON.parse(stdin);
  } catch (e) {
    throw new CniError(ErrorCode.DecodingFailure, 'cannot decode the network configuration on stdin', (e as Error).message);
  }
}

export async function runCni(env: NodeJS.ProcessEnv, readStdin: () => string): Promise<Outcome> {
  let version: string = LATEST_VERSION;
  try {
    const command = env.CNI_COMMAND;
    if (!command) throw new CniError(ErrorCode.InvalidEnvironment, 'invalid environment variables: CNI_COMMAND', 'CNI_COMMAND is not set');
    if (!(COMMANDS as readonly string[]).includes(command)) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        'invalid environment variables: CNI_COMMAND',
        `unknown command ${JSON.stringify(command)}; expected one of ${COMMANDS.join(', ')}`,
      );
    }
    let stdin: string;
    try {
      stdin = readStdin();
    } catch (e) {
      throw new CniError(ErrorCode.IoFailure, 'cannot read the network configuration from stdin', (e as Error).message);
    }
    if ((command as CniCommand) === 'VERSION') {
      const raw = stdin.trim() ? decode(stdin) : {};
      const v = typeof raw === 'object' && raw !== null ? (raw as { cniVersion?: unknown }).cniVersion : undefined;
      return { stdout: JSON.stringify(cniVersion(typeof v === 'string' ? v : undefined)), exitCode: 0 };
    }
    const raw = decode(stdin);
    const v = typeof raw === 'object' && raw !== null ? (raw as { cniVersion?: unknown }).cniVersion : undefined;
    if (isSupportedVersion(v)) version = v;
    parseNetConf(raw); // fail on the configuration before complaining about the environment
    const conf = raw as K8tsBridgeConfig;
    const rt: RuntimeParams = {
      containerId: env.CNI_CONTAINERID ?? '',
      netns: env.CNI_NETNS ?? '',
      ifName: env.CNI_IFNAME ?? '',
      args: parseCniArgs(env.CNI_ARGS),
    };
    switch (command as CniCommand) {
      case 'ADD':
        return { stdout: JSON.stringify(await cniAdd(conf, rt)), exitCode: 0 };
      case 'DEL':
        await cniDel(conf, rt);
        break;
      case 'CHECK':
        await cniCheck(conf, rt);
        break;
      case 'STATUS':
        await cniStatus(conf);
        break;
      case 'GC':
        await cniGc(conf);
        break;
    }
    return { stdout: '', exitCode: 0 };
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(ErrorCode.Internal, 'internal error in k8ts-bridge', String((e as Error)?.stack ?? e));
    return { stdout: JSON.stringify(err.toJSON(version)), exitCode: 1 };
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const out = await runCni(process.env, () => readFileSync(0, 'utf8'));
  if (out.stdout) process.stdout.write(out.stdout + '\n');
  process.exitCode = out.exitCode;
}
