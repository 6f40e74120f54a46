// PodDisruptionBudgets (policy/v1): spec validation as upstream (minAvailable or maxUnavailable, each a
// non-negative int or a percent ≤ 100%, a valid selector, the eviction policy), status validation, and
// the kubectl table (MIN AVAILABLE, MAX UNAVAILABLE, ALLOWED DISRUPTIONS).
import type { FieldError, PodDisruptionBudget } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { goIntOrString, GoValue, invalid, isValidPercent, notSupported, validateLabelSelector, validateNonnegative } from '../validation.js';
import { AGE_COLUMN, age, column, NAME_COLUMN } from './columns.js';
import { fieldsOf } from '../narrow.js';

export const UNHEALTHY_POD_EVICTION_POLICIES = ['AlwaysAllow', 'IfHealthyBudget'] as const;

/** ValidatePositiveIntOrPercent + IsNotMoreThan100Percent. */
function validateIntOrPercent(field: string, v: unknown): FieldError[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') {
    const errs = isValidPercent(v).map((m) => invalid(field, new GoValue(goIntOrString(v)), m));
    if (!errs.length && Number(v.slice(0, -1)) > 100) errs.push(invalid(field, new GoValue(goIntOrString(v)), 'must not be greater than 100%'));
    return errs;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) return [invalid(field, v, 'must be an integer or a percent string')];
  return validateNonnegative(field, v);
}

const cell = (v: unknown) => (v === undefined || v === null ? 'N/A' : String(v));

export const podDisruptionBudgetStrategy: ResourceStrategy<PodDisruptionBudget> = {
  validate(obj: PodDisruptionBudget) {
    const spec: Record<string, unknown> = fieldsOf(obj.spec);
    const errs: FieldError[] = [];
    const has = (k: string) => spec[k] !== undefined && spec[k] !== null;
    if (has('minAvailable') && has('maxUnavailable'))
      errs.push(invalid('spec', new GoValue('policy.PodDisruptionBudgetSpec'), 'minAvailable and maxUnavailable cannot be both set'));
    errs.push(...validateIntOrPercent('spec.minAvailable', spec.minAvailable));
    errs.push(...validateIntOrPercent('spec.maxUnavailable', spec.maxUnavailable));
    if (has('selector')) errs.push(...validateLabelSelector('spec.selector', spec.selector));
    const policy = spec.unhealthyPodEvictionPolicy;
    if (policy !== undefined && policy !== null && policy !== '' && !(UNHEALTHY_POD_EVICTION_POLICIES as readonly unknown[]).includes(policy)) {
      errs.push(notSupported('spec.unhealthyPodEvictionPolicy', policy, UNHEALTHY_POD_EVICTION_POLICIES));
    }
    return errs;
  },
  validateStatus(obj) {
    const st: Record<string, unknown> = fieldsOf(obj.status);
    return ['disruptionsAllowed', 'currentHealthy', 'desiredHealthy', 'expectedPods', 'observedGeneration'].flatMap((k) =>
      validateNonnegative(`status.${k}`, st[k]),
    );
  },
  columns: [
    NAME_COLUMN,
    column(
      'Min Available',
      'string',
      'The minimum number of pods that must be available simultaneously.  This can be either an integer or a string specifying a percentage, e.g. "28%".',
    ),
    column(
      'Max Unavailable',
      'string',
      'The maximum number of pods that may be unavailable simultaneously.  This can be either an integer or a string specifying a percentage, e.g. "28%".',
    ),
    column('Allowed Disruptions', 'integer', 'Number of pod disruptions that are currently allowed.'),
    AGE_COLUMN,
  ],
  row(obj, now) {
    return [
      obj.metadata.name ?? '',
      cell(obj.spec?.minAvailable),
      cell(obj.spec?.maxUnavailable),
      typeof obj.status?.disruptionsAllowed === 'number' ? obj.status.disruptionsAllowed : 0,
      age(obj, now),
    ];
  },
};
