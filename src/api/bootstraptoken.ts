// Bootstrap tokens, as kubeadm and kube-apiserver define them: kube-system Secrets of type
// bootstrap.kubernetes.io/token named bootstrap-token-<id>, the token `<id>.<secret>`, their validation
// (a 422 naming the field at create), expiry and usages. The authenticator is apiserver/bootstraptoken.ts.
import { randomInt } from 'node:crypto';
import type { FieldError, KObject } from './types.js';
import { invalid, required } from './fielderror.js';

export const BOOTSTRAP_TOKEN_TYPE = 'bootstrap.kubernetes.io/token';
export const BOOTSTRAP_TOKEN_PREFIX = 'bootstrap-token-';
export const BOOTSTRAP_NAMESPACE = 'kube-system';
export const BOOTSTRAPPERS = 'system:bootstrappers';
export const BOOTSTRAP_USER_PREFIX = 'system:bootstrap:';

/** The data keys of a bootstrap token Secret (k8s.io/cluster-bootstrap/token/api). */
export const KEY_ID = 'token-id';
export const KEY_SECRET = 'token-secret';
export const KEY_EXPIRATION = 'expiration';
export const KEY_DESCRIPTION = 'description';
export const KEY_EXTRA_GROUPS = 'auth-extra-groups';
export const USAGE_PREFIX = 'usage-bootstrap-';
export const USAGE_AUTHENTICATION = 'usage-bootstrap-authentication';
export const USAGE_SIGNING = 'usage-bootstrap-signing';
const KNOWN_USAGES = new Set([USAGE_AUTHENTICATION, USAGE_SIGNING]);

const ID = /^[a-z0-9]{6}$/;
const SECRET = /^[a-z0-9]{16}$/;
const TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
/** Extra groups must be under system:bootstrappers: (upstream's ValidateBootstrapGroupName). */
const EXTRA_GROUP = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/;
/** RFC 3339 as Go's time.RFC3339 parses it. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Splits `<id>.<secret>`; undefined when the string is not shaped as a bootstrap token. */
export function parseBootstrapToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN.exec(token);
  return m ? { id: m[1], secret: m[2] } : undefined;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const randomString = (n: number) => Array.from({ length: n }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');

/** A fresh token from the CSPRNG, as kubeadm's GenerateBootstrapToken. */
export function generateBootstrapToken(): { id: string; secret: string; token: string } {
  const id = randomString(6);
  const secret = randomString(16);
  return { id, secret, token: `${id}.${secret}` };
}

function decoded(data: Record<string, unknown>, key: string): string | undefined {
  const v = data[key];
  return typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : undefined;
}

/** The expiration time in ms, undefined when there is none; NaN when it does not parse. */
function expirationMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  return RFC3339.test(text) ? Date.parse(text) : NaN;
}

/** Field errors of a bootstrap token Secret (its data already base64-checked by the Secret strategy). */
export function validateBootstrapTokenSecret(obj: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const data = (obj.data && typeof obj.data === 'object' ? obj.data : {}) as Record<string, unknown>;
  const name = obj.metadata.name ?? '';
  const ns = obj.metadata.namespace ?? '';
  if (ns !== BOOTSTRAP_NAMESPACE) errs.push(invalid('metadata.namespace', ns, `bootstrap tokens live in the ${BOOTSTRAP_NAMESPACE} namespace`));
  const id = decoded(data, KEY_ID);
  if (id === undefined) errs.push(required(`data[${KEY_ID}]`));
  else if (!ID.test(id)) errs.push(invalid(`data[${KEY_ID}]`, id, 'must be 6 characters of [a-z0-9]'));
  else if (name !== `${BOOTSTRAP_TOKEN_PREFIX}${id}`)
    errs.push(invalid('metadata.name', name, `must be ${BOOTSTRAP_TOKEN_PREFIX}${id} (${BOOTSTRAP_TOKEN_PREFIX}<${KEY_ID}>)`));
  const secret = decoded(data, KEY_SECRET);
  if (secret === undefined) errs.push(required(`data[${KEY_SECRET}]`));
  else if (!SECRET.test(secret)) errs.push(invalid(`data[${KEY_SECRET}]`, '<secret contents redacted>', 'must be 16 characters of [a-z0-9]'));
  const exp = decoded(data, KEY_EXPIRATION);
  if (exp !== undefined && Number.isNaN(expirationMs(exp)))
    errs.push(invalid(`data[${KEY_EXPIRATION}]`, exp, 'must be a time in RFC 3339 format, e.g. 2026-12-31T23:59:59Z'));
  for (const k of Object.keys(data).sort()) {
    if (!k.startsWith(USAGE_PREFIX)) continue;
    const v = decoded(data, k);
    if (!KNOWN_USAGES.has(k)) errs.push(invalid(`data[${k}]`, k, `unknown usage; the usages are ${[...KNOWN_USAGES].join(', ')}`));
    else if (v !== 'true' && v !== 'false') errs.push(invalid(`data[${k}]`, v ?? '', 'must be "true" or "false"'));
  }
  const groups = decoded(data, KEY_EXTRA_GROUPS);
  if (groups !== undefined) {
    for (const g of groups.split(',')) {
      if (!EXTRA_GROUP.test(g)) errs.push(invalid(`data[${KEY_EXTRA_GROUPS}]`, g, `each group must match ${EXTRA_GROUP.source.slice(1, -1)}`));
    }
  }
  return errs;
}

