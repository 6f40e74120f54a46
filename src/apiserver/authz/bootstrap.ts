// The default roles and bindings Kubernetes bootstraps, reconciled at every start as upstream's
// rbac/bootstrap-roles post-start hook does: missing ones are created; ones annotated
// rbac.authorization.kubernetes.io/autoupdate=true (the default) get back missing permissions,
// aggregation selectors, labels and subjects; a user's own additions are kept (k8ts's own `k8ts:` roles
// are set back to exactly their rules, so that narrowing one narrows it on upgrade).
import { isDeepStrictEqual } from 'node:util';
import { CLUSTERROLEBINDINGS, CLUSTERROLES } from '../../api/kinds.js';
import type { ClusterRole, ClusterRoleBinding, LabelSelector, PolicyRule, Subject } from '../../api/types.js';
import { isConflict, isNotFound, type Client } from '../../client/types.js';
import { uncovered } from './rules.js';
import { NODE_RULES } from './node.js';

const AUTOUPDATE = 'rbac.authorization.kubernetes.io/autoupdate';
const BOOTSTRAPPING = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };
const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const RBAC = 'rbac.authorization.k8s.io';

const rule = (verbs: string[], groups: string[], resources: string[], names?: string[]): PolicyRule => ({
  verbs,
  apiGroups: groups,
  resources,
  ...(names ? { resourceNames: names } : {}),
});
const urls = (verbs: string[], u: string[]): PolicyRule => ({ verbs, nonResourceURLs: u });
const events = [rule(['create', 'patch', 'update'], ['', 'events.k8s.io'], ['events'])];

function cr(name: string, rules: PolicyRule[], extra: { labels?: Record<string, string>; aggregateTo?: string } = {}): ClusterRole {
  return {
    apiVersion: `${RBAC}/v1`,
    kind: 'ClusterRole',
    metadata: { name, labels: { ...BOOTSTRAPPING, ...extra.labels }, annotations: { [AUTOUPDATE]: 'true' } },
    ...(extra.aggregateTo
      ? { aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [`rbac.authorization.k8s.io/aggregate-to-${extra.aggregateTo}`]: 'true' } }] } }
      : { rules }),
  };
}

const user = (name: string): Subject => ({ kind: 'User', apiGroup: RBAC, name });
const group = (name: string): Subject => ({ kind: 'Group', apiGroup: RBAC, name });

