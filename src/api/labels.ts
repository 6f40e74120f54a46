// Label selectors (matchLabels/matchExpressions): matching, and the text kubectl tables show.
import { isQualifiedName, isValidLabelValue } from './validation.js';

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/** Whether a selector converts cleanly (metav1.LabelSelectorAsSelector would not fail): known
 *  operators with the right number of values, qualified-name keys, valid label values. */
export function selectorIsValid(sel: LabelSelector | undefined | null): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    if (isQualifiedName(k).length || isValidLabelValue(String(v)).length) return false;
  }
  for (const e of sel.matchExpressions ?? []) {
    if (!e || !OPERATORS.has(e.operator) || isQualifiedName(String(e.key ?? '')).length) return false;
    const n = e.values?.length ?? 0;
    if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) return false;
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) return false;
    if ((e.values ?? []).some((v) => isValidLabelValue(String(v)).length)) return false;
  }
  return true;
}

/** A selector with neither matchLabels nor matchExpressions matches everything; a missing one nothing. */
export function selectorMatches(sel: LabelSelector | undefined | null, labels: Record<string, string> | undefined): boolean {
  if (!sel) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    if (!(k in l) || l[k] !== v) return false;
  }
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(l[e.key])) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(l[e.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

export function selectorIsEmpty(sel: LabelSelector | undefined | null): boolean {
  return !sel || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0);
}

/** labels.Selector.String() of the converted selector: requirements sorted by key. */
export function selectorString(sel: LabelSelector | undefined | null): string {
  if (!sel) return '';
  const reqs: { key: string; text: string }[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key: k, text: `${k}=${v}` });
  for (const e of sel.matchExpressions ?? []) {
    const values = [...new Set(e.values ?? [])].sort();
    switch (e.operator) {
      case 'In':
        reqs.push({ key: e.key, text: `${e.key} in (${values.join(',')})` });
        break;
      case 'NotIn':
        reqs.push({ key: e.key, text: `${e.key} notin (${values.join(',')})` });
        break;
      case 'Exists':
        reqs.push({ key: e.key, text: e.key });
        break;
      case 'DoesNotExist':
        reqs.push({ key: e.key, text: `!${e.key}` });
        break;
    }
  }
  // A stable sort by key, as labels.Selector keeps its requirements.
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return reqs.map((r) => r.text).join(',');
}

/** metav1.FormatLabelSelector: "<none>" for an empty selector, "<error>" for one that does not convert. */
export function formatLabelSelector(sel: LabelSelector | undefined | null): string {
  if (!selectorIsValid(sel)) return '<error>';
  return selectorString(sel) || '<none>';
}

/** labels.FormatLabels: "k=v,k2=v2" sorted by key, "<none>" when empty. */
export function formatLabels(m: Record<string, string> | undefined | null): string {
  const keys = Object.keys(m ?? {}).sort();
  if (keys.length === 0) return '<none>';
  return keys.map((k) => `${k}=${m![k]}`).join(',');
}
