// The service-account token signer: one ES256 key kept in the data dir (made on first start, 0600), its
// key id as upstream derives it, and the public JWK served at /openid/v1/jwks.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, generateKeyPair, type JWK } from 'jose';

export const SIGNING_ALG = 'ES256';

export interface SigningKey {
  alg: typeof SIGNING_ALG;
  /** base64url(sha256(DER SubjectPublicKeyInfo)), as kube-apiserver names its keys. */
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as a JWK with use, alg and kid, as the JWKS document lists it. */
  jwk: JWK;
}

/** Loads DATA/pki/service-account.key, making it first if it is not there. */
export async function ensureSigningKey(dataDir: string): Promise<SigningKey> {
  const dir = join(dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'service-account.key');
  if (!existsSync(path)) {
    const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    // wx: two servers starting on one data dir never overwrite each other's key.
    try {
      writeFileSync(path, await exportPKCS8(privateKey), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  return signingKeyFromPem(readFileSync(path, 'utf8'));
}

export async function signingKeyFromPem(pem: string): Promise<SigningKey> {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('the service-account signing key must be an EC P-256 key (ES256)');
  }
  const publicKey = createPublicKey(privateKey);
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const kid = createHash('sha256').update(der).digest('base64url');
  const jwk = { ...(await exportJWK(publicKey)), use: 'sig', alg: SIGNING_ALG, kid };
  return { alg: SIGNING_ALG, kid, privateKey, publicKey, jwk };
}
