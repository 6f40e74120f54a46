// What the API server needs to know per resource beyond storage: defaults, validation, table columns,
// and which fields a field selector may name.
import type { FieldError, KObject, TableColumn } from './types.js';

export interface ResourceStrategy {
  /** Fill the defaults Kubernetes fills (mutates obj). Runs on create and update, before validation. */
  defaults?(obj: KObject): void;
  /** Validate a whole object (create and update). */
  validate?(obj: KObject): FieldError[];
  /** Extra checks on update: immutable fields. */
  validateUpdate?(obj: KObject, old: KObject): FieldError[];
  /** Validate a status-subresource update. */
  validateStatus?(obj: KObject, old: KObject): FieldError[];
  /** Table columns as Kubernetes prints them (priority 1 = -o wide only). */
  columns: TableColumn[];
  /** Cells for one object, in column order; now is the time Age is measured against. */
  row(obj: KObject, now: number): unknown[];
  /** Field-selector labels beyond metadata.name / metadata.namespace (e.g. spec.nodeName, status.phase). */
  fields?(obj: KObject): Record<string, string>;
}
