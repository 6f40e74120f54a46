// Leases: positive durations, non-negative transitions, the Name/Holder/Age table.
import type { FieldError, Lease } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { invalid } from '../validation.js';
import { AGE_COLUMN, age, docColumn, NAME_COLUMN } from './columns.js';
import { fieldsOf } from '../narrow.js';

export const leaseStrategy: ResourceStrategy<Lease> = {
  validate(obj) {
    const spec = fieldsOf(obj.spec);
    const errs: FieldError[] = [];
    if (typeof spec.leaseDurationSeconds === 'number' && spec.leaseDurationSeconds <= 0) {
      errs.push(invalid('spec.leaseDurationSeconds', spec.leaseDurationSeconds, 'must be greater than 0'));
    }
    if (typeof spec.leaseTransitions === 'number' && spec.leaseTransitions < 0) {
      errs.push(invalid('spec.leaseTransitions', spec.leaseTransitions, 'must be greater than or equal to 0'));
    }
    return errs;
  },
  columns: [NAME_COLUMN, docColumn('Holder', 'string', 'LeaseSpec.holderIdentity'), AGE_COLUMN],
  row(obj, now) {
    return [obj.metadata.name ?? '', String(obj.spec?.holderIdentity ?? ''), age(obj, now)];
  },
};
