// The Client interface over HTTPS with a bearer token or a client certificate: what agents and the CLI use to reach the API server.
import { Agent, request } from 'node:https';
import { type SecureContext, createSecureContext } from 'node:tls';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import { type ResourceDef, groupVersion } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import {
  type Client,
  ClientError,
  type DeleteOptions,
  type EventType,
  type ListOptions,
  type PatchType,
  type Watch,
  type WatchHandlers,
  type WriteSubresource,
} from './types.js';

const PATCH_CONTENT: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

export interface RestConfig {
  server: string;
  /** A bearer token, or a client certificate and key (PEM): one of the two. */
  token?: string;
  cert?: string | Buffer;
  key?: string | Buffer;
  ca: string | Buffer;
  userAgent?: string;
  /** Connections kept to the server for requests (watches aside), default 32; beyond, requests wait for one. */
  maxConnections?: number;
}

/** Reads server, CA and the user's token or client certificate from a kubeconfig written by k8ts. */
export function configFromKubeconfig(path: string): RestConfig {
  const text = readFileSync(path, 'utf8');
  const server = /server:\s*(\S+)/.exec(text)?.[1];
  const ca = /certificate-authority-data:\s*(\S+)/.exec(text)?.[1];
  const token = /^\s*token:\s*(\S+)/m.exec(text)?.[1];
  const cert = /client-certificate-data:\s*(\S+)/.exec(text)?.[1];
  const key = /client-key-data:\s*(\S+)/.exec(text)?.[1];
  if (!server || !ca || (!token && !(cert && key))) {
    throw new Error(`${path}: not a k8ts kubeconfig (needs server, certificate-authority-data and a token or client-certificate-data with client-key-data)`);
  }
  return { server, token, ca: Buffer.from(ca, 'base64'), ...(cert && key ? { cert: Buffer.from(cert, 'base64'), key: Buffer.from(key, 'base64') } : {}) };
}

