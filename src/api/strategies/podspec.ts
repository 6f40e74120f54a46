// PodSpec defaults and validation shared by Pods and pod templates (Deployments, ReplicaSets),
// following Kubernetes' SetDefaults_PodSpec/Container and ValidatePodSpec (1.32 feature defaults).
import type { FieldError } from '../types.js';
import {
  duplicate, each, forbidden, goStringSlice, GoValue, inclusiveRangeError, invalid, isConfigMapKey, isDNS1123Subdomain,
  isEnvVarName, isHTTPHeaderName, isQualifiedName, isRelaxedEnvVarName, isValidLabelValue, isValidPortName,
  isValidPortNum, notFound, notSupported, required, validateAnnotations, validateDNS1123Label, validateDNS1123Subdomain,
  validateIP, validateLabelName, validateLabels, validateNonnegative, validatePortNumOrName, validateProtocol,
  validateQualifiedName, goQuote,
} from '../validation.js';
import { compareQuantity, formatQuantity, isQuantity, parseQuantity, type Quantity } from '../quantity.js';

export const arr = (v: unknown): any[] => (Array.isArray(v) ? v : []);
export const isObj = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v);

const MAX_INT32 = 2147483647;

// ---- defaults ----

const REPO_PATH = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** Always for ":latest" or no tag (and no digest), IfNotPresent otherwise (parsers.ParseImageName).
 *  A reference that does not parse leaves tag and digest empty, which is not "latest". */
export function defaultPullPolicy(image: unknown): 'Always' | 'IfNotPresent' {
  if (typeof image !== 'string' || image === '') return 'IfNotPresent';
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : '';
  const ref = at >= 0 ? image.slice(0, at) : image;
  const slash = ref.indexOf('/');
  const first = slash >= 0 ? ref.slice(0, slash) : '';
  const hasDomain = slash >= 0 && (/[.:]/.test(first) || first === 'localhost');
  const rest = hasDomain ? ref.slice(slash + 1) : ref;
  const colon = rest.lastIndexOf(':');
  const repo = colon >= 0 ? rest.slice(0, colon) : rest;
  const tag = colon >= 0 ? rest.slice(colon + 1) : '';
  if (!REPO_PATH.test(repo) || (colon >= 0 && !TAG.test(tag))) return 'IfNotPresent';
  if (tag === 'latest' || (tag === '' && digest === '')) return 'Always';
  return 'IfNotPresent';
}

function defaultProbe(p: any): void {
  if (!isObj(p)) return;
  p.timeoutSeconds ||= 1;
  p.periodSeconds ||= 10;
  p.successThreshold ||= 1;
  p.failureThreshold ||= 3;
  defaultHandler(p);
}

function defaultHandler(h: any): void {
  if (!isObj(h)) return;
  if (isObj(h.httpGet)) {
    h.httpGet.path ||= '/';
    h.httpGet.scheme ||= 'HTTP';
  }
}

