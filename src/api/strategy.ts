// What the API server needs to know per resource beyond storage: defaults, validation, table columns,
// and which fields a field selector may name. A strategy is typed by its kind (`ResourceStrategy<Service>`),
// the shape the object should have: JSON decoding checks no field, so validation still checks each one
// (a client may send a number where a string belongs). Defaults see it `Incomplete`: any field may be missing.
import type { FieldError, Incomplete, KObject, TableColumn } from './types.js';

export interface ResourceStrategy<T extends KObject = KObject> {
  /** Fill the defaults Kubernetes fills (mutates obj). Runs on create and update, before validation. */
  defaults?(obj: Incomplete<T>): void;
  /** Create only, before defaults: what admission adds to a new object (a Pod's default service
   *  account, priority and not-ready/unreachable tolerations) (mutates obj). */
  prepareForCreate?(obj: Incomplete<T>): void;
  /** Update only, after the server-owned metadata and status are restored from old and before
   *  defaults: carry over what the server allocated and the client left out (a Service's clusterIP,
   *  nodePorts), drop fields a type change makes meaningless, bump generation where Kubernetes does
   *  beyond spec changes (mutates obj). */
  prepareForUpdate?(obj: Incomplete<T>, old: T): void;
  /** Validate a whole object (create and update); ObjectMeta is meta.ts's validateObjectMeta. */
  validate?(obj: T): FieldError[];
  /** Extra checks on update: immutable fields. */
  validateUpdate?(obj: T, old: T): FieldError[];
  /** Validate a status-subresource update. */
  validateStatus?(obj: T, old: T): FieldError[];
  /** Table columns as Kubernetes prints them (priority 1 = -o wide only). */
  columns: TableColumn[];
  /** Cells for one object, in column order; now is the time Age is measured against. */
  row(obj: T, now: number): unknown[];
  /** Field-selector labels beyond metadata.name / metadata.namespace (e.g. spec.nodeName, status.phase). */
  fields?(obj: T): Record<string, string>;
}
