// Deployments: apps/v1 defaults, spec and strategy validation, immutable selector, status, table.
import { intOrPercentValue } from '../intstr.js';
import type { Deployment, FieldError, Incomplete } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import {
  forbidden,
  goIntOrString,
  goQuote,
  GoValue,
  invalid,
  isValidPercent,
  notSupported,
  required,
  semanticEqual,
  validateNonnegative,
} from '../validation.js';
import { selectorIsValid, selectorString } from '../labels.js';
import { AGE_COLUMN, age, column, CONTAINERS_COLUMN, containerCells, docColumn, IMAGES_COLUMN, int, NAME_COLUMN } from './columns.js';
import { isObj, fieldsOf } from '../narrow.js';
import { defaultTemplate, validateCollisionCount, validateReplicaStatus, validateSelectorAndTemplate, validateSelectorImmutable } from './workload.js';

function defaults(obj: Incomplete<Deployment>): void {
  defaultTemplate(obj);
  const spec = (obj.spec ??= {});
  if (!isObj(spec.strategy)) spec.strategy = {};
  spec.strategy.type ||= 'RollingUpdate';
  if (spec.strategy.type === 'RollingUpdate') {
    if (!isObj(spec.strategy.rollingUpdate)) spec.strategy.rollingUpdate = {};
    const ru = spec.strategy.rollingUpdate;
    if (ru.maxUnavailable === undefined || ru.maxUnavailable === null) ru.maxUnavailable = '25%';
    if (ru.maxSurge === undefined || ru.maxSurge === null) ru.maxSurge = '25%';
  }
  if (spec.revisionHistoryLimit === undefined || spec.revisionHistoryLimit === null) spec.revisionHistoryLimit = 10;
  if (spec.progressDeadlineSeconds === undefined || spec.progressDeadlineSeconds === null) spec.progressDeadlineSeconds = 600;
}

function validatePositiveIntOrPercent(field: string, v: unknown): FieldError[] {
  if (typeof v === 'string') return isValidPercent(v).map((m) => invalid(field, new GoValue(goIntOrString(v)), m));
  if (typeof v === 'number') return validateNonnegative(field, v);
  return [invalid(field, v ?? null, "must be an integer or percentage (e.g '5%%')")];
}

function notOver100(field: string, v: unknown): FieldError[] {
  if (typeof v === 'string' && isValidPercent(v).length === 0 && Number(v.slice(0, -1)) > 100) {
    return [invalid(field, new GoValue(goIntOrString(v)), 'must not be greater than 100%')];
  }
  return [];
}

function validateStrategy(strategy: unknown): FieldError[] {
  const s = isObj(strategy) ? strategy : {};
  switch (s.type) {
    case 'Recreate':
      return s.rollingUpdate !== undefined && s.rollingUpdate !== null
        ? [forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'")]
        : [];
    case 'RollingUpdate': {
      const ru = s.rollingUpdate;
      if (!isObj(ru)) return [required('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil')];
      const p = 'spec.strategy.rollingUpdate';
      const errs = [...validatePositiveIntOrPercent(`${p}.maxUnavailable`, ru.maxUnavailable), ...validatePositiveIntOrPercent(`${p}.maxSurge`, ru.maxSurge)];
      if (intOrPercentValue(ru.maxUnavailable) === 0 && intOrPercentValue(ru.maxSurge) === 0) {
        errs.push(invalid(`${p}.maxUnavailable`, new GoValue(goIntOrString(ru.maxUnavailable)), 'may not be 0 when `maxSurge` is 0'));
      }
      errs.push(...notOver100(`${p}.maxUnavailable`, ru.maxUnavailable));
      return errs;
    }
    default: {
      const rolling = isObj(s.rollingUpdate) ? '(*apps.RollingUpdateDeployment)(0xc000000000)' : '(*apps.RollingUpdateDeployment)(nil)';
      return [
        notSupported('spec.strategy', new GoValue(`apps.DeploymentStrategy{Type:${goQuote(String(s.type ?? ''))}, RollingUpdate:${rolling}}`), [
          'Recreate',
          'RollingUpdate',
        ]),
      ];
    }
  }
}

function validate(obj: Deployment): FieldError[] {
  const spec = fieldsOf(obj.spec);
  const errs = [...validateNonnegative('spec.replicas', spec.replicas), ...validateSelectorAndTemplate(spec, 'ReplicaSet')];
  errs.push(...validateStrategy(spec.strategy));
  errs.push(...validateNonnegative('spec.minReadySeconds', spec.minReadySeconds));
  if (spec.revisionHistoryLimit !== undefined && spec.revisionHistoryLimit !== null)
    errs.push(...validateNonnegative('spec.revisionHistoryLimit', spec.revisionHistoryLimit));
  if (spec.progressDeadlineSeconds !== undefined && spec.progressDeadlineSeconds !== null) {
    errs.push(...validateNonnegative('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds));
    if (spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0)) {
      errs.push(invalid('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
    }
  }
  return errs;
}

export const deploymentStrategy: ResourceStrategy<Deployment> = {
  defaults,
  prepareForUpdate(obj, old) {
    // Rollbacks are driven by annotations, so Kubernetes counts an annotation change as a new generation.
    if (!semanticEqual(obj.metadata?.annotations, old.metadata?.annotations) && semanticEqual(obj.spec, old.spec)) {
      obj.metadata.generation = (old.metadata?.generation ?? 0) + 1;
    }
  },
  validate,
  validateUpdate: validateSelectorImmutable,
  validateStatus(obj, old) {
    return [
      ...validateReplicaStatus(
        obj.status,
        ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas'],
        ['updatedReplicas'],
      ),
      ...validateCollisionCount(obj, old),
    ];
  },
  columns: [
    NAME_COLUMN,
    column('Ready', 'string', 'Number of the pod with ready state'),
    docColumn('Up-to-date', 'string', 'DeploymentStatus.updatedReplicas'),
    docColumn('Available', 'string', 'DeploymentStatus.availableReplicas'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    docColumn('Selector', 'string', 'DeploymentSpec.selector', 1),
  ],
  row(obj, now) {
    const spec = fieldsOf(obj.spec);
    const st = fieldsOf(obj.status);
    const [names, images] = containerCells(spec.template?.spec?.containers);
    const selector = selectorIsValid(spec.selector) ? selectorString(spec.selector) : '<invalid>';
    return [
      obj.metadata.name ?? '',
      `${int(st.readyReplicas)}/${spec.replicas ?? 1}`,
      int(st.updatedReplicas),
      int(st.availableReplicas),
      age(obj, now),
      names,
      images,
      selector,
    ];
  },
};
