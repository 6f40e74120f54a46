// The server's PKI and admin credentials: a CA, a serving certificate, the admin's client certificate and
// the API server's own client certificate toward agents, made with openssl on first start and kept in the
// data dir, a bearer token for the admin, and kubeconfigs.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { run } from '../util/exec.js';

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

/** Names the serving certificate is valid for, besides the ones given at start. */
/** Names every serving certificate carries; the `kubernetes` Service's ClusterIP comes from the caller,
 *  which knows the service range. */
const BASE_SANS = ['localhost', '127.0.0.1', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];

function sanList(names: string[]): string {
  const uniq = [...new Set([...BASE_SANS, ...names].filter(Boolean))];
  return uniq.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
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
  if (!existsSync(caCrt) || !existsSync(caKey)) {
    await run([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      caKey,
      '-out',
      caCrt,
      '-days',
      '3650',
      '-subj',
      '/CN=k8ts-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }
  const sans = sanList(hosts);
  if (!existsSync(crt) || !existsSync(key) || !existsSync(sansFile) || readFileSync(sansFile, 'utf8') !== sans) {
    const csr = join(dir, 'server.csr');
    const ext = join(dir, 'server.ext');
    writeFileSync(ext, `subjectAltName=${sans}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
    await run([
      'openssl',
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      '/CN=kube-apiserver',
    ]);
    await run(['openssl', 'x509', '-req', '-in', csr, '-CA', caCrt, '-CAkey', caKey, '-CAcreateserial', '-out', crt, '-days', '3650', '-extfile', ext]);
    writeFileSync(sansFile, sans);
  }
  const adminKey = join(dir, 'admin.key');
  const adminCrt = join(dir, 'admin.crt');
  await ensureClientCert(dir, caCrt, caKey, 'admin', `/O=${ADMIN_CERT_GROUP}/CN=${ADMIN_CERT_USER}`);
  const kcKey = join(dir, 'apiserver-kubelet-client.key');
  const kcCrt = join(dir, 'apiserver-kubelet-client.crt');
  await ensureClientCert(dir, caCrt, caKey, 'apiserver-kubelet-client', `/O=${ADMIN_CERT_GROUP}/CN=${KUBELET_CLIENT_USER}`);
  // Keys are secrets on every start, not only when made (openssl writes them 0600 already; a copy may not be).
  for (const k of [caKey, key, adminKey, kcKey]) chmodSync(k, 0o600);
  return {
    caCert: readFileSync(caCrt, 'utf8'),
    serverCert: readFileSync(crt, 'utf8'),
    serverKey: readFileSync(key, 'utf8'),
    caPath: caCrt,
    adminCert: readFileSync(adminCrt, 'utf8'),
    adminKey: readFileSync(adminKey, 'utf8'),
    kubeletClientCert: readFileSync(kcCrt, 'utf8'),
    kubeletClientKey: readFileSync(kcKey, 'utf8'),
  };
}

/** DIR/<name>.{crt,key}: a client certificate from the cluster CA for the given subject, made once. */
async function ensureClientCert(dir: string, caCrt: string, caKey: string, name: string, subject: string): Promise<void> {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  if (existsSync(crt) && existsSync(key)) return;
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  // clientAuth only: the x509 authenticator (and OpenSSL's client purpose check) refuse a certificate without it.
  writeFileSync(ext, 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  await run(['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
  await run(['openssl', 'x509', '-req', '-in', csr, '-CA', caCrt, '-CAkey', caKey, '-CAcreateserial', '-out', crt, '-days', '3650', '-extfile', ext]);
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
