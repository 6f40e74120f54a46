// The k8ts API server: HTTPS, bearer tokens, discovery, OpenAPI, and the REST verbs of every served
// resource on top of the registry. The only door to the datastore.
import { createServer, type Server } from 'node:https';
import { constants as cryptoConstants } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import YAML from 'yaml';
import { type ResourceDef, METRICS_GROUP, RESOURCES, REVIEW_GROUPS, groupVersion, storagePrefix } from '../api/resources.js';
import { NODES, PODS, SECRETS, SERVICEACCOUNTS } from '../api/kinds.js';
import type { ResourceMetrics } from './resourcemetrics.js';
import { queryBool } from '../api/queryparams.js';
import type { FieldError, KObject, Pod } from '../api/types.js';
import type { Store } from '../store/types.js';
import type { WriteSubresource } from '../client/types.js';
import { ApiError, errors, statusBody, successStatus } from '../api/status.js';
import { MAX_BODY_BYTES, checkDepth, isTimedOut, markTimedOut, mediaType, readBody, sendError, sendJson, setBodyLimit, setPretty, isPretty } from './http.js';
import { parseGoDuration } from '../util/time.js';
import { aggregated, legacyApi, legacyGroup, legacyGroups, negotiateDiscovery, resourceList, versionInfo } from './discovery.js';
import { openapiV3, openapiV2Protobuf, OPENAPI_V2_CONTENT_TYPE } from './openapi.js';
import { type DeleteOptions, type ListQuery, type WriteHooks, Registry, checkTypeMeta, fieldsOf } from './registry.js';
import { negotiateTable, partialMetadata, tableHead, tableRow, toTable } from './tables.js';
import {
  type CachedList,
  ListSnapshots,
  cacheReady,
  continueCached,
  getBody,
  getCached,
  listCached,
  listSource,
  streamList,
  typedObject,
} from './cachedlist.js';
import { WatchCache, type CachedEvent, itemJson } from './watchcache.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { serverSideApply } from './patch/apply.js';
import { PatchError } from './patch/errors.js';
import { decodeK8sProtobuf } from './protobuf/decode.js';
import { SelectorError } from './selectors.js';
import { handlePodSubresource, handleScale, handleBinding, podForStream } from './subresources.js';
import { handleEviction } from './eviction.js';
import { type NodeProxy, agentPath } from './nodeproxy.js';
import type { Duplex } from 'node:stream';
import { decodeStrictly, fieldValidationMode } from './typecheck.js';
import type { UserInfo } from './authz/attributes.js';
import { authorizeRequest } from './authz/filter.js';
import { requestAttributes } from './authz/attributes.js';
import { ApiServerMetrics, instrumentStore, requestLabels } from './metrics.js';
import type { Registry as PromRegistry } from 'prom-client';
import { requestUser } from '../api/authorization.js';
import { ALWAYS_ALLOW, type Authorizer, type RbacAuthorizer } from './authz/rbac.js';
import { review } from './authz/reviews.js';

export type User = UserInfo;
import { BootstrapTokenAuthenticator } from './bootstraptoken.js';
import { ANONYMOUS, StaticTokens, type TokenAuthenticator, bearerToken, certificateUser } from './authn.js';
import { type BoundKinds, type ObjectGetter, ServiceAccountAuthenticator } from './serviceaccount/authenticator.js';
import { admitPod } from './serviceaccount/admission.js';
import { createToken } from './serviceaccount/tokenrequest.js';
import { JWKS_PATH, OIDC_CONFIG_PATH, jwks, openidConfiguration } from './serviceaccount/oidc.js';
import type { SigningKey } from './serviceaccount/signer.js';
import { TokenIssuer } from './serviceaccount/tokens.js';
import { type ServerLimits, resolveLimits } from './limits.js';
import { type Admission, FlowControl, type RequestFacts, classify } from './flowcontrol.js';

/** How long, and for bodies up to what size, the rest of an oversized body is read after its 413. */
const LINGER_MS = 5_000;
const LINGER_MAX_BYTES = 64 * 1024 * 1024;

/** Service-account tokens: the key they are signed with and the issuer they name. */
export interface ServiceAccountTokenOptions {
  key: SigningKey;
  /** The `iss` of every token and the only API audience (default https://kubernetes.default.svc.cluster.local). */
  issuer?: string;
  /** The jwks_uri the discovery document names (default: <advertise URL>/openid/v1/jwks). */
  jwksUri?: string;
  /** The ServiceAccount admission on pods (on unless false: tests of the bare API server turn it off). */
  admission?: boolean;
}

export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ApiServerOptions {
  store: Store;
  cert: string;
  key: string;
  /** PEM CA whose client certificates authenticate (CN = user, O = groups); requested, never required. */
  clientCA?: string;
  /** Where to serve; every address shares one port (0: the first picks a free one for all). */
  listen: { host: string; port: number }[];
  /** Bearer token → user. */
  tokens: Map<string, User>;
  /** Host:port clients should use, for legacy discovery. */
  advertise?: string;
  /** Write hooks by resource plural, handed to the registry (the services' IP and port allocators). */
  hooks?: ReadonlyMap<string, WriteHooks>;
  /** Events the watch cache keeps for watches to resume from (default 100,000); older resourceVersions get 410. */
  watchCacheEvents?: number;
  /** Bound service-account tokens: TokenRequest, their authentication, issuer discovery, the pod admission. */
  serviceAccounts?: ServiceAccountTokenOptions;
  /** The process's metrics registry, shared with what else runs in the process (default: the server's own). */
  metricsRegistry?: PromRegistry;
  /** Limits under load and abuse (defaults: DEFAULT_LIMITS, upstream's where it has the knob). */
  limits?: Partial<ServerLimits>;
  /** kube-apiserver's --anonymous-auth (default true): a request offering no credential at all is
   *  system:anonymous in system:unauthenticated and is authorized like any other. Off while no authorizer
   *  is set, as upstream turns it off under AlwaysAllow. */
  anonymousAuth?: boolean;
}

interface Target {
  r: ResourceDef;
  ns?: string;
  name?: string;
  sub?: string;
  /** The namespace segment was in the path. */
  nsInPath: boolean;
}

const PATCH_TYPES: Record<string, 'json' | 'merge' | 'strategic' | undefined> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
};

const HEALTH = new Set(['/healthz', '/livez', '/readyz']);
/** The service-account issuer's discovery documents (who may read them is RBAC's: by default every
 *  service account, through system:service-account-issuer-discovery). */
const OIDC_PATHS = new Set([OIDC_CONFIG_PATH, JWKS_PATH]);
const BOOKMARK_INTERVAL_MS = 30_000;

/** The server's flow control: the two in-flight limits are its seats (upstream sums them when Priority and
 *  Fairness is on; both 0: no limit); a request waits a quarter of the request timeout at most (15 s by
 *  default, upstream's wait limit), or 15 s when requests have no timeout. */
function flowControlOf(limits: ServerLimits, registry: ApiServerMetrics['registry']): FlowControl {
  const seats = limits.maxRequestsInflight + limits.maxMutatingRequestsInflight;
  return new FlowControl({ seats, waitLimitMs: limits.requestTimeoutMs > 0 ? limits.requestTimeoutMs / 4 : 15_000, registry });
}

