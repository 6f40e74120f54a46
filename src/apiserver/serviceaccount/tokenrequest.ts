// POST serviceaccounts/NAME/token: authentication.k8s.io/v1 TokenRequest, as kube-apiserver answers it.
// Audiences default to the API's, expirationSeconds to 3600 (at least 600, at most 2^32); a token may
// be bound to a Pod, Secret or Node that must exist (and have the uid given); a pod-bound request for
// exactly 3607 s (the kubelet's) gets a year with a `warnafter` at 3607 s, as upstream's
// --service-account-extend-token-expiration does, so a stale kubelet token keeps working but is seen.
import type { FieldError, KObject, Node, Pod } from '../../api/types.js';
import { errors } from '../../api/status.js';
import type { ObjectGetter } from './authenticator.js';
import type { TokenIssuer } from './tokens.js';

export const DEFAULT_EXPIRATION_S = 3600;
export const MIN_EXPIRATION_S = 600;
export const MAX_EXPIRATION_S = 2 ** 32;
/** The kubelet's projected-token lifetime that asks for the extension. */
export const WARN_ONLY_EXPIRATION_S = 3607;
/** What an extended token lives (upstream: one year). */
export const EXTENDED_EXPIRATION_S = 365 * 24 * 3600;

interface BoundObjectRef {
  kind?: unknown;
  apiVersion?: unknown;
  name?: unknown;
  uid?: unknown;
}

export interface TokenRequestSpec {
  audiences?: unknown;
  expirationSeconds?: unknown;
  boundObjectRef?: BoundObjectRef | null;
}

const invalid = (name: string, causes: FieldError[]) => errors.invalid('TokenRequest', 'authentication.k8s.io', name, causes);

