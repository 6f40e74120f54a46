// Table column definitions in Kubernetes' shape, and the Name + Age pair every kind starts/ends with.
import type { KObject, TableColumn } from '../types.js';
import { since } from '../age.js';
import { DOCS, type DocKey } from './docs.js';

export function column(name: string, type: TableColumn['type'], description: string, priority = 0, format = ''): TableColumn {
  return { name, type, format, description, priority };
}

/** A column whose description is the API field doc Kubernetes quotes. */
export function docColumn(name: string, type: TableColumn['type'], doc: DocKey, priority = 0): TableColumn {
  return column(name, type, DOCS[doc], priority);
}

export const NAME_COLUMN = column('Name', 'string', DOCS['ObjectMeta.name'], 0, 'name');
export const AGE_COLUMN = docColumn('Age', 'string', 'ObjectMeta.creationTimestamp');
export const CONTAINERS_COLUMN = column('Containers', 'string', 'Names of each container in the template.', 1);
export const IMAGES_COLUMN = column('Images', 'string', 'Images referenced by each container in the template.', 1);

export function age(obj: KObject, now: number): string {
  return since(obj?.metadata?.creationTimestamp, now);
}

/** Container names and images joined by ',' (layoutContainerCells). */
export function containerCells(containers: unknown): [string, string] {
  const list = Array.isArray(containers) ? containers : [];
  return [list.map((c) => c?.name ?? '').join(','), list.map((c) => c?.image ?? '').join(',')];
}

/** An int64 cell: the number, 0 when absent. */
export function int(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
