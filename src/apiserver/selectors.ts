// Label selectors (string syntax and metav1.LabelSelector) and field selectors, parsed and matched as
// the Kubernetes API server does for `labelSelector=` and `fieldSelector=` queries.
import { labelKeyErrors, labelValueErrors } from './labelsyntax.js';

export type SelectorErrorCode = 'InvalidLabelSelector' | 'InvalidFieldSelector';

/** A selector that cannot be parsed or is not valid; the API server answers 400 BadRequest. */
export class SelectorError extends Error {
  override readonly name = 'SelectorError';

  constructor(
    readonly code: SelectorErrorCode,
    readonly selector: string,
    message: string,
  ) {
    super(message);
  }
}

// ---- label selectors ----

export type LabelOperator = 'Equals' | 'DoubleEquals' | 'NotEquals' | 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'GreaterThan' | 'LessThan';

export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

export interface LabelSelector {
  /** Requirements sorted by key; all must match. */
  readonly requirements: readonly LabelRequirement[];
  matches(labels: Record<string, string> | undefined): boolean;
  /** True when the selector selects everything (no requirements). */
  isEmpty(): boolean;
  toString(): string;
}

class Requirements implements LabelSelector {
  constructor(
    readonly requirements: readonly LabelRequirement[],
    private readonly nothing = false,
  ) {}

  matches(labels: Record<string, string> | undefined): boolean {
    if (this.nothing) return false;
    return this.requirements.every((r) => requirementMatches(r, labels ?? {}));
  }

  isEmpty(): boolean {
    return !this.nothing && this.requirements.length === 0;
  }

  toString(): string {
    return labelSelectorToString(this);
  }
}

function lookup(labels: Record<string, string>, key: string): string | undefined {
  return Object.hasOwn(labels, key) ? labels[key] : undefined;
}

const INTEGER = /^[+-]?[0-9]+$/;

function requirementMatches(r: LabelRequirement, labels: Record<string, string>): boolean {
  const v = lookup(labels, r.key);
  switch (r.operator) {
    case 'Equals':
    case 'DoubleEquals':
    case 'In':
      return v !== undefined && r.values.includes(v);
    case 'NotEquals':
    case 'NotIn':
      return v === undefined || !r.values.includes(v);
    case 'Exists':
      return v !== undefined;
    case 'DoesNotExist':
      return v === undefined;
    case 'GreaterThan':
    case 'LessThan': {
      if (v === undefined || !INTEGER.test(v) || r.values.length !== 1) return false;
      const have = BigInt(v);
      const want = BigInt(r.values[0]);
      return r.operator === 'GreaterThan' ? have > want : have < want;
    }
  }
}

/** Matches every object: the selector of an empty string. */
export function everything(): LabelSelector {
  return new Requirements([]);
}

/** Matches no object: the selector of a null metav1.LabelSelector. */
export function nothing(): LabelSelector {
  return new Requirements([], true);
}

/** The canonical string form: requirements by key, set values sorted, as Kubernetes prints a selector. */
export function labelSelectorToString(sel: LabelSelector): string {
  return sel.requirements
    .map((r) => {
      switch (r.operator) {
        case 'Exists':
          return r.key;
        case 'DoesNotExist':
          return `!${r.key}`;
        case 'In':
        case 'NotIn':
          return `${r.key} ${r.operator === 'In' ? 'in' : 'notin'} (${[...r.values].sort().join(',')})`;
        default:
          return `${r.key}${OPERATOR_TEXT[r.operator]}${r.values[0] ?? ''}`;
      }
    })
    .join(',');
}

const OPERATOR_TEXT: Partial<Record<LabelOperator, string>> = { Equals: '=', DoubleEquals: '==', NotEquals: '!=', GreaterThan: '>', LessThan: '<' };

