// exec/attach independent of the transport: the request's parameters, starting the process, and driving
// a session (stdin in, stdout/stderr out, resizes, one Status at the end) over channels a transport provides.
import type { Readable, Writable } from 'node:stream';
import { debuglog } from 'node:util';
import { errors } from '../../api/status.js';
import { queryBool } from '../../api/queryparams.js';
import { type ExecProcess, type PodRef, type StreamBackends, StreamBackendError } from './backend.js';
import { type StreamStatus, exitCodeStatus, internalErrorStatus, successStatus } from './status.js';

const log = debuglog('k8ts:streams');

export interface RemoteCommandRequest {
  kind: 'exec' | 'attach';
  container: string;
  /** The command line (exec); empty for attach. */
  argv: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** kubectl sends `true`, the API server in front of a kubelet rewrites to `1`, Python sends `True`:
 *  read as Kubernetes' parameter codec reads PodExecOptions. */
const flag = queryBool;

/** Reads exec/attach query parameters the way the kubelet does; a bad request is a 400 ApiError. */
export function parseRemoteCommandParams(kind: 'exec' | 'attach', params: URLSearchParams): RemoteCommandRequest {
  const container = params.get('container') ?? '';
  if (!container) throw errors.badRequest(`a container name must be specified (query parameter "container")`);
  const tty = flag(params, 'tty');
  const r: RemoteCommandRequest = {
    kind,
    container,
    argv: kind === 'exec' ? params.getAll('command') : [],
    stdin: flag(params, 'stdin'),
    stdout: flag(params, 'stdout'),
    // A pty has no separate stderr; the kubelet drops the flag instead of failing.
    stderr: flag(params, 'stderr') && !tty,
    tty,
  };
  if (kind === 'exec' && r.argv.length === 0) throw errors.badRequest('you must specify at least one command for the container');
  if (!r.stdin && !r.stdout && !r.stderr) throw errors.badRequest('you must specify at least 1 of stdin, stdout, stderr');
  return r;
}

/** The outcome of starting: a process, or a failure that is reported inside the stream (command not found). */
export type Started = { proc: ExecProcess } | { failure: StreamStatus };

/** Starts the process. Errors that the kubelet answers before upgrading (no such container, not running,
 *  no backend) are thrown; a missing command becomes the in-stream InternalError that runtimes report. */
export async function startRemoteCommand(r: RemoteCommandRequest, pod: PodRef, backends: StreamBackends): Promise<Started> {
  const exec = backends.exec;
  if (!exec) throw errors.badRequest(`${r.kind} is not supported by this node (no exec backend)`);
  const opts = { tty: r.tty, stdin: r.stdin };
  try {
    if (r.kind === 'attach') {
      if (!exec.attach) throw new StreamBackendError('Unsupported', `attach is not supported by this node's container runtime`);
      return { proc: await exec.attach(pod, r.container, opts) };
    }
    return { proc: await exec.exec(pod, r.container, r.argv, opts) };
  } catch (e) {
    if (e instanceof StreamBackendError && e.code === 'CommandNotFound') {
      return { failure: internalErrorStatus(`error executing command in container: ${e.message}`) };
    }
    throw e;
  }
}

/** What a transport offers a session. Streams the client did not ask for are null. */
export interface CommandChannels {
  /** Bytes the client types; 'end' is the client's stdin EOF. */
  stdin: Readable | null;
  stdout: Writable | null;
  stderr: Writable | null;
  /** Sends the one result document; resolves when it is written (or the client is gone). */
  writeStatus(status: StreamStatus): Promise<void>;
}

function settled(s: Readable | Writable, event: 'end' | 'finish'): Promise<void> {
  return new Promise((resolve) => {
    if ((event === 'end' && (s as Readable).readableEnded) || (event === 'finish' && (s as Writable).writableFinished) || s.destroyed) {
      resolve();
      return;
    }
    const done = () => {
      s.off(event, done);
      s.off('close', done);
      s.off('error', done);
      resolve();
    };
    s.on(event, done);
    s.on('close', done);
    s.on('error', done);
  });
}

/** Copies process output to a client channel; resolves once all of it was handed to the channel. */
function forward(src: Readable, dst: Writable | null): Promise<void> {
  src.on('error', (e) => log('process output error: %s', e.message));
  if (!dst) {
    src.resume();
    return settled(src, 'end');
  }
  dst.on('error', (e) => log('client channel error: %s', e.message));
  src.pipe(dst);
  return settled(src, 'end').then(() => {
    // pipe() ends the channel on 'end' only; a source that errored or closed early must end it too.
    if (!dst.writableEnded && !dst.destroyed) dst.end();
    return settled(dst, 'finish');
  });
}

/** Runs one exec/attach session to its end: wires the channels to the process, waits for the exit and for
 *  all output to be handed over, then writes the Status (kubectl takes the exit code from it). */
export async function runSession(r: RemoteCommandRequest, started: Started, ch: CommandChannels): Promise<void> {
  if ('failure' in started) {
    ch.stdin?.resume();
    ch.stdout?.end();
    ch.stderr?.end();
    await ch.writeStatus(started.failure);
    return;
  }
  const proc = started.proc;
  if (ch.stdin && proc.stdin) {
    proc.stdin.on('error', (e) => log('process stdin error: %s', e.message));
    ch.stdin.pipe(proc.stdin);
  } else {
    ch.stdin?.resume();
    proc.stdin?.on('error', () => {});
    proc.stdin?.end();
  }
  const outputs = [forward(proc.stdout, ch.stdout)];
  if (proc.stderr) outputs.push(forward(proc.stderr, ch.stderr));
  let status: StreamStatus;
  try {
    const code = await proc.exitCode;
    status = r.kind === 'attach' || code === 0 ? successStatus() : exitCodeStatus(r.argv, code);
  } catch (e) {
    status = internalErrorStatus(`error executing command in container: ${e instanceof Error ? e.message : String(e)}`);
  }
  await Promise.all(outputs);
  await ch.writeStatus(status);
}

/** Splits a byte stream of concatenated JSON objects (the SPDY resize stream) into terminal sizes. */
export class ResizeParser {
  private text = '';

  constructor(private onSize: (width: number, height: number) => void) {}

  feed(chunk: Buffer): void {
    this.text += chunk.toString('utf8');
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.text.length; i++) {
      const c = this.text[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{') {
        if (depth++ === 0) start = i;
      } else if (c === '}' && depth > 0 && --depth === 0) {
        this.emit(this.text.slice(start, i + 1));
        consumed = i + 1;
      }
    }
    this.text = this.text.slice(consumed);
    // A client that sends garbage must not grow the buffer without bound.
    if (this.text.length > 4096) this.text = '';
  }

  private emit(doc: string): void {
    try {
      const v = JSON.parse(doc) as { Width?: unknown; Height?: unknown };
      const w = Number(v.Width ?? 0);
      const h = Number(v.Height ?? 0);
      if (Number.isInteger(w) && Number.isInteger(h) && w >= 0 && h >= 0 && w <= 0xffff && h <= 0xffff) this.onSize(w, h);
    } catch (e) {
      log('bad resize document %s: %s', doc, (e as Error).message);
    }
  }
}
