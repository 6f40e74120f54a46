// ReplicaSets: apps/v1 defaults, spec validation, immutable selector, status, table, status.replicas.
import type { ReplicaSet } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { validateNonnegative } from '../validation.js';
import { formatLabelSelector } from '../labels.js';
import { AGE_COLUMN, age, CONTAINERS_COLUMN, containerCells, docColumn, IMAGES_COLUMN, int, NAME_COLUMN } from './columns.js';
import { fieldsOf } from '../narrow.js';
import { defaultTemplate, validateReplicaStatus, validateSelectorAndTemplate, validateSelectorImmutable } from './workload.js';

export const replicaSetStrategy: ResourceStrategy<ReplicaSet> = {
  defaults: defaultTemplate,
  validate(obj: ReplicaSet) {
    const spec = fieldsOf(obj.spec);
    return [
      ...validateNonnegative('spec.replicas', spec.replicas),
      ...validateNonnegative('spec.minReadySeconds', spec.minReadySeconds),
      ...validateSelectorAndTemplate(spec, 'ReplicaSet'),
    ];
  },
  validateUpdate: validateSelectorImmutable,
  validateStatus(obj) {
    return validateReplicaStatus(
      obj.status,
      ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'],
      ['fullyLabeledReplicas'],
    );
  },
  columns: [
    NAME_COLUMN,
    docColumn('Desired', 'integer', 'ReplicaSetSpec.replicas'),
    docColumn('Current', 'integer', 'ReplicaSetStatus.replicas'),
    docColumn('Ready', 'integer', 'ReplicaSetStatus.readyReplicas'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    docColumn('Selector', 'string', 'ReplicaSetSpec.selector', 1),
  ],
  row(obj, now) {
    const spec = fieldsOf(obj.spec);
    const st = fieldsOf(obj.status);
    const [names, images] = containerCells(spec.template?.spec?.containers);
    return [
      obj.metadata.name ?? '',
      spec.replicas ?? 1,
      int(st.replicas),
      int(st.readyReplicas),
      age(obj, now),
      names,
      images,
      formatLabelSelector(spec.selector),
    ];
  },
  fields(obj) {
    return { 'status.replicas': String(int(obj.status?.replicas)) };
  },
};
