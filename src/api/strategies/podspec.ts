// PodSpec validation shared by Pods and pod templates (ValidatePodSpec, 1.32 feature defaults).
import type * as core from 'kubernetes-types/core/v1.js';
import type { FieldError, Pod, PodSpec, Toleration } from '../types.js';
import {
  duplicate,
  forbidden,
  goQuote,
  goStringSlice,
  GoValue,
  inclusiveRangeError,
  invalid,
  isValidLabelValue,
  notSupported,
  required,
  validateAnnotations,
  validateDNS1123Label,
  validateDNS1123Subdomain,
  validateIP,
  validateLabelName,
  validateLabels,
  validateQualifiedName,
} from '../validation.js';
import { notFound } from '../fielderror.js';
import { isQuantity, parseQuantity } from '../quantity.js';
import { arr, asObj, fieldsOf, isObj, isOneOf } from '../narrow.js';
import { validateAffinity, validateTopologySpreadConstraints } from './affinity.js';
import { VOLUME_SOURCES } from './poddefaults.js';
import {
  hostPortConflicts,
  validateContainerCommon,
  validateLocalDescendingPath,
  validateLifecycle,
  validateProbe,
  validateSecurityContextIDs,
} from './containers.js';

const MAX_INT32 = 2147483647;

export interface PodSpecOptions {
  /** The spec is a Pod's own (not a template): hostPort must equal containerPort under hostNetwork. */
  isPod: boolean;
}

function validateVolumes(path: string, volumes: core.Volume[] | undefined): { names: Set<string>; errs: FieldError[] } {
  const names = new Set<string>();
  const errs: FieldError[] = [];
  arr(volumes).forEach((v, i) => {
    const ip = `${path}[${i}]`;
    const el: FieldError[] = [];
    let n = 0;
    for (const [key, pathName] of VOLUME_SOURCES) {
      const src = asObj(v)[key];
      if (src === undefined || src === null) continue;
      if (n > 0) {
        el.push(forbidden(`${ip}.${pathName}`, 'may not specify more than 1 volume type'));
        continue;
      }
      n++;
      el.push(...validateVolumeSource(`${ip}.${key}`, key, v));
    }
    if (n === 0) el.push(required(ip, 'must specify a volume type'));
    const name = v?.name;
    if (!name) el.push(required(`${ip}.name`));
    else el.push(...validateDNS1123Label(`${ip}.name`, String(name)));
    if (typeof name === 'string' && names.has(name)) el.push(duplicate(`${ip}.name`, name));
    if (el.length === 0) names.add(name);
    else errs.push(...el);
  });
  return { names, errs };
}

const HOST_PATH_TYPES = ['', 'BlockDevice', 'CharDevice', 'Directory', 'DirectoryOrCreate', 'File', 'FileOrCreate', 'Socket'];
const FILE_MODE = 'must be a number between 0 and 0777 (octal), both inclusive';

function validateMode(field: string, mode: unknown): FieldError[] {
  if (mode === undefined || mode === null) return [];
  return typeof mode === 'number' && Number.isInteger(mode) && mode >= 0 && mode <= 0o777 ? [] : [invalid(field, mode, FILE_MODE)];
}

/**
 * ValidateLocalNonReservedPath: a file path inside a volume: relative, no '..' element, and not starting
 * with '..' (the atomic writer's own names, `..data` and the timestamped directories, start so).
 */
function validateLocalNonReservedPath(field: string, p: string): FieldError[] {
  const errs = validateLocalDescendingPath(field, p);
  if (p.startsWith('..') && !p.startsWith('../')) errs.push(invalid(field, p, "must not start with '..'"));
  return errs;
}

/** configMap/secret items (KeyToPath): key and path required, the path inside the volume, mode in range. */
function validateItems(path: string, items: core.KeyToPath[] | undefined): FieldError[] {
  const errs: FieldError[] = [];
  arr(items).forEach((kp, i) => {
    const ip = `${path}[${i}]`;
    if (!kp?.key) errs.push(required(`${ip}.key`));
    const p = typeof kp?.path === 'string' ? kp.path : '';
    if (!p) errs.push(required(`${ip}.path`));
    errs.push(...validateLocalNonReservedPath(`${ip}.path`, p), ...validateMode(`${ip}.mode`, kp?.mode));
  });
  return errs;
}

