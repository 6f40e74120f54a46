// The node's own identity, as the kubelet's TLS bootstrap makes it: with a bootstrap token the agent makes
// a key, asks for a client certificate (CSR to kubernetes.io/kube-apiserver-client-kubelet, CN
// system:node:<name>, O system:nodes), waits until it is approved and signed, and keeps key and
// certificate 0600 in its data dir; later starts reuse them, and before expiry a new CSR (made as the node
// itself) renews them. Its serving certificate (kubernetes.io/kubelet-serving, SANs the node's addresses)
// is asked for and kept the same way, as the kubelet's serverTLSBootstrap does.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CSRS } from '../api/kinds.js';
import type { CertificateSigningRequest } from '../api/types.js';
import { isDNS1123Subdomain } from '../api/validation.js';
import { isIP } from 'node:net';
import { RestClient } from '../client/rest.js';
import type { Watch } from '../client/types.js';
import { encodeName, ext, makeRequest } from '../api/certificates/x509.js';

/** The kubelet client and serving signers (certificates.k8s.io). */
const SIGNER_KUBELET_CLIENT = 'kubernetes.io/kube-apiserver-client-kubelet';
const SIGNER_KUBELET_SERVING = 'kubernetes.io/kubelet-serving';

export const NODE_CLIENT_CERT = 'node-client.crt';
export const NODE_CLIENT_KEY = 'node-client.key';
export const NODE_SERVING_CERT = 'node-serving.crt';
export const NODE_SERVING_KEY = 'node-serving.key';

/** The names a serving certificate is for: the node's IP addresses and host names (its status.addresses). */
export interface ServingNames {
  ips: string[];
  dnsNames: string[];
}

export interface NodeCredentials {
  cert: string;
  key: string;
  /** notBefore / notAfter of the certificate (ms). */
  notBefore: number;
  notAfter: number;
}

export interface IdentityOptions {
  server: string;
  ca: string | Buffer;
  nodeName: string;
  dataDir: string;
  log: (line: string) => void;
  /** How long to wait for the certificate (default 5 minutes: an operator may approve by hand). */
  timeoutMs?: number;
}

const pkiDir = (dataDir: string) => join(dataDir, 'pki');

/** Writes a secret-bearing file 0600 through a temporary name, so a crash never leaves half a key. */
function writeSecret(path: string, text: string): void {
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
  chmodSync(path, 0o600);
}

/** The stored key and certificate when they exist, belong to this node, chain to the CA and are in date;
 *  otherwise undefined and why. */
export function loadNodeCredentials(dataDir: string, nodeName: string, ca: string | Buffer, now = Date.now()): NodeCredentials | { why: string } {
  return loadCredentials(dataDir, NODE_CLIENT_CERT, NODE_CLIENT_KEY, 'node client', nodeName, ca, now);
}

/** The stored serving key and certificate when they are this node's, chain to the CA, are in date and
 *  name every one of `names` (a node whose address changed asks again). */
export function loadServingCredentials(
  dataDir: string,
  nodeName: string,
  ca: string | Buffer,
  names: ServingNames,
  now = Date.now(),
): NodeCredentials | { why: string } {
  const got = loadCredentials(dataDir, NODE_SERVING_CERT, NODE_SERVING_KEY, 'node serving', nodeName, ca, now);
  if ('why' in got) return got;
  const have = certificateNames(got.cert);
  const missing = [...names.ips.filter((ip) => !have.ips.includes(ip)), ...names.dnsNames.filter((d) => !have.dnsNames.includes(d.toLowerCase()))];
  if (missing.length) return { why: `the stored serving certificate does not name ${missing.join(', ')}` };
  return got;
}

/** The IP and DNS subject alternative names of a PEM certificate. */
export function certificateNames(pem: string): ServingNames {
  const ips: string[] = [];
  const dnsNames: string[] = [];
  for (const part of (new X509Certificate(pem).subjectAltName ?? '').split(', ')) {
    if (part.startsWith('IP Address:')) ips.push(part.slice('IP Address:'.length));
    else if (part.startsWith('DNS:')) dnsNames.push(part.slice('DNS:'.length).toLowerCase());
  }
  return { ips, dnsNames };
}

