// Who a request is: the authenticated user as one plain value (name, uid, groups, extra) that
// authorization will read, from a client certificate signed by the cluster CA, a static bearer token
// (admin, nodes) or a service-account JWT.
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import { timingSafeEqual } from 'node:crypto';
import type { UserInfo } from './authz/attributes.js';
import { bearerToken as parseBearer } from '../util/bearer.js';

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
  return parseBearer(req.headers.authorization);
}

/** ExtendedKeyUsage clientAuth: the x509 authenticator accepts only certificates made for clients. */
const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

/** The outcome of the client-certificate check: no certificate, a user, or a certificate refused. */
export type CertResult = { kind: 'none' } | { kind: 'user'; user: UserInfo } | { kind: 'refused'; reason: string };

/** The user a verified client certificate names, as kube-apiserver's x509 authenticator reads it:
 *  CN is the user, each O a group. TLS has already checked the chain against the client CA (the server
 *  requests, never requires, a certificate); this reads the verdict, the usage and the subject. */
export function certificateUser(socket: unknown): CertResult {
  if (!(socket instanceof TLSSocket)) return { kind: 'none' };
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return { kind: 'none' };
  if (!socket.authorized) return { kind: 'refused', reason: `x509: ${String(socket.authorizationError ?? 'certificate signed by unknown authority')}` };
  // A certificate without the extension may be used for anything (RFC 5280 4.2.1.12).
  if (cert.ext_key_usage && !cert.ext_key_usage.includes(CLIENT_AUTH_OID)) return { kind: 'refused', reason: 'x509: certificate is not for client authentication' };
  const cn = one(cert.subject?.CN);
  if (!cn) return { kind: 'refused', reason: 'x509: the certificate\'s subject has no common name' };
  const o = cert.subject?.O;
  const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
  return { kind: 'user', user: withAuthenticated({ name: cn, groups: [...groups] }) };
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
