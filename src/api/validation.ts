// Shared validators with Kubernetes' exact rules and messages; is* return detail strings like apimachinery's.
import { isObj, objs } from './narrow.js';
import type { FieldError } from './types.js';
import { duplicate, forbidden, goLabelSelector, invalid, notSupported, required, tooLong, type GoValue } from './fielderror.js';
import { isCIDR, isLinkLocalMulticast, isLinkLocalUnicast, isLoopback, isUnspecified, isV4, parseIP } from './ipaddr.js';
import { isQuantity, parseQuantity } from './quantity.js';

export * from './fielderror.js';

export const DNS1123_LABEL_MAX = 63;
export const DNS1123_SUBDOMAIN_MAX = 253;
export const DNS1035_LABEL_MAX = 63;
export const LABEL_VALUE_MAX = 63;
export const QUALIFIED_NAME_MAX = 63;
export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;
export const FIELD_IMMUTABLE = 'field is immutable';
export const IS_NEGATIVE = 'must be greater than or equal to 0';
export const PROTOCOLS = ['SCTP', 'TCP', 'UDP'] as const;

const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123LabelRe = new RegExp(`^${dns1123LabelFmt}$`);
const dns1123LabelMsg =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const dns1123SubdomainRe = new RegExp(`^${dns1123SubdomainFmt}$`);
const dns1123SubdomainMsg =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const dns1035LabelFmt = '[a-z]([-a-z0-9]*[a-z0-9])?';
const dns1035LabelRe = new RegExp(`^${dns1035LabelFmt}$`);
const dns1035LabelMsg =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const qualifiedNameFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const qualifiedNameRe = new RegExp(`^${qualifiedNameFmt}$`);
const qualifiedNameMsg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const labelValueFmt = `(${qualifiedNameFmt})?`;
const labelValueRe = new RegExp(`^${labelValueFmt}$`);
const labelValueMsg =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const envVarNameFmt = '[-._a-zA-Z][-._a-zA-Z0-9]*';
const envVarNameRe = new RegExp(`^${envVarNameFmt}$`);
const envVarNameMsg = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit";
const relaxedEnvVarNameMsg = "a valid environment variable name must consist only of printable ASCII characters other than '='";
const configMapKeyFmt = '[-._a-zA-Z0-9]+';
const configMapKeyRe = new RegExp(`^${configMapKeyFmt}$`);
const configMapKeyMsg = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const percentFmt = '[0-9]+%';
const percentRe = new RegExp(`^${percentFmt}$`);
const httpHeaderNameFmt = '[-A-Za-z0-9]+';
const httpHeaderNameRe = new RegExp(`^${httpHeaderNameFmt}$`);

/** Length in bytes, as Go's len() counts a string. */
export function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

export function maxLenError(n: number): string {
  return `must be no more than ${n} characters`;
}

export function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${fmt}')`;
}

export function emptyError(): string {
  return 'must be non-empty';
}

export function inclusiveRangeError(lo: number, hi: number): string {
  return `must be between ${lo} and ${hi}, inclusive`;
}

export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_LABEL_MAX) errs.push(maxLenError(DNS1123_LABEL_MAX));
  if (!dns1123LabelRe.test(value)) {
    // A valid subdomain that is not a label can only be failing on dots.
    if (dns1123SubdomainRe.test(value)) errs.push('must not contain dots');
    else errs.push(regexError(dns1123LabelMsg, dns1123LabelFmt, 'my-name', '123-abc'));
  }
  return errs;
}

export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!dns1123SubdomainRe.test(value)) errs.push(regexError(dns1123SubdomainMsg, dns1123SubdomainFmt, 'example.com'));
  return errs;
}

export function isDNS1035Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1035_LABEL_MAX) errs.push(maxLenError(DNS1035_LABEL_MAX));
  if (!dns1035LabelRe.test(value)) errs.push(regexError(dns1035LabelMsg, dns1035LabelFmt, 'my-name', 'abc-123'));
  return errs;
}

