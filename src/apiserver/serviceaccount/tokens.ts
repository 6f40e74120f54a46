// Bound service-account tokens: the JWT claims kube-apiserver issues (iss, sub, aud, exp, iat, nbf, jti
// and the `kubernetes.io` claim naming the account and what the token is bound to), signed with the
// server's key, and their verification: signature, issuer, audience and time here; whether the
// account and bound objects still exist is the authenticator's question (authn.ts).
import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { SigningKey } from './signer.js';

export interface Ref {
  name: string;
  uid: string;
}

/** The `kubernetes.io` private claim, as upstream writes it. */
export interface KubernetesClaim {
  namespace: string;
  serviceaccount: Ref;
  pod?: Ref;
  secret?: Ref;
  node?: Ref;
  /** Set on extended tokens (see tokenrequest.ts): after this time a client should have refreshed. */
  warnafter?: number;
}

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  'kubernetes.io': KubernetesClaim;
}

export interface IssueSpec {
  namespace: string;
  serviceAccount: Ref;
  audiences: string[];
  /** Lifetime from now, in seconds. */
  expirationSeconds: number;
  pod?: Ref;
  secret?: Ref;
  node?: Ref;
  /** Seconds from now after which the token should have been refreshed (the kubelet's 3607 s tokens). */
  warnAfterSeconds?: number;
  /** Now, in seconds since the epoch (tests pass a time). */
  now?: number;
}

/** Leeway on exp and nbf, as go-jose's default that kube-apiserver validates with. */
export const CLOCK_LEEWAY_S = 60;

export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

export class TokenIssuer {
  constructor(
    readonly key: SigningKey,
    readonly issuer: string,
  ) {}

  /** The audiences the API server itself accepts: its issuer, as kube-apiserver defaults --api-audiences. */
  get apiAudiences(): string[] {
    return [this.issuer];
  }

  async issue(s: IssueSpec): Promise<{ token: string; claims: TokenClaims }> {
    const now = s.now ?? Math.floor(Date.now() / 1000);
    const k8s: KubernetesClaim = { namespace: s.namespace, serviceaccount: { name: s.serviceAccount.name, uid: s.serviceAccount.uid } };
    if (s.node) k8s.node = { name: s.node.name, uid: s.node.uid };
    if (s.pod) k8s.pod = { name: s.pod.name, uid: s.pod.uid };
    if (s.secret) k8s.secret = { name: s.secret.name, uid: s.secret.uid };
    if (s.warnAfterSeconds !== undefined) k8s.warnafter = now + s.warnAfterSeconds;
    const claims: TokenClaims = {
      aud: s.audiences,
      exp: now + s.expirationSeconds,
      iat: now,
      iss: this.issuer,
      jti: randomUUID(),
      'kubernetes.io': k8s,
      nbf: now,
      sub: serviceAccountUsername(s.namespace, s.serviceAccount.name),
    };
    const token = await new SignJWT({ ...claims }).setProtectedHeader({ alg: this.key.alg, kid: this.key.kid }).sign(this.key.privateKey);
    return { token, claims };
  }

  /** The token's claims when its signature, issuer, audience and times are good; why not otherwise. */
  async verify(token: string, audiences: string[] = this.apiAudiences, now?: number): Promise<{ claims: TokenClaims } | { error: string }> {
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        issuer: this.issuer,
        audience: audiences,
        algorithms: [this.key.alg],
        clockTolerance: CLOCK_LEEWAY_S,
        currentDate: now === undefined ? undefined : new Date(now * 1000),
        requiredClaims: ['exp', 'iat', 'nbf', 'sub'],
      });
      const k8s = payload['kubernetes.io'] as KubernetesClaim | undefined;
      if (!k8s || typeof k8s.namespace !== 'string' || typeof k8s.serviceaccount?.name !== 'string' || typeof k8s.serviceaccount.uid !== 'string') {
        return { error: 'the token has no kubernetes.io claim naming a service account' };
      }
      if (payload.sub !== serviceAccountUsername(k8s.namespace, k8s.serviceaccount.name))
        return { error: 'the token subject does not match its service account' };
      for (const r of [k8s.pod, k8s.secret, k8s.node]) {
        if (r !== undefined && (typeof r?.name !== 'string' || typeof r.uid !== 'string'))
          return { error: 'the token names a bound object without a name and uid' };
      }
      return { claims: payload as unknown as TokenClaims };
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) return { error: 'the token has expired' };
      if (e instanceof joseErrors.JOSEError) return { error: e.message };
      throw e;
    }
  }
}

/** A compact JWS has three base64url parts: only those are worth verifying. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}