function sorted(reqs: LabelRequirement[]): LabelRequirement[] {
  return reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Checks a requirement as Kubernetes' NewRequirement does; returns the problems found. */
function requirementErrors(r: LabelRequirement, path: string): string[] {
  const errs: string[] = [];
  const keyErrs = labelKeyErrors(r.key);
  if (keyErrs.length) errs.push(`${path}key: Invalid value: ${JSON.stringify(r.key)}: ${keyErrs.join('; ')}`);
  const vals = (): string => `${path}values: Invalid value: ${JSON.stringify(r.values)}: `;
  switch (r.operator) {
    case 'In':
    case 'NotIn':
      if (r.values.length === 0) errs.push(`${vals()}for 'in', 'notin' operators, values set can't be empty`);
      break;
    case 'Equals':
    case 'DoubleEquals':
    case 'NotEquals':
      if (r.values.length !== 1) errs.push(`${vals()}exact-match compatibility requires one single value`);
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (r.values.length !== 0) errs.push(`${vals()}values set must be empty for exists and does not exist`);
      break;
    case 'GreaterThan':
    case 'LessThan':
      if (r.values.length !== 1) errs.push(`${vals()}for 'Gt', 'Lt' operators, exactly one value is required`);
      r.values.forEach((v, i) => {
        if (!INTEGER.test(v)) errs.push(`${path}values[${i}]: Invalid value: ${JSON.stringify(v)}: for 'Gt', 'Lt' operators, the value must be an integer`);
      });
      break;
  }
  r.values.forEach((v, i) => {
    const e = labelValueErrors(v);
    if (e.length) errs.push(`${path}values[${i}][${r.key}]: Invalid value: ${JSON.stringify(v)}: ${e.join('; ')}`);
  });
  return errs;
}

// The string syntax:  [!]KEY [ (= | == | != | > | <) VALUE | (in | notin) (VALUE, ...) ] , ...

type Tok = 'ident' | 'end' | '!' | '!=' | '=' | '==' | '(' | ')' | ',' | '>' | '<' | 'in' | 'notin';

interface Token {
  tok: Tok;
  text: string;
}

const SPECIAL = new Set(['=', '!', '(', ')', ',', '>', '<']);
const WHITESPACE = new Set([' ', '\t', '\r', '\n']);

function lex(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  for (;;) {
    while (i < s.length && WHITESPACE.has(s[i])) i++;
    if (i >= s.length) {
      out.push({ tok: 'end', text: '' });
      return out;
    }
    const two = s.slice(i, i + 2);
    if (two === '!=' || two === '==') {
      out.push({ tok: two, text: two });
      i += 2;
    } else if (SPECIAL.has(s[i])) {
      out.push({ tok: s[i] as Tok, text: s[i] });
      i++;
    } else {
      const start = i;
      while (i < s.length && !SPECIAL.has(s[i]) && !WHITESPACE.has(s[i])) i++;
      const text = s.slice(start, i);
      out.push({ tok: text === 'in' || text === 'notin' ? text : 'ident', text });
    }
  }
}

class Parser {
  private pos = 0;
  private readonly toks: Token[];

  constructor(private readonly input: string) {
    this.toks = lex(input);
  }

  /** `in`/`notin` are keywords only where an operator may stand; elsewhere they are identifiers. */
  private peek(asValue = true): Token {
    const t = this.toks[this.pos];
    return asValue && (t.tok === 'in' || t.tok === 'notin') ? { tok: 'ident', text: t.text } : t;
  }

  private next(asValue = true): Token {
    const t = this.peek(asValue);
    this.pos++;
    return t;
  }

  private fail(msg: string): SelectorError {
    return new SelectorError('InvalidLabelSelector', this.input, `unable to parse label selector ${JSON.stringify(this.input)}: ${msg}`);
  }

  parse(): LabelRequirement[] {
    const reqs: LabelRequirement[] = [];
    for (;;) {
      const t = this.peek();
      if (t.tok === 'end') return reqs;
      if (t.tok !== 'ident' && t.tok !== '!') throw this.fail(`found '${t.text}', expected: !, identifier, or 'end of string'`);
      reqs.push(this.requirement());
      const after = this.next();
      if (after.tok === 'end') return reqs;
      if (after.tok !== ',') throw this.fail(`found '${after.text}', expected: ',' or 'end of string'`);
      const t2 = this.peek();
      if (t2.tok !== 'ident' && t2.tok !== '!') throw this.fail(`found '${t2.text}', expected: identifier after ','`);
    }
  }

  private requirement(): LabelRequirement {
    let t = this.next();
    const negated = t.tok === '!';
    if (negated) t = this.next();
    if (t.tok !== 'ident') throw this.fail(`unable to parse requirement: found '${t.text}', expected: identifier`);
    const key = t.text;
    const keyErrs = labelKeyErrors(key);
    if (keyErrs.length) throw this.fail(`unable to parse requirement: key: Invalid value: ${JSON.stringify(key)}: ${keyErrs.join('; ')}`);
    if (negated) return this.checked({ key, operator: 'DoesNotExist', values: [] });
    const ahead = this.peek();
    if (ahead.tok === 'end' || ahead.tok === ',') return this.checked({ key, operator: 'Exists', values: [] });
    const op = this.next(false);
    const operator = (
      { in: 'In', notin: 'NotIn', '=': 'Equals', '==': 'DoubleEquals', '!=': 'NotEquals', '>': 'GreaterThan', '<': 'LessThan' } as Partial<
        Record<Tok, LabelOperator>
      >
    )[op.tok];
    if (!operator) throw this.fail(`unable to parse requirement: found '${op.text}', expected: in, notin, =, ==, !=, gt, lt`);
    const values = operator === 'In' || operator === 'NotIn' ? this.valueSet() : this.exactValue();
    return this.checked({ key, operator, values });
  }

  private checked(r: LabelRequirement): LabelRequirement {
    const errs = requirementErrors(r, '');
    if (errs.length) throw this.fail(`unable to parse requirement: ${errs.join(', ')}`);
    return r;
  }

  /** `(a,b,c)`; empty members are the empty string, duplicates collapse. */
  private valueSet(): string[] {
    const open = this.next();
    if (open.tok !== '(') throw this.fail(`unable to parse requirement: found '${open.text}', expected: '('`);
    const values = new Set<string>();
    let expectValue = true;
    for (;;) {
      const t = this.next();
      if (t.tok === 'ident') {
        if (!expectValue) throw this.fail(`unable to parse requirement: found '${t.text}', expected: ',' or ')'`);
        values.add(t.text);
        expectValue = false;
      } else if (t.tok === ',') {
        if (expectValue) values.add('');
        expectValue = true;
      } else if (t.tok === ')') {
        if (expectValue) values.add('');
        return [...values].sort();
      } else {
        throw this.fail(`unable to parse requirement: found '${t.text}', expected: ',', ')' or identifier`);
      }
    }
  }

  private exactValue(): string[] {
    const t = this.peek();
    if (t.tok === 'end' || t.tok === ',') return [''];
    this.pos++;
    if (t.tok !== 'ident') throw this.fail(`unable to parse requirement: found '${t.text}', expected: identifier`);
    return [t.text];
  }
}

/**
 * Parses the `labelSelector` query syntax: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`,
 * `k>1`, `k<1`, joined by commas (AND), whitespace ignored. Keys and values are checked as label syntax.
 */
export function parseLabelSelector(s: string): LabelSelector {
  return new Requirements(sorted(new Parser(s).parse()));
}

export interface LabelSelectorSpec {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: { key: string; operator: string; values?: string[] | null }[] | null;
}

const SPEC_OPERATORS: Record<string, LabelOperator> = { In: 'In', NotIn: 'NotIn', Exists: 'Exists', DoesNotExist: 'DoesNotExist' };

/**
 * A metav1.LabelSelector as a selector: matchLabels are equalities, matchExpressions use In, NotIn, Exists
 * and DoesNotExist. null/undefined selects nothing; an empty selector selects everything.
 */
export function labelSelectorFromSpec(spec: LabelSelectorSpec | null | undefined): LabelSelector {
  if (spec === null || spec === undefined) return nothing();
  const text = JSON.stringify(spec) ?? '';
  const fail = (msg: string) => new SelectorError('InvalidLabelSelector', text, `invalid label selector: ${msg}`);
  if (typeof spec !== 'object' || Array.isArray(spec)) throw fail('must be an object with matchLabels and/or matchExpressions');
  const reqs: LabelRequirement[] = [];
  const errs: string[] = [];
  const labels = spec.matchLabels ?? {};
  if (typeof labels !== 'object' || Array.isArray(labels)) throw fail('matchLabels must be a map of label keys to values');
  for (const key of Object.keys(labels)) {
    const v = (labels as Record<string, unknown>)[key];
    if (typeof v !== 'string') {
      errs.push(`matchLabels[${JSON.stringify(key)}]: Invalid value: ${JSON.stringify(v) ?? 'undefined'}: must be a string`);
      continue;
    }
    const r: LabelRequirement = { key, operator: 'Equals', values: [v] };
    errs.push(...requirementErrors(r, `matchLabels[${JSON.stringify(key)}].`));
    reqs.push(r);
  }
  const exprs = spec.matchExpressions ?? [];
  if (!Array.isArray(exprs)) throw fail('matchExpressions must be a list');
  exprs.forEach((e, i) => {
    const path = `matchExpressions[${i}].`;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) {
      errs.push(`matchExpressions[${i}]: must be an object with key, operator and values`);
      return;
    }
    const operator = Object.hasOwn(SPEC_OPERATORS, e.operator) ? SPEC_OPERATORS[e.operator] : undefined;
    if (!operator) {
      errs.push(`${path}operator: ${JSON.stringify(e.operator) ?? 'undefined'} is not a valid label selector operator (In, NotIn, Exists, DoesNotExist)`);
      return;
    }
    if (typeof e.key !== 'string') {
      errs.push(`${path}key: Invalid value: ${JSON.stringify(e.key) ?? 'undefined'}: must be a string`);
      return;
    }
    const values = e.values ?? [];
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) {
      errs.push(`${path}values: Invalid value: ${JSON.stringify(values)}: must be a list of strings`);
      return;
    }
    const r: LabelRequirement = { key: e.key, operator, values: [...values] };
    errs.push(...requirementErrors(r, path));
    reqs.push(r);
  });
  if (errs.length) throw fail(errs.join(', '));
  return new Requirements(sorted(reqs));
}

