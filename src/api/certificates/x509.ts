// X.509 certificates and PKCS#10 requests as k8ts makes and reads them (RFC 5280, RFC 2986), on der.ts and
// Node's crypto for keys, signatures and hashes. Node can read a certificate (X509Certificate) but cannot make
// one, nor make or read a request. Written here rather than with @peculiar/x509: that library and its
// dependencies were a fifth of the CLI bundle, and loading them cost every server and agent ~100 ms of CPU
// and ~15 MB of memory at start-up, for the handful of structures below.
import { X509Certificate, createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import {
  DerError,
  type Element,
  TAG,
  bits,
  boolean,
  children,
  context,
  expect,
  octets,
  oid,
  readBits,
  readOid,
  readOnly,
  readSmallInt,
  readString,
  seq,
  set,
  smallInt,
  time,
  tlv,
  unsigned,
  utf8,
} from './der.js';

export { DerError } from './der.js';

export const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  ecdsaSha512: '1.2.840.10045.4.3.4',
  rsaSha256: '1.2.840.113549.1.1.11',
  rsaSha384: '1.2.840.113549.1.1.12',
  rsaSha512: '1.2.840.113549.1.1.13',
  ed25519: '1.3.101.112',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** Signature algorithms a request may be signed with: the hash and the key type that goes with each. */
const SIGNATURES: Record<string, { hash: string | null; key: string }> = {
  [OID.ecdsaSha256]: { hash: 'sha256', key: 'ec' },
  [OID.ecdsaSha384]: { hash: 'sha384', key: 'ec' },
  [OID.ecdsaSha512]: { hash: 'sha512', key: 'ec' },
  [OID.rsaSha256]: { hash: 'sha256', key: 'rsa' },
  [OID.rsaSha384]: { hash: 'sha384', key: 'rsa' },
  [OID.rsaSha512]: { hash: 'sha512', key: 'rsa' },
  [OID.ed25519]: { hash: null, key: 'ed25519' },
};

// ---- PEM ----

export function toPem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END ${label}-----\n`;
}

/** The DER inside the first PEM block labelled `label`. */
export function fromPem(text: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*)-----END ${label}-----`).exec(text);
  if (!m) throw new DerError(`no ${label} PEM block`);
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

// ---- names ----

/** A distinguished name as kubeadm writes one: the organizations (groups) first, then the common name. */
export function encodeName(cn: string, organizations: readonly string[] = []): Buffer {
  const rdn = (type: string, value: string) => set(seq(oid(type), utf8(value)));
  return seq(...organizations.map((o) => rdn(OID.organization, o)), rdn(OID.commonName, cn));
}

export interface Name {
  /** The encoding as read, copied into a certificate unchanged. */
  raw: Buffer;
  commonNames: string[];
  organizations: string[];
}

/** A Name: a SEQUENCE of relative names, each a SET of (type, value); CN and O read, others kept only raw. */
export function parseName(el: Element | undefined): Name {
  const e = expect(el, TAG.sequence, 'name');
  const name: Name = { raw: e.raw, commonNames: [], organizations: [] };
  for (const rdn of children(e)) {
    expect(rdn, TAG.set, 'relative distinguished name');
    for (const atv of children(rdn)) {
      const [type, value, extra] = children(expect(atv, TAG.sequence, 'name attribute'));
      if (!value || extra) throw new DerError(`name attribute at offset ${atv.offset} is not a type and one value`);
      const t = readOid(type);
      if (t === OID.commonName) name.commonNames.push(readString(value));
      else if (t === OID.organization) name.organizations.push(readString(value));
    }
  }
  return name;
}

// ---- subject alternative names ----

