// Certificates made in process with @peculiar/x509: a self-signed CA and leaves signed by it or self-signed
// (P-256 keys, PKCS#8 PEM), for the server's own PKI, the agent's stand-in serving certificate and the tests'
// CAs and peers (the one way k8ts makes a key and certificate of its own). In process rather than with openssl: the API server made seven
// openssl processes one after another on a first start, which was most of its start-up wall time.
import 'reflect-metadata'; // @peculiar/x509's dependency injection (tsyringe) needs the polyfill loaded first.
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

/** A distinguished name as kubeadm writes it: the organizations (groups) first, then the common name (user). */
export interface Subject {
  cn: string;
  o?: string[];
}

const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Clock skew between machines, as upstream's signer backdates. */
const BACKDATE_MS = 5 * 60_000;

/** What a name attribute made here may hold. @peculiar/x509 writes a JSON name through its string form and
 *  reads a comma or a quote there as syntax (`team, "a"` became `a`), so such values are refused, not sent. */
const SAFE_VALUE = /^[A-Za-z0-9][A-Za-z0-9 .:@_-]*$/;

function jsonName(s: Subject): x509.JsonName {
  for (const v of [s.cn, ...(s.o ?? [])]) {
    if (!SAFE_VALUE.test(v)) throw new Error(`certificate subject value ${JSON.stringify(v)}: only letters, digits, space and . : @ _ - are allowed`);
  }
  return [...(s.o ?? []).map((o) => ({ O: [o] })), { CN: [s.cn] }];
}

const DNS_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** The subject alternative names, each proven an IP address or a DNS name. */
function altNames(names: string[]): x509.SubjectAlternativeNameExtension {
  return new x509.SubjectAlternativeNameExtension(
    names.map((value) => {
      if (isIP(value)) return { type: 'ip' as const, value };
      if (value.length <= 253 && DNS_NAME.test(value)) return { type: 'dns' as const, value };
      throw new Error(`certificate name ${JSON.stringify(value)} is neither an IP address nor a DNS name`);
    }),
  );
}

function serialNumber(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f; // positive
  return b.toString('hex');
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const b64 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key)).toString('base64');
  return `-----BEGIN PRIVATE KEY-----\n${b64.match(/.{1,64}/g)?.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

async function importPkcs8(pem: string): Promise<webcrypto.CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
}

/** A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign and cRLSign) and its key. */
export async function makeCa(cn: string, days: number): Promise<KeyAndCert> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: jsonName({ cn }),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + days * DAY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keyPem: await pkcs8Pem(keys.privateKey), certPem: `${cert.toString('pem')}\n` };
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
function leafExtensions(ask: LeafAsk): x509.Extension[] {
  const ext: x509.Extension[] = [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | (ask.usage === 'server' ? x509.KeyUsageFlags.keyEncipherment : 0), true),
    new x509.ExtendedKeyUsageExtension([ask.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
  ];
  if (ask.names?.length) ext.push(altNames(ask.names));
  return ext;
}

/** A new key and a certificate for it signed by the given CA. */
export async function issue(ca: KeyAndCert, ask: LeafAsk): Promise<KeyAndCert> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = await newKeys();
  const now = Date.now();
  const ext = [...leafExtensions(ask), await x509.AuthorityKeyIdentifierExtension.create(caCert)];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: jsonName(ask.subject),
    issuer: caCert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(Math.min(now + ask.days * DAY_MS, caCert.notAfter.getTime())),
    publicKey: keys.publicKey,
    signingKey: await importPkcs8(ca.keyPem),
    signingAlgorithm: SIGNING,
    extensions: ext,
  });
  return { keyPem: await pkcs8Pem(keys.privateKey), certPem: `${cert.toString('pem')}\n` };
}

/** A new key and a self-signed leaf for it: what a TLS endpoint serves before (or without) a CA's certificate. */
export async function selfSigned(ask: LeafAsk): Promise<KeyAndCert> {
  const keys = await newKeys();
  const now = Date.now();
  const ext = leafExtensions(ask);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: jsonName(ask.subject),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ask.days * DAY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: ext,
  });
  return { keyPem: await pkcs8Pem(keys.privateKey), certPem: `${cert.toString('pem')}\n` };
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