export class ApiServer {
  readonly registry: Registry;
  /** Forwards pod streams to the agents; set by the server role once it knows the node token. */
  nodeProxy?: NodeProxy;
  /** Answers metrics.k8s.io from the agents' resource metrics; set by the server role with the node proxy. */
  resourceMetrics?: ResourceMetrics;
  /** Authorizes every request once set (the server role sets it before serving users); without it
   *  authorization is off (unit tests of the API machinery, the benchmark's anchor). */
  rbac?: RbacAuthorizer;
  /** What every request is authorized by once set (Node then RBAC); default: rbac alone. */
  authorizer?: Authorizer;
  private servers: Server[] = [];
  private sockets = new Set<Socket>();
  /** The rest of each paginated list this server began, so its next pages come from the same cache snapshot. */
  private listSnapshots = new ListSnapshots();
  /** Open watch responses (their unsent bytes are the server's watch buffers). */
  private watches = new Set<ServerResponse>();
  /** Seats and queues of the requests that are not long-running (API Priority and Fairness). */
  readonly flowControl: FlowControl;
  readonly limits: ServerLimits;
  private staticTokens = new StaticTokens();
  /** Set when the server signs service-account tokens. */
  readonly issuer?: TokenIssuer;
  readonly serviceAccountAuthenticator?: ServiceAccountAuthenticator;
  /** Bootstrap tokens (kube-system Secrets of type bootstrap.kubernetes.io/token). */
  readonly bootstrapTokens: BootstrapTokenAuthenticator;
  /** The objects token checks read (the registry: always current, so a deleted pod's token fails at once). */
  readonly objects: ObjectGetter;

  private constructor(
    private opts: ApiServerOptions,
    readonly cache: WatchCache,
    readonly metrics: ApiServerMetrics,
    store: Store,
  ) {
    this.limits = resolveLimits(opts.limits);
    this.flowControl = flowControlOf(this.limits, metrics.registry);
    this.registry = new Registry(store, cache, opts.hooks);
    for (const [t, user] of opts.tokens) this.addToken(t, user);
    const reg = this.registry;
    const defs: { [K in keyof BoundKinds]: ResourceDef<BoundKinds[K]> } = { ServiceAccount: SERVICEACCOUNTS, Pod: PODS, Secret: SECRETS, Node: NODES };
    this.objects = {
      get(kind, ns, name) {
        const r = defs[kind];
        return reg.tryGet(r, r.namespaced ? ns : undefined, name);
      },
    };
    this.bootstrapTokens = new BootstrapTokenAuthenticator({ get: (kind, ns, name) => this.objects.get(kind, ns, name) });
    const sa = opts.serviceAccounts;
    if (sa) {
      this.issuer = new TokenIssuer(sa.key, sa.issuer ?? DEFAULT_ISSUER);
      this.serviceAccountAuthenticator = new ServiceAccountAuthenticator(this.issuer, this.objects);
      if (sa.admission !== false) {
        // The account as upstream's plugin reads it: from the cache, live on a miss (only read, never changed).
        this.registry.addAdmission('pods', (pod) => admitPod(pod as Pod, (ns, name) => reg.cachedOrLive(SERVICEACCOUNTS, ns, name)));
      }
    }
  }

