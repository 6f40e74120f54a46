// Encryption at rest: kube-apiserver's EncryptionConfiguration (apiserver.config.k8s.io/v1) with the
// aescbc, secretbox and identity providers, and the per-resource transformer that the store wrapper uses.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { parse as parseYaml } from 'yaml';

/** A field error in the configuration file, worded as upstream's validation (the path names the field). */
export class EncryptionConfigError extends Error {
  constructor(
    readonly errors: string[],
    file?: string,
  ) {
    super(`${file ? `${file}: ` : ''}invalid EncryptionConfiguration: ${errors.join('; ')}`);
    this.name = 'EncryptionConfigError';
  }
}

/** One way of writing and reading values; `prefix` is what the stored value starts with. */
export interface Transformer {
  /** The exact stored prefix, e.g. `k8s:enc:aescbc:v1:key1:`; '' for identity. */
  readonly prefix: string;
  /** The provider name for logs and metrics: aescbc, secretbox or identity. */
  readonly provider: 'aescbc' | 'secretbox' | 'identity';
  /** The key's name as configured ('' for identity). */
  readonly keyName: string;
  encrypt(plain: Buffer): Buffer;
  /** Throws when the bytes after the prefix are not a valid ciphertext under this key. */
  decrypt(data: Buffer): Buffer;
}

const AES_BLOCK = 16;
const AES_KEY_SIZES = [16, 24, 32];
const SECRETBOX_KEY_SIZES = [nacl.secretbox.keyLength];

/** AES-CBC with a random IV in front and PKCS#7 padding: upstream's aescbc layout, byte for byte. */
function aescbc(name: string, key: Buffer): Transformer {
  const alg = `aes-${key.length * 8}-cbc`;
  return {
    prefix: `k8s:enc:aescbc:v1:${name}:`,
    provider: 'aescbc',
    keyName: name,
    encrypt(plain) {
      const iv = randomBytes(AES_BLOCK);
      const c = createCipheriv(alg, key, iv); // node pads with PKCS#7 by default
      return Buffer.concat([iv, c.update(plain), c.final()]);
    },
    decrypt(data) {
      if (data.length < AES_BLOCK) throw new Error('the stored data was shorter than the required size');
      const body = data.subarray(AES_BLOCK);
      if (body.length % AES_BLOCK !== 0) throw new Error('the stored data is not a multiple of the block size');
      if (body.length === 0) throw new Error('invalid PKCS7 data (empty or not padded)');
      const d = createDecipheriv(alg, key, data.subarray(0, AES_BLOCK));
      try {
        return Buffer.concat([d.update(body), d.final()]);
      } catch {
        // A wrong key almost always shows up as bad padding; CBC carries no authentication.
        throw new Error('invalid padding on input');
      }
    },
  };
}

/** XSalsa20-Poly1305 (NaCl secretbox) with a random 24-byte nonce in front, as upstream writes it. */
function secretbox(name: string, key: Buffer): Transformer {
  const k = new Uint8Array(key);
  return {
    prefix: `k8s:enc:secretbox:v1:${name}:`,
    provider: 'secretbox',
    keyName: name,
    encrypt(plain) {
      const nonce = randomBytes(nacl.secretbox.nonceLength);
      return Buffer.concat([nonce, nacl.secretbox(new Uint8Array(plain), new Uint8Array(nonce), k)]);
    },
    decrypt(data) {
      const n = nacl.secretbox.nonceLength;
      if (data.length < n + nacl.secretbox.overheadLength) throw new Error('the stored data was shorter than the required size');
      const out = nacl.secretbox.open(new Uint8Array(data.subarray(n)), new Uint8Array(data.subarray(0, n)), k);
      if (!out) throw new Error('authentication failed: wrong key or altered data');
      return Buffer.from(out);
    },
  };
}

const identity: Transformer = {
  prefix: '',
  provider: 'identity',
  keyName: '',
  encrypt: (plain) => plain,
  decrypt: (data) => data,
};

/** The providers of one resources[] entry, in order: the first writes, all of them read. */
export interface ResourceRule {
  /** As written: `secrets`, `deployments.apps`, `*.apps`, `*.*`. */
  resources: string[];
  transformers: Transformer[];
}

