// Field errors worded as Kubernetes' field.Error, with Go's rendering of the bad value (%q, %v, %#v).
import { isObj, objs } from './narrow.js';
import type { FieldError, FieldErrorType } from './types.js';

/** A bad value already rendered the way Go's %#v prints it (structs, maps, slices). */
export class GoValue {
  constructor(readonly text: string) {}
}

const PRINTABLE = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;

/** Go's strconv.Quote (what %q prints). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c === 7) out += '\\a';
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c === 11) out += '\\v';
    else if (c < 0x80) out += '\\x' + c.toString(16).padStart(2, '0');
    else if (PRINTABLE.test(ch)) out += ch;
    else if (c < 0x10000) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += '\\U' + c.toString(16).padStart(8, '0');
  }
  return out + '"';
}

/** %#v of map[string]string: keys sorted, nil map spelled out. */
export function goStringMap(m: unknown, type = 'map[string]string'): GoValue {
  if (!m || typeof m !== 'object') return new GoValue(`${type}(nil)`);
  const entries = Object.keys(m)
    .sort()
    .map((k) => `${goQuote(k)}:${goQuote(String((m as Record<string, unknown>)[k]))}`);
  return new GoValue(`${type}{${entries.join(', ')}}`);
}

/** %#v of []string. */
export function goStringSlice(a: unknown, type = '[]string'): GoValue {
  if (!Array.isArray(a)) return new GoValue(`${type}(nil)`);
  return new GoValue(`${type}{${a.map((x) => goQuote(String(x))).join(', ')}}`);
}

/** %#v of a metav1.LabelSelector (ErrorBody dereferences the pointer). */
export function goLabelSelector(sel: unknown): GoValue {
  if (!isObj(sel)) return new GoValue('null');
  const exprs = Array.isArray(sel.matchExpressions)
    ? `[]v1.LabelSelectorRequirement{${objs(sel.matchExpressions)
        .map(
          (e) =>
            `v1.LabelSelectorRequirement{Key:${goQuote(String(e?.key ?? ''))}, Operator:${goQuote(String(e?.operator ?? ''))}, Values:${goStringSlice(e?.values).text}}`,
        )
        .join(', ')}}`
    : '[]v1.LabelSelectorRequirement(nil)';
  return new GoValue(`v1.LabelSelector{MatchLabels:${goStringMap(sel.matchLabels).text}, MatchExpressions:${exprs}}`);
}

/** %#v of intstr.IntOrString. */
export function goIntOrString(v: unknown): string {
  if (typeof v === 'string') return `intstr.IntOrString{Type:1, IntVal:0, StrVal:${goQuote(v)}}`;
  const n = typeof v === 'number' ? v : 0;
  return `intstr.IntOrString{Type:0, IntVal:${n}, StrVal:""}`;
}

/** How a value appears after "Invalid value: " and friends. */
export function renderValue(v: unknown): string {
  if (v instanceof GoValue) return v.text;
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  // A JSON value of unexpected shape: show it as JSON rather than inventing Go syntax.
  return JSON.stringify(v);
}

function make(type: FieldErrorType, field: string, message: string): FieldError {
  return { type, field, message };
}

function withDetail(head: string, detail: string): string {
  return detail ? `${head}: ${detail}` : head;
}

export function required(field: string, detail = ''): FieldError {
  return make('FieldValueRequired', field, withDetail('Required value', detail));
}

export function invalid(field: string, value: unknown, detail: string): FieldError {
  return make('FieldValueInvalid', field, withDetail(`Invalid value: ${renderValue(value)}`, detail));
}

export function notSupported(field: string, value: unknown, supported: readonly string[]): FieldError {
  const detail = supported.length ? `supported values: ${supported.map(goQuote).join(', ')}` : '';
  return make('FieldValueNotSupported', field, withDetail(`Unsupported value: ${renderValue(value)}`, detail));
}

export function duplicate(field: string, value: unknown): FieldError {
  return make('FieldValueDuplicate', field, `Duplicate value: ${renderValue(value)}`);
}

export function forbidden(field: string, detail: string): FieldError {
  return make('FieldValueForbidden', field, withDetail('Forbidden', detail));
}

export function tooLong(field: string, maxLength: number): FieldError {
  return make('FieldValueTooLong', field, `Too long: ${maxLength >= 0 ? `may not be more than ${maxLength} bytes` : 'value is too long'}`);
}

export function tooMany(field: string, actual: number, max: number): FieldError {
  const head = actual >= 0 ? `Too many: ${actual}` : 'Too many';
  return make('FieldValueTooMany', field, `${head}: ${max >= 0 ? `must have at most ${max} items` : 'has too many items'}`);
}

export function notFound(field: string, value: unknown): FieldError {
  return make('FieldValueNotFound', field, `Not found: ${renderValue(value)}`);
}

/** The text Kubernetes prints for one error: "<field>: <body>". */
export function errorText(e: FieldError): string {
  return `${e.field}: ${e.message}`;
}
