// The service-account token authenticator: a verified JWT is a user only while its account (and the
// pod, secret or node it is bound to) exists with the uid in the token, as kube-apiserver's validator
// checks; a deleted bound object stays good for the 60 s upstream allows after its deletionTimestamp.
import type { Node, Pod, Secret, ServiceAccount } from '../../api/types.js';
import type { TokenAuthenticator, UserInfo } from '../authn.js';
import { looksLikeJwt, type TokenIssuer, type Ref } from './tokens.js';

/** How long after a bound object's deletionTimestamp its tokens still work (upstream: 60 s). */
export const DELETION_GRACE_S = 60;

/** The kinds a token is bound to, by kind name. */
export interface BoundKinds {
  ServiceAccount: ServiceAccount;
  Pod: Pod;
  Secret: Secret;
  Node: Node;
}

/** The objects the authenticator checks, by kind; undefined when absent. */
export interface ObjectGetter {
  get<K extends keyof BoundKinds>(kind: K, namespace: string | undefined, name: string): Promise<BoundKinds[K] | undefined>;
}

export class ServiceAccountAuthenticator implements TokenAuthenticator {
  /** Why the last token was refused (for the server's log and tests). */
  lastError?: string;

  constructor(
    private issuer: TokenIssuer,
    private objects: ObjectGetter,
    private now: () => number = () => Date.now() / 1000,
  ) {}

  async authenticate(token: string): Promise<UserInfo | undefined> {
    if (!looksLikeJwt(token)) return undefined;
    const v = await this.issuer.verify(token, this.issuer.apiAudiences, this.now());
    if ('error' in v) return this.refuse(v.error);
    const k = v.claims['kubernetes.io'];
    const ns = k.namespace;
    const checks: [string, keyof BoundKinds, string | undefined, Ref | undefined][] = [
      ['service account', 'ServiceAccount', ns, k.serviceaccount],
      ['pod', 'Pod', ns, k.pod],
      ['secret', 'Secret', ns, k.secret],
      // A pod-bound token names its node for information; only a token bound to the node itself is checked against it.
      ['node', 'Node', undefined, k.pod ? undefined : k.node],
    ];
    const found = await Promise.all(checks.map(([, kind, n, ref]) => (ref ? this.objects.get(kind, n, ref.name) : undefined)));
    for (let i = 0; i < checks.length; i++) {
      const [what, , n, ref] = checks[i];
      if (!ref) continue;
      const o = found[i];
      const where = n ? `${n}/${ref.name}` : ref.name;
      if (!o) return this.refuse(`${what} ${where} has been deleted`);
      if (o.metadata.uid !== ref.uid) return this.refuse(`${what} UID (${o.metadata.uid}) does not match claim (${ref.uid})`);
      const dt = o.metadata.deletionTimestamp;
      if (dt && Date.parse(dt) / 1000 < this.now() - DELETION_GRACE_S) return this.refuse(`${what} ${where} is being deleted`);
    }
    const extra: Record<string, string[]> = {};
    if (k.pod) {
      extra['authentication.kubernetes.io/pod-name'] = [k.pod.name];
      extra['authentication.kubernetes.io/pod-uid'] = [k.pod.uid];
    }
    if (k.node) {
      extra['authentication.kubernetes.io/node-name'] = [k.node.name];
      extra['authentication.kubernetes.io/node-uid'] = [k.node.uid];
    }
    if (v.claims.jti) extra['authentication.kubernetes.io/credential-id'] = [`JTI=${v.claims.jti}`];
    return {
      name: v.claims.sub,
      uid: k.serviceaccount.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
      extra,
    };
  }

  private refuse(why: string): undefined {
    this.lastError = why;
    return undefined;
  }
}