/** downwardAPI items: a path inside the volume and exactly one of fieldRef and resourceFieldRef. */
function validateDownwardFiles(path: string, items: core.DownwardAPIVolumeFile[] | undefined): FieldError[] {
  const errs: FieldError[] = [];
  arr(items).forEach((f, i) => {
    const ip = `${path}[${i}]`;
    const p = typeof f?.path === 'string' ? f.path : '';
    if (!p) errs.push(required(`${ip}.path`));
    errs.push(...validateLocalNonReservedPath(`${ip}.path`, p), ...validateMode(`${ip}.mode`, f?.mode));
    if (f?.fieldRef && f?.resourceFieldRef) errs.push(invalid(ip, 'resource', 'fieldRef and resourceFieldRef can not be specified simultaneously'));
    else if (!f?.fieldRef && !f?.resourceFieldRef) errs.push(required(ip, 'one of fieldRef and resourceFieldRef is required'));
  });
  return errs;
}

/** projected sources: each one of secret, configMap, downwardAPI, serviceAccountToken, with their items checked. */
function validateProjections(path: string, sources: core.VolumeProjection[] | undefined): FieldError[] {
  const errs: FieldError[] = [];
  arr(sources).forEach((s, i) => {
    const ip = `${path}[${i}]`;
    if (s?.secret) errs.push(...validateItems(`${ip}.secret.items`, s.secret.items));
    if (s?.configMap) errs.push(...validateItems(`${ip}.configMap.items`, s.configMap.items));
    if (s?.downwardAPI) errs.push(...validateDownwardFiles(`${ip}.downwardAPI.items`, s.downwardAPI.items));
    const t = s?.serviceAccountToken;
    if (t) {
      if (typeof t.expirationSeconds === 'number' && t.expirationSeconds < 600)
        errs.push(invalid(`${ip}.serviceAccountToken.expirationSeconds`, t.expirationSeconds, 'may not specify a duration less than 10 minutes'));
      if (typeof t.expirationSeconds === 'number' && t.expirationSeconds > 2 ** 32)
        errs.push(invalid(`${ip}.serviceAccountToken.expirationSeconds`, t.expirationSeconds, 'may not specify a duration larger than 2^32 seconds'));
      if (!t.path) errs.push(required(`${ip}.serviceAccountToken.path`));
      else errs.push(...validateLocalNonReservedPath(`${ip}.serviceAccountToken.path`, String(t.path)));
    }
  });
  return errs;
}

/** The one volume source v has under key (set: the caller checked), each read through fieldsOf since a client
 *  may have sent anything there (`hostPath: 5`). */
function validateVolumeSource(path: string, key: string, v: core.Volume): FieldError[] {
  switch (key) {
    case 'hostPath': {
      const src = fieldsOf(v.hostPath);
      if (!src.path) return [required(`${path}.path`)];
      const errs = String(src.path).split('/').includes('..') ? [invalid(`${path}.path`, src.path, "must not contain '..'")] : [];
      if (src.type !== undefined && src.type !== null && !isOneOf(HOST_PATH_TYPES, src.type))
        errs.push(notSupported(`${path}.type`, src.type, HOST_PATH_TYPES));
      return errs;
    }
    case 'secret': {
      const src = fieldsOf(v.secret);
      return [
        ...(!src.secretName ? [required(`${path}.secretName`)] : []),
        ...validateMode(`${path}.defaultMode`, src.defaultMode),
        ...validateItems(`${path}.items`, src.items),
      ];
    }
    case 'configMap': {
      const src = fieldsOf(v.configMap);
      return [
        ...(!src.name ? [required(`${path}.name`)] : []),
        ...validateMode(`${path}.defaultMode`, src.defaultMode),
        ...validateItems(`${path}.items`, src.items),
      ];
    }
    case 'persistentVolumeClaim':
      return !fieldsOf(v.persistentVolumeClaim).claimName ? [required(`${path}.claimName`)] : [];
    case 'downwardAPI': {
      const src = fieldsOf(v.downwardAPI);
      return [...validateMode(`${path}.defaultMode`, src.defaultMode), ...validateDownwardFiles(`${path}.items`, src.items)];
    }
    case 'projected': {
      const src = fieldsOf(v.projected);
      return [...validateMode(`${path}.defaultMode`, src.defaultMode), ...validateProjections(`${path}.sources`, src.sources)];
    }
    case 'emptyDir': {
      const src = fieldsOf(v.emptyDir);
      if (src.sizeLimit === undefined || src.sizeLimit === null) return [];
      const q = parseQuantity(src.sizeLimit);
      return !isQuantity(q) || q.nanos < 0n ? [forbidden(`${path}.sizeLimit`, 'SizeLimit field must be a valid resource quantity')] : [];
    }
    default:
      return [];
  }
}

