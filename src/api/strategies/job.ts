// Jobs (batch/v1): the generated selector and pod labels, defaults, spec and pod-failure-policy
// validation, what may change on update, and the table `kubectl get jobs` prints.
import {
  CONTROLLER_UID_LABEL,
  JOB_NAME_LABEL,
  LEGACY_CONTROLLER_UID_LABEL,
  LEGACY_JOB_NAME_LABEL,
  MAX_EXIT_CODE_VALUES,
  MAX_INDEXED_COMPLETIONS,
  MAX_POD_CONDITIONS_PER_RULE,
  MAX_POD_FAILURE_POLICY_RULES,
  trueCondition,
} from '../batch.js';
import { humanDuration } from '../age.js';
import { formatLabelSelector, selectorIsValid, selectorMatches } from '../labels.js';
import type { ResourceStrategy } from '../strategy.js';
import type * as core from 'kubernetes-types/core/v1.js';
import type { FieldError, Incomplete, Job, JobSpec } from '../types.js';
import {
  duplicate,
  forbidden,
  goLabelSelector,
  goStringMap,
  invalid,
  notSupported,
  required,
  semanticEqual,
  tooMany,
  validateImmutable,
  validateLabelSelector,
  validateNonnegative,
  validateQualifiedName,
} from '../validation.js';
import { AGE_COLUMN, age, column, CONTAINERS_COLUMN, containerCells, IMAGES_COLUMN, int, NAME_COLUMN } from './columns.js';
import { arr, fieldsOf, isObj, isOneOf } from '../narrow.js';
import { defaultPodSpec } from './poddefaults.js';
import { validatePodTemplateSpec } from './podspec.js';

const MAX_INT32 = 2_147_483_647;
const ACTIONS = ['Count', 'FailIndex', 'FailJob', 'Ignore'];

/** An Invalid error printed without its value (Go's field.OmitValueType). */
function invalidOmitValue(field: string, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, message: `Invalid value: ${detail}` };
}

const isSet = <T>(v: T): v is NonNullable<T> => v !== undefined && v !== null;

/** The selector and labels Kubernetes generates unless manualSelector: the template carries the Job's
 *  uid and name under both the current and the legacy keys, the selector picks the uid. */
export function generateJobSelector(job: Incomplete<Job>): void {
  const spec = job.spec;
  if (!isObj(spec) || spec.manualSelector === true) return;
  if (!isObj(spec.template)) spec.template = {};
  if (!isObj(spec.template.metadata)) spec.template.metadata = {};
  if (!isObj(spec.template.metadata.labels)) spec.template.metadata.labels = {};
  const labels = spec.template.metadata.labels;
  const uid = job.metadata.uid ?? '';
  const name = job.metadata.name ?? '';
  for (const k of [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL]) if (!(k in labels)) labels[k] = name;
  for (const k of [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL]) if (!(k in labels)) labels[k] = uid;
  if (!isObj(spec.selector)) spec.selector = {};
  if (!isObj(spec.selector.matchLabels)) spec.selector.matchLabels = {};
  if (!(CONTROLLER_UID_LABEL in spec.selector.matchLabels)) spec.selector.matchLabels[CONTROLLER_UID_LABEL] = uid;
}

/** SetDefaults_Job (the template's pod spec defaults included). */
export function defaultJobSpec(spec: Incomplete<JobSpec>): void {
  if (!isObj(spec.template)) spec.template = {};
  if (!isObj(spec.template.spec)) spec.template.spec = {};
  defaultPodSpec(spec.template.spec);
  if (!isSet(spec.completions) && !isSet(spec.parallelism)) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  if (!isSet(spec.parallelism)) spec.parallelism = 1;
  if (!isSet(spec.backoffLimit)) spec.backoffLimit = isSet(spec.backoffLimitPerIndex) ? MAX_INT32 : 6;
  spec.completionMode ||= 'NonIndexed';
  if (!isSet(spec.suspend)) spec.suspend = false;
  if (!isSet(spec.manualSelector)) spec.manualSelector = false;
  for (const rule of arr(spec.podFailurePolicy?.rules)) {
    for (const p of arr(rule?.onPodConditions)) if (isObj(p) && !p.status) p.status = 'True';
  }
  spec.podReplacementPolicy ||= isObj(spec.podFailurePolicy) ? 'Failed' : 'TerminatingOrFailed';
}

