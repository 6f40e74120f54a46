// The ServiceAccount admission on pod create, as upstream's plugin: the pod runs as `default` unless it
// names an account, the account must exist (the `default` one is waited for briefly, since the namespace
// controller makes it just after the namespace), and unless automounting is off on the pod or the account,
// a `kube-api-access-xxxxx` projected volume (a bound token, the cluster CA, the namespace) is mounted
// read-only at /var/run/secrets/kubernetes.io/serviceaccount in every container and init container.
import { randomInt } from 'node:crypto';
import type { KObject, Pod } from '../../api/types.js';
import { errors } from '../../api/status.js';

export const TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
export const TOKEN_VOLUME_PREFIX = 'kube-api-access-';
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
/** The kubelet asks for 3607 s: the API server extends it (tokenrequest.ts) and marks when to refresh. */
export const PROJECTED_TOKEN_EXPIRATION_S = 3607;

/** Kubernetes' rand.String alphabet: no vowels, no confusable digits. */
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export type ServiceAccountLookup = (namespace: string, name: string) => Promise<KObject | undefined>;

export interface AdmissionOptions {
  /** Attempts and pause when the `default` account is not there yet (upstream: 10, 100–200 ms). */
  defaultAttempts?: number;
  retryMs?: () => number;
}

export async function admitPod(pod: Pod, lookup: ServiceAccountLookup, o: AdmissionOptions = {}): Promise<void> {
  const spec = pod.spec;
  if (!spec || typeof spec !== 'object') return;
  // Mirror pods (static pods the kubelet reports) are never given an account.
  if (pod.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined) return;
  if (!spec.serviceAccountName) spec.serviceAccountName = typeof spec.serviceAccount === 'string' && spec.serviceAccount ? spec.serviceAccount : 'default';
  const ns = pod.metadata.namespace!;
  const name = spec.serviceAccountName;
  const attempts = name === 'default' ? (o.defaultAttempts ?? 10) : 1;
  let sa: KObject | undefined;
  for (let i = 0; i < attempts && !sa; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, o.retryMs ? o.retryMs() : 100 + randomInt(100)));
    sa = await lookup(ns, name);
  }
  if (!sa) {
    throw errors.forbidden(
      `pods "${pod.metadata.name ?? pod.metadata.generateName ?? ''}" is forbidden: error looking up service account ${ns}/${name}: serviceaccount "${name}" not found`,
    );
  }
  const automount = spec.automountServiceAccountToken ?? (sa.automountServiceAccountToken as boolean | undefined) ?? true;
  if (!automount) return;
  mountToken(pod);
}

function mountToken(pod: Pod): void {
  const spec = pod.spec!;
  const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
  const existing = volumes.find((v) => typeof v?.name === 'string' && v.name.startsWith(TOKEN_VOLUME_PREFIX) && v.projected);
  const volumeName = existing?.name ?? `${TOKEN_VOLUME_PREFIX}${randomSuffix()}`;
  let needed = false;
  for (const list of [spec.initContainers, spec.containers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      if (!c || typeof c !== 'object') continue;
      const mounts = Array.isArray(c.volumeMounts) ? c.volumeMounts : [];
      // A container that mounts something at the path itself keeps it.
      if (mounts.some((m) => m?.mountPath === TOKEN_MOUNT_PATH)) continue;
      c.volumeMounts = [...mounts, { name: volumeName, readOnly: true, mountPath: TOKEN_MOUNT_PATH }];
      needed = true;
    }
  }
  if (!needed || existing) return;
  spec.volumes = [
    ...volumes,
    {
      name: volumeName,
      projected: {
        defaultMode: 0o644,
        sources: [
          { serviceAccountToken: { expirationSeconds: PROJECTED_TOKEN_EXPIRATION_S, path: 'token' } },
          { configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
        ],
      },
    },
  ];
}

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}
