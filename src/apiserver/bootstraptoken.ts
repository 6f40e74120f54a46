// The bootstrap token authenticator of kube-apiserver: a token `<id>.<secret>` whose kube-system Secret
// bootstrap-token-<id> is usable and unexpired is the user system:bootstrap:<id> in system:bootstrappers
// (and its extra groups).
import { timingSafeEqual } from 'node:crypto';
import type { KObject } from '../api/types.js';
import {
  BOOTSTRAPPERS,
  BOOTSTRAP_NAMESPACE,
  BOOTSTRAP_TOKEN_PREFIX,
  BOOTSTRAP_USER_PREFIX,
  KEY_ID,
  parseBootstrapToken,
  tokenParts,
  unusableReason,
} from '../api/bootstraptoken.js';
import type { TokenAuthenticator, UserInfo } from './authn.js';
import { withAuthenticated } from './authn.js';

export interface SecretGetter {
  get(kind: 'Secret', namespace: string, name: string): Promise<KObject | undefined>;
}

/** kube-apiserver's bootstrap token authenticator: looks the Secret up in kube-system on every request
 *  (the registry's current copy, so a deleted or expired token stops working at once). */
export class BootstrapTokenAuthenticator implements TokenAuthenticator {
  /** Why the last token shaped as a bootstrap token was refused (for tests and the log). */
  lastError?: string;

  constructor(
    private objects: SecretGetter,
    private now: () => number = () => Date.now(),
  ) {}

  async authenticate(token: string): Promise<UserInfo | undefined> {
    const t = parseBootstrapToken(token);
    if (!t) return undefined;
    const s = await this.objects.get('Secret', BOOTSTRAP_NAMESPACE, `${BOOTSTRAP_TOKEN_PREFIX}${t.id}`);
    if (!s) return this.refuse(`no bootstrap token with id ${t.id}`);
    const { secret, extraGroups } = tokenParts(s);
    const a = Buffer.from(secret);
    const b = Buffer.from(t.secret);
    // Constant time over the secret (both 16 bytes when well-formed; a stored one of another length never matches).
    const same = a.length === b.length && timingSafeEqual(a, b);
    if (!same) return this.refuse(`bootstrap token ${t.id}: the secret does not match`);
    const why = unusableReason(s, this.now());
    if (why) return this.refuse(`bootstrap token ${t.id}: ${why}`);
    const id = (s.data as Record<string, unknown>)[KEY_ID];
    if (typeof id !== 'string' || Buffer.from(id, 'base64').toString('utf8') !== t.id)
      return this.refuse(`bootstrap token ${t.id}: ${KEY_ID} does not match the name`);
    this.lastError = undefined;
    return withAuthenticated({ name: `${BOOTSTRAP_USER_PREFIX}${t.id}`, groups: [BOOTSTRAPPERS, ...extraGroups.filter((g) => g !== BOOTSTRAPPERS)] });
  }

  private refuse(why: string): undefined {
    this.lastError = why;
    return undefined;
  }
}
