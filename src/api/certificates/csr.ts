// CertificateSigningRequest contents: the PEM PKCS#10 request parsed with @peculiar/x509 (Node's crypto
// cannot read or sign requests), the rules of the built-in kubernetes.io signers (the two client signers
// and kubelet-serving), and signing with the cluster CA.
import 'reflect-metadata'; // @peculiar/x509's dependency injection (tsyringe) needs the polyfill loaded first.
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import type { FieldError } from '../types.js';
import { invalid } from '../fielderror.js';

export const SIGNER_APISERVER_CLIENT = 'kubernetes.io/kube-apiserver-client';
export const SIGNER_KUBELET_CLIENT = 'kubernetes.io/kube-apiserver-client-kubelet';
export const SIGNER_KUBELET_SERVING = 'kubernetes.io/kubelet-serving';

/** Key usages a request may name (certificates.k8s.io/v1 KeyUsage). */
export const KEY_USAGES = [
  'signing',
  'digital signature',
  'content commitment',
  'key encipherment',
  'key agreement',
  'data encipherment',
  'cert sign',
  'crl sign',
  'encipher only',
  'decipher only',
  'any',
  'server auth',
  'client auth',
  'code signing',
  'email protection',
  's/mime',
  'ipsec end system',
  'ipsec tunnel',
  'ipsec user',
  'timestamping',
  'ocsp signing',
  'microsoft sgc',
  'netscape sgc',
] as const;

export interface ParsedCsr {
  csr: x509.Pkcs10CertificateRequest;
  commonName: string;
  organizations: string[];
  /** Subject alternative names of any type the request carries (DNS, IP, email, URI), as `type:value`. */
  sans: string[];
  /** The DNS and IP names among them. */
  dnsNames: string[];
  ipAddresses: string[];
}

/** Parses a PEM `CERTIFICATE REQUEST` block; throws a message naming what is wrong. */
export function parseCsrPem(pem: string): ParsedCsr {
  const blocks = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]);
  if (blocks.length === 0) throw new Error('PEM block type must be CERTIFICATE REQUEST');
  if (blocks[0] !== 'CERTIFICATE REQUEST') throw new Error(`PEM block type must be CERTIFICATE REQUEST, not ${blocks[0]}`);
  const m = /-----BEGIN CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]*)-----END CERTIFICATE REQUEST-----/.exec(pem);
  if (!m) throw new Error('the CERTIFICATE REQUEST PEM block is not base64 between BEGIN and END lines');
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
  } catch (e) {
    throw new Error(`asn1: the request is not a PKCS#10 certificate request (${e instanceof Error ? e.message : String(e)})`);
  }
  const sanExt = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  const items = sanExt ? sanExt.names.items : [];
  const sans = items.map((n) => `${n.type}:${n.value}`);
  return {
    csr,
    commonName: csr.subjectName.getField('CN')[0] ?? '',
    organizations: csr.subjectName.getField('O'),
    sans,
    dnsNames: items.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: items.filter((n) => n.type === 'ip').map((n) => n.value),
  };
}

/** The request's signature is its key's: the requester holds the private key. */
export async function verifyCsrSignature(p: ParsedCsr): Promise<boolean> {
  return p.csr.verify().catch(() => false);
}

/** The rules of the built-in signers (Kubernetes' "Kubernetes signers" documentation), as field errors on
 *  spec.request / spec.usages; other signers' requests are left to their signers. */
