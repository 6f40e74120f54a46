// The Node authorizer: what a node (user system:node:<name> in system:nodes) may reach because of the pods
// bound to it, as upstream's: Secrets, ConfigMaps, PVCs, their PVs and service-account tokens only for its
// pods; only its own Node, Lease and the pods bound to it to change; the rest by upstream's NodeRules.
// Fed from informers (pods and PVCs by the node they are bound to); what it does not allow goes to RBAC.
import type { KObject, Pod, PolicyRule } from '../../api/types.js';
import type { Attributes, UserInfo } from './attributes.js';
import type { Authorizer, Decision } from './rbac.js';
import { ruleAllows } from './rules.js';

const READ_VERBS = new Set(['get', 'list', 'watch']);

export const NODES_GROUP = 'system:nodes';
export const NODE_USER_PREFIX = 'system:node:';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** The node a user is, as upstream's NodeIdentifier: system:node:<name> in system:nodes; else undefined. */
export function nodeOf(u: UserInfo | undefined): string | undefined {
  if (!u?.name.startsWith(NODE_USER_PREFIX) || !u.groups.includes(NODES_GROUP)) return undefined;
  const n = u.name.slice(NODE_USER_PREFIX.length);
  return n || undefined;
}

type RefKind = 'secret' | 'configmap' | 'pvc' | 'serviceaccount';

/** What a pod makes its node read: its Secrets, ConfigMaps, PVCs and ServiceAccount. */
export function podRefs(pod: Pod): Set<string> {
  const ns = pod.metadata.namespace ?? '';
  const out = new Set<string>();
  const add = (k: RefKind, name: string | undefined) => name && out.add(`${k}/${ns}/${name}`);
  const spec = pod.spec;
  if (!spec) return out;
  add('serviceaccount', spec.serviceAccountName || 'default');
  for (const s of spec.imagePullSecrets ?? []) add('secret', s.name);
  for (const v of spec.volumes ?? []) {
    add('secret', v.secret?.secretName);
    add('configmap', v.configMap?.name);
    add('pvc', v.persistentVolumeClaim?.claimName);
    // A generic ephemeral volume's claim is <pod>-<volume>.
    if (v.ephemeral) add('pvc', `${pod.metadata.name}-${v.name}`);
    for (const src of v.projected?.sources ?? []) {
      add('secret', src.secret?.name);
      add('configmap', src.configMap?.name);
    }
    const csi = v.csi as { nodePublishSecretRef?: { name?: string } } | undefined;
    add('secret', csi?.nodePublishSecretRef?.name);
  }
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])]) {
    for (const f of c.envFrom ?? []) {
      add('secret', f.secretRef?.name);
      add('configmap', f.configMapRef?.name);
    }
    for (const e of c.env ?? []) {
      add('secret', e.valueFrom?.secretKeyRef?.name);
      add('configmap', e.valueFrom?.configMapKeyRef?.name);
    }
  }
  return out;
}

