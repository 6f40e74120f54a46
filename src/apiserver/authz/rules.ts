// RBAC rule matching as upstream's rbac/v1 helpers define it: verbs, API groups, resources with
// `*` and `*/<subresource>`, resourceNames, non-resource URLs with a trailing `*`; and "covers", the
// escalation check (does one set of rules hold every permission of another).
import type { PolicyRule } from '../../api/types.js';
import type { Attributes } from './attributes.js';

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  for (const v of rule.verbs ?? []) if (v === '*' || v === verb) return true;
  return false;
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  for (const g of rule.apiGroups ?? []) if (g === '*' || g === group) return true;
  return false;
}

export function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (subresource && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) return true;
  }
  return false;
}

export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  const names = rule.resourceNames ?? [];
  if (names.length === 0) return true;
  return names.includes(name);
}

export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.slice(0, -1))) return true;
  }
  return false;
}

/** Does this rule allow the request? */
export function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (a.resourceRequest) {
    const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    return (
      verbMatches(rule, a.verb) && apiGroupMatches(rule, a.apiGroup) && resourceMatches(rule, combined, a.subresource) && resourceNameMatches(rule, a.name)
    );
  }
  return verbMatches(rule, a.verb) && nonResourceURLMatches(rule, a.path);
}

// ---- escalation: does `owner` cover `requested`? (upstream's validation.Covers) ----
// Each requested rule is broken into single-permission rules (one verb, one group, one resource, one
// name or URL); each must be allowed by one owner rule, where owner wildcards match anything but a
// requested wildcard is matched only by an owner wildcard.

function ruleCovers(owner: PolicyRule, sub: PolicyRule): boolean {
  const has = (list: string[] | undefined, v: string) => (list ?? []).includes('*') || (list ?? []).includes(v);
  const verb = sub.verbs![0];
  if (!has(owner.verbs, verb)) return false;
  if (sub.nonResourceURLs?.length) {
    const url = sub.nonResourceURLs[0];
    return (owner.nonResourceURLs ?? []).some((u) => u === '*' || u === url || (u.endsWith('*') && url.startsWith(u.slice(0, -1))));
  }
  if ((owner.nonResourceURLs ?? []).length && !(owner.resources ?? []).length) return false;
  if (!has(owner.apiGroups, sub.apiGroups![0])) return false;
  const res = sub.resources![0];
  const resOk = (owner.resources ?? []).some((r) => {
    if (r === '*' || r === res) return true;
    // "*/scale" covers "deployments/scale"; "pods/*" is not special upstream either way.
    const slash = res.indexOf('/');
    return r.startsWith('*/') && slash > 0 && r.slice(1) === res.slice(slash);
  });
  if (!resOk) return false;
  const ownerNames = owner.resourceNames ?? [];
  if (ownerNames.length === 0) return true;
  const subNames = sub.resourceNames ?? [];
  return subNames.length === 1 && ownerNames.includes(subNames[0]);
}

function breakdown(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  const verbs = rule.verbs ?? [];
  if (rule.nonResourceURLs?.length) {
    for (const v of verbs) for (const u of rule.nonResourceURLs) out.push({ verbs: [v], nonResourceURLs: [u] });
    return out;
  }
  for (const g of rule.apiGroups ?? []) {
    for (const r of rule.resources ?? []) {
      for (const v of verbs) {
        if (rule.resourceNames?.length) for (const n of rule.resourceNames) out.push({ verbs: [v], apiGroups: [g], resources: [r], resourceNames: [n] });
        else out.push({ verbs: [v], apiGroups: [g], resources: [r] });
      }
    }
  }
  return out;
}

/** The requested rules' permissions the owner lacks (empty: covered). */
export function uncovered(owner: readonly PolicyRule[], requested: readonly PolicyRule[]): PolicyRule[] {
  const missing: PolicyRule[] = [];
  for (const r of requested) for (const sub of breakdown(r)) if (!owner.some((o) => ruleCovers(o, sub))) missing.push(sub);
  return missing;
}

/** A rule as upstream's PolicyRule.CompactString prints it, for escalation errors. */
export function ruleString(r: PolicyRule): string {
  const parts: string[] = [];
  const list = (name: string, v: string[] | undefined) => {
    if (v?.length) parts.push(`${name}:[${v.map((x) => JSON.stringify(x)).join(' ')}]`);
  };
  list('APIGroups', r.apiGroups);
  list('Resources', r.resources);
  list('ResourceNames', r.resourceNames);
  list('NonResourceURLs', r.nonResourceURLs);
  list('Verbs', r.verbs);
  return `{${parts.join(', ')}}`;
}