export interface EncryptionConfig {
  rules: ResourceRule[];
}

/** Parses and validates an EncryptionConfiguration document (YAML or JSON); every problem is listed with
 *  the path of its field, as kube-apiserver's validation words it, and secrets are never echoed. */
export function parseEncryptionConfig(text: string, file?: string): EncryptionConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new EncryptionConfigError([`not YAML or JSON: ${(e as Error).message.split('\n')[0]}`], file);
  }
  const errs: string[] = [];
  if (!isObj(doc)) throw new EncryptionConfigError(['expected an object with kind: EncryptionConfiguration'], file);
  if (doc.kind !== 'EncryptionConfiguration') errs.push(`kind: Invalid value: ${JSON.stringify(doc.kind ?? '')}: expected EncryptionConfiguration`);
  if (doc.apiVersion !== 'apiserver.config.k8s.io/v1')
    errs.push(`apiVersion: Invalid value: ${JSON.stringify(doc.apiVersion ?? '')}: expected apiserver.config.k8s.io/v1`);
  const resources = doc.resources;
  if (!Array.isArray(resources) || resources.length === 0) {
    throw new EncryptionConfigError([...errs, 'resources: Required value: at least one resources is required'], file);
  }
  const rules: ResourceRule[] = [];
  const seen = new Set<string>();
  resources.forEach((entry, i) => {
    const r = `resources[${i}].resources`;
    const p = `resources[${i}].providers`;
    if (!isObj(entry)) {
      errs.push(`resources[${i}]: Invalid value: expected an object with resources and providers`);
      return;
    }
    const names = entry.resources;
    if (!Array.isArray(names) || names.length === 0) errs.push(`${r}: Required value: at least one ${r} is required`);
    const rule: ResourceRule = { resources: [], transformers: [] };
    (Array.isArray(names) ? names : []).forEach((n, j) => {
      if (typeof n !== 'string' || !/^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.(\*|[a-z0-9]([-a-z0-9.]*[a-z0-9])?))?$/.test(n)) {
        errs.push(`${r}[${j}]: Invalid value: ${JSON.stringify(n)}: expected a resource such as secrets, deployments.apps, *.apps or *.*`);
      } else if (n === '*') {
        errs.push(`${r}[${j}]: Invalid value: "*": use *.* for every resource or *.<group> for one group`);
      } else if (seen.has(canonical(n))) {
        errs.push(`${r}[${j}]: Duplicate value: ${JSON.stringify(n)}`);
      } else {
        seen.add(canonical(n));
        rule.resources.push(n);
      }
    });
    const providers = entry.providers;
    if (!Array.isArray(providers) || providers.length === 0) {
      errs.push(`${p}: Required value: at least one ${p} is required`);
      return;
    }
    const prefixes = new Set<string>();
    providers.forEach((prov, j) => {
      const path = `${p}[${j}]`;
      const kinds = isObj(prov) ? Object.keys(prov) : [];
      const known = kinds.filter((k) => ['aescbc', 'secretbox', 'identity', 'aesgcm', 'kms'].includes(k));
      if (kinds.length === 0 || known.length === 0) {
        errs.push(
          `${path}: Invalid value: ${kinds.length ? JSON.stringify(kinds.join(',')) : '{}'}: provider does not contain any of the expected providers: aescbc, secretbox, identity`,
        );
        return;
      }
      if (kinds.length > 1) {
        errs.push(
          `${path}: Invalid value: ${JSON.stringify(kinds.join(','))}: more than one provider specified in a single element, should split into different list elements`,
        );
        return;
      }
      const kind = kinds[0];
      if (kind === 'aesgcm' || kind === 'kms') {
        errs.push(`${path}.${kind}: Unsupported value: k8ts implements aescbc, secretbox and identity`);
        return;
      }
      if (kind === 'identity') {
        rule.transformers.push(identity);
        return;
      }
      const cfg = (prov as Record<string, unknown>)[kind];
      const keys = isObj(cfg) ? cfg.keys : undefined;
      const kp = `${path}.${kind}.keys`;
      if (!Array.isArray(keys) || keys.length === 0) {
        errs.push(`${kp}: Required value: at least one keys is required`);
        return;
      }
      keys.forEach((key, n) => {
        const kpath = `${kp}[${n}]`;
        if (!isObj(key)) {
          errs.push(`${kpath}: Invalid value: expected an object with name and secret`);
          return;
        }
        const name = key.name;
        const secret = key.secret;
        let ok = true;
        if (typeof name !== 'string' || name === '') {
          errs.push(`${kpath}.name: Required value: name is a mandatory field for a key`);
          ok = false;
        } else if (name.includes(':') || !/^[\x21-\x7e]+$/.test(name)) {
          // The name is part of the stored prefix, which ends at the next ':'.
          errs.push(`${kpath}.name: Invalid value: ${JSON.stringify(name)}: printable ASCII without ':' or spaces`);
          ok = false;
        }
        if (typeof secret !== 'string' || secret === '') {
          errs.push(`${kpath}.secret: Required value: secret is a mandatory field for a key`);
          return;
        }
        const bytes = decodeStdBase64(secret);
        if (!bytes) {
          errs.push(`${kpath}.secret: Invalid value: "REDACTED": secrets must be base64 encoded`);
          return;
        }
        const sizes = kind === 'aescbc' ? AES_KEY_SIZES : SECRETBOX_KEY_SIZES;
        if (!sizes.includes(bytes.length)) {
          errs.push(
            `${kpath}.secret: Invalid value: "REDACTED": secret is not of the expected length, got ${bytes.length}, expected one of [${sizes.join(' ')}]`,
          );
          return;
        }
        if (!ok) return;
        const t = kind === 'aescbc' ? aescbc(name as string, bytes) : secretbox(name as string, bytes);
        if (prefixes.has(t.prefix)) {
          errs.push(`${kpath}.name: Duplicate value: ${JSON.stringify(name)}`);
          return;
        }
        prefixes.add(t.prefix);
        rule.transformers.push(t);
      });
    });
    rules.push(rule);
  });
  if (errs.length) throw new EncryptionConfigError(errs, file);
  return { rules };
}

