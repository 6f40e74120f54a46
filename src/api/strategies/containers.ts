// Container validation shared by regular, init and sidecar containers (validateContainerCommon).
import type * as core from 'kubernetes-types/core/v1.js';
import type { Container, ContainerPort, FieldError, Probe } from '../types.js';
import {
  duplicate,
  each,
  forbidden,
  inclusiveRangeError,
  invalid,
  isConfigMapKey,
  isDNS1123Subdomain,
  isEnvVarName,
  isHTTPHeaderName,
  isQualifiedName,
  isRelaxedEnvVarName,
  isValidPortName,
  isValidPortNum,
  notFound,
  notSupported,
  required,
  validateDNS1123Label,
  validateNonnegative,
  validatePortNumOrName,
  validateProtocol,
  validateQualifiedName,
} from '../validation.js';
import { compareQuantity, formatQuantity, isQuantity, parseQuantity, type Quantity } from '../quantity.js';
import { arr, isObj, isOneOf } from '../narrow.js';

const MAX_INT32 = 2147483647;

const STANDARD_RESOURCES = new Set([
  'cpu',
  'memory',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'pods',
  'services',
  'replicationcontrollers',
  'resourcequotas',
  'secrets',
  'persistentvolumeclaims',
  'storage',
  'requests.storage',
  'services.nodeports',
  'services.loadbalancers',
  'ephemeral-storage',
  'configmaps',
]);
const CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);

function isHugePages(name: string): boolean {
  return name.startsWith('hugepages-');
}

/** Native resources (unprefixed or under kubernetes.io/) except hugepages may be overcommitted. */
function overcommitAllowed(name: string): boolean {
  const native = !name.includes('/') || name.includes('kubernetes.io/');
  return native && !isHugePages(name);
}

function validateContainerResourceName(field: string, name: string): FieldError[] {
  const errs = each(field, name, isQualifiedName(name));
  if (errs.length) return errs;
  if (!name.includes('/')) {
    if (!STANDARD_RESOURCES.has(name) && !isHugePages(name)) errs.push(invalid(field, name, 'must be a standard resource type or fully qualified'));
    if (!CONTAINER_RESOURCES.has(name) && !isHugePages(name)) errs.push(invalid(field, name, 'must be a standard resource for containers'));
  }
  return errs;
}

function validateResources(path: string, res: core.ResourceRequirements | undefined): FieldError[] {
  if (!isObj(res)) return [];
  const errs: FieldError[] = [];
  const limits: Record<string, Quantity> = {};
  // A client's `limits: "x"` is no map: it reads as none (and `in` on it would throw).
  const given = isObj(res.limits) ? res.limits : {};
  for (const [name, raw] of Object.entries(given)) {
    const f = `${path}.limits[${name}]`;
    errs.push(...validateContainerResourceName(f, name));
    const q = parseQuantity(raw);
    if (!isQuantity(q)) errs.push(invalid(f, String(raw), q.error));
    else {
      if (q.nanos < 0n) errs.push(invalid(f, formatQuantity(q), 'must be greater than or equal to 0'));
      limits[name] = q;
    }
  }
  for (const [name, raw] of Object.entries(isObj(res.requests) ? res.requests : {})) {
    const f = `${path}.requests[${name}]`;
    errs.push(...validateContainerResourceName(f, name));
    const q = parseQuantity(raw);
    if (!isQuantity(q)) {
      errs.push(invalid(f, String(raw), q.error));
      continue;
    }
    if (q.nanos < 0n) errs.push(invalid(f, formatQuantity(q), 'must be greater than or equal to 0'));
    const lim = limits[name];
    if (lim) {
      if (compareQuantity(q, lim) !== 0 && !overcommitAllowed(name)) {
        errs.push(invalid(`${path}.requests`, formatQuantity(q), `must be equal to ${name} limit of ${formatQuantity(lim)}`));
      } else if (compareQuantity(q, lim) > 0) {
        errs.push(invalid(`${path}.requests`, formatQuantity(q), `must be less than or equal to ${name} limit of ${formatQuantity(lim)}`));
      }
    } else if (!overcommitAllowed(name) && !(name in given)) {
      errs.push(required(`${path}.limits`, 'Limit must be set for non overcommitable resources'));
    }
  }
  return errs;
}

function validateContainerPorts(path: string, ports: ContainerPort[] | undefined): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  arr(ports).forEach((p, i) => {
    const ip = `${path}[${i}]`;
    if (typeof p?.name === 'string' && p.name.length > 0) {
      const msgs = isValidPortName(p.name);
      if (msgs.length) errs.push(...each(`${ip}.name`, p.name, msgs));
      else if (names.has(p.name)) errs.push(duplicate(`${ip}.name`, p.name));
      else names.add(p.name);
    }
    if (!p?.containerPort) errs.push(required(`${ip}.containerPort`));
    else errs.push(...each(`${ip}.containerPort`, p.containerPort, isValidPortNum(p.containerPort)));
    if (p?.hostPort) errs.push(...each(`${ip}.hostPort`, p.hostPort, isValidPortNum(p.hostPort)));
    errs.push(...validateProtocol(`${ip}.protocol`, p?.protocol));
  });
  return errs;
}