  static async start(opts: ApiServerOptions): Promise<ApiServer> {
    const metrics = new ApiServerMetrics(opts.metricsRegistry);
    const store = instrumentStore(opts.store, metrics.storeDuration);
    const limits = resolveLimits(opts.limits);
    const cache = await WatchCache.start(store, undefined, opts.watchCacheEvents, limits.watchCacheBytes);
    const s = new ApiServer(opts, cache, metrics, store);
    let port = opts.listen[0]?.port ?? 0;
    try {
      for (const l of opts.listen) {
        // A client certificate is asked for but not required (tokens still work); one that does not chain
        // to the client CA is refused by authentication with a 401, not by the handshake, as kube-apiserver does.
        // No renegotiation (Go's TLS server, kube-apiserver's, has none): a connection's client certificate is
        // then fixed at the handshake, and authn reads it once per connection, not once per request.
        const tlsOpts = opts.clientCA
          ? { ca: opts.clientCA, requestCert: true, rejectUnauthorized: false, secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION }
          : {};
        // The handshake and the headers get the header timeout (Go's ReadHeaderTimeout covers both); the body
        // of a non-watch request the request timeout (armRequestTimeout); idle keep-alive connections close.
        const server = createServer(
          {
            cert: opts.cert,
            key: opts.key,
            ...tlsOpts,
            handshakeTimeout: limits.headerTimeoutMs || undefined,
            connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(limits.headerTimeoutMs / 4))),
          },
          (req, res) => void s.handle(req, res),
        );
        server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void s.handleUpgrade(req, socket, head));
        server.keepAliveTimeout = limits.idleTimeoutMs;
        server.headersTimeout = limits.headerTimeoutMs;
        server.requestTimeout = 0;
        // Beyond the cap a new connection is closed at once; every address shares it.
        if (limits.maxConnections > 0) server.maxConnections = Math.max(1, Math.floor(limits.maxConnections / opts.listen.length));
        server.on('secureConnection', (sock: Socket) => {
          sock.setNoDelay(true);
          s.sockets.add(sock);
          sock.on('close', () => s.sockets.delete(sock));
        });
        s.servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, l.host, () => resolve());
        });
        port = (server.address() as AddressInfo).port;
      }
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  get port(): number {
    return (this.servers[0].address() as AddressInfo).port;
  }

  /** The URL of the first listen address (loopback when it listens on every address). */
  get url(): string {
    const host = this.opts.listen[0].host;
    const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    return `https://${h.includes(':') ? `[${h}]` : h}:${this.port}`;
  }

  /** Stop accepting, end open watches and connections. */
  async close(): Promise<void> {
    this.cache.close();
    this.nodeProxy?.close();
    const closed = Promise.all(this.servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
    // close() waits for every connection to end; a client with a request in flight would hold it open.
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Bytes written to open watches and not yet taken by their clients: what slow watchers cost this process. */
  watchBufferedBytes(): { watches: number; bytes: number } {
    let bytes = 0;
    for (const res of this.watches) bytes += res.writableLength;
    return { watches: this.watches.size, bytes };
  }

  addToken(token: string, user: User): void {
    this.staticTokens.add(token, user);
  }

  /** Who a request is, or undefined for a 401: the credential it offers (authenticate), else, when it offers
   *  none at all and anonymous requests are on, system:anonymous. A credential offered and refused (a bad or
   *  expired token, a certificate from another CA) is never anonymous, as upstream's anonymous authenticator
   *  runs only after every other one found nothing. */
  async identify(req: IncomingMessage): Promise<UserInfo | undefined> {
    const user = await this.authenticate(req);
    if (user) return user;
    if (!this.anonymousEnabled() || bearerToken(req) !== undefined) return undefined;
    if (this.opts.clientCA && certificateUser(req.socket).kind !== 'none') return undefined;
    return ANONYMOUS;
  }

  /** --anonymous-auth, and an authorizer to hold anonymous requests to what RBAC grants them. */
  anonymousEnabled(): boolean {
    return this.opts.anonymousAuth !== false && (this.authorizer ?? this.rbac) !== undefined;
  }

  /** The request's user: a verified client certificate, else a static token, a bootstrap token or a service-account
   *  token (kube-apiserver's order); undefined is a 401. A refused certificate leaves the token to decide. */
  async authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
    if (this.opts.clientCA) {
      const c = certificateUser(req.socket);
      if (c.kind === 'user') return c.user;
    }
    const token = bearerToken(req);
    if (!token) return undefined;
    return this.authenticateToken(token);
  }

  /** The user a bearer token names (static, bootstrap, then service-account tokens), or undefined. */
  async authenticateToken(token: string): Promise<UserInfo | undefined> {
    const authenticators: TokenAuthenticator[] = [this.staticTokens, this.bootstrapTokens];
    if (this.serviceAccountAuthenticator) authenticators.push(this.serviceAccountAuthenticator);
    for (const a of authenticators) {
      const u = await a.authenticate(token);
      if (u) return u;
    }
    return undefined;
  }

  /** The discovery document's jwks_uri: configured, else this server's own address. */
  private jwksUri(): string {
    return this.opts.serviceAccounts?.jwksUri ?? `https://${this.opts.advertise ?? `127.0.0.1:${this.port}`}${JWKS_PATH}`;
  }

  /** Counts the request and times it when it ends (apiserver_request_total, _duration_seconds, in-flight,
   *  long-running): labels from its RequestInfo, bounded to known verbs and resources. */
  private instrument(req: IncomingMessage, res: ServerResponse, url: URL): { longRunning: boolean; facts: RequestFacts } {
    const method = req.method ?? 'GET';
    const attrs = requestAttributes(ANONYMOUS, method, url.pathname, url.searchParams);
    // Long-running as kube-apiserver's BasicLongRunningRequestCheck: verbs watch and proxy, subresources
    // attach, exec, proxy, log and portforward; they hold no in-flight seat and no request timeout.
    const longRunningRequest =
      attrs.verb === 'watch' || attrs.verb === 'proxy' || ['attach', 'exec', 'proxy', 'log', 'portforward'].includes(attrs.subresource);
    const labels = requestLabels(attrs, method, url.searchParams, req.headers['content-type']);
    const m = this.metrics;
    const longRunning = labels.verb === 'WATCH' || labels.verb === 'CONNECT';
    const kind = method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 'readOnly' : 'mutating';
    const { dry_run: _d, ...lr } = labels;
    if (longRunning) m.longrunning.inc(lr);
    else m.inflight.inc({ request_kind: kind });
    const end = m.begin(labels);
    res.once('close', () => {
      end(res.statusCode);
      if (longRunning) m.longrunning.dec(lr);
      else m.inflight.dec({ request_kind: kind });
    });
    return { longRunning: longRunningRequest, facts: { apiGroup: attrs.apiGroup, resource: attrs.resource } };
  }

  /** Takes a seat of the request's priority level, after waiting in its queue if they are all taken; when
   *  the queue is full or the wait ends, answers 429 with Retry-After: 1 and returns false. The seat is
   *  given back when the response ends, or the wait given up when the client goes. */
  private async admit(res: ServerResponse, user: UserInfo, facts: RequestFacts): Promise<boolean> {
    const c = classify(user, facts);
    const got = this.flowControl.admit(c);
    let admission: Admission;
    if ('admission' in got) {
      res.once('close', got.cancel);
      admission = await got.admission;
      res.off('close', got.cancel);
      // The client left while waiting: nobody to answer.
      if (!admission.ok && admission.reason === 'cancelled') return false;
    } else admission = got;
    if (!admission.ok) {
      res.setHeader('Retry-After', '1');
      sendJson(res, 429, errors.tooManyRequests(1).toStatus());
      return false;
    }
    if (res.closed) {
      admission.release();
      return false;
    }
    res.once('close', admission.release);
    return true;
  }

  /**
   * After a 413 the rest of the body is still on its way: closing at once would reset the connection under a
   * client that is still writing it, and it would never read the answer (Go's server lingers likewise). The
   * rest is read and dropped, for at most LINGER_MS and only for bodies not absurdly large; then the
   * connection goes.
   */
  private lingerAfter413(req: IncomingMessage, res: ServerResponse): void {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > LINGER_MAX_BYTES) {
      res.setHeader('Connection', 'close');
      return;
    }
    req.resume();
    const t = setTimeout(() => {
      if (!req.complete) req.socket.destroy();
    }, LINGER_MS);
    t.unref();
    req.once('end', () => clearTimeout(t));
  }

  /** A request whose body has not all arrived within the request timeout is answered 408 and its
   *  connection closed: a client trickling a body holds a seat and a socket no longer than that. */
  private armRequestTimeout(req: IncomingMessage, res: ServerResponse): void {
    if (req.complete || this.limits.requestTimeoutMs === 0) return;
    const t = setTimeout(() => {
      if (req.complete || res.headersSent) return;
      res.setHeader('Connection', 'close');
      sendJson(
        res,
        408,
        errors.requestTimeout(`the request body did not arrive within ${this.limits.requestTimeoutMs / 1000}s (--request-timeout)`).toStatus(),
      );
      res.once('finish', () => req.socket.destroy());
    }, this.limits.requestTimeoutMs);
    const clear = () => clearTimeout(t);
    req.once('end', clear);
    res.once('close', clear);
  }

  /**
   * kube-apiserver's WithRequestDeadline and WithTimeoutForNonLongRunningRequests: a non-long-running request
   * gets --request-timeout, or the client's shorter `?timeout=` (kubectl --request-timeout sends it); past it
   * the answer is 504 Timeout and whatever the handler writes later is dropped (the handler itself runs on:
   * a write it started may still complete, as upstream says to clients of a 504).
   */
  private armHandlerTimeout(res: ServerResponse, q: URLSearchParams): void {
    let ms = this.limits.requestTimeoutMs;
    const raw = q.get('timeout');
    if (raw !== null && raw !== '') {
      const user = parseGoDuration(raw);
      if (user === undefined) throw errors.badRequest(`invalid timeout specified in the request URL - time: invalid duration ${JSON.stringify(raw)}`);
      // 0 or negative: the client sets no deadline of its own; never longer than the server's.
      if (user > 0 && (ms === 0 || user < ms)) ms = user;
    }
    if (ms === 0) return;
    const t = setTimeout(
      () => {
        if (res.headersSent || res.writableEnded) return;
        sendJson(res, 504, errors.timeout('Timeout: request did not complete within requested timeout - context deadline exceeded').toStatus());
        markTimedOut(res);
      },
      Math.max(1, Math.round(ms)),
    );
    res.once('close', () => clearTimeout(t));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'https://k8ts');
      const path = url.pathname.replace(/\/+$/, '') || '/';
      const { longRunning, facts } = this.instrument(req, res, url);
      setBodyLimit(req, this.limits.maxBodyBytes);
      if (!longRunning) {
        this.armRequestTimeout(req, res);
        this.armHandlerTimeout(res, url.searchParams);
      }
      decodePath(url.pathname);
      // Health, version and the issuer's documents too are authorized: anonymous requests reach them through
      // the default bindings (system:public-info-viewer, system:service-account-issuer-discovery), as upstream.
      const user = await this.identify(req);
      if (!user) {
        req.resume();
        sendJson(res, 401, errors.unauthorized().toStatus());
        return;
      }
      if (!longRunning && !(await this.admit(res, user, facts))) {
        req.resume();
        return;
      }
      setPretty(res, url.searchParams);
      const caller = authorizeRequest(this.authorizer ?? this.rbac ?? ALWAYS_ALLOW, user, req, url.pathname, url.searchParams);
      await requestUser.run(caller, () => this.route(req, res, path, url.searchParams));
    } catch (e) {
      if (isTimedOut(res)) return; // answered 504 already; the handler's late failure has no one to tell
      if (e instanceof ApiError) {
        if (e.code === 413 && !res.headersSent) this.lingerAfter413(req, res);
        return sendError(res, e);
      }
      if (e instanceof PatchError) {
        const st = e.toStatus();
        return sendError(res, new ApiError(e.httpStatus, st.reason ?? e.code, st.message ?? e.message, st.details));
      }
      if (e instanceof SelectorError) return sendError(res, errors.badRequest(e.message));
      console.error('k8ts apiserver: internal error on', req.method, req.url, e);
      sendError(res, e);
    }
  }

  /** Connection upgrades (WebSocket, SPDY): only pod exec, attach and portforward take them. */
  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const fail = (e: ApiError) => {
      const body = statusBody(e.toStatus());
      socket.end(
        `HTTP/1.1 ${e.code} ${e.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    try {
      const user = await this.identify(req);
      if (!user) return fail(errors.unauthorized());
      const url = new URL(req.url ?? '/', 'https://k8ts');
      // A WebSocket GET must also be allowed to create (upstream's AuthorizePodWebsocketUpgradeCreatePermission).
      authorizeRequest(this.authorizer ?? this.rbac ?? ALWAYS_ALLOW, user, req, url.pathname, url.searchParams, ['create']);
      const seg = decodePath(url.pathname);
      // /api/v1/namespaces/NS/pods/NAME/(exec|attach|portforward)
      if (
        seg.length !== 7 ||
        seg[0] !== 'api' ||
        seg[1] !== 'v1' ||
        seg[2] !== 'namespaces' ||
        seg[4] !== 'pods' ||
        !['exec', 'attach', 'portforward'].includes(seg[6])
      ) {
        return fail(errors.badRequest(`connection upgrades are served only for pods/exec, pods/attach and pods/portforward, not ${url.pathname}`));
      }
      const pods = RESOURCES.find((x) => x.group === '' && x.plural === 'pods')!;
      const { pod, container } = await podForStream(this, { r: pods, ns: seg[3], name: seg[5] }, seg[6], url.searchParams);
      if (!this.nodeProxy) return fail(errors.unavailable('this API server has no node proxy configured'));
      await this.nodeProxy.forwardUpgrade(req, socket, head, pod, agentPath(seg[6], pod, container, url.search));
    } catch (e) {
      if (e instanceof ApiError) return fail(e);
      fail(errors.internal(e instanceof Error ? e.message : String(e)));
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, path: string, q: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    if (HEALTH.has(path) || path.startsWith('/healthz/') || path.startsWith('/livez/') || path.startsWith('/readyz/')) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    }
    if (OIDC_PATHS.has(path) && this.issuer && method === 'GET') {
      const body = path === OIDC_CONFIG_PATH ? openidConfiguration(this.issuer.issuer, this.jwksUri(), this.issuer.key) : jwks([this.issuer.key]);
      res.writeHead(200, {
        'Content-Type': path === OIDC_CONFIG_PATH ? 'application/json' : 'application/jwk-set+json',
        'Cache-Control': 'public, max-age=3600',
      });
      res.end(JSON.stringify(body));
      return;
    }
    if (path === '/version') return sendJson(res, 200, versionInfo());
    if (path === '/metrics') {
      if (method !== 'GET' && method !== 'HEAD') throw errors.methodNotAllowed(method, 'metrics');
      const { body, contentType } = await this.metrics.expose();
      res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/api' || path === '/apis') {
      const fmt = negotiateDiscovery(req.headers.accept);
      if (fmt !== 'legacy') {
        const d = aggregated(path === '/api', fmt);
        return sendJson(res, 200, d.body, d.contentType);
      }
      return sendJson(res, 200, path === '/api' ? legacyApi(this.opts.advertise ?? `127.0.0.1:${this.port}`) : legacyGroups());
    }
    if (path === '/openapi/v2' || path === '/swagger-2.0.0.pb-v1') {
      const body = openapiV2Protobuf();
      res.writeHead(200, { 'Content-Type': OPENAPI_V2_CONTENT_TYPE, 'Content-Length': body.length });
      res.end(body);
      return;
    }
    if (path === '/openapi/v3') return sendJson(res, 200, openapiV3().body);
    if (path.startsWith('/openapi/v3/')) {
      const doc = openapiV3().docs.get(path.slice('/openapi/v3/'.length));
      if (!doc) throw errors.pathNotFound();
      return sendJson(res, 200, doc);
    }
    const seg = decodePath(path);
    let group: string;
    let version: string;
    let rest: string[];
    if (seg[0] === 'api') {
      if (seg.length < 2) throw errors.pathNotFound();
      group = '';
      version = seg[1];
      rest = seg.slice(2);
    } else if (seg[0] === 'apis') {
      if (seg.length === 2) {
        const g = legacyGroup(seg[1]);
        if (!g) throw errors.pathNotFound();
        return sendJson(res, 200, g);
      }
      if (seg.length < 3) throw errors.pathNotFound();
      group = seg[1];
      version = seg[2];
      rest = seg.slice(3);
    } else {
      throw errors.pathNotFound();
    }
    // /api/v1/nodes/NAME/proxy/PATH: forwarded to the node's agent.
    if (group === '' && version === 'v1' && rest[0] === 'nodes' && rest[2] === 'proxy' && rest.length > 3) {
      if (!this.nodeProxy) throw errors.unavailable('this API server has no node proxy configured');
      return this.nodeProxy.forwardNode(req, res, rest[1], `/${rest.slice(3).join('/')}`, q.toString() ? `?${q}` : '');
    }
    if (rest.length === 0) {
      const list = resourceList(group, version);
      if (!list) throw errors.pathNotFound();
      return sendJson(res, 200, list);
    }
    const t = resolveTarget(group, version, rest);
    if (!t) throw errors.pathNotFound();
    if (REVIEW_GROUPS.has(t.r.group)) return this.review(req, res, method, t);
    if (t.r.group === METRICS_GROUP) {
      if (!this.resourceMetrics) throw errors.unavailable('this API server does not scrape resource metrics (no node proxy configured)');
      return this.resourceMetrics.serve(res, method, t.r, t.ns, t.name, t.sub, q);
    }
    await this.dispatch(req, res, method, t, q);
  }

  /** Approving a CSR also takes `approve` on its signer (signers/<signerName> or signers/<domain>/*), as
   *  upstream's CertificateApproval admission: update on /approval alone does not make an approver. */
  private async checkSigner(t: Target, verb: 'approve'): Promise<void> {
    const user = requestUser.getStore();
    if (!this.rbac || !user || t.name === undefined) return;
    const csr = await this.registry.tryGet(t.r, undefined, t.name);
    const signer = String((csr?.spec as { signerName?: unknown } | undefined)?.signerName ?? '');
    if (!csr) return; // the update answers 404
    const names = [signer, `${signer.split('/')[0]}/*`];
    const ok = names.some(
      (name) =>
        this.rbac!.authorize({
          user,
          verb,
          resourceRequest: true,
          path: '',
          apiGroup: 'certificates.k8s.io',
          apiVersion: '*',
          namespace: '',
          resource: 'signers',
          subresource: '',
          name,
        }).allowed,
    );
    if (!ok)
      throw errors.forbidden(
        `certificatesigningrequests.certificates.k8s.io "${t.name}" is forbidden: user not permitted to ${verb} requests with signerName "${signer}"`,
      );
  }

  /** The review kinds: POST only, answered from the authorizer, never stored. */
  private async review(req: IncomingMessage, res: ServerResponse, method: string, t: Target): Promise<void> {
    if (t.name !== undefined || t.sub !== undefined) throw errors.pathNotFound();
    if (method !== 'POST') throw errors.methodNotAllowed(method, t.r.plural);
    const body = await this.readObject(req, undefined);
    if (t.r.kind === 'TokenReview') return sendJson(res, 201, await this.tokenReview(body));
    const user = requestUser.getStore() ?? { name: '', groups: [] };
    sendJson(res, 201, review(t.r, t.ns, body, user, this.authorizer ?? this.rbac ?? ALWAYS_ALLOW, this.rbac));
  }

  /** authentication.k8s.io/v1 TokenReview, what an agent (as a kubelet in webhook mode) asks about a bearer
   *  token its caller sent: the same authenticators as a request's, for the API's audiences. */
  private async tokenReview(body: KObject): Promise<KObject> {
    if (body.kind !== undefined && body.kind !== 'TokenReview')
      throw errors.badRequest(`the body is a ${JSON.stringify(body.kind)}, this endpoint takes TokenReview`);
    const spec = (body.spec && typeof body.spec === 'object' ? body.spec : {}) as { token?: unknown; audiences?: unknown };
    if (typeof spec.token !== 'string' || !spec.token) throw errors.badRequest('token is required for TokenReview in authentication');
    const api = this.issuer?.apiAudiences ?? [];
    const asked = Array.isArray(spec.audiences) ? spec.audiences.filter((a): a is string => typeof a === 'string') : [];
    // A token is good here only for the API's own audiences; a review for others cannot vouch for it.
    const audiences = asked.length ? asked.filter((a) => api.includes(a)) : api;
    const user = asked.length && !audiences.length ? undefined : await this.authenticateToken(spec.token);
    const status = user
      ? {
          authenticated: true,
          user: { username: user.name, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups, ...(user.extra ? { extra: user.extra } : {}) },
          audiences,
        }
      : {
          user: {},
          error:
            asked.length && !audiences.length
              ? `token audiences ${JSON.stringify(asked)} are not this API server's ${JSON.stringify(api)}`
              : 'invalid bearer token',
        };
    return {
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { ...(body.metadata ?? {}), creationTimestamp: null },
      spec: body.spec,
      status,
    } as unknown as KObject;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, method: string, t: Target, q: URLSearchParams): Promise<void> {
    const { r, ns, name, sub } = t;
    if (sub) {
      if (!r.subresources.some((s) => s.name === sub)) throw errors.pathNotFound();
      if (sub === 'status') return this.itemVerb(req, res, method, t, q, 'status');
      // certificatesigningrequests/NAME/approval: only the Approved/Denied conditions change (kubectl certificate approve|deny).
      if (sub === 'approval') {
        if (method === 'PUT' || method === 'PATCH') await this.checkSigner(t, 'approve');
        return this.itemVerb(req, res, method, t, q, 'approval');
      }
      // pods/NAME/ephemeralcontainers: the Pod, where only spec.ephemeralContainers may change (kubectl debug).
      if (sub === 'ephemeralcontainers') return this.itemVerb(req, res, method, t, q, 'ephemeralcontainers');
      if (sub === 'finalize') {
        if (method !== 'PUT') throw errors.methodNotAllowed(method, `${r.plural}/finalize`);
        return this.itemVerb(req, res, method, t, q, 'finalize');
      }
      if (sub === 'scale') return handleScale(this, req, res, method, t as Required<Pick<Target, 'r' | 'name'>> & Target, q);
      if (sub === 'token') return this.tokenRequest(req, res, method, t);
      if (sub === 'binding') return handleBinding(this, req, res, method, t as Required<Pick<Target, 'r' | 'name'>> & Target);
      if (sub === 'eviction') return handleEviction(this, req, res, method, t as Required<Pick<Target, 'r' | 'name'>> & Target, q);
      return handlePodSubresource(this, req, res, method, t as Required<Pick<Target, 'r' | 'name'>> & Target, q);
    }
    if (name === undefined) {
      // Collection.
      if (method === 'GET') {
        if (queryBool(q, 'watch')) return this.watch(req, res, r, ns, q);
        return this.list(req, res, r, ns, q);
      }
      if (method === 'POST') {
        if (r.namespaced && !t.nsInPath) throw errors.methodNotAllowed('POST', r.plural);
        const body = await this.readObject(req, r, res, q);
        const obj = await this.registry.create(r, ns, body, { dryRun: isDryRun(q), fieldManager: q.get('fieldManager') ?? undefined, owned: true });
        return sendJson(res, 201, obj);
      }
      if (method === 'DELETE') return this.deleteCollection(req, res, r, ns, q);
      throw errors.methodNotAllowed(method, r.plural);
    }
    return this.itemVerb(req, res, method, t, q, undefined);
  }

  private async itemVerb(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    t: Target,
    q: URLSearchParams,
    sub: WriteSubresource | undefined,
  ): Promise<void> {
    const { r, ns } = t;
    const name = t.name!;
    switch (method) {
      case 'GET': {
        if (queryBool(q, 'watch')) {
          q.set('fieldSelector', `metadata.name=${name}`);
          return this.watch(req, res, r, ns, q);
        }
        return this.get(req, res, r, ns, name, q);
      }
      case 'PUT': {
        const body = await this.readObject(req, r, res, q);
        const obj = await this.registry.update(r, ns, name, body, sub, { dryRun: isDryRun(q) });
        return sendJson(res, 200, obj);
      }
      case 'PATCH':
        if (sub === 'finalize') throw errors.methodNotAllowed(method, `${t.r.plural}/finalize`);
        return this.patch(req, res, t, q, sub);
      case 'DELETE': {
        if (sub) throw errors.methodNotAllowed('DELETE', `${r.plural}/${sub}`);
        const opts = await this.readDeleteOptions(req, q);
        const out = await this.registry.delete(r, ns, name, opts);
        return sendJson(res, out.deleted ? 200 : 202, out.object);
      }
      default:
        throw errors.methodNotAllowed(method, r.plural);
    }
  }

  /** POST serviceaccounts/NAME/token (serviceaccount/tokenrequest.ts). */
  private async tokenRequest(req: IncomingMessage, res: ServerResponse, method: string, t: Target): Promise<void> {
    if (method !== 'POST') throw errors.methodNotAllowed(method, 'serviceaccounts/token');
    if (!this.issuer) throw errors.unavailable('this API server does not sign service-account tokens');
    const body = await this.readObject(req, undefined);
    return sendJson(res, 201, await createToken(this.issuer, this.objects, t.ns!, t.name!, body));
  }

  sendObject(req: IncomingMessage, res: ServerResponse, r: ResourceDef, obj: KObject, q: URLSearchParams): void {
    const table = negotiateTable(req.headers.accept, q.get('includeObject'));
    if (table) return sendJson(res, 200, toTable(r, [obj], table, { resourceVersion: obj.metadata.resourceVersion }));
    if (acceptsPartial(req.headers.accept)) return sendJson(res, 200, partialMetadata(obj));
    sendJson(res, 200, obj);
  }

  // ---- reading bodies ----

  async readObject(req: IncomingMessage, r: ResourceDef | undefined, res?: ServerResponse, q?: URLSearchParams): Promise<KObject> {
    const raw = await readBody(req, MAX_BODY_BYTES);
    const type = mediaType(req.headers['content-type']);
    let body: unknown;
    if (type === 'application/vnd.kubernetes.protobuf') {
      try {
        body = decodeK8sProtobuf(raw);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if ((e as { code?: string }).code === 'UnsupportedKind') throw errors.unsupportedMediaType(`${type}: ${msg}`);
        throw errors.badRequest(`unable to decode protobuf body: ${msg}`);
      }
    } else {
      body = parseDocument(raw, type);
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw errors.badRequest('the request body must be a JSON object');
    }
    checkDepth(body);
    const obj = body as KObject;
    if (r) {
      checkTypeMeta(r, obj);
      const warnings = decodeStrictly(obj, groupVersion(r), r.kind, q ? fieldValidationMode(q) : 'Warn');
      if (res) addWarnings(res, warnings);
    }
    if (obj.metadata === null) obj.metadata = {};
    return obj;
  }

  private async readDeleteOptions(req: IncomingMessage, q: URLSearchParams): Promise<DeleteOptions> {
    const raw = await readBody(req, MAX_BODY_BYTES);
    let opts: DeleteOptions = {};
    if (raw.length) {
      const type = mediaType(req.headers['content-type']);
      const parsed = type === 'application/vnd.kubernetes.protobuf' ? decodeK8sProtobuf(raw) : parseDocument(raw, type);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw errors.badRequest('DeleteOptions must be a JSON object');
      opts = parsed as DeleteOptions;
    }
    if (q.has('gracePeriodSeconds')) opts.gracePeriodSeconds = intParam(q, 'gracePeriodSeconds');
    if (q.has('propagationPolicy')) opts.propagationPolicy = q.get('propagationPolicy') as DeleteOptions['propagationPolicy'];
    if (q.has('orphanDependents')) opts.orphanDependents = queryBool(q, 'orphanDependents');
    if (isDryRun(q)) opts.dryRun = ['All'];
    if (opts.gracePeriodSeconds !== undefined && (typeof opts.gracePeriodSeconds !== 'number' || !Number.isInteger(opts.gracePeriodSeconds))) {
      throw errors.badRequest('gracePeriodSeconds must be an integer');
    }
    if (opts.propagationPolicy !== undefined && !['Background', 'Foreground', 'Orphan'].includes(opts.propagationPolicy)) {
      throw errors.invalid('DeleteOptions', '', '', [
        {
          type: 'FieldValueNotSupported',
          field: 'propagationPolicy',
          message: `Unsupported value: ${JSON.stringify(opts.propagationPolicy)}: supported values: "Foreground", "Background", "Orphan", "nil"`,
        },
      ]);
    }
    return opts;
  }

  // ---- list and watch ----

  listQuery(r: ResourceDef, q: URLSearchParams): ListQuery {
    const out: ListQuery = {};
    const ls = q.get('labelSelector');
    if (ls) out.labelSelector = parseLabelSelector(ls);
    const fs = q.get('fieldSelector');
    if (fs) {
      const sel = parseFieldSelector(fs);
      const known = new Set(Object.keys(fieldsOf(r, { metadata: {} } as KObject)));
      for (const f of sel.fields) {
        if (!known.has(f)) throw errors.badRequest(`"${f}" is not a known field selector: only ${[...known].map((k) => `"${k}"`).join(', ')}`);
      }
      out.fieldSelector = sel;
    }
    if (q.has('limit')) out.limit = intParam(q, 'limit');
    const c = q.get('continue');
    if (c) out.continue = c;
    return out;
  }

  /** GET of one object: from the watch cache when the resourceVersion allows (its JSON encoded once),
   *  otherwise from the store. */
  private async get(req: IncomingMessage, res: ServerResponse, r: ResourceDef, ns: string | undefined, name: string, q: URLSearchParams): Promise<void> {
    const rv = q.get('resourceVersion') ?? '';
    const atLeast = rv === '' ? undefined : /^\d+$/.test(rv) && Number.isSafeInteger(Number(rv)) ? Number(rv) : -1;
    if (atLeast === -1) throw errors.badRequest(`invalid resource version: ${JSON.stringify(rv)}`);
    if (await cacheReady(this.cache, this.registry.store, atLeast)) {
      const c = getCached(this.cache, r, ns, name);
      // Not in the cache: absent, or a value no encryption provider can read (left out of the cache as of
      // lists). The store answers which: 404, or the transform error naming the key.
      if (!c) return this.sendObject(req, res, r, await this.registry.get(r, ns, name), q);
      if (!negotiateTable(req.headers.accept, q.get('includeObject')) && !acceptsPartial(req.headers.accept) && !isPretty(res)) {
        return sendJson(res, 200, getBody(r, c));
      }
      return this.sendObject(req, res, r, typedObject(r, c), q);
    }
    return this.sendObject(req, res, r, await this.registry.get(r, ns, name), q);
  }

  private async list(req: IncomingMessage, res: ServerResponse, r: ResourceDef, ns: string | undefined, q: URLSearchParams): Promise<void> {
    const query = this.listQuery(r, q);
    const source = listSource(q);
    if (source.from === 'cache' && (await cacheReady(this.cache, this.registry.store, source.atLeast))) {
      return this.listFromCache(req, res, r, q, listCached(this.cache, r, ns, query, this.listSnapshots));
    }
    if (source.from === 'continue') {
      const next = continueCached(this.listSnapshots, r, ns, query);
      if (next) return this.listFromCache(req, res, r, q, next);
    }
    if (source.from === 'exact') query.revision = source.revision;
    const result = await this.registry.list(r, ns, query);
    const meta: Record<string, unknown> = { resourceVersion: result.resourceVersion };
    if (result.continue) meta.continue = result.continue;
    if (result.remainingItemCount !== undefined) meta.remainingItemCount = result.remainingItemCount;
    const table = negotiateTable(req.headers.accept, q.get('includeObject'));
    if (table) return sendJson(res, 200, toTable(r, result.items, table, meta));
    if (acceptsPartial(req.headers.accept)) {
      return sendJson(res, 200, {
        kind: 'PartialObjectMetadataList',
        apiVersion: 'meta.k8s.io/v1',
        metadata: meta,
        items: result.items.map((o) => partialMetadata(o)),
      });
    }
    // Items are serialized without kind/apiVersion, as Kubernetes does.
    const items = result.items.map((o) => {
      const { apiVersion: _a, kind: _k, ...rest } = o;
      return rest;
    });
    sendJson(res, 200, { kind: r.listKind, apiVersion: groupVersion(r), metadata: meta, items });
  }

  /** A list from the watch cache, written as a stream of the items' once-encoded JSON (Table rows and
   *  partial metadata are made per item from the same cached objects). */
  private async listFromCache(req: IncomingMessage, res: ServerResponse, r: ResourceDef, q: URLSearchParams, result: CachedList): Promise<void> {
    const meta: Record<string, unknown> = { resourceVersion: result.resourceVersion };
    if (result.continue) meta.continue = result.continue;
    if (result.remainingItemCount !== undefined) meta.remainingItemCount = result.remainingItemCount;
    const table = negotiateTable(req.headers.accept, q.get('includeObject'));
    if (isPretty(res)) {
      const objs = result.items.map((c) => typedObject(r, c));
      if (table) return sendJson(res, 200, toTable(r, objs, table, meta));
      if (acceptsPartial(req.headers.accept)) {
        return sendJson(res, 200, {
          kind: 'PartialObjectMetadataList',
          apiVersion: 'meta.k8s.io/v1',
          metadata: meta,
          items: objs.map((o) => partialMetadata(o)),
        });
      }
      return sendJson(res, 200, {
        kind: r.listKind,
        apiVersion: groupVersion(r),
        metadata: meta,
        items: objs.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
      });
    }
    const open = (head: Record<string, unknown>, field: string) => `${JSON.stringify(head).slice(0, -1)},"${field}":[`;
    if (table) {
      const nowMs = Date.now();
      const rows = function* () {
        for (const c of result.items) yield Buffer.from(JSON.stringify(tableRow(r, typedObject(r, c), table, nowMs)));
      };
      return streamList(res, open(tableHead(r, table, meta), 'rows'), rows(), ']}\n');
    }
    if (acceptsPartial(req.headers.accept)) {
      const items = function* () {
        for (const c of result.items) yield Buffer.from(JSON.stringify(partialMetadata(c.object)));
      };
      return streamList(res, open({ kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: meta }, 'items'), items(), ']}\n');
    }
    // Items are written without kind/apiVersion, as Kubernetes does; each is the cache's bytes.
    const items = function* () {
      for (const c of result.items) yield itemJson(c);
    };
    return streamList(res, open({ kind: r.listKind, apiVersion: groupVersion(r), metadata: meta }, 'items'), items(), ']}\n');
  }

  private async deleteCollection(req: IncomingMessage, res: ServerResponse, r: ResourceDef, ns: string | undefined, q: URLSearchParams): Promise<void> {
    const opts = await this.readDeleteOptions(req, q);
    const query = this.listQuery(r, q);
    delete query.limit;
    const { items } = await this.registry.list(r, ns, query);
    for (const o of items) {
      try {
        await this.registry.delete(r, o.metadata.namespace, o.metadata.name!, opts);
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
    sendJson(res, 200, successStatus());
  }

  private async watch(req: IncomingMessage, res: ServerResponse, r: ResourceDef, ns: string | undefined, q: URLSearchParams): Promise<void> {
    const metrics = this.metrics;
    const query = this.listQuery(r, q);
    const table = negotiateTable(req.headers.accept, q.get('includeObject'));
    const rvParam = q.get('resourceVersion');
    const bookmarks = queryBool(q, 'allowWatchBookmarks');
    const timeout = q.has('timeoutSeconds') ? intParam(q, 'timeoutSeconds') : 0;
    // sendInitialEvents (the streaming list): the state as ADDED events, then a bookmark annotated
    // k8s.io/initial-events-end; upstream requires bookmarks and resourceVersionMatch=NotOlderThan.
    const sendInitial = q.has('sendInitialEvents') ? queryBool(q, 'sendInitialEvents') : undefined;
    if (sendInitial !== undefined) {
      const causes: FieldError[] = [];
      if (q.get('resourceVersionMatch') !== 'NotOlderThan') {
        causes.push({
          type: 'FieldValueForbidden',
          field: 'sendInitialEvents',
          message: 'Forbidden: sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan',
        });
      }
      if (sendInitial && !bookmarks) {
        causes.push({
          type: 'FieldValueForbidden',
          field: 'allowWatchBookmarks',
          message: 'Forbidden: allowWatchBookmarks must be set to true when sendInitialEvents is true',
        });
      }
      if (causes.length) throw errors.invalid('ListOptions', 'meta.k8s.io', '', causes);
    } else if (q.has('resourceVersionMatch')) {
      throw errors.invalid('ListOptions', 'meta.k8s.io', '', [
        {
          type: 'FieldValueForbidden',
          field: 'resourceVersionMatch',
          message: 'Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
        },
      ]);
    }
    const prefix = storagePrefix(r, ns);
    let from: number;
    let initial: KObject[] = [];
    if (sendInitial === true || (sendInitial === undefined && (!rvParam || rvParam === '0'))) {
      const l = await this.registry.list(r, ns, { labelSelector: query.labelSelector, fieldSelector: query.fieldSelector });
      initial = l.items;
      from = Number(l.resourceVersion);
      // NotOlderThan: the list is at least as new as the resourceVersion asked for (always, here).
    } else if (!rvParam || rvParam === '0') {
      from = this.cache.revision;
    } else {
      from = Number(rvParam);
      if (!Number.isSafeInteger(from) || from < 0) throw errors.badRequest(`invalid resource version: ${JSON.stringify(rvParam)}`);
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    let closed = false;
    let firstTable = true;
    let sub: ReturnType<WatchCache['subscribe']>;
    const timers: NodeJS.Timeout[] = [];
    const watcherLabels = { group: r.group, version: r.version, kind: r.kind };
    const finish = () => {
      if (closed) return;
      closed = true;
      this.watches.delete(res);
      if (sub) {
        sub.close();
        metrics.watchers.dec(watcherLabels);
      }
      for (const t of timers) clearTimeout(t);
      res.end();
    };
    res.on('close', finish);
    this.watches.add(res);
    const budget = this.limits.watchBufferBytes;
    const write = (line: string) => {
      if (closed) return;
      res.write(line);
      // A client that does not read keeps what is written in this process: past the budget it is cut off
      // (upstream closes a cacheWatcher whose buffer stays full), and relists or resumes as after any error.
      if (res.writableLength > budget) terminate();
    };
    const terminate = () => {
      const pending = res.writableLength;
      metrics.terminatedWatchers.inc({ resource: r.group ? `${r.plural}.${r.group}` : r.plural });
      const status = errors
        .gone(
          `the watch of ${r.group ? `${r.plural}.${r.group}` : r.plural} fell behind: ${pending} bytes not yet read by the client (limit ${budget}); list again`,
        )
        .toStatus();
      res.write(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      finish();
      // The error event waits behind what the client has not read; a client that never reads is dropped.
      const drop = setTimeout(() => res.destroy(), 5_000);
      drop.unref();
      res.once('close', () => clearTimeout(drop));
    };
    const encodeObject = (type: string, obj: KObject): string => {
      if (table) {
        const t = toTable(r, [obj], table, { resourceVersion: obj.metadata.resourceVersion }, firstTable);
        firstTable = false;
        return `{"type":"${type}","object":${JSON.stringify(t)}}\n`;
      }
      return `{"type":"${type}","object":${JSON.stringify(obj)}}\n`;
    };
    // The initial state may be larger than the budget: it is written at the client's pace, and live events
    // from `from` on wait in the cache meanwhile.
    for (const o of initial) {
      if (closed) return;
      if (!res.write(encodeObject('ADDED', o)) && res.writableLength > budget) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    if (closed) return;
    if (sendInitial) {
      const bm = {
        kind: r.kind,
        apiVersion: groupVersion(r),
        metadata: { resourceVersion: String(from), annotations: { 'k8s.io/initial-events-end': 'true' } },
      };
      write(`${JSON.stringify({ type: 'BOOKMARK', object: bm })}\n`);
    }
    const matches = (o: KObject | undefined) =>
      o !== undefined &&
      (!query.labelSelector || query.labelSelector.matches(o.metadata.labels)) &&
      (!query.fieldSelector || query.fieldSelector.matches(fieldsOf(r, o)));
    const onEvents = (events: CachedEvent[]) => {
      for (const e of events) {
        if (closed) return;
        const now = matches(e.object);
        const before = matches(e.prev);
        let type: string;
        if (e.type === 'delete') {
          if (!before) continue;
          type = 'DELETED';
        } else if (now && before) type = 'MODIFIED';
        else if (now) type = 'ADDED';
        else if (before) type = 'DELETED';
        else continue;
        const obj = e.object;
        if (!table) {
          e.encoded ??= new Map();
          let line = e.encoded.get(type);
          if (!line) {
            line = `{"type":"${type}","object":${JSON.stringify(withType(r, obj))}}\n`;
            e.encoded.set(type, line);
          }
          write(line);
        } else {
          write(encodeObject(type, withType(r, obj)));
        }
      }
    };
    const fail = (err: Error) => {
      write(`${JSON.stringify({ type: 'ERROR', object: errors.gone(err.message).toStatus() })}\n`);
      finish();
    };
    sub = this.cache.subscribe(prefix, from, onEvents, fail);
    if (!sub) {
      write(`${JSON.stringify({ type: 'ERROR', object: errors.gone(`too old resource version: ${from} (${this.cache.oldestRevision})`).toStatus() })}\n`);
      finish();
      return;
    }
    metrics.watchers.inc(watcherLabels);
    if (timeout > 0) timers.push(setTimeout(() => finish(), timeout * 1000));
    if (bookmarks) {
      const t = setInterval(() => {
        const bm = { kind: r.kind, apiVersion: groupVersion(r), metadata: { resourceVersion: String(Math.max(this.cache.revision, from)) } };
        write(`${JSON.stringify({ type: 'BOOKMARK', object: bm })}\n`);
      }, BOOKMARK_INTERVAL_MS);
      timers.push(t);
    }
  }

  // ---- patch ----

  private async patch(
    req: IncomingMessage,
    res: ServerResponse,
    t: Target,
    q: URLSearchParams,
    sub: Exclude<WriteSubresource, 'finalize'> | undefined,
  ): Promise<void> {
    const { r, ns } = t;
    const name = t.name!;
    const type = mediaType(req.headers['content-type']);
    const raw = await readBody(req, MAX_BODY_BYTES);
    const dryRun = isDryRun(q);
    if (type === 'application/apply-patch+yaml') {
      const manager = q.get('fieldManager');
      if (!manager) {
        throw errors.invalid('PatchOptions', 'meta.k8s.io', '', [
          { type: 'FieldValueRequired', field: 'fieldManager', message: 'Required value: is required for apply patch' },
        ]);
      }
      const applied = parseDocument(raw, 'application/yaml');
      checkDepth(applied);
      if (!applied || typeof applied !== 'object' || Array.isArray(applied)) throw errors.badRequest('apply patch must be an object');
      checkTypeMeta(r, applied as KObject);
      addWarnings(res, decodeStrictly(applied as KObject, groupVersion(r), r.kind, fieldValidationMode(q)));
      const force = queryBool(q, 'force');
      const live = await this.registry.tryGet(r, ns, name);
      if (!live) {
        if (sub) throw errors.notFound(r.plural, r.group, name);
        const merged = serverSideApply(undefined, applied as object, manager, force, r.kind, groupVersion(r)) as unknown as KObject;
        merged.metadata = { ...(merged.metadata ?? {}), name };
        const created = await this.registry.create(r, ns, merged, { dryRun });
        return sendJson(res, 201, created);
      }
      const out = await this.registry.guaranteedUpdate(
        r,
        ns,
        name,
        (cur) => serverSideApply(cur, applied as object, manager, force, r.kind, groupVersion(r), { subresource: sub }) as unknown as KObject,
        sub,
        { dryRun },
      );
      return sendJson(res, 200, out);
    }
    let patchDoc: unknown;
    try {
      patchDoc = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      if (type === 'application/json-patch+json' || type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') {
        throw errors.badRequest(`error decoding patch: ${(e as Error).message}`);
      }
      throw errors.unsupportedMediaType(type);
    }
    checkDepth(patchDoc);
    const kind = PATCH_TYPES[type];
    if (!kind) {
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        `the server does not support patch type ${JSON.stringify(type)}: use application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json or application/apply-patch+yaml`,
      );
    }
    const { object: out, warnings } = await this.registry.patch(r, ns, name, kind, patchDoc, sub, { dryRun, fieldValidation: fieldValidationMode(q) });
    addWarnings(res, warnings);
    sendJson(res, 200, out);
  }
}

// ---- helpers ----

/** The path's segments, percent-decoded; a malformed escape is the client's error (400), as Go's server
 *  refuses such a request line. */
function decodePath(path: string): string[] {
  return path
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        throw errors.badRequest(`malformed percent-escape in the request path segment ${JSON.stringify(p)}`);
      }
    });
}

function resolveTarget(group: string, version: string, rest: string[]): Target | undefined {
  const find = (plural: string) => RESOURCES.find((x) => x.group === group && x.version === version && x.plural === plural);
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(group === '' && (rest[2] === 'status' || rest[2] === 'finalize') && rest.length === 3)) {
    const r = find(rest[2]);
    if (!r?.namespaced || rest.length > 5) return undefined;
    return { r, ns: rest[1], name: rest[3], sub: rest[4], nsInPath: true };
  }
  const r = find(rest[0]);
  if (!r || rest.length > 3) return undefined;
  if (r.namespaced && rest.length > 1) return undefined;
  return { r, name: rest[1], sub: rest[2], nsInPath: false };
}

function withType(r: ResourceDef, o: KObject): KObject {
  if (o.apiVersion && o.kind) return o;
  return { kind: r.kind, apiVersion: groupVersion(r), ...o };
}

export function parseDocument(raw: Buffer, type: string): unknown {
  const text = raw.toString('utf8');
  if (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml') {
    try {
      const docs = YAML.parseAllDocuments(text, { uniqueKeys: false });
      if (docs.length !== 1) throw new Error(`expected one YAML document, got ${docs.length}`);
      if (docs[0].errors.length) throw docs[0].errors[0];
      return docs[0].toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw errors.badRequest(`error decoding YAML: ${(e as Error).message}`);
    }
  }
  if (type && type !== 'application/json' && type !== '*/*') throw errors.unsupportedMediaType(type);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`couldn't decode the request body as JSON: ${(e as Error).message}`);
  }
}

function addWarnings(res: ServerResponse, warnings: string[]): void {
  if (!warnings.length || res.headersSent) return;
  res.setHeader(
    'Warning',
    warnings.map((w) => `299 - ${JSON.stringify(w)}`),
  );
}

function acceptsPartial(accept: string | undefined): boolean {
  return Boolean(accept?.includes('as=PartialObjectMetadata'));
}

function isDryRun(q: URLSearchParams): boolean {
  const d = q.getAll('dryRun');
  for (const v of d) if (v !== 'All') throw errors.badRequest(`dryRun: unsupported value ${JSON.stringify(v)}: only "All" is supported`);
  return d.length > 0;
}

function intParam(q: URLSearchParams, name: string): number {
  const v = q.get(name)!;
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n)) throw errors.badRequest(`${name}: invalid integer ${JSON.stringify(v)}`);
  if (n < 0 && name !== 'gracePeriodSeconds') throw errors.badRequest(`${name}: must not be negative`);
  return n;
}
