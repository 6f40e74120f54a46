// PodSpec, container and volume defaults, Pod-only defaults, and admission's additions to new Pods.
import type { Container, Incomplete, PodSpec, Probe, Toleration } from '../types.js';
import type * as core from 'kubernetes-types/core/v1.js';
import { arr, isObj } from '../narrow.js';

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

function defaultProbe(p: Incomplete<Probe> | undefined): void {
  if (!isObj(p)) return;
  p.timeoutSeconds ||= 1;
  p.periodSeconds ||= 10;
  p.successThreshold ||= 1;
  p.failureThreshold ||= 3;
  defaultHandler(p);
}

function defaultHandler(h: Incomplete<core.LifecycleHandler> | undefined): void {
  if (!isObj(h)) return;
  if (isObj(h.httpGet)) {
    h.httpGet.path ||= '/';
    h.httpGet.scheme ||= 'HTTP';
  }
}

export function defaultContainer(c: Incomplete<Container>): void {
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

/** Volume source fields in Kubernetes' order, with the name its "more than 1 volume type" error uses. */
export const VOLUME_SOURCES: [key: string, pathName: string][] = [
  ['emptyDir', 'emptyDir'],
  ['hostPath', 'hostPath'],
  ['gitRepo', 'gitRepo'],
  ['gcePersistentDisk', 'gcePersistentDisk'],
  ['awsElasticBlockStore', 'awsElasticBlockStore'],
  ['secret', 'secret'],
  ['nfs', 'nfs'],
  ['iscsi', 'iscsi'],
  ['glusterfs', 'glusterfs'],
  ['flocker', 'flocker'],
  ['persistentVolumeClaim', 'persistentVolumeClaim'],
  ['rbd', 'rbd'],
  ['cinder', 'cinder'],
  ['cephfs', 'cephFS'],
  ['quobyte', 'quobyte'],
  ['downwardAPI', 'downwarAPI'],
  ['fc', 'fc'],
  ['flexVolume', 'flexVolume'],
  ['configMap', 'configMap'],
  ['azureFile', 'azureFile'],
  ['vsphereVolume', 'vsphereVolume'],
  ['photonPersistentDisk', 'photonPersistentDisk'],
  ['portworxVolume', 'portworxVolume'],
  ['azureDisk', 'azureDisk'],
  ['storageos', 'storageos'],
  ['projected', 'projected'],
  ['scaleIO', 'scaleIO'],
  ['csi', 'csi'],
  ['ephemeral', 'ephemeral'],
  ['image', 'image'],
];

function defaultVolume(v: Incomplete<core.Volume>): void {
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
export function defaultPodSpec(spec: Incomplete<PodSpec> | undefined): void {
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

/** The tolerationSeconds DefaultTolerationSeconds adds (kube-apiserver's --default-not-ready-toleration-seconds
 *  and --default-unreachable-toleration-seconds, 300 each); the server sets them once at start. */
export function setDefaultTolerationSeconds(notReady: number, unreachable: number): void {
  NOT_READY_TOLERATION.tolerationSeconds = notReady;
  UNREACHABLE_TOLERATION.tolerationSeconds = unreachable;
}
const SYSTEM_PRIORITIES: Record<string, number> = { 'system-node-critical': 2000001000, 'system-cluster-critical': 2000000000 };

/** SetDefaults_Pod: what a Pod (not a template) gets on top of the spec defaults. Idempotent. */
export function defaultPodOnly(spec: Incomplete<PodSpec> | undefined): void {
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
export function admitPod(spec: Incomplete<PodSpec> | undefined): void {
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
  const add: Toleration[] = [];
  if (!tolerates(NOT_READY_TOLERATION.key)) add.push({ ...NOT_READY_TOLERATION });
  if (!tolerates(UNREACHABLE_TOLERATION.key)) add.push({ ...UNREACHABLE_TOLERATION });
  if (add.length) spec.tolerations = [...tolerations, ...add];
}
