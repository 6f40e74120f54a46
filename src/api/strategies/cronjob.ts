// CronJobs (batch/v1): defaults, schedule / time zone / job template validation, and the table
// `kubectl get cronjobs` prints.
import { since } from '../age.js';
import { CronError, isValidTimeZone, parseCron } from '../cron.js';
import { formatLabelSelector } from '../labels.js';
import type { ResourceStrategy } from '../strategy.js';
import type { CronJob, FieldError, Incomplete } from '../types.js';
import { invalid, notSupported, required, validateAnnotations, validateLabels, validateNonnegative } from '../validation.js';
import { AGE_COLUMN, age, column, CONTAINERS_COLUMN, containerCells, IMAGES_COLUMN, NAME_COLUMN } from './columns.js';
import { isObj, fieldsOf } from '../narrow.js';
import { defaultPodSpec } from './poddefaults.js';
import { validateJobSpecCommon } from './job.js';

/** A Job name is `<cronjob>-<minutes>`: 11 characters are kept for the suffix of a DNS-1035 label. */
export const MAX_CRONJOB_NAME = 52;
const POLICIES = ['Allow', 'Forbid', 'Replace'];
const TZ_PART = /^[A-Za-z.\-_0-9+]{1,14}$/;

const isSet = (v: unknown): boolean => v !== undefined && v !== null;

function defaults(obj: Incomplete<CronJob>): void {
  if (!isObj(obj.spec)) obj.spec = {};
  const spec = obj.spec;
  spec.concurrencyPolicy ||= 'Allow';
  if (!isSet(spec.suspend)) spec.suspend = false;
  if (!isSet(spec.successfulJobsHistoryLimit)) spec.successfulJobsHistoryLimit = 3;
  if (!isSet(spec.failedJobsHistoryLimit)) spec.failedJobsHistoryLimit = 1;
  if (!isObj(spec.jobTemplate)) spec.jobTemplate = {};
  if (!isObj(spec.jobTemplate.spec)) spec.jobTemplate.spec = {};
  const js = spec.jobTemplate.spec;
  if (!isObj(js.template)) js.template = {};
  if (!isObj(js.template.spec)) js.template.spec = {};
  defaultPodSpec(js.template.spec);
}

/** validateTimeZone: an explicit IANA name the tz database knows. */
export function validateTimeZone(field: string, tz: unknown): FieldError[] {
  if (!isSet(tz)) return [];
  if (typeof tz !== 'string' || tz.length === 0) return [invalid(field, tz ?? '', 'timeZone must be nil or non-empty string')];
  if (tz.toLowerCase() === 'local') return [invalid(field, tz, 'timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones')];
  if (tz.split('/').some((p) => p === '.' || p === '..' || p.startsWith('-') || !TZ_PART.test(p)) || !isValidTimeZone(tz)) {
    return [invalid(field, tz, `unknown time zone ${tz}`)];
  }
  return [];
}

/** The schedule parses as cron.ParseStandard; TZ= and CRON_TZ= belong in spec.timeZone, except on an
 *  object whose stored schedule already had one (allowTz). */
export function validateSchedule(field: string, schedule: unknown, allowTz: boolean, timeZone: unknown): FieldError[] {
  if (typeof schedule !== 'string' || schedule.length === 0) return [required(field)];
  const errs: FieldError[] = [];
  try {
    parseCron(schedule);
  } catch (e) {
    if (!(e instanceof CronError)) throw e;
    errs.push(invalid(field, schedule, e.message));
  }
  if (schedule.includes('TZ')) {
    if (!allowTz) errs.push(invalid(field, schedule, 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead'));
    else if (isSet(timeZone)) errs.push(invalid(field, schedule, 'cannot use both timeZone field and TZ or CRON_TZ in schedule'));
  }
  return errs;
}

function validateSpec(obj: CronJob, allowTz: boolean): FieldError[] {
  if (!isObj(obj.spec)) return [required('spec')];
  const spec = obj.spec;
  const errs: FieldError[] = [];
  const name = obj.metadata.name ?? '';
  if (name.length > MAX_CRONJOB_NAME) errs.push(invalid('metadata.name', name, `must be no more than ${MAX_CRONJOB_NAME} characters`));
  errs.push(...validateSchedule('spec.schedule', spec.schedule, allowTz, spec.timeZone));
  errs.push(...validateTimeZone('spec.timeZone', spec.timeZone));
  if (isSet(spec.startingDeadlineSeconds)) errs.push(...validateNonnegative('spec.startingDeadlineSeconds', spec.startingDeadlineSeconds));
  if (!spec.concurrencyPolicy) errs.push(required('spec.concurrencyPolicy'));
  else if (!POLICIES.includes(spec.concurrencyPolicy)) errs.push(notSupported('spec.concurrencyPolicy', spec.concurrencyPolicy, POLICIES));
  for (const k of ['successfulJobsHistoryLimit', 'failedJobsHistoryLimit'] as const) {
    if (isSet(spec[k])) errs.push(...validateNonnegative(`spec.${k}`, spec[k]));
  }
  const jt = fieldsOf(spec.jobTemplate);
  const meta = fieldsOf(jt.metadata);
  errs.push(
    ...validateLabels('spec.jobTemplate.metadata.labels', meta.labels),
    ...validateAnnotations('spec.jobTemplate.metadata.annotations', meta.annotations),
  );
  const js = fieldsOf(jt.spec);
  errs.push(...validateJobSpecCommon('spec.jobTemplate.spec', js));
  if (isSet(js.selector)) errs.push(invalid('spec.jobTemplate.spec.selector', JSON.stringify(js.selector), '`selector` will be auto-generated'));
  if (js.manualSelector === true) errs.push(notSupported('spec.jobTemplate.spec.manualSelector', true, ['nil', 'false']));
  return errs;
}

export const cronJobStrategy: ResourceStrategy<CronJob> = {
  prepareForCreate(obj) {
    obj.status = {};
  },
  defaults,
  // TZ= in a schedule is refused on every write: k8ts never stored one, so no old object needs it kept.
  validate: (obj) => validateSpec(obj, false),
  columns: [
    NAME_COLUMN,
    column('Schedule', 'string', 'The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.'),
    column('Timezone', 'string', 'The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.'),
    column('Suspend', 'boolean', 'This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.'),
    column('Active', 'integer', 'A list of pointers to currently running jobs.'),
    column('Last Schedule', 'string', 'Information when was the last time the job was successfully scheduled.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column('Selector', 'string', 'A label query over pods that should match the pod count.', 1),
  ],
  row(obj, now) {
    const cj = obj as CronJob;
    const spec = cj.spec;
    const [names, images] = containerCells(spec?.jobTemplate?.spec?.template?.spec?.containers);
    const suspend = typeof spec?.suspend === 'boolean' ? (spec.suspend ? 'True' : 'False') : '<unset>';
    const last = cj.status?.lastScheduleTime ? since(cj.status.lastScheduleTime, now) : '<none>';
    return [
      cj.metadata.name ?? '',
      spec?.schedule ?? '',
      spec?.timeZone ?? '<none>',
      suspend,
      Array.isArray(cj.status?.active) ? cj.status.active.length : 0,
      last,
      age(obj, now),
      names,
      images,
      formatLabelSelector(spec?.jobTemplate?.spec?.selector),
    ];
  },
};
