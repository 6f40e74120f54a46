// Validation of a pod's scheduling constraints as upstream's ValidateAffinity and
// validateTopologySpreadConstraints word it: node selector terms and requirements (In, NotIn, Exists,
// DoesNotExist, Gt, Lt; matchFields only metadata.name), pod (anti-)affinity terms, weights 1-100,
// spread constraints (maxSkew, topologyKey, whenUnsatisfiable, minDomains, the inclusion policies).
import type { FieldError } from '../types.js';
import {
  duplicate,
  forbidden,
  invalid,
  notSupported,
  required,
  validateDNS1123Label,
  validateLabelName,
  validateLabelSelector,
  validateQualifiedName,
} from '../validation.js';
import { arr, isObj } from '../narrow.js';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (isObj(v) ? (v as Json) : {});
const strs = (v: unknown): unknown[] => arr(v);

function validateNodeSelectorRequirement(p: string, r: Json, fieldKey: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const values = strs(r.values);
  const op = r.operator;
  if (fieldKey) {
    if (op !== 'In' && op !== 'NotIn') errs.push(invalid(`${p}.operator`, op ?? '', 'not a valid selector operator'));
    else if (values.length !== 1) errs.push(required(`${p}.values`, "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"));
    if (r.key !== 'metadata.name') errs.push(invalid(`${p}.key`, r.key ?? '', 'not a valid field selector key'));
    return errs;
  }
  switch (op) {
    case 'In':
    case 'NotIn':
      if (!values.length) errs.push(required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (values.length) errs.push(forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
      break;
    case 'Gt':
    case 'Lt':
      if (values.length !== 1) errs.push(required(`${p}.values`, "must be specified single value when `operator` is 'Lt' or 'Gt'"));
      break;
    default:
      errs.push(invalid(`${p}.operator`, op ?? '', 'not a valid selector operator'));
  }
  errs.push(...validateLabelName(`${p}.key`, String(r.key ?? '')));
  return errs;
}

function validateNodeSelectorTerm(p: string, t: Json): FieldError[] {
  return [
    ...arr(t.matchExpressions).flatMap((r, i) => validateNodeSelectorRequirement(`${p}.matchExpressions[${i}]`, obj(r), false)),
    ...arr(t.matchFields).flatMap((r, i) => validateNodeSelectorRequirement(`${p}.matchFields[${i}]`, obj(r), true)),
  ];
}

function validateWeight(p: string, w: unknown): FieldError[] {
  return typeof w === 'number' && Number.isInteger(w) && w >= 1 && w <= 100 ? [] : [invalid(p, w ?? 0, 'must be in the range 1-100')];
}

function validatePodAffinityTerm(p: string, t: Json): FieldError[] {
  const errs: FieldError[] = [];
  errs.push(...validateLabelSelector(`${p}.labelSelector`, t.labelSelector));
  errs.push(...validateLabelSelector(`${p}.namespaceSelector`, t.namespaceSelector));
  strs(t.namespaces).forEach((n, i) => errs.push(...validateDNS1123Label(`${p}.namespaces[${i}]`, String(n))));
  if (!t.topologyKey) errs.push(required(`${p}.topologyKey`, 'can not be empty'));
  else errs.push(...validateQualifiedName(`${p}.topologyKey`, String(t.topologyKey)));
  for (const k of ['matchLabelKeys', 'mismatchLabelKeys']) strs(t[k]).forEach((key, i) => errs.push(...validateQualifiedName(`${p}.${k}[${i}]`, String(key))));
  return errs;
}

function validatePodAffinity(p: string, a: Json): FieldError[] {
  return [
    ...arr(a.requiredDuringSchedulingIgnoredDuringExecution).flatMap((t, i) =>
      validatePodAffinityTerm(`${p}.requiredDuringSchedulingIgnoredDuringExecution[${i}]`, obj(t)),
    ),
    ...arr(a.preferredDuringSchedulingIgnoredDuringExecution).flatMap((w, i) => {
      const q = `${p}.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
      return [...validateWeight(`${q}.weight`, obj(w).weight), ...validatePodAffinityTerm(`${q}.podAffinityTerm`, obj(obj(w).podAffinityTerm))];
    }),
  ];
}

export function validateAffinity(p: string, affinity: unknown): FieldError[] {
  if (!isObj(affinity)) return [];
  const a = obj(affinity);
  const errs: FieldError[] = [];
  if (isObj(a.nodeAffinity)) {
    const na = obj(a.nodeAffinity);
    const q = `${p}.nodeAffinity`;
    if (isObj(na.requiredDuringSchedulingIgnoredDuringExecution)) {
      const terms = arr(obj(na.requiredDuringSchedulingIgnoredDuringExecution).nodeSelectorTerms);
      const tp = `${q}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`;
      if (!terms.length) errs.push(required(tp, 'must have at least one node selector term'));
      terms.forEach((t, i) => errs.push(...validateNodeSelectorTerm(`${tp}[${i}]`, obj(t))));
    }
    arr(na.preferredDuringSchedulingIgnoredDuringExecution).forEach((w, i) => {
      const wp = `${q}.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
      errs.push(...validateWeight(`${wp}.weight`, obj(w).weight));
      errs.push(...validateNodeSelectorTerm(`${wp}.preference`, obj(obj(w).preference)));
    });
  }
  if (isObj(a.podAffinity)) errs.push(...validatePodAffinity(`${p}.podAffinity`, obj(a.podAffinity)));
  if (isObj(a.podAntiAffinity)) errs.push(...validatePodAffinity(`${p}.podAntiAffinity`, obj(a.podAntiAffinity)));
  return errs;
}

const WHEN = ['DoNotSchedule', 'ScheduleAnyway'];
const POLICIES = ['Honor', 'Ignore'];

export function validateTopologySpreadConstraints(p: string, list: unknown): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  arr(list).forEach((raw, i) => {
    const c = obj(raw);
    const q = `${p}[${i}]`;
    if (!(typeof c.maxSkew === 'number' && Number.isInteger(c.maxSkew) && c.maxSkew > 0))
      errs.push(invalid(`${q}.maxSkew`, c.maxSkew ?? 0, 'must be greater than zero'));
    if (!c.topologyKey) errs.push(required(`${q}.topologyKey`, 'can not be empty'));
    else errs.push(...validateQualifiedName(`${q}.topologyKey`, String(c.topologyKey)));
    if (!WHEN.includes(String(c.whenUnsatisfiable ?? ''))) errs.push(notSupported(`${q}.whenUnsatisfiable`, c.whenUnsatisfiable ?? '', WHEN));
    if (c.minDomains !== undefined && c.minDomains !== null) {
      if (!(typeof c.minDomains === 'number' && Number.isInteger(c.minDomains) && c.minDomains > 0))
        errs.push(invalid(`${q}.minDomains`, c.minDomains, 'must be greater than 0'));
      else if (c.whenUnsatisfiable !== 'DoNotSchedule')
        errs.push(invalid(`${q}.minDomains`, c.minDomains, 'can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway'));
    }
    for (const k of ['nodeAffinityPolicy', 'nodeTaintsPolicy']) {
      if (c[k] !== undefined && c[k] !== null && !POLICIES.includes(String(c[k]))) errs.push(notSupported(`${q}.${k}`, c[k], POLICIES));
    }
    errs.push(...validateLabelSelector(`${q}.labelSelector`, c.labelSelector));
    strs(c.matchLabelKeys).forEach((k, j) => errs.push(...validateLabelName(`${q}.matchLabelKeys[${j}]`, String(k))));
    const pair = `${c.topologyKey}\u0000${c.whenUnsatisfiable}`;
    if (c.topologyKey && seen.has(pair)) errs.push(duplicate(`${q}.{topologyKey, whenUnsatisfiable}`, `{${c.topologyKey}, ${c.whenUnsatisfiable}}`));
    seen.add(pair);
  });
  return errs;
}
