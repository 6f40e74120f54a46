// DaemonSets, StatefulSets and ControllerRevisions (apps/v1): defaults, validation worded as upstream's
// apps validation, the DaemonSet template generation annotation, and kubectl's table columns.
import { intOrPercentValue } from '../intstr.js';
import type { ControllerRevision, DaemonSet, FieldError, Incomplete, KObject, OwnerReference, PodTemplateSpec, StatefulSet } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import {
  forbidden,
  goIntOrString,
  goLabelSelector,
  goStringMap,
  GoValue,
  invalid,
  isValidPercent,
  notSupported,
  required,
  semanticEqual,
  validateImmutable,
  validateLabelSelector,
  validateNonnegative,
} from '../validation.js';
import { formatLabels, formatLabelSelector, selectorIsEmpty, selectorIsValid, selectorMatches } from '../labels.js';
import { AGE_COLUMN, age, column, CONTAINERS_COLUMN, containerCells, IMAGES_COLUMN, int, NAME_COLUMN } from './columns.js';
import { isObj } from '../narrow.js';
import { defaultPodSpec } from './poddefaults.js';
import { validatePodTemplateSpec } from './podspec.js';

/** apps/v1 keeps the internal templateGeneration of a DaemonSet in this annotation. */
export const TEMPLATE_GENERATION_ANNOTATION = 'deprecated.daemonset.template.generation';

const isSet = (v: unknown): boolean => v !== undefined && v !== null;

function defaultTemplateSpec(spec: Incomplete<{ template: PodTemplateSpec }>): void {
  if (!isObj(spec.template)) spec.template = {};
  if (!isObj(spec.template.spec)) spec.template.spec = {};
  defaultPodSpec(spec.template.spec);
}

/** Selector and template as ValidateDaemonSetSpec / ValidateStatefulSetSpec check them. */
function validateSelectorAndTemplate(spec: DaemonSet['spec'] | StatefulSet['spec'], kind: 'daemonset' | 'statefulset'): FieldError[] {
  const errs: FieldError[] = [];
  const sel = spec?.selector;
  if (!isSet(sel)) {
    if (kind === 'statefulset') errs.push(required('spec.selector'));
  } else {
    errs.push(...validateLabelSelector('spec.selector', sel));
    if (selectorIsEmpty(sel)) errs.push(invalid('spec.selector', goLabelSelector(sel), `empty selector is invalid for ${kind}`));
  }
  const template = spec?.template;
  const labels = template?.metadata?.labels;
  if (selectorIsValid(sel) && !(isSet(sel) && (selectorIsEmpty(sel) || selectorMatches(sel, labels)))) {
    errs.push(invalid('spec.template.metadata.labels', goStringMap(labels), '`selector` does not match template `labels`'));
  }
  errs.push(...validatePodTemplateSpec('spec.template', template));
  const rp = template?.spec?.restartPolicy;
  if (rp !== 'Always') errs.push(notSupported('spec.template.spec.restartPolicy', rp ?? '', ['Always']));
  if (isSet(template?.spec?.activeDeadlineSeconds)) {
    errs.push(
      forbidden('spec.template.spec.activeDeadlineSeconds', `activeDeadlineSeconds in ${kind === 'daemonset' ? 'DaemonSet' : 'StatefulSet'} is not Supported`),
    );
  }
  return errs;
}

function positiveIntOrPercent(field: string, v: unknown): FieldError[] {
  if (typeof v === 'string') return isValidPercent(v).map((m) => invalid(field, new GoValue(goIntOrString(v)), m));
  if (typeof v === 'number') return validateNonnegative(field, v);
  return [];
}

function notOver100(field: string, v: unknown): FieldError[] {
  return typeof v === 'string' && isValidPercent(v).length === 0 && Number(v.slice(0, -1)) > 100
    ? [invalid(field, new GoValue(goIntOrString(v)), 'must not be greater than 100%')]
    : [];
}

function validateDaemonSetUpdateStrategy(ds: DaemonSet): FieldError[] {
  const s = ds.spec?.updateStrategy ?? {};
  if (s.type === 'OnDelete') return [];
  if (s.type !== 'RollingUpdate') return [notSupported('spec.updateStrategy', s.type ?? '', ['RollingUpdate', 'OnDelete'])];
  const ru = s.rollingUpdate;
  const p = 'spec.updateStrategy.rollingUpdate';
  if (!isObj(ru)) return [required(p)];
  const errs = [
    ...positiveIntOrPercent(`${p}.maxUnavailable`, ru.maxUnavailable),
    ...positiveIntOrPercent(`${p}.maxSurge`, ru.maxSurge),
    ...notOver100(`${p}.maxUnavailable`, ru.maxUnavailable),
    ...notOver100(`${p}.maxSurge`, ru.maxSurge),
  ];
  const hasUnavailable = intOrPercentValue(ru.maxUnavailable) !== 0;
  const hasSurge = intOrPercentValue(ru.maxSurge) !== 0;
  if (hasUnavailable && hasSurge) {
    errs.push(invalid(`${p}.maxSurge`, new GoValue(goIntOrString(ru.maxSurge)), 'may not be set when maxUnavailable is non-zero'));
  } else if (!hasUnavailable && !hasSurge) {
    errs.push(required(`${p}.maxUnavailable`, 'cannot be 0 when maxSurge is 0'));
  }
  return errs;
}

