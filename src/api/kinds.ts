// Typed handles of the served resources: `PODS` is the pods resource whose objects are `Pod`, so a client
// call or an informer made with it is typed by it (`client.get(PODS, ns, name)` is a `Pod`).
import { findResource, type ResourceDef } from './resources.js';
import type {
  ConfigMap,
  ControllerRevision,
  CronJob,
  DaemonSet,
  Deployment,
  EndpointSlice,
  Endpoints,
  Event,
  Job,
  KObject,
  Lease,
  Namespace,
  NetworkPolicy,
  Node,
  Pod,
  PodDisruptionBudget,
  ReplicaSet,
  ReplicationController,
  Secret,
  Service,
  ServiceAccount,
  StatefulSet,
  Role,
  ClusterRole,
  RoleBinding,
  ClusterRoleBinding,
  PersistentVolume,
  PersistentVolumeClaim,
  StorageClass,
  CertificateSigningRequest,
  Ingress,
} from './types.js';

/** Whether `obj`, an object of resource `r`, is one of `def`'s kind: code that handles every kind as a
 *  `KObject` (the registry) narrows this way where one kind has its own handling. */
export function isOf<T extends KObject>(def: ResourceDef<T>, r: ResourceDef, obj: KObject): obj is T {
  return r.group === def.group && r.plural === def.plural && obj.metadata !== undefined;
}

function typed<T extends KObject>(group: string, version: string, plural: string): ResourceDef<T> {
  const r = findResource(group, version, plural);
  if (!r) throw new Error(`k8ts: ${plural}.${group || 'core'}/${version} is not a served resource`);
  return r as ResourceDef<T>;
}

export const NAMESPACES = typed<Namespace>('', 'v1', 'namespaces');
export const PODS = typed<Pod>('', 'v1', 'pods');
export const SERVICES = typed<Service>('', 'v1', 'services');
export const ENDPOINTS = typed<Endpoints>('', 'v1', 'endpoints');
export const NODES = typed<Node>('', 'v1', 'nodes');
export const EVENTS = typed<Event>('', 'v1', 'events');
export const CONFIGMAPS = typed<ConfigMap>('', 'v1', 'configmaps');
export const SECRETS = typed<Secret>('', 'v1', 'secrets');
export const SERVICEACCOUNTS = typed<ServiceAccount>('', 'v1', 'serviceaccounts');
export const LEASES = typed<Lease>('coordination.k8s.io', 'v1', 'leases');
export const ENDPOINTSLICES = typed<EndpointSlice>('discovery.k8s.io', 'v1', 'endpointslices');
export const DEPLOYMENTS = typed<Deployment>('apps', 'v1', 'deployments');
export const REPLICASETS = typed<ReplicaSet>('apps', 'v1', 'replicasets');
export const DAEMONSETS = typed<DaemonSet>('apps', 'v1', 'daemonsets');
export const STATEFULSETS = typed<StatefulSet>('apps', 'v1', 'statefulsets');
export const CONTROLLERREVISIONS = typed<ControllerRevision>('apps', 'v1', 'controllerrevisions');
export const NETWORKPOLICIES = typed<NetworkPolicy>('networking.k8s.io', 'v1', 'networkpolicies');
export const REPLICATIONCONTROLLERS = typed<ReplicationController>('', 'v1', 'replicationcontrollers');
export const PERSISTENTVOLUMES = typed<PersistentVolume>('', 'v1', 'persistentvolumes');
export const PERSISTENTVOLUMECLAIMS = typed<PersistentVolumeClaim>('', 'v1', 'persistentvolumeclaims');
export const STORAGECLASSES = typed<StorageClass>('storage.k8s.io', 'v1', 'storageclasses');
export const INGRESSES = typed<Ingress>('networking.k8s.io', 'v1', 'ingresses');
export const CSRS = typed<CertificateSigningRequest>('certificates.k8s.io', 'v1', 'certificatesigningrequests');
export const PODDISRUPTIONBUDGETS = typed<PodDisruptionBudget>('policy', 'v1', 'poddisruptionbudgets');
export const JOBS = typed<Job>('batch', 'v1', 'jobs');
export const CRONJOBS = typed<CronJob>('batch', 'v1', 'cronjobs');
export const ROLES = typed<Role>('rbac.authorization.k8s.io', 'v1', 'roles');
export const CLUSTERROLES = typed<ClusterRole>('rbac.authorization.k8s.io', 'v1', 'clusterroles');
export const ROLEBINDINGS = typed<RoleBinding>('rbac.authorization.k8s.io', 'v1', 'rolebindings');
export const CLUSTERROLEBINDINGS = typed<ClusterRoleBinding>('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings');