function defaults(obj: Incomplete<Job>): void {
  if (!isObj(obj.spec)) obj.spec = {};
  defaultJobSpec(obj.spec);
  const labels = obj.spec.template?.metadata?.labels;
  if (isObj(labels) && (!isObj(obj.metadata.labels) || Object.keys(obj.metadata.labels).length === 0)) obj.metadata.labels = { ...labels };
}

function hasLabel(path: string, labels: Record<string, unknown> | undefined, key: string, want: string): FieldError[] {
  const got = labels?.[key];
  if (got === undefined) return [required(`${path}.labels[${key}]`)];
  if (got !== want) return [invalid(`${path}.labels[${key}]`, got, `must be '${want}'`)];
  return [];
}

/** ValidateGeneratedSelector: without manualSelector the template must carry what generation put there. */
function validateGeneratedSelector(job: Job): FieldError[] {
  const spec = fieldsOf(job.spec);
  if (spec.manualSelector === true || !isSet(spec.selector)) return [];
  const errs: FieldError[] = [];
  const uid = job.metadata.uid ?? '';
  const name = job.metadata.name ?? '';
  if (!uid) errs.push(required('metadata.uid'));
  const templateLabels = spec.template?.metadata?.labels;
  const labels = isObj(templateLabels) ? templateLabels : undefined;
  const path = 'spec.template.metadata';
  errs.push(...hasLabel(path, labels, LEGACY_CONTROLLER_UID_LABEL, uid), ...hasLabel(path, labels, LEGACY_JOB_NAME_LABEL, name));
  errs.push(...hasLabel(path, labels, CONTROLLER_UID_LABEL, uid), ...hasLabel(path, labels, JOB_NAME_LABEL, name));
  if (selectorIsValid(spec.selector) && !selectorMatches(spec.selector, { [CONTROLLER_UID_LABEL]: uid, [JOB_NAME_LABEL]: name })) {
    errs.push(invalid('spec.selector', goLabelSelector(spec.selector), '`selector` not auto-generated'));
  }
  return errs;
}

function containerNames(template: core.PodTemplateSpec | undefined): Set<string> {
  const names = new Set<string>();
  for (const c of [...arr(template?.spec?.containers), ...arr(template?.spec?.initContainers)]) if (typeof c?.name === 'string') names.add(c.name);
  return names;
}

