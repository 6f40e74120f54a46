// The shape of Kubernetes objects as k8ts handles them: every served kind typed once, from the
// `kubernetes-types` package (the Go structs' JSON as TypeScript, types only), with metadata that a
// stored object always has.
import type * as k8s from 'kubernetes-types/meta/v1.js';
import type * as core from 'kubernetes-types/core/v1.js';
import type * as apps from 'kubernetes-types/apps/v1.js';
import type * as coordination from 'kubernetes-types/coordination/v1.js';
import type * as discovery from 'kubernetes-types/discovery/v1.js';
import type * as networking from 'kubernetes-types/networking/v1.js';
import type * as autoscaling from 'kubernetes-types/autoscaling/v1.js';
import type * as storage from 'kubernetes-types/storage/v1.js';
import type * as certificates from 'kubernetes-types/certificates/v1.js';
import type * as policy from 'kubernetes-types/policy/v1.js';
import type * as batch from 'kubernetes-types/batch/v1.js';
import type * as rbac from 'kubernetes-types/rbac/v1.js';

/** `readonly` in kubernetes-types marks what the server sets; the server is us, so it may write them. */
type Writable<T> = { -readonly [K in keyof T]: T[K] };

export type ObjectMeta = Writable<k8s.ObjectMeta>;
export type OwnerReference = k8s.OwnerReference;
export type LabelSelector = k8s.LabelSelector;
export type Condition = k8s.Condition;

/** Any object: type meta and metadata. Code that reads other fields uses a kind's type, or `Unstructured`. */
export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [k: string]: unknown;
}

/** An object whose kind is not known where it is handled (the registry, codecs, patches): its other
 *  fields are unknown and are narrowed before use. */
export type Unstructured = KObject & { [field: string]: unknown };

/** An object before defaults and validation have run: any field at any depth may be missing, which is
 *  what defaulting code fills in (`if (!isObj(spec.template)) spec.template = {}`). */
export type Incomplete<T> = T extends { metadata: ObjectMeta } ? Missing<Omit<T, 'metadata'>> & { metadata: ObjectMeta } : Missing<T>;
/** Every field at every depth optional (a stored object's metadata is always there, so `Incomplete` keeps it). */
type Missing<T> = T extends readonly (infer U)[]
  ? Missing<U>[]
  : T extends object
    ? string extends keyof T
      ? T
      : { -readonly [K in keyof T]?: Missing<T[K]> }
    : T;

/** A kind as k8ts stores and serves it: metadata is always there; kind and apiVersion are the strings the
 *  object carries (kubernetes-types' literals would refuse an object read as a `KObject`). */
type Served<T extends { metadata?: k8s.ObjectMeta }> = Writable<Omit<T, 'metadata' | 'kind' | 'apiVersion'>> & {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
};