export interface AltName {
  type: 'dns' | 'ip' | 'email' | 'uri' | 'other';
  value: string;
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new DerError(`${JSON.stringify(ip)} is not an IP address`);
  let text = ip;
  // An IPv4 tail (::ffff:1.2.3.4) as its two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1].split('.').map(Number);
    text = `${text.slice(0, -v4[1].length)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const h = parse(head);
  const t = parse(tail);
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** An address's text: dotted for IPv4, RFC 5952's short form for IPv6 (as Go's net.IP prints it). */
function ipText(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const g = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

function encodeAltName(n: AltName): Buffer {
  if (n.type === 'dns') return tlv(0x82, Buffer.from(n.value, 'latin1'));
  if (n.type === 'ip') return tlv(0x87, ipBytes(n.value));
  throw new DerError(`subject alternative names of type ${n.type} are not made here`);
}

function ia5(e: Element): string {
  if (e.body.some((c) => c < 0x20 || c > 0x7e)) throw new DerError(`name at offset ${e.offset} holds a byte that is not printable ASCII`);
  return e.body.toString('latin1');
}

/** GeneralNames (RFC 5280 4.2.1.6): DNS, IP, email and URI names read; any other kind kept as `other`. */
function parseAltNames(der: Buffer): AltName[] {
  return children(expect(readOnly(der), TAG.sequence, 'subject alternative names')).map((n): AltName => {
    switch (n.tag) {
      case 0x81:
        return { type: 'email', value: ia5(n) };
      case 0x82:
        return { type: 'dns', value: ia5(n) };
      case 0x86:
        return { type: 'uri', value: ia5(n) };
      case 0x87:
        if (n.body.length !== 4 && n.body.length !== 16) throw new DerError(`IP address at offset ${n.offset} is ${n.body.length} bytes`);
        return { type: 'ip', value: ipText(n.body) };
      default:
        return { type: 'other', value: `[${n.tag & 0x1f}]` };
    }
  });
}

// ---- extensions ----

/** Key usage bits (RFC 5280 4.2.1.3). */
export const KEY_USAGE = {
  digitalSignature: 0,
  contentCommitment: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;

const extension = (id: string, critical: boolean, value: Buffer): Buffer => seq(oid(id), ...(critical ? [boolean(true)] : []), octets(value));

/** The key identifier of a SubjectPublicKeyInfo: SHA-1 of its key bits (RFC 5280 4.2.1.2, method 1). */
export function keyId(spki: Buffer): Buffer {
  const [, key] = children(expect(readOnly(spki), TAG.sequence, 'public key info'));
  return createHash('sha1').update(readBits(key)).digest();
}

export const ext = {
  /** Critical; a CA says so, a leaf is an empty SEQUENCE (cA FALSE is the default DER leaves out). */
  basicConstraints: (ca: boolean): Buffer => extension(OID.basicConstraints, true, ca ? seq(boolean(true)) : seq()),
  /** Critical; the named bits with trailing zero bits dropped, as DER wants a named bit list. */
  keyUsage(usages: readonly number[]): Buffer {
    const n = Math.max(...usages) + 1;
    const bytes = Buffer.alloc(Math.ceil(n / 8));
    for (const u of usages) bytes[u >> 3] |= 0x80 >> (u & 7);
    return extension(OID.keyUsage, true, tlv(TAG.bitString, Buffer.from([bytes.length * 8 - n]), bytes));
  },
  extKeyUsage: (purposes: readonly string[]): Buffer => extension(OID.extKeyUsage, false, seq(...purposes.map(oid))),
  subjectAltName: (names: readonly AltName[]): Buffer => extension(OID.subjectAltName, false, seq(...names.map(encodeAltName))),
  subjectKeyId: (spki: Buffer): Buffer => extension(OID.subjectKeyId, false, octets(keyId(spki))),
  authorityKeyId: (id: Buffer): Buffer => extension(OID.authorityKeyId, false, seq(tlv(0x80, id))),
};

interface Extension {
  id: string;
  critical: boolean;
  value: Buffer;
}

function parseExtensions(e: Element): Extension[] {
  const seen = new Set<string>();
  return children(expect(e, TAG.sequence, 'extensions')).map((x) => {
    const parts = children(expect(x, TAG.sequence, 'extension'));
    const id = readOid(parts[0]);
    let i = 1;
    let critical = false;
    if (parts[i]?.tag === TAG.boolean) {
      if (parts[i].body.length !== 1) throw new DerError(`boolean at offset ${parts[i].offset} is not one byte`);
      critical = parts[i++].body[0] !== 0;
    }
    const value = expect(parts[i], TAG.octetString, `value of extension ${id}`).body;
    if (parts.length !== i + 1) throw new DerError(`extension ${id} at offset ${x.offset} has more than an id, a flag and a value`);
    if (seen.has(id)) throw new DerError(`extension ${id} appears twice`);
    seen.add(id);
    return { id, critical, value };
  });
}

// ---- signing ----

/** The AlgorithmIdentifier and hash for signing with `key`: ECDSA with SHA-256 for an EC key (P-256, as
 *  k8ts makes them), SHA-256 with RSA, or Ed25519. */
function signingAlgorithm(key: KeyObject): { alg: Buffer; hash: string | null } {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return { alg: seq(oid(OID.ecdsaSha256)), hash: 'sha256' };
    case 'rsa':
      return { alg: seq(oid(OID.rsaSha256), tlv(TAG.null, Buffer.alloc(0))), hash: 'sha256' };
    case 'ed25519':
      return { alg: seq(oid(OID.ed25519)), hash: null };
    default:
      throw new Error(`cannot sign with a ${key.asymmetricKeyType} key`);
  }
}

/** `body` signed with `key`, as the three parts a certificate and a request share. */
function signed(body: Buffer, key: KeyObject): Buffer {
  const { alg, hash } = signingAlgorithm(key);
  return seq(body, alg, bits(sign(hash, body, key)));
}

/** A key's SubjectPublicKeyInfo. */
export const spkiOf = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' });

// ---- certificates ----

export interface CertificateAsk {
  /** Big-endian, positive (its top bit is cleared here). */
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** The subject's SubjectPublicKeyInfo. */
  spki: Buffer;
  extensions: Buffer[];
  /** The issuer's private key. */
  signingKey: KeyObject;
}

/** A v3 certificate, PEM. */
export function makeCertificate(a: CertificateAsk): string {
  const serial = Buffer.from(a.serial);
  serial[0] &= 0x7f;
  const tbs = seq(
    context(0, smallInt(2)),
    unsigned(serial),
    signingAlgorithm(a.signingKey).alg,
    a.issuer,
    seq(time(a.notBefore), time(a.notAfter)),
    a.subject,
    a.spki,
    ...(a.extensions.length ? [context(3, seq(...a.extensions))] : []),
  );
  return toPem('CERTIFICATE', signed(tbs, a.signingKey));
}

export interface Certificate {
  subject: Name;
  spki: Buffer;
  /** The subjectKeyIdentifier extension's value, when it has one. */
  subjectKeyId?: Buffer;
}

/** The parts of a certificate a signer copies from its CA (the validity and signature are Node's to check). */
export function parseCertificate(der: Buffer): Certificate {
  const [tbs] = children(expect(readOnly(der), TAG.sequence, 'certificate'));
  const parts = children(expect(tbs, TAG.sequence, 'certificate body'));
  let i = parts[0]?.tag === 0xa0 ? 1 : 0;
  i += 3; // serial, signature algorithm, issuer
  expect(parts[i++], TAG.sequence, 'validity');
  const subject = parseName(parts[i++]);
  const spki = expect(parts[i++], TAG.sequence, 'public key info').raw;
  let subjectKeyId: Buffer | undefined;
  for (const p of parts.slice(i)) {
    if (p.tag !== 0xa3) continue;
    const ski = parseExtensions(children(p)[0]).find((x) => x.id === OID.subjectKeyId);
    if (ski) subjectKeyId = expect(readOnly(ski.value), TAG.octetString, 'subject key identifier').body;
  }
  return { subject, spki, subjectKeyId };
}

/** A CA as its signatures need it: its name, the authority key identifier its certificates carry, when it
 *  expires (a certificate it signs ends no later) and its private key. */
export interface Issuer {
  name: Buffer;
  authorityKeyId: Buffer;
  notAfter: number;
  key: KeyObject;
}

export function loadIssuer(certPem: string, keyPem: string): Issuer {
  const der = fromPem(certPem, 'CERTIFICATE');
  const c = parseCertificate(der);
  return {
    name: c.subject.raw,
    authorityKeyId: ext.authorityKeyId(c.subjectKeyId ?? keyId(c.spki)),
    notAfter: Date.parse(new X509Certificate(der).validTo),
    key: createPrivateKey(keyPem),
  };
}

// ---- requests ----

/** A PKCS#10 request for `subject` and the key, asking for `extensions`, signed with the key; PEM. */
export function makeRequest(subject: Buffer, key: KeyObject, publicKey: KeyObject, extensions: Buffer[] = []): string {
  const attributes = extensions.length ? [seq(oid(OID.extensionRequest), set(seq(...extensions)))] : [];
  const info = seq(smallInt(0), subject, spkiOf(publicKey), context(0, ...attributes));
  return toPem('CERTIFICATE REQUEST', signed(info, key));
}

export interface Request {
  subject: Name;
  /** The requester's SubjectPublicKeyInfo, and the key Node read from it. */
  spki: Buffer;
  publicKey: KeyObject;
  altNames: AltName[];
  /** What the signature covers, the algorithm's OID and the signature. */
  info: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
}

/** A PKCS#10 request (RFC 2986); throws DerError naming what is wrong. */
export function parseRequest(der: Buffer): Request {
  const top = children(expect(readOnly(der), TAG.sequence, 'certificate request'));
  if (top.length !== 3) throw new DerError(`a certificate request has 3 parts, not ${top.length}`);
  const [info, alg, sig] = top;
  const parts = children(expect(info, TAG.sequence, 'request info'));
  const version = readSmallInt(parts[0]);
  if (version !== 0) throw new DerError(`request version ${version}, not 0 (v1)`);
  const subject = parseName(parts[1]);
  const spki = expect(parts[2], TAG.sequence, 'public key info').raw;
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (e) {
    throw new DerError(`the request's public key cannot be read (${e instanceof Error ? e.message : String(e)})`);
  }
  let altNames: AltName[] = [];
  if (parts[3]) {
    expect(parts[3], 0xa0, 'request attributes');
    let asked = false;
    for (const a of children(parts[3])) {
      const [type, values, extra] = children(expect(a, TAG.sequence, 'request attribute'));
      if (!values || extra) throw new DerError(`request attribute at offset ${a.offset} is not a type and a set of values`);
      if (readOid(type) !== OID.extensionRequest) continue;
      if (asked) throw new DerError('the extension request appears twice');
      asked = true;
      const [exts, more] = children(expect(values, TAG.set, 'extension request values'));
      if (!exts || more) throw new DerError('the extension request does not hold exactly one list of extensions');
      const san = parseExtensions(exts).find((x) => x.id === OID.subjectAltName);
      if (san) altNames = parseAltNames(san.value);
    }
  }
  if (parts.length > 4) throw new DerError(`request info has ${parts.length} parts, not 4`);
  const [algId] = children(expect(alg, TAG.sequence, 'signature algorithm'));
  return { subject, spki, publicKey, altNames, info: info.raw, signatureAlgorithm: readOid(algId), signature: readBits(sig) };
}

/** Whether the request is signed by the private key of the public key it carries. */
export function verifyRequest(r: Request): boolean {
  const s = SIGNATURES[r.signatureAlgorithm];
  if (!s || r.publicKey.asymmetricKeyType !== s.key) return false;
  try {
    return verify(s.hash, r.info, r.publicKey, r.signature);
  } catch {
    return false;
  }
}