/** Why a stored token cannot authenticate now, or undefined when it can (no checking of the secret). */
export function unusableReason(s: KObject, now = Date.now()): string | undefined {
  if (s.type !== BOOTSTRAP_TOKEN_TYPE) return `type is ${String(s.type)}, not ${BOOTSTRAP_TOKEN_TYPE}`;
  if (s.metadata.deletionTimestamp) return 'the token is being deleted';
  const data = (s.data ?? {}) as Record<string, unknown>;
  if (decoded(data, USAGE_AUTHENTICATION) !== 'true') return `${USAGE_AUTHENTICATION} is not "true"`;
  if (isExpired(s, now)) return 'the token has expired';
  return undefined;
}

/** Expired, or carrying an expiration that does not parse (treated as expired, as upstream does). */
export function isExpired(s: KObject, now = Date.now()): boolean {
  const ms = expirationMs(decoded((s.data ?? {}) as Record<string, unknown>, KEY_EXPIRATION));
  return ms !== undefined && !(ms > now);
}

/** When the token expires (ms), undefined when it never does. */
export function expiresAt(s: KObject): number | undefined {
  const ms = expirationMs(decoded((s.data ?? {}) as Record<string, unknown>, KEY_EXPIRATION));
  return ms === undefined || Number.isNaN(ms) ? undefined : ms;
}

/** The secret's token-secret and extra groups (for the authenticator). */
export function tokenParts(s: KObject): { secret: string; extraGroups: string[] } {
  const data = (s.data ?? {}) as Record<string, unknown>;
  const groups = decoded(data, KEY_EXTRA_GROUPS);
  return { secret: decoded(data, KEY_SECRET) ?? '', extraGroups: groups ? groups.split(',').filter((g) => EXTRA_GROUP.test(g)) : [] };
}

/** The Secret for a new token (kubeadm's layout): data as strings, to go through stringData. */
export function bootstrapTokenSecret(
  t: { id: string; secret: string },
  o: { ttlSeconds?: number; description?: string; extraGroups?: string[]; now?: number } = {},
): KObject {
  const stringData: Record<string, string> = { [KEY_ID]: t.id, [KEY_SECRET]: t.secret, [USAGE_AUTHENTICATION]: 'true', [USAGE_SIGNING]: 'true' };
  if (o.ttlSeconds) stringData[KEY_EXPIRATION] = new Date((o.now ?? Date.now()) + o.ttlSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  if (o.description) stringData[KEY_DESCRIPTION] = o.description;
  if (o.extraGroups?.length) stringData[KEY_EXTRA_GROUPS] = o.extraGroups.join(',');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${BOOTSTRAP_TOKEN_PREFIX}${t.id}`, namespace: BOOTSTRAP_NAMESPACE },
    type: BOOTSTRAP_TOKEN_TYPE,
    stringData,
  };
}
