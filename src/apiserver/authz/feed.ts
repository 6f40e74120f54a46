// Feeds the RBAC index from shared informers of the four RBAC kinds (the same caches the controllers
// use), so an authorization decision never reads the store.
import { CLUSTERROLEBINDINGS, CLUSTERROLES, PERSISTENTVOLUMECLAIMS, PODS, ROLEBINDINGS, ROLES } from '../../api/kinds.js';
import type { NodeGraph } from './node.js';
import type { SharedInformerFactory } from '../../client/factory.js';
import type { RbacAuthorizer } from './rbac.js';

/** Registers the index's handlers; resolves when all four caches have synced. */
export async function feedRbac(rbac: RbacAuthorizer, informers: SharedInformerFactory): Promise<void> {
  const roles = informers.informerFor(ROLES);
  const clusterRoles = informers.informerFor(CLUSTERROLES);
  const bindings = informers.informerFor(ROLEBINDINGS);
  const clusterBindings = informers.informerFor(CLUSTERROLEBINDINGS);
  roles.addEventHandler({ onAdd: (o) => rbac.setRole(o), onUpdate: (o) => rbac.setRole(o), onDelete: (o) => rbac.deleteRole(o) });
  clusterRoles.addEventHandler({ onAdd: (o) => rbac.setClusterRole(o), onUpdate: (o) => rbac.setClusterRole(o), onDelete: (o) => rbac.deleteClusterRole(o) });
  bindings.addEventHandler({ onAdd: (o) => rbac.setBinding(o, true), onUpdate: (o) => rbac.setBinding(o, true), onDelete: (o) => rbac.deleteBinding(o, true) });
  clusterBindings.addEventHandler({
    onAdd: (o) => rbac.setBinding(o, false),
    onUpdate: (o) => rbac.setBinding(o, false),
    onDelete: (o) => rbac.deleteBinding(o, false),
  });
  await Promise.all([roles.waitForSync(), clusterRoles.waitForSync(), bindings.waitForSync(), clusterBindings.waitForSync()]);
}

/** Feeds the Node authorizer's graph from the pod and claim informers; resolves when both have synced. */
export async function feedNodeGraph(g: NodeGraph, informers: SharedInformerFactory): Promise<void> {
  const pods = informers.informerFor(PODS);
  const claims = informers.informerFor(PERSISTENTVOLUMECLAIMS);
  pods.addEventHandler({ onAdd: (o) => g.setPod(o), onUpdate: (o) => g.setPod(o), onDelete: (o) => g.deletePod(o) });
  claims.addEventHandler({ onAdd: (o) => g.setPvc(o), onUpdate: (o) => g.setPvc(o), onDelete: (o) => g.deletePvc(o) });
  await Promise.all([pods.waitForSync(), claims.waitForSync()]);
}
