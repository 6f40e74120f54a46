// The resources k8ts serves: names, scope and verbs as Kubernetes publishes them in discovery.
import type { KObject } from './types.js';

export interface SubresourceDef {
  name: string;
  /** Kind answered by the subresource; group/version when it differs from the parent's. */
  kind: string;
  group?: string;
  version?: string;
  verbs: string[];
}

/** A served resource. `T` is the type of its objects (types only: see kinds.ts for the typed handles). */
export interface ResourceDef<T extends KObject = KObject> {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  subresources: SubresourceDef[];
  /** The object has a spec/status split with a /status subresource. */
  hasStatus: boolean;
  /** Never set: carries T, so what is read through this resource is typed by it. */
  readonly objectType?: T;
}

const RW = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];

function def(d: Partial<ResourceDef> & Pick<ResourceDef, 'group' | 'version' | 'kind' | 'plural' | 'namespaced'>): ResourceDef {
  const subresources = d.subresources ?? [];
  return {
    listKind: `${d.kind}List`,
    singular: d.kind.toLowerCase(),
    shortNames: [],
    categories: [],
    verbs: RW,
    hasStatus: subresources.some((s) => s.name === 'status'),
    ...d,
    subresources,
  };
}

const status = (kind: string, group = '', version = 'v1'): SubresourceDef => ({ name: 'status', kind, group, version, verbs: STATUS_VERBS });
const scale: SubresourceDef = { name: 'scale', kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: STATUS_VERBS };