export function defaultContainer(c: any): void {
  if (!isObj(c)) return;
  if (!c.imagePullPolicy) c.imagePullPolicy = defaultPullPolicy(c.image);
  c.terminationMessagePath ||= '/dev/termination-log';
  c.terminationMessagePolicy ||= 'File';
  if (!isObj(c.resources)) c.resources = {};
  for (const p of arr(c.ports)) if (isObj(p) && !p.protocol) p.protocol = 'TCP';
  for (const e of arr(c.env)) {
    if (isObj(e?.valueFrom?.fieldRef) && !e.valueFrom.fieldRef.apiVersion) e.valueFrom.fieldRef.apiVersion = 'v1';
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  if (isObj(c.lifecycle)) {
    defaultHandler(c.lifecycle.postStart);
    defaultHandler(c.lifecycle.preStop);
  }
}

const VOLUME_SOURCES: [key: string, pathName: string][] = [
  ['emptyDir', 'emptyDir'], ['hostPath', 'hostPath'], ['gitRepo', 'gitRepo'], ['gcePersistentDisk', 'gcePersistentDisk'],
  ['awsElasticBlockStore', 'awsElasticBlockStore'], ['secret', 'secret'], ['nfs', 'nfs'], ['iscsi', 'iscsi'],
  ['glusterfs', 'glusterfs'], ['flocker', 'flocker'], ['persistentVolumeClaim', 'persistentVolumeClaim'], ['rbd', 'rbd'],
  ['cinder', 'cinder'], ['cephfs', 'cephFS'], ['quobyte', 'quobyte'], ['downwardAPI', 'downwarAPI'], ['fc', 'fc'],
  ['flexVolume', 'flexVolume'], ['configMap', 'configMap'], ['azureFile', 'azureFile'], ['vsphereVolume', 'vsphereVolume'],
  ['photonPersistentDisk', 'photonPersistentDisk'], ['portworxVolume', 'portworxVolume'], ['azureDisk', 'azureDisk'],
  ['storageos', 'storageos'], ['projected', 'projected'], ['scaleIO', 'scaleIO'], ['csi', 'csi'], ['ephemeral', 'ephemeral'],
  ['image', 'image'],
];

function defaultVolume(v: any): void {
  if (!isObj(v)) return;
  if (!VOLUME_SOURCES.some(([k]) => v[k] !== undefined && v[k] !== null)) v.emptyDir = {};
  for (const k of ['secret', 'configMap', 'downwardAPI', 'projected']) {
    if (isObj(v[k]) && v[k].defaultMode === undefined) v[k].defaultMode = 420;
  }
  if (isObj(v.hostPath) && v.hostPath.type === undefined) v.hostPath.type = '';
  for (const item of arr(v.downwardAPI?.items)) {
    if (isObj(item?.fieldRef) && !item.fieldRef.apiVersion) item.fieldRef.apiVersion = 'v1';
  }
  for (const src of arr(v.projected?.sources)) {
    if (isObj(src?.serviceAccountToken) && src.serviceAccountToken.expirationSeconds === undefined) src.serviceAccountToken.expirationSeconds = 3600;
    for (const item of arr(src?.downwardAPI?.items)) {
      if (isObj(item?.fieldRef) && !item.fieldRef.apiVersion) item.fieldRef.apiVersion = 'v1';
    }
  }
}

/** SetDefaults_PodSpec and the container/volume defaults: what pods and pod templates both get. */
export function defaultPodSpec(spec: any): void {
  if (!isObj(spec)) return;
  spec.dnsPolicy ||= 'ClusterFirst';
  spec.restartPolicy ||= 'Always';
  if (!isObj(spec.securityContext)) spec.securityContext = {};
  if (spec.terminationGracePeriodSeconds === undefined || spec.terminationGracePeriodSeconds === null) spec.terminationGracePeriodSeconds = 30;
  spec.schedulerName ||= 'default-scheduler';
  // The deprecated serviceAccount field mirrors serviceAccountName in v1.
  if (!spec.serviceAccountName && typeof spec.serviceAccount === 'string' && spec.serviceAccount) spec.serviceAccountName = spec.serviceAccount;
  if (spec.serviceAccountName) spec.serviceAccount = spec.serviceAccountName;
  for (const c of arr(spec.containers)) defaultContainer(c);
  for (const c of arr(spec.initContainers)) defaultContainer(c);
  for (const c of arr(spec.ephemeralContainers)) defaultContainer(c);
  for (const v of arr(spec.volumes)) defaultVolume(v);
}

const NOT_READY_TOLERATION = { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 };
const UNREACHABLE_TOLERATION = { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 };
const SYSTEM_PRIORITIES: Record<string, number> = { 'system-node-critical': 2000001000, 'system-cluster-critical': 2000000000 };

/** SetDefaults_Pod: what a Pod (not a template) gets on top of the spec defaults. Idempotent. */
export function defaultPodOnly(spec: any): void {
  if (!isObj(spec)) return;
  for (const c of [...arr(spec.containers), ...arr(spec.initContainers)]) {
    // Requests default to limits when only limits are given.
    if (isObj(c?.resources?.limits)) {
      if (!isObj(c.resources.requests)) c.resources.requests = {};
      for (const [k, v] of Object.entries(c.resources.limits)) if (!(k in c.resources.requests)) c.resources.requests[k] = v;
    }
  }
  if (spec.enableServiceLinks === undefined || spec.enableServiceLinks === null) spec.enableServiceLinks = true;
  if (spec.hostNetwork === true) {
    for (const c of [...arr(spec.containers), ...arr(spec.initContainers)]) {
      for (const p of arr(c?.ports)) if (isObj(p) && !p.hostPort) p.hostPort = p.containerPort;
    }
  }
}

/** What the admission plugins every cluster runs add to a new Pod (ServiceAccount, Priority,
 *  DefaultTolerationSeconds). Create only: on update these fields are immutable or additive. */
export function admitPod(spec: any): void {
  if (!isObj(spec)) return;
  if (!spec.serviceAccountName) {
    spec.serviceAccountName = 'default';
    spec.serviceAccount = 'default';
  }
  if (spec.priority === undefined || spec.priority === null) {
    if (!spec.priorityClassName) spec.priority = 0;
    else if (spec.priorityClassName in SYSTEM_PRIORITIES) spec.priority = SYSTEM_PRIORITIES[spec.priorityClassName];
  }
  if (!spec.preemptionPolicy && spec.priority !== undefined) spec.preemptionPolicy = 'PreemptLowerPriority';
  const tolerations = arr(spec.tolerations);
  const tolerates = (key: string) => tolerations.some((t) => (t?.key === key || !t?.key) && (t?.effect === 'NoExecute' || !t?.effect));
  const add: any[] = [];
  if (!tolerates(NOT_READY_TOLERATION.key)) add.push({ ...NOT_READY_TOLERATION });
  if (!tolerates(UNREACHABLE_TOLERATION.key)) add.push({ ...UNREACHABLE_TOLERATION });
  if (add.length) spec.tolerations = [...tolerations, ...add];
}

// ---- validation ----

export interface PodSpecOptions {
  /** The spec is a Pod's own (not a template): hostPort must equal containerPort under hostNetwork. */
  isPod: boolean;
}

const STANDARD_RESOURCES = new Set(['cpu', 'memory', 'requests.cpu', 'requests.memory', 'requests.ephemeral-storage',
  'limits.cpu', 'limits.memory', 'limits.ephemeral-storage', 'pods', 'services', 'replicationcontrollers', 'resourcequotas',
  'secrets', 'persistentvolumeclaims', 'storage', 'requests.storage', 'services.nodeports', 'services.loadbalancers',
  'ephemeral-storage', 'configmaps']);
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

function validateResources(path: string, res: any): FieldError[] {
  if (!isObj(res)) return [];
  const errs: FieldError[] = [];
  const limits: Record<string, Quantity> = {};
  for (const [name, raw] of Object.entries(isObj(res.limits) ? res.limits : {})) {
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
    } else if (!overcommitAllowed(name) && !(name in (res.limits ?? {}))) {
      errs.push(required(`${path}.limits`, 'Limit must be set for non overcommitable resources'));
    }
  }
  return errs;
}