function crb(name: string, role: string, subjects: Subject[]): ClusterRoleBinding {
  return {
    apiVersion: `${RBAC}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: { ...BOOTSTRAPPING }, annotations: { [AUTOUPDATE]: 'true' } },
    roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: role },
    subjects,
  };
}

const HEALTH = ['/livez', '/readyz', '/healthz'];
/** Roles k8ts defines (not upstream's): reconciled to exactly their rules, so a narrowed one narrows on
 *  upgrade too (upstream only ever adds to its own; annotating autoupdate=false still keeps a role as it is). */
const OWNED = new Set(['k8ts:node-agent']);

/** The ClusterRoles as upstream's bootstrap policy defines them (the kinds k8ts serves, and the ones a chart
 *  expects to find), plus k8ts's transitional node-agent role. */
export const BOOTSTRAP_CLUSTER_ROLES: ClusterRole[] = [
  cr('cluster-admin', [rule(['*'], ['*'], ['*']), urls(['*'], ['*'])]),
  cr('system:discovery', [urls(['get'], [...HEALTH, '/version', '/version/', '/openapi', '/openapi/*', '/api', '/api/*', '/apis', '/apis/*'])]),
  cr('system:monitoring', [urls(['get'], ['/metrics', '/metrics/slis', ...HEALTH, '/livez/*', '/readyz/*', '/healthz/*'])]),
  cr('system:basic-user', [
    rule(['create'], ['authorization.k8s.io'], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']),
    rule(['create'], ['authentication.k8s.io'], ['selfsubjectreviews']),
  ]),
  cr('system:public-info-viewer', [urls(['get'], [...HEALTH, '/version', '/version/'])]),
  // The service-account issuer's OIDC documents, for every service account (not anonymous: upstream's default).
  cr('system:service-account-issuer-discovery', [
    urls(['get'], ['/.well-known/openid-configuration', '/.well-known/openid-configuration/', '/openid/v1/jwks', '/openid/v1/jwks/']),
  ]),
  cr('admin', [], { aggregateTo: 'admin' }),
  cr('edit', [], { aggregateTo: 'edit', labels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } }),
  cr('view', [], { aggregateTo: 'view', labels: { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' } }),
  cr(
    'system:aggregate-to-admin',
    [rule(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews']), rule([...READ, ...WRITE], [RBAC], ['rolebindings', 'roles'])],
    { labels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } },
  ),
  cr(
    'system:aggregate-to-edit',
    [
      rule(READ, [''], ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'secrets', 'services/proxy']),
      rule(['impersonate'], [''], ['serviceaccounts']),
      rule(WRITE, [''], ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy']),
      rule(['create'], [''], ['pods/eviction']),
      rule(
        WRITE,
        [''],
        [
          'configmaps',
          'events',
          'persistentvolumeclaims',
          'replicationcontrollers',
          'replicationcontrollers/scale',
          'secrets',
          'serviceaccounts',
          'services',
          'services/proxy',
        ],
      ),
      rule(['create'], [''], ['serviceaccounts/token']),
      rule(
        WRITE,
        ['apps'],
        ['daemonsets', 'deployments', 'deployments/rollback', 'deployments/scale', 'replicasets', 'replicasets/scale', 'statefulsets', 'statefulsets/scale'],
      ),
      rule(WRITE, ['autoscaling'], ['horizontalpodautoscalers']),
      rule(WRITE, ['batch'], ['cronjobs', 'jobs']),
      rule(WRITE, ['policy'], ['poddisruptionbudgets']),
      rule(WRITE, ['networking.k8s.io'], ['ingresses', 'networkpolicies']),
      rule([...READ, ...WRITE], ['coordination.k8s.io'], ['leases']),
    ],
    { labels: { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' } },
  ),
  cr(
    'system:aggregate-to-view',
    [
      rule(
        READ,
        [''],
        [
          'configmaps',
          'endpoints',
          'persistentvolumeclaims',
          'persistentvolumeclaims/status',
          'pods',
          'replicationcontrollers',
          'replicationcontrollers/scale',
          'serviceaccounts',
          'services',
          'services/status',
        ],
      ),
      rule(
        READ,
        [''],
        [
          'bindings',
          'events',
          'limitranges',
          'namespaces/status',
          'pods/log',
          'pods/status',
          'replicationcontrollers/status',
          'resourcequotas',
          'resourcequotas/status',
        ],
      ),
      rule(READ, [''], ['namespaces']),
      rule(READ, ['discovery.k8s.io'], ['endpointslices']),
      rule(
        READ,
        ['apps'],
        [
          'controllerrevisions',
          'daemonsets',
          'daemonsets/status',
          'deployments',
          'deployments/scale',
          'deployments/status',
          'replicasets',
          'replicasets/scale',
          'replicasets/status',
          'statefulsets',
          'statefulsets/scale',
          'statefulsets/status',
        ],
      ),
      rule(READ, ['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']),
      rule(READ, ['batch'], ['cronjobs', 'cronjobs/status', 'jobs', 'jobs/status']),
      rule(READ, ['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status']),
      rule(READ, ['networking.k8s.io'], ['ingresses', 'ingresses/status', 'networkpolicies']),
    ],
    { labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } },
  ),
  // metrics-server's reader role (its manifest installs it; here the API is built in): view, edit and admin read metrics.
  cr('system:aggregated-metrics-reader', [rule(READ, ['metrics.k8s.io'], ['pods', 'nodes'])], {
    labels: {
      'rbac.authorization.k8s.io/aggregate-to-view': 'true',
      'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
      'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
    },
  }),
  // upstream's NodeRules; bound to no one (as upstream since 1.8): the Node authorizer applies them.
  cr('system:node', NODE_RULES),
  cr('system:node-proxier', [
    rule(['list', 'watch'], [''], ['endpoints', 'services']),
    rule(['get', 'list', 'watch'], [''], ['nodes']),
    ...events,
    rule(['list', 'watch'], ['discovery.k8s.io'], ['endpointslices']),
  ]),
  cr('system:kube-dns', [rule(['list', 'watch'], [''], ['endpoints', 'services'])]),
  cr('system:kube-controller-manager', [
    ...events,
    rule(['create'], ['coordination.k8s.io'], ['leases']),
    rule(['get', 'update'], ['coordination.k8s.io'], ['leases'], ['kube-controller-manager']),
    rule(['create'], [''], ['secrets', 'serviceaccounts']),
    rule(['delete'], [''], ['secrets']),
    rule(['get'], [''], ['configmaps', 'namespaces', 'secrets', 'serviceaccounts']),
    rule(['update'], [''], ['secrets', 'serviceaccounts']),
    rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
    rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
    rule(['list', 'watch'], ['*'], ['*']),
    rule(['create'], [''], ['serviceaccounts/token']),
  ]),
  cr('system:kube-scheduler', [
    ...events,
    rule(['create'], ['coordination.k8s.io'], ['leases']),
    rule(['get', 'update'], ['coordination.k8s.io'], ['leases'], ['kube-scheduler']),
    rule(READ, [''], ['nodes']),
    rule(['delete', 'get', 'list', 'watch'], [''], ['pods']),
    rule(['create'], [''], ['bindings', 'pods/binding']),
    rule(['patch', 'update'], [''], ['pods/status']),
    rule(READ, [''], ['replicationcontrollers', 'services']),
    rule(READ, ['apps', 'extensions'], ['replicasets']),
    rule(READ, ['apps'], ['statefulsets']),
    rule(READ, ['policy'], ['poddisruptionbudgets']),
    rule(READ, [''], ['persistentvolumeclaims']),
    // upstream's system:volume-scheduler, bound to the same user: the volume binding plugin updates volumes.
    rule([...READ, 'update', 'patch'], [''], ['persistentvolumes']),
    rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
    rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
    rule(READ, [''], ['namespaces']),
  ]),
  cr('system:auth-delegator', [
    rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
    rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
  ]),
  cr('system:kubelet-api-admin', [
    rule(['get', 'list', 'watch'], [''], ['nodes']),
    rule(['proxy'], [''], ['nodes']),
    rule(['*'], [''], ['nodes/log', 'nodes/metrics', 'nodes/proxy', 'nodes/stats']),
  ]),
  cr('system:node-bootstrapper', [rule(['create', 'get', 'list', 'watch'], ['certificates.k8s.io'], ['certificatesigningrequests'])]),
  // What the CSR approver asks (SubjectAccessReview) before approving a node's client certificate.
  cr('system:certificates.k8s.io:certificatesigningrequests:nodeclient', [
    rule(['create'], ['certificates.k8s.io'], ['certificatesigningrequests/nodeclient']),
  ]),
  cr('system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', [
    rule(['create'], ['certificates.k8s.io'], ['certificatesigningrequests/selfnodeclient']),
  ]),
  cr('system:certificates.k8s.io:kube-apiserver-client-approver', [
    rule(['approve'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/kube-apiserver-client']),
  ]),
  cr('system:certificates.k8s.io:kube-apiserver-client-kubelet-approver', [
    rule(['approve'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/kube-apiserver-client-kubelet']),
  ]),
  // What a k8ts agent reads beyond a kubelet's own (NODE_RULES and the Node authorizer's graph grant that,
  // only for the node's own objects and what its pods use): the agent is also the node's service proxy,
  // DNS server and NetworkPolicy engine, which read services, endpoints, namespaces, slices and policies,
  // as system:node-proxier, CoreDNS's role and a CNI's policy agent do. Nothing of volumes or claims: a
  // node gets a claim and its volume only by name, through a pod of its own.
  cr('k8ts:node-agent', [
    rule(READ, [''], ['endpoints', 'namespaces', 'services']),
    rule(READ, ['discovery.k8s.io'], ['endpointslices']),
    rule(READ, ['networking.k8s.io'], ['networkpolicies']),
  ]),
];

export const BOOTSTRAP_CLUSTER_ROLE_BINDINGS: ClusterRoleBinding[] = [
  crb('cluster-admin', 'cluster-admin', [group('system:masters')]),
  // As kubeadm binds them: bootstrap-token users may have a node client certificate approved, and a node
  // may renew its own.
  // kubeadm's kubeadm:kubelet-bootstrap: a bootstrap token may create (and read back) CSRs.
  crb('k8ts:kubelet-bootstrap', 'system:node-bootstrapper', [group('system:bootstrappers')]),
  crb('k8ts:node-autoapprove-bootstrap', 'system:certificates.k8s.io:certificatesigningrequests:nodeclient', [group('system:bootstrappers')]),
  crb('k8ts:node-autoapprove-certificate-rotation', 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', [group('system:nodes')]),
  crb('system:monitoring', 'system:monitoring', [group('system:monitoring')]),
  crb('system:discovery', 'system:discovery', [group('system:authenticated')]),
  crb('system:basic-user', 'system:basic-user', [group('system:authenticated')]),
  crb('system:public-info-viewer', 'system:public-info-viewer', [group('system:authenticated'), group('system:unauthenticated')]),
  crb('system:service-account-issuer-discovery', 'system:service-account-issuer-discovery', [group('system:serviceaccounts')]),
  crb('system:node-proxier', 'system:node-proxier', [user('system:kube-proxy')]),
  crb('system:kube-controller-manager', 'system:kube-controller-manager', [user('system:kube-controller-manager')]),
  crb('system:kube-dns', 'system:kube-dns', [{ kind: 'ServiceAccount', apiGroup: '', name: 'kube-dns', namespace: 'kube-system' }]),
  crb('system:kube-scheduler', 'system:kube-scheduler', [user('system:kube-scheduler')]),
  crb('system:node', 'system:node', []),
  crb('k8ts:node-agent', 'k8ts:node-agent', [group('system:nodes')]),
];

const mergeMap = (have: Record<string, string> | undefined, want: Record<string, string> | undefined): Record<string, string> => ({ ...want, ...have });

/** Reconciles one ClusterRole; returns what changed ('created', 'updated', '' when nothing). */
async function reconcileRole(c: Client, want: ClusterRole): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const have = await c.get(CLUSTERROLES, undefined, want.metadata.name!);
    if (!have) {
      try {
        await c.create(CLUSTERROLES, undefined, structuredClone(want));
        return 'created';
      } catch (e) {
        if (isConflict(e)) continue;
        throw e;
      }
    }
    if (have.metadata.annotations?.[AUTOUPDATE] === 'false') return '';
    const next: ClusterRole = structuredClone(have);
    next.metadata.labels = mergeMap(have.metadata.labels, want.metadata.labels);
    next.metadata.annotations = mergeMap(have.metadata.annotations, want.metadata.annotations);
    if (want.aggregationRule) {
      const sels: LabelSelector[] = [...(have.aggregationRule?.clusterRoleSelectors ?? [])];
      for (const s of want.aggregationRule.clusterRoleSelectors ?? []) if (!sels.some((x) => isDeepStrictEqual(x, s))) sels.push(s);
      next.aggregationRule = { clusterRoleSelectors: sels };
    } else if (OWNED.has(want.metadata.name!)) {
      // k8ts's own roles hold exactly what this version grants: a permission an older one granted goes.
      next.rules = structuredClone(want.rules ?? []);
    } else {
      const missing = uncovered(have.rules ?? [], want.rules ?? []);
      if (missing.length) next.rules = [...(have.rules ?? []), ...missing];
    }
    if (isDeepStrictEqual(next, have)) return '';
    try {
      await c.update(CLUSTERROLES, undefined, next);
      return 'updated';
    } catch (e) {
      if (isConflict(e)) continue;
      throw e;
    }
  }
  throw new Error(`clusterrole ${want.metadata.name}: kept conflicting while reconciling`);
}

async function reconcileBinding(c: Client, want: ClusterRoleBinding): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const have = await c.get(CLUSTERROLEBINDINGS, undefined, want.metadata.name!);
    if (!have) {
      try {
        await c.create(CLUSTERROLEBINDINGS, undefined, structuredClone(want));
        return 'created';
      } catch (e) {
        if (isConflict(e)) continue;
        throw e;
      }
    }
    if (have.metadata.annotations?.[AUTOUPDATE] === 'false') return '';
    if (!isDeepStrictEqual(have.roleRef, want.roleRef)) {
      // roleRef is immutable: upstream deletes and recreates the binding.
      await c.delete(CLUSTERROLEBINDINGS, undefined, have.metadata.name!).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
      continue;
    }
    const next: ClusterRoleBinding = structuredClone(have);
    next.metadata.labels = mergeMap(have.metadata.labels, want.metadata.labels);
    next.metadata.annotations = mergeMap(have.metadata.annotations, want.metadata.annotations);
    const subjects = [...(have.subjects ?? [])];
    for (const s of want.subjects ?? [])
      if (!subjects.some((x) => x.kind === s.kind && x.name === s.name && (x.namespace ?? '') === (s.namespace ?? ''))) subjects.push(s);
    if (subjects.length) next.subjects = subjects;
    if (isDeepStrictEqual(next, have)) return '';
    try {
      await c.update(CLUSTERROLEBINDINGS, undefined, next);
      return 'updated';
    } catch (e) {
      if (isConflict(e)) continue;
      throw e;
    }
  }
  throw new Error(`clusterrolebinding ${want.metadata.name}: kept conflicting while reconciling`);
}

/** Creates or reconciles every default ClusterRole and ClusterRoleBinding; returns the names changed. */
export async function reconcileBootstrapPolicy(c: Client): Promise<string[]> {
  // All at once: each is its own object, and a binding may name a role not made yet (RBAC resolves roles
  // when it authorizes). Together their writes share the store's group commits instead of each waiting
  // for its own; the lines keep the tables' order.
  const lines = await Promise.all([
    ...BOOTSTRAP_CLUSTER_ROLES.map(async (r) => {
      const what = await reconcileRole(c, r);
      return what ? `clusterrole/${r.metadata.name} ${what}` : '';
    }),
    ...BOOTSTRAP_CLUSTER_ROLE_BINDINGS.map(async (b) => {
      const what = await reconcileBinding(c, b);
      return what ? `clusterrolebinding/${b.metadata.name} ${what}` : '';
    }),
  ]);
  return lines.filter(Boolean);
}
