// metrics.k8s.io/v1beta1 built into the API server, as metrics-server serves it for k3s and minikube: every
// resolution (15 s) the agents' /metrics/resource are scraped through the node proxy, CPU rates computed from
// the last two samples by their own timestamps, and NodeMetrics/PodMetrics answered from the latest window.
import { NODES, PODS } from '../api/kinds.js';
import type { ServerResponse } from 'node:http';
import { type ResourceDef, storagePrefix } from '../api/resources.js';
import type { KObject, Node, Pod } from '../api/types.js';
import { errors } from '../api/status.js';
import { parseExposition } from '../util/promtext.js';
import type { Registry } from './registry.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { sendJson } from './http.js';

export const DEFAULT_RESOLUTION_MS = 15_000;

interface Point {
  cpu: number;
  mem: number;
  /** ms since the epoch, the sample's own timestamp. */
  ts: number;
}
interface Series {
  prev?: Point;
  last: Point;
}
/** One node's latest scrape: the node, and its containers by namespace/pod/container. */
interface NodeScrape {
  node?: Series;
  containers: Map<string, Series & { namespace: string; pod: string; container: string; start?: number }>;
}

/** A rate and a window from two samples, or undefined when there are not two or the counter went back. */
function rate(s: Series | undefined): { cores: number; mem: number; ts: number; windowMs: number } | undefined {
  if (!s?.prev) return undefined;
  const dt = s.last.ts - s.prev.ts;
  const dc = s.last.cpu - s.prev.cpu;
  if (dt <= 0 || dc < 0) return undefined;
  return { cores: dc / (dt / 1000), mem: s.last.mem, ts: s.last.ts, windowMs: dt };
}

/** Go's time.Duration.String() for whole milliseconds (metav1.Duration's JSON): "15.003s", "1m0.5s", "500ms". */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = ((ms % 60_000) / 1000).toFixed(3).replace(/\.?0+$/, '');
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

/** CPU in cores as the canonical quantity metrics-server writes (nanocores, reduced: "150m", "1234567n"). */
export function cpuQuantity(cores: number): string {
  const n = Math.round(cores * 1e9);
  if (n === 0) return '0';
  if (n % 1e9 === 0) return String(n / 1e9);
  if (n % 1e6 === 0) return `${n / 1e6}m`;
  if (n % 1e3 === 0) return `${n / 1e3}u`;
  return `${n}n`;
}

/** Bytes as a canonical binary-SI quantity ("2Mi", "12345Ki", "1000"). */
export function memoryQuantity(bytes: number): string {
  let n = Math.round(bytes);
  if (n === 0) return '0';
  const suffixes = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
  let i = 0;
  while (i < suffixes.length - 1 && n % 1024 === 0) {
    n /= 1024;
    i++;
  }
  return `${n}${suffixes[i]}`;
}

const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** Scrapes started in one turn of the event loop. */
const SCRAPE_SLICE = 25;

export interface ResourceMetricsOptions {
  /** How often the agents are scraped (metrics-server's --metric-resolution). */
  resolutionMs?: number;
  /** Fetch an agent's path (the node proxy's fetchNode). */
  fetch(node: string, path: string, timeoutMs: number): Promise<string>;
  log?: (line: string) => void;
}

export class ResourceMetrics {
  private scrapes = new Map<string, NodeScrape>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  readonly resolutionMs: number;

  constructor(
    private reg: Registry,
    private opts: ResourceMetricsOptions,
  ) {
    this.resolutionMs = opts.resolutionMs ?? DEFAULT_RESOLUTION_MS;
  }

  start(): void {
    const tick = () => {
      this.running ??= this.scrapeAll().finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.resolutionMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => {});
  }