function validateContainerPorts(path: string, ports: unknown): FieldError[] {
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

const ENV_FIELD_PATHS = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName',
  'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs'];
const RESOURCE_FIELD_PATHS = ['limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu',
  'requests.ephemeral-storage', 'requests.memory'];

function validateKeySelector(path: string, s: any): FieldError[] {
  const errs = each(`${path}.name`, s?.name ?? '', isDNS1123Subdomain(String(s?.name ?? '')));
  if (!s?.key) errs.push(required(`${path}.key`));
  else errs.push(...each(`${path}.key`, s.key, isConfigMapKey(String(s.key))));
  return errs;
}

function validateEnvValueFrom(path: string, ev: any): FieldError[] {
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
  else if (typeof ev.value === 'string' && ev.value.length) errs.push(invalid(path, '', 'may not be specified when `value` is not empty'));
  else if (n > 1) errs.push(invalid(path, '', 'may not have more than one field specified at a time'));
  return errs;
}

/** Env var names use the relaxed rule (printable ASCII but '='), on by default since 1.32. */
export function validateEnv(path: string, env: unknown, relaxed = true): FieldError[] {
  const errs: FieldError[] = [];
  arr(env).forEach((ev, i) => {
    const ip = `${path}[${i}]`;
    if (!ev?.name) errs.push(required(`${ip}.name`));
    else errs.push(...each(`${ip}.name`, ev.name, relaxed ? isRelaxedEnvVarName(String(ev.name)) : isEnvVarName(String(ev.name))));
    errs.push(...validateEnvValueFrom(`${ip}.valueFrom`, ev));
  });
  return errs;
}

