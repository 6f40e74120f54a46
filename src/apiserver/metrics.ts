// The API server's Prometheus metrics under upstream's names (apiserver_request_total,
// apiserver_request_duration_seconds, in-flight, watchers, long-running requests, etcd_request_duration_seconds),
// kept in one prom-client Registry per server so two servers in one process never share a series.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KeyValue, ListOptions, ListResult, Store, WatchHandlers, Watcher } from '../store/types.js';
import { RESOURCES } from '../api/resources.js';
import type { Attributes } from './authz/attributes.js';

/** Upstream's apiserver_request_duration_seconds buckets (k8s.io/apiserver/pkg/endpoints/metrics). */
export const REQUEST_DURATION_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];
/** Upstream's etcd_request_duration_seconds buckets (k8s.io/apiserver/pkg/storage/etcd3/metrics). */
export const STORE_DURATION_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];

const REQUEST_LABELS = ['verb', 'dry_run', 'group', 'version', 'resource', 'subresource', 'scope', 'component', 'code'] as const;
const LONGRUNNING_LABELS = ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'component'] as const;
const KNOWN_VERBS = new Set(['GET', 'LIST', 'WATCH', 'POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION', 'CONNECT', 'HEAD', 'OPTIONS']);
/** Resources by group/version/plural: only these become label values, so a hostile path cannot grow the series. */
const KNOWN_RESOURCES = new Set(RESOURCES.map((r) => `${r.group}/${r.version}/${r.plural}`));
const KNOWN_SUBRESOURCES = new Set([
  'status',
  'scale',
  'binding',
  'log',
  'exec',
  'attach',
  'portforward',
  'proxy',
  'eviction',
  'finalize',
  'token',
  'ephemeralcontainers',
]);

/** The labels of one request, from its authorization attributes (upstream's RequestInfo). */
export interface RequestLabels {
  verb: string;
  dry_run: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  scope: string;
  component: string;
}

/** Upstream's reported verb (cleanVerb): LIST and WATCH for collection reads, APPLY for server-side apply. */
export function requestLabels(a: Attributes, method: string, q: URLSearchParams, contentType: string | undefined): RequestLabels {
  let verb = method.toUpperCase();
  if (a.resourceRequest) {
    if (a.verb === 'list') verb = 'LIST';
    else if (a.verb === 'watch') verb = 'WATCH';
    else if (a.verb === 'deletecollection') verb = 'DELETECOLLECTION';
    else if (a.verb === 'proxy' || ['exec', 'attach', 'portforward', 'proxy'].includes(a.subresource)) verb = 'CONNECT';
    else if (verb === 'PATCH' && contentType?.startsWith('application/apply-patch')) verb = 'APPLY';
  }
  if (!KNOWN_VERBS.has(verb)) verb = 'other';
  const known = a.resourceRequest && KNOWN_RESOURCES.has(`${a.apiGroup}/${a.apiVersion}/${a.resource}`);
  return {
    verb,
    dry_run: q.has('dryRun') ? 'All' : '',
    group: known ? a.apiGroup : '',
    version: known ? a.apiVersion : '',
    resource: known ? a.resource : '',
    subresource: known && KNOWN_SUBRESOURCES.has(a.subresource) ? a.subresource : '',
    scope: !known ? '' : a.name ? 'resource' : a.namespace ? 'namespace' : 'cluster',
    component: 'apiserver',
  };
}

export class ApiServerMetrics {
  readonly requests: Counter<(typeof REQUEST_LABELS)[number]>;
  readonly duration: Histogram<Exclude<(typeof REQUEST_LABELS)[number], 'code'>>;
  readonly inflight: Gauge<'request_kind'>;
  readonly longrunning: Gauge<(typeof LONGRUNNING_LABELS)[number]>;
  readonly watchers: Gauge<'group' | 'version' | 'kind'>;
  readonly terminatedWatchers: Counter<'resource'>;
  readonly storeDuration: Histogram<'operation' | 'type'>;

