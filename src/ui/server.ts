// The `k8ts ui` server: one set of informers (nodes, pods, services, endpoint slices, network policies,
// namespaces) with the kubeconfig's credentials, fanned out to every open page as server-sent events, and
// the page's questions (a node's kernel facts, a trace) forwarded through the API server's node proxy. It
// listens on loopback only, answers only GET, and only for a Host it serves (a page on another origin,
// or a DNS name rebound to 127.0.0.1, gets nothing); it never writes to the cluster.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { distFile } from '../util/layout.js';
import { NODES } from '../api/kinds.js';
import type { NodeFacts } from '../agent/facts.js';
import { SharedInformerFactory } from '../client/factory.js';
import { type RestConfig, RestClient } from '../client/rest.js';
import type { Registration } from '../client/informer.js';
import { trace } from '../cli/netpol.js';
import { agentPort, type Kind, type Slim, UI_KINDS } from './model.js';
import { pageHtml, streamJs } from './page.js';

/** The page's script: built by scripts/build-ui.mjs (esbuild) next to dist/src. */
export const BUNDLE = distFile('ui/app.js');

const DNS_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const POD_KEY = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** What the trace accepts from the page: a pod, and a pod or svc/ns/name, with :PORT. */
const TRACE_SRC = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const TRACE_DST = /^(svc\/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?$/;

export interface UiOptions {
  config: RestConfig;
  /** 0 picks a free port. */
  port?: number;
  log?: (line: string) => void;
}

interface NodeFactsSummary {
  node: string;
  ok: boolean;
  error?: string;
  bridge?: { name: string; mac?: string; addresses: string[] };
  routes?: { dst: string; gateway?: string; dev?: string; text: string }[];
  vxlan?: boolean;
}

export class UiServer {
  private client: RestClient;
  private informers: SharedInformerFactory;
  private regs: Registration[] = [];
  private server?: Server;
  private clients = new Set<ServerResponse>();
  private facts = new Map<string, NodeFactsSummary>();
  private factsTimer?: NodeJS.Timeout;
  private factsTry = new Map<string, number>();
  private keepalive?: NodeJS.Timeout;
  private tracing = false;
  private bundle = '';
  private log: (line: string) => void;

  constructor(private o: UiOptions) {
    this.client = new RestClient({ ...o.config, userAgent: 'k8ts-ui' });
    this.log = o.log ?? ((line) => process.stderr.write(`k8ts ui: ${line}\n`));
    this.informers = new SharedInformerFactory(this.client, this.log);
  }

  /** Starts the informers and the server; resolves with the page's URL once the caches are full. */
  async start(): Promise<string> {
    try {
      this.bundle = readFileSync(BUNDLE, 'utf8');
    } catch {
      throw new Error(`the page's script ${BUNDLE} is missing: run 'make build' (or 'npm run build') first`);
    }
    for (const k of UI_KINDS) this.regs.push(k.watch(this.informers, (op, s, old) => this.changed(op, k.kind, s, old)));
    this.informers.start();
    await this.informers.waitForCacheSync();
    this.refreshFacts();
    const server = createServer(
      (req, res) => void this.serve(req, res).catch((e) => this.fail(res, 500, 'InternalError', e instanceof Error ? e.message : String(e))),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port ?? 0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.keepalive = setInterval(() => {
      for (const c of this.clients) c.write(': keepalive\n\n');
    }, 15_000);
    return this.url;
  }

  get port(): number {
    return (this.server?.address() as { port: number } | null)?.port ?? 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  async close(): Promise<void> {
    clearInterval(this.keepalive);
    clearTimeout(this.factsTimer);
    for (const r of this.regs) r.remove();
    this.informers.stop();
    for (const c of this.clients) c.end();
    this.clients.clear();
    this.server?.closeAllConnections?.();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.client.close();
  }

  private snapshot(): Slim[] {
    const out: Slim[] = [];
    for (const k of UI_KINDS) out.push(...k.list(this.informers));
    return out;
  }

  private send(msg: unknown): void {
    const line = `data: ${JSON.stringify(msg)}\n\n`;
    for (const c of this.clients) c.write(line);
  }

  private changed(op: 'upsert' | 'delete', kind: Kind, s: Slim, old?: Slim): void {
    const at = Date.now();
    // A pod's status heartbeat that changes nothing drawn is not worth a message.
    if (old && op === 'upsert' && JSON.stringify(old) === JSON.stringify(s)) return;
    this.send(op === 'upsert' ? { op, kind, key: s.key, obj: s, at } : { op, kind, key: s.key, at });
    if (kind === 'Node') {
      this.factsTry.delete(s.key);
      this.refreshFacts();
    }
  }

  /** Each node's bridge and routes, read from its kernel; asked again whenever the nodes change. */
  private refreshFacts(delay = 300): void {
    clearTimeout(this.factsTimer);
    this.factsTimer = setTimeout(() => void this.fetchFacts(), delay);
  }

  private async fetchFacts(): Promise<void> {
    const nodes = this.informers.informerFor(NODES).lister.list();
    const names = new Set(nodes.map((n) => n.metadata.name!));
    for (const k of [...this.facts.keys()]) if (!names.has(k)) this.facts.delete(k);
    let again = false;
    await Promise.all(
      nodes.map(async (n) => {
        const name = n.metadata.name!;
        if (this.facts.get(name)?.ok) return;
        if (!agentPort(n)) {
          // No agent has registered this node (a Node written by hand, a hollow one): nothing to ask, so no
          // request through the API server's proxy to an address no one serves, and no retry. The node's
          // slim carries the port, so an agent registering later asks again.
          if (this.facts.has(name)) return;
          const f = { node: name, ok: false, error: 'no agent has registered this node: its status publishes no kubelet endpoint' };
          this.facts.set(name, f);
          return this.send({ op: 'facts', key: name, obj: f, at: Date.now() });
        }
        const tries = this.factsTry.get(name) ?? 0;
        if (tries >= 4) return;
        this.factsTry.set(name, tries + 1);
        let f: NodeFactsSummary;
        try {
          // An agent of another version may leave fields out; a shape this cannot read fails the try.
          const r = await this.client.getPath<Partial<NodeFacts>>(`/api/v1/nodes/${encodeURIComponent(name)}/proxy/k8ts/facts`);
          f = {
            node: name,
            ok: true,
            bridge: r.bridge,
            routes: (r.routes ?? []).filter((x) => x.k8ts),
            vxlan: (r.links ?? []).some((l) => l.name === 'k8ts.vxlan'),
          };
        } catch (e) {
          // A node without an agent (or an older one) is drawn from its Node object alone.
          f = { node: name, ok: false, error: e instanceof Error ? e.message : String(e) };
          again = true;
        }
        this.facts.set(name, f);
        this.send({ op: 'facts', key: name, obj: f, at: Date.now() });
      }),
    );
    if (again) this.refreshFacts(2000 * 2 ** Math.min(3, Math.max(...[...this.factsTry.values()], 0)));
  }

  private fail(res: ServerResponse, code: number, reason: string, message: string): void {
    if (res.headersSent) return void res.destroy();
    const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
    res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(body);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${this.port}` && host !== `localhost:${this.port}`)
      return this.fail(res, 403, 'Forbidden', `Host ${JSON.stringify(host)} is not served: open ${this.url}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.fail(res, 405, 'MethodNotAllowed', 'the topology page is read-only: GET only');
    const url = new URL(req.url ?? '/', this.url);
    const security = {
      'Content-Security-Policy':
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    };
    switch (url.pathname) {
      case '/': {
        res.writeHead(200, { ...security, 'Content-Type': 'text/html; charset=utf-8' });
        return void res.end(pageHtml);
      }
      case '/stream.js': {
        res.writeHead(200, { ...security, 'Content-Type': 'text/javascript; charset=utf-8' });
        return void res.end(streamJs);
      }
      case '/app.js': {
        res.writeHead(200, { ...security, 'Content-Type': 'text/javascript; charset=utf-8' });
        return void res.end(this.bundle);
      }
      case '/favicon.ico':
        res.writeHead(204, security);
        return void res.end();
      case '/events': {
        res.writeHead(200, { ...security, 'Content-Type': 'text/event-stream', Connection: 'keep-alive' });
        res.write(`retry: 1000\ndata: ${JSON.stringify({ op: 'snapshot', objects: this.snapshot(), facts: [...this.facts.values()], at: Date.now() })}\n\n`);
        this.clients.add(res);
        req.on('close', () => this.clients.delete(res));
        return;
      }
      case '/api/facts': {
        const node = url.searchParams.get('node') ?? '';
        const pod = url.searchParams.get('pod');
        if (!DNS_NAME.test(node)) return this.fail(res, 400, 'BadRequest', 'node: a node name');
        if (pod !== null && !POD_KEY.test(pod)) return this.fail(res, 400, 'BadRequest', 'pod: namespace/name');
        return this.forward(res, () =>
          this.client.getPath(`/api/v1/nodes/${encodeURIComponent(node)}/proxy/k8ts/facts${pod !== null ? `?pod=${encodeURIComponent(pod)}` : ''}`),
        );
      }
      case '/api/trace': {
        const src = url.searchParams.get('src') ?? '';
        const dst = url.searchParams.get('dst') ?? '';
        const protocol = url.searchParams.get('protocol') ?? 'tcp';
        if (!TRACE_SRC.test(src)) return this.fail(res, 400, 'BadRequest', 'src: a pod as namespace/name');
        if (!TRACE_DST.test(dst)) return this.fail(res, 400, 'BadRequest', 'dst: a pod as namespace/name or a Service as svc/namespace/name, with :PORT');
        if (!['tcp', 'udp', 'icmp'].includes(protocol)) return this.fail(res, 400, 'BadRequest', 'protocol: tcp, udp or icmp');
        if (this.tracing) return this.fail(res, 429, 'TooManyRequests', 'a trace is running: one at a time');
        this.tracing = true;
        try {
          return await this.forward(res, () => trace(this.client, src, dst, protocol as 'tcp' | 'udp' | 'icmp'));
        } finally {
          this.tracing = false;
        }
      }
      default:
        return this.fail(res, 404, 'NotFound', `no such page: ${url.pathname}`);
    }
  }

  private async forward(res: ServerResponse, f: () => Promise<unknown>): Promise<void> {
    try {
      const body = JSON.stringify(await f());
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(body);
    } catch (e) {
      const err = e as { code?: unknown; reason?: unknown; message?: string };
      const code = typeof err.code === 'number' && err.code >= 400 && err.code < 600 ? err.code : err.code === 'Usage' ? 400 : 502;
      this.fail(res, code, typeof err.reason === 'string' ? err.reason : code === 400 ? 'BadRequest' : 'BadGateway', err.message ?? String(e));
    }
  }
}