const key = (o: KObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

/** The graph upstream keeps, as indexes: pods by node with what each references, PVCs' bound volumes. */
export class NodeGraph {
  /** node → pod key → the pod's references */
  private pods = new Map<string, Map<string, Set<string>>>();
  /** pod key → node */
  private podNode = new Map<string, string>();
  /** "ns/name" of a PVC → its bound PV */
  private pvcVolume = new Map<string, string>();

  setPod(p: Pod): void {
    const k = key(p);
    this.deletePod(p);
    const node = p.spec?.nodeName;
    if (!node) return;
    let m = this.pods.get(node);
    if (!m) this.pods.set(node, (m = new Map()));
    m.set(k, podRefs(p));
    this.podNode.set(k, node);
  }

  deletePod(p: KObject): void {
    const k = key(p);
    const node = this.podNode.get(k);
    if (node === undefined) return;
    this.podNode.delete(k);
    const m = this.pods.get(node);
    m?.delete(k);
    if (m && m.size === 0) this.pods.delete(node);
  }

  setPvc(o: KObject): void {
    const v = (o.spec as { volumeName?: string } | undefined)?.volumeName;
    if (v) this.pvcVolume.set(key(o), v);
    else this.pvcVolume.delete(key(o));
  }

  deletePvc(o: KObject): void {
    this.pvcVolume.delete(key(o));
  }

  /** The node a pod (ns/name) is bound to. */
  nodeOfPod(ns: string, name: string): string | undefined {
    return this.podNode.get(`${ns}/${name}`);
  }

  /** Whether a pod bound to the node references kind/ns/name. */
  references(node: string, kind: RefKind, ns: string, name: string): boolean {
    const want = `${kind}/${ns}/${name}`;
    for (const refs of this.pods.get(node)?.values() ?? []) if (refs.has(want)) return true;
    return false;
  }

  /** Whether a PV is bound to a PVC a pod on the node uses. */
  referencesVolume(node: string, pv: string): boolean {
    for (const refs of this.pods.get(node)?.values() ?? []) {
      for (const r of refs) {
        if (!r.startsWith('pvc/')) continue;
        if (this.pvcVolume.get(r.slice(4)) === pv) return true;
      }
    }
    return false;
  }
}

const rule = (verbs: string[], groups: string[], resources: string[]): PolicyRule => ({ verbs, apiGroups: groups, resources });
const READ = ['get', 'list', 'watch'];

/** What every node may do beyond what is subdivided by its pods, as upstream's NodeRules (also the
 *  system:node ClusterRole, which upstream binds to no one): secrets, configmaps, claims, volumes and
 *  tokens are decided by the graph instead, and NodeRestriction holds the writes to the node's own. */
export const NODE_RULES: PolicyRule[] = [
  rule(['create'], ['authentication.k8s.io'], ['tokenreviews']),
  rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews', 'localsubjectaccessreviews']),
  rule(READ, [''], ['services']),
  rule(['create', 'get', 'list', 'watch'], [''], ['nodes']),
  rule(['update', 'patch'], [''], ['nodes/status']),
  rule(['update', 'patch'], [''], ['nodes']),
  rule(['create', 'update', 'patch'], ['', 'events.k8s.io'], ['events']),
  rule(READ, [''], ['pods']),
  rule(['create', 'delete'], [''], ['pods']),
  rule(['update', 'patch'], [''], ['pods/status']),
  rule(['create'], [''], ['pods/eviction']),
  rule(READ, [''], ['secrets', 'configmaps']),
  rule(['get'], [''], ['persistentvolumeclaims', 'persistentvolumes']),
  rule(['get'], [''], ['endpoints']),
  rule(['create', 'get', 'list', 'watch'], ['certificates.k8s.io'], ['certificatesigningrequests']),
  rule(['get', 'create', 'update', 'patch', 'delete'], ['coordination.k8s.io'], ['leases']),
  rule(['get'], ['storage.k8s.io'], ['volumeattachments']),
  rule(['create'], [''], ['serviceaccounts/token']),
  rule(['get', 'update', 'patch'], [''], ['persistentvolumeclaims/status']),
  rule(['get', 'watch', 'list'], ['storage.k8s.io'], ['csidrivers']),
  rule(['get', 'create', 'update', 'patch', 'delete'], ['storage.k8s.io'], ['csinodes']),
  rule(READ, ['node.k8s.io'], ['runtimeclasses']),
];

/**
 * Upstream's Node authorizer over a NodeGraph: allow, or no opinion with upstream's reason (RBAC decides
 * next; a 403 carries the reason), or undefined for no opinion and nothing to say. Secrets and ConfigMaps
 * (get, or list/watch of one by metadata.name), PVCs and PVs (get only), service-account tokens and the
 * status of PVCs only when a pod bound to the node leads to them; the rest by NODE_RULES.
 */
export class NodeAuthorizer {
  constructor(readonly graph: NodeGraph) {}

  decide(a: Attributes): Decision | undefined {
    const node = nodeOf(a.user);
    if (node === undefined) return undefined;
    const noOpinion = (reason: string): Decision => ({ allowed: false, reason });
    const allow = (why: string): Decision => ({ allowed: true, reason: why });
    const g = this.graph;
    /** upstream's authorize(): a named object a pod on the node leads to. */
    const related = (found: boolean) =>
      !a.name
        ? noOpinion('No Object name found')
        : found
          ? allow('related to a pod on the node')
          : noOpinion(`no relationship found between node '${node}' and this object`);
    /** upstream's authorizeGet: PVCs and PVs. */
    const getOnly = (has: () => boolean) =>
      a.verb !== 'get'
        ? noOpinion('can only get individual resources of this type')
        : a.subresource
          ? noOpinion('cannot get subresource')
          : related(!!a.name && has());
    if (a.resourceRequest && a.apiGroup === '') {
      switch (a.resource) {
        case 'secrets':
        case 'configmaps': {
          if (!READ_VERBS.has(a.verb)) return noOpinion('can only read resources of this type');
          if (a.subresource) return noOpinion('cannot read subresource');
          if (!a.namespace) return noOpinion('can only read namespaced object of this type');
          return related(!!a.name && g.references(node, a.resource === 'secrets' ? 'secret' : 'configmap', a.namespace, a.name));
        }
        case 'persistentvolumeclaims':
          if (a.subresource === 'status') {
            if (a.verb !== 'update' && a.verb !== 'patch') return noOpinion('can only get/update/patch this type');
            return related(!!a.name && g.references(node, 'pvc', a.namespace, a.name));
          }
          return getOnly(() => g.references(node, 'pvc', a.namespace, a.name));
        case 'persistentvolumes':
          return getOnly(() => g.referencesVolume(node, a.name));
        case 'serviceaccounts':
          if (a.verb !== 'create' || !a.name) return noOpinion('can only create tokens for individual service accounts');
          if (a.subresource !== 'token') return noOpinion('can only create token subresource of serviceaccount');
          return related(g.references(node, 'serviceaccount', a.namespace, a.name));
        case 'nodes':
          // Changing a Node: only its own (upstream leaves this to NodeRestriction; refused here as early).
          if ((a.subresource === '' || a.subresource === 'status') && ['update', 'patch', 'delete'].includes(a.verb) && a.name !== node) {
            return noOpinion(`node '${node}' can only modify its own Node object, not ${JSON.stringify(a.name)}`);
          }
          break;
        case 'pods':
          // The status, deletion and eviction of pods bound to the node only (NodeRestriction's rule, here as early).
          if (
            a.name &&
            ((a.subresource === 'status' && (a.verb === 'update' || a.verb === 'patch')) ||
              (a.subresource === '' && a.verb === 'delete') ||
              (a.subresource === 'eviction' && a.verb === 'create')) &&
            g.nodeOfPod(a.namespace, a.name) !== node
          ) {
            return noOpinion(
              `node '${node}' can only ${a.verb} pods with spec.nodeName set to itself (${a.subresource ? `pods/${a.subresource}` : 'pods'} ${a.namespace}/${a.name})`,
            );
          }
          break;
        default:
          break;
      }
    }
    if (a.resourceRequest && a.apiGroup === 'coordination.k8s.io' && a.resource === 'leases') {
      if (!['get', 'create', 'update', 'patch', 'delete'].includes(a.verb)) return noOpinion('can only get, create, update, patch, or delete a node lease');
      if (a.namespace !== NODE_LEASE_NAMESPACE) return noOpinion(`can only access leases in the ${JSON.stringify(NODE_LEASE_NAMESPACE)} system namespace`);
      // A create names its lease in the body: NodeRestriction checks it.
      if (a.verb !== 'create' && a.name !== node) return noOpinion('can only access node lease with the same name as the requesting node');
      return allow('its own lease');
    }
    // Not subdivided: the static rules.
    for (const r of NODE_RULES) if (ruleAllows(a, r)) return allow('allowed to every node (NodeRules)');
    return undefined;
  }
}

/** The Node authorizer first, then RBAC (kube-apiserver's --authorization-mode=Node,RBAC). */
export class ChainAuthorizer implements Authorizer {
  constructor(
    private node: NodeAuthorizer,
    private rest: Authorizer,
  ) {}

  /** As upstream's union authorizer: the first allow wins; a refusal carries every reason given, one a line. */
  authorize(a: Attributes): Decision {
    const d = this.node.decide(a);
    if (d?.allowed) return d;
    const r = this.rest.authorize(a);
    if (r.allowed || !d?.reason) return r;
    return { allowed: false, reason: [d.reason, r.reason].filter((x) => x).join('\n') };
  }
}
