// ObjectMeta validation for every kind (create and update rules) and generateName.
import { asObj } from './narrow.js';
import { randomInt } from 'node:crypto';
import type { ResourceDef } from './resources.js';
import type { FieldError, KObject, ObjectMeta } from './types.js';
import {
  each,
  FIELD_IMMUTABLE,
  forbidden,
  goQuote,
  goStringSlice,
  GoValue,
  invalid,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidPathSegmentName,
  required,
  validateAnnotations,
  validateLabels,
  validateNonnegative,
} from './validation.js';

/** Checks a name (or, with prefix, a generateName) and returns the detail messages. */
export type NameFn = (name: string, prefix: boolean) => string[];

/** A generateName may end in '-': the last two characters become "a" before checking (as Kubernetes does). */
function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? name.slice(0, -2) + 'a' : name;
}

export const nameIsDNSSubdomain: NameFn = (n, prefix) => isDNS1123Subdomain(prefix ? maskTrailingDash(n) : n);
export const nameIsDNSLabel: NameFn = (n, prefix) => isDNS1123Label(prefix ? maskTrailingDash(n) : n);
export const nameIsDNS1035Label: NameFn = (n, prefix) => isDNS1035Label(prefix ? maskTrailingDash(n) : n);
/** What the generic API server requires of any name (core/v1 Events get only this). */
export const nameIsPathSegment: NameFn = (n, prefix) => isValidPathSegmentName(n, prefix);

/** The name rule of each resource, by plural; DNS-1123 subdomain for the rest. */
const NAME_RULES: Record<string, NameFn> = {
  namespaces: nameIsDNSLabel,
  services: nameIsDNS1035Label,
  events: nameIsPathSegment,
  roles: nameIsPathSegment,
  clusterroles: nameIsPathSegment,
  rolebindings: nameIsPathSegment,
  clusterrolebindings: nameIsPathSegment,
};

export function nameRule(r: Pick<ResourceDef, 'plural'>): NameFn {
  return NAME_RULES[r.plural] ?? nameIsDNSSubdomain;
}

const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

/** Validates metadata on create and update (name per kind, namespace scope, labels, annotations, owners, finalizers). */
export function validateObjectMeta(obj: KObject, r: Pick<ResourceDef, 'plural' | 'namespaced'>): FieldError[] {
  const m: ObjectMeta = obj?.metadata && typeof obj.metadata === 'object' ? obj.metadata : {};
  const nameFn = nameRule(r);
  const errs: FieldError[] = [];
  if (typeof m.generateName === 'string' && m.generateName) {
    errs.push(...each('metadata.generateName', m.generateName, nameFn(m.generateName, true)));
  }
  if (!m.name) errs.push(required('metadata.name', 'name or generateName is required'));
  else errs.push(...each('metadata.name', m.name, nameFn(String(m.name), false)));
  if (r.namespaced) {
    if (!m.namespace) errs.push(required('metadata.namespace'));
    else errs.push(...each('metadata.namespace', m.namespace, nameIsDNSLabel(String(m.namespace), false)));
  } else if (m.namespace) {
    errs.push(forbidden('metadata.namespace', 'not allowed on this type'));
  }
  errs.push(...validateNonnegative('metadata.generation', m.generation));
  errs.push(...validateLabels('metadata.labels', m.labels));
  errs.push(...validateAnnotations('metadata.annotations', m.annotations));
  errs.push(...validateOwnerReferences('metadata.ownerReferences', m.ownerReferences));
  errs.push(...validateFinalizers('metadata.finalizers', m.finalizers, r.plural !== 'events'));
  return errs;
}

function goOwnerReference(ref: unknown): string {
  const o = asObj(ref);
  const ptr = (v: unknown) => (typeof v === 'boolean' ? `(*bool)(${v})` : '(*bool)(nil)');
  return (
    `v1.OwnerReference{APIVersion:${goQuote(String(o.apiVersion ?? ''))}, Kind:${goQuote(String(o.kind ?? ''))}, ` +
    `Name:${goQuote(String(o.name ?? ''))}, UID:${goQuote(String(o.uid ?? ''))}, Controller:${ptr(o.controller)}, ` +
    `BlockOwnerDeletion:${ptr(o.blockOwnerDeletion)}}`
  );
}

/** group and version of an apiVersion as schema.ParseGroupVersion reads it (undefined: unparsable). */
function parseGroupVersion(apiVersion: string): { group: string; version: string } | undefined {
  if (apiVersion === '') return { group: '', version: '' };
  const parts = apiVersion.split('/');
  if (parts.length === 1) return { group: '', version: parts[0] };
  if (parts.length === 2) return { group: parts[0], version: parts[1] };
  return undefined;
}

