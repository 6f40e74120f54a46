// Who a request is: the authenticated user as one plain value (name, uid, groups, extra) that
// authorization will read, from a static bearer token (admin, nodes) or a service-account JWT.
import type { IncomingMessage } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { UserInfo } from './authz/attributes.js';

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

/** Every authenticated user is in system:authenticated, as kube-apiserver adds it. */
export function withAuthenticated(u: UserInfo): UserInfo {
  return u.groups.includes('system:authenticated') ? u : { ...u, groups: [...u.groups, 'system:authenticated'] };
}

export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (!h || !h.startsWith('Bearer ')) return undefined;
  const t = h.slice(7).trim();
  return t || undefined;
}