function loadCredentials(
  dataDir: string,
  certFile: string,
  keyFile: string,
  what: string,
  nodeName: string,
  ca: string | Buffer,
  now: number,
): NodeCredentials | { why: string } {
  const certPath = join(pkiDir(dataDir), certFile);
  const keyPath = join(pkiDir(dataDir), keyFile);
  if (!existsSync(certPath) || !existsSync(keyPath)) return { why: `no stored ${what} certificate` };
  // Secret-bearing files are 0600 on every start, not only when made.
  chmodSync(keyPath, 0o600);
  chmodSync(certPath, 0o600);
  try {
    const cert = readFileSync(certPath, 'utf8');
    const key = readFileSync(keyPath, 'utf8');
    const c = new X509Certificate(cert);
    if (!c.verify(new X509Certificate(ca).publicKey)) return { why: 'the stored certificate is not signed by the cluster CA' };
    if (!c.checkPrivateKey(createPrivateKey(key))) return { why: 'the stored key does not match the stored certificate' };
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(c.subject)?.[1];
    if (cn !== `system:node:${nodeName}`) return { why: `the stored certificate is for ${JSON.stringify(cn)}, not system:node:${nodeName}` };
    const notBefore = Date.parse(c.validFrom);
    const notAfter = Date.parse(c.validTo);
    if (!(notAfter > now)) return { why: 'the stored certificate has expired' };
    return { cert, key, notBefore, notAfter };
  } catch (e) {
    return { why: `the stored credentials do not parse: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** A new P-256 key (PKCS#8 PEM) and a PEM request for system:node:<name> in system:nodes, signed with it;
 *  with `names`, for a serving certificate naming them. */
export async function makeNodeCsr(nodeName: string, names?: ServingNames): Promise<{ keyPem: string; csrPem: string }> {
  const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const extensions = names
    ? [ext.subjectAltName([...names.dnsNames.map((value) => ({ type: 'dns' as const, value })), ...names.ips.map((value) => ({ type: 'ip' as const, value }))])]
    : [];
  const csrPem = makeRequest(encodeName(`system:node:${nodeName}`, ['system:nodes']), keys.privateKey, keys.publicKey, extensions);
  return { keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, csrPem };
}

const has = (csr: CertificateSigningRequest, type: string) => (csr.status?.conditions ?? []).find((c) => c.type === type && c.status === 'True');

/** Submits a node client CSR with the given client and waits for its certificate; stores key and
 *  certificate and returns them. Denied or Failed requests end with an error naming the reason. */
export async function requestNodeCredentials(client: RestClient, o: IdentityOptions): Promise<NodeCredentials> {
  return requestCertificate(client, o, {
    signer: SIGNER_KUBELET_CLIENT,
    usages: ['digital signature', 'client auth'],
    prefix: 'node-csr',
    what: 'node client',
    certFile: NODE_CLIENT_CERT,
    keyFile: NODE_CLIENT_KEY,
    load: () => loadNodeCredentials(o.dataDir, o.nodeName, o.ca),
  });
}

/** Asks for the node's serving certificate (kubelet-serving; an EC key, so no key encipherment) for the
 *  given names, made as the node itself; stores and returns it. */
export async function requestServingCredentials(client: RestClient, o: IdentityOptions & { names: ServingNames }): Promise<NodeCredentials> {
  const bad = o.names.ips.filter((ip) => !isIP(ip));
  if (bad.length) throw new Error(`node addresses ${JSON.stringify(bad)} are not IP addresses`);
  return requestCertificate(client, o, {
    signer: SIGNER_KUBELET_SERVING,
    usages: ['digital signature', 'server auth'],
    prefix: 'node-serving',
    what: 'node serving',
    certFile: NODE_SERVING_CERT,
    keyFile: NODE_SERVING_KEY,
    names: o.names,
    load: () => loadServingCredentials(o.dataDir, o.nodeName, o.ca, o.names),
  });
}

interface CertificateAsk {
  signer: string;
  usages: string[];
  prefix: string;
  what: string;
  certFile: string;
  keyFile: string;
  names?: ServingNames;
  load: () => NodeCredentials | { why: string };
}

async function requestCertificate(client: RestClient, o: IdentityOptions, a: CertificateAsk): Promise<NodeCredentials> {
  const errs = isDNS1123Subdomain(o.nodeName);
  if (errs.length) throw new Error(`node name ${JSON.stringify(o.nodeName)}: ${errs.join('; ')}`);
  const { keyPem, csrPem } = await makeNodeCsr(o.nodeName, a.names);
  const name = `${a.prefix}-${o.nodeName.slice(0, 200)}-${randomBytes(4).toString('hex')}`;
  const created = await client.create(CSRS, undefined, {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name },
    spec: { request: Buffer.from(csrPem).toString('base64'), signerName: a.signer, usages: a.usages },
  } as CertificateSigningRequest);
  o.log(`k8ts agent ${o.nodeName}: certificate signing request ${name} (${a.what}) submitted; waiting for approval`);
  const deadline = Date.now() + (o.timeoutMs ?? 300_000);
  // Watched, as client-go's WaitForCertificate does (a field selector on the name), so the certificate is
  // taken the moment the signer writes it; every wake-up re-reads the object. A watch that cannot be opened
  // or ends is opened again from the last version read, and meanwhile the object is read every second.
  const wait = new Waker();
  let watch: Watch | undefined;
  const watchFrom = async (rv: string | undefined) => {
    if (watch || !rv) return;
    try {
      watch = await client.watch(
        CSRS,
        undefined,
        rv,
        {
          onEvent: () => wait.wake(),
          onError: () => {
            watch = undefined;
            wait.wake();
          },
        },
        { fieldSelector: `metadata.name=${name}` },
      );
    } catch {
      watch = undefined;
    }
  };
  try {
    await watchFrom(created.metadata.resourceVersion);
    for (;;) {
      wait.reset();
      const csr = await client.get(CSRS, undefined, name);
      if (!csr) throw new Error(`certificate signing request ${name} was deleted before it was signed`);
      const denied = has(csr, 'Denied') ?? has(csr, 'Failed');
      if (denied) throw new Error(`certificate signing request ${name}: ${denied.type}: ${denied.reason ?? ''} ${denied.message ?? ''}`.trim());
      if (csr.status?.certificate) {
        const cert = Buffer.from(csr.status.certificate, 'base64').toString('utf8');
        mkdirSync(pkiDir(o.dataDir), { recursive: true, mode: 0o700 });
        chmodSync(pkiDir(o.dataDir), 0o700);
        // The key first: a certificate on disk always has its key beside it.
        writeSecret(join(pkiDir(o.dataDir), a.keyFile), keyPem);
        writeSecret(join(pkiDir(o.dataDir), a.certFile), cert);
        const got = a.load();
        if ('why' in got) throw new Error(`certificate signing request ${name}: the issued certificate is unusable: ${got.why}`);
        o.log(`k8ts agent ${o.nodeName}: ${a.what} certificate issued (${name}), valid until ${new Date(got.notAfter).toISOString()}`);
        return got;
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for certificate signing request ${name} to be approved and signed (kubectl certificate approve ${name})`);
      await watchFrom(csr.metadata.resourceVersion);
      await wait.sleep(Math.min(left, watch ? 30_000 : 1_000));
    }
  } finally {
    watch?.close();
  }
}

