// Who a request is: the authenticated user as one plain value (name, uid, groups, extra) that
// authorization will read, from a client certificate signed by the cluster CA, a static bearer token
// (admin, nodes) or a service-account JWT; system:anonymous when none is offered.
import type { IncomingMessage } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { UserInfo } from './authz/attributes.js';
import { bearerToken as parseBearer } from '../util/bearer.js';
import { peerCertificateUser } from '../util/x509user.js';

export type { UserInfo };

export const ANONYMOUS: UserInfo = Object.freeze({ name: 'system:anonymous', groups: Object.freeze(['system:unauthenticated']) as string[] });

export interface TokenAuthenticator {
  /** The user when the token is this authenticator's and valid; undefined when it is not. */
  authenticate(token: string): Promise<UserInfo | undefined>;
}

/** Fixed tokens compared in constant time (the admin and node tokens from the data dir). */
export class StaticTokens implements TokenAuthenticator {
  private entries: { token: Buffer; user: UserInfo }[] = [];

  add(token: string, user: UserInfo): void {
    this.entries.push({ token: Buffer.from(token), user: withAuthenticated(user) });
  }

  match(token: string): UserInfo | undefined {
    const got = Buffer.from(token);
    for (const t of this.entries) {
      if (t.token.length === got.length && timingSafeEqual(t.token, got)) return t.user;
    }
    return undefined;
  }

  async authenticate(token: string): Promise<UserInfo | undefined> {
    return this.match(token);
  }
}

/** Every authenticated user is in system:authenticated, as kube-apiserver's group adder puts it; a user
 *  already in system:authenticated or system:unauthenticated (the anonymous one) is left as it is. */
export function withAuthenticated(u: UserInfo): UserInfo {
  return u.groups.includes('system:authenticated') || u.groups.includes('system:unauthenticated') ? u : { ...u, groups: [...u.groups, 'system:authenticated'] };
}

export function bearerToken(req: IncomingMessage): string | undefined {
  return parseBearer(req.headers.authorization);
}

/** The outcome of the client-certificate check: no certificate, a user, or a certificate refused. */
export type CertResult = { kind: 'none' } | { kind: 'user'; user: UserInfo } | { kind: 'refused'; reason: string };

/** The user a verified client certificate names (CN the user, each O a group), in system:authenticated. */
export function certificateUser(socket: unknown): CertResult {
  const r = peerCertificateUser(socket);
  return r.kind === 'user' ? { kind: 'user', user: withAuthenticated({ name: r.name, groups: r.groups }) } : r;
}
