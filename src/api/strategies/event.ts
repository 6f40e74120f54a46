// core/v1 Events: legacy validation, the Last Seen/Type/Reason/Object/Message table, field selectors.
import type { Event, FieldError } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { each, invalid, isDNS1123Subdomain, isQualifiedName, required } from '../validation.js';
import { since } from '../age.js';
import { docColumn, NAME_COLUMN } from './columns.js';
import { fieldsOf, isObj } from '../narrow.js';

const LIMIT_128 = 128;
const NOTE_LIMIT = 1024;

function validate(obj: Event): FieldError[] {
  const errs: FieldError[] = [];
  const ns = obj.metadata.namespace ?? '';
  const io = fieldsOf(obj.involvedObject);
  const ioNs = io.namespace ?? '';
  const mismatch = () => invalid('involvedObject.namespace', ioNs, 'does not match event.namespace');
  if (!obj.eventTime) {
    if (!ioNs) {
      if (ns !== '' && ns !== 'default') errs.push(mismatch());
    } else if (ns !== ioNs) {
      errs.push(mismatch());
    }
  } else {
    if (!ioNs && ns !== 'default' && ns !== 'kube-system') errs.push(mismatch());
    const rc = String(obj.reportingComponent ?? '');
    if (!rc) errs.push(required('reportingController'));
    errs.push(...each('reportingController', rc, isQualifiedName(rc)));
    const ri = String(obj.reportingInstance ?? '');
    if (!ri) errs.push(required('reportingInstance'));
    if (ri.length > LIMIT_128) errs.push(invalid('reportingInstance', '', `can have at most ${LIMIT_128} characters`));
    const action = String(obj.action ?? '');
    if (!action) errs.push(required('action'));
    if (action.length > LIMIT_128) errs.push(invalid('action', '', `can have at most ${LIMIT_128} characters`));
    const reason = String(obj.reason ?? '');
    if (!reason) errs.push(required('reason'));
    if (reason.length > LIMIT_128) errs.push(invalid('reason', '', `can have at most ${LIMIT_128} characters`));
    if (String(obj.message ?? '').length > NOTE_LIMIT) errs.push(invalid('message', '', `can have at most ${NOTE_LIMIT} characters`));
  }
  errs.push(...each('namespace', ns, isDNS1123Subdomain(ns)));
  return errs;
}

function lastSeen(obj: Event, now: number): string {
  const first = obj.firstTimestamp ? since(obj.firstTimestamp, now) : since(obj.eventTime, now);
  if (isObj(obj.series)) return since(obj.series.lastObservedTime, now);
  return obj.lastTimestamp ? since(obj.lastTimestamp, now) : first;
}

export const eventStrategy: ResourceStrategy<Event> = {
  validate,
  columns: [
    docColumn('Last Seen', 'string', 'Event.lastTimestamp'),
    docColumn('Type', 'string', 'Event.type'),
    docColumn('Reason', 'string', 'Event.reason'),
    docColumn('Object', 'string', 'Event.involvedObject'),
    docColumn('Subobject', 'string', 'ObjectReference.fieldPath', 1),
    docColumn('Source', 'string', 'Event.source', 1),
    docColumn('Message', 'string', 'Event.message'),
    docColumn('First Seen', 'string', 'Event.firstTimestamp', 1),
    docColumn('Count', 'string', 'Event.count', 1),
    { ...NAME_COLUMN, priority: 1 },
  ],
  row(obj, now) {
    const io = fieldsOf(obj.involvedObject);
    const kind = String(io.kind ?? '').toLowerCase();
    const target = io.name ? `${kind}/${io.name}` : kind;
    const first = obj.firstTimestamp ? since(obj.firstTimestamp, now) : since(obj.eventTime, now);
    const count = isObj(obj.series) ? (obj.series.count ?? 0) : obj.count || 1;
    const src = fieldsOf(obj.source);
    const component = src.component || obj.reportingComponent || '';
    const instance = src.host || obj.reportingInstance || '';
    const source = instance ? `${component}, ${instance}` : component;
    return [
      lastSeen(obj, now),
      String(obj.type ?? ''),
      String(obj.reason ?? ''),
      target,
      String(io.fieldPath ?? ''),
      source,
      String(obj.message ?? '').trim(),
      first,
      count,
      obj.metadata.name ?? '',
    ];
  },
  fields(obj) {
    const io = fieldsOf(obj.involvedObject);
    return {
      'involvedObject.kind': String(io.kind ?? ''),
      'involvedObject.namespace': String(io.namespace ?? ''),
      'involvedObject.name': String(io.name ?? ''),
      'involvedObject.uid': String(io.uid ?? ''),
      'involvedObject.apiVersion': String(io.apiVersion ?? ''),
      'involvedObject.resourceVersion': String(io.resourceVersion ?? ''),
      'involvedObject.fieldPath': String(io.fieldPath ?? ''),
      reason: String(obj.reason ?? ''),
      reportingComponent: String(obj.reportingComponent ?? ''),
      source: String(fieldsOf(obj.source).component || obj.reportingComponent || ''),
      type: String(obj.type ?? ''),
    };
  },
};
