// Request attributes as kube-apiserver's RequestInfo derives them from a request (verb, API group,
// resource, subresource, namespace, name, or a non-resource path), and the 403 it words from them.
import { ApiError } from '../../api/status.js';
import { queryBool } from '../../api/queryparams.js';
import { isValidPathSegmentName } from '../../api/validation.js';

export type { Attributes, UserInfo } from '../../api/authorization.js';
import type { Attributes, UserInfo } from '../../api/authorization.js';

const METHOD_VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** The attributes of a request by method, path and query, as upstream's RequestInfoFactory reads them. */
export function requestAttributes(user: UserInfo, method: string, path: string, q: URLSearchParams): Attributes {
  const a: Attributes = {
    user,
    verb: method.toLowerCase(),
    resourceRequest: false,
    path,
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  };
  const parts = path
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .filter((p) => p !== '');
  let cur = parts.map((p) => safeDecode(p));
  if (cur.length < 1 || (cur[0] !== 'api' && cur[0] !== 'apis')) return a;
  const grouped = cur[0] === 'apis';
  cur = cur.slice(1);
  if (grouped) {
    if (cur.length < 2) return a; // /apis, /apis/<group>: discovery, non-resource
    a.apiGroup = cur[0];
    a.apiVersion = cur[1];
    cur = cur.slice(2);
  } else {
    if (cur.length < 1) return a;
    a.apiVersion = cur[0];
    cur = cur.slice(1);
  }
  if (cur.length === 0) return a; // /api/v1, /apis/g/v: discovery
  a.resourceRequest = true;
  a.verb = METHOD_VERBS[method.toUpperCase()] ?? method.toLowerCase();
  if (SPECIAL_VERBS.has(cur[0])) {
    if (cur.length < 2) return { ...a, resourceRequest: false, verb: method.toLowerCase(), apiGroup: '', apiVersion: '' };
    a.verb = cur[0];
    cur = cur.slice(1);
  }
  if (cur[0] === 'namespaces') {
    if (cur.length > 1) {
      a.namespace = cur[1];
      if (cur.length > 2 && !NAMESPACE_SUBRESOURCES.has(cur[2])) cur = cur.slice(2);
    }
  }
  if (cur.length >= 3 && a.verb !== 'proxy') a.subresource = cur[2];
  if (cur.length >= 2) a.name = cur[1];
  if (cur.length >= 1) a.resource = cur[0];
  if (!a.name && a.verb === 'get') {
    a.verb = queryBool(q, 'watch') ? 'watch' : 'list';
    const fs = q.get('fieldSelector');
    const m = fs ? /^(?:metadata\.name)(?:==?)([^,]*)$/.exec(fs) : null;
    if (m && isValidPathSegmentName(m[1]).length === 0) a.name = m[1];
  }
  if (!a.name && a.verb === 'delete') a.verb = 'deletecollection';
  return a;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Upstream's forbiddenMessage: who cannot do what, where. */
export function forbiddenMessage(a: Attributes): string {
  if (!a.resourceRequest) return `User ${goQ(a.user.name)} cannot ${a.verb} path ${goQ(a.path)}`;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (a.namespace) return `User ${goQ(a.user.name)} cannot ${a.verb} resource ${goQ(res)} in API group ${goQ(a.apiGroup)} in the namespace ${goQ(a.namespace)}`;
  return `User ${goQ(a.user.name)} cannot ${a.verb} resource ${goQ(res)} in API group ${goQ(a.apiGroup)} at the cluster scope`;
}

/** The 403 kube-apiserver answers (apierrors.NewForbidden on the group-resource and name). */
export function forbidden(a: Attributes, reason = ''): ApiError {
  const msg = reason ? `${forbiddenMessage(a)}: ${reason}` : forbiddenMessage(a);
  if (!a.resource) return new ApiError(403, 'Forbidden', `forbidden: ${msg}`, {});
  const gr = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const details: Record<string, string> = {};
  if (a.name) details.name = a.name;
  if (a.apiGroup) details.group = a.apiGroup;
  details.kind = a.resource;
  return new ApiError(403, 'Forbidden', a.name ? `${gr} ${goQ(a.name)} is forbidden: ${msg}` : `${gr} is forbidden: ${msg}`, details);
}

/** Go's %q for the strings that appear here. */
export function goQ(s: string): string {
  return JSON.stringify(s);
}
