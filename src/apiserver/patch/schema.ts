// Strategic-merge metadata of the kinds k8ts serves: which lists merge, by which key, taken from the
// `patchStrategy`/`patchMergeKey` tags of the Kubernetes Go types (k8s.io/api, k8s.io/apimachinery meta/v1).

/** How a field merges: `merge` lists merge (by mergeKey for lists of objects, as sets for primitives). */
export interface PatchMeta {
  merge: boolean;
  mergeKey?: string;
  retainKeys: boolean;
}

/** A node of the per-kind schema tree; list elements share their list's node. */
export interface SchemaNode {
  meta?: PatchMeta;
  children: Map<string, SchemaNode>;
}

/** Dotted field path (list elements add no segment) → `strategy[:mergeKey]`; unlisted lists are replaced. */
type Table = Record<string, string>;

function under(prefix: string, t: Table): Table {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [`${prefix}.${k}`, v]));
}

const OBJECT_META: Table = { ownerReferences: 'merge:uid', finalizers: 'merge' };

const CONTAINER: Table = {
  ports: 'merge:containerPort',
  env: 'merge:name',
  volumeMounts: 'merge:mountPath',
  volumeDevices: 'merge:devicePath',
};

// envFrom, tolerations, readinessGates, resizePolicy and the affinity terms carry no tag: replaced.
const POD_SPEC: Table = {
  volumes: 'merge,retainKeys:name',
  containers: 'merge:name',
  ...under('containers', CONTAINER),
  initContainers: 'merge:name',
  ...under('initContainers', CONTAINER),
  ephemeralContainers: 'merge:name',
  ...under('ephemeralContainers', CONTAINER),
  imagePullSecrets: 'merge:name',
  hostAliases: 'merge:ip',
  topologySpreadConstraints: 'merge:topologyKey',
  schedulingGates: 'merge:name',
  resourceClaims: 'merge,retainKeys:name',
};

// containerStatuses themselves are replaced, so the merge keys inside them never apply.
const POD_STATUS: Table = {
  conditions: 'merge:type',
  podIPs: 'merge:ip',
  hostIPs: 'merge:ip',
  resourceClaimStatuses: 'merge,retainKeys:name',
};

const POD_TEMPLATE: Table = { ...under('metadata', OBJECT_META), ...under('spec', POD_SPEC) };

const CONDITIONS: Table = { conditions: 'merge:type' };

/** Keyed by `<apiVersion>/<kind>`. Every kind also gets ObjectMeta's keys under `metadata`. */
const KINDS: Record<string, Table> = {
  'v1/Pod': { ...under('spec', POD_SPEC), ...under('status', POD_STATUS) },
  'v1/Service': { 'spec.ports': 'merge:port', ...under('status', CONDITIONS) },
  // Node taints carry no tag: replaced. spec.podCIDRs is a merged set of strings.
  'v1/Node': { 'spec.podCIDRs': 'merge', 'status.conditions': 'merge:type', 'status.addresses': 'merge:type' },
  // Namespace spec.finalizers carries no tag (unlike metadata.finalizers): replaced.
  'v1/Namespace': { ...under('status', CONDITIONS) },
  'v1/ServiceAccount': { secrets: 'merge:name' },
  'v1/Endpoints': {},
  'v1/Event': {},
  'v1/ConfigMap': {},
  'v1/Secret': {},
  'v1/PersistentVolume': {},
  'v1/PersistentVolumeClaim': { ...under('status', CONDITIONS) },
  'storage.k8s.io/v1/StorageClass': {},
  'coordination.k8s.io/v1/Lease': {},
  // status.conditions is a listType=map without a patch strategy: strategic merge replaces it.
  'certificates.k8s.io/v1/CertificateSigningRequest': {},
  'discovery.k8s.io/v1/EndpointSlice': {},
  'networking.k8s.io/v1/NetworkPolicy': {},
  'networking.k8s.io/v1/Ingress': {},
  'networking.k8s.io/v1/IngressClass': {},
  'policy/v1/PodDisruptionBudget': { ...under('status', CONDITIONS) },
  // RBAC's rules, subjects and the reviews carry no patch strategy: lists are replaced whole.
  'rbac.authorization.k8s.io/v1/Role': {},
  'rbac.authorization.k8s.io/v1/ClusterRole': {},
  'rbac.authorization.k8s.io/v1/RoleBinding': {},
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {},
  'authorization.k8s.io/v1/SubjectAccessReview': {},
  'authorization.k8s.io/v1/SelfSubjectAccessReview': {},
  'authorization.k8s.io/v1/SelfSubjectRulesReview': {},
  'authorization.k8s.io/v1/LocalSubjectAccessReview': {},
  'authentication.k8s.io/v1/SelfSubjectReview': {},
  'authentication.k8s.io/v1/TokenReview': {},
  'apps/v1/Deployment': { ...under('spec.template', POD_TEMPLATE), 'spec.strategy': 'retainKeys', ...under('status', CONDITIONS) },
  'apps/v1/ReplicaSet': { ...under('spec.template', POD_TEMPLATE), ...under('status', CONDITIONS) },
  'apps/v1/DaemonSet': { ...under('spec.template', POD_TEMPLATE), ...under('status', CONDITIONS) },
  'apps/v1/StatefulSet': { ...under('spec.template', POD_TEMPLATE), ...under('status', CONDITIONS) },
  'apps/v1/ControllerRevision': {},
  'v1/ReplicationController': { ...under('spec.template', POD_TEMPLATE), ...under('status', CONDITIONS) },
  'batch/v1/Job': { ...under('spec.template', POD_TEMPLATE), ...under('status', CONDITIONS) },
  'batch/v1/CronJob': { ...under('spec.jobTemplate.metadata', OBJECT_META), ...under('spec.jobTemplate.spec.template', POD_TEMPLATE) },
};

function parseMeta(spec: string, where: string): PatchMeta {
  const [strategy, mergeKey] = spec.split(':');
  const parts = new Set(strategy.split(','));
  for (const p of parts) if (p !== 'merge' && p !== 'retainKeys') throw new Error(`schema ${where}: unknown patch strategy ${p}`);
  return { merge: parts.has('merge'), retainKeys: parts.has('retainKeys'), ...(mergeKey ? { mergeKey } : {}) };
}

function compile(table: Table): SchemaNode {
  const root: SchemaNode = { children: new Map() };
  for (const [path, spec] of Object.entries(table)) {
    let node = root;
    for (const seg of path.split('.')) {
      let next = node.children.get(seg);
      if (!next) node.children.set(seg, (next = { children: new Map() }));
      node = next;
    }
    node.meta = parseMeta(spec, path);
  }
  return root;
}

const COMPILED = new Map(Object.entries(KINDS).map(([k, t]) => [k, compile({ ...under('metadata', OBJECT_META), ...t })]));

/** The schema of a kind, or undefined for kinds without one (all their lists are then replaced). */
export function schemaFor(kind: string, apiVersion: string): SchemaNode | undefined {
  return COMPILED.get(`${apiVersion}/${kind}`);
}

export function childSchema(node: SchemaNode | undefined, field: string): SchemaNode | undefined {
  return node?.children.get(field);
}

/** The kinds with a schema, as `<apiVersion>/<kind>`. */
export function schemaKinds(): string[] {
  return [...COMPILED.keys()];
}
