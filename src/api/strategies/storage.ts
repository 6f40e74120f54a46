// PersistentVolumes, PersistentVolumeClaims and storage.k8s.io/v1 StorageClasses: defaults, validation
// and the tables kubectl prints, as upstream's strategies and printers have them.
import type { FieldError, KObject, PersistentVolume, PersistentVolumeClaim, StorageClass } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { forbidden, invalid, notSupported, required } from '../fielderror.js';
import { validateImmutable } from '../validation.js';
import { compareQuantity, isQuantity, parseQuantity } from '../quantity.js';
import { AGE_COLUMN, age, column, NAME_COLUMN } from './columns.js';
import { arr, asObj, fieldsOf, isObj, isOneOf } from '../narrow.js';

export const PVC_PROTECTION_FINALIZER = 'kubernetes.io/pvc-protection';
export const PV_PROTECTION_FINALIZER = 'kubernetes.io/pv-protection';
export const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
const ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'];
const RECLAIM = ['Delete', 'Recycle', 'Retain'];
const BINDING_MODES = ['Immediate', 'WaitForFirstConsumer'];
const VOLUME_MODES = ['Block', 'Filesystem'];
/** PV sources k8ts's nodes can mount (the rest are refused by name rather than accepted and never served). */
const PV_SOURCES = ['hostPath', 'local'];

