// Pod streams (log, exec, attach, portforward) are served by the agent on the pod's node, as the kubelet
// serves them: the API server forwards the request — for upgrades, the raw connection, whatever protocol
// (WebSocket or SPDY) the client speaks — to https://<node InternalIP>:10250. As kube-apiserver with
// --kubelet-certificate-authority, it verifies the agent's serving certificate against the cluster CA for
// the node's address (an agent still on its self-signed certificate, or one presenting another node's,
// gets nothing), and authenticates as kube-apiserver-kubelet-client with its own client certificate.
import { NODES } from '../api/kinds.js';
import { connect as tlsConnect, createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls';
import { Agent, request } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Node, Pod } from '../api/types.js';
import { storageKey } from '../api/resources.js';
import type { Registry } from './registry.js';
import { errors, statusBody } from '../api/status.js';

export const AGENT_PORT = 10250;

export function agentPath(sub: string, pod: Pod, container: string | undefined, search: string): string {
  const ns = encodeURIComponent(pod.metadata.namespace!);
  const name = encodeURIComponent(pod.metadata.name!);
  const c = container ? `/${encodeURIComponent(container)}` : '';
  const kind = sub === 'log' ? 'containerLogs' : sub;
  return `/${kind}/${ns}/${name}${sub === 'portforward' ? '' : c}${search}`;
}

/** What the API server trusts agents by and presents to them. */
export interface KubeletClientTls {
  /** The cluster CA: agents' serving certificates must chain to it. */
  ca: string;
  /** The API server's client certificate and key (kube-apiserver-kubelet-client). */
  cert: string;
  key: string;
}

export class NodeProxy {
  private agent: Agent;
  /** CA, certificate and key parsed once: given as options, every new connection would parse them again
   *  (the resource-metrics scrape opens one per node each round; at 1,000 hollow nodes that was a tenth of
   *  the server's CPU in `k8ts simulate`'s profile). */
  private context: SecureContext;