export function signerRules(signerName: string, p: ParsedCsr, usages: string[]): FieldError[] {
  const errs: FieldError[] = [];
  if (signerName === SIGNER_KUBELET_CLIENT) {
    if (p.organizations.length !== 1 || p.organizations[0] !== 'system:nodes') {
      errs.push(invalid('spec.request', p.organizations, `organization must be ["system:nodes"] for signerName ${SIGNER_KUBELET_CLIENT}`));
    }
    if (!p.commonName.startsWith('system:node:') || p.commonName.length === 'system:node:'.length) {
      errs.push(invalid('spec.request', p.commonName, `common name must begin with "system:node:" for signerName ${SIGNER_KUBELET_CLIENT}`));
    }
    if (p.sans.length) errs.push(invalid('spec.request', p.sans, `subject alternative names are not allowed for signerName ${SIGNER_KUBELET_CLIENT}`));
    const set = [...new Set(usages)].sort().join(',');
    if (set !== 'client auth,digital signature' && set !== 'client auth,digital signature,key encipherment') {
      errs.push(
        invalid(
          'spec.usages',
          usages,
          `usages must be ["digital signature", "client auth"] or ["key encipherment", "digital signature", "client auth"] for signerName ${SIGNER_KUBELET_CLIENT}`,
        ),
      );
    }
  } else if (signerName === SIGNER_KUBELET_SERVING) {
    // Upstream's ValidateKubeletServingCSR, with its messages; k8ts also refuses SAN types other than DNS
    // and IP (upstream names email and URI; the rest its Go parser never surfaces).
    if (p.organizations.length !== 1 || p.organizations[0] !== 'system:nodes') {
      errs.push(invalid('spec.request', p.organizations, `subject organization is not system:nodes (signerName ${SIGNER_KUBELET_SERVING})`));
    }
    if (!p.commonName.startsWith('system:node:') || p.commonName.length === 'system:node:'.length) {
      errs.push(invalid('spec.request', p.commonName, `subject common name does not begin with system:node: (signerName ${SIGNER_KUBELET_SERVING})`));
    }
    if (!p.dnsNames.length && !p.ipAddresses.length)
      errs.push(invalid('spec.request', p.sans, `DNS or IP subjectAltName is required (signerName ${SIGNER_KUBELET_SERVING})`));
    const other = p.sans.filter((n) => !n.startsWith('dns:') && !n.startsWith('ip:'));
    if (other.length) errs.push(invalid('spec.request', other, `only DNS and IP subjectAltNames are allowed for signerName ${SIGNER_KUBELET_SERVING}`));
    const set = [...new Set(usages)].sort().join(',');
    if (set !== 'digital signature,server auth' && set !== 'digital signature,key encipherment,server auth') {
      errs.push(
        invalid(
          'spec.usages',
          usages,
          `usages must be ["digital signature", "server auth"] or ["key encipherment", "digital signature", "server auth"] for signerName ${SIGNER_KUBELET_SERVING}`,
        ),
      );
    }
  } else if (signerName === SIGNER_APISERVER_CLIENT) {
    if (!p.commonName) errs.push(invalid('spec.request', '', `a common name (the user) is required for signerName ${SIGNER_APISERVER_CLIENT}`));
    const allowed = new Set(['digital signature', 'key encipherment', 'client auth']);
    if (!usages.includes('client auth') || usages.some((u) => !allowed.has(u))) {
      errs.push(
        invalid(
          'spec.usages',
          usages,
          `usages must include "client auth" and only "digital signature", "key encipherment", "client auth" for signerName ${SIGNER_APISERVER_CLIENT}`,
        ),
      );
    }
  }
  return errs;
}

const KEY_USAGE_FLAGS: Record<string, number> = {
  'digital signature': x509.KeyUsageFlags.digitalSignature,
  'content commitment': x509.KeyUsageFlags.nonRepudiation,
  'key encipherment': x509.KeyUsageFlags.keyEncipherment,
  'data encipherment': x509.KeyUsageFlags.dataEncipherment,
  'key agreement': x509.KeyUsageFlags.keyAgreement,
  'cert sign': x509.KeyUsageFlags.keyCertSign,
  'crl sign': x509.KeyUsageFlags.cRLSign,
  'encipher only': x509.KeyUsageFlags.encipherOnly,
  'decipher only': x509.KeyUsageFlags.decipherOnly,
};

/** The cluster CA as a signer: its certificate and its private key (PKCS#8 PEM, P-256 as ensurePki makes it). */
export class CaSigner {
  private constructor(
    readonly caCert: x509.X509Certificate,
    private key: webcrypto.CryptoKey,
  ) {}

  static async load(caCertPem: string, caKeyPem: string): Promise<CaSigner> {
    const der = Buffer.from(caKeyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
    const key = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    return new CaSigner(new x509.X509Certificate(caCertPem), key);
  }

  /** A certificate for the request's subject and key, valid for `seconds` (capped by the CA's own expiry),
   *  with only the usages asked for. Other requested extensions are dropped; SANs too unless `keepSans`
   *  (kubelet-serving keeps the DNS and IP names, as upstream's signer honours them). */
  async sign(p: ParsedCsr, usages: string[], seconds: number, keepSans = false): Promise<string> {
    const notBefore = new Date(Date.now() - 5 * 60_000); // clock skew, as upstream's signer backdates
    const notAfter = new Date(Math.min(Date.now() + seconds * 1000, this.caCert.notAfter.getTime()));
    const flags = usages.reduce((f, u) => f | (KEY_USAGE_FLAGS[u] ?? 0), 0);
    const ext: x509.Extension[] = [new x509.BasicConstraintsExtension(false, undefined, true)];
    if (flags) ext.push(new x509.KeyUsagesExtension(flags, true));
    const eku = [
      ...(usages.includes('client auth') ? [x509.ExtendedKeyUsage.clientAuth] : []),
      ...(usages.includes('server auth') ? [x509.ExtendedKeyUsage.serverAuth] : []),
    ];
    if (eku.length) ext.push(new x509.ExtendedKeyUsageExtension(eku));
    if (keepSans && (p.dnsNames.length || p.ipAddresses.length)) {
      ext.push(
        new x509.SubjectAlternativeNameExtension([
          ...p.dnsNames.map((value) => ({ type: 'dns' as const, value })),
          ...p.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
        ]),
      );
    }
    ext.push(await x509.AuthorityKeyIdentifierExtension.create(this.caCert));
    const serial = randomBytes(16);
    serial[0] &= 0x7f; // positive
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial.toString('hex'),
      subject: p.csr.subjectName,
      issuer: this.caCert.subjectName,
      notBefore,
      notAfter,
      publicKey: p.csr.publicKey,
      signingKey: this.key,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: ext,
    });
    return cert.toString('pem') + '\n';
  }
}
