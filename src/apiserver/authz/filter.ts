// The authorization step of the request pipeline, called after authentication: an authenticated user
// gets system:authenticated (system:anonymous keeps only system:unauthenticated), impersonation headers
// are honoured under the `impersonate` verb, then the request's attributes are authorized; a denial is
// upstream's 403.
import type { IncomingMessage } from 'node:http';
import { type UserInfo, forbidden, requestAttributes } from './attributes.js';
import { impersonate } from './impersonation.js';
import type { Authorizer } from './rbac.js';
import { withAuthenticated } from '../authn.js';

/** The user the request runs as; throws the 403 (or 400 for malformed impersonation). */
export function authorizeRequest(
  authorizer: Authorizer,
  authenticated: UserInfo,
  req: IncomingMessage,
  path: string,
  q: URLSearchParams,
  extraVerbs: string[] = [],
): UserInfo {
  const who = withAuthenticated(authenticated);
  const user = impersonate(authorizer, who, req.headers) ?? who;
  const a = requestAttributes(user, req.method ?? 'GET', path, q);
  for (const verb of [a.verb, ...extraVerbs]) {
    const d = authorizer.authorize({ ...a, verb });
    if (!d.allowed) throw forbidden({ ...a, verb }, d.reason);
  }
  return user;
}
