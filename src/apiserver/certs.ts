// The server's PKI and admin credentials: a CA and serving certificate made with openssl on first start
// and kept in the data dir, a bearer token for the admin, and the kubeconfig that carries both.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { run } from '../util/exec.js';

export interface Pki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  caPath: string;
}

/** Names the serving certificate is valid for, besides the ones given at start. */
const BASE_SANS = ['localhost', '127.0.0.1', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local', '10.96.0.1'];

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
    await run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', caKey, '-out', caCrt, '-days', '3650', '-subj', '/CN=k8ts-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  }
  const sans = sanList(hosts);
  if (!existsSync(crt) || !existsSync(key) || !existsSync(sansFile) || readFileSync(sansFile, 'utf8') !== sans) {
    const csr = join(dir, 'server.csr');
    const ext = join(dir, 'server.ext');
    writeFileSync(ext, `subjectAltName=${sans}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
    await run(['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', csr, '-subj', '/CN=kube-apiserver']);
    await run(['openssl', 'x509', '-req', '-in', csr, '-CA', caCrt, '-CAkey', caKey, '-CAcreateserial',
      '-out', crt, '-days', '3650', '-extfile', ext]);
    writeFileSync(sansFile, sans);
  }
  return { caCert: readFileSync(caCrt, 'utf8'), serverCert: readFileSync(crt, 'utf8'), serverKey: readFileSync(key, 'utf8'), caPath: caCrt };
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

/** A standard kubeconfig for the admin: cluster with the CA inline, a token user, one context. */
export function kubeconfig(opts: { server: string; caCert: string; token: string; name?: string }): string {
  const name = opts.name ?? 'k8ts';
  const ca = Buffer.from(opts.caCert).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${name}`,
    '  cluster:',
    `    server: ${opts.server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    `- name: ${name}-admin`,
    '  user:',
    `    token: ${opts.token}`,
    'contexts:',
    `- name: ${name}`,
    '  context:',
    `    cluster: ${name}`,
    `    user: ${name}-admin`,
    `current-context: ${name}`,
    '',
  ].join('\n');
}