  /** `registry`: the process's registry (the server role shares it with its controllers); default a new one. */
  constructor(
    readonly registry: Registry = new Registry(),
    opts: { processMetrics?: boolean } = {},
  ) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'apiserver_request_total',
      registers,
      help: 'Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.',
      labelNames: REQUEST_LABELS,
    });
    this.duration = new Histogram({
      name: 'apiserver_request_duration_seconds',
      registers,
      buckets: REQUEST_DURATION_BUCKETS,
      help: 'Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.',
      labelNames: REQUEST_LABELS.filter((l) => l !== 'code') as Exclude<(typeof REQUEST_LABELS)[number], 'code'>[],
    });
    this.inflight = new Gauge({
      name: 'apiserver_current_inflight_requests',
      registers,
      labelNames: ['request_kind'],
      help: 'Maximal number of currently used inflight request limit of this apiserver per request kind in last second.',
    });
    this.inflight.set({ request_kind: 'readOnly' }, 0);
    this.inflight.set({ request_kind: 'mutating' }, 0);
    this.longrunning = new Gauge({
      name: 'apiserver_longrunning_requests',
      registers,
      labelNames: LONGRUNNING_LABELS,
      help: 'Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way.',
    });
    this.watchers = new Gauge({
      name: 'apiserver_registered_watchers',
      registers,
      labelNames: ['group', 'version', 'kind'],
      help: 'Number of currently registered watchers for a given resources',
    });
    this.terminatedWatchers = new Counter({
      name: 'apiserver_terminated_watchers_total',
      registers,
      labelNames: ['resource'],
      help: 'Counter of watchers closed due to unresponsiveness broken by resource type.',
    });
    this.storeDuration = new Histogram({
      name: 'etcd_request_duration_seconds',
      registers,
      buckets: STORE_DURATION_BUCKETS,
      labelNames: ['operation', 'type'],
      help: 'Datastore request latency in seconds for each operation and object type (k8ts: whichever backend, SQLite, etcd or memory).',
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });
  }

  /** Children by label set: prom-client hashes (sorts) the labels on every call, a request pays it once per set. */
  private children = new Map<string, { timer: () => () => void; codes: Map<string, { inc(): void }>; labels: RequestLabels }>();

  /** Starts timing a request; the returned function records its duration and its count under `code`. */
  begin(l: RequestLabels): (code: number) => void {
    const key = `${l.verb}|${l.dry_run}|${l.group}|${l.version}|${l.resource}|${l.subresource}|${l.scope}|${l.component}`;
    let c = this.children.get(key);
    if (!c) {
      const h = this.duration.labels(l);
      c = { timer: () => h.startTimer(), codes: new Map(), labels: l };
      this.children.set(key, c);
    }
    const end = c.timer();
    const entry = c;
    return (code) => {
      end();
      const k = String(code);
      let counter = entry.codes.get(k);
      if (!counter) {
        counter = this.requests.labels({ ...entry.labels, code: k });
        entry.codes.set(k, counter);
      }
      counter.inc();
    };
  }

  /** The text exposition and its content type. */
  async expose(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

/** The resource type of a registry key (/registry/<group|core>/<plural>/…), upstream's `type` label (plural.group). */
function keyType(key: string): string {
  const p = key.split('/');
  if (p[1] !== 'registry' || !p[2] || !p[3]) return '';
  const t = p[2] === 'core' ? p[3] : `${p[3]}.${p[2]}`;
  return KNOWN_TYPES.has(t) ? t : 'other';
}
const KNOWN_TYPES = new Set(RESOURCES.map((r) => (r.group ? `${r.plural}.${r.group}` : r.plural)));

/** The store with every call timed into etcd_request_duration_seconds{operation,type}. */
export function instrumentStore(store: Store, h: Histogram<'operation' | 'type'>): Store {
  const timed = async <T>(operation: string, key: string, f: () => Promise<T>): Promise<T> => {
    const end = h.startTimer({ operation, type: keyType(key) });
    try {
      return await f();
    } finally {
      end();
    }
  };
  const s: Store = {
    get backend() {
      return store.backend;
    },
    get: (key: string): Promise<KeyValue | undefined> => timed('get', key, () => store.get(key)),
    list: (prefix: string, opts?: ListOptions): Promise<ListResult> => timed('list', prefix, () => store.list(prefix, opts)),
    count: (prefix: string): Promise<number> => timed('count', prefix, () => store.count(prefix)),
    create: (key: string, value: string): Promise<KeyValue> => timed('create', key, () => store.create(key, value)),
    update: (key: string, value: string, rev: number): Promise<KeyValue> => timed('update', key, () => store.update(key, value, rev)),
    delete: (key: string, rev?: number) => timed('delete', key, () => store.delete(key, rev)),
    watch: (prefix: string, from: number, handlers: WatchHandlers): Promise<Watcher> => store.watch(prefix, from, handlers),
    currentRevision: () => store.currentRevision(),
    compact: (rev: number) => timed('compact', '', () => store.compact(rev)),
    close: () => store.close(),
  };
  return s;
}