function templateGeneration(o: KObject): number {
  const n = Number(o.metadata.annotations?.[TEMPLATE_GENERATION_ANNOTATION]);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

function setTemplateGeneration(o: Incomplete<KObject>, n: number): void {
  o.metadata ??= {};
  o.metadata.annotations = { ...(o.metadata.annotations ?? {}), [TEMPLATE_GENERATION_ANNOTATION]: String(n) };
}

function desiredColumn(name: string, description: string): ReturnType<typeof column> {
  return column(name, 'integer', description);
}

export const daemonSetStrategy: ResourceStrategy<DaemonSet> = {
  prepareForCreate(obj) {
    setTemplateGeneration(obj, 1);
  },
  prepareForUpdate(obj, old) {
    // The template generation moves with the template, as the internal field it stands for.
    const prev = templateGeneration(old) || 1;
    const changed = !semanticEqual((obj as DaemonSet).spec?.template, (old as DaemonSet).spec?.template);
    setTemplateGeneration(obj, changed ? prev + 1 : prev);
  },
  defaults(obj) {
    const ds = obj as DaemonSet;
    if (!isObj(ds.spec)) ds.spec = {} as DaemonSet['spec'];
    const spec = ds.spec!;
    defaultTemplateSpec(spec);
    if (!isObj(spec.updateStrategy)) spec.updateStrategy = {};
    spec.updateStrategy.type ||= 'RollingUpdate';
    if (spec.updateStrategy.type === 'RollingUpdate') {
      if (!isObj(spec.updateStrategy.rollingUpdate)) spec.updateStrategy.rollingUpdate = {};
      const ru = spec.updateStrategy.rollingUpdate;
      if (!isSet(ru.maxUnavailable)) ru.maxUnavailable = 1;
      if (!isSet(ru.maxSurge)) ru.maxSurge = 0;
    }
    if (!isSet(spec.revisionHistoryLimit)) spec.revisionHistoryLimit = 10;
  },
  validate(obj) {
    const ds = obj as DaemonSet;
    const spec = isObj(ds.spec) ? ds.spec : undefined;
    return [
      ...validateSelectorAndTemplate(spec, 'daemonset'),
      ...validateNonnegative('spec.minReadySeconds', spec?.minReadySeconds ?? 0),
      ...(isSet(spec?.revisionHistoryLimit) ? validateNonnegative('spec.revisionHistoryLimit', spec?.revisionHistoryLimit) : []),
      ...validateDaemonSetUpdateStrategy(ds),
    ];
  },
  validateUpdate(obj, old) {
    return validateImmutable('spec.selector', obj.spec?.selector ?? null, old.spec?.selector ?? null, (v) => goLabelSelector(v));
  },
  validateStatus(obj) {
    const st = (obj as DaemonSet).status;
    if (!st) return [];
    const fields = [
      'currentNumberScheduled',
      'numberMisscheduled',
      'desiredNumberScheduled',
      'numberReady',
      'observedGeneration',
      'updatedNumberScheduled',
      'numberAvailable',
      'numberUnavailable',
      'collisionCount',
    ] as const;
    return fields.flatMap((f) => (isSet(st[f]) ? validateNonnegative(`status.${f}`, st[f]) : []));
  },
  columns: [
    NAME_COLUMN,
    desiredColumn(
      'Desired',
      'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/',
    ),
    desiredColumn(
      'Current',
      'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/',
    ),
    desiredColumn(
      'Ready',
      'numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.',
    ),
    desiredColumn('Up-to-date', 'The total number of nodes that are running updated daemon pod'),
    desiredColumn(
      'Available',
      'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)',
    ),
    column(
      'Node Selector',
      'string',
      "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
    ),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    column(
      'Selector',
      'string',
      "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
      1,
    ),
  ],
  row(obj, now) {
    const ds = obj as DaemonSet;
    const st = ds.status;
    const [names, images] = containerCells(ds.spec?.template?.spec?.containers);
    return [
      ds.metadata.name ?? '',
      int(st?.desiredNumberScheduled),
      int(st?.currentNumberScheduled),
      int(st?.numberReady),
      int(st?.updatedNumberScheduled),
      int(st?.numberAvailable),
      formatLabels(ds.spec?.template?.spec?.nodeSelector),
      age(obj, now),
      names,
      images,
      formatLabelSelector(ds.spec?.selector),
    ];
  },
};

/** The spec fields a StatefulSet update may change (ValidateStatefulSetUpdate). */
const STS_MUTABLE = [
  'replicas',
  'ordinals',
  'template',
  'updateStrategy',
  'revisionHistoryLimit',
  'persistentVolumeClaimRetentionPolicy',
  'minReadySeconds',
] as const;

function validateStatefulSet(sts: StatefulSet): FieldError[] {
  const spec = sts.spec;
  const errs: FieldError[] = [];
  switch (spec?.podManagementPolicy) {
    case 'OrderedReady':
    case 'Parallel':
      break;
    case undefined:
    case '':
      errs.push(required('spec.podManagementPolicy'));
      break;
    default:
      errs.push(invalid('spec.podManagementPolicy', spec!.podManagementPolicy, "must be 'OrderedReady' or 'Parallel'"));
  }
  const us = spec?.updateStrategy ?? {};
  switch (us.type) {
    case 'RollingUpdate':
      if (isObj(us.rollingUpdate)) {
        if (isSet(us.rollingUpdate.partition)) errs.push(...validateNonnegative('spec.updateStrategy.rollingUpdate.partition', us.rollingUpdate.partition));
        if (isSet(us.rollingUpdate.maxUnavailable)) {
          // MaxUnavailableStatefulSet is an alpha feature, off by default in 1.32: the field is dropped
          // upstream; here it is refused so it is never silently ignored.
          errs.push(forbidden('spec.updateStrategy.rollingUpdate.maxUnavailable', 'the MaxUnavailableStatefulSet feature is not enabled in this cluster'));
        }
      }
      break;
    case 'OnDelete':
      if (isSet(us.rollingUpdate))
        errs.push(
          invalid(
            'spec.updateStrategy.rollingUpdate',
            new GoValue('(*apps.RollingUpdateStatefulSetStrategy)(0xc000000000)'),
            "only allowed for updateStrategy 'RollingUpdate'",
          ),
        );
      break;
    case undefined:
    case '':
      errs.push(required('spec.updateStrategy'));
      break;
    default:
      errs.push(
        invalid(
          'spec.updateStrategy',
          new GoValue(`apps.StatefulSetUpdateStrategy{Type:"${us.type}", RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}`),
          "must be 'RollingUpdate' or 'OnDelete'",
        ),
      );
  }
  const retention = spec?.persistentVolumeClaimRetentionPolicy;
  if (isSet(retention)) {
    for (const f of ['whenDeleted', 'whenScaled'] as const) {
      const v = retention?.[f];
      if (v !== 'Retain' && v !== 'Delete') errs.push(notSupported(`spec.persistentVolumeClaimRetentionPolicy.${f}`, v ?? '', ['Retain', 'Delete']));
    }
  }
  errs.push(...validateNonnegative('spec.replicas', spec?.replicas ?? 0));
  errs.push(...validateNonnegative('spec.minReadySeconds', spec?.minReadySeconds ?? 0));
  if (isSet(spec?.ordinals?.start)) errs.push(...validateNonnegative('spec.ordinals.start', spec?.ordinals?.start));
  if (isSet(spec?.revisionHistoryLimit)) errs.push(...validateNonnegative('spec.revisionHistoryLimit', spec?.revisionHistoryLimit));
  if (isSet(spec?.serviceName) && spec?.serviceName !== '' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(spec!.serviceName!)) {
    errs.push(
      invalid(
        'spec.serviceName',
        spec!.serviceName,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      ),
    );
  }
  errs.push(...validateSelectorAndTemplate(spec, 'statefulset'));
  (spec?.volumeClaimTemplates ?? []).forEach((t, i) => {
    if (!t?.metadata?.name) errs.push(required(`spec.volumeClaimTemplates[${i}].metadata.name`, 'name or generateName is required'));
  });
  return errs;
}

export const statefulSetStrategy: ResourceStrategy<StatefulSet> = {
  defaults(obj) {
    const sts = obj as StatefulSet;
    if (!isObj(sts.spec)) sts.spec = {} as StatefulSet['spec'];
    const spec = sts.spec!;
    defaultTemplateSpec(spec);
    spec.podManagementPolicy ||= 'OrderedReady';
    if (!isObj(spec.updateStrategy)) spec.updateStrategy = {};
    spec.updateStrategy.type ||= 'RollingUpdate';
    if (spec.updateStrategy.type === 'RollingUpdate') {
      if (!isObj(spec.updateStrategy.rollingUpdate)) spec.updateStrategy.rollingUpdate = {};
      if (!isSet(spec.updateStrategy.rollingUpdate.partition)) spec.updateStrategy.rollingUpdate.partition = 0;
    }
    if (!isObj(spec.persistentVolumeClaimRetentionPolicy)) spec.persistentVolumeClaimRetentionPolicy = {};
    spec.persistentVolumeClaimRetentionPolicy.whenDeleted ||= 'Retain';
    spec.persistentVolumeClaimRetentionPolicy.whenScaled ||= 'Retain';
    if (!isSet(spec.replicas)) spec.replicas = 1;
    if (!isSet(spec.revisionHistoryLimit)) spec.revisionHistoryLimit = 10;
    for (const t of spec.volumeClaimTemplates ?? []) {
      if (isObj(t?.spec) && !t.spec.volumeMode) t.spec.volumeMode = 'Filesystem';
    }
  },
  validate: (obj) => validateStatefulSet(obj as StatefulSet),
  validateUpdate(obj, old) {
    const strip = (o: KObject): Record<string, unknown> => {
      const spec: Record<string, unknown> = { ...(isObj(o.spec) ? o.spec : {}) };
      for (const f of STS_MUTABLE) delete spec[f];
      return spec;
    };
    if (semanticEqual(strip(obj), strip(old))) return [];
    return [
      forbidden(
        'spec',
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
      ),
    ];
  },
  validateStatus(obj, old) {
    const st = (obj as StatefulSet).status;
    if (!st) return [];
    const errs: FieldError[] = [];
    for (const f of ['replicas', 'readyReplicas', 'currentReplicas', 'updatedReplicas', 'availableReplicas', 'observedGeneration', 'collisionCount'] as const) {
      if (isSet(st[f])) errs.push(...validateNonnegative(`status.${f}`, st[f]));
    }
    const msg = 'cannot be greater than status.replicas';
    for (const f of ['readyReplicas', 'currentReplicas', 'updatedReplicas', 'availableReplicas'] as const) {
      if ((st[f] ?? 0) > (st.replicas ?? 0)) errs.push(invalid(`status.${f}`, st[f], msg));
    }
    if ((st.availableReplicas ?? 0) > (st.readyReplicas ?? 0))
      errs.push(invalid('status.availableReplicas', st.availableReplicas, 'cannot be greater than status.readyReplicas'));
    const o = (old as StatefulSet).status?.collisionCount;
    if (typeof o === 'number' && (st.collisionCount ?? 0) < o) errs.push(invalid('status.collisionCount', st.collisionCount ?? 0, 'cannot be decremented'));
    return errs;
  },
  columns: [NAME_COLUMN, column('Ready', 'string', 'Number of the pod with ready state'), AGE_COLUMN, CONTAINERS_COLUMN, IMAGES_COLUMN],
  row(obj, now) {
    const sts = obj as StatefulSet;
    const [names, images] = containerCells(sts.spec?.template?.spec?.containers);
    return [sts.metadata.name ?? '', `${int(sts.status?.readyReplicas)}/${sts.spec?.replicas ?? 1}`, age(obj, now), names, images];
  },
};

/** The controller reference of an object (metav1.GetControllerOf). */
export function controllerOf(o: KObject): OwnerReference | undefined {
  return (o.metadata.ownerReferences ?? []).find((r) => r.controller === true);
}

export const controllerRevisionStrategy: ResourceStrategy<ControllerRevision> = {
  validate(obj) {
    const cr = obj as ControllerRevision;
    const errs: FieldError[] = [];
    if (!isSet(cr.data)) errs.push(required('data', 'data is mandatory'));
    if (typeof cr.revision !== 'number' || !Number.isInteger(cr.revision) || cr.revision < 0)
      errs.push(invalid('revision', cr.revision ?? null, 'must be non-negative'));
    return errs;
  },
  validateUpdate(obj, old) {
    return validateImmutable('data', (obj as ControllerRevision).data ?? null, (old as ControllerRevision).data ?? null);
  },
  columns: [
    NAME_COLUMN,
    column('Controller', 'string', 'Controller of the object'),
    column('Revision', 'integer', 'Revision indicates the revision of the state represented by Data.'),
    AGE_COLUMN,
  ],
  row(obj, now) {
    const cr = obj as ControllerRevision;
    const ref = controllerOf(cr);
    let controller = '<none>';
    if (ref) {
      const group = ref.apiVersion.includes('/') ? ref.apiVersion.slice(0, ref.apiVersion.indexOf('/')) : '';
      controller = `${ref.kind.toLowerCase()}${group ? `.${group}` : ''}/${ref.name}`;
    }
    return [cr.metadata.name ?? '', controller, int(cr.revision), age(obj, now)];
  },
};
