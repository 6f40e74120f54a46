// NodeRestriction admission, as upstream's: on what a node writes, beyond what the Node authorizer can
// see from the URL — the Node it registers is itself, labels under node-restriction.kubernetes.io/ are
// not its to set, change or remove, its taints are not its to change, the pods it creates are mirror pods
// bound to itself that use no Secret, ConfigMap, claim or service account, its Lease is its own, and of
// its pods' claims it changes only the status fields a volume resize reports.
import { isDeepStrictEqual } from 'node:util';
import type { KObject, Pod } from '../../api/types.js';
import { ApiError } from '../../api/status.js';
import type { WriteHooks, WriteTxn } from '../registry.js';
import { requestUser } from '../../api/authorization.js';
import { NODE_LEASE_NAMESPACE, nodeOf, podRefs } from './node.js';

export const NODE_RESTRICTION_PREFIX = 'node-restriction.kubernetes.io/';
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
const NOTHING: WriteTxn = { async commit() {}, async revert() {} };

function forbidden(group: string, plural: string, name: string, why: string): ApiError {
  const gr = group ? `${plural}.${group}` : plural;
  return new ApiError(403, 'Forbidden', `${gr} ${JSON.stringify(name)} is forbidden: ${why}`, { name, ...(group ? { group } : {}), kind: plural });
}

const restricted = (labels: Record<string, string> | undefined) =>
  Object.keys(labels ?? {})
    .filter((k) => k.startsWith(NODE_RESTRICTION_PREFIX))
    .sort();

function nodeHooks(): WriteHooks {
  const check = (obj: KObject, old?: KObject): WriteTxn => {
    const node = nodeOf(requestUser.getStore());
    if (node === undefined) return NOTHING;
    const name = obj.metadata.name ?? '';
    if (name !== node) throw forbidden('', 'nodes', name, `node ${JSON.stringify(node)} is not allowed to modify node ${JSON.stringify(name)}`);
    const now = obj.metadata.labels ?? {};
    const before = old?.metadata.labels ?? {};
    const changed = [...new Set([...restricted(now), ...restricted(before)])].filter((k) => now[k] !== before[k]).sort();
    if (changed.length) {
      throw forbidden(
        '',
        'nodes',
        name,
        old
          ? `node ${JSON.stringify(node)} is not allowed to modify labels: ${changed.join(', ')}`
          : `node ${JSON.stringify(node)} is not allowed to set the following labels: ${changed.join(', ')}`,
      );
    }
    if (old && !isDeepStrictEqual((obj.spec as { taints?: unknown } | undefined)?.taints ?? [], (old.spec as { taints?: unknown } | undefined)?.taints ?? [])) {
      throw forbidden('', 'nodes', name, `node ${JSON.stringify(node)} is not allowed to modify taints`);
    }
    return NOTHING;
  };
  return { beforeCreate: async (o) => check(o), beforeUpdate: async (n, c) => check(n, c), afterDelete: async () => {} };
}

function podHooks(): WriteHooks {
  return {
    async beforeCreate(obj) {
      const node = nodeOf(requestUser.getStore());
      if (node === undefined) return NOTHING;
      const pod = obj as Pod;
      const name = pod.metadata.name ?? pod.metadata.generateName ?? '';
      const no = (why: string) => forbidden('', 'pods', name, `node ${JSON.stringify(node)} ${why}`);
      if (pod.metadata.annotations?.[MIRROR_POD_ANNOTATION] === undefined)
        throw no(`can only create mirror pods (with the ${MIRROR_POD_ANNOTATION} annotation)`);
      if (pod.spec?.nodeName !== node) throw no('can only create pods with spec.nodeName set to itself');
      const refs = [...podRefs(pod)].filter((r) => !r.startsWith('serviceaccount/'));
      if (refs.length)
        throw no(`can not create pods that reference secrets, configmaps or persistentvolumeclaims (${refs.map((r) => r.split('/')[0]).join(', ')})`);
      if (pod.spec?.serviceAccountName) throw no('can not create pods that reference a service account');
      for (const o of pod.metadata.ownerReferences ?? []) {
        if (o.kind !== 'Node' || o.name !== node) throw no(`can only create pods with an owner reference to itself`);
      }
      return NOTHING;
    },
    async beforeUpdate(next) {
      const node = nodeOf(requestUser.getStore());
      if (node === undefined) return NOTHING;
      throw forbidden('', 'pods', next.metadata.name ?? '', `node ${JSON.stringify(node)} can only update pod status`);
    },
    afterDelete: async () => {},
  };
}

function leaseHooks(): WriteHooks {
  const check = (obj: KObject): WriteTxn => {
    const node = nodeOf(requestUser.getStore());
    if (node === undefined) return NOTHING;
    const name = obj.metadata.name ?? '';
    if (obj.metadata.namespace !== NODE_LEASE_NAMESPACE || name !== node) {
      throw forbidden(
        'coordination.k8s.io',
        'leases',
        name,
        `node ${JSON.stringify(node)} can only access node lease with the same name as the requesting node`,
      );
    }
    return NOTHING;
  };
  return { beforeCreate: async (o) => check(o), beforeUpdate: async (n) => check(n), afterDelete: async () => {} };
}

/** A claim's status as a node may write it (the Node authorizer lets it update only its pods' claims'
 *  status): only status.capacity, status.conditions and the allocated resources may differ, as upstream's. */
function pvcHooks(): WriteHooks {
  const strip = (o: KObject) => {
    const c = structuredClone(o) as KObject & { status?: Record<string, unknown> };
    const { resourceVersion: _r, managedFields: _m, generation: _g, ...meta } = c.metadata;
    const { capacity: _c, conditions: _k, allocatedResources: _a, allocatedResourceStatuses: _s, ...status } = c.status ?? {};
    return { ...c, metadata: meta, status };
  };
  const check = (next: KObject, cur: KObject) => {
    const node = nodeOf(requestUser.getStore());
    if (node === undefined || isDeepStrictEqual(strip(next), strip(cur))) return;
    throw forbidden(
      '',
      'persistentvolumeclaims',
      next.metadata.name ?? '',
      `node ${JSON.stringify(node)} is not allowed to update fields other than status.capacity and status.conditions`,
    );
  };
  return {
    beforeCreate: async () => NOTHING,
    async beforeUpdate(next, cur) {
      check(next, cur);
      return NOTHING;
    },
    checkStatusUpdate: async (next, cur) => check(next, cur),
    afterDelete: async () => {},
  };
}

/** The admission hooks by resource plural (nodes, pods, leases, persistentvolumeclaims). */
export function nodeRestrictionHooks(): [string, WriteHooks][] {
  return [
    ['nodes', nodeHooks()],
    ['pods', podHooks()],
    ['leases', leaseHooks()],
    ['persistentvolumeclaims', pvcHooks()],
  ];
}
