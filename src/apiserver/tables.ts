// meta.k8s.io Table responses for `kubectl get`: the resource's columns, server-computed cells, and a
// PartialObjectMetadata (or the whole object) per row.
import type { KObject } from '../api/types.js';
import type { ResourceDef } from '../api/resources.js';
import { STRATEGIES, genericTable } from '../api/strategies/index.js';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableFormat {
  version: 'v1' | 'v1beta1';
  include: IncludeObject;
}

/** The Table media type the client accepts, if any (v1 preferred over v1beta1 in the client's order). */
export function negotiateTable(accept: string | undefined, includeObject: string | null): TableFormat | undefined {
  for (const part of (accept ?? '').split(',')) {
    const params = part
      .split(';')
      .slice(1)
      .map((p) => p.trim());
    if (!params.includes('as=Table') || !params.includes('g=meta.k8s.io')) continue;
    const v = params.includes('v=v1beta1') ? 'v1beta1' : 'v1';
    const include = includeObject === 'Object' || includeObject === 'None' ? includeObject : 'Metadata';
    return { version: v, include };
  }
  return undefined;
}

export function partialMetadata(obj: KObject, version: 'v1' | 'v1beta1' = 'v1'): unknown {
  const m: Record<string, unknown> = obj.metadata;
  const meta: Record<string, unknown> = {};
  for (const k of [
    'name',
    'generateName',
    'namespace',
    'uid',
    'resourceVersion',
    'generation',
    'creationTimestamp',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
    'labels',
    'annotations',
    'ownerReferences',
    'finalizers',
  ]) {
    if (m[k] !== undefined) meta[k] = m[k];
  }
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: meta };
}

function rowObject(obj: KObject, fmt: TableFormat): unknown {
  if (fmt.include === 'None') return undefined;
  if (fmt.include === 'Object') return obj;
  return partialMetadata(obj, fmt.version);
}

export function toTable(r: ResourceDef, objs: KObject[], fmt: TableFormat, listMeta: Record<string, unknown>, withColumns = true): unknown {
  const nowMs = Date.now();
  return { ...tableHead(r, fmt, listMeta, withColumns), rows: objs.map((o) => tableRow(r, o, fmt, nowMs)) };
}

/** A Table without its rows, in the order Go writes the fields (rows come last). */
export function tableHead(r: ResourceDef, fmt: TableFormat, listMeta: Record<string, unknown>, withColumns = true): Record<string, unknown> {
  const s = STRATEGIES[r.plural] ?? genericTable;
  return { kind: 'Table', apiVersion: `meta.k8s.io/${fmt.version}`, metadata: listMeta, columnDefinitions: withColumns ? s.columns : [] };
}

/** One Table row: the cells computed for the object (read, never changed) and the object as asked for. */
export function tableRow(r: ResourceDef, o: KObject, fmt: TableFormat, nowMs: number): Record<string, unknown> {
  const s = STRATEGIES[r.plural] ?? genericTable;
  const row: Record<string, unknown> = { cells: s.row(o, nowMs) };
  const ro = rowObject(o, fmt);
  if (ro !== undefined) row.object = ro;
  return row;
}