export type Namespace = Served<core.Namespace>;
export type Pod = Served<core.Pod>;
export type Service = Served<core.Service>;
export type PersistentVolume = Served<core.PersistentVolume>;
export type PersistentVolumeClaim = Served<core.PersistentVolumeClaim>;
export type StorageClass = Served<storage.StorageClass>;
export type CertificateSigningRequest = Served<certificates.CertificateSigningRequest>;
export type Endpoints = Served<core.Endpoints>;
export type Node = Served<core.Node>;
export type Event = Served<core.Event>;
export type ConfigMap = Served<core.ConfigMap>;
export type Secret = Served<core.Secret>;
export type ServiceAccount = Served<core.ServiceAccount>;
export type Binding = Served<core.Binding>;
export type Lease = Served<coordination.Lease>;
export type EndpointSlice = Served<discovery.EndpointSlice>;
export type Deployment = Served<apps.Deployment>;
export type ReplicaSet = Served<apps.ReplicaSet>;
export type DaemonSet = Served<apps.DaemonSet>;
export type StatefulSet = Served<apps.StatefulSet>;
export type ControllerRevision = Served<apps.ControllerRevision>;
export type ReplicationController = Served<core.ReplicationController>;
export type NetworkPolicy = Served<networking.NetworkPolicy>;
export type Ingress = Served<networking.Ingress>;
export type IngressClass = Served<networking.IngressClass>;
export type Scale = Served<autoscaling.Scale>;
export type PodDisruptionBudget = Served<policy.PodDisruptionBudget>;
export type Eviction = Served<policy.Eviction>;
export type Job = Served<batch.Job>;
export type CronJob = Served<batch.CronJob>;
export type JobSpec = batch.JobSpec;
export type JobStatus = Writable<batch.JobStatus>;
export type JobCondition = batch.JobCondition;
export type CronJobSpec = batch.CronJobSpec;
export type PodFailurePolicyRule = batch.PodFailurePolicyRule;
export type Role = Served<rbac.Role>;
export type ClusterRole = Served<rbac.ClusterRole>;
export type RoleBinding = Served<rbac.RoleBinding>;
export type ClusterRoleBinding = Served<rbac.ClusterRoleBinding>;
export type PolicyRule = rbac.PolicyRule;
export type Subject = rbac.Subject;
export type RoleRef = rbac.RoleRef;

export type PodSpec = core.PodSpec;
export type NodeSelectorTerm = core.NodeSelectorTerm;
export type NodeSelectorRequirement = core.NodeSelectorRequirement;
export type PodStatus = core.PodStatus;
export type PodCondition = core.PodCondition;
export type Container = core.Container;
export type ContainerPort = core.ContainerPort;
export type ContainerStatus = core.ContainerStatus;
export type Probe = core.Probe;
export type ServicePort = core.ServicePort;
export type ServiceSpec = core.ServiceSpec;
export type NodeCondition = core.NodeCondition;
export type NodeStatus = core.NodeStatus;
export type NodeAddress = core.NodeAddress;
export type Taint = core.Taint;
export type Toleration = core.Toleration;
export type EndpointSubset = core.EndpointSubset;
export type EndpointAddress = core.EndpointAddress;
export type EndpointPort = core.EndpointPort;
export type ObjectReference = core.ObjectReference;
export type SliceEndpoint = discovery.Endpoint;
export type SlicePort = discovery.EndpointPort;
export type LeaseSpec = coordination.LeaseSpec;
export type ObjectFieldSelector = core.ObjectFieldSelector;
export type PodTemplateSpec = core.PodTemplateSpec;
export type DeploymentSpec = apps.DeploymentSpec;
export type DeploymentStatus = apps.DeploymentStatus;
export type DeploymentCondition = apps.DeploymentCondition;
export type ReplicaSetStatus = apps.ReplicaSetStatus;
export type ReplicaSetCondition = apps.ReplicaSetCondition;
export type Affinity = core.Affinity;
export type NodeAffinity = core.NodeAffinity;
export type NodeSelector = core.NodeSelector;
export type PodAffinityTerm = core.PodAffinityTerm;
export type WeightedPodAffinityTerm = core.WeightedPodAffinityTerm;
export type TopologySpreadConstraint = core.TopologySpreadConstraint;
export type ResourceRequirements = core.ResourceRequirements;
export type PodDisruptionBudgetSpec = policy.PodDisruptionBudgetSpec;
export type PodDisruptionBudgetStatus = policy.PodDisruptionBudgetStatus;

/** A list as the API returns it. */
export interface KList<T> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

/** One bad field, as Kubernetes' field.Error reports it. */
export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueNotFound';

export interface FieldError {
  type: FieldErrorType;
  /** JSON path in Kubernetes notation: spec.containers[0].image */
  field: string;
  /** The body as Kubernetes prints it after "<field>: ", e.g. `Required value` or
   *  `Invalid value: "Foo": a lowercase RFC 1123 label must ...`. */
  message: string;
}

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: string;
  description: string;
  priority: number;
}
