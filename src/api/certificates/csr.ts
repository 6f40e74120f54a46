// CertificateSigningRequest contents: the PEM PKCS#10 request parsed (x509.ts; Node's crypto cannot read or
// sign requests), the rules of the built-in kubernetes.io signers (the two client signers and
// kubelet-serving), and signing with the cluster CA.
import { randomBytes } from 'node:crypto';
import { type Issuer, KEY_USAGE, OID, type Request, ext, loadIssuer, makeCertificate, parseRequest, verifyRequest } from './x509.js';
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
  csr: Request;
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
  let csr: Request;
  try {
    csr = parseRequest(Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
  } catch (e) {
    throw new Error(`asn1: the request is not a PKCS#10 certificate request (${e instanceof Error ? e.message : String(e)})`);
  }
  // Go reads the last common name of several and the kube-apiserver's authenticator another tool's way: a
  // request naming more than one user is refused rather than read one way here and another there.
  if (csr.subject.commonNames.length > 1) throw new Error(`the request's subject has ${csr.subject.commonNames.length} common names; at most one is allowed`);
  const items = csr.altNames;
  return {
    csr,
    commonName: csr.subject.commonNames[0] ?? '',
    organizations: csr.subject.organizations,
    sans: items.map((n) => `${n.type}:${n.value}`),
    dnsNames: items.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: items.filter((n) => n.type === 'ip').map((n) => n.value),
  };
}

/** The request's signature is its key's: the requester holds the private key. */
export async function verifyCsrSignature(p: ParsedCsr): Promise<boolean> {
  return verifyRequest(p.csr);
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

const KEY_USAGE_BITS: Record<string, number> = {
  'digital signature': KEY_USAGE.digitalSignature,
  'content commitment': KEY_USAGE.contentCommitment,
  'key encipherment': KEY_USAGE.keyEncipherment,
  'data encipherment': KEY_USAGE.dataEncipherment,
  'key agreement': KEY_USAGE.keyAgreement,
  'cert sign': KEY_USAGE.keyCertSign,
  'crl sign': KEY_USAGE.cRLSign,
  'encipher only': KEY_USAGE.encipherOnly,
  'decipher only': KEY_USAGE.decipherOnly,
};

/** The cluster CA as a signer: its certificate and its private key (PKCS#8 PEM, P-256 as ensurePki makes it). */
export class CaSigner {
  private constructor(private readonly issuer: Issuer) {}

  static async load(caCertPem: string, caKeyPem: string): Promise<CaSigner> {
    return new CaSigner(loadIssuer(caCertPem, caKeyPem));
  }

  /** A certificate for the request's subject and key, valid for `seconds` (capped by the CA's own expiry),
   *  with only the usages asked for. Other requested extensions are dropped; SANs too unless `keepSans`
   *  (kubelet-serving keeps the DNS and IP names, as upstream's signer honours them). */
  async sign(p: ParsedCsr, usages: string[], seconds: number, keepSans = false): Promise<string> {
    const notBefore = new Date(Date.now() - 5 * 60_000); // clock skew, as upstream's signer backdates
    const notAfter = new Date(Math.min(Date.now() + seconds * 1000, this.issuer.notAfter));
    const bits = usages.flatMap((u) => (u in KEY_USAGE_BITS ? [KEY_USAGE_BITS[u]] : []));
    const extensions = [ext.basicConstraints(false)];
    if (bits.length) extensions.push(ext.keyUsage(bits));
    const eku = [...(usages.includes('client auth') ? [OID.clientAuth] : []), ...(usages.includes('server auth') ? [OID.serverAuth] : [])];
    if (eku.length) extensions.push(ext.extKeyUsage(eku));
    if (keepSans && (p.dnsNames.length || p.ipAddresses.length)) {
      extensions.push(
        ext.subjectAltName([
          ...p.dnsNames.map((value) => ({ type: 'dns' as const, value })),
          ...p.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
        ]),
      );
    }
    extensions.push(this.issuer.authorityKeyId);
    return makeCertificate({
      serial: randomBytes(16),
      issuer: this.issuer.name,
      subject: p.csr.subject.raw,
      notBefore,
      notAfter,
      spki: p.csr.spki,
      extensions,
      signingKey: this.issuer.key,
    });
  }
}
