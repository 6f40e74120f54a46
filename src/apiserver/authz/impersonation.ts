// Impersonation (Impersonate-User, -Group, -Uid, -Extra-<key>): each asked-for identity part is
// authorized with the `impersonate` verb on users, groups, serviceaccounts, uids or userextras/<key>,
// as upstream's WithImpersonation filter does; the request then runs as that user.
import type { IncomingHttpHeaders } from 'node:http';
import { errors } from '../../api/status.js';
import { type Attributes, type UserInfo, forbidden } from './attributes.js';
import type { Authorizer } from './rbac.js';

const SA_PREFIX = 'system:serviceaccount:';

function headerList(h: string | string[] | undefined): string[] {
  if (h === undefined) return [];
  return Array.isArray(h) ? h : [h];
}

/** The impersonated user, or undefined when the request asks for none; throws 403/400. */
export function impersonate(authorizer: Authorizer, requestor: UserInfo, headers: IncomingHttpHeaders): UserInfo | undefined {
  const userH = headerList(headers['impersonate-user']);
  const groups = headerList(headers['impersonate-group']);
  const uidH = headerList(headers['impersonate-uid']);
  const extra: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!k.startsWith('impersonate-extra-')) continue;
    let key = k.slice('impersonate-extra-'.length);
    try {
      key = decodeURIComponent(key);
    } catch {
      throw errors.badRequest(`Impersonate-Extra-${key}: invalid percent-encoding in the key`);
    }
    extra[key] = headerList(v).flatMap((x) => x.split(',').map((s) => s.trim()));
  }
  const hasExtra = Object.keys(extra).length > 0;
  if (userH.length === 0) {
    if (groups.length || uidH.length || hasExtra)
      throw errors.badRequest('requested impersonation of groups, uid or extra without impersonating a user (Impersonate-User)');
    return undefined;
  }
  if (userH.length > 1 || uidH.length > 1) throw errors.badRequest('Impersonate-User and Impersonate-Uid may each be given once');
  const name = userH[0];
  const base = { user: requestor, verb: 'impersonate', resourceRequest: true, path: '', apiVersion: '', subresource: '', namespace: '' };
  const checks: Attributes[] = [];
  if (name.startsWith(SA_PREFIX) && name.slice(SA_PREFIX.length).split(':').length === 2) {
    const [ns, sa] = name.slice(SA_PREFIX.length).split(':');
    checks.push({ ...base, apiGroup: '', resource: 'serviceaccounts', namespace: ns, name: sa });
  } else {
    checks.push({ ...base, apiGroup: '', resource: 'users', name });
  }
  for (const g of groups) checks.push({ ...base, apiGroup: '', resource: 'groups', name: g });
  for (const [k, vs] of Object.entries(extra))
    for (const v of vs) checks.push({ ...base, apiGroup: 'authentication.k8s.io', resource: 'userextras', subresource: k, name: v });
  if (uidH.length) checks.push({ ...base, apiGroup: 'authentication.k8s.io', resource: 'uids', name: uidH[0] });
  for (const a of checks) {
    const d = authorizer.authorize(a);
    if (!d.allowed) throw forbidden(a, d.reason);
  }
  const outGroups = [...groups];
  if (groups.length === 0 && name.startsWith(SA_PREFIX)) {
    const ns = name.slice(SA_PREFIX.length).split(':')[0];
    outGroups.push('system:serviceaccounts', `system:serviceaccounts:${ns}`);
  }
  if (name === 'system:anonymous') {
    if (!outGroups.includes('system:unauthenticated')) outGroups.push('system:unauthenticated');
  } else if (!outGroups.includes('system:authenticated')) outGroups.push('system:authenticated');
  return { name, groups: outGroups, ...(uidH.length ? { uid: uidH[0] } : {}), ...(hasExtra ? { extra } : {}) };
}
