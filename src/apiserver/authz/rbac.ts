// The RBAC authorizer: an in-memory index of Roles, ClusterRoles and their bindings, fed by informers
// (no store read per request), answering "may this user do this?" as upstream's RBACAuthorizer does;
// system:masters is allowed everything first, as kube-apiserver's privileged-group authorizer does.
import type { ClusterRole, ClusterRoleBinding, KObject, PolicyRule, Role, RoleBinding, Subject } from '../../api/types.js';
import type { Attributes, UserInfo } from './attributes.js';
import { ruleAllows } from './rules.js';

export const SYSTEM_MASTERS = 'system:masters';

export interface Decision {
  allowed: boolean;
  /** Why (allowed: the binding that allowed it; denied: roles a binding names that do not exist). */
  reason: string;
}

export interface Authorizer {
  authorize(a: Attributes): Decision;
}

interface BindingEntry {
  /** "ClusterRoleBinding \"x\"" or "RoleBinding \"ns/x\"", as upstream describes its source. */
  describe: string;
  namespace: string;
  roleKind: string;
  roleName: string;
  subjects: Subject[];
  keys: string[];
}

/** The index key of a subject: users and service accounts by user name, groups by name. */
function subjectKey(s: Subject, bindingNs: string): string | undefined {
  if (s.kind === 'User') return `u:${s.name}`;
  if (s.kind === 'Group') return `g:${s.name}`;
  if (s.kind === 'ServiceAccount') {
    const ns = s.namespace || bindingNs;
    return ns ? `u:system:serviceaccount:${ns}:${s.name}` : undefined;
  }
  return undefined;
}

function describeSubject(s: Subject, bindingNs: string): string {
  if (s.kind === 'ServiceAccount') return `ServiceAccount ${JSON.stringify(`${s.namespace || bindingNs}/${s.name}`)}`;
  return `${s.kind} ${JSON.stringify(s.name)}`;
}

function userKeys(u: UserInfo): string[] {
  return [`u:${u.name}`, ...u.groups.map((g) => `g:${g}`)];
}

type Multi = Map<string, Set<BindingEntry>>;

function addTo(m: Multi, key: string, b: BindingEntry): void {
  let s = m.get(key);
  if (!s) m.set(key, (s = new Set()));
  s.add(b);
}

function removeFrom(m: Multi, key: string, b: BindingEntry): void {
  const s = m.get(key);
  if (!s) return;
  s.delete(b);
  if (s.size === 0) m.delete(key);
}

export class RbacAuthorizer implements Authorizer {
  private clusterRoles = new Map<string, PolicyRule[]>();
  /** namespace → name → rules */
  private roles = new Map<string, Map<string, PolicyRule[]>>();
  private clusterBindings: Multi = new Map();
  /** namespace → subject key → bindings */
  private nsBindings = new Map<string, Multi>();
  /** "crb/<name>" or "rb/<ns>/<name>" → entry, for updates and deletes */
  private byKey = new Map<string, BindingEntry>();

  // ---- feeding ----

  setClusterRole(o: ClusterRole): void {
    this.clusterRoles.set(o.metadata.name!, o.rules ?? []);
  }
  deleteClusterRole(o: KObject): void {
    this.clusterRoles.delete(o.metadata.name!);
  }
  setRole(o: Role): void {
    const ns = o.metadata.namespace ?? '';
    let m = this.roles.get(ns);
    if (!m) this.roles.set(ns, (m = new Map()));
    m.set(o.metadata.name!, o.rules ?? []);
  }
  deleteRole(o: KObject): void {
    const m = this.roles.get(o.metadata.namespace ?? '');
    m?.delete(o.metadata.name!);
    if (m && m.size === 0) this.roles.delete(o.metadata.namespace ?? '');
  }
  setBinding(o: RoleBinding | ClusterRoleBinding, namespaced: boolean): void {
    const ns = namespaced ? (o.metadata.namespace ?? '') : '';
    const key = namespaced ? `rb/${ns}/${o.metadata.name}` : `crb/${o.metadata.name}`;
    this.deleteBindingKey(key);
    const subjects = o.subjects ?? [];
    const entry: BindingEntry = {
      describe: namespaced ? `RoleBinding ${JSON.stringify(`${o.metadata.name}/${ns}`)}` : `ClusterRoleBinding ${JSON.stringify(o.metadata.name)}`,
      namespace: ns,
      roleKind: o.roleRef?.kind ?? '',
      roleName: o.roleRef?.name ?? '',
      subjects,
      keys: [...new Set(subjects.map((s) => subjectKey(s, ns)).filter((k): k is string => k !== undefined))],
    };
    this.byKey.set(key, entry);
    let m = this.clusterBindings;
    if (namespaced) {
      m = this.nsBindings.get(ns) ?? new Map();
      this.nsBindings.set(ns, m);
    }
    for (const k of entry.keys) addTo(m, k, entry);
  }
  deleteBinding(o: KObject, namespaced: boolean): void {
    this.deleteBindingKey(namespaced ? `rb/${o.metadata.namespace}/${o.metadata.name}` : `crb/${o.metadata.name}`);
  }
  private deleteBindingKey(key: string): void {
    const old = this.byKey.get(key);
    if (!old) return;
    this.byKey.delete(key);
    const m = old.namespace ? this.nsBindings.get(old.namespace) : this.clusterBindings;
    if (!m) return;
    for (const k of old.keys) removeFrom(m, k, old);
    if (old.namespace && m.size === 0) this.nsBindings.delete(old.namespace);
  }

