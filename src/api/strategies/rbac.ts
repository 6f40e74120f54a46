// Roles, ClusterRoles and their bindings (rbac.authorization.k8s.io/v1): upstream's validation and
// defaults, and the tables kubectl prints (NAME / CREATED AT; NAME / ROLE / AGE, subjects with -o wide).
import type { ClusterRole, ClusterRoleBinding, FieldError, Incomplete, KObject, Role, RoleBinding } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { goStringSlice, invalid, isValidPathSegmentName, notSupported, required, validateLabelSelector, isDNS1123Subdomain, each } from '../validation.js';
import { AGE_COLUMN, age, column, NAME_COLUMN } from './columns.js';
import { arr, fieldsOf, isObj, objs } from '../narrow.js';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

function validateRule(rule: unknown, i: number, namespaced: boolean): FieldError[] {
  const p = `rules[${i}]`;
  const errs: FieldError[] = [];
  if (!isObj(rule)) return [invalid(p, rule, 'must be an object')];
  if (arr(rule.verbs).length === 0) errs.push(required(`${p}.verbs`, 'verbs must contain at least one value'));
  const urls = arr(rule.nonResourceURLs);
  if (urls.length > 0) {
    if (namespaced) errs.push(invalid(`${p}.nonResourceURLs`, goStringSlice(urls), 'namespaced rules cannot apply to non-resource URLs'));
    if (arr(rule.apiGroups).length || arr(rule.resources).length || arr(rule.resourceNames).length) {
      errs.push(invalid(`${p}.nonResourceURLs`, goStringSlice(urls), 'rules cannot apply to both regular resources and non-resource URLs'));
    }
    return errs;
  }
  if (arr(rule.apiGroups).length === 0) errs.push(required(`${p}.apiGroups`, 'resource rules must supply at least one api group'));
  if (arr(rule.resources).length === 0) errs.push(required(`${p}.resources`, 'resource rules must supply at least one resource'));
  return errs;
}

function validateRules(obj: Role | ClusterRole, namespaced: boolean): FieldError[] {
  return arr(obj.rules).flatMap((r, i) => validateRule(r, i, namespaced));
}

function validateRoleRef(ref: unknown, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const r = isObj(ref) ? ref : {};
  if (r.apiGroup !== RBAC_GROUP) errs.push(notSupported('roleRef.apiGroup', r.apiGroup ?? '', [RBAC_GROUP]));
  const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
  if (typeof r.kind !== 'string' || !kinds.includes(r.kind)) errs.push(notSupported('roleRef.kind', r.kind ?? '', kinds));
  if (!r.name) errs.push(required('roleRef.name'));
  else errs.push(...each('roleRef.name', r.name, isValidPathSegmentName(String(r.name))));
  return errs;
}

function validateSubjects(subjects: unknown, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  arr(subjects).forEach((s: unknown, i: number) => {
    const p = `subjects[${i}]`;
    if (!isObj(s)) return errs.push(invalid(p, s, 'must be an object'));
    if (!s.name) errs.push(required(`${p}.name`));
    switch (s.kind) {
      case 'ServiceAccount':
        if (s.name) errs.push(...each(`${p}.name`, s.name, isDNS1123Subdomain(String(s.name))));
        if (s.apiGroup) errs.push(notSupported(`${p}.apiGroup`, s.apiGroup, ['']));
        if (!namespaced && !s.namespace) errs.push(required(`${p}.namespace`));
        break;
      case 'User':
      case 'Group':
        if (s.apiGroup !== RBAC_GROUP) errs.push(notSupported(`${p}.apiGroup`, s.apiGroup ?? '', [RBAC_GROUP]));
        break;
      default:
        errs.push(notSupported(`${p}.kind`, s.kind ?? '', ['ServiceAccount', 'User', 'Group']));
    }
  });
  return errs;
}