export const RESOURCES: ResourceDef[] = [
  def({
    group: '',
    version: 'v1',
    kind: 'Namespace',
    plural: 'namespaces',
    namespaced: false,
    shortNames: ['ns'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: [{ name: 'finalize', kind: 'Namespace', verbs: ['update'] }, status('Namespace')],
  }),
  def({
    group: '',
    version: 'v1',
    kind: 'Pod',
    plural: 'pods',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    subresources: [
      status('Pod'),
      { name: 'binding', kind: 'Binding', verbs: ['create'] },
      { name: 'ephemeralcontainers', kind: 'Pod', verbs: ['get', 'patch', 'update'] },
      { name: 'eviction', kind: 'Eviction', group: 'policy', version: 'v1', verbs: ['create'] },
      { name: 'log', kind: 'Pod', verbs: ['get'] },
      { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'attach', kind: 'PodAttachOptions', verbs: ['create', 'get'] },
      { name: 'portforward', kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
    ],
  }),
  def({
    group: '',
    version: 'v1',
    kind: 'Service',
    plural: 'services',
    namespaced: true,
    shortNames: ['svc'],
    categories: ['all'],
    subresources: [status('Service')],
  }),
  def({
    group: '',
    version: 'v1',
    kind: 'Endpoints',
    listKind: 'EndpointsList',
    plural: 'endpoints',
    singular: 'endpoints',
    namespaced: true,
    shortNames: ['ep'],
  }),
  def({ group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'], subresources: [status('Node')] }),
  def({ group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'] }),
  def({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'] }),
  def({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true }),
  def({
    group: '',
    version: 'v1',
    kind: 'ServiceAccount',
    plural: 'serviceaccounts',
    namespaced: true,
    shortNames: ['sa'],
    subresources: [{ name: 'token', kind: 'TokenRequest', group: 'authentication.k8s.io', version: 'v1', verbs: ['create'] }],
  }),
  def({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true }),
  def({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true }),
  def({
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    plural: 'deployments',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: [status('Deployment', 'apps'), scale],
  }),
  def({
    group: 'apps',
    version: 'v1',
    kind: 'ReplicaSet',
    plural: 'replicasets',
    namespaced: true,
    shortNames: ['rs'],
    categories: ['all'],
    subresources: [status('ReplicaSet', 'apps'), scale],
  }),
  def({
    group: 'apps',
    version: 'v1',
    kind: 'DaemonSet',
    plural: 'daemonsets',
    namespaced: true,
    shortNames: ['ds'],
    categories: ['all'],
    subresources: [status('DaemonSet', 'apps')],
  }),
  def({
    group: 'apps',
    version: 'v1',
    kind: 'StatefulSet',
    plural: 'statefulsets',
    namespaced: true,
    shortNames: ['sts'],
    categories: ['all'],
    subresources: [status('StatefulSet', 'apps'), scale],
  }),
  def({ group: 'apps', version: 'v1', kind: 'ControllerRevision', plural: 'controllerrevisions', namespaced: true }),
  def({
    group: '',
    version: 'v1',
    kind: 'ReplicationController',
    plural: 'replicationcontrollers',
    namespaced: true,
    shortNames: ['rc'],
    categories: ['all'],
    subresources: [status('ReplicationController'), scale],
  }),
  def({
    group: 'policy',
    version: 'v1',
    kind: 'PodDisruptionBudget',
    plural: 'poddisruptionbudgets',
    namespaced: true,
    shortNames: ['pdb'],
    subresources: [status('PodDisruptionBudget', 'policy')],
  }),
  def({ group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', namespaced: true, categories: ['all'], subresources: [status('Job', 'batch')] }),
  def({
    group: 'batch',
    version: 'v1',
    kind: 'CronJob',
    plural: 'cronjobs',
    namespaced: true,
    shortNames: ['cj'],
    categories: ['all'],
    subresources: [status('CronJob', 'batch')],
  }),
  def({ group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true, shortNames: ['netpol'] }),
  def({
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'Ingress',
    plural: 'ingresses',
    namespaced: true,
    shortNames: ['ing'],
    subresources: [status('Ingress', 'networking.k8s.io')],
  }),
  def({ group: 'networking.k8s.io', version: 'v1', kind: 'IngressClass', plural: 'ingressclasses', namespaced: false }),
  def({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true }),
  def({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true }),
  def({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false }),
  def({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false }),
  // Reviews: create-only, never stored; answered by src/apiserver/authz/reviews.ts.
  def({ group: 'authorization.k8s.io', version: 'v1', kind: 'SubjectAccessReview', plural: 'subjectaccessreviews', namespaced: false, verbs: ['create'] }),
  def({
    group: 'authorization.k8s.io',
    version: 'v1',
    kind: 'SelfSubjectAccessReview',
    plural: 'selfsubjectaccessreviews',
    namespaced: false,
    verbs: ['create'],
  }),
  def({
    group: 'authorization.k8s.io',
    version: 'v1',
    kind: 'SelfSubjectRulesReview',
    plural: 'selfsubjectrulesreviews',
    namespaced: false,
    verbs: ['create'],
  }),
  def({
    group: 'authorization.k8s.io',
    version: 'v1',
    kind: 'LocalSubjectAccessReview',
    plural: 'localsubjectaccessreviews',
    namespaced: true,
    verbs: ['create'],
  }),
  def({ group: 'authentication.k8s.io', version: 'v1', kind: 'SelfSubjectReview', plural: 'selfsubjectreviews', namespaced: false, verbs: ['create'] }),
  // Answered in src/apiserver/server.ts (it needs the token authenticators).
  def({ group: 'authentication.k8s.io', version: 'v1', kind: 'TokenReview', plural: 'tokenreviews', namespaced: false, verbs: ['create'] }),
  def({
    group: '',
    version: 'v1',
    kind: 'PersistentVolume',
    plural: 'persistentvolumes',
    namespaced: false,
    shortNames: ['pv'],
    subresources: [status('PersistentVolume')],
  }),
  def({
    group: '',
    version: 'v1',
    kind: 'PersistentVolumeClaim',
    plural: 'persistentvolumeclaims',
    namespaced: true,
    shortNames: ['pvc'],
    subresources: [status('PersistentVolumeClaim')],
  }),
  def({ group: 'storage.k8s.io', version: 'v1', kind: 'StorageClass', plural: 'storageclasses', namespaced: false, shortNames: ['sc'] }),
  def({
    group: 'certificates.k8s.io',
    version: 'v1',
    kind: 'CertificateSigningRequest',
    plural: 'certificatesigningrequests',
    namespaced: false,
    shortNames: ['csr'],
    subresources: [
      status('CertificateSigningRequest', 'certificates.k8s.io'),
      { name: 'approval', kind: 'CertificateSigningRequest', group: 'certificates.k8s.io', version: 'v1', verbs: STATUS_VERBS },
    ],
  }),
  // Resource metrics: read-only, answered from the agents' /metrics/resource by src/apiserver/resourcemetrics.ts
  // (metrics-server's API, built in), never stored.
  def({ group: 'metrics.k8s.io', version: 'v1beta1', kind: 'NodeMetrics', plural: 'nodes', namespaced: false, verbs: ['get', 'list'] }),
  def({ group: 'metrics.k8s.io', version: 'v1beta1', kind: 'PodMetrics', plural: 'pods', namespaced: true, verbs: ['get', 'list'] }),
];

/** The group answered from scraped resource metrics, never from the store. */
export const METRICS_GROUP = 'metrics.k8s.io';

/** Groups whose resources are reviews answered at once, never stored. */
export const REVIEW_GROUPS = new Set(['authorization.k8s.io', 'authentication.k8s.io']);

export function groupVersion(r: { group: string; version: string }): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** Resource lookup by group and plural. */
export function findResource(group: string, version: string, plural: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function findResourceByKind(apiVersion: string, kind: string): ResourceDef | undefined {
  return RESOURCES.find((r) => groupVersion(r) === apiVersion && r.kind === kind);
}

/** Groups in the order discovery lists them (the core group first). */
export function groups(): { group: string; versions: string[] }[] {
  const out: { group: string; versions: string[] }[] = [];
  for (const r of RESOURCES) {
    let g = out.find((x) => x.group === r.group);
    if (!g) out.push((g = { group: r.group, versions: [] }));
    if (!g.versions.includes(r.version)) g.versions.push(r.version);
  }
  return out;
}

/** Storage key of an object: /registry/<group>/<plural>/<namespace>/<name> (cluster scope: no namespace). */
export function storageKey(r: ResourceDef, namespace: string | undefined, name: string): string {
  return `${storagePrefix(r, namespace)}${name}`;
}

/** Prefix under which all objects of a resource (in a namespace, when given) are stored. */
export function storagePrefix(r: ResourceDef, namespace?: string): string {
  const base = `/registry/${r.group || 'core'}/${r.plural}/`;
  return r.namespaced && namespace ? `${base}${namespace}/` : base;
}
