// The one way k8ts makes a P-256 key and an X.509 certificate with openssl: self-signed, or signed by a CA
// it has on disk. The API server's PKI, the agent's stand-in serving certificate and the tests' CAs and
// peers all come from here. Subject values and names are proven before they reach openssl's command line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec.js';

/** A certificate's subject: the common name and the organizations (Kubernetes reads them as user and groups). */
export interface CertSubject {
  cn: string;
  o?: string[];
}

export interface CertSpec {
  keyFile: string;
  certFile: string;
  subject: CertSubject;
  days: number;
  /** Subject alternative names: IP addresses and DNS names. */
  sans?: string[];
  /** What the certificate is for: a CA, a TLS server, a TLS client; absent: no usage extensions. */
  usage?: 'ca' | 'server' | 'client';
  /** The CA that signs it (its PEM files); absent: self-signed. */
  issuer?: { certFile: string; keyFile: string };
}

// What openssl's -subj syntax gives meaning to ('/', '=', '+', '\') and anything unprintable are refused,
// so one value never becomes two fields.
const SUBJECT_VALUE = /^[A-Za-z0-9 _.:@*-]{1,64}$/;
const DNS_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** openssl's -subj text for a subject whose every value is proven. */
export function subjectText(s: CertSubject): string {
  const values: [string, string][] = [...(s.o ?? []).map((o): [string, string] => ['O', o]), ['CN', s.cn]];
  for (const [field, v] of values) {
    if (!SUBJECT_VALUE.test(v)) throw new Error(`certificate subject ${field}=${JSON.stringify(v)}: only letters, digits, space and _ . : @ * - (1–64)`);
  }
  return values.map(([f, v]) => `/${f}=${v}`).join('');
}

/** openssl's subjectAltName value for IP addresses and DNS names, each proven one or the other. */
export function sanText(names: string[]): string {
  return [...new Set(names)]
    .map((n) => {
      if (isIP(n)) return `IP:${n}`;
      if (n.length <= 253 && DNS_NAME.test(n)) return `DNS:${n}`;
      throw new Error(`certificate name ${JSON.stringify(n)} is neither an IP address nor a DNS name`);
    })
    .join(',');
}

/** The extension lines for a certificate (openssl's x509v3 config syntax). */
function extensions(c: CertSpec): string[] {
  const ext: string[] = [];
  if (c.sans?.length) ext.push(`subjectAltName=${sanText(c.sans)}`);
  if (c.usage === 'ca') ext.push('basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign');
  // keyEncipherment kept for servers: TLS clients of RSA-era habits (and kubeadm's certificates) carry it.
  if (c.usage === 'server') ext.push('extendedKeyUsage=serverAuth', 'keyUsage=critical,digitalSignature,keyEncipherment');
  // clientAuth only: the x509 authenticator (and OpenSSL's client purpose check) refuse a certificate without it.
  if (c.usage === 'client') ext.push('extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature');
  return ext;
}

const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Makes a new P-256 key and its certificate (PEM files; openssl writes the key 0600). */
export async function makeCert(c: CertSpec): Promise<void> {
  if (!Number.isInteger(c.days) || c.days < 1) throw new Error(`certificate validity ${c.days} days: a whole number of days, at least 1`);
  const subj = subjectText(c.subject);
  const ext = extensions(c);
  if (!c.issuer) {
    await run([
      'openssl',
      'req',
      '-x509',
      ...NEW_EC_KEY,
      '-keyout',
      c.keyFile,
      '-out',
      c.certFile,
      '-days',
      String(c.days),
      '-subj',
      subj,
      ...ext.flatMap((e) => ['-addext', e]),
    ]);
    return;
  }
  // The request and the extension file are scratch: they live and go in a directory of their own.
  const tmp = mkdtempSync(join(tmpdir(), 'k8ts-cert-'));
  try {
    const csr = join(tmp, 'req.csr');
    const extFile = join(tmp, 'ext');
    writeFileSync(extFile, ext.map((e) => `${e}\n`).join(''));
    await run(['openssl', 'req', ...NEW_EC_KEY, '-keyout', c.keyFile, '-out', csr, '-subj', subj]);
    const signed = ['-CA', c.issuer.certFile, '-CAkey', c.issuer.keyFile, '-CAcreateserial', '-out', c.certFile, '-days', String(c.days)];
    await run(['openssl', 'x509', '-req', '-in', csr, ...signed, ...(ext.length ? ['-extfile', extFile] : [])]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
