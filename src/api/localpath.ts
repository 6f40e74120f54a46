// Where local-path volumes live on a node, derived only from a claim's uid, namespace and name after each
// is proven to be a plain name: the provisioner writes this path into the PV and the agent recomputes it
// before it makes or removes anything, so no object can steer a mkdir or rm elsewhere.
import { join } from 'node:path';

export const LOCAL_PATH_PROVISIONER = 'k8ts.io/local-path';
/** Held on a provisioned volume until its node has removed the directory. */
export const LOCAL_PATH_CLEANUP_FINALIZER = 'k8ts.io/local-path-cleanup';
/** The directory under which every node keeps its local-path volumes (k3s: /var/lib/rancher/k3s/storage). */
export const LOCAL_PATH_ROOT = '/var/lib/k8ts/storage';

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** ROOT/pvc-<uid>_<namespace>_<name> (k3s's layout), or undefined when any part is not a plain name. */
export function localPathFor(uid: string, namespace: string, name: string, root = LOCAL_PATH_ROOT): string | undefined {
  if (!UID.test(uid) || !LABEL.test(namespace) || !SUBDOMAIN.test(name) || name.includes('..')) return undefined;
  return join(root, `pvc-${uid}_${namespace}_${name}`);
}