export function validateOwnerReferences(field: string, refs: unknown): FieldError[] {
  if (!Array.isArray(refs)) return [];
  const errs: FieldError[] = [];
  let firstController = '';
  for (const ref of refs) {
    const apiVersion = String(ref?.apiVersion ?? '');
    const kind = String(ref?.kind ?? '');
    const gv = parseGroupVersion(apiVersion);
    if (!gv?.version) errs.push(invalid(`${field}.apiVersion`, apiVersion, 'version must not be empty'));
    if (!kind) errs.push(invalid(`${field}.kind`, kind, 'kind must not be empty'));
    if (!ref?.name) errs.push(invalid(`${field}.name`, String(ref?.name ?? ''), 'name must not be empty'));
    if (!ref?.uid) errs.push(invalid(`${field}.uid`, String(ref?.uid ?? ''), 'uid must not be empty'));
    if (gv && gv.group === '' && gv.version === 'v1' && kind === 'Event') {
      errs.push(invalid(field, new GoValue(goOwnerReference(ref)), '/v1, Kind=Event is disallowed from being an owner'));
    }
    if (ref?.controller === true) {
      const cur = `${kind}/${ref?.name ?? ''}`;
      if (firstController) {
        errs.push(
          invalid(
            field,
            new GoValue(`[]v1.OwnerReference{${refs.map(goOwnerReference).join(', ')}}`),
            `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${cur}`,
          ),
        );
      } else {
        firstController = cur;
      }
    }
  }
  return errs;
}

/** Finalizer names are qualified names; unprefixed ones must be standard (core API rule, not for Events). */
export function validateFinalizers(field: string, finalizers: unknown, kubeRule = true): FieldError[] {
  if (!Array.isArray(finalizers)) return [];
  const errs: FieldError[] = [];
  for (const f of finalizers) errs.push(...each(field, String(f), isQualifiedName(String(f))));
  if (finalizers.includes('orphan') && finalizers.includes('foregroundDeletion')) {
    errs.push(invalid(field, goStringSlice(finalizers), 'finalizer orphan and foregroundDeletion cannot be both set'));
  }
  if (kubeRule) {
    finalizers.forEach((f, i) => {
      const s = String(f);
      if (!s.includes('/') && !STANDARD_FINALIZERS.has(s)) {
        errs.push(invalid(`${field}[${i}]`, s, 'name is neither a standard finalizer name nor is it fully qualified'));
      }
    });
  }
  return errs;
}

/** Go's time.Time String() for a timestamp, e.g. "2024-05-01 10:00:00 +0000 UTC". */
function goTime(ts: unknown): GoValue | null {
  if (typeof ts !== 'string' || !ts) return null;
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return new GoValue(ts);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const frac = d.getUTCMilliseconds() ? '.' + p(d.getUTCMilliseconds(), 3).replace(/0+$/, '') : '';
  return new GoValue(
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
      `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}${frac} +0000 UTC`,
  );
}

function changed(a: unknown, b: unknown): boolean {
  return (a ?? '') !== (b ?? '');
}

/** Update-only metadata rules: immutable identity fields, no decremented generation, no new
 *  finalizers once deleting. Run validateObjectMeta on the new object as well. */
export function validateObjectMetaUpdate(next: KObject, cur: KObject): FieldError[] {
  const n: ObjectMeta = next?.metadata ?? {};
  const o: ObjectMeta = cur?.metadata ?? {};
  const errs: FieldError[] = [];
  if (o.deletionTimestamp) {
    const old = new Set((o.finalizers ?? []).map(String));
    const extra = [...new Set((n.finalizers ?? []).map(String))].filter((f) => !old.has(f)).sort();
    if (extra.length) {
      errs.push(
        forbidden('metadata.finalizers', `no new finalizers can be added if the object is being deleted, found new finalizers ${goStringSlice(extra).text}`),
      );
    }
  }
  if ((n.generation ?? 0) < (o.generation ?? 0)) errs.push(invalid('metadata.generation', n.generation ?? 0, 'must not be decremented'));
  if (changed(n.name, o.name)) errs.push(invalid('metadata.name', n.name ?? '', FIELD_IMMUTABLE));
  if (changed(n.namespace, o.namespace)) errs.push(invalid('metadata.namespace', n.namespace ?? '', FIELD_IMMUTABLE));
  if (changed(n.uid, o.uid)) errs.push(invalid('metadata.uid', n.uid ?? '', FIELD_IMMUTABLE));
  if (changed(n.creationTimestamp, o.creationTimestamp)) {
    errs.push(invalid('metadata.creationTimestamp', goTime(n.creationTimestamp) ?? new GoValue('0001-01-01 00:00:00 +0000 UTC'), FIELD_IMMUTABLE));
  }
  if (changed(n.deletionTimestamp, o.deletionTimestamp)) {
    errs.push(invalid('metadata.deletionTimestamp', goTime(n.deletionTimestamp), FIELD_IMMUTABLE));
  }
  if (n.deletionGracePeriodSeconds !== o.deletionGracePeriodSeconds) {
    errs.push(invalid('metadata.deletionGracePeriodSeconds', n.deletionGracePeriodSeconds ?? null, FIELD_IMMUTABLE));
  }
  return errs;
}

// generateName: five characters from an alphabet without vowels or look-alikes, after at most 58
// characters of the prefix (so the whole name fits 63).
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
export const MAX_GENERATED_PREFIX = 58;

export function generateNameFrom(prefix: string, random: (n: number) => number = randomInt): string {
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += NAME_ALPHABET[random(NAME_ALPHABET.length)];
  return prefix.slice(0, MAX_GENERATED_PREFIX) + suffix;
}
