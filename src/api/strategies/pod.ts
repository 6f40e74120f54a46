// Pods: defaults and admission defaults, validation, allowed updates, status checks, table, selectors.
import type * as core from 'kubernetes-types/core/v1.js';
import type { Container, ContainerStatus, FieldError, Pod, Toleration } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import {
  duplicate,
  FIELD_IMMUTABLE,
  forbidden,
  goQuote,
  GoValue,
  inclusiveRangeError,
  invalid,
  required,
  semanticEqual,
  validateDNS1123Subdomain,
  validateIP,
  validateQualifiedName,
} from '../validation.js';
import { isV4, parseIP } from '../ipaddr.js';
import { since } from '../age.js';
import { AGE_COLUMN, age, column, docColumn, NAME_COLUMN } from './columns.js';
import { arr, isObj, fieldsOf } from '../narrow.js';
import { admitPod, defaultPodOnly, defaultPodSpec } from './poddefaults.js';
import { validatePodExtras, validatePodSpec, validateTolerations } from './podspec.js';
import { fieldDiff } from './diff.js';

const MAX_INT32 = 2147483647;

export const UPDATABLE_POD_SPEC_FIELDS = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];

function validateContainerUpdates(field: string, next: Container[], old: Container[]): { errs: FieldError[]; stop: boolean } {
  if (next.length !== old.length) return { errs: [forbidden(field, 'pod updates may not add or remove containers')], stop: true };
  const errs: FieldError[] = [];
  next.forEach((c, i) => {
    if (!c?.image) errs.push(required(`${field}[${i}].image`));
    if (typeof c?.image === 'string' && c.image.trim() !== c.image) {
      errs.push(invalid(`${field}[${i}].image`, c.image, 'must not have leading or trailing whitespace'));
    }
  });
  return { errs, stop: false };
}

/** Existing tolerations may only gain tolerationSeconds changes; new ones may be added. */
function validateOnlyAddedTolerations(field: string, next: Toleration[], old: Toleration[]): FieldError[] {
  for (const o of old) {
    const found = next.some((n) => semanticEqual({ ...o, tolerationSeconds: n?.tolerationSeconds }, n));
    if (!found) return [forbidden(field, 'existing toleration can not be modified except its tolerationSeconds')];
  }
  return validateTolerations(field, next);
}

function validateOnlyDeletedSchedulingGates(field: string, next: core.PodSchedulingGate[], old: core.PodSchedulingGate[]): FieldError[] {
  const oldNames = new Set(old.map((g) => g?.name));
  const errs: FieldError[] = [];
  next.forEach((g, i) => {
    if (!oldNames.has(g?.name)) errs.push(forbidden(`${field}[${i}].name`, `only deletion is allowed, but found new scheduling gate '${g?.name ?? ''}'`));
  });
  return errs;
}

/**
 * The pods/ephemeralcontainers update (upstream's ValidatePodEphemeralContainersUpdate): ephemeral
 * containers may only be added; an existing one may not be changed or removed.
 */
export function validateEphemeralContainersUpdate(next: Pod, old: Pod): FieldError[] {
  const errs: FieldError[] = [];
  const now = new Map(arr(next.spec?.ephemeralContainers).map((c) => [c?.name, c]));
  for (const c of arr(old.spec?.ephemeralContainers)) {
    const n = now.get(c?.name);
    if (!n) errs.push(forbidden('spec.ephemeralContainers', `existing ephemeral containers ${JSON.stringify(c?.name)} may not be removed`));
    else if (!semanticEqual(n, c))
      errs.push(forbidden('spec.ephemeralContainers', `existing ephemeral containers ${JSON.stringify(c?.name)} may not be changed`));
  }
  return errs;
}

