// The strategy of every resource k8ts serves, by plural, and the Name + Age table for any other kind.
import type { ResourceStrategy } from '../strategy.js';
import { AGE_COLUMN, age, NAME_COLUMN } from './columns.js';
import { configMapStrategy } from './configmap.js';
import { cronJobStrategy } from './cronjob.js';
import { deploymentStrategy } from './deployment.js';
import { endpointsStrategy } from './endpoints.js';
import { endpointSliceStrategy } from './endpointslice.js';
import { eventStrategy } from './event.js';
import { ingressClassStrategy, ingressStrategy } from './ingress.js';
import { jobStrategy } from './job.js';
import { leaseStrategy } from './lease.js';
import { csrStrategy } from './csr.js';
import { namespaceStrategy } from './namespace.js';
import { networkPolicyStrategy } from './networkpolicy.js';
import { nodeStrategy } from './node.js';
import { podStrategy } from './pod.js';
import { podDisruptionBudgetStrategy } from './poddisruptionbudget.js';
import { clusterRoleBindingStrategy, clusterRoleStrategy, roleBindingStrategy, roleStrategy } from './rbac.js';
import { replicaSetStrategy } from './replicaset.js';
import { replicationControllerStrategy } from './replicationcontroller.js';
import { secretStrategy } from './secret.js';
import { serviceStrategy } from './service.js';
import { serviceAccountStrategy } from './serviceaccount.js';
import { persistentVolumeClaimStrategy, persistentVolumeStrategy, storageClassStrategy } from './storage.js';
import { controllerRevisionStrategy, daemonSetStrategy, statefulSetStrategy } from './sets.js';

/** Name and Age only: a kind without its own printer (kubectl then prints NAME and AGE). */
export const genericTable: ResourceStrategy = {
  columns: [NAME_COLUMN, AGE_COLUMN],
  row(obj, now) {
    return [obj.metadata?.name ?? '', age(obj, now)];
  },
};

export const STRATEGIES: Record<string, ResourceStrategy> = {
  namespaces: namespaceStrategy,
  pods: podStrategy,
  services: serviceStrategy,
  endpoints: endpointsStrategy,
  nodes: nodeStrategy,
  events: eventStrategy,
  configmaps: configMapStrategy,
  secrets: secretStrategy,
  serviceaccounts: serviceAccountStrategy,
  leases: leaseStrategy,
  certificatesigningrequests: csrStrategy,
  endpointslices: endpointSliceStrategy,
  deployments: deploymentStrategy,
  replicasets: replicaSetStrategy,
  daemonsets: daemonSetStrategy,
  statefulsets: statefulSetStrategy,
  controllerrevisions: controllerRevisionStrategy,
  replicationcontrollers: replicationControllerStrategy,
  networkpolicies: networkPolicyStrategy,
  jobs: jobStrategy,
  cronjobs: cronJobStrategy,
  ingresses: ingressStrategy,
  ingressclasses: ingressClassStrategy,
  persistentvolumes: persistentVolumeStrategy,
  persistentvolumeclaims: persistentVolumeClaimStrategy,
  storageclasses: storageClassStrategy,
  poddisruptionbudgets: podDisruptionBudgetStrategy,
  roles: roleStrategy,
  clusterroles: clusterRoleStrategy,
  rolebindings: roleBindingStrategy,
  clusterrolebindings: clusterRoleBindingStrategy,
  // Reviews are never stored or listed; a table of one (a create answered as a Table) is Name + Age.
  subjectaccessreviews: genericTable,
  selfsubjectaccessreviews: genericTable,
  selfsubjectrulesreviews: genericTable,
  localsubjectaccessreviews: genericTable,
  selfsubjectreviews: genericTable,
  tokenreviews: genericTable,
};

/** The strategy for a plural, the generic table when there is none. */
export function strategyFor(plural: string): ResourceStrategy {
  return STRATEGIES[plural] ?? genericTable;
}