export async function createToken(
  issuer: TokenIssuer,
  objects: ObjectGetter,
  ns: string,
  saName: string,
  body: KObject,
  now = Math.floor(Date.now() / 1000),
): Promise<KObject> {
  if (body.kind !== undefined && body.kind !== 'TokenRequest')
    throw errors.badRequest(`the body of serviceaccounts/token must be a TokenRequest, not ${JSON.stringify(body.kind)}`);
  if (body.apiVersion !== undefined && body.apiVersion !== 'authentication.k8s.io/v1') {
    throw errors.badRequest(`TokenRequest is served as authentication.k8s.io/v1, not ${JSON.stringify(body.apiVersion)}`);
  }
  const spec: TokenRequestSpec = body.spec && typeof body.spec === 'object' ? body.spec : {};
  const causes: FieldError[] = [];
  let audiences: string[] = issuer.apiAudiences;
  if (spec.audiences !== undefined && spec.audiences !== null) {
    if (!Array.isArray(spec.audiences) || spec.audiences.some((a) => typeof a !== 'string')) {
      causes.push({
        type: 'FieldValueInvalid',
        field: 'spec.audiences',
        message: `Invalid value: ${JSON.stringify(spec.audiences)}: must be a list of strings`,
      });
    } else if (spec.audiences.length) audiences = spec.audiences as string[];
  }
  let exp = DEFAULT_EXPIRATION_S;
  if (spec.expirationSeconds !== undefined && spec.expirationSeconds !== null) {
    const e = spec.expirationSeconds;
    if (typeof e !== 'number' || !Number.isInteger(e)) {
      causes.push({ type: 'FieldValueInvalid', field: 'spec.expirationSeconds', message: `Invalid value: ${JSON.stringify(e)}: must be an integer` });
    } else if (e < MIN_EXPIRATION_S) {
      causes.push({
        type: 'FieldValueInvalid',
        field: 'spec.expirationSeconds',
        message: `Invalid value: ${e}: may not specify a duration less than 10 minutes`,
      });
    } else if (e > MAX_EXPIRATION_S) {
      causes.push({
        type: 'FieldValueInvalid',
        field: 'spec.expirationSeconds',
        message: `Invalid value: ${e}: may not specify a duration larger than 2^32 seconds`,
      });
    } else exp = e;
  }
  const ref = spec.boundObjectRef ?? undefined;
  if (ref !== undefined) {
    if (typeof ref !== 'object' || Array.isArray(ref)) {
      causes.push({ type: 'FieldValueInvalid', field: 'spec.boundObjectRef', message: 'Invalid value: must be an object' });
    } else {
      if (typeof ref.name !== 'string' || !ref.name) causes.push({ type: 'FieldValueRequired', field: 'spec.boundObjectRef.name', message: 'Required value' });
      if (ref.uid !== undefined && typeof ref.uid !== 'string')
        causes.push({ type: 'FieldValueInvalid', field: 'spec.boundObjectRef.uid', message: `Invalid value: ${JSON.stringify(ref.uid)}: must be a string` });
      if (ref.apiVersion !== undefined && ref.apiVersion !== '' && ref.apiVersion !== 'v1') {
        causes.push({
          type: 'FieldValueNotSupported',
          field: 'spec.boundObjectRef.apiVersion',
          message: `Unsupported value: ${JSON.stringify(ref.apiVersion)}: supported values: "v1"`,
        });
      }
    }
  }
  if (causes.length) throw invalid(saName, causes);

  const sa = await objects.get('ServiceAccount', ns, saName);
  if (!sa) throw errors.notFound('serviceaccounts', '', saName);
  let pod: Pod | undefined;
  let secret: KObject | undefined;
  let node: Node | undefined;
  if (ref) {
    const name = ref.name as string;
    switch (ref.kind) {
      case 'Pod':
        pod = await objects.get('Pod', ns, name);
        if (!pod) throw errors.notFound('pods', '', name);
        if (pod.spec?.serviceAccountName !== saName) {
          throw errors.badRequest(`cannot bind token for serviceaccount "${saName}" to pod running with different serviceaccount name.`);
        }
        checkUid(ref, pod);
        // A scheduled pod's node goes into the token (and into the user's extra), as upstream does.
        if (pod.spec?.nodeName) node = await objects.get('Node', undefined, pod.spec.nodeName);
        break;
      case 'Secret':
        secret = await objects.get('Secret', ns, name);
        if (!secret) throw errors.notFound('secrets', '', name);
        checkUid(ref, secret);
        break;
      case 'Node':
        node = await objects.get('Node', undefined, name);
        if (!node) throw errors.notFound('nodes', '', name);
        checkUid(ref, node);
        break;
      default:
        throw errors.badRequest(
          `cannot bind token for serviceaccount "${saName}" to object of kind ${JSON.stringify(ref.kind ?? '')}: supported kinds are Pod, Secret and Node`,
        );
    }
  }
  let lifetime = exp;
  let warnAfterSeconds: number | undefined;
  if (pod && exp === WARN_ONLY_EXPIRATION_S) {
    lifetime = EXTENDED_EXPIRATION_S;
    warnAfterSeconds = exp;
  }
  const refOf = (o: KObject | undefined) => (o ? { name: o.metadata.name!, uid: o.metadata.uid! } : undefined);
  const { token, claims } = await issuer.issue({
    namespace: ns,
    serviceAccount: refOf(sa)!,
    audiences,
    expirationSeconds: lifetime,
    pod: refOf(pod),
    secret: refOf(secret),
    node: refOf(node),
    warnAfterSeconds,
    now,
  });
  const outSpec: Record<string, unknown> = { audiences, expirationSeconds: exp };
  if (ref) {
    const o = pod ?? secret ?? node!;
    outSpec.boundObjectRef = { kind: ref.kind, apiVersion: 'v1', name: o.metadata.name, uid: o.metadata.uid };
  }
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name: saName, namespace: ns, creationTimestamp: new Date(now * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') },
    spec: outSpec,
    status: { token, expirationTimestamp: new Date(claims.exp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') },
  };
}

function checkUid(ref: BoundObjectRef, o: KObject): void {
  if (typeof ref.uid === 'string' && ref.uid && ref.uid !== o.metadata.uid) {
    throw errors.conflict(
      `${String(ref.kind).toLowerCase()}s`,
      '',
      o.metadata.name!,
      `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
    );
  }
}