  /** One round: every node scraped at once, the requests started SCRAPE_SLICE at a time with the event loop
   *  let go in between (1,000 new TLS connections in one turn held every request for 0.4–0.7 s); a node
   *  that fails is left out until it answers again (metrics-server's way). */
  async scrapeAll(): Promise<void> {
    // The names from the watch cache: a round at 1,000 nodes read and decoded every Node from the store.
    const names = new Set<string>();
    for (const c of this.reg.cache.objectsUnder(storagePrefix(NODES, undefined))) names.add(c.object.metadata.name!);
    for (const name of this.scrapes.keys()) if (!names.has(name)) this.scrapes.delete(name);
    const timeout = Math.max(1000, Math.min(10_000, Math.floor(this.resolutionMs * 0.8)));
    const scrape = async (name: string) => {
      try {
        this.absorb(name, await this.opts.fetch(name, '/metrics/resource', timeout));
      } catch (e) {
        if (this.scrapes.delete(name)) this.opts.log?.(`resource metrics: node ${name} left out: ${e instanceof Error ? e.message : e}`);
      }
    };
    const pending: Promise<void>[] = [];
    let started = 0;
    for (const name of names) {
      if (started > 0 && started % SCRAPE_SLICE === 0) await new Promise(setImmediate);
      pending.push(scrape(name));
      started++;
    }
    await Promise.all(pending);
  }

  /** Takes one node's /metrics/resource text; the previous sample of each series becomes `prev`. */
  absorb(node: string, text: string): void {
    const e = parseExposition(text);
    const old = this.scrapes.get(node);
    const next: NodeScrape = { containers: new Map() };
    const step = (before: Series | undefined, p: Point): Series =>
      before && before.last.ts < p.ts && before.last.cpu <= p.cpu ? { prev: before.last, last: p } : before && before.last.ts === p.ts ? before : { last: p };
    const byKey = new Map<string, { namespace: string; pod: string; container: string; cpu?: number; mem?: number; ts?: number; start?: number }>();
    let nodeCpu: { v: number; ts?: number } | undefined;
    let nodeMem: number | undefined;
    for (const s of e.samples) {
      if (s.name === 'node_cpu_usage_seconds_total') nodeCpu = { v: s.value, ts: s.timestamp };
      else if (s.name === 'node_memory_working_set_bytes') nodeMem = s.value;
      else if (s.name.startsWith('container_')) {
        const { namespace, pod, container } = s.labels;
        if (!namespace || !pod || !container) continue;
        const k = `${namespace}/${pod}/${container}`;
        const c = byKey.get(k) ?? { namespace, pod, container };
        if (s.name === 'container_cpu_usage_seconds_total') {
          c.cpu = s.value;
          c.ts = s.timestamp;
        } else if (s.name === 'container_memory_working_set_bytes') c.mem = s.value;
        else if (s.name === 'container_start_time_seconds') c.start = s.value;
        byKey.set(k, c);
      }
    }
    if (nodeCpu?.ts !== undefined && nodeMem !== undefined && Number.isFinite(nodeCpu.v) && Number.isFinite(nodeMem)) {
      next.node = step(old?.node, { cpu: nodeCpu.v, mem: nodeMem, ts: nodeCpu.ts });
    }
    for (const [k, c] of byKey) {
      if (c.cpu === undefined || c.mem === undefined || c.ts === undefined || !Number.isFinite(c.cpu) || !Number.isFinite(c.mem)) continue;
      const before = old?.containers.get(k);
      // A restarted container is a new counter: its first sample starts again.
      const same = before && before.start === c.start ? before : undefined;
      next.containers.set(k, {
        ...step(same, { cpu: c.cpu, mem: c.mem, ts: c.ts }),
        namespace: c.namespace,
        pod: c.pod,
        container: c.container,
        start: c.start,
      });
    }
    this.scrapes.set(node, next);
  }

  private nodeMetrics(node: Node): KObject | undefined {
    const r = rate(this.scrapes.get(node.metadata.name!)?.node);
    if (!r) return undefined;
    return {
      kind: 'NodeMetrics',
      apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: { name: node.metadata.name, creationTimestamp: iso(Date.now()), ...(node.metadata.labels ? { labels: node.metadata.labels } : {}) },
      timestamp: iso(r.ts),
      window: goDuration(r.windowMs),
      usage: { cpu: cpuQuantity(r.cores), memory: memoryQuantity(r.mem) },
    };
  }