// ---- field selectors ----

export type FieldOperator = '=' | '==' | '!=';

export interface FieldRequirement {
  field: string;
  op: FieldOperator;
  /** The value with its escapes (`\,` `\=` `\\`) resolved. */
  value: string;
}

export interface FieldSelector {
  readonly requirements: readonly FieldRequirement[];
  /** The distinct field names the selector uses, for the server to check against the resource's fields. */
  readonly fields: readonly string[];
  /** Fields absent from the map count as the empty string, as in Kubernetes. */
  matches(fields: Record<string, string>): boolean;
  isEmpty(): boolean;
  toString(): string;
}

/** Escapes a value for a field selector: `\` `,` `=` get a backslash. */
export function escapeFieldValue(v: string): string {
  return v.replace(/[\\,=]/g, (c) => `\\${c}`);
}

/**
 * Parses the `fieldSelector` query syntax: `field=value`, `field==value`, `field!=value`, joined by commas.
 * A value may contain `,` `=` `\` only escaped with a backslash; the field name is taken verbatim.
 */
export function parseFieldSelector(s: string): FieldSelector {
  const fail = (msg: string) => new SelectorError('InvalidFieldSelector', s, `invalid field selector ${JSON.stringify(s)}: ${msg}`);
  const requirements: FieldRequirement[] = [];
  for (const term of splitTerms(s)) {
    if (term === '') continue;
    const m = splitTerm(term);
    if (!m) throw fail(`can't understand '${term}': expected <field>=<value>, <field>==<value> or <field>!=<value>`);
    requirements.push({ field: m.field, op: m.op, value: unescapeValue(m.raw, term, fail) });
  }
  const fields = [...new Set(requirements.map((r) => r.field))];
  return {
    requirements,
    fields,
    matches(have: Record<string, string>): boolean {
      return requirements.every((r) => {
        const v = Object.hasOwn(have, r.field) ? have[r.field] : '';
        return r.op === '!=' ? v !== r.value : v === r.value;
      });
    },
    isEmpty: () => requirements.length === 0,
    toString: () => requirements.map((r) => `${r.field}${r.op === '!=' ? '!=' : '='}${escapeFieldValue(r.value)}`).join(','),
  };
}

/** Splits at commas not escaped by a backslash; escapes stay in the terms. */
function splitTerms(s: string): string[] {
  if (s === '') return [];
  const terms: string[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === ',') {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms;
}

/** The first operator in the term splits it; `!=` and `==` win over `=` at the same place. */
function splitTerm(term: string): { field: string; op: FieldOperator; raw: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of ['!=', '==', '='] as const) {
      if (term.startsWith(op, i)) return { field: term.slice(0, i), op, raw: term.slice(i + op.length) };
    }
  }
  return undefined;
}

function unescapeValue(raw: string, term: string, fail: (m: string) => SelectorError): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\\') {
      const n = raw[i + 1];
      if (n === undefined) throw fail(`in '${term}': invalid escape sequence: a value cannot end with a single '\\'`);
      if (n !== '\\' && n !== ',' && n !== '=') throw fail(`in '${term}': invalid escape sequence: '\\${n}' (only \\\\, \\, and \\= are allowed)`);
      out += n;
      i++;
    } else if (c === ',' || c === '=') {
      throw fail(`in '${term}': unescaped character '${c}' in value: write it as '\\${c}'`);
    } else {
      out += c;
    }
  }
  return out;
}
