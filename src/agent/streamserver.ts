// The agent's kubelet-like endpoint on <node IP>:10250: the API server forwards pod log, exec, attach
// and port-forward here, and the stream handlers speak kubectl's protocols over the node's container
// runtime and the pods' network namespaces. It serves the node's certificate from the cluster CA (a
// self-signed one until that is issued) and lets in only callers CallerAuth authenticates and authorizes.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex, PassThrough, type Readable } from 'node:stream';
import type { KObject } from '../api/types.js';
import { selfSigned, writeKeyAndCert } from '../api/certificates/issue.js';
import { ApiError, statusBody } from '../api/status.js';
import { handleStream, type StreamKind } from './streams/handler.js';
import { type StreamBackends, StreamBackendError, type PodRef } from './streams/backend.js';
import type { Runtime, ContainerInfo } from './runtime/runtime.js';
import type { CallerAuth } from './callerauth.js';

export const AGENT_PORT = 10250;

async function ensureCert(dir: string, ip: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, 'agent.key');
  const crt = join(dir, 'agent.crt');
  if (!existsSync(key) || !existsSync(crt)) {
    writeKeyAndCert(await selfSigned({ subject: { cn: 'k8ts-agent' }, usage: 'server', names: [ip], days: 3650 }), key, crt);
  }
  return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
}

export interface StreamServerDeps {
  runtime: Runtime;
  /** The pod (from the agent's informer) by namespace/name. */
  pod(ns: string, name: string): KObject | undefined;
  /** The network namespace path of a pod's sandbox. */
  netnsOf(uid: string): string | undefined;
  /** Questions about this node answered as JSON at /k8ts/<name> (drops, trace), reached through the node proxy. */
  queries?: Record<string, (params: URLSearchParams) => Promise<unknown>>;
  /** The agent's Prometheus text at /metrics (the kubelet's path, so /api/v1/nodes/N/proxy/metrics reaches it). */
  metrics?: () => Promise<{ body: string; contentType: string }>;
  /** The kubelet's /metrics/resource (CPU and working set of the node, pods and containers) for metrics.k8s.io. */
  resourceMetrics?: () => Promise<string>;
}

/** The TLS the endpoint serves: the cluster CA its callers' certificates are checked against, and the
 *  node's serving certificate (absent: a self-signed one made in the data dir, which the API server refuses). */
export interface StreamServerTls {
  ca: string | Buffer;
  cert?: string;
  key?: string;
}

export class StreamServer {
  private server?: Server;
  private ca?: string | Buffer;
  /** A certificate handed over while start() was still setting up. */
  private pending?: { cert: string; key: string };

  constructor(
    private deps: StreamServerDeps,
    private auth: CallerAuth,
  ) {}

