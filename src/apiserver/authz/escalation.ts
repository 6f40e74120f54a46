// Escalation prevention, as upstream's RBAC storage does it: a Role or ClusterRole may be written only by
// someone who holds every permission in it (or may `escalate` it), a binding only by someone who holds
// the role's permissions (or may `bind` it). system:masters and the server's own components pass.
import { isDeepStrictEqual } from 'node:util';
import type { ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding } from '../../api/types.js';
import { ApiError } from '../../api/status.js';
import type { WriteHooks, WriteTxn } from '../registry.js';
import type { Attributes, UserInfo } from './attributes.js';
import { requestUser } from '../../api/authorization.js';
import { type RbacAuthorizer, SYSTEM_MASTERS } from './rbac.js';
import { ruleString, uncovered } from './rules.js';

const RBAC = 'rbac.authorization.k8s.io';
const NOTHING: WriteTxn = { async commit() {}, async revert() {} };

function forbiddenOn(plural: string, name: string, message: string): ApiError {
  return new ApiError(403, 'Forbidden', `${plural}.${RBAC} ${JSON.stringify(name)} is forbidden: ${message}`, { name, group: RBAC, kind: plural });
}

function allowedTo(rbac: RbacAuthorizer, user: UserInfo, verb: string, resource: string, namespace: string, name: string): boolean {
  const a: Attributes = { user, verb, resourceRequest: true, path: '', apiGroup: RBAC, apiVersion: '', resource, subresource: '', namespace, name };
  return rbac.authorize(a).allowed;
}

function confirmNoEscalation(rbac: RbacAuthorizer, user: UserInfo, plural: string, name: string, namespace: string, rules: PolicyRule[]): void {
  const held = rbac.rulesFor(user, namespace);
  const missing = uncovered(held.rules, rules);
  if (missing.length === 0) return;
  const groups = `[${user.groups.map((g) => JSON.stringify(g)).join(' ')}]`;
  const resolution = held.errors.length ? `; resolution errors: [${held.errors.join(' ')}]` : '';
  throw forbiddenOn(
    plural,
    name,
    `user ${JSON.stringify(user.name)} (groups=${groups}) is attempting to grant RBAC permissions not currently held:\n${missing.map(ruleString).join('\n')}${resolution}`,
  );
}

/** A ClusterRole's aggregationRule; a Role has none. */
const aggregationOf = (o: Role | ClusterRole) => ('aggregationRule' in o ? o.aggregationRule : undefined);

function roleHooks(rbac: RbacAuthorizer, plural: 'roles' | 'clusterroles'): WriteHooks<Role | ClusterRole> {
  const check = (obj: Role | ClusterRole, old?: Role | ClusterRole): WriteTxn => {
    const user = requestUser.getStore();
    if (!user || user.groups.includes(SYSTEM_MASTERS)) return NOTHING;
    const ns = plural === 'roles' ? (obj.metadata.namespace ?? '') : '';
    const name = obj.metadata.name ?? '';
    if (allowedTo(rbac, user, 'escalate', plural, ns, name)) return NOTHING;
    if (old && isDeepStrictEqual(obj.rules ?? [], old.rules ?? []) && isDeepStrictEqual(aggregationOf(obj), aggregationOf(old))) return NOTHING;
    if (plural === 'clusterroles' && aggregationOf(obj)) throw forbiddenOn(plural, name, 'must have cluster-admin privileges to use the aggregationRule');
    confirmNoEscalation(rbac, user, plural, name, ns, obj.rules ?? []);
    return NOTHING;
  };
  return {
    beforeCreate: async (obj) => check(obj),
    beforeUpdate: async (next, cur) => check(next, cur),
    afterDelete: async () => {},
  };
}

function bindingHooks(rbac: RbacAuthorizer, plural: 'rolebindings' | 'clusterrolebindings'): WriteHooks<RoleBinding | ClusterRoleBinding> {
  const check = (obj: RoleBinding | ClusterRoleBinding, old?: RoleBinding | ClusterRoleBinding): WriteTxn => {
    const user = requestUser.getStore();
    if (!user || user.groups.includes(SYSTEM_MASTERS)) return NOTHING;
    if (old && isDeepStrictEqual(obj.subjects, old.subjects) && isDeepStrictEqual(obj.roleRef, old.roleRef)) return NOTHING;
    const ns = plural === 'rolebindings' ? (obj.metadata.namespace ?? '') : '';
    const name = obj.metadata.name ?? '';
    const ref = obj.roleRef ?? {};
    const refPlural = ref.kind === 'Role' ? 'roles' : 'clusterroles';
    if (allowedTo(rbac, user, 'bind', refPlural, ns, ref.name ?? '')) return NOTHING;
    const rules = rbac.roleRules(ref.kind ?? '', ref.name ?? '', ns);
    if (typeof rules === 'string') throw forbiddenOn(plural, name, rules);
    confirmNoEscalation(rbac, user, plural, name, ns, rules);
    return NOTHING;
  };
  return {
    beforeCreate: async (obj) => check(obj),
    beforeUpdate: async (next, cur) => check(next, cur),
    afterDelete: async () => {},
  };
}

/** The registry hooks that refuse escalation, by plural. */
export function escalationHooks(rbac: RbacAuthorizer): [string, WriteHooks][] {
  return [
    ['roles', roleHooks(rbac, 'roles')],
    ['clusterroles', roleHooks(rbac, 'clusterroles')],
    ['rolebindings', bindingHooks(rbac, 'rolebindings')],
    ['clusterrolebindings', bindingHooks(rbac, 'clusterrolebindings')],
  ];
}