/** A wake-up that is not lost when it comes before the sleep: reset, look, then sleep until woken (or the time). */
class Waker {
  private woken = false;
  private resolve?: () => void;
  reset(): void {
    this.woken = false;
  }
  wake(): void {
    this.woken = true;
    this.resolve?.();
  }
  sleep(ms: number): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise((r) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        self.resolve = undefined;
        r();
      }
      this.resolve = done;
    });
  }
}

/** The node's credentials: the stored ones when usable, else a new certificate through the bootstrap token. */
export async function ensureNodeCredentials(o: IdentityOptions & { bootstrapToken?: string }): Promise<NodeCredentials> {
  const stored = loadNodeCredentials(o.dataDir, o.nodeName, o.ca);
  if (!('why' in stored)) {
    o.log(`k8ts agent ${o.nodeName}: using the stored node client certificate (valid until ${new Date(stored.notAfter).toISOString()})`);
    return stored;
  }
  if (!o.bootstrapToken) throw new Error(`${stored.why}, and no bootstrap token to ask for one (--bootstrap-token-file)`);
  o.log(`k8ts agent ${o.nodeName}: ${stored.why}; joining with the bootstrap token`);
  const client = new RestClient({ server: o.server, ca: o.ca, token: o.bootstrapToken, userAgent: `k8ts-agent/${o.nodeName} (bootstrap)` });
  // A node may start before its control plane answers (k8ts up starts both at once), or before the token
  // it was given is in the cluster: as the kubelet's bootstrap, it tries again until the deadline, saying
  // once per reason why it waits. Any other answer (403, a denied request, a bad certificate) ends the join.
  const deadline = Date.now() + (o.timeoutMs ?? 300_000);
  const said = new Set<string>();
  try {
    // Short waits while a start-up is likely (a local server comes up within seconds), then every 2 s.
    const started = Date.now();
    for (let wait = 25; ; wait = Math.min(wait * 2, Date.now() - started < 30_000 ? 200 : 2000)) {
      try {
        return await requestNodeCredentials(client, o);
      } catch (e) {
        const why = joinNotYet(e);
        if (!why || Date.now() + wait > deadline) throw e;
        if (!said.has(why)) o.log(`k8ts agent ${o.nodeName}: ${why}; trying again`);
        said.add(why);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  } finally {
    client.close();
  }
}

/** Why a join attempt failed in a way that passes on its own (the server is not up, or does not know the
 *  token yet), or undefined for a failure that retrying cannot mend. */
export function joinNotYet(e: unknown): string | undefined {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE'].includes(code))
    return `the API server does not answer yet (${code})`;
  if (code === 401) return 'the API server does not accept the bootstrap token yet (401 Unauthorized: is it created? k8ts token create)';
  if (code === 429 || code === 503) return `the API server is not ready yet (${code})`;
  return undefined;
}

/** When to renew: at a random point between 70 % and 90 % of the certificate's life, as the kubelet's
 *  certificate manager picks it (a fleet renewing at once would load the signer together). */
export function renewalDeadline(c: Pick<NodeCredentials, 'notBefore' | 'notAfter'>, rand = Math.random()): number {
  const life = c.notAfter - c.notBefore;
  return c.notBefore + life * (0.7 + 0.2 * rand);
}