  /** The pod's containers with a rate, wherever they run; undefined when none has two samples yet. */
  private podMetrics(pod: Pod): KObject | undefined {
    const ns = pod.metadata.namespace!;
    const name = pod.metadata.name!;
    const node = pod.spec?.nodeName as string | undefined;
    const scrape = node ? this.scrapes.get(node) : undefined;
    if (!scrape) return undefined;
    const containers: { name: string; usage: { cpu: string; memory: string } }[] = [];
    let ts = 0;
    let windowMs = 0;
    for (const c of scrape.containers.values()) {
      if (c.namespace !== ns || c.pod !== name) continue;
      const r = rate(c);
      if (!r) continue;
      containers.push({ name: c.container, usage: { cpu: cpuQuantity(r.cores), memory: memoryQuantity(r.mem) } });
      if (r.ts > ts) [ts, windowMs] = [r.ts, r.windowMs];
    }
    if (!containers.length) return undefined;
    containers.sort((a, b) => a.name.localeCompare(b.name));
    return {
      kind: 'PodMetrics',
      apiVersion: 'metrics.k8s.io/v1beta1',
      metadata: { name, namespace: ns, creationTimestamp: iso(Date.now()), ...(pod.metadata.labels ? { labels: pod.metadata.labels } : {}) },
      timestamp: iso(ts),
      window: goDuration(windowMs),
      containers,
    };
  }

  /** GET on metrics.k8s.io/v1beta1 nodes or pods: a list (labelSelector, fieldSelector on metadata.name/namespace) or one. */
  async serve(
    res: ServerResponse,
    method: string,
    r: ResourceDef,
    ns: string | undefined,
    name: string | undefined,
    sub: string | undefined,
    q: URLSearchParams,
  ): Promise<void> {
    if (sub !== undefined) throw errors.pathNotFound();
    if (method !== 'GET') throw errors.methodNotAllowed(method, `${r.plural}.${r.group}`);
    if (q.get('watch') === 'true' || q.get('watch') === '1') throw errors.methodNotAllowed('WATCH', `${r.plural}.${r.group}`);
    if (r.kind === 'PodMetrics') return this.serveOf(res, r, PODS, 'podmetrics', ns, name, q, (o) => this.podMetrics(o));
    return this.serveOf(res, r, NODES, 'nodemetrics', undefined, name, q, (o) => this.nodeMetrics(o));
  }

  /** One metrics kind, made from the pods or nodes it reports on. */
  private async serveOf<T extends KObject>(
    res: ServerResponse,
    r: ResourceDef,
    source: ResourceDef<T>,
    what: string,
    ns: string | undefined,
    name: string | undefined,
    q: URLSearchParams,
    build: (o: T) => KObject | undefined,
  ): Promise<void> {
    const pods = r.kind === 'PodMetrics';
    if (name !== undefined) {
      const o = await this.reg.tryGet(source, ns, name);
      const m = o && build(o);
      if (!m) throw errors.notFound(what, r.group, name);
      return sendJson(res, 200, m);
    }
    const labels = parseLabelSelector(q.get('labelSelector') ?? '');
    const fields = parseFieldSelector(q.get('fieldSelector') ?? '');
    const { items } = await this.reg.list(source, ns, { labelSelector: labels });
    const out: KObject[] = [];
    for (const o of items) {
      if (!fields.matches({ 'metadata.name': o.metadata.name!, ...(pods ? { 'metadata.namespace': o.metadata.namespace! } : {}) })) continue;
      const m = build(o);
      if (m) out.push(m);
    }
    sendJson(res, 200, { kind: `${r.kind}List`, apiVersion: 'metrics.k8s.io/v1beta1', metadata: {}, items: out });
  }
}
