// The server's PKI and admin credentials: a CA, a serving certificate, the admin's client certificate and
// the API server's own client certificate toward agents, made in process on first start and kept in the
// data dir, a bearer token for the admin, and kubeconfigs.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { type KeyAndCert, type Subject, issue, makeCa, writeKeyAndCert } from '../api/certificates/issue.js';

export interface Pki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  caPath: string;
  /** The admin's client certificate (CN=kubernetes-admin, O=system:masters, as kubeadm's admin.conf). */
  adminCert: string;
  adminKey: string;
  /** The API server's client certificate for calls to agents (CN=kube-apiserver-kubelet-client,
   *  O=system:masters, as kubeadm's apiserver-kubelet-client.crt). */
  kubeletClientCert: string;
  kubeletClientKey: string;
}

/** The admin's identity in its client certificate: the user and its one group, as kubeadm makes it. */
export const ADMIN_CERT_USER = 'kubernetes-admin';
export const ADMIN_CERT_GROUP = 'system:masters';
/** The API server's identity toward agents (node proxy, exec, attach, logs, port-forward, metrics scrapes). */
export const KUBELET_CLIENT_USER = 'kube-apiserver-kubelet-client';

/** Names every serving certificate carries; the `kubernetes` Service's ClusterIP comes from the caller,
 *  which knows the service range. */
const BASE_SANS = ['localhost', '127.0.0.1', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
const DAYS = 3650;

function sanList(names: string[]): string[] {
  return [...new Set([...BASE_SANS, ...names].filter(Boolean))];
}

/** Makes the cluster CA in DATA/pki unless it is there: the server does at start, and `k8ts up` before it
 *  starts the server, so that agents started beside the server have the CA to check it with. */
export async function ensureClusterCa(dataDir: string): Promise<void> {
  const dir = join(dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, 'ca.key');
  const caCrt = join(dir, 'ca.crt');
  if (!existsSync(caCrt) || !existsSync(caKey)) writeKeyAndCert(await makeCa('k8ts-ca', DAYS), caKey, caCrt);
}

/** Makes (once) and loads the CA and a serving certificate for the given extra host names/IPs. A
 *  serving certificate whose names no longer cover the request is made again from the same CA. */
export async function ensurePki(dataDir: string, hosts: string[]): Promise<Pki> {
  const dir = join(dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, 'ca.key');
  const caCrt = join(dir, 'ca.crt');
  const key = join(dir, 'server.key');
  const crt = join(dir, 'server.crt');
  const sansFile = join(dir, 'server.sans');
  await ensureClusterCa(dataDir);
  const ca: KeyAndCert = { keyPem: readFileSync(caKey, 'utf8'), certPem: readFileSync(caCrt, 'utf8') };
  const sans = sanList(hosts);
  const sansText = sans.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  if (!existsSync(crt) || !existsSync(key) || !existsSync(sansFile) || readFileSync(sansFile, 'utf8') !== sansText) {
    const made = await issue(ca, { subject: { cn: 'kube-apiserver' }, usage: 'server', names: sans, days: DAYS });
    writeKeyAndCert(made, key, crt);
    writeFileSync(sansFile, sansText);
  }
  const adminKey = join(dir, 'admin.key');
  const adminCrt = join(dir, 'admin.crt');
  const kcKey = join(dir, 'apiserver-kubelet-client.key');
  const kcCrt = join(dir, 'apiserver-kubelet-client.crt');
  await Promise.all([
    ensureClientCert(ca, adminKey, adminCrt, { o: [ADMIN_CERT_GROUP], cn: ADMIN_CERT_USER }),
    ensureClientCert(ca, kcKey, kcCrt, { o: [ADMIN_CERT_GROUP], cn: KUBELET_CLIENT_USER }),
  ]);
  // Keys are secrets on every start, not only when made (a copy may not be).
  for (const k of [caKey, key, adminKey, kcKey]) chmodSync(k, 0o600);
  return {
    caCert: ca.certPem,
    serverCert: readFileSync(crt, 'utf8'),
    serverKey: readFileSync(key, 'utf8'),
    caPath: caCrt,
    adminCert: readFileSync(adminCrt, 'utf8'),
    adminKey: readFileSync(adminKey, 'utf8'),
    kubeletClientCert: readFileSync(kcCrt, 'utf8'),
    kubeletClientKey: readFileSync(kcKey, 'utf8'),
  };
}

/** A client certificate (clientAuth: the x509 authenticator refuses one without it) from the cluster CA
 *  for the given subject, made once. */
async function ensureClientCert(ca: KeyAndCert, key: string, crt: string, subject: Subject): Promise<void> {
  if (existsSync(crt) && existsSync(key)) return;
  const made = await issue(ca, { subject, usage: 'client', days: DAYS });
  writeKeyAndCert(made, key, crt);
}

/** A bearer token kept in DIR/<file>, made on first start. */
export function ensureToken(dataDir: string, file: string): string {
  const p = join(dataDir, file);
  if (!existsSync(p)) writeFileSync(p, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  return readFileSync(p, 'utf8').trim();
}

/** The admin bearer token, made on first start. */
export function ensureAdminToken(dataDir: string): string {
  return ensureToken(dataDir, 'admin.token');
}

/** The admin's credentials in a kubeconfig: a client certificate and key, or a bearer token. */
export type KubeconfigUser = { token: string } | { clientCert: string; clientKey: string };

/** A standard kubeconfig: cluster with the CA inline, one user (certificate or token), one context. */
export function kubeconfig(opts: { server: string; caCert: string; user: KubeconfigUser; name?: string }): string {
  const name = opts.name ?? 'k8ts';
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const user =
    'token' in opts.user
      ? [`    token: ${opts.user.token}`]
      : [`    client-certificate-data: ${b64(opts.user.clientCert)}`, `    client-key-data: ${b64(opts.user.clientKey)}`];
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${name}`,
    '  cluster:',
    `    server: ${opts.server}`,
    `    certificate-authority-data: ${b64(opts.caCert)}`,
    'users:',
    `- name: ${name}-admin`,
    '  user:',
    ...user,
    'contexts:',
    `- name: ${name}`,
    '  context:',
    `    cluster: ${name}`,
    `    user: ${name}-admin`,
    `current-context: ${name}`,
    '',
  ].join('\n');
}