  constructor(
    private reg: Registry,
    tls: KubeletClientTls,
  ) {
    this.context = createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key });
    // Verification is Node's default (rejectUnauthorized), against the cluster CA only; the host checked
    // is the node's address.
    this.agent = new Agent({ keepAlive: true, maxSockets: 64, secureContext: this.context });
  }

  private tlsOptions(host: string, port: number): ConnectionOptions {
    return { host, port, secureContext: this.context };
  }

  close(): void {
    this.agent.destroy();
  }

  /** The agent of `nodeName`; `of` names what is reached through it, for the error. */
  private async nodeAddress(nodeName: string, of: string, cached = false): Promise<{ host: string; port: number }> {
    // The scrape, every node every round, reads the watch cache's Node (shared: only read here); a node
    // it has not seen yet is read from the store.
    const node =
      (cached ? (this.reg.cache.object(storageKey(NODES, undefined, nodeName))?.object as Node | undefined) : undefined) ??
      (await this.reg.tryGet(NODES, undefined, nodeName));
    const ip = (node?.status?.addresses ?? []).find((a) => a.type === 'InternalIP')?.address;
    if (!ip) throw errors.badRequest(`node "${nodeName}" of pod ${of} has no InternalIP: its agent has not registered`);
    const port = Number(node?.status?.daemonEndpoints?.kubeletEndpoint?.Port) || AGENT_PORT;
    return { host: ip, port };
  }

  /**
   * `GET /api/v1/nodes/NAME/proxy/k8ts/...`: the agent's own questions about its node (drops, trace), as
   * the kubelet's endpoints are reached through the node proxy, and `/metrics`, `/metrics/resource` (the kubelet's paths). Only
   * GET, and only those paths.
   */
  async forwardNode(req: IncomingMessage, res: ServerResponse, nodeName: string, path: string, search: string): Promise<void> {
    if (req.method !== 'GET') throw errors.methodNotAllowed(req.method ?? '', 'nodes/proxy');
    if (path !== '/metrics' && path !== '/metrics/resource' && !/^\/k8ts\/[a-z]+$/.test(path)) throw errors.notFound('nodes/proxy', '', path);
    const node = await this.reg.tryGet(NODES, undefined, nodeName);
    if (!node) throw errors.notFound('nodes', '', nodeName);
    await this.proxy(req, res, nodeName, path, `${path}${search}`);
  }

  /** GET a path of a node's agent for the API server itself (the resource-metrics scrape): the body, or an
   *  error naming the node when it cannot be reached, answers non-200, or takes longer than timeoutMs. */
  async fetchNode(nodeName: string, path: string, timeoutMs: number, maxBytes = 16 << 20): Promise<string> {
    const { host, port } = await this.nodeAddress(nodeName, path, true);
    return new Promise<string>((resolve, reject) => {
      const up = request({ host, port, path, method: 'GET', agent: this.agent, timeout: timeoutMs, headers: { Accept: 'text/plain' } }, (ar) => {
        const chunks: Buffer[] = [];
        let n = 0;
        ar.on('data', (c: Buffer) => {
          n += c.length;
          if (n > maxBytes) up.destroy(new Error(`answer larger than ${maxBytes} bytes`));
          else chunks.push(c);
        });
        ar.on('end', () => {
          if (ar.statusCode !== 200) reject(new Error(`node "${nodeName}": GET ${path} answered ${ar.statusCode}`));
          else resolve(Buffer.concat(chunks).toString('utf8'));
        });
        ar.on('error', reject);
      });
      up.on('timeout', () => up.destroy(new Error(`no answer in ${timeoutMs} ms`)));
      up.on('error', (e) => reject(new Error(`node "${nodeName}" at ${host}:${port}: ${e.message}`)));
      up.end();
    });
  }

  /** Forward a plain request (logs) and stream the answer back. */
  async forward(req: IncomingMessage, res: ServerResponse, pod: Pod, path: string): Promise<void> {
    await this.proxy(req, res, pod.spec?.nodeName ?? '', pod.metadata.name ?? '', path);
  }

  private async proxy(req: IncomingMessage, res: ServerResponse, nodeName: string, of: string, path: string): Promise<void> {
    const { host, port } = await this.nodeAddress(nodeName, of);
    await new Promise<void>((resolve) => {
      const up = request({ host, port, path, method: req.method, agent: this.agent, headers: { Accept: req.headers.accept ?? '*/*' } }, (ar) => {
        res.writeHead(ar.statusCode ?? 502, {
          'Content-Type': ar.headers['content-type'] ?? 'text/plain',
          'Cache-Control': 'no-cache, private',
          ...(ar.headers['content-length'] ? { 'Content-Length': ar.headers['content-length'] } : { 'Transfer-Encoding': 'chunked' }),
        });
        res.flushHeaders();
        ar.pipe(res);
        ar.on('end', resolve);
        ar.on('error', resolve);
        res.on('close', () => {
          ar.destroy();
          resolve();
        });
      });
      up.on('error', (e) => {
        if (!res.headersSent) {
          const s = errors.unavailable(`cannot reach the agent of node "${nodeName}" at ${host}:${port}: ${e.message}`).toStatus();
          res.writeHead(503, { 'Content-Type': 'application/json' });
          res.end(statusBody(s));
        } else res.destroy();
        resolve();
      });
      req.on('close', () => up.destroy());
      up.end();
    });
  }

  /** Forward an upgrade request: replay the request line and headers to the agent, then splice the sockets. */
  async forwardUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, pod: Pod, path: string): Promise<void> {
    const { host, port } = await this.nodeAddress(pod.spec?.nodeName ?? '', pod.metadata.name ?? '');
    const up = tlsConnect(this.tlsOptions(host, port));
    await new Promise<void>((resolve, reject) => {
      up.once('secureConnect', () => resolve());
      up.once('error', (e) => reject(errors.unavailable(`cannot reach the agent of node "${pod.spec?.nodeName}" at ${host}:${port}: ${e.message}`)));
    });
    // The caller's own credentials never travel on: the agent sees the API server's identity.
    const lines = [`${req.method} ${path} HTTP/1.1`, `Host: ${host}:${port}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const k = req.rawHeaders[i];
      if (/^(host|authorization|content-length)$/i.test(k)) continue;
      lines.push(`${k}: ${req.rawHeaders[i + 1]}`);
    }
    up.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) up.write(head);
    client.pipe(up);
    up.pipe(client);
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', end);
    up.on('error', end);
    client.on('close', end);
    up.on('close', end);
  }
}
