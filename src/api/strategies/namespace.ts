// Namespaces: name label, Active phase, finalizer names, status phase rule, table, status.phase selector.
import type { FieldError, Namespace } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { invalid } from '../validation.js';
import { validateFinalizers } from '../meta.js';
import { AGE_COLUMN, age, column, NAME_COLUMN } from './columns.js';
import { isObj } from '../narrow.js';

export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export const namespaceStrategy: ResourceStrategy<Namespace> = {
  defaults(obj: Namespace) {
    // Kubernetes keeps this label equal to the name on every write.
    if (obj.metadata.name) obj.metadata.labels = { ...(obj.metadata.labels ?? {}), [NAMESPACE_NAME_LABEL]: obj.metadata.name };
    if (!isObj(obj.status)) obj.status = {};
    obj.status.phase ||= 'Active';
  },
  validate(obj) {
    const errs: FieldError[] = [];
    for (const f of Array.isArray(obj.spec?.finalizers) ? obj.spec.finalizers : []) {
      // Each name is checked on its own, all reported on spec.finalizers.
      errs.push(...validateFinalizers('spec.finalizers', [f]).map((e) => ({ ...e, field: 'spec.finalizers' })));
    }
    return errs;
  },
  validateStatus(obj) {
    const phase = obj.status?.phase ?? '';
    if (!obj.metadata.deletionTimestamp) {
      return phase === 'Active' ? [] : [invalid('status.Phase', phase, "may only be 'Active' if `deletionTimestamp` is empty")];
    }
    return phase === 'Terminating' ? [] : [invalid('status.Phase', phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")];
  },
  columns: [NAME_COLUMN, column('Status', 'string', 'The status of the namespace'), AGE_COLUMN],
  row(obj, now) {
    return [obj.metadata.name ?? '', String(obj.status?.phase ?? ''), age(obj, now)];
  },
  fields(obj) {
    return { 'status.phase': String(obj.status?.phase ?? '') };
  },
};