function validatePodUpdate(next: Pod, old: Pod): FieldError[] {
  const ns = fieldsOf(next.spec);
  const os = fieldsOf(old.spec);
  const errs: FieldError[] = [];
  const na = next.metadata?.annotations ?? {};
  const oa = old.metadata?.annotations ?? {};
  const mirror = 'kubernetes.io/config.mirror';
  if (mirror in oa && na[mirror] !== oa[mirror]) errs.push(forbidden(`metadata.annotations[${mirror}]`, 'may not remove or update mirror pod annotation'));
  if (mirror in na && !(mirror in oa)) errs.push(forbidden(`metadata.annotations[${mirror}]`, 'may not add mirror pod annotation'));

  for (const list of ['containers', 'initContainers'] as const) {
    const r = validateContainerUpdates(`spec.${list}`, arr(ns[list]), arr(os[list]));
    errs.push(...r.errs);
    if (r.stop) return errs;
  }

  const nad = ns.activeDeadlineSeconds;
  const oad = os.activeDeadlineSeconds;
  if (nad !== undefined && nad !== null) {
    if (nad < 0 || nad > MAX_INT32) return [...errs, invalid('spec.activeDeadlineSeconds', nad, inclusiveRangeError(0, MAX_INT32))];
    if (oad !== undefined && oad !== null && oad < nad)
      return [...errs, invalid('spec.activeDeadlineSeconds', nad, 'must be less than or equal to previous value')];
  } else if (oad !== undefined && oad !== null) {
    errs.push(invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
  }
  errs.push(...validateOnlyAddedTolerations('spec.tolerations', arr(ns.tolerations), arr(os.tolerations)));
  errs.push(...validateOnlyDeletedSchedulingGates('spec.schedulingGates', arr(ns.schedulingGates), arr(os.schedulingGates)));
  if (semanticEqual(ns, os)) return errs;

  // Put back what may change, then anything still different is forbidden.
  const munged = structuredClone(ns);
  for (const list of ['containers', 'initContainers'] as const) {
    arr(munged[list]).forEach((c, i) => {
      if (isObj(c)) c.image = arr(os[list])[i]?.image;
    });
  }
  munged.activeDeadlineSeconds = os.activeDeadlineSeconds;
  munged.schedulingGates = os.schedulingGates;
  munged.tolerations = os.tolerations;
  if (typeof os.terminationGracePeriodSeconds === 'number' && os.terminationGracePeriodSeconds < 0 && munged.terminationGracePeriodSeconds === 1) {
    munged.terminationGracePeriodSeconds = os.terminationGracePeriodSeconds;
  }
  if (!semanticEqual(munged, os)) {
    errs.push(
      forbidden('spec', `pod updates may not change fields other than ${UPDATABLE_POD_SPEC_FIELDS.join(',')}\n${fieldDiff(os, munged, 'core.PodSpec')}`),
    );
  }
  return errs;
}

const SYSTEM_CONDITIONS = new Set(['PodScheduled', 'Ready', 'Initialized']);

function validateContainerStateTransition(
  field: string,
  next: ContainerStatus[],
  old: ContainerStatus[],
  restartPolicy: string,
  restartable: (name: string) => boolean,
): FieldError[] {
  if (restartPolicy === 'Always') return [];
  const errs: FieldError[] = [];
  old.forEach((o, i) => {
    const t = o?.state?.terminated;
    if (!t) return;
    if ((t.exitCode ?? 0) !== 0 && restartPolicy === 'OnFailure') return;
    if (restartable(o?.name)) return;
    for (const n of next) {
      if (n?.name === o?.name && !n?.state?.terminated) errs.push(forbidden(`${field}[${i}].state`, 'may not be transitioned to non-terminated state'));
    }
  });
  return errs;
}

/** status.podIPs / status.hostIPs: valid, at most one per family, no duplicates. */
function validateIPList(field: string, list: (core.PodIP | core.HostIP)[], goType: 'PodIP' | 'HostIP'): FieldError[] {
  const errs: FieldError[] = [];
  list.forEach((x, i) => errs.push(...validateIP(`${field}[${i}]`, String(x?.ip ?? ''))));
  if (list.length > 1 && errs.length === 0) {
    const one = (x: core.PodIP | core.HostIP) => `core.${goType}{IP:${goQuote(String(x?.ip ?? ''))}}`;
    const fams = list.map((x) => isV4(parseIP(String(x.ip))!));
    if (list.length > 2 || fams[0] === fams[1]) {
      errs.push(invalid(field, new GoValue(`[]core.${goType}{${list.map(one).join(', ')}}`), 'may specify no more than one IP for each IP family'));
    }
    const seen = new Set<string>();
    list.forEach((x, i) => {
      const ip = String(x.ip);
      if (seen.has(ip)) errs.push(duplicate(`${field}[${i}]`, new GoValue(one(x))));
      seen.add(ip);
    });
  }
  return errs;
}

function validatePodStatus(next: Pod, old: Pod): FieldError[] {
  const st = fieldsOf(next.status);
  const ost = fieldsOf(old.status);
  const errs: FieldError[] = [];
  arr(st.conditions).forEach((c, i) => {
    if (!SYSTEM_CONDITIONS.has(c?.type)) errs.push(...validateQualifiedName(`metadata.conditions[${i}].Type`, String(c?.type ?? '')));
  });
  if ((next.spec?.nodeName ?? '') !== (old.spec?.nodeName ?? '')) errs.push(forbidden('status.nodeName', 'may not be changed directly'));
  if (st.nominatedNodeName && st.nominatedNodeName !== ost.nominatedNodeName) {
    errs.push(...validateDNS1123Subdomain('status.nominatedNodeName', String(st.nominatedNodeName)));
  }
  if ((st.qosClass ?? '') !== (ost.qosClass ?? '')) errs.push(invalid('status.qosClass', st.qosClass ?? '', FIELD_IMMUTABLE));
  const spec = fieldsOf(old.spec);
  const restartableInit = (name: string) => arr(spec.initContainers).some((c) => c?.name === name && c?.restartPolicy === 'Always');
  errs.push(
    ...validateContainerStateTransition(
      'status.containerStatuses',
      arr(st.containerStatuses),
      arr(ost.containerStatuses),
      spec.restartPolicy ?? '',
      () => false,
    ),
  );
  errs.push(
    ...validateContainerStateTransition(
      'status.initContainerStatuses',
      arr(st.initContainerStatuses),
      arr(ost.initContainerStatuses),
      spec.restartPolicy ?? '',
      restartableInit,
    ),
  );
  errs.push(...validateIPList('status.podIPs', arr(st.podIPs), 'PodIP'));
  const hostIPs = arr(st.hostIPs);
  if (hostIPs.length) {
    if ((st.hostIP ?? '') !== (hostIPs[0]?.ip ?? '')) errs.push(invalid('status.hostIPs[0].ip', hostIPs[0]?.ip ?? '', 'must be equal to `hostIP`'));
    errs.push(...validateIPList('status.hostIPs', hostIPs, 'HostIP'));
  }
  return errs;
}

// ---- table ----

interface Times {
  ms: number;
  ts: string;
}

function later(cur: Times | undefined, ts: unknown): Times | undefined {
  if (typeof ts !== 'string') return cur;
  const ms = Date.parse(ts);
  if (Number.isNaN(ms)) return cur;
  return !cur || cur.ms < ms ? { ms, ts } : cur;
}

function conditionTrue(pod: Pod, type: string): boolean {
  return arr(pod.status?.conditions).some((c) => c?.type === type && c?.status === 'True');
}

/** The Ready, Status and Restarts cells, computed the way kubectl's pod printer does. */
export function podStatusCells(pod: Pod, now: number): { ready: string; status: string; restarts: string } {
  const spec = fieldsOf(pod.spec);
  const status = fieldsOf(pod.status);
  let restarts = 0;
  let restartableRestarts = 0;
  let total = arr(spec.containers).length;
  let ready = 0;
  let lastRestart: Times | undefined;
  let lastRestartableRestart: Times | undefined;
  const phase = String(status.phase ?? '');
  let reason = status.reason ? String(status.reason) : phase;
  for (const c of arr(status.conditions)) if (c?.type === 'PodScheduled' && c?.reason === 'SchedulingGated') reason = 'SchedulingGated';

  const initSpecs = new Map<string, Container>();
  for (const c of arr(spec.initContainers)) {
    initSpecs.set(c?.name, c);
    if (c?.restartPolicy === 'Always') total++;
  }
  const restartable = (name: string) => initSpecs.get(name)?.restartPolicy === 'Always';

  let initializing = false;
  const inits = arr(status.initContainerStatuses);
  for (let i = 0; i < inits.length; i++) {
    const c = inits[i];
    const count = Number(c?.restartCount ?? 0);
    restarts += count;
    lastRestart = later(lastRestart, c?.lastState?.terminated?.finishedAt);
    if (restartable(c?.name)) {
      restartableRestarts += count;
      lastRestartableRestart = later(lastRestartableRestart, c?.lastState?.terminated?.finishedAt);
    }
    const term = c?.state?.terminated;
    const wait = c?.state?.waiting;
    if (term && (term.exitCode ?? 0) === 0) continue;
    if (restartable(c?.name) && c?.started === true) {
      if (c?.ready) ready++;
      continue;
    }
    if (term) {
      reason = term.reason ? `Init:${term.reason}` : term.signal ? `Init:Signal:${term.signal}` : `Init:ExitCode:${term.exitCode ?? 0}`;
    } else if (wait?.reason && wait.reason !== 'PodInitializing') {
      reason = `Init:${wait.reason}`;
    } else {
      reason = `Init:${i}/${arr(spec.initContainers).length}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || conditionTrue(pod, 'Initialized')) {
    restarts = restartableRestarts;
    lastRestart = lastRestartableRestart;
    let hasRunning = false;
    const cs = arr(status.containerStatuses);
    for (let i = cs.length - 1; i >= 0; i--) {
      const c = cs[i];
      restarts += Number(c?.restartCount ?? 0);
      lastRestart = later(lastRestart, c?.lastState?.terminated?.finishedAt);
      const term = c?.state?.terminated;
      const wait = c?.state?.waiting;
      if (wait?.reason) reason = wait.reason;
      else if (term?.reason) reason = term.reason;
      else if (term) reason = term.signal ? `Signal:${term.signal}` : `ExitCode:${term.exitCode ?? 0}`;
      else if (c?.ready && c?.state?.running) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) reason = conditionTrue(pod, 'Ready') ? 'Running' : 'NotReady';
  }

  if (pod.metadata?.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata?.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';

  const restartText = restarts !== 0 && lastRestart ? `${restarts} (${since(lastRestart.ts, now)} ago)` : String(restarts);
  return { ready: `${ready}/${total}`, status: reason, restarts: restartText };
}

function podIP(pod: Pod): string {
  return arr(pod.status?.podIPs)[0]?.ip ?? pod.status?.podIP ?? '';
}

function readinessGates(pod: Pod): string {
  const gates = arr(pod.spec?.readinessGates);
  if (!gates.length) return '<none>';
  let t = 0;
  for (const g of gates) {
    const c = arr(pod.status?.conditions).find((x) => x?.type === g?.conditionType);
    if (c?.status === 'True') t++;
  }
  return `${t}/${gates.length}`;
}

export const podStrategy: ResourceStrategy<Pod> = {
  prepareForCreate(obj) {
    if (!isObj(obj.spec)) obj.spec = {};
    admitPod(obj.spec);
  },
  defaults(obj) {
    if (!isObj(obj.spec)) obj.spec = {};
    defaultPodSpec(obj.spec);
    defaultPodOnly(obj.spec);
  },
  validate(obj) {
    return [...validatePodSpec('spec', obj.spec, { isPod: true }), ...validatePodExtras(obj)];
  },
  validateUpdate: validatePodUpdate,
  validateStatus: validatePodStatus,
  columns: [
    NAME_COLUMN,
    column('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    column('Status', 'string', 'The aggregate status of the containers in this pod.'),
    column('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    AGE_COLUMN,
    docColumn('IP', 'string', 'PodStatus.podIP', 1),
    docColumn('Node', 'string', 'PodSpec.nodeName', 1),
    docColumn('Nominated Node', 'string', 'PodStatus.nominatedNodeName', 1),
    docColumn('Readiness Gates', 'string', 'PodSpec.readinessGates', 1),
  ],
  row(obj, now) {
    const c = podStatusCells(obj, now);
    return [
      obj.metadata.name ?? '',
      c.ready,
      c.status,
      c.restarts,
      age(obj, now),
      podIP(obj) || '<none>',
      obj.spec?.nodeName || '<none>',
      obj.status?.nominatedNodeName || '<none>',
      readinessGates(obj),
    ];
  },
  fields(obj) {
    return {
      'spec.nodeName': String(obj.spec?.nodeName ?? ''),
      'spec.restartPolicy': String(obj.spec?.restartPolicy ?? ''),
      'spec.schedulerName': String(obj.spec?.schedulerName ?? ''),
      'spec.serviceAccountName': String(obj.spec?.serviceAccountName ?? ''),
      'spec.hostNetwork': String(obj.spec?.hostNetwork === true),
      'status.phase': String(obj.status?.phase ?? ''),
      'status.podIP': podIP(obj),
      'status.nominatedNodeName': String(obj.status?.nominatedNodeName ?? ''),
    };
  },
};
