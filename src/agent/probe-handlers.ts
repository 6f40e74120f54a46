// The three probe actions as the kubelet performs them: exec (a command in the container), httpGet and
// tcpSocket (from the node's network namespace to the pod IP). Each resolves with an outcome and the text
// the kubelet would put in its event; a probe that could not be run at all throws ProbeError.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { KUBE_VERSION } from '../api/version.js';
import type { ExecSession } from './runtime/session.js';

/** Success, failure, or success with a warning (a redirect the prober did not follow). */
export type ProbeResult = 'success' | 'failure' | 'warning';

export interface ProbeOutcome {
  result: ProbeResult;
  /** The command's output, the HTTP body, or why it failed (shown in the Unhealthy event). */
  output: string;
}

/** The probe could not be run (unknown port name, unsupported action…): the kubelet keeps the last result. */
export class ProbeError extends Error {
  constructor(
    readonly code: 'ProbeUnsupported' | 'ProbeInvalid' | 'ProbeNotRunnable',
    message: string,
  ) {
    super(message);
    this.name = 'ProbeError';
  }
}

/** The kubelet reads at most this much of a probe's output or response body. */
const MAX_OUTPUT = 10 * 1024;
const MAX_REDIRECTS = 10;

/** A container port as the pod spec lists it, for named probe ports. */
export interface ContainerPort {
  name?: string;
  containerPort: number;
}

/** A probe port (number, numeric string or a containerPort name) as a port number. */
export function resolvePort(port: unknown, ports: ContainerPort[], container: string): number {
  let n: number;
  if (typeof port === 'number') n = port;
  else if (typeof port === 'string') {
    const named = ports.find((p) => p.name === port);
    if (named) n = named.containerPort;
    else if (/^\d+$/.test(port)) n = Number(port);
    else throw new ProbeError('ProbeInvalid', `port "${port}" not found: container ${container} has no containerPort named ${port}`);
  } else throw new ProbeError('ProbeInvalid', `invalid port ${JSON.stringify(port)} in probe of container ${container}`);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ProbeError('ProbeInvalid', `invalid port number: ${n}`);
  return n;
}

function hostPort(host: string, port: number): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** Node's socket errors in the words Go's net package uses (what users see in kubelet events). */
function dialError(e: NodeJS.ErrnoException, addr: string): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${addr}: connect: connection refused`;
    case 'EHOSTUNREACH':
      return `dial tcp ${addr}: connect: no route to host`;
    case 'ENETUNREACH':
      return `dial tcp ${addr}: connect: network is unreachable`;
    case 'ECONNRESET':
      return e.message === 'socket hang up' ? 'EOF' : 'read: connection reset by peer';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `dial tcp: lookup ${addr.replace(/:\d+$/, '')}: no such host`;
    default:
      return e.message;
  }
}

export interface TcpSocketAction {
  host?: string;
  port: number | string;
}

/** Succeeds when a TCP connection to host:port is established within timeoutMs. */
export function tcpSocketProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  const addr = hostPort(host, port);
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ result: 'failure', output: `dial tcp ${addr}: i/o timeout` });
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ result: 'success', output: '' });
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ result: 'failure', output: dialError(e, addr) });
    });
  });
}

export interface HttpGetAction {
  host?: string;
  port: number | string;
  path?: string;
  scheme?: string;
  httpHeaders?: { name: string; value: string }[];
}

/**
 * GET scheme://host:port/path with the probe's headers; 200–399 is success. Redirects are followed on the
 * same host only (up to 10); a redirect elsewhere ends the probe as a success with a warning, as the
 * kubelet does. HTTPS certificates are not verified. timeoutMs bounds the whole exchange.
 */
export async function httpGetProbe(action: HttpGetAction, host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  const scheme = (action.scheme ?? 'HTTP').toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') throw new ProbeError('ProbeInvalid', `unsupported HTTP probe scheme ${JSON.stringify(action.scheme)}`);
  let path = action.path ?? '/';
  if (!path.startsWith('/')) path = `/${path}`;
  const first = new URL(`${scheme}://${hostPort(host, port)}${path}`);
  const headers: Record<string, string> = {};
  for (const h of action.httpHeaders ?? []) headers[h.name] = h.value;
  const has = (n: string) => Object.keys(headers).some((k) => k.toLowerCase() === n);
  if (!has('user-agent')) headers['User-Agent'] = `kube-probe/${KUBE_VERSION.major}.${KUBE_VERSION.minor}`;
  if (!has('accept')) headers.Accept = '*/*';
  headers.Connection = 'close';
  const deadline = Date.now() + timeoutMs;
  let url = first;
  for (let hops = 0; ; hops++) {
    const r = await get(url, headers, deadline);
    if ('error' in r) return { result: 'failure', output: `Get "${url.href}": ${r.error}` };
    if (r.status >= 300 && r.status < 400 && r.location !== undefined) {
      let next: URL;
      try {
        next = new URL(r.location, url);
      } catch {
        return { result: 'failure', output: `Get "${url.href}": failed to parse Location header ${JSON.stringify(r.location)}` };
      }
      if (next.hostname === first.hostname && (next.protocol === 'http:' || next.protocol === 'https:')) {
        if (hops + 1 >= MAX_REDIRECTS) return { result: 'failure', output: `Get "${next.href}": stopped after ${MAX_REDIRECTS} redirects` };
        url = next;
        continue;
      }
    }
    if (r.status >= 200 && r.status < 400) {
      if (r.status >= 300) return { result: 'warning', output: `Probe terminated redirects, Response body: ${r.body}` };
      return { result: 'success', output: r.body };
    }
    return { result: 'failure', output: `HTTP probe failed with statuscode: ${r.status}` };
  }
}