function validateEnvFrom(path: string, envFrom: unknown): FieldError[] {
  const errs: FieldError[] = [];
  arr(envFrom).forEach((ev, i) => {
    const ip = `${path}[${i}]`;
    if (typeof ev?.prefix === 'string' && ev.prefix.length) errs.push(...each(`${ip}.prefix`, ev.prefix, isRelaxedEnvVarName(ev.prefix)));
    let n = 0;
    for (const k of ['configMapRef', 'secretRef']) {
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

function validateLocalDescendingPath(field: string, p: string): FieldError[] {
  const errs: FieldError[] = [];
  if (p.startsWith('/')) errs.push(invalid(field, p, 'must be a relative path'));
  if (p.split('/').includes('..')) errs.push(invalid(field, p, "must not contain '..'"));
  return errs;
}

function validateVolumeMounts(path: string, mounts: unknown, volumes: Set<string>): FieldError[] {
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
  });
  return errs;
}

const HANDLERS: [key: string, field: string][] = [['exec', 'exec'], ['httpGet', 'httpGet'], ['tcpSocket', 'tcpSocket'], ['grpc', 'grpc'], ['sleep', 'sleep']];

function validateHandler(path: string, h: any, grace: unknown, allowed: string[]): FieldError[] {
  const errs: FieldError[] = [];
  let n = 0;
  for (const [key, f] of HANDLERS) {
    if (!allowed.includes(key) || h?.[key] === undefined || h?.[key] === null) continue;
    if (n > 0) {
      errs.push(forbidden(`${path}.${f}`, 'may not specify more than 1 handler type'));
      continue;
    }
    n++;
    const v = h[key];
    const p = `${path}.${f}`;
    switch (key) {
      case 'exec':
        if (!arr(v?.command).length) errs.push(required(`${p}.command`));
        break;
      case 'httpGet':
        if (!v?.path) errs.push(required(`${p}.path`));
        errs.push(...validatePortNumOrName(`${p}.port`, v?.port));
        if (!['HTTP', 'HTTPS'].includes(v?.scheme)) errs.push(notSupported(`${p}.scheme`, v?.scheme ?? '', ['HTTP', 'HTTPS']));
        for (const hd of arr(v?.httpHeaders)) errs.push(...each(`${p}.httpHeaders`, hd?.name ?? '', isHTTPHeaderName(String(hd?.name ?? ''))));
        break;
      case 'tcpSocket':
        errs.push(...validatePortNumOrName(`${p}.port`, v?.port));
        break;
      case 'grpc':
        errs.push(...each(`${p}.port`, v?.port ?? 0, isValidPortNum(Number(v?.port ?? 0))));
        break;
      case 'sleep': {
        const s = v?.seconds;
        if (typeof grace === 'number' && (typeof s !== 'number' || s <= 0 || s > grace)) {
          errs.push(invalid(p, s ?? 0, `must be greater than 0 and less than terminationGracePeriodSeconds (${grace}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.`));
        }
        break;
      }
    }
  }
  if (n === 0) errs.push(required(path, 'must specify a handler type'));
  return errs;
}

function validateProbe(path: string, p: any, grace: unknown, kind: 'liveness' | 'readiness' | 'startup'): FieldError[] {
  if (p === undefined || p === null) return [];
  const errs = validateHandler(path, p, grace, ['exec', 'httpGet', 'tcpSocket', 'grpc']);
  for (const k of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
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

function validateLifecycle(path: string, l: any, grace: unknown): FieldError[] {
  const errs: FieldError[] = [];
  for (const k of ['postStart', 'preStop']) {
    if (l?.[k] !== undefined && l?.[k] !== null) errs.push(...validateHandler(`${path}.${k}`, l[k], grace, ['exec', 'httpGet', 'tcpSocket', 'sleep']));
  }
  return errs;
}

function validateSecurityContextIDs(path: string, sc: any): FieldError[] {
  if (!isObj(sc)) return [];
  const errs: FieldError[] = [];
  for (const k of ['runAsUser', 'runAsGroup', 'fsGroup']) {
    const v = sc[k];
    if (typeof v === 'number' && (v < 0 || v > MAX_INT32)) errs.push(invalid(`${path}.${k}`, v, inclusiveRangeError(0, MAX_INT32)));
  }
  arr(sc.supplementalGroups).forEach((g, i) => {
    if (typeof g === 'number' && (g < 0 || g > MAX_INT32)) errs.push(invalid(`${path}.supplementalGroups[${i}]`, g, inclusiveRangeError(0, MAX_INT32)));
  });
  return errs;
}

/** validateContainerCommon: what every container (regular, init, ephemeral) must satisfy. */
function validateContainerCommon(path: string, c: any, volumes: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  if (!c?.name) errs.push(required(`${path}.name`));
  else errs.push(...validateDNS1123Label(`${path}.name`, String(c.name)));
  if (!c?.image) errs.push(required(`${path}.image`));
  const tmp = c?.terminationMessagePolicy;
  if (!tmp) errs.push(required(`${path}.terminationMessagePolicy`));
  else if (tmp !== 'File' && tmp !== 'FallbackToLogsOnError') errs.push(notSupported(`${path}.terminationMessagePolicy`, tmp, ['File', 'FallbackToLogsOnError']));
  errs.push(...validateContainerPorts(`${path}.ports`, c?.ports));
  errs.push(...validateEnv(`${path}.env`, c?.env));
  errs.push(...validateEnvFrom(`${path}.envFrom`, c?.envFrom));
  errs.push(...validateVolumeMounts(`${path}.volumeMounts`, c?.volumeMounts, volumes));
  const pp = c?.imagePullPolicy;
  if (!pp) errs.push(required(`${path}.imagePullPolicy`));
  else if (!['Always', 'IfNotPresent', 'Never'].includes(pp)) errs.push(notSupported(`${path}.imagePullPolicy`, pp, ['Always', 'IfNotPresent', 'Never']));
  errs.push(...validateResources(`${path}.resources`, c?.resources));
  errs.push(...validateSecurityContextIDs(`${path}.securityContext`, c?.securityContext));
  return errs;
}

function hostPortConflicts(path: string, containers: any[]): FieldError[] {
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

function validateVolumes(path: string, volumes: unknown): { names: Set<string>; errs: FieldError[] } {
  const names = new Set<string>();
  const errs: FieldError[] = [];
  arr(volumes).forEach((v, i) => {
    const ip = `${path}[${i}]`;
    const el: FieldError[] = [];
    let n = 0;
    for (const [key, pathName] of VOLUME_SOURCES) {
      const src = v?.[key];
      if (src === undefined || src === null) continue;
      if (n > 0) {
        el.push(forbidden(`${ip}.${pathName}`, 'may not specify more than 1 volume type'));
        continue;
      }
      n++;
      el.push(...validateVolumeSource(`${ip}.${key}`, key, src));
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

function validateVolumeSource(path: string, key: string, src: any): FieldError[] {
  switch (key) {
    case 'hostPath': {
      if (!src?.path) return [required(`${path}.path`)];
      const errs = String(src.path).split('/').includes('..') ? [invalid(`${path}.path`, src.path, "must not contain '..'")] : [];
      if (src.type !== undefined && src.type !== null && !HOST_PATH_TYPES.includes(src.type)) errs.push(notSupported(`${path}.type`, src.type, HOST_PATH_TYPES));
      return errs;
    }
    case 'secret':
      return [...(!src?.secretName ? [required(`${path}.secretName`)] : []), ...validateMode(`${path}.defaultMode`, src?.defaultMode)];
    case 'configMap':
      return [...(!src?.name ? [required(`${path}.name`)] : []), ...validateMode(`${path}.defaultMode`, src?.defaultMode)];
    case 'persistentVolumeClaim':
      return !src?.claimName ? [required(`${path}.claimName`)] : [];
    case 'downwardAPI':
    case 'projected':
      return validateMode(`${path}.defaultMode`, src?.defaultMode);
    case 'emptyDir': {
      if (src?.sizeLimit === undefined || src?.sizeLimit === null) return [];
      const q = parseQuantity(src.sizeLimit);
      return !isQuantity(q) || q.nanos < 0n ? [forbidden(`${path}.sizeLimit`, 'SizeLimit field must be a valid resource quantity')] : [];
    }
    default:
      return [];
  }
}

function validateTolerations(path: string, tolerations: unknown): FieldError[] {
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

export { validateTolerations };

function validateDNSConfig(path: string, cfg: any, dnsPolicy: unknown): FieldError[] {
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
  if (searches.join(' ').length > 2048) errs.push(invalid(`${path}.searches`, goStringSlice(searches), 'must not have more than 2048 characters (including spaces) in the search list'));
  searches.forEach((s, i) => errs.push(...validateDNS1123Subdomain(`${path}.searches[${i}]`, s.endsWith('.') ? s.slice(0, -1) : s)));
  arr(cfg.options).forEach((o, i) => {
    if (!o?.name) errs.push(required(`${path}.options[${i}]`, 'must not be empty'));
  });
  return errs;
}

/** ValidatePodSpec: the spec of a Pod or of a pod template, at path (e.g. "spec" or "spec.template.spec"). */
export function validatePodSpec(path: string, spec: any, opts: PodSpecOptions): FieldError[] {
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
      for (const k of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe']) {
        if (c?.[k] !== undefined && c?.[k] !== null) errs.push(forbidden(`${p}.${k}`, 'may not be set for init containers without restartPolicy=Always'));
      }
    }
  });

  if (spec.hostNetwork === true) {
    containers.forEach((c, i) => arr(c?.ports).forEach((pt, j) => {
      const hp = pt?.hostPort ?? 0;
      if ((opts.isPod || hp !== 0) && hp !== pt?.containerPort) {
        errs.push(invalid(`${path}.containers[${i}].ports[${j}].hostPort`, hp, 'must match `containerPort` when `hostNetwork` is true'));
      }
    }));
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
  errs.push(...validateSecurityContextIDs(`${path}.securityContext`, spec.securityContext));
  arr(spec.imagePullSecrets).forEach((s, i) => {
    if (isObj(s) && Object.keys(s).some((k) => k !== 'name')) {
      errs.push(invalid(`${path}.imagePullSecrets[${i}]`, new GoValue(`core.LocalObjectReference{Name:${goQuote(String(s.name ?? ''))}}`), 'only name may be set'));
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
export function validatePodTemplateSpec(path: string, template: any): FieldError[] {
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
export function validatePodExtras(pod: any): FieldError[] {
  const errs: FieldError[] = [];
  const spec = isObj(pod?.spec) ? pod.spec : {};
  const ann = pod?.metadata?.annotations ?? {};
  const cost = ann['controller.kubernetes.io/pod-deletion-cost'];
  if (cost !== undefined && !(/^[-+]?[0-9]+$/.test(String(cost)) && Math.abs(Number(cost)) <= MAX_INT32 + (Number(cost) < 0 ? 1 : 0))) {
    errs.push(invalid('metadata.annotations[controller.kubernetes.io/pod-deletion-cost]', String(cost), 'must be a 32bit integer'));
  }
  if (ann['kubernetes.io/config.mirror'] !== undefined && !spec.nodeName) {
    errs.push(invalid('metadata.annotations[kubernetes.io/config.mirror]', String(ann['kubernetes.io/config.mirror']), 'must set spec.nodeName if mirror pod annotation is set'));
  }
  if (!spec.serviceAccountName) {
    arr(spec.volumes).forEach((v, vi) => arr(v?.projected?.sources).forEach((s, si) => {
      if (s?.serviceAccountToken !== undefined) {
        errs.push(forbidden(`spec.volumes[${vi}].projected.sources[${si}].serviceAccountToken`, 'must not be specified when serviceAccountName is not set'));
      }
    }));
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
