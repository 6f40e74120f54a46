// What the API server needs to know per resource beyond storage: defaults, validation, table columns,
// and which fields a field selector may name.
import type { FieldError, KObject, TableColumn } from './types.js';

export interface ResourceStrategy {
  /** Fill the defaults Kubernetes fills (mutates obj). Runs on create and update, before validation. */
  defaults?(obj: KObject): void;
  /** Create only, before defaults: what admission adds to a new object (a Pod's default service
   *  account, priority and not-ready/unreachable tolerations) (mutates obj). */
  prepareForCreate?(obj: KObject): void;
  /** Update only, after the server-owned metadata and status are restored from old and before
   *  defaults: carry over what the server allocated and the client left out (a Service's clusterIP,
   *  nodePorts), drop fields a type change makes meaningless, bump generation where Kubernetes does
   *  beyond spec changes (mutates obj). */
  prepareForUpdate?(obj: KObject, old: KObject): void;
  /** Validate a whole object (create and update); ObjectMeta is meta.ts's validateObjectMeta. */
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