  async start(dir: string, ip: string, tls: StreamServerTls, port = AGENT_PORT): Promise<void> {
    const { cert, key } = tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : await ensureCert(dir, ip);
    this.ca = tls.ca;
    // A certificate is asked for, never required: a caller may instead send a bearer token. The verdict
    // of the chain check is read per request (an unverified certificate proves nothing).
    const server = createServer(
      { cert, key, ca: tls.ca, requestCert: true, rejectUnauthorized: false },
      (req, res) => void this.serve(req, res, Buffer.alloc(0)),
    );
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.serve(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, ip, () => resolve());
    });
    this.server = server;
    if (this.pending) this.setCertificate(this.pending.cert, this.pending.key);
  }

  /** Serve a new certificate (issued or renewed) from the next handshake on; open connections keep theirs. */
  setCertificate(cert: string, key: string): void {
    if (this.server) this.server.setSecureContext({ cert, key, ca: this.ca });
    else this.pending = { cert, key };
  }

  /** The port it listens on (start with port 0 picks one). */
  get port(): number {
    return (this.server?.address() as { port: number } | null)?.port ?? 0;
  }

  close(): void {
    this.server?.close();
    this.server?.closeAllConnections?.();
  }

  private async serve(req: IncomingMessage, target: ServerResponse | Duplex, head: Buffer): Promise<void> {
    const deny = (code: number, msg: string) => {
      const body = statusBody(new ApiError(code, code === 401 ? 'Unauthorized' : 'NotFound', msg).toStatus());
      if ('writeHead' in target) {
        (target as ServerResponse).writeHead(code, { 'Content-Type': 'application/json' });
        (target as ServerResponse).end(body);
      } else
        target.end(
          `HTTP/1.1 ${code} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
    };
    const url = new URL(req.url ?? '/', 'https://agent');
    let seg: string[];
    try {
      seg = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      return refuse(target, 400, `malformed path: ${url.pathname}`);
    }
    // Authorization names the path as the caller sent it, so /metrics/../x cannot pass as metrics.
    const verdict = await this.auth.check(req, url.pathname);
    if (!verdict.ok) return refuse(target, verdict.code, verdict.message);
    if (seg[0] === 'k8ts' && seg.length === 2 && 'writeHead' in target) return this.query(seg[1], url.searchParams, target as ServerResponse, deny);
    if (seg[0] === 'metrics' && seg.length === 1 && this.deps.metrics && 'writeHead' in target) {
      const { body, contentType } = await this.deps.metrics();
      (target as ServerResponse).writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
      (target as ServerResponse).end(body);
      return;
    }
    if (seg[0] === 'metrics' && seg[1] === 'resource' && seg.length === 2 && this.deps.resourceMetrics && 'writeHead' in target) {
      const body = await this.deps.resourceMetrics();
      (target as ServerResponse).writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      (target as ServerResponse).end(body);
      return;
    }
    const kinds: Record<string, StreamKind> = { exec: 'exec', attach: 'attach', portforward: 'portforward', containerLogs: 'log' };
    const kind = kinds[seg[0]];
    if (!kind || seg.length < 3) return deny(404, `no such endpoint: ${url.pathname}`);
    const pod = this.deps.pod(seg[1], seg[2]);
    if (!pod) return deny(404, `pod ${seg[1]}/${seg[2]} is not running on this node`);
    const params = new URLSearchParams(url.search);
    if (seg[3] && !params.has('container')) params.set('container', seg[3]);
    const ref: PodRef = { namespace: seg[1], name: seg[2], uid: pod.metadata.uid };
    await handleStream(req, target, head, kind, ref, params, this.backends(pod));
  }

  private async query(name: string, params: URLSearchParams, res: ServerResponse, deny: (code: number, msg: string) => void): Promise<void> {
    const q = this.deps.queries?.[name];
    if (!q) return deny(404, `no such endpoint: /k8ts/${name}`);
    try {
      const body = JSON.stringify(await q(params));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    } catch (e) {
      const bad = (e as { code?: string }).code === 'BadRequest';
      const body = JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: e instanceof Error ? e.message : String(e),
        reason: bad ? 'BadRequest' : 'InternalError',
        code: bad ? 400 : 500,
      });
      res.writeHead(bad ? 400 : 500, { 'Content-Type': 'application/json' });
      res.end(body);
    }
  }

  private backends(pod: KObject): StreamBackends {
    const runtime = this.deps.runtime;
    const uid = pod.metadata.uid!;
    const containers = async (name: string): Promise<ContainerInfo[]> =>
      (await runtime.list())
        .filter((c) => c.labels['k8ts.pod.uid'] === uid && c.labels['k8ts.container'] === name)
        .sort((a, b) => Number(b.labels['k8ts.restarts']) - Number(a.labels['k8ts.restarts']));
    const running = async (name: string): Promise<ContainerInfo> => {
      const all = await containers(name);
      if (!all.length) throw new StreamBackendError('ContainerNotFound', `container ${name} not found in pod ${pod.metadata.name}`);
      const c = all.find((x) => x.state.status === 'running');
      if (!c) throw new StreamBackendError('ContainerNotRunning', `container ${name} is not running (${all[0].state.status})`);
      return c;
    };
    return {
      exec: {
        exec: async (_p, container, argv, opts) => {
          const c = await running(container);
          let session;
          try {
            session = await runtime.exec(c.id, argv, { tty: opts.tty, stdin: opts.stdin });
          } catch (e) {
            throw new StreamBackendError('CommandNotFound', e instanceof Error ? e.message : String(e));
          }
          // Output must wait for its reader: SPDY clients open their streams only after the process started.
          const hold = (r: Readable | null) => (r ? r.pipe(new PassThrough()) : null);
          return {
            stdin: session.stdin,
            stdout: hold(session.stdout)!,
            stderr: hold(session.stderr),
            resize: (w, h) => void session.resize(w, h).catch(() => {}),
            exitCode: session.exitCode,
            kill: () => void session.kill('SIGKILL').catch(() => {}),
          };
        },
      },
      portForward: {
        connect: async (_p, port) => {
          const netns = this.deps.netnsOf(uid);
          if (!netns) throw new Error(`pod ${pod.metadata.name} has no network namespace on this node`);
          return connectInNetns(netns, port);
        },
      },
      logs: {
        open: async (_p, container, opts) => {
          const all = await containers(container);
          const c = opts.previous ? all[1] : all[0];
          if (!c)
            throw new StreamBackendError(
              'ContainerNotFound',
              opts.previous
                ? `previous terminated container "${container}" in pod "${pod.metadata.name}" not found`
                : `container "${container}" in pod "${pod.metadata.name}" is waiting to start`,
            );
          return runtime.readLog(c.id, {
            follow: opts.follow,
            tailLines: opts.tailLines,
            sinceSeconds: opts.sinceSeconds,
            sinceTime: opts.sinceTime,
            timestamps: opts.timestamps,
            limitBytes: opts.limitBytes,
          });
        },
      },
    };
  }
}

/** A plain-text refusal as the kubelet writes it (go-restful's WriteErrorString), on a response or on the
 *  raw socket of an upgrade request. */
function refuse(target: ServerResponse | Duplex, code: number, message: string): void {
  const reason: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 500: 'Internal Server Error' };
  if ('writeHead' in target) {
    (target as ServerResponse).writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(message) });
    (target as ServerResponse).end(message);
  } else {
    target.end(
      `HTTP/1.1 ${code} ${reason[code] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`,
    );
  }
}

/** A TCP connection to 127.0.0.1:port inside a pod's network namespace, relayed by busybox nc run there
 *  (a process cannot open a socket in another namespace without entering it). */
function connectInNetns(netnsPath: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netnsPath}`, '--', 'busybox', 'nc', '127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    let settled = false;
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const duplex = Duplex.from({ readable: child.stdout, writable: child.stdin });
    // nc exits at once when the port is closed: wait a moment to tell "refused" from "connected".
    const t = setTimeout(() => {
      settled = true;
      resolve(duplex);
    }, 150);
    child.on('exit', (code) => {
      if (settled) return;
      clearTimeout(t);
      settled = true;
      reject(new Error(`error forwarding port ${port}: ${err.trim() || `connection refused (nc exited ${code})`}`));
    });
    child.on('error', (e) => !settled && reject(e));
  });
}
