// batch/v1 names and small facts shared by the API (defaults, validation, tables) and the Job, CronJob and
// TTL controllers: the labels and annotations Kubernetes puts on Jobs' pods, and how a Job's state reads.
import type { Job, JobCondition } from './types.js';

export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';
export const LEGACY_CONTROLLER_UID_LABEL = 'controller-uid';
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const LEGACY_JOB_NAME_LABEL = 'job-name';
export const JOB_COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';
export const JOB_INDEX_FAILURE_COUNT = 'batch.kubernetes.io/job-index-failure-count';
export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
export const CRONJOB_SCHEDULED_TIMESTAMP = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
export const JOB_COMPLETION_INDEX_ENV = 'JOB_COMPLETION_INDEX';
/** Indexed Jobs: at most this many completions (and parallelism). */
export const MAX_INDEXED_COMPLETIONS = 100_000;
export const MAX_POD_FAILURE_POLICY_RULES = 20;
export const MAX_EXIT_CODE_VALUES = 255;
export const MAX_POD_CONDITIONS_PER_RULE = 20;

export type JobConditionType = 'Complete' | 'Failed' | 'Suspended' | 'FailureTarget' | 'SuccessCriteriaMet';

/** The condition of that type when its status is True. */
export function trueCondition(job: Pick<Job, 'status'>, type: JobConditionType): JobCondition | undefined {
  return (Array.isArray(job.status?.conditions) ? job.status.conditions : []).find((c) => c?.type === type && c.status === 'True');
}

/** Complete or Failed: the Job is done, its pods are no longer tracked. */
export function finishedCondition(job: Pick<Job, 'status'>): JobCondition | undefined {
  return trueCondition(job, 'Complete') ?? trueCondition(job, 'Failed');
}

/** "1,3-5,7": the compressed index list Kubernetes writes in completedIndexes/failedIndexes. */
export function formatIndexes(sorted: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    out.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** The indexes of "1,3-5" below limit (malformed parts are skipped, as upstream's parser does). */
export function parseIndexes(text: string | undefined, limit: number): Set<number> {
  const out = new Set<number>();
  if (!text) return out;
  for (const part of text.split(',')) {
    const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(part);
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let i = a; i <= b && i < limit; i++) out.add(i);
  }
  return out;
}
