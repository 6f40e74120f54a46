// Container logs over plain HTTP (what `kubectl logs` reads): query parameters, text/plain body streamed
// chunk by chunk (kept open with follow), errors as Status JSON.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { debuglog } from 'node:util';
import { errors } from '../../api/status.js';
import { queryBool } from '../../api/queryparams.js';
import type { LogBackend, LogOptions, PodRef } from './backend.js';
import { sendStatusResponse } from './status.js';

const log = debuglog('k8ts:streams');

export interface LogRequest extends LogOptions {
  container: string;
}

function integer(params: URLSearchParams, name: string, min: number): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw)) throw errors.badRequest(`${name}: Invalid value: ${JSON.stringify(raw)}: must be an integer`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw errors.badRequest(`${name}: Invalid value: ${raw}: out of range`);
  if (n < min) throw errors.badRequest(`${name}: Invalid value: ${n}: must be greater than ${min === 0 ? 'or equal to 0' : 'or equal to 1'}`);
  return n;
}

/** PodLogOptions' booleans, read as Kubernetes' parameter codec reads them (absent → false). */
const bool = queryBool;

/** Reads the pod log query as the API server's PodLogOptions validation does; a bad one is a 400. */
export function parseLogParams(params: URLSearchParams): LogRequest {
  const container = params.get('container') ?? '';
  if (!container) throw errors.badRequest('a container name must be specified (query parameter "container")');
  const sinceSeconds = integer(params, 'sinceSeconds', 1);
  const sinceRaw = params.get('sinceTime');
  let sinceTime: Date | undefined;
  if (sinceRaw) {
    sinceTime = new Date(sinceRaw);
    if (Number.isNaN(sinceTime.getTime())) throw errors.badRequest(`sinceTime: Invalid value: ${JSON.stringify(sinceRaw)}: must be an RFC 3339 time`);
  }
  if (sinceSeconds !== undefined && sinceTime) throw errors.badRequest('at most one of `sinceTime` or `sinceSeconds` may be specified');
  return {
    container,
    follow: bool(params, 'follow'),
    previous: bool(params, 'previous'),
    timestamps: bool(params, 'timestamps'),
    tailLines: integer(params, 'tailLines', 0),
    limitBytes: integer(params, 'limitBytes', 1),
    sinceSeconds,
    sinceTime,
  };
}

/** RFC 3339 with nine fractional digits, as the kubelet prefixes lines with `timestamps=true`. */
export function formatLogTimestamp(t: Date, nanosWithinMillisecond = 0): string {
  const iso = t.toISOString(); // 2024-01-02T03:04:05.678Z
  const frac = (iso.slice(20, 23) + String(nanosWithinMillisecond).padStart(6, '0')).slice(0, 9);
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/** Serves one log request to its end (the reader ends, limitBytes is reached, or the client leaves). */
export async function serveLogs(
  _req: IncomingMessage,
  res: ServerResponse,
  pod: PodRef,
  params: URLSearchParams,
  backend: LogBackend | undefined,
): Promise<void> {
  let opts: LogRequest;
  let reader: Readable;
  try {
    if (!backend) throw errors.badRequest('logs are not supported by this node (no log backend)');
    opts = parseLogParams(params);
    const { container, ...logOpts } = opts;
    reader = await backend.open(pod, container, logOpts);
  } catch (e) {
    sendStatusResponse(res, e);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private', 'X-Content-Type-Options': 'nosniff' });
  // kubectl shows nothing until the headers arrive; with follow the first line may be far away.
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  let remaining = opts.limitBytes ?? Infinity;
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      reader.destroy();
      if (!res.writableEnded) res.end();
      resolve();
    };
    reader.on('data', (chunk: Buffer | string) => {
      let b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (b.length > remaining) b = b.subarray(0, remaining);
      remaining -= b.length;
      if (b.length && !res.write(b)) {
        reader.pause();
        res.once('drain', () => reader.resume());
      }
      if (remaining <= 0) finish();
    });
    reader.on('end', finish);
    reader.on('error', (e) => {
      log('log reader for %s/%s: %s', pod.namespace, pod.name, e.message);
      finish();
    });
    // Not req 'close': it fires once the request body is read, long before a follow ends.
    res.on('close', finish);
  });
}
