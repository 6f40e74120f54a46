// Certificates made in process (x509.ts): a self-signed CA and leaves signed by it or self-signed (P-256
// keys, PKCS#8 PEM), for the server's own PKI, the agent's stand-in serving certificate and the tests' CAs and
// peers (the one way k8ts makes a key and certificate of its own). In process rather than with openssl: the
// API server made seven openssl processes one after another on a first start, which was most of its start-up
// wall time.
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type AltName, KEY_USAGE, OID, encodeName, ext, loadIssuer, makeCertificate, spkiOf } from './x509.js';

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

/** A distinguished name as kubeadm writes it: the organizations (groups) first, then the common name (user). */
export interface Subject {
  cn: string;
  o?: string[];
}

const DAY_MS = 86_400_000;
/** Clock skew between machines, as upstream's signer backdates. */
const BACKDATE_MS = 5 * 60_000;

/** What a name attribute made here may hold: plain names, so a subject reads the same in every tool that
 *  prints it as text (a comma, quote, plus or equals sign is syntax in those forms). */
const SAFE_VALUE = /^[A-Za-z0-9][A-Za-z0-9 .:@_-]*$/;

function subjectName(s: Subject): Buffer {
  for (const v of [s.cn, ...(s.o ?? [])]) {
    if (!SAFE_VALUE.test(v)) throw new Error(`certificate subject value ${JSON.stringify(v)}: only letters, digits, space and . : @ _ - are allowed`);
  }
  return encodeName(s.cn, s.o);
}

const DNS_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** The subject alternative names, each proven an IP address or a DNS name. */
function altNames(names: string[]): AltName[] {
  return names.map((value) => {
    if (isIP(value)) return { type: 'ip', value };
    if (value.length <= 253 && DNS_NAME.test(value)) return { type: 'dns', value };
    throw new Error(`certificate name ${JSON.stringify(value)} is neither an IP address nor a DNS name`);
  });
}

function newKeys(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

const pkcs8Pem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }) as string;

/** A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign and cRLSign) and its key. */
export async function makeCa(cn: string, days: number): Promise<KeyAndCert> {
  const keys = newKeys();
  const now = Date.now();
  const name = subjectName({ cn });
  const spki = spkiOf(keys.publicKey);
  const certPem = makeCertificate({
    serial: randomBytes(16),
    issuer: name,
    subject: name,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + days * DAY_MS),
    spki,
    extensions: [ext.basicConstraints(true), ext.keyUsage([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]), ext.subjectKeyId(spki)],
    signingKey: keys.privateKey,
  });
  return { keyPem: pkcs8Pem(keys.privateKey), certPem };
}

export interface LeafAsk {
  subject: Subject;
  /** serverAuth (with the names below) or clientAuth. */
  usage: 'server' | 'client';
  /** DNS names and IP addresses, told apart by their form (server certificates). */
  names?: string[];
  days: number;
}

/** A leaf's usages (serverAuth or clientAuth) and its names. */
function leafExtensions(ask: LeafAsk): Buffer[] {
  const out = [
    ext.keyUsage(ask.usage === 'server' ? [KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment] : [KEY_USAGE.digitalSignature]),
    ext.extKeyUsage([ask.usage === 'server' ? OID.serverAuth : OID.clientAuth]),
  ];
  if (ask.names?.length) out.push(ext.subjectAltName(altNames(ask.names)));
  return out;
}

/** A new key and a certificate for it signed by the given CA. */
export async function issue(ca: KeyAndCert, ask: LeafAsk): Promise<KeyAndCert> {
  const issuer = loadIssuer(ca.certPem, ca.keyPem);
  const subject = subjectName(ask.subject);
  const keys = newKeys();
  const now = Date.now();
  const certPem = makeCertificate({
    serial: randomBytes(16),
    issuer: issuer.name,
    subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(Math.min(now + ask.days * DAY_MS, issuer.notAfter)),
    spki: spkiOf(keys.publicKey),
    extensions: [...leafExtensions(ask), issuer.authorityKeyId],
    signingKey: issuer.key,
  });
  return { keyPem: pkcs8Pem(keys.privateKey), certPem };
}

/** A new key and a self-signed leaf for it: what a TLS endpoint serves before (or without) a CA's certificate. */
export async function selfSigned(ask: LeafAsk): Promise<KeyAndCert> {
  const name = subjectName(ask.subject);
  const extensions = leafExtensions(ask);
  const keys = newKeys();
  const now = Date.now();
  const certPem = makeCertificate({
    serial: randomBytes(16),
    issuer: name,
    subject: name,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ask.days * DAY_MS),
    spki: spkiOf(keys.publicKey),
    extensions,
    signingKey: keys.privateKey,
  });
  return { keyPem: pkcs8Pem(keys.privateKey), certPem };
}

/** Writes a key (0600) and its certificate, each whole (a temporary name, then rename) and the key first:
 *  a certificate on disk always has its key beside it. */
export function writeKeyAndCert(made: KeyAndCert, keyFile: string, certFile: string): void {
  for (const [file, text, mode] of [
    [keyFile, made.keyPem, 0o600],
    [certFile, made.certPem, 0o644],
  ] as const) {
    writeFileSync(`${file}.tmp`, text, { mode });
    renameSync(`${file}.tmp`, file);
  }
}
