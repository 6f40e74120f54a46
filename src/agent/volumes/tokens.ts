// ServiceAccount tokens for projected volumes: requested through the TokenRequest subresource
// (POST /api/v1/namespaces/NS/serviceaccounts/NAME/token, bound to the pod), cached per
// (pod, account, audience, expiry) and refreshed as the kubelet's token manager does: once 80 % of the
// token's lifetime has passed, or 24 hours after it was issued, whichever comes first.
import type { Pod } from '../../api/types.js';

export interface TokenRequestSpec {
  namespace: string;
  serviceAccount: string;
  audiences: string[];
  expirationSeconds: number;
  /** The pod the token is bound to (boundObjectRef): the API server rejects the token once the pod is gone. */
  pod: { name: string; uid: string };
}

export interface IssuedToken {
  token: string;
  /** When the token stops being valid. */
  expiresAt: Date;
}

/** Who signs tokens: the API's TokenRequest in the agent, a fake issuer in unit tests. */
export interface TokenIssuer {
  request(spec: TokenRequestSpec): Promise<IssuedToken>;
}

/** The TokenRequest wire shape (authentication.k8s.io/v1), only what is sent and read. */
interface TokenRequestBody {
  apiVersion: 'authentication.k8s.io/v1';
  kind: 'TokenRequest';
  spec: { audiences: string[]; expirationSeconds: number; boundObjectRef: { apiVersion: 'v1'; kind: 'Pod'; name: string; uid: string } };
  status?: { token?: string; expirationTimestamp?: string };
}

/** The issuer over the API: one POST to the serviceaccounts/token subresource. */
export function apiTokenIssuer(post: (path: string, body: TokenRequestBody) => Promise<TokenRequestBody>): TokenIssuer {
  return {
    async request(s) {
      const body: TokenRequestBody = {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          audiences: s.audiences,
          expirationSeconds: s.expirationSeconds,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: s.pod.name, uid: s.pod.uid },
        },
      };
      const path = `/api/v1/namespaces/${encodeURIComponent(s.namespace)}/serviceaccounts/${encodeURIComponent(s.serviceAccount)}/token`;
      const r = await post(path, body);
      const token = r.status?.token;
      const exp = r.status?.expirationTimestamp ? new Date(r.status.expirationTimestamp) : undefined;
      if (!token || !exp || Number.isNaN(exp.getTime())) throw new Error(`TokenRequest for ${s.namespace}/${s.serviceAccount} returned no token`);
      return { token, expiresAt: exp };
    },
  };
}

const DAY_MS = 24 * 3600_000;

interface Cached {
  token: IssuedToken;
  issuedAt: number;
}

/** Whether a token issued at issuedAt must be replaced now (80 % of its lifetime, or 24 h). */
export function needsRefresh(t: IssuedToken, issuedAt: number, now = Date.now()): boolean {
  const life = t.expiresAt.getTime() - issuedAt;
  return now >= issuedAt + Math.min(life * 0.8, DAY_MS) || now >= t.expiresAt.getTime();
}

/** The node's token cache: one token per bound request, refreshed when due; the earliest refresh time is known. */
export class TokenManager {
  /** By pod uid, then by request: every pod sync asks for its own pod's refresh time, which must not read
   *  (and JSON-parse) every other pod's entries: that made a node's syncs O(pods²). */
  private cache = new Map<string, Map<string, Cached>>();

  constructor(
    private issuer: TokenIssuer,
    private clock: () => number = Date.now,
  ) {}

  private key(s: TokenRequestSpec): string {
    return JSON.stringify([s.namespace, s.serviceAccount, s.audiences, s.expirationSeconds, s.pod.uid]);
  }

  async token(s: TokenRequestSpec): Promise<string> {
    const k = this.key(s);
    const c = this.cache.get(s.pod.uid)?.get(k);
    if (c && !needsRefresh(c.token, c.issuedAt, this.clock())) return c.token.token;
    const issuedAt = this.clock();
    const token = await this.issuer.request(s);
    let mine = this.cache.get(s.pod.uid);
    if (!mine) this.cache.set(s.pod.uid, (mine = new Map()));
    mine.set(k, { token, issuedAt });
    return token.token;
  }

  /** Milliseconds until the first cached token of this pod is due for refresh (undefined: none cached). */
  nextRefreshMs(podUid: string): number | undefined {
    let next: number | undefined;
    for (const c of this.cache.get(podUid)?.values() ?? []) {
      const life = c.token.expiresAt.getTime() - c.issuedAt;
      const due = c.issuedAt + Math.min(life * 0.8, DAY_MS) - this.clock();
      next = next === undefined ? due : Math.min(next, due);
    }
    return next === undefined ? undefined : Math.max(0, next);
  }

  forgetPod(podUid: string): void {
    this.cache.delete(podUid);
  }
}

/** The TokenRequestSpec of a projected serviceAccountToken source of pod (defaults as the API's: 1 h, the API's audiences). */
export function tokenSpec(pod: Pod, src: { audience?: string; expirationSeconds?: number }, defaultAudiences: string[]): TokenRequestSpec {
  return {
    namespace: pod.metadata.namespace!,
    serviceAccount: pod.spec?.serviceAccountName || 'default',
    audiences: src.audience ? [src.audience] : defaultAudiences,
    expirationSeconds: src.expirationSeconds ?? 3600,
    pod: { name: pod.metadata.name!, uid: pod.metadata.uid! },
  };
}