/** A qualified name: an optional DNS-subdomain prefix and '/', then a name of at most 63 characters. */
export function isQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0];
  } else if (parts.length === 2) {
    const prefix = parts[0];
    name = parts[1];
    if (prefix.length === 0) errs.push('prefix part ' + emptyError());
    else for (const m of isDNS1123Subdomain(prefix)) errs.push('prefix part ' + m);
  } else {
    return [
      'a qualified name ' +
        regexError(qualifiedNameMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc') +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part ' + emptyError());
  else if (byteLength(name) > QUALIFIED_NAME_MAX) errs.push('name part ' + maxLenError(QUALIFIED_NAME_MAX));
  if (!qualifiedNameRe.test(name)) errs.push('name part ' + regexError(qualifiedNameMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc'));
  return errs;
}

export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > LABEL_VALUE_MAX) errs.push(maxLenError(LABEL_VALUE_MAX));
  if (!labelValueRe.test(value)) errs.push(regexError(labelValueMsg, labelValueFmt, 'MyValue', 'my_value', '12345'));
  return errs;
}

export function isValidPortNum(port: number): string[] {
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? [] : [inclusiveRangeError(1, 65535)];
}

export function isInRange(value: number, lo: number, hi: number): string[] {
  return value >= lo && value <= hi ? [] : [inclusiveRangeError(lo, hi)];
}

/** An IANA service name: at most 15 of [-a-z0-9], at least one letter, no leading/trailing or double '-'. */
export function isValidPortName(port: string): string[] {
  const errs: string[] = [];
  if (byteLength(port) > 15) errs.push(maxLenError(15));
  if (!/^[-a-z0-9]+$/.test(port)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(port)) errs.push('must contain at least one letter (a-z)');
  if (port.includes('--')) errs.push('must not contain consecutive hyphens');
  if (port.length > 0 && (port.startsWith('-') || port.endsWith('-'))) errs.push('must not begin or end with a hyphen');
  return errs;
}

export function isEnvVarName(value: string): string[] {
  const errs: string[] = [];
  if (!envVarNameRe.test(value)) errs.push(regexError(envVarNameMsg, envVarNameFmt, 'my.env-name', 'MY_ENV.NAME', 'MyEnvName1'));
  errs.push(...hasChDirPrefix(value));
  return errs;
}

/** The rule 1.32 applies by default (RelaxedEnvironmentVariableValidation is beta and on). */
export function isRelaxedEnvVarName(value: string): string[] {
  const errs: string[] = [];
  if (value.length === 0) errs.push('environment variable name ' + emptyError());
  for (const ch of value) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c > 0x7e || ch === '=') {
      errs.push(relaxedEnvVarNameMsg);
      break;
    }
  }
  return errs;
}

export function isConfigMapKey(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!configMapKeyRe.test(value)) errs.push(regexError(configMapKeyMsg, configMapKeyFmt, 'key.name', 'KEY_NAME', 'key-name'));
  errs.push(...hasChDirPrefix(value));
  return errs;
}

function hasChDirPrefix(value: string): string[] {
  if (value === '.') return ["must not be '.'"];
  if (value === '..') return ["must not be '..'"];
  if (value.startsWith('..')) return ["must not start with '..'"];
  return [];
}

export function isValidPercent(value: string): string[] {
  return percentRe.test(value) ? [] : [regexError("a valid percent string must be a numeric string followed by an ending '%'", percentFmt, '1%', '93%')];
}

export function isHTTPHeaderName(value: string): string[] {
  return httpHeaderNameRe.test(value)
    ? []
    : [regexError("a valid HTTP header must consist of alphanumeric characters or '-'", httpHeaderNameFmt, 'X-Header-Name')];
}