const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** kubectl's short access-mode list: RWO,ROX,RWX,RWOP. */
function accessModes(modes: unknown): string {
  const short: Record<string, string> = { ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP' };
  return arr(modes)
    .map((m) => short[m as string] ?? '')
    .filter(Boolean)
    .join(',');
}

function validateAccessModes(field: string, modes: unknown): FieldError[] {
  const list = arr(modes);
  if (!list.length) return [required(field, '')];
  const errs: FieldError[] = [];
  list.forEach((m, i) => {
    if (!ACCESS_MODES.includes(m as string)) errs.push(notSupported(`${field}[${i}]`, m, ACCESS_MODES));
  });
  if (list.includes('ReadWriteOncePod') && list.length > 1) errs.push(forbidden(field, 'may not use ReadWriteOncePod with other access modes'));
  return errs;
}

function validateStorage(field: string, v: unknown, mustBePositive: boolean): FieldError[] {
  if (v === undefined || v === null) return [required(field, '')];
  const q = parseQuantity(v);
  if (!isQuantity(q)) return [invalid(field, v, q.error)];
  const zero = parseQuantity('0') as ReturnType<typeof parseQuantity> & object;
  if (isQuantity(zero) && compareQuantity(q, zero) < 0) return [invalid(field, v, 'must be greater than or equal to 0')];
  if (mustBePositive && isQuantity(zero) && compareQuantity(q, zero) <= 0) return [invalid(field, v, 'must be greater than zero')];
  return [];
}

/** An absolute path with no `..` element: what a hostPath or local PV may name. */
function validateLocalPath(field: string, p: unknown): FieldError[] {
  if (typeof p !== 'string' || !p) return [required(field, '')];
  if (!p.startsWith('/')) return [invalid(field, p, 'must be an absolute path')];
  if (p.split('/').includes('..')) return [invalid(field, p, "must not contain '..'")];
  return [];
}

function validatePV(obj: PersistentVolume): FieldError[] {
  const spec = obj.spec;
  if (!isObj(spec)) return [required('spec', '')];
  const errs: FieldError[] = [...validateAccessModes('spec.accessModes', spec.accessModes)];
  errs.push(...validateStorage('spec.capacity[storage]', isObj(spec.capacity) ? spec.capacity.storage : undefined, true));
  if (!isOneOf(RECLAIM, spec.persistentVolumeReclaimPolicy))
    errs.push(notSupported('spec.persistentVolumeReclaimPolicy', spec.persistentVolumeReclaimPolicy, RECLAIM));
  if (spec.volumeMode !== undefined && !VOLUME_MODES.includes(spec.volumeMode)) errs.push(notSupported('spec.volumeMode', spec.volumeMode, VOLUME_MODES));
  const sources = Object.keys(spec).filter((k) => isObj(spec[k]) && !['capacity', 'claimRef', 'nodeAffinity', 'mountOptions'].includes(k));
  if (sources.length === 0) errs.push(required('spec', 'must specify a volume type'));
  else if (sources.length > 1) errs.push(forbidden(`spec.${sources[1]}`, 'may not specify more than 1 volume type'));
  else if (!PV_SOURCES.includes(sources[0])) errs.push(notSupported(`spec.${sources[0]}`, sources[0], PV_SOURCES));
  else errs.push(...validateLocalPath(`spec.${sources[0]}.path`, asObj(spec[sources[0]]).path));
  if (isObj(spec.local) && !isObj(spec.nodeAffinity)) errs.push(required('spec.nodeAffinity', 'Local volume requires node affinity'));
  if (isObj(spec.hostPath) && spec.persistentVolumeReclaimPolicy === 'Recycle' && spec.hostPath.path === '/') {
    errs.push(forbidden('spec.persistentVolumeReclaimPolicy', "may not be 'recycle' for a hostPath volume with path '/'"));
  }
  if (spec.claimRef !== undefined && spec.claimRef !== null) {
    if (!isObj(spec.claimRef) || !str(spec.claimRef.name)) errs.push(required('spec.claimRef.name', ''));
    else if (!str(spec.claimRef.namespace)) errs.push(required('spec.claimRef.namespace', ''));
  }
  return errs;
}

function validatePVC(obj: PersistentVolumeClaim): FieldError[] {
  const spec = obj.spec;
  if (!isObj(spec)) return [required('spec', '')];
  const errs = validateAccessModes('spec.accessModes', spec.accessModes);
  const req = isObj(spec.resources) && isObj(spec.resources.requests) ? spec.resources.requests.storage : undefined;
  errs.push(...validateStorage('spec.resources[storage]', req, true));
  if (spec.volumeMode !== undefined && !VOLUME_MODES.includes(spec.volumeMode)) errs.push(notSupported('spec.volumeMode', spec.volumeMode, VOLUME_MODES));
  if (spec.storageClassName !== undefined && spec.storageClassName !== null && typeof spec.storageClassName !== 'string') {
    errs.push(invalid('spec.storageClassName', spec.storageClassName, 'must be a string'));
  }
  return errs;
}

/** What may change on a claim after creation: the size (up), and the binding fields while unset. */
function validatePVCUpdate(obj: PersistentVolumeClaim, old: PersistentVolumeClaim): FieldError[] {
  const errs: FieldError[] = [];
  const a = { ...fieldsOf(obj.spec) };
  const b = { ...fieldsOf(old.spec) };
  if (!b.volumeName) delete a.volumeName, delete b.volumeName;
  if (b.storageClassName === undefined || b.storageClassName === null) delete a.storageClassName, delete b.storageClassName;
  delete a.resources, delete b.resources;
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    errs.push(forbidden('spec', 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims'));
  }
  return errs;
}

function validateStorageClass(obj: StorageClass): FieldError[] {
  const errs: FieldError[] = [];
  const p = obj.provisioner;
  if (typeof p !== 'string' || !p) errs.push(required('provisioner', ''));
  else if (p.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(\/[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?)?$/.test(p)) {
    errs.push(invalid('provisioner', p, 'must be a DNS-1123 subdomain, optionally followed by a path'));
  }
  if (obj.reclaimPolicy !== undefined && !['Delete', 'Retain'].includes(obj.reclaimPolicy))
    errs.push(notSupported('reclaimPolicy', obj.reclaimPolicy, ['Delete', 'Retain']));
  if (obj.volumeBindingMode !== undefined && !BINDING_MODES.includes(obj.volumeBindingMode))
    errs.push(notSupported('volumeBindingMode', obj.volumeBindingMode, BINDING_MODES));
  if (obj.parameters !== undefined && obj.parameters !== null) {
    if (!isObj(obj.parameters) || Object.values(obj.parameters).some((v) => typeof v !== 'string'))
      errs.push(invalid('parameters', obj.parameters, 'must be a map of strings'));
  }
  return errs;
}

export const persistentVolumeStrategy: ResourceStrategy<PersistentVolume> = {
  defaults(obj) {
    if (!isObj(obj.spec)) return;
    obj.spec.persistentVolumeReclaimPolicy ??= 'Retain';
    obj.spec.volumeMode ??= 'Filesystem';
    if (isObj(obj.spec.hostPath)) obj.spec.hostPath.type ??= '';
  },
  validate: validatePV,
  validateUpdate(obj, old) {
    const errs: FieldError[] = [];
    for (const src of ['hostPath', 'local'] as const) errs.push(...validateImmutable(`spec.${src}`, obj.spec?.[src], old.spec?.[src]));
    errs.push(...validateImmutable('spec.volumeMode', obj.spec?.volumeMode, old.spec?.volumeMode));
    if (old.spec?.nodeAffinity) errs.push(...validateImmutable('spec.nodeAffinity', obj.spec?.nodeAffinity, old.spec?.nodeAffinity));
    return errs;
  },
  columns: [
    NAME_COLUMN,
    column('Capacity', 'string', "capacity is the description of the persistent volume's resources and capacity."),
    column('Access Modes', 'string', 'accessModes contains all ways the volume can be mounted.'),
    column('Reclaim Policy', 'string', 'persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.'),
    column('Status', 'string', 'phase indicates if a volume is available, bound to a claim, or released by a claim.'),
    column('Claim', 'string', 'claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.'),
    column('StorageClass', 'string', 'storageClassName is the name of StorageClass to which this persistent volume belongs.'),
    column('VolumeAttributesClass', 'string', 'Name of VolumeAttributesClass to which this persistent volume belongs.'),
    column('Reason', 'string', 'reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.'),
    AGE_COLUMN,
    column('VolumeMode', 'string', 'volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.', 1),
  ],
  row(obj, now) {
    const s = fieldsOf(obj.spec);
    const claim = isObj(s.claimRef) ? `${str(s.claimRef.namespace)}/${str(s.claimRef.name)}` : '';
    return [
      obj.metadata.name ?? '',
      str(s.capacity?.storage),
      accessModes(s.accessModes),
      str(s.persistentVolumeReclaimPolicy),
      str(obj.status?.phase),
      claim,
      str(s.storageClassName),
      s.volumeAttributesClassName ?? '<unset>',
      str(obj.status?.reason),
      age(obj, now),
      str(s.volumeMode),
    ];
  },
};

export const persistentVolumeClaimStrategy: ResourceStrategy<PersistentVolumeClaim> = {
  defaults(obj) {
    if (!isObj(obj.spec)) return;
    obj.spec.volumeMode ??= 'Filesystem';
  },
  validate: validatePVC,
  validateUpdate: validatePVCUpdate,
  columns: [
    NAME_COLUMN,
    column('Status', 'string', 'phase represents the current phase of PersistentVolumeClaim.'),
    column('Volume', 'string', 'volumeName is the binding reference to the PersistentVolume backing this claim.'),
    column('Capacity', 'string', 'capacity represents the actual resources of the underlying volume.'),
    column('Access Modes', 'string', 'accessModes contains the desired access modes the volume should have.'),
    column('StorageClass', 'string', 'storageClassName is the name of the StorageClass required by the claim.'),
    column('VolumeAttributesClass', 'string', 'volumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim.'),
    AGE_COLUMN,
    column('VolumeMode', 'string', 'volumeMode defines what type of volume is required by the claim.', 1),
  ],
  row(obj, now) {
    const s = fieldsOf(obj.spec);
    const bound = obj.status?.phase === 'Bound';
    return [
      obj.metadata.name ?? '',
      str(obj.status?.phase),
      str(s.volumeName),
      bound ? str(obj.status?.capacity?.storage) : '',
      bound ? accessModes(obj.status?.accessModes) : '',
      str(s.storageClassName),
      s.volumeAttributesClassName ?? '<unset>',
      age(obj, now),
      str(s.volumeMode),
    ];
  },
  fields(obj) {
    return { 'spec.volumeName': str(obj.spec?.volumeName) };
  },
};

export const storageClassStrategy: ResourceStrategy<StorageClass> = {
  defaults(obj) {
    obj.reclaimPolicy ??= 'Delete';
    obj.volumeBindingMode ??= 'Immediate';
  },
  validate: validateStorageClass,
  validateUpdate(obj, old) {
    return [
      ...validateImmutable('provisioner', obj.provisioner, old.provisioner),
      ...validateImmutable('parameters', obj.parameters, old.parameters),
      ...validateImmutable('reclaimPolicy', obj.reclaimPolicy, old.reclaimPolicy),
      ...validateImmutable('volumeBindingMode', obj.volumeBindingMode, old.volumeBindingMode),
    ];
  },
  columns: [
    NAME_COLUMN,
    column('Provisioner', 'string', 'provisioner indicates the type of the provisioner.'),
    column('ReclaimPolicy', 'string', 'reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.'),
    column('VolumeBindingMode', 'string', 'volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.'),
    column('AllowVolumeExpansion', 'string', 'allowVolumeExpansion shows whether the storage class allow volume expand.'),
    AGE_COLUMN,
  ],
  row(obj, now) {
    const name = `${obj.metadata.name ?? ''}${obj.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true' ? ' (default)' : ''}`;
    return [name, str(obj.provisioner), str(obj.reclaimPolicy), str(obj.volumeBindingMode), String(obj.allowVolumeExpansion === true), age(obj, now)];
  },
};

/** The DefaultStorageClass admission: a new claim with no storageClassName gets the default class
 *  (the newest of several marked default); an explicit "" means no class and is kept. */
export function defaultStorageClass(pvc: KObject, classes: KObject[]): void {
  if (!isObj(pvc.spec) || (pvc.spec.storageClassName !== undefined && pvc.spec.storageClassName !== null)) return;
  const defaults = classes.filter((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
  if (!defaults.length) return;
  defaults.sort(
    (a, b) =>
      String(b.metadata.creationTimestamp ?? '').localeCompare(String(a.metadata.creationTimestamp ?? '')) ||
      str(a.metadata.name).localeCompare(str(b.metadata.name)),
  );
  pvc.spec.storageClassName = defaults[0].metadata.name;
}
