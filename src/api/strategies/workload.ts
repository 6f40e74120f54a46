// Shared by Deployments and ReplicaSets: selector/template match, selector immutability, replica status.
import type { Deployment, FieldError, Incomplete, LabelSelector, PodTemplateSpec, StatefulSet } from '../types.js';
import {
  forbidden,
  goLabelSelector,
  goStringMap,
  invalid,
  notSupported,
  required,
  validateImmutable,
  validateLabelSelector,
  validateNonnegative,
} from '../validation.js';
import { selectorIsEmpty, selectorIsValid, selectorMatches } from '../labels.js';
import { fieldsOf, isObj } from '../narrow.js';
import { defaultPodSpec } from './poddefaults.js';
import { validatePodTemplateSpec } from './podspec.js';

/** What the workload kinds share: a pod template, replicas and a selector, each possibly missing before defaults
 *  (a template's containers too: validation reports that). */
type Templated = Incomplete<{ spec: { template: PodTemplateSpec; replicas: number; selector: LabelSelector } }>;

export function defaultTemplate(obj: Templated): void {
  if (!isObj(obj.spec)) obj.spec = {};
  const spec = obj.spec;
  if (!isObj(spec.template)) spec.template = {};
  if (!isObj(spec.template.spec)) spec.template.spec = {};
  defaultPodSpec(spec.template.spec);
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
}

/** Selector required, non-empty and well-formed; the template matches it and validates; pods of a
 *  controller restart Always and have no deadline. kind names the controller in messages. */
export function validateSelectorAndTemplate(spec: { selector?: LabelSelector | null; template?: PodTemplateSpec | null }, kind: 'ReplicaSet'): FieldError[] {
  const errs: FieldError[] = [];
  const sel = spec.selector;
  if (sel === undefined || sel === null) {
    errs.push(required('spec.selector'));
  } else {
    errs.push(...validateLabelSelector('spec.selector', sel));
    if (selectorIsEmpty(sel)) errs.push(invalid('spec.selector', goLabelSelector(sel), 'empty selector is invalid for deployment'));
  }
  if (!selectorIsValid(sel)) {
    errs.push(invalid('spec.selector', goLabelSelector(sel), 'invalid label selector'));
    return errs;
  }
  const template = fieldsOf(spec.template);
  const labels = fieldsOf(template.metadata).labels;
  // A missing selector matches nothing; an empty one everything (and is reported above).
  const matches = sel === undefined || sel === null ? false : selectorIsEmpty(sel) || selectorMatches(sel, labels);
  if (!matches) errs.push(invalid('spec.template.metadata.labels', goStringMap(labels), '`selector` does not match template `labels`'));
  errs.push(...validatePodTemplateSpec('spec.template', template));
  const podSpec = fieldsOf(template.spec);
  const rp = podSpec.restartPolicy;
  if (rp !== 'Always') errs.push(notSupported('spec.template.spec.restartPolicy', rp ?? '', ['Always']));
  if (podSpec.activeDeadlineSeconds !== undefined && podSpec.activeDeadlineSeconds !== null) {
    errs.push(forbidden('spec.template.spec.activeDeadlineSeconds', `activeDeadlineSeconds in ${kind} is not Supported`));
  }
  return errs;
}

/** apps/v1 forbids changing the selector. */
export function validateSelectorImmutable(obj: Templated, old: Templated): FieldError[] {
  return validateImmutable('spec.selector', obj.spec?.selector ?? null, old.spec?.selector ?? null, (v) => goLabelSelector(v));
}

/** Replica counts in status: the listed ones non-negative (in Kubernetes' order), the bounded ones
 *  and ready/available not above status.replicas, available not above ready. */
export function validateReplicaStatus(status: unknown, nonnegative: string[], bounded: string[]): FieldError[] {
  const st = isObj(status) ? status : {};
  const errs: FieldError[] = [];
  for (const k of nonnegative) errs.push(...validateNonnegative(`status.${k}`, st[k]));
  if (typeof st.collisionCount === 'number') errs.push(...validateNonnegative('status.collisionCount', st.collisionCount));
  const replicas = st.replicas ?? 0;
  const msg = 'cannot be greater than status.replicas';
  for (const k of [...bounded, 'readyReplicas', 'availableReplicas']) {
    if ((st[k] ?? 0) > replicas) errs.push(invalid(`status.${k}`, st[k], msg));
  }
  if ((st.availableReplicas ?? 0) > (st.readyReplicas ?? 0)) {
    errs.push(invalid('status.availableReplicas', st.availableReplicas, 'cannot be greater than readyReplicas'));
  }
  return errs;
}

export function validateCollisionCount(obj: Incomplete<Deployment | StatefulSet>, old: Incomplete<Deployment | StatefulSet>): FieldError[] {
  const n = obj.status?.collisionCount;
  const o = old.status?.collisionCount;
  if (typeof o === 'number' && (typeof n !== 'number' || n < o)) return [invalid('status.collisionCount', n ?? 0, 'cannot be decremented')];
  return [];
}
