// Service-account issuer discovery: /.well-known/openid-configuration and /openid/v1/jwks as
// kube-apiserver serves them, so anything that speaks OIDC can verify the cluster's tokens.
import type { SigningKey } from './signer.js';

export const OIDC_CONFIG_PATH = '/.well-known/openid-configuration';
export const JWKS_PATH = '/openid/v1/jwks';

export function openidConfiguration(issuer: string, jwksUri: string, key: SigningKey): object {
  return {
    issuer,
    jwks_uri: jwksUri,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [key.alg],
  };
}

export function jwks(keys: SigningKey[]): object {
  return { keys: keys.map((k) => k.jwk) };
}