function validatePodFailurePolicy(path: string, spec: Partial<JobSpec>): FieldError[] {
  const pfp = spec.podFailurePolicy;
  if (!isSet(pfp)) return [];
  const errs: FieldError[] = [];
  const rp = spec.template?.spec?.restartPolicy;
  if (rp !== 'Never') errs.push(invalid(`${path}.template.spec.restartPolicy`, rp ?? '', 'only "Never" is supported when podFailurePolicy is specified'));
  const rules = arr(pfp.rules);
  const rulesPath = `${path}.podFailurePolicy.rules`;
  if (rules.length > MAX_POD_FAILURE_POLICY_RULES) return [...errs, tooMany(rulesPath, rules.length, MAX_POD_FAILURE_POLICY_RULES)];
  const names = containerNames(spec.template);
  rules.forEach((rule, i) => {
    const rp = `${rulesPath}[${i}]`;
    const r = fieldsOf(rule);
    if (!isOneOf(ACTIONS, r.action)) errs.push(notSupported(`${rp}.action`, r.action ?? '', ACTIONS));
    else if (r.action === 'FailIndex' && !isSet(spec.backoffLimitPerIndex)) {
      errs.push(invalid(`${rp}.action`, r.action, 'requires the backoffLimitPerIndex to be set'));
    }
    const hasCodes = isSet(r.onExitCodes);
    const hasConds = isSet(r.onPodConditions);
    if (hasCodes && hasConds) errs.push(invalidOmitValue(rp, 'specifying both OnExitCodes and OnPodConditions is not supported'));
    else if (!hasCodes && !hasConds) errs.push(invalidOmitValue(rp, 'specifying one of OnExitCodes and OnPodConditions is required'));
    if (hasCodes) {
      const oc = fieldsOf(r.onExitCodes);
      const op = `${rp}.onExitCodes`;
      if (isSet(oc.containerName) && !names.has(oc.containerName)) {
        errs.push(invalid(`${op}.containerName`, oc.containerName, 'must be one of the container or initContainer names in the pod template'));
      }
      if (oc.operator !== 'In' && oc.operator !== 'NotIn') errs.push(notSupported(`${op}.operator`, oc.operator ?? '', ['In', 'NotIn']));
      const values = arr(oc.values);
      if (values.length === 0) errs.push(invalid(`${op}.values`, values, 'at least one value is required'));
      else if (values.length > MAX_EXIT_CODE_VALUES) errs.push(tooMany(`${op}.values`, values.length, MAX_EXIT_CODE_VALUES));
      else {
        const seen = new Set<number>();
        let prev = -Infinity;
        values.forEach((v, vi) => {
          const vp = `${op}.values[${vi}]`;
          if (oc.operator === 'In' && v === 0) errs.push(invalid(vp, v, 'must not be 0 for the In operator'));
          if (seen.has(v)) errs.push(duplicate(vp, v));
          else if (v < prev) errs.push(invalid(vp, v, 'must be ordered'));
          seen.add(v);
          prev = Math.max(prev, v);
        });
      }
    }
    if (hasConds) {
      const conds = arr(r.onPodConditions);
      const cp = `${rp}.onPodConditions`;
      if (conds.length > MAX_POD_CONDITIONS_PER_RULE) errs.push(tooMany(cp, conds.length, MAX_POD_CONDITIONS_PER_RULE));
      conds.forEach((c, ci) => {
        const p = `${cp}[${ci}]`;
        if (!['False', 'True', 'Unknown'].includes(c?.status)) errs.push(notSupported(`${p}.status`, c?.status ?? '', ['False', 'True', 'Unknown']));
        if (typeof c?.type !== 'string' || c.type === '') errs.push(required(`${p}.type`));
        else errs.push(...validateQualifiedName(`${p}.type`, c.type));
      });
    }
  });
  return errs;
}