  // ---- answering ----

  /** The rules a binding's roleRef names, or why there are none. */
  roleRules(kind: string, name: string, namespace: string): PolicyRule[] | string {
    if (kind === 'ClusterRole') return this.clusterRoles.get(name) ?? `clusterrole.rbac.authorization.k8s.io ${JSON.stringify(name)} not found`;
    if (kind === 'Role') return this.roles.get(namespace)?.get(name) ?? `role.rbac.authorization.k8s.io ${JSON.stringify(name)} not found`;
    return `unsupported role reference kind: ${JSON.stringify(kind)}`;
  }

  /** Calls visit for each binding that applies to the user in namespace ('' = cluster bindings only);
   *  stops when visit returns true. */
  private visitBindings(user: UserInfo, namespace: string, visit: (b: BindingEntry) => boolean): void {
    const keys = userKeys(user);
    const seen = new Set<BindingEntry>();
    const scan = (m: Multi | undefined): boolean => {
      if (!m) return false;
      for (const k of keys) {
        const set = m.get(k);
        if (!set) continue;
        for (const b of set) {
          if (seen.has(b)) continue;
          seen.add(b);
          if (visit(b)) return true;
        }
      }
      return false;
    };
    if (scan(this.clusterBindings)) return;
    if (namespace) scan(this.nsBindings.get(namespace));
  }

  authorize(a: Attributes): Decision {
    if (a.user.groups.includes(SYSTEM_MASTERS)) return { allowed: true, reason: '' };
    const errs: string[] = [];
    let allowed = '';
    this.visitBindings(a.user, a.namespace, (b) => {
      const rules = this.roleRules(b.roleKind, b.roleName, b.namespace);
      if (typeof rules === 'string') {
        errs.push(rules);
        return false;
      }
      for (const r of rules) {
        if (ruleAllows(a, r)) {
          const subject = b.subjects.find((s) => userKeys(a.user).includes(subjectKey(s, b.namespace) ?? ''));
          allowed = `RBAC: allowed by ${b.describe} of ${b.roleKind} ${JSON.stringify(b.roleName)} to ${subject ? describeSubject(subject, b.namespace) : 'the user'}`;
          return true;
        }
      }
      return false;
    });
    if (allowed) return { allowed: true, reason: allowed };
    return { allowed: false, reason: errs.length === 0 ? '' : `RBAC: ${errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`}` };
  }

  /** Every rule the user holds in namespace (cluster-wide ones included), and the bindings' errors. */
  rulesFor(user: UserInfo, namespace: string): { rules: PolicyRule[]; errors: string[] } {
    const rules: PolicyRule[] = [];
    const errors: string[] = [];
    this.visitBindings(user, namespace, (b) => {
      const r = this.roleRules(b.roleKind, b.roleName, b.namespace);
      if (typeof r === 'string') errors.push(r);
      else rules.push(...r);
      return false;
    });
    return { rules, errors };
  }

  /** Sizes, for tests and the benchmark. */
  get counts(): { roles: number; clusterRoles: number; bindings: number } {
    let roles = 0;
    for (const m of this.roles.values()) roles += m.size;
    return { roles, clusterRoles: this.clusterRoles.size, bindings: this.byKey.size };
  }
}

/** Authorization off: every request allowed (the benchmark's anchor; an ApiServer started without an authorizer). */
export const ALWAYS_ALLOW: Authorizer = { authorize: () => ({ allowed: true, reason: '' }) };