function canonical(resource: string): string {
  return resource.includes('.') ? resource : `${resource}.`;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's base64.StdEncoding: padded, standard alphabet, nothing else (node's decoder forgives too much). */
function decodeStdBase64(s: string): Buffer | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  return Buffer.from(s, 'base64');
}

/** `secrets` → ['', 'secrets']; `deployments.apps` → ['apps', 'deployments']; the store's key names the
 *  group as `core` for the legacy group. */
function matches(rule: string, group: string, plural: string): boolean {
  const dot = rule.indexOf('.');
  const rRes = dot < 0 ? rule : rule.slice(0, dot);
  const rGroup = dot < 0 ? '' : rule.slice(dot + 1);
  if (rGroup === '*') return true; // *.*
  if (rGroup !== group) return false;
  return rRes === '*' || rRes === plural;
}

/** Which providers apply to a store key (`/registry/<group|core>/<plural>/...`); undefined: none
 *  (the value is stored as it is). The first rule naming the resource wins, as upstream. */
export function transformersFor(config: EncryptionConfig, key: string): Transformer[] | undefined {
  const m = /^\/registry\/([^/]+)\/([^/]+)\//.exec(key);
  if (!m) return undefined;
  const group = m[1] === 'core' ? '' : m[1];
  if (group === 'k8ts') return undefined; // the server's own allocation claims are not API resources
  for (const rule of config.rules) {
    if (rule.resources.some((r) => matches(r, group, m[2]))) return rule.transformers;
  }
  return undefined;
}

/** A configuration that encrypts secrets with one fresh aescbc key (what `k8ts up` writes). */
export function generateEncryptionConfig(keyName = 'key1'): string {
  return [
    'apiVersion: apiserver.config.k8s.io/v1',
    'kind: EncryptionConfiguration',
    'resources:',
    '  - resources: [secrets]',
    '    providers:',
    `      - aescbc: {keys: [{name: ${keyName}, secret: ${randomBytes(32).toString('base64')}}]}`,
    '      - identity: {}',
    '',
  ].join('\n');
}