/** validateJobSpec: what a Job and a CronJob's jobTemplate share (path is "spec" or "spec.jobTemplate.spec"). */
export function validateJobSpecCommon(path: string, spec: Partial<JobSpec>): FieldError[] {
  const errs: FieldError[] = [];
  for (const k of [
    'parallelism',
    'completions',
    'activeDeadlineSeconds',
    'backoffLimit',
    'ttlSecondsAfterFinished',
    'backoffLimitPerIndex',
    'maxFailedIndexes',
  ] as const) {
    if (isSet(spec[k])) errs.push(...validateNonnegative(`${path}.${k}`, spec[k]));
  }
  const mode = spec.completionMode;
  if (isSet(mode) && mode !== 'NonIndexed' && mode !== 'Indexed') errs.push(notSupported(`${path}.completionMode`, mode, ['NonIndexed', 'Indexed']));
  if (mode === 'Indexed') {
    if (!isSet(spec.completions)) errs.push(required(`${path}.completions`, 'when completion mode is Indexed'));
    else if (spec.completions > MAX_INDEXED_COMPLETIONS) {
      errs.push(invalid(`${path}.completions`, spec.completions, `must be less than or equal to ${MAX_INDEXED_COMPLETIONS} when completion mode is Indexed`));
    }
    if (isSet(spec.parallelism) && spec.parallelism > MAX_INDEXED_COMPLETIONS) {
      errs.push(invalid(`${path}.parallelism`, spec.parallelism, `must be less than or equal to ${MAX_INDEXED_COMPLETIONS} when completion mode is Indexed`));
    }
  }
  if (isSet(spec.backoffLimitPerIndex) && mode !== 'Indexed') errs.push(forbidden(`${path}.backoffLimitPerIndex`, 'requires indexed completion mode'));
  if (isSet(spec.maxFailedIndexes)) {
    if (!isSet(spec.backoffLimitPerIndex)) errs.push(required(`${path}.backoffLimitPerIndex`, 'when maxFailedIndexes is specified'));
    if (isSet(spec.completions) && spec.maxFailedIndexes > spec.completions) {
      errs.push(invalid(`${path}.maxFailedIndexes`, spec.maxFailedIndexes, 'must be less than or equal to completions'));
    }
    if (spec.maxFailedIndexes > MAX_INDEXED_COMPLETIONS) {
      errs.push(invalid(`${path}.maxFailedIndexes`, spec.maxFailedIndexes, `must be less than or equal to ${MAX_INDEXED_COMPLETIONS}`));
    }
  }
  const prp = spec.podReplacementPolicy;
  if (isSet(prp)) {
    if (prp !== 'TerminatingOrFailed' && prp !== 'Failed') errs.push(notSupported(`${path}.podReplacementPolicy`, prp, ['Failed', 'TerminatingOrFailed']));
    else if (prp === 'TerminatingOrFailed' && isSet(spec.podFailurePolicy)) {
      errs.push(notSupported(`${path}.podReplacementPolicy`, prp, ['Failed']));
    }
  }
  errs.push(...validatePodTemplateSpec(`${path}.template`, spec.template));
  const rp = spec.template?.spec?.restartPolicy;
  if (rp !== 'OnFailure' && rp !== 'Never') errs.push(notSupported(`${path}.template.spec.restartPolicy`, rp ?? '', ['OnFailure', 'Never']));
  errs.push(...validatePodFailurePolicy(path, spec));
  return errs;
}

function validate(obj: Job): FieldError[] {
  if (!isObj(obj.spec)) return [required('spec')];
  const spec = obj.spec;
  const errs = [...validateGeneratedSelector(obj), ...validateJobSpecCommon('spec', spec)];
  if (!isSet(spec.selector)) errs.push(required('spec.selector'));
  else {
    errs.push(...validateLabelSelector('spec.selector', spec.selector));
    if (selectorIsValid(spec.selector) && !selectorMatches(spec.selector, spec.template?.metadata?.labels)) {
      errs.push(invalid('spec.template.metadata.labels', goStringMap(spec.template?.metadata?.labels), '`selector` does not match template `labels`'));
    }
  }
  return errs;
}

/** What a suspended Job that never started may change in its template (the scheduling directives). */
function withoutSchedulingDirectives(template: core.PodTemplateSpec | undefined): unknown {
  if (!isObj(template)) return template;
  const { metadata, spec, ...rest } = template;
  const m = isObj(metadata) ? { ...metadata } : metadata;
  if (isObj(m)) {
    delete m.labels;
    delete m.annotations;
  }
  const s = isObj(spec) ? { ...spec } : spec;
  if (isObj(s)) {
    delete s.nodeSelector;
    delete s.tolerations;
    delete s.affinity;
    delete s.schedulingGates;
  }
  return { ...rest, metadata: m, spec: s };
}