/** Subjects' apiGroup as v1 defaults it: "" for service accounts, the RBAC group for users and groups. */
function defaultBinding(obj: Incomplete<RoleBinding | ClusterRoleBinding>): void {
  for (const s of arr(obj.subjects)) {
    if (isObj(s) && s.apiGroup === undefined) s.apiGroup = s.kind === 'ServiceAccount' ? '' : s.kind === 'User' || s.kind === 'Group' ? RBAC_GROUP : undefined;
  }
  if (isObj(obj.roleRef) && !obj.roleRef.apiGroup) obj.roleRef.apiGroup = RBAC_GROUP;
}

const CREATED_AT = column('Created At', 'date', 'Time when this object was created.');

function createdAt(obj: KObject): string {
  return obj.metadata.creationTimestamp ?? '';
}

const roleTable = {
  columns: [NAME_COLUMN, CREATED_AT],
  row(obj: KObject) {
    return [obj.metadata.name ?? '', createdAt(obj)];
  },
};

/** Users, groups and service accounts of a binding, as kubectl's wide columns print them. */
export function subjectCells(subjects: unknown): [string, string, string] {
  const users: string[] = [];
  const groups: string[] = [];
  const sas: string[] = [];
  for (const s of objs(subjects)) {
    const name = String(s.name ?? '');
    if (s.kind === 'User') users.push(name);
    else if (s.kind === 'Group') groups.push(name);
    else if (s.kind === 'ServiceAccount') sas.push(`${String(s.namespace ?? '')}/${name}`);
  }
  return [users.join(', '), groups.join(', '), sas.join(', ')];
}

const bindingTable = {
  columns: [
    NAME_COLUMN,
    column('Role', 'string', 'Role'),
    AGE_COLUMN,
    column('Users', 'string', 'Users in the roleBinding', 1),
    column('Groups', 'string', 'Groups in the roleBinding', 1),
    column('ServiceAccounts', 'string', 'ServiceAccounts in the roleBinding', 1),
  ],
  row(obj: RoleBinding | ClusterRoleBinding, now: number) {
    const ref = fieldsOf(obj.roleRef);
    return [obj.metadata.name ?? '', `${ref.kind ?? ''}/${ref.name ?? ''}`, age(obj, now), ...subjectCells(obj.subjects)];
  },
};

const immutableRoleRef = (obj: RoleBinding | ClusterRoleBinding, old: RoleBinding | ClusterRoleBinding): FieldError[] =>
  JSON.stringify(obj.roleRef ?? null) === JSON.stringify(old.roleRef ?? null) ? [] : [invalid('roleRef', obj.roleRef, 'cannot change roleRef')];

export const roleStrategy: ResourceStrategy<Role> = { ...roleTable, validate: (obj) => validateRules(obj, true) };

export const clusterRoleStrategy: ResourceStrategy<ClusterRole> = {
  ...roleTable,
  validate(obj) {
    const errs = validateRules(obj, false);
    if (obj.aggregationRule !== undefined && obj.aggregationRule !== null) {
      const sels = arr(obj.aggregationRule?.clusterRoleSelectors);
      if (sels.length === 0)
        errs.push(required('aggregationRule.clusterRoleSelectors', 'at least one clusterRoleSelector required if aggregationRule is non-nil'));
      sels.forEach((s, i) => errs.push(...validateLabelSelector(`aggregationRule.clusterRoleSelectors[${i}]`, s)));
    }
    return errs;
  },
};

export const roleBindingStrategy: ResourceStrategy<RoleBinding> = {
  ...bindingTable,
  defaults: defaultBinding,
  validate: (obj) => [...validateRoleRef(obj.roleRef, true), ...validateSubjects(obj.subjects, true)],
  validateUpdate: immutableRoleRef,
};

export const clusterRoleBindingStrategy: ResourceStrategy<ClusterRoleBinding> = {
  ...bindingTable,
  defaults: defaultBinding,
  validate: (obj) => [...validateRoleRef(obj.roleRef, false), ...validateSubjects(obj.subjects, false)],
  validateUpdate: immutableRoleRef,
};
