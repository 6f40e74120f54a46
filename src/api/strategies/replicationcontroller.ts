// ReplicationControllers (core/v1): defaults (selector and labels from the template), validation as
// ValidateReplicationController (a non-empty equality selector the template's labels match), table.
import type { FieldError, ReplicationController } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { goStringMap, invalid, notSupported, required } from '../fielderror.js';
import { validateLabels, validateNonnegative } from '../validation.js';
import { formatLabels } from '../labels.js';
import { AGE_COLUMN, age, CONTAINERS_COLUMN, containerCells, docColumn, IMAGES_COLUMN, int, NAME_COLUMN } from './columns.js';
import { isObj } from '../narrow.js';
import { defaultPodSpec } from './poddefaults.js';
import { validatePodTemplateSpec } from './podspec.js';

/** The registry hands every strategy a KObject; this one is only ever given ReplicationControllers. */
const asRC = (o: ReplicationController): ReplicationController => o as ReplicationController;

function defaults(o: ReplicationController): void {
  const rc = asRC(o);
  if (!isObj(rc.spec)) rc.spec = {};
  const spec = rc.spec;
  if (!isObj(spec.template)) spec.template = undefined;
  const labels = spec.template?.metadata?.labels;
  // As SetDefaults_ReplicationController: an empty selector and empty labels come from the template.
  if (labels && Object.keys(labels).length) {
    if (!spec.selector || !Object.keys(spec.selector).length) spec.selector = { ...labels };
    if (!rc.metadata.labels || !Object.keys(rc.metadata.labels).length) rc.metadata.labels = { ...labels };
  }
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  if (spec.template) {
    if (!isObj(spec.template.spec)) spec.template.spec = { containers: [] };
    defaultPodSpec(spec.template.spec);
  }
}

function validate(o: ReplicationController): FieldError[] {
  const spec = isObj(asRC(o).spec) ? asRC(o).spec! : {};
  const errs = [...validateNonnegative('spec.replicas', spec.replicas), ...validateNonnegative('spec.minReadySeconds', spec.minReadySeconds)];
  const sel = spec.selector;
  if (!isObj(sel) || !Object.keys(sel).length) errs.push(required('spec.selector'));
  else errs.push(...validateLabels('spec.selector', sel));
  const t = spec.template;
  if (!isObj(t)) {
    errs.push(required('spec.template'));
    return errs;
  }
  const labels = t.metadata?.labels;
  if (isObj(sel) && Object.keys(sel).length && !Object.entries(sel).every(([k, v]) => labels?.[k] === v)) {
    errs.push(invalid('spec.template.metadata.labels', goStringMap(labels), 'selector does not match labels in spec.template'));
  }
  errs.push(...validatePodTemplateSpec('spec.template', t));
  const rp = t.spec?.restartPolicy;
  if (rp !== 'Always') errs.push(notSupported('spec.template.spec.restartPolicy', rp ?? '', ['Always']));
  return errs;
}

export const replicationControllerStrategy: ResourceStrategy<ReplicationController> = {
  defaults,
  validate,
  columns: [
    NAME_COLUMN,
    docColumn('Desired', 'integer', 'ReplicationControllerSpec.replicas'),
    docColumn('Current', 'integer', 'ReplicationControllerStatus.replicas'),
    docColumn('Ready', 'integer', 'ReplicationControllerStatus.readyReplicas'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    docColumn('Selector', 'string', 'ReplicationControllerSpec.selector', 1),
  ],
  row(o, now) {
    const rc = asRC(o);
    const [names, images] = containerCells(rc.spec?.template?.spec?.containers);
    return [
      rc.metadata.name ?? '',
      rc.spec?.replicas ?? 1,
      int(rc.status?.replicas),
      int(rc.status?.readyReplicas),
      age(o, now),
      names,
      images,
      formatLabels(rc.spec?.selector),
    ];
  },
  fields(o) {
    return { 'status.replicas': String(int(asRC(o).status?.replicas)) };
  },
};
