// Who may call the agent, decided as the kubelet decides in webhook mode: the caller is authenticated by
// a client certificate from the cluster CA or by a bearer token the API server vouches for (TokenReview),
// then authorized by a SubjectAccessReview on its own Node's subresource (nodes/proxy, nodes/log,
// nodes/stats, nodes/metrics, nodes/spec) with the verb of the HTTP method. Answers are cached as the
// kubelet's defaults: tokens 2 min, allowed 5 min, denied 30 s.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { UserInfo } from '../api/authorization.js';
import { bearerToken } from '../util/bearer.js';
import { peerCertificateUser } from '../util/x509user.js';

/** The kubelet's defaults (KubeletAuthentication/KubeletAuthorization webhook cache TTLs). */
export const TOKEN_TTL_MS = 120_000;
export const AUTHORIZED_TTL_MS = 300_000;
export const UNAUTHORIZED_TTL_MS = 30_000;
/** Entries per cache: beyond it the oldest go first, so a flood of distinct callers cannot grow memory. */
const CACHE_MAX = 8192;

export interface CallerAuthOptions {
  nodeName: string;
  /** POSTs a review to the API server and returns its answer (the agent's own client). */
  post: (path: string, body: unknown) => Promise<unknown>;
  now?: () => number;
}

/** What the kubelet's authorizer asks about a request: verb and subresource of nodes/<this node>. */
export interface CallerAttributes {
  verb: string;
  subresource: string;
}

export type Verdict = { ok: true; user: UserInfo } | { ok: false; code: 401 | 403 | 500; message: string };

/** The kubelet's GetRequestAttributes: the verb from the method, the subresource from the path. */
export function callerAttributes(method: string | undefined, path: string): CallerAttributes {
  const verbs: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
  const under = (p: string) => path === p || path.startsWith(`${p}/`);
  const subresource = under('/stats') ? 'stats' : under('/metrics') ? 'metrics' : under('/logs') ? 'log' : under('/spec') ? 'spec' : 'proxy';
  return { verb: verbs[method ?? ''] ?? '', subresource };
}

/** A map whose entries expire, bounded in size (oldest inserted evicted first). */
class TtlCache<V> {
  private entries = new Map<string, { value: V; until: number }>();

  constructor(private now: () => number) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.until <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    this.entries.delete(key);
    if (this.entries.size >= CACHE_MAX) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, until: this.now() + ttlMs });
  }

  get size(): number {
    return this.entries.size;
  }
}

interface TokenReviewAnswer {
  status?: { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }; error?: string };
}
interface AccessReviewAnswer {
  status?: { allowed?: boolean; denied?: boolean; reason?: string };
}

export class CallerAuth {
  private tokens: TtlCache<UserInfo | null>;
  private decisions: TtlCache<boolean>;
  private now: () => number;
  /** Reviews sent to the API server (cache misses), for tests and benchmarks. */
  readonly sent = { tokenReviews: 0, accessReviews: 0 };

  constructor(private o: CallerAuthOptions) {
    this.now = o.now ?? Date.now;
    this.tokens = new TtlCache(this.now);
    this.decisions = new TtlCache(this.now);
  }

  /** The caller of a request on a TLS socket whose server asked for (not required) a certificate checked
   *  against the cluster CA; undefined when neither a certificate nor a token proves who it is. */
  async authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
    const c = peerCertificateUser(req.socket);
    if (c.kind === 'user') return { name: c.name, groups: c.groups.includes('system:authenticated') ? c.groups : [...c.groups, 'system:authenticated'] };
    const token = bearerToken(req.headers.authorization);
    if (!token) return undefined;
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.tokens.get(key);
    if (hit !== undefined) return hit ?? undefined;
    this.sent.tokenReviews++;
    const r = (await this.o.post('/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token },
    })) as TokenReviewAnswer;
    const u =
      r.status?.authenticated && r.status.user?.username
        ? {
            name: r.status.user.username,
            ...(r.status.user.uid ? { uid: r.status.user.uid } : {}),
            groups: r.status.user.groups ?? [],
            ...(r.status.user.extra ? { extra: r.status.user.extra } : {}),
          }
        : null;
    this.tokens.set(key, u, TOKEN_TTL_MS);
    return u ?? undefined;
  }

  /** SubjectAccessReview of `user` doing attrs on this node, through the cache. */
  async authorize(user: UserInfo, a: CallerAttributes): Promise<boolean> {
    const spec = {
      user: user.name,
      ...(user.uid ? { uid: user.uid } : {}),
      groups: user.groups,
      ...(user.extra ? { extra: user.extra } : {}),
      resourceAttributes: { verb: a.verb, group: '', version: 'v1', resource: 'nodes', subresource: a.subresource, name: this.o.nodeName },
    };
    const key = JSON.stringify(spec);
    const hit = this.decisions.get(key);
    if (hit !== undefined) return hit;
    this.sent.accessReviews++;
    const r = (await this.o.post('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec,
    })) as AccessReviewAnswer;
    const allowed = r.status?.allowed === true && r.status.denied !== true;
    this.decisions.set(key, allowed, allowed ? AUTHORIZED_TTL_MS : UNAUTHORIZED_TTL_MS);
    return allowed;
  }

  /** The whole filter, with the kubelet's answers: 401 `Unauthorized`, 403 `Forbidden (user=…, verb=…,
   *  resource=nodes, subresource=…)`, 500 `Authorization error (…)` when the API server cannot be asked. */
  async check(req: IncomingMessage, path: string): Promise<Verdict> {
    let user: UserInfo | undefined;
    try {
      user = await this.authenticate(req);
    } catch {
      user = undefined; // the kubelet answers an authentication error as unauthenticated
    }
    if (!user) return { ok: false, code: 401, message: 'Unauthorized' };
    const a = callerAttributes(req.method, path);
    const what = `user=${user.name}, verb=${a.verb}, resource=nodes, subresource=${a.subresource}`;
    try {
      if (await this.authorize(user, a)) return { ok: true, user };
    } catch {
      return { ok: false, code: 500, message: `Authorization error (${what})` };
    }
    return { ok: false, code: 403, message: `Forbidden (${what})` };
  }
}