/** A path segment name (what the generic API server requires of any name): not "." or "..", no "/" or "%". */
export function isValidPathSegmentName(name: string, prefix = false): string[] {
  if (!prefix && (name === '.' || name === '..')) return [`may not be '${name}'`];
  const errs: string[] = [];
  for (const bad of ['/', '%']) if (name.includes(bad)) errs.push(`may not contain '${bad}'`);
  return errs;
}

// ---- field-level validators (return FieldErrors) ----

export function validateIP(field: string, value: string): FieldError[] {
  return parseIP(value) ? [] : [invalid(field, value, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)')];
}

export function validateIPv4(field: string, value: string): FieldError[] {
  const ip = parseIP(value);
  return ip && isV4(ip) ? [] : [invalid(field, value, 'must be a valid IPv4 address')];
}

export function validateIPv6(field: string, value: string): FieldError[] {
  const ip = parseIP(value);
  return ip && !isV4(ip) ? [] : [invalid(field, value, 'must be a valid IPv6 address')];
}

export function validateCIDR(field: string, value: string): FieldError[] {
  return isCIDR(value) ? [] : [invalid(field, value, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)')];
}

/** Endpoints, EndpointSlices and external IPs may not be unspecified, loopback or link-local. */
export function validateNonSpecialIP(field: string, value: string): FieldError[] {
  const ip = parseIP(value);
  if (!ip) return [invalid(field, value, 'must be a valid IP address')];
  const errs: FieldError[] = [];
  if (isUnspecified(ip)) errs.push(invalid(field, value, `may not be unspecified (${value})`));
  if (isLoopback(ip)) errs.push(invalid(field, value, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
  if (isLinkLocalUnicast(ip)) errs.push(invalid(field, value, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'));
  if (isLinkLocalMulticast(ip)) errs.push(invalid(field, value, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'));
  return errs;
}

export function validateFullyQualifiedDomainName(field: string, name: string): FieldError[] {
  if (name.length === 0) return [required(field)];
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  const sub = isDNS1123Subdomain(n);
  if (sub.length) return [invalid(field, n, sub.join(','))];
  const labels = n.split('.');
  if (labels.length < 2) return [invalid(field, n, 'should be a domain with at least two segments separated by dots')];
  for (const l of labels) {
    const e = isDNS1123Label(l);
    if (e.length) return [invalid(field, l, e.join(','))];
  }
  return [];
}

/** Each message of a string check becomes an Invalid error on the field. */
export function each(field: string, value: unknown, messages: string[]): FieldError[] {
  return messages.map((m) => invalid(field, value, m));
}

export function validateDNS1123Label(field: string, value: string): FieldError[] {
  return each(field, value, isDNS1123Label(value));
}

export function validateDNS1123Subdomain(field: string, value: string): FieldError[] {
  return each(field, value, isDNS1123Subdomain(value));
}

export function validateQualifiedName(field: string, value: string): FieldError[] {
  return each(field, value, isQualifiedName(value));
}

export function validateNonnegative(field: string, value: unknown): FieldError[] {
  return typeof value === 'number' && value < 0 ? [invalid(field, value, IS_NEGATIVE)] : [];
}

export function validatePortNumOrName(field: string, port: unknown): FieldError[] {
  if (typeof port === 'number') return each(field, port, isValidPortNum(port));
  if (typeof port === 'string') return each(field, port, isValidPortName(port));
  return [invalid(field, port ?? null, 'must be an integer or a string')];
}

export function validateProtocol(field: string, protocol: unknown): FieldError[] {
  if (protocol === undefined || protocol === null || protocol === '') return [required(field)];
  return (PROTOCOLS as readonly unknown[]).includes(protocol) ? [] : [notSupported(field, protocol, PROTOCOLS)];
}

/** Labels: each key a qualified name, each value a label value (all errors on the map's path). */
export function validateLabels(field: string, labels: unknown): FieldError[] {
  if (!labels || typeof labels !== 'object') return [];
  const errs: FieldError[] = [];
  for (const k of Object.keys(labels).sort()) {
    const v = (labels as Record<string, unknown>)[k];
    errs.push(...each(field, k, isQualifiedName(k)));
    if (typeof v !== 'string') errs.push(invalid(field, v ?? null, 'must be a string'));
    else errs.push(...each(field, v, isValidLabelValue(v)));
  }
  return errs;
}

export function validateLabelName(field: string, key: string): FieldError[] {
  return each(field, key, isQualifiedName(key));
}

/** Annotations: keys are qualified names (case-insensitive), and keys plus values fit in 256 KiB. */
export function validateAnnotations(field: string, annotations: unknown): FieldError[] {
  if (!annotations || typeof annotations !== 'object') return [];
  const errs: FieldError[] = [];
  let total = 0;
  for (const k of Object.keys(annotations).sort()) {
    errs.push(...each(field, k, isQualifiedName(k.toLowerCase())));
    const v = (annotations as Record<string, unknown>)[k];
    total += byteLength(k) + byteLength(typeof v === 'string' ? v : String(v ?? ''));
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push(tooLong(field, TOTAL_ANNOTATION_SIZE_LIMIT));
  return errs;
}

/** A metav1.LabelSelector: matchLabels as labels, each requirement's operator, key and values. */
export function validateLabelSelector(field: string, sel: unknown): FieldError[] {
  if (!isObj(sel)) return [];
  const errs = validateLabels(`${field}.matchLabels`, sel.matchLabels);
  objs(sel.matchExpressions).forEach((e, i) => {
    const p = `${field}.matchExpressions[${i}]`;
    const values: unknown[] = Array.isArray(e?.values) ? e.values : [];
    switch (e?.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) errs.push(required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) errs.push(forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        break;
      default:
        errs.push(invalid(`${p}.operator`, e?.operator ?? '', 'not a valid selector operator'));
    }
    errs.push(...validateLabelName(`${p}.key`, String(e?.key ?? '')));
    values.forEach((v, j) => errs.push(...each(`${p}.values[${j}]`, v, isValidLabelValue(String(v)))));
  });
  return errs;
}

/** Go's Semantic.DeepEqual on the wire form: absent, null and zero values (0, "", false, [], {}) are equal. */
export function semanticEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function normalize(v: unknown): unknown {
  if (Array.isArray(v)) {
    const out = v.map(normalize);
    return out.length ? out : undefined;
  }
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const n = normalize((v as Record<string, unknown>)[k]);
      if (n !== undefined) out[k] = n;
    }
    return Object.keys(out).length ? out : undefined;
  }
  if (v === null || v === 0 || v === '' || v === false) return undefined;
  return v;
}

/** Invalid "field is immutable" when the value changed; render says how the new value prints. */
export function validateImmutable(field: string, next: unknown, old: unknown, render?: (v: unknown) => GoValue | unknown): FieldError[] {
  if (semanticEqual(next, old)) return [];
  return [invalid(field, render ? render(next) : (next ?? ''), FIELD_IMMUTABLE)];
}

export function goSelector(sel: unknown): GoValue {
  return goLabelSelector(sel);
}

/** A quantity that parses and is not negative. */
export function validateQuantity(field: string, value: unknown): FieldError[] {
  const q = parseQuantity(value);
  if (!isQuantity(q)) return [invalid(field, typeof value === 'string' ? value : String(value), q.error)];
  if (q.nanos < 0n) return [invalid(field, typeof value === 'string' ? value : String(value), IS_NEGATIVE)];
  return [];
}

/** Entries with the same key under one path. */
export function uniqueNames(items: { name?: unknown }[], field: (i: number) => string): FieldError[] {
  const seen = new Set<string>();
  const errs: FieldError[] = [];
  items.forEach((it, i) => {
    const n = it?.name;
    if (typeof n !== 'string' || !n) return;
    if (seen.has(n)) errs.push(duplicate(field(i), n));
    seen.add(n);
  });
  return errs;
}
