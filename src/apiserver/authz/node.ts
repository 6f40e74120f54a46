// The Node authorizer: what a node (user system:node:<name> in system:nodes) may reach because of the pods
// bound to it, as upstream's: Secrets, ConfigMaps, PVCs, their PVs and service-account tokens only for its
// pods; only its own Node, Lease and the pods bound to it to change. Fed from informers (pods and PVCs by
// the node they are bound to); everything else a node asks falls through to RBAC.
import type { KObject, Pod } from '../../api/types.js';
import type { Attributes, UserInfo } from './attributes.js';
import type { Authorizer, Decision } from './rbac.js';

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

const READ_ONE = new Set(['get', 'list', 'watch']);

/** Upstream's Node authorizer over a NodeGraph: allow, deny with the reason, or no opinion (undefined). */
export class NodeAuthorizer {
  constructor(readonly graph: NodeGraph) {}

  decide(a: Attributes): Decision | undefined {
    const node = nodeOf(a.user);
    if (node === undefined || !a.resourceRequest) return undefined;
    const deny = (why: string): Decision => ({ allowed: false, reason: `node '${node}' ${why}` });
    const allow = (why: string): Decision => ({ allowed: true, reason: why });
    const g = this.graph;
    if (a.apiGroup === '') {
      switch (a.resource) {
        case 'secrets':
        case 'configmaps':
        case 'persistentvolumeclaims': {
          if (a.subresource) break;
          // Reading one named object (get, or list/watch with metadata.name=) that a pod on the node uses.
          if (!READ_ONE.has(a.verb) || !a.name) return deny(`can only get individual ${a.resource}`);
          const kind = a.resource === 'secrets' ? 'secret' : a.resource === 'configmaps' ? 'configmap' : 'pvc';
          return g.references(node, kind, a.namespace, a.name) ? allow('referenced by a pod on the node')
            : deny(`has no relationship to this object (no pod on it uses ${a.resource} ${a.namespace}/${a.name})`);
        }
        case 'persistentvolumes':
          if (a.subresource) break;
          if (a.verb !== 'get' || !a.name) return undefined; // listing, and the local-path cleanup's writes: RBAC
          return g.referencesVolume(node, a.name) ? allow('bound to a claim a pod on the node uses') : undefined;
        case 'serviceaccounts':
          if (a.subresource !== 'token') break;
          if (a.verb !== 'create' || !a.name) return deny('can only create tokens for individual service accounts');
          return g.references(node, 'serviceaccount', a.namespace, a.name) ? allow('used by a pod on the node')
            : deny(`has no relationship to serviceaccount ${a.namespace}/${a.name}`);
        case 'nodes':
          // Reading Node objects only: nodes/proxy, nodes/log, nodes/metrics … reach agents, which no node
          // may do for another (upstream's system:node rules grant none of them).
          if ((a.subresource === '' || a.subresource === 'status') && (a.verb === 'get' || a.verb === 'list' || a.verb === 'watch')) return allow('nodes are readable by nodes');
          if (a.verb === 'create' && !a.subresource) return allow('registers itself (NodeRestriction checks the name)');
          if ((a.subresource === '' || a.subresource === 'status') && ['update', 'patch', 'delete'].includes(a.verb)) {
            return a.name === node ? allow('its own Node') : deny(`can only modify its own Node object, not ${JSON.stringify(a.name)}`);
          }
          return undefined;
        case 'pods':
          // Mirror pods: NodeRestriction checks the body. list/watch: RBAC.
          if (!a.name) return a.verb === 'create' && !a.subresource ? allow('creates mirror pods (NodeRestriction checks them)') : undefined;
          if ((a.subresource === 'status' && (a.verb === 'update' || a.verb === 'patch')) || (a.subresource === '' && a.verb === 'delete')
            || (a.subresource === 'eviction' && a.verb === 'create')) {
            return g.nodeOfPod(a.namespace, a.name) === node ? allow('a pod bound to the node')
              : deny(`can only ${a.verb} pods with spec.nodeName set to itself (${a.subresource ? `pods/${a.subresource}` : 'pods'} ${a.namespace}/${a.name})`);
          }
          return undefined;
        default:
          return undefined;
      }
      return undefined;
    }
    if (a.apiGroup === 'coordination.k8s.io' && a.resource === 'leases') {
      if (a.namespace !== NODE_LEASE_NAMESPACE) return deny(`can only access leases in the ${NODE_LEASE_NAMESPACE} namespace`);
      if (!['get', 'create', 'update', 'patch', 'delete'].includes(a.verb)) return deny(`cannot ${a.verb} node leases`);
      // A create names its lease in the body: NodeRestriction checks it.
      if (a.verb === 'create' && !a.name) return allow('creates its own lease (NodeRestriction checks the name)');
      return a.name === node ? allow('its own lease') : deny(`can only access the node lease with the same name as itself, not ${JSON.stringify(a.name)}`);
    }
    return undefined;
  }
}

/** The Node authorizer first, then RBAC (kube-apiserver's --authorization-mode=Node,RBAC). */
export class ChainAuthorizer implements Authorizer {
  constructor(private node: NodeAuthorizer, private rest: Authorizer) {}

  authorize(a: Attributes): Decision {
    const d = this.node.decide(a);
    if (d?.allowed) return d;
    const r = this.rest.authorize(a);
    if (r.allowed || !d) return r;
    return { allowed: false, reason: d.reason };
  }
}