function validateUpdate(obj: Job, old: Job): FieldError[] {
  const spec = fieldsOf(obj.spec);
  const o = fieldsOf(old.spec);
  const errs: FieldError[] = [];
  errs.push(...validateImmutable('spec.selector', spec.selector ?? null, o.selector ?? null, (v) => goLabelSelector(v)));
  errs.push(...validateImmutable('spec.completionMode', spec.completionMode ?? null, o.completionMode ?? null));
  errs.push(...validateImmutable('spec.podFailurePolicy', spec.podFailurePolicy ?? null, o.podFailurePolicy ?? null));
  errs.push(...validateImmutable('spec.backoffLimitPerIndex', spec.backoffLimitPerIndex ?? null, o.backoffLimitPerIndex ?? null));
  // Elastic Indexed Jobs: completions may change together with parallelism, kept equal.
  const elastic =
    spec.completionMode === 'Indexed' &&
    isSet(spec.completions) &&
    isSet(o.completions) &&
    spec.completions === spec.parallelism &&
    o.completions === o.parallelism;
  if (!elastic) errs.push(...validateImmutable('spec.completions', spec.completions ?? null, o.completions ?? null));
  const neverStarted = o.suspend === true && !isSet(old.status?.startTime);
  const [a, b] = neverStarted ? [withoutSchedulingDirectives(spec.template), withoutSchedulingDirectives(o.template)] : [spec.template, o.template];
  if (!semanticEqual(a, b)) errs.push(invalid('spec.template', spec.template ?? null, 'field is immutable'));
  return errs;
}

function validateStatus(obj: Job): FieldError[] {
  const st = fieldsOf(obj.status);
  const errs: FieldError[] = [];
  for (const k of ['active', 'succeeded', 'failed', 'ready', 'terminating'] as const) if (isSet(st[k])) errs.push(...validateNonnegative(`status.${k}`, st[k]));
  const finished = arr(st.conditions).some((c) => (c?.type === 'Complete' || c?.type === 'Failed') && c?.status === 'True');
  const complete = arr(st.conditions).some((c) => c?.type === 'Complete' && c?.status === 'True');
  const failed = arr(st.conditions).some((c) => c?.type === 'Failed' && c?.status === 'True');
  if (complete && failed) errs.push(invalidOmitValue('status.conditions', 'cannot set Complete=True and Failed=true conditions'));
  if (isSet(st.completionTime) && !complete) errs.push(invalidOmitValue('status.completionTime', 'completionTime can only be set when Complete=True'));
  if (finished && isSet(st.active) && (st.active ?? 0) > 0) errs.push(invalid('status.active', st.active, 'active>0 is invalid when the job is finished'));
  return errs;
}

function jobStatusText(job: Job): string {
  if (trueCondition(job, 'Complete')) return 'Complete';
  if (trueCondition(job, 'Failed')) return 'Failed';
  if (job.metadata.deletionTimestamp) return 'Terminating';
  if (trueCondition(job, 'Suspended')) return 'Suspended';
  if (trueCondition(job, 'FailureTarget')) return 'FailureTarget';
  if (trueCondition(job, 'SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

function completionsText(job: Job): string {
  const succeeded = int(job.status?.succeeded);
  if (typeof job.spec?.completions === 'number') return `${succeeded}/${job.spec.completions}`;
  const parallelism = int(job.spec?.parallelism);
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

function durationText(job: Job, now: number): string {
  const start = Date.parse(String(job.status?.startTime ?? ''));
  if (!Number.isFinite(start)) return '';
  const end = Date.parse(String(job.status?.completionTime ?? ''));
  return humanDuration((Number.isFinite(end) ? end : now) - start);
}

export const jobStrategy: ResourceStrategy<Job> = {
  prepareForCreate(obj) {
    obj.status = {};
    generateJobSelector(obj);
  },
  defaults,
  validate,
  validateUpdate,
  validateStatus,
  columns: [
    NAME_COLUMN,
    column('Status', 'string', 'Status of the job.'),
    column('Completions', 'string', 'The number of pods which reached phase Succeeded.'),
    column('Duration', 'string', 'Time required to complete the job.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column('Selector', 'string', 'A label query over pods that should match the pod count.', 1),
  ],
  row(obj, now) {
    const job = obj as Job;
    const [names, images] = containerCells(job.spec?.template?.spec?.containers);
    return [
      job.metadata.name ?? '',
      jobStatusText(job),
      completionsText(job),
      durationText(job, now),
      age(obj, now),
      names,
      images,
      formatLabelSelector(job.spec?.selector),
    ];
  },
};