export function resourcePath(r: ResourceDef, ns: string | undefined, name?: string, sub?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  let p = r.namespaced && ns ? `${base}/namespaces/${encodeURIComponent(ns)}/${r.plural}` : `${base}/${r.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (sub) p += `/${sub}`;
  return p;
}

function query(opts: ListOptions = {}, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams(extra);
  if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
  if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** client-go's maxRetries for answers with Retry-After. */
const MAX_RETRY_AFTER = 10;

export class RestClient implements Client {
  private agent!: Agent;
  /** Watches hold their connection for as long as they last, so they have a pool of their own. */
  private watchAgent!: Agent;
  private url: URL;
  /** Open watch requests (each on its own connection), closed when the credentials change. */
  private watches = new Set<ClientRequest>();

  constructor(private cfg: RestConfig) {
    this.url = new URL(cfg.server);
    this.connectWith(cfg);
  }

  /** The pools for these credentials. The CA, certificate and key are parsed once into one TLS context that
   *  every connection shares: given as PEM, Node parsed them again for each new connection (each watch
   *  opens one), which was a visible share of an agent's start-up CPU. */
  private connectWith(cfg: RestConfig): void {
    const secureContext: SecureContext = createSecureContext({ ca: cfg.ca, cert: cfg.cert, key: cfg.key });
    this.agent = new Agent({ keepAlive: true, maxSockets: cfg.maxConnections ?? 32, secureContext });
    this.watchAgent = new Agent({ keepAlive: true, secureContext });
  }

  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  /** From now on authenticate with this client certificate (a renewed node certificate): open
   *  connections close, as the kubelet's do on rotation, so every request and watch re-authenticates. */
  setClientCertificate(cert: string | Buffer, key: string | Buffer): void {
    this.cfg = { ...this.cfg, cert, key, token: undefined };
    const old = [this.agent, this.watchAgent];
    this.connectWith(this.cfg);
    for (const a of old) a.destroy();
    for (const r of this.watches) r.destroy();
  }

  /** The Authorization header when the user is a token (a certificate rides in the TLS handshake). */
  private auth(): Record<string, string> {
    return this.cfg.token ? { Authorization: `Bearer ${this.cfg.token}` } : {};
  }

  /** One request; a 429 that carries Retry-After (the server shed it before doing anything) is sent again
   *  after that many seconds, up to 10 times, as client-go's rest client does for every verb. */
  private async send(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ code: number; body: unknown }> {
    for (let attempt = 0; ; attempt++) {
      const r = await this.sendOnce(method, path, body, contentType);
      if (r.code !== 429 || r.retryAfterS === undefined || attempt >= MAX_RETRY_AFTER) return r;
      await new Promise((res) => setTimeout(res, Math.min(r.retryAfterS ?? 1, 60) * 1000));
    }
  }

  private sendOnce(method: string, path: string, body: unknown, contentType: string): Promise<{ code: number; body: unknown; retryAfterS?: number }> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path,
          method,
          agent: this.agent,
          headers: {
            ...this.auth(),
            Accept: 'application/json',
            'User-Agent': this.cfg.userAgent ?? 'k8ts',
            ...(data !== undefined ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = text;
            }
            const after = Number(res.headers['retry-after']);
            resolve({ code: res.statusCode ?? 0, body: parsed, ...(Number.isInteger(after) && after >= 0 ? { retryAfterS: after } : {}) });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  /** The body of a 2xx answer (the JSON the server sent for T), else the Status as a ClientError. */
  private async must<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const r = await this.send(method, path, body, contentType);
    if (r.code >= 200 && r.code < 300) return r.body as T;
    throw statusError(r.code, r.body, `${method} ${path}`);
  }

  /** GET any API path (node proxy endpoints, for the CLI); errors as ClientError. */
  getPath<T = unknown>(path: string): Promise<T> {
    return this.must<T>('GET', path);
  }

  async get<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, name: string): Promise<T | undefined> {
    const res = await this.send('GET', resourcePath(r, ns, name));
    if (res.code === 404) return undefined;
    if (res.code !== 200) throw statusError(res.code, res.body, `GET ${name}`);
    return res.body as T;
  }

  async list<T extends KObject>(r: ResourceDef<T>, ns?: string, opts?: ListOptions): Promise<{ items: T[]; resourceVersion: string }> {
    const body = await this.must<{ items: T[]; metadata: { resourceVersion: string } }>('GET', resourcePath(r, ns) + query(opts));
    const items = body.items.map((o) => ({ apiVersion: groupVersion(r), kind: r.kind, ...o }));
    return { items, resourceVersion: body.metadata.resourceVersion };
  }

  watch<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, resourceVersion: string, h: WatchHandlers<T>, opts?: ListOptions): Promise<Watch> {
    const path = resourcePath(r, ns) + query(opts, { watch: 'true', resourceVersion, allowWatchBookmarks: 'true' });
    return new Promise((resolve, reject) => {
      let closed = false;
      const req = request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path,
          method: 'GET',
          agent: this.watchAgent,
          headers: { ...this.auth(), Accept: 'application/json', 'User-Agent': this.cfg.userAgent ?? 'k8ts' },
        },
        (res: IncomingMessage) => {
          if (res.statusCode !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              let body: unknown;
              try {
                body = JSON.parse(Buffer.concat(chunks).toString());
              } catch {
                body = undefined;
              }
              reject(statusError(res.statusCode ?? 0, body, `watch ${path}`));
            });
            return;
          }
          resolve({
            close: () => {
              closed = true;
              req.destroy();
            },
          });
          // Ended from this side (credentials rotated) or the peer's: reported once, so the informer re-watches.
          res.on('close', () => {
            if (closed) return;
            closed = true;
            h.onError(new Error('watch connection closed'));
          });
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              if (!line.trim()) continue;
              const ev = JSON.parse(line) as { type: string; object: T };
              if (ev.type === 'BOOKMARK') {
                const rv = ev.object?.metadata?.resourceVersion;
                if (rv) h.onBookmark?.(rv);
                continue;
              }
              if (ev.type === 'ERROR') {
                closed = true;
                req.destroy();
                h.onError(statusError(500, ev.object, 'watch'));
                return;
              }
              h.onEvent(ev.type as EventType, ev.object);
            }
          });
          res.on('end', () => {
            if (closed) return;
            closed = true;
            h.onError(new Error('watch closed by the server'));
          });
          res.on('error', (e) => {
            if (closed) return;
            closed = true;
            h.onError(e);
          });
        },
      );
      req.on('error', (e) => {
        if (closed) return;
        closed = true;
        reject(e);
        h.onError(e);
      });
      this.watches.add(req);
      req.on('close', () => this.watches.delete(req));
      req.end();
    });
  }

  create<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, obj: T): Promise<T> {
    return this.must('POST', resourcePath(r, ns), obj);
  }

  update<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, obj: T, subresource?: WriteSubresource): Promise<T> {
    return this.must('PUT', resourcePath(r, ns, obj.metadata.name ?? '', subresource), obj);
  }

  patch<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, name: string, type: PatchType, patch: unknown, subresource?: 'status'): Promise<T> {
    return this.must('PATCH', resourcePath(r, ns, name, subresource), patch, PATCH_CONTENT[type]);
  }

  /** POST a body to any API path (create-only subresources such as serviceaccounts/NAME/token). */
  postPath<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.must<T>('POST', path, body);
  }

  async delete(r: ResourceDef, ns: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    await this.must('DELETE', resourcePath(r, ns, name), opts);
  }

  async bind(ns: string, pod: string, node: string): Promise<void> {
    await this.must('POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(pod)}/binding`, {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: pod, namespace: ns },
      target: { apiVersion: 'v1', kind: 'Node', name: node },
    });
  }
}

/** A Status body (or anything else the server sent) as a ClientError with its code and reason. */
function statusError(httpCode: number, body: unknown, what: string): ClientError {
  const st = (typeof body === 'object' && body !== null ? body : {}) as { code?: unknown; reason?: unknown; message?: unknown };
  const code = typeof st.code === 'number' ? st.code : httpCode;
  const message = typeof st.message === 'string' ? st.message : typeof body === 'string' ? body : `HTTP ${httpCode}`;
  return new ClientError(code, typeof st.reason === 'string' ? st.reason : 'Unknown', `${what}: ${message}`);
}