export function validateTolerations(path: string, tolerations: Toleration[] | undefined): FieldError[] {
  const errs: FieldError[] = [];
  arr(tolerations).forEach((t, i) => {
    const ip = `${path}[${i}]`;
    const key = typeof t?.key === 'string' ? t.key : '';
    const op = t?.operator ?? '';
    if (key) errs.push(...validateLabelName(`${ip}.key`, key));
    if (!key && op !== 'Exists') {
      errs.push(invalid(`${ip}.operator`, op, 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    }
    if (t?.tolerationSeconds !== undefined && t?.tolerationSeconds !== null && t?.effect !== 'NoExecute') {
      errs.push(invalid(`${ip}.effect`, t?.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    const value = typeof t?.value === 'string' ? t.value : '';
    if (op === 'Equal' || op === '') {
      const e = isValidLabelValue(value);
      if (e.length) errs.push(invalid(`${ip}.operator`, value, e.join(';')));
    } else if (op === 'Exists') {
      if (value) errs.push(invalid(`${ip}.operator`, value, "value must be empty when `operator` is 'Exists'"));
    } else {
      errs.push(notSupported(`${ip}.operator`, op, ['Equal', 'Exists']));
    }
    if (t?.effect && !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) {
      errs.push(notSupported(`${ip}.effect`, t.effect, ['NoSchedule', 'PreferNoSchedule', 'NoExecute']));
    }
  });
  return errs;
}

function validateDNSConfig(path: string, cfg: core.PodDNSConfig | undefined, dnsPolicy: unknown): FieldError[] {
  if (dnsPolicy === 'None') {
    if (!isObj(cfg)) return [required(path, 'must provide `dnsConfig` when `dnsPolicy` is None')];
    if (!arr(cfg.nameservers).length) return [required(`${path}.nameservers`, 'must provide at least one DNS nameserver when `dnsPolicy` is None')];
  }
  if (!isObj(cfg)) return [];
  const errs: FieldError[] = [];
  const ns = arr(cfg.nameservers);
  if (ns.length > 3) errs.push(invalid(`${path}.nameservers`, goStringSlice(ns), 'must not have more than 3 nameservers'));
  ns.forEach((s, i) => errs.push(...validateIP(`${path}.nameservers[${i}]`, String(s))));
  const searches = arr(cfg.searches).map(String);
  if (searches.length > 32) errs.push(invalid(`${path}.searches`, goStringSlice(searches), 'must not have more than 32 search paths'));
  if (searches.join(' ').length > 2048)
    errs.push(invalid(`${path}.searches`, goStringSlice(searches), 'must not have more than 2048 characters (including spaces) in the search list'));
  searches.forEach((s, i) => errs.push(...validateDNS1123Subdomain(`${path}.searches[${i}]`, s.endsWith('.') ? s.slice(0, -1) : s)));
  arr(cfg.options).forEach((o, i) => {
    if (!o?.name) errs.push(required(`${path}.options[${i}]`, 'must not be empty'));
  });
  return errs;
}

/** ValidatePodSpec: the spec of a Pod or of a pod template, at path (e.g. "spec" or "spec.template.spec"). */
export function validatePodSpec(path: string, spec: PodSpec | undefined, opts: PodSpecOptions): FieldError[] {
  if (!isObj(spec)) return [required(path)];
  const errs: FieldError[] = [];
  const grace = spec.terminationGracePeriodSeconds;
  if (grace === undefined || grace === null) errs.push(required(`${path}.terminationGracePeriodSeconds`));

  const vols = validateVolumes(`${path}.volumes`, spec.volumes);
  errs.push(...vols.errs);

  // Regular containers.
  const containers = arr(spec.containers);
  if (containers.length === 0) errs.push(required(`${path}.containers`));
  const names = new Set<string>();
  containers.forEach((c, i) => {
    const p = `${path}.containers[${i}]`;
    errs.push(...validateContainerCommon(p, c, vols.names));
    if (names.has(c?.name)) errs.push(duplicate(`${p}.name`, c?.name ?? ''));
    else names.add(c?.name);
    if (isObj(c?.lifecycle)) errs.push(...validateLifecycle(`${p}.lifecycle`, c.lifecycle, grace));
    errs.push(...validateProbe(`${p}.livenessProbe`, c?.livenessProbe, grace, 'liveness'));
    errs.push(...validateProbe(`${p}.readinessProbe`, c?.readinessProbe, grace, 'readiness'));
    errs.push(...validateProbe(`${p}.startupProbe`, c?.startupProbe, grace, 'startup'));
    if (c?.restartPolicy !== undefined && c?.restartPolicy !== null) errs.push(forbidden(`${p}.restartPolicy`, 'may not be set for non-init containers'));
  });
  if (containers.length) errs.push(...hostPortConflicts(`${path}.containers`, containers));

  // Init containers (restartPolicy: Always makes a sidecar, which may have probes and lifecycle).
  arr(spec.initContainers).forEach((c, i) => {
    const p = `${path}.initContainers[${i}]`;
    errs.push(...validateContainerCommon(p, c, vols.names));
    const sidecar = c?.restartPolicy === 'Always';
    if (c?.restartPolicy !== undefined && c?.restartPolicy !== null && !sidecar) {
      errs.push(notSupported(`${p}.restartPolicy`, c.restartPolicy, ['Always']));
    }
    if (names.has(c?.name)) errs.push(duplicate(`${p}.name`, c?.name ?? ''));
    else if (c?.name) names.add(c.name);
    errs.push(...hostPortConflicts(`${path}.initContainers`, [c]));
    if (sidecar) {
      if (isObj(c?.lifecycle)) errs.push(...validateLifecycle(`${p}.lifecycle`, c.lifecycle, grace));
      errs.push(...validateProbe(`${p}.livenessProbe`, c?.livenessProbe, grace, 'liveness'));
      errs.push(...validateProbe(`${p}.readinessProbe`, c?.readinessProbe, grace, 'readiness'));
      errs.push(...validateProbe(`${p}.startupProbe`, c?.startupProbe, grace, 'startup'));
    } else {
      for (const k of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        if (c?.[k] !== undefined && c?.[k] !== null) errs.push(forbidden(`${p}.${k}`, 'may not be set for init containers without restartPolicy=Always'));
      }
    }
  });

  // Ephemeral containers (added through pods/ephemeralcontainers): names unique across the pod, none of
  // what a debug container cannot have, and a target that is one of the pod's containers.
  arr(spec.ephemeralContainers).forEach((c, i) => {
    const p = `${path}.ephemeralContainers[${i}]`;
    errs.push(...validateContainerCommon(p, c, vols.names));
    if (names.has(c?.name)) errs.push(duplicate(`${p}.name`, c?.name ?? ''));
    else if (c?.name) names.add(c.name);
    for (const k of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe', 'resources', 'resizePolicy', 'restartPolicy'] as const) {
      const v = c?.[k];
      if (v !== undefined && v !== null && !(isObj(v) && !Object.keys(v).length)) errs.push(forbidden(`${p}.${k}`, 'cannot be set for an Ephemeral Container'));
    }
    if (arr(c?.ports).length) errs.push(forbidden(`${p}.ports`, 'cannot be set for an Ephemeral Container'));
    arr(c?.volumeMounts).forEach((m, j) => {
      if (m?.subPath) errs.push(forbidden(`${p}.volumeMounts[${j}].subPath`, 'cannot be set for an Ephemeral Container'));
      if (m?.subPathExpr) errs.push(forbidden(`${p}.volumeMounts[${j}].subPathExpr`, 'cannot be set for an Ephemeral Container'));
    });
    const target = c?.targetContainerName;
    if (target && ![...containers, ...arr(spec.initContainers)].some((x) => x?.name === target)) {
      errs.push(notFound(`${p}.targetContainerName`, target));
    }
  });

  if (spec.hostNetwork === true) {
    containers.forEach((c, i) =>
      arr(c?.ports).forEach((pt, j) => {
        const hp = pt?.hostPort ?? 0;
        if ((opts.isPod || hp !== 0) && hp !== pt?.containerPort) {
          errs.push(invalid(`${path}.containers[${i}].ports[${j}].hostPort`, hp, 'must match `containerPort` when `hostNetwork` is true'));
        }
      }),
    );
  }

  const rp = spec.restartPolicy;
  if (!rp) errs.push(required(`${path}.restartPolicy`));
  else if (!['Always', 'OnFailure', 'Never'].includes(rp)) errs.push(notSupported(`${path}.restartPolicy`, rp, ['Always', 'OnFailure', 'Never']));
  const dp = spec.dnsPolicy;
  if (!dp) errs.push(required(`${path}.dnsPolicy`));
  else if (!['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'].includes(dp)) {
    errs.push(notSupported(`${path}.dnsPolicy`, dp, ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None']));
  }
  errs.push(...validateLabels(`${path}.nodeSelector`, spec.nodeSelector));
  errs.push(...validateAffinity(`${path}.affinity`, spec.affinity));
  errs.push(...validateTopologySpreadConstraints(`${path}.topologySpreadConstraints`, spec.topologySpreadConstraints));
  errs.push(...validateSecurityContextIDs(`${path}.securityContext`, spec.securityContext));
  arr(spec.imagePullSecrets).forEach((s, i) => {
    if (isObj(s) && Object.keys(s).some((k) => k !== 'name')) {
      errs.push(
        invalid(`${path}.imagePullSecrets[${i}]`, new GoValue(`core.LocalObjectReference{Name:${goQuote(String(s.name ?? ''))}}`), 'only name may be set'),
      );
    }
  });
  errs.push(...validateDNSConfig(`${path}.dnsConfig`, spec.dnsConfig, dp));
  arr(spec.readinessGates).forEach((g, i) => errs.push(...validateQualifiedName(`${path}.readinessGates[${i}].conditionType`, String(g?.conditionType ?? ''))));
  const gates = new Set<string>();
  arr(spec.schedulingGates).forEach((g, i) => {
    const n = String(g?.name ?? '');
    errs.push(...validateQualifiedName(`${path}.schedulingGates[${i}]`, n));
    if (gates.has(n)) errs.push(duplicate(`${path}.schedulingGates[${i}]`, n));
    gates.add(n);
  });
  if (spec.serviceAccountName) errs.push(...validateDNS1123Subdomain(`${path}.serviceAccountName`, String(spec.serviceAccountName)));
  if (spec.nodeName) errs.push(...validateDNS1123Subdomain(`${path}.nodeName`, String(spec.nodeName)));
  if (spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds !== null) {
    const v = spec.activeDeadlineSeconds;
    if (!(v >= 1 && v <= MAX_INT32)) errs.push(invalid(`${path}.activeDeadlineSeconds`, v, inclusiveRangeError(1, MAX_INT32)));
  }
  if (spec.hostname) errs.push(...validateDNS1123Label(`${path}.hostname`, String(spec.hostname)));
  if (spec.subdomain) errs.push(...validateDNS1123Label(`${path}.subdomain`, String(spec.subdomain)));
  errs.push(...validateTolerations(`${path}.tolerations`, spec.tolerations));
  arr(spec.hostAliases).forEach((h, i) => {
    errs.push(...validateIP(`${path}.hostAliases[${i}].ip`, String(h?.ip ?? '')));
    arr(h?.hostnames).forEach((n, j) => errs.push(...validateDNS1123Subdomain(`${path}.hostAliases[${i}].hostnames[${j}]`, String(n))));
  });
  if (spec.priorityClassName) errs.push(...validateDNS1123Subdomain(`${path}.priorityClassName`, String(spec.priorityClassName)));
  if (spec.runtimeClassName !== undefined && spec.runtimeClassName !== null) {
    errs.push(...validateDNS1123Subdomain(`${path}.runtimeClassName`, String(spec.runtimeClassName)));
  }
  if (spec.preemptionPolicy !== undefined && spec.preemptionPolicy !== null) {
    const pp = spec.preemptionPolicy;
    if (pp === '') errs.push(required(`${path}.preemptionPolicy`));
    else if (pp !== 'PreemptLowerPriority' && pp !== 'Never') errs.push(notSupported(`${path}.preemptionPolicy`, pp, ['PreemptLowerPriority', 'Never']));
  }
  if (isObj(spec.os)) {
    if (!spec.os.name) errs.push(required(`${path}.os.name`));
    else if (!['linux', 'windows'].includes(spec.os.name)) errs.push(notSupported(`${path}.os.name`, spec.os.name, ['linux', 'windows']));
  }
  return errs;
}

/** ValidatePodTemplateSpec: template labels/annotations (note: at <path>.labels) and its spec. */
export function validatePodTemplateSpec(path: string, template: core.PodTemplateSpec | undefined): FieldError[] {
  if (!isObj(template)) return [required(path)];
  const meta = isObj(template.metadata) ? template.metadata : {};
  const errs = [
    ...validateLabels(`${path}.labels`, meta.labels),
    ...validateAnnotations(`${path}.annotations`, meta.annotations),
    ...validatePodSpec(`${path}.spec`, template.spec, { isPod: false }),
  ];
  if (arr(template.spec?.ephemeralContainers).length) {
    errs.push(forbidden(`${path}.spec.ephemeralContainers`, 'ephemeral containers not allowed in pod template'));
  }
  return errs;
}

/** Pod-only checks that are not about the spec alone (validatePodMetadataAndSpec's extras). */
export function validatePodExtras(pod: Pod): FieldError[] {
  const errs: FieldError[] = [];
  const spec = fieldsOf(pod.spec);
  const ann = pod?.metadata?.annotations ?? {};
  const cost = ann['controller.kubernetes.io/pod-deletion-cost'];
  if (cost !== undefined && !(/^[-+]?[0-9]+$/.test(String(cost)) && Math.abs(Number(cost)) <= MAX_INT32 + (Number(cost) < 0 ? 1 : 0))) {
    errs.push(invalid('metadata.annotations[controller.kubernetes.io/pod-deletion-cost]', String(cost), 'must be a 32bit integer'));
  }
  if (ann['kubernetes.io/config.mirror'] !== undefined && !spec.nodeName) {
    errs.push(
      invalid(
        'metadata.annotations[kubernetes.io/config.mirror]',
        String(ann['kubernetes.io/config.mirror']),
        'must set spec.nodeName if mirror pod annotation is set',
      ),
    );
  }
  if (!spec.serviceAccountName) {
    arr(spec.volumes).forEach((v, vi) =>
      arr(v?.projected?.sources).forEach((s, si) => {
        if (s?.serviceAccountToken !== undefined) {
          errs.push(forbidden(`spec.volumes[${vi}].projected.sources[${si}].serviceAccountToken`, 'must not be specified when serviceAccountName is not set'));
        }
      }),
    );
  }
  for (const list of ['containers', 'initContainers'] as const) {
    arr(spec[list]).forEach((c, i) => {
      if (typeof c?.image === 'string' && c.image !== c.image.trim()) {
        errs.push(invalid(`spec.${list}[${i}].image`, c.image, 'must not have leading or trailing whitespace'));
      }
    });
  }
  if (spec.nodeName && arr(spec.schedulingGates).length) {
    errs.push(forbidden('spec.nodeName', 'cannot be set until all schedulingGates have been cleared'));
  }
  return errs;
}
