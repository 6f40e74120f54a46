// ServiceAccounts: metadata rules only (checked by meta.ts), and the Name/Secrets/Age table.
import type { ServiceAccount } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { AGE_COLUMN, age, docColumn, NAME_COLUMN } from './columns.js';
import { arr } from '../narrow.js';

export const serviceAccountStrategy: ResourceStrategy<ServiceAccount> = {
  columns: [NAME_COLUMN, docColumn('Secrets', 'string', 'ServiceAccount.secrets'), AGE_COLUMN],
  row(obj, now) {
    return [obj.metadata.name ?? '', arr(obj.secrets).length, age(obj, now)];
  },
};