const ENV_FIELD_PATHS = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
];
const RESOURCE_FIELD_PATHS = ['limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu', 'requests.ephemeral-storage', 'requests.memory'];

function validateKeySelector(path: string, s: core.ConfigMapKeySelector | core.SecretKeySelector): FieldError[] {
  const errs = each(`${path}.name`, s?.name ?? '', isDNS1123Subdomain(String(s?.name ?? '')));
  if (!s?.key) errs.push(required(`${path}.key`));
  else errs.push(...each(`${path}.key`, s.key, isConfigMapKey(String(s.key))));
  return errs;
}

function validateEnvValueFrom(path: string, ev: core.EnvVar | undefined): FieldError[] {
  const from = ev?.valueFrom;
  if (!isObj(from)) return [];
  const errs: FieldError[] = [];
  let n = 0;
  if (from.fieldRef != null) {
    n++;
    const fr = from.fieldRef ?? {};
    const fp = `${path}.fieldRef`;
    if (!fr.apiVersion) errs.push(required(`${fp}.apiVersion`));
    else if (!fr.fieldPath) errs.push(required(`${fp}.fieldPath`));
    else {
      const m = /^(metadata\.(?:labels|annotations))\['(.*)'\]$/.exec(fr.fieldPath);
      if (m) errs.push(...validateQualifiedName(fp, m[1] === 'metadata.annotations' ? m[2].toLowerCase() : m[2]));
      else if (!ENV_FIELD_PATHS.includes(fr.fieldPath)) {
        errs.push(notSupported(`${fp}.fieldPath`, fr.fieldPath, [...ENV_FIELD_PATHS].sort()));
      }
    }
  }
  if (from.resourceFieldRef != null) {
    n++;
    const r = from.resourceFieldRef ?? {};
    const rp = `${path}.resourceFieldRef`;
    if (!r.resource) errs.push(required(`${rp}.resource`));
    else if (!RESOURCE_FIELD_PATHS.includes(r.resource) && !/^(requests|limits)\.hugepages-/.test(r.resource)) {
      errs.push(notSupported(`${rp}.resource`, r.resource, RESOURCE_FIELD_PATHS));
    }
  }
  if (from.configMapKeyRef != null) {
    n++;
    errs.push(...validateKeySelector(`${path}.configMapKeyRef`, from.configMapKeyRef));
  }
  if (from.secretKeyRef != null) {
    n++;
    errs.push(...validateKeySelector(`${path}.secretKeyRef`, from.secretKeyRef));
  }
  if (n === 0) errs.push(invalid(path, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
  else if (typeof ev?.value === 'string' && ev.value.length) errs.push(invalid(path, '', 'may not be specified when `value` is not empty'));
  else if (n > 1) errs.push(invalid(path, '', 'may not have more than one field specified at a time'));
  return errs;
}

/** Env var names use the relaxed rule (printable ASCII but '='), on by default since 1.32. */
export function validateEnv(path: string, env: core.EnvVar[] | undefined, relaxed = true): FieldError[] {
  const errs: FieldError[] = [];
  arr(env).forEach((ev, i) => {
    const ip = `${path}[${i}]`;
    if (!ev?.name) errs.push(required(`${ip}.name`));
    else errs.push(...each(`${ip}.name`, ev.name, relaxed ? isRelaxedEnvVarName(String(ev.name)) : isEnvVarName(String(ev.name))));
    errs.push(...validateEnvValueFrom(`${ip}.valueFrom`, ev));
  });
  return errs;
}

function validateEnvFrom(path: string, envFrom: core.EnvFromSource[] | undefined): FieldError[] {
  const errs: FieldError[] = [];
  arr(envFrom).forEach((ev, i) => {
    const ip = `${path}[${i}]`;
    if (typeof ev?.prefix === 'string' && ev.prefix.length) errs.push(...each(`${ip}.prefix`, ev.prefix, isRelaxedEnvVarName(ev.prefix)));
    let n = 0;
    for (const k of ['configMapRef', 'secretRef'] as const) {
      if (ev?.[k] == null) continue;
      n++;
      const name = ev[k]?.name;
      if (!name) errs.push(required(`${ip}.${k}.name`));
      else errs.push(...each(`${ip}.${k}.name`, name, isDNS1123Subdomain(maskDash(String(name)))));
    }
    if (n === 0) errs.push(invalid(path, '', 'must specify one of: `configMapRef` or `secretRef`'));
    else if (n > 1) errs.push(invalid(path, '', 'may not have more than one field specified at a time'));
  });
  return errs;
}

function maskDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? name.slice(0, -2) + 'a' : name;
}

export function validateLocalDescendingPath(field: string, p: string): FieldError[] {
  const errs: FieldError[] = [];
  if (p.startsWith('/')) errs.push(invalid(field, p, 'must be a relative path'));
  if (p.split('/').includes('..')) errs.push(invalid(field, p, "must not contain '..'"));
  return errs;
}

const PROPAGATIONS = ['Bidirectional', 'HostToContainer', 'None'];

function validateVolumeMounts(path: string, mounts: core.VolumeMount[] | undefined, volumes: Set<string>, container?: Container): FieldError[] {
  const errs: FieldError[] = [];
  const points = new Set<string>();
  arr(mounts).forEach((m, i) => {
    const ip = `${path}[${i}]`;
    const name = typeof m?.name === 'string' ? m.name : '';
    if (!name) errs.push(required(`${ip}.name`));
    if (!volumes.has(name)) errs.push(notFound(`${ip}.name`, name));
    const mp = typeof m?.mountPath === 'string' ? m.mountPath : '';
    if (!mp) errs.push(required(`${ip}.mountPath`));
    if (points.has(mp)) errs.push(invalid(`${ip}.mountPath`, mp, 'must be unique'));
    points.add(mp);
    if (typeof m?.subPath === 'string' && m.subPath) errs.push(...validateLocalDescendingPath(`${path}.subPath`, m.subPath));
    if (typeof m?.subPathExpr === 'string' && m.subPathExpr) {
      if (m.subPath) errs.push(invalid(`${ip}.subPathExpr`, m.subPathExpr, 'subPathExpr and subPath are mutually exclusive'));
      errs.push(...validateLocalDescendingPath(`${path}.subPathExpr`, m.subPathExpr));
    }
    // validateMountPropagation: a known mode, and Bidirectional (mounts made in the container reach the
    // host) only for a privileged container.
    const mprop = m?.mountPropagation;
    if (mprop !== undefined && mprop !== null) {
      if (!PROPAGATIONS.includes(mprop)) errs.push(notSupported(`${ip}.mountPropagation`, mprop, PROPAGATIONS));
      else if (mprop === 'Bidirectional' && container?.securityContext?.privileged !== true) {
        errs.push(forbidden(`${ip}.mountPropagation`, 'Bidirectional mount propagation is available only to privileged containers'));
      }
    }
  });
  return errs;
}

/** The handler fields in the order Kubernetes checks them (each is also its field path's name). */
const HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc', 'sleep'] as const;
type HandlerKey = (typeof HANDLERS)[number];
/** What a probe or a lifecycle hook may hold: a Probe has no sleep, a LifecycleHandler no grpc (`allowed` says which). */
type Handler = Probe & core.LifecycleHandler;

function validateHandler(path: string, h: Handler, grace: unknown, allowed: HandlerKey[]): FieldError[] {
  const errs: FieldError[] = [];
  let n = 0;
  for (const key of HANDLERS) {
    if (!allowed.includes(key) || h?.[key] === undefined || h?.[key] === null) continue;
    if (n > 0) {
      errs.push(forbidden(`${path}.${key}`, 'may not specify more than 1 handler type'));
      continue;
    }
    n++;
    const p = `${path}.${key}`;
    switch (key) {
      case 'exec':
        if (!arr(h.exec?.command).length) errs.push(required(`${p}.command`));
        break;
      case 'httpGet': {
        const v = h.httpGet;
        if (!v?.path) errs.push(required(`${p}.path`));
        errs.push(...validatePortNumOrName(`${p}.port`, v?.port));
        if (!isOneOf(['HTTP', 'HTTPS'], v?.scheme)) errs.push(notSupported(`${p}.scheme`, v?.scheme ?? '', ['HTTP', 'HTTPS']));
        for (const hd of arr(v?.httpHeaders)) errs.push(...each(`${p}.httpHeaders`, hd?.name ?? '', isHTTPHeaderName(String(hd?.name ?? ''))));
        break;
      }
      case 'tcpSocket':
        errs.push(...validatePortNumOrName(`${p}.port`, h.tcpSocket?.port));
        break;
      case 'grpc':
        errs.push(...each(`${p}.port`, h.grpc?.port ?? 0, isValidPortNum(Number(h.grpc?.port ?? 0))));
        break;
      case 'sleep': {
        const s = h.sleep?.seconds;
        if (typeof grace === 'number' && (typeof s !== 'number' || s <= 0 || s > grace)) {
          errs.push(
            invalid(
              p,
              s ?? 0,
              `must be greater than 0 and less than terminationGracePeriodSeconds (${grace}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.`,
            ),
          );
        }
        break;
      }
    }
  }
  if (n === 0) errs.push(required(path, 'must specify a handler type'));
  return errs;
}

export function validateProbe(path: string, p: Probe | undefined, grace: unknown, kind: 'liveness' | 'readiness' | 'startup'): FieldError[] {
  if (p === undefined || p === null) return [];
  const errs = validateHandler(path, p, grace, ['exec', 'httpGet', 'tcpSocket', 'grpc']);
  for (const k of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const) {
    errs.push(...validateNonnegative(`${path}.${k}`, p[k]));
  }
  if (p.terminationGracePeriodSeconds !== undefined && p.terminationGracePeriodSeconds !== null && p.terminationGracePeriodSeconds <= 0) {
    errs.push(invalid(`${path}.terminationGracePeriodSeconds`, p.terminationGracePeriodSeconds, 'must be greater than 0'));
  }
  if (kind !== 'readiness' && p.successThreshold !== 1) errs.push(invalid(`${path}.successThreshold`, p.successThreshold ?? 0, 'must be 1'));
  if (kind === 'readiness' && p.terminationGracePeriodSeconds !== undefined && p.terminationGracePeriodSeconds !== null) {
    errs.push(invalid(`${path}.terminationGracePeriodSeconds`, p.terminationGracePeriodSeconds, 'must not be set for readinessProbes'));
  }
  return errs;
}

export function validateLifecycle(path: string, l: core.Lifecycle | undefined, grace: unknown): FieldError[] {
  const errs: FieldError[] = [];
  for (const k of ['postStart', 'preStop'] as const) {
    if (l?.[k] !== undefined && l?.[k] !== null) errs.push(...validateHandler(`${path}.${k}`, l[k], grace, ['exec', 'httpGet', 'tcpSocket', 'sleep']));
  }
  return errs;
}

export function validateSecurityContextIDs(path: string, sc: core.SecurityContext | core.PodSecurityContext | undefined): FieldError[] {
  if (!isObj(sc)) return [];
  const errs: FieldError[] = [];
  for (const k of ['runAsUser', 'runAsGroup', 'fsGroup'] as const) {
    const v = sc[k];
    if (typeof v === 'number' && (v < 0 || v > MAX_INT32)) errs.push(invalid(`${path}.${k}`, v, inclusiveRangeError(0, MAX_INT32)));
  }
  arr(sc.supplementalGroups).forEach((g, i) => {
    if (typeof g === 'number' && (g < 0 || g > MAX_INT32)) errs.push(invalid(`${path}.supplementalGroups[${i}]`, g, inclusiveRangeError(0, MAX_INT32)));
  });
  return errs;
}

/** validateContainerCommon: what every container (regular, init, ephemeral) must satisfy. */
export function validateContainerCommon(path: string, c: Container | core.EphemeralContainer | undefined, volumes: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  if (!c?.name) errs.push(required(`${path}.name`));
  else errs.push(...validateDNS1123Label(`${path}.name`, String(c.name)));
  if (!c?.image) errs.push(required(`${path}.image`));
  const tmp = c?.terminationMessagePolicy;
  if (!tmp) errs.push(required(`${path}.terminationMessagePolicy`));
  else if (tmp !== 'File' && tmp !== 'FallbackToLogsOnError')
    errs.push(notSupported(`${path}.terminationMessagePolicy`, tmp, ['File', 'FallbackToLogsOnError']));
  errs.push(...validateContainerPorts(`${path}.ports`, c?.ports));
  errs.push(...validateEnv(`${path}.env`, c?.env));
  errs.push(...validateEnvFrom(`${path}.envFrom`, c?.envFrom));
  errs.push(...validateVolumeMounts(`${path}.volumeMounts`, c?.volumeMounts, volumes, c));
  const pp = c?.imagePullPolicy;
  if (!pp) errs.push(required(`${path}.imagePullPolicy`));
  else if (!['Always', 'IfNotPresent', 'Never'].includes(pp)) errs.push(notSupported(`${path}.imagePullPolicy`, pp, ['Always', 'IfNotPresent', 'Never']));
  errs.push(...validateResources(`${path}.resources`, c?.resources));
  errs.push(...validateSecurityContextIDs(`${path}.securityContext`, c?.securityContext));
  return errs;
}

export function hostPortConflicts(path: string, containers: (Container | undefined)[]): FieldError[] {
  const seen = new Set<string>();
  const errs: FieldError[] = [];
  containers.forEach((c, ci) => {
    arr(c?.ports).forEach((p, pi) => {
      if (!p?.hostPort) return;
      const key = `${p.protocol ?? ''}/${p.hostIP ?? ''}/${p.hostPort}`;
      if (seen.has(key)) errs.push(duplicate(`${path}[${ci}].ports[${pi}].hostPort`, key));
      seen.add(key);
    });
  });
  return errs;
}