type GetResult = { status: number; location?: string; body: string } | { error: string };

function get(url: URL, headers: Record<string, string>, deadline: number): Promise<GetResult> {
  return new Promise((resolve) => {
    const addr = hostPort(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || (url.protocol === 'https:' ? 443 : 80)));
    let phase: 'headers' | 'body' = 'headers';
    let done = false;
    const finish = (r: GetResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const opts = { method: 'GET', headers, agent: false as const, rejectUnauthorized: false };
    const req = url.protocol === 'https:' ? https.request(url, opts) : http.request(url, opts);
    const timer = setTimeout(
      () =>
        finish({
          error:
            phase === 'headers'
              ? 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
              : 'context deadline exceeded (Client.Timeout or context cancellation while reading body)',
        }),
      Math.max(0, deadline - Date.now()),
    );
    req.on('error', (e: NodeJS.ErrnoException) => finish({ error: dialError(e, addr) }));
    req.on('response', (res) => {
      phase = 'body';
      const chunks: Buffer[] = [];
      let size = 0;
      const end = () => finish({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString('utf8') });
      res.on('data', (b: Buffer) => {
        if (size < MAX_OUTPUT) chunks.push(b.subarray(0, MAX_OUTPUT - size));
        size += b.length;
        if (size >= MAX_OUTPUT) end();
      });
      res.on('end', end);
      res.on('error', (e: NodeJS.ErrnoException) => finish({ error: dialError(e, addr) }));
    });
    req.end();
  });
}

/** What the exec probe needs of the runtime. */
export interface ExecRunner {
  exec(id: string, argv: string[]): Promise<ExecSession>;
}

/**
 * Runs command in the container; exit status 0 is success, anything else failure with the command's
 * output. A command still running after timeoutMs is killed and the probe fails. A command that cannot be
 * started at all (not in the image) throws what the runtime threw, as the kubelet's CRI call errors.
 */
export async function execProbe(runtime: ExecRunner, containerId: string, command: string[], timeoutMs: number): Promise<ProbeOutcome> {
  const s = await runtime.exec(containerId, command);
  const chunks: Buffer[] = [];
  let size = 0;
  const collect = (b: Buffer) => {
    if (size < MAX_OUTPUT) chunks.push(b.subarray(0, MAX_OUTPUT - size));
    size += b.length;
  };
  s.stdout.on('data', collect);
  s.stderr?.on('data', collect);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const code = await Promise.race([s.exitCode, timedOut]);
    if (code === 'timeout') {
      await s.kill('SIGKILL');
      s.exitCode.catch(() => {});
      return { result: 'failure', output: `command ${JSON.stringify(command.join(' '))} timed out` };
    }
    // The pipes close right after the exit; their last bytes are part of the output.
    await Promise.all([s.stdout, s.stderr].map(drained));
    return { result: code === 0 ? 'success' : 'failure', output: Buffer.concat(chunks).toString('utf8') };
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once a stream has ended, or after a short grace if its writer left it open. */
function drained(r: Readable | null): Promise<void> {
  return new Promise((resolve) => {
    if (!r || r.readableEnded || r.destroyed) return resolve();
    const done = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(done, 200);
    r.once('end', done);
    r.once('close', done);
  });
}
