// The review APIs, answered at once and never stored: SubjectAccessReview, LocalSubjectAccessReview,
// SelfSubjectAccessReview, SelfSubjectRulesReview (authorization.k8s.io/v1) and SelfSubjectReview
// (authentication.k8s.io/v1): what `kubectl auth can-i [--list]` and `kubectl auth whoami` ask.
import type { ResourceDef } from '../../api/resources.js';
import type { FieldError, KObject, PolicyRule } from '../../api/types.js';
import { errors } from '../../api/status.js';
import { invalid, required } from '../../api/validation.js';
import { asObj, isObj, type JsonObject, strings } from '../../api/narrow.js';

import type { Attributes, UserInfo } from './attributes.js';
import type { Authorizer, RbacAuthorizer } from './rbac.js';

/** A review's `extra`: each key's values as strings (a non-list value is no values, as Go's decoder would refuse it). */
const extraOf = (v: JsonObject): Record<string, string[]> => Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strings(x)]));

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function attributesOf(spec: JsonObject, user: UserInfo): { attrs?: Attributes; errs: FieldError[] } {
  const ra = spec.resourceAttributes;
  const nra = spec.nonResourceAttributes;
  if (!isObj(ra) && !isObj(nra))
    return { errs: [required('spec.resourceAttributes', 'exactly one of nonResourceAttributes or resourceAttributes must be specified')] };
  if (isObj(ra) && isObj(nra)) return { errs: [invalid('spec.nonResourceAttributes', nra, 'cannot be specified in combination with resourceAttributes')] };
  if (isObj(ra)) {
    return {
      errs: [],
      attrs: {
        user,
        verb: str(ra.verb),
        resourceRequest: true,
        path: '',
        apiGroup: str(ra.group),
        apiVersion: str(ra.version),
        namespace: str(ra.namespace),
        resource: str(ra.resource),
        subresource: str(ra.subresource),
        name: str(ra.name),
      },
    };
  }
  return {
    errs: [],
    attrs: {
      user,
      verb: str(asObj(nra).verb),
      resourceRequest: false,
      path: str(asObj(nra).path),
      apiGroup: '',
      apiVersion: '',
      namespace: '',
      resource: '',
      subresource: '',
      name: '',
    },
  };
}

function answer(body: KObject, status: Record<string, unknown>): KObject {
  const { apiVersion, kind, spec } = body;
  return { kind, apiVersion, metadata: { ...(body.metadata ?? {}), creationTimestamp: null }, spec, status } as unknown as KObject;
}

function accessStatus(authorizer: Authorizer, a: Attributes): Record<string, unknown> {
  const d = authorizer.authorize(a);
  return { allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}) };
}

function rulesReview(rbac: RbacAuthorizer | undefined, user: UserInfo, namespace: string): Record<string, unknown> {
  if (!rbac) {
    return {
      resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
      nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
      incomplete: false,
    };
  }
  const { rules, errors: errs } = rbac.rulesFor(user, namespace);
  const resourceRules: PolicyRule[] = [];
  const nonResourceRules: PolicyRule[] = [];
  for (const r of rules) {
    if (r.nonResourceURLs?.length) nonResourceRules.push({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs });
    else
      resourceRules.push({
        verbs: r.verbs,
        ...(r.apiGroups ? { apiGroups: r.apiGroups } : {}),
        ...(r.resources ? { resources: r.resources } : {}),
        ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}),
      });
  }
  return { resourceRules, nonResourceRules, incomplete: errs.length > 0, ...(errs.length ? { evaluationError: errs.join(', ') } : {}) };
}

/** Answers a review POSTed to r (in namespace ns for LocalSubjectAccessReview) by `user`. */
export function review(
  r: ResourceDef,
  ns: string | undefined,
  body: KObject,
  user: UserInfo,
  authorizer: Authorizer,
  rbac: RbacAuthorizer | undefined,
): KObject {
  if (body.kind !== undefined && body.kind !== r.kind) throw errors.badRequest(`the body is a ${JSON.stringify(body.kind)}, this endpoint takes ${r.kind}`);
  body.kind = r.kind;
  body.apiVersion = `${r.group}/${r.version}`;
  const spec = isObj(body.spec) ? body.spec : {};
  const fail = (errs: FieldError[]) => errors.invalid(r.kind, r.group, '', errs);
  switch (r.kind) {
    case 'SelfSubjectReview':
      return answer(body, {
        userInfo: { username: user.name, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups, ...(user.extra ? { extra: user.extra } : {}) },
      });
    case 'SelfSubjectRulesReview':
      return answer(body, rulesReview(rbac, user, str(spec.namespace)));
    case 'SelfSubjectAccessReview': {
      const { attrs, errs } = attributesOf(spec, user);
      if (!attrs) throw fail(errs);
      return answer(body, accessStatus(authorizer, attrs));
    }
    case 'SubjectAccessReview':
    case 'LocalSubjectAccessReview': {
      const groups = Array.isArray(spec.groups) ? spec.groups.map(String) : [];
      const errs: FieldError[] = [];
      if (!str(spec.user) && groups.length === 0) errs.push(invalid('spec.user', str(spec.user), 'at least one of user or group must be specified'));
      const subject: UserInfo = {
        name: str(spec.user),
        groups,
        ...(spec.uid ? { uid: str(spec.uid) } : {}),
        ...(isObj(spec.extra) ? { extra: extraOf(spec.extra) } : {}),
      };
      const { attrs, errs: aerrs } = attributesOf(spec, subject);
      errs.push(...aerrs);
      if (r.kind === 'LocalSubjectAccessReview') {
        if (!isObj(spec.resourceAttributes)) errs.push(invalid('spec.resourceAttributes', null, 'disallowed on this kind of request'));
        else if (str(spec.resourceAttributes.namespace) !== ns) {
          errs.push(invalid('spec.resourceAttributes.namespace', str(spec.resourceAttributes.namespace), `must match metadata.namespace`));
        }
      }
      if (!attrs || errs.length) throw fail(errs);
      return answer(body, accessStatus(authorizer, attrs));
    }
    default:
      throw errors.pathNotFound();
  }
}
