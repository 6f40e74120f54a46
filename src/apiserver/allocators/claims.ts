// Allocation claims: one store key per handed-out value (a service IP, a node port), created with the
// store's create-if-absent, so that a value is never given to two owners, across restarts and servers.
import { type KeyValue, type Store, isStoreError } from '../../store/types.js';
import { now } from '../../util/time.js';

/** The object a value is allocated to. The uid decides ownership; namespace/name are for people. */
export interface ClaimOwner {
  namespace: string;
  name: string;
  uid: string;
}

export interface Claim {
  value: string;
  owner: ClaimOwner;
  /** When the claim was made or last taken over (RFC 3339); the repair loop leaves young claims alone. */
  claimedAt: string;
  /** The key's modRevision: deletes and take-overs are conditional on it. */
  revision: number;
}

/** Every claim prefix lives under a group no API resource uses, so no resource list ever sees one. */
export const CLAIMS_ROOT = '/registry/k8ts/';

/** The stored value. It carries a metadata object because the watch cache decodes every key under
 *  /registry/ as an object. */
interface StoredClaim {
  kind: string;
  metadata: { name: string };
  owner: ClaimOwner;
  claimedAt: string;
}

export class ClaimStore {
  /** prefix: e.g. "/registry/k8ts/serviceips/"; kind: what the stored value calls itself. */
  constructor(
    readonly store: Store,
    readonly prefix: string,
    private kind: string,
  ) {
    if (!prefix.startsWith(CLAIMS_ROOT) || !prefix.endsWith('/')) throw new TypeError(`claim prefix ${prefix} must be under ${CLAIMS_ROOT} and end in /`);
  }

  keyOf(value: string): string {
    return `${this.prefix}${value}`;
  }

  private encode(value: string, owner: ClaimOwner): string {
    const c: StoredClaim = {
      kind: this.kind,
      metadata: { name: value },
      owner: { namespace: owner.namespace, name: owner.name, uid: owner.uid },
      claimedAt: now(),
    };
    return JSON.stringify(c);
  }

  private decode(kv: KeyValue): Claim {
    const c = JSON.parse(kv.value) as StoredClaim;
    return { value: kv.key.slice(this.prefix.length), owner: c.owner, claimedAt: c.claimedAt, revision: kv.modRevision };
  }

  /** Claims value for owner; undefined when somebody (anybody) holds it already. */
  async create(value: string, owner: ClaimOwner): Promise<Claim | undefined> {
    try {
      return this.decode(await this.store.create(this.keyOf(value), this.encode(value, owner)));
    } catch (e) {
      if (isStoreError(e, 'KeyExists')) return undefined;
      throw e;
    }
  }

  async get(value: string): Promise<Claim | undefined> {
    const kv = await this.store.get(this.keyOf(value));
    return kv ? this.decode(kv) : undefined;
  }

  /** Rewrites a claim at the revision it was read at (fresh claimedAt, new revision), so that a
   *  conditional delete by whoever read it before fails. undefined: it changed or went away meanwhile. */
  async touch(claim: Claim, owner: ClaimOwner = claim.owner): Promise<Claim | undefined> {
    try {
      return this.decode(await this.store.update(this.keyOf(claim.value), this.encode(claim.value, owner), claim.revision));
    } catch (e) {
      if (isStoreError(e, 'Conflict') || isStoreError(e, 'NotFound')) return undefined;
      throw e;
    }
  }

  /** Deletes the claim if it is still at the revision given; false when it changed or is gone. */
  async delete(value: string, revision: number): Promise<boolean> {
    try {
      await this.store.delete(this.keyOf(value), revision);
      return true;
    } catch (e) {
      if (isStoreError(e, 'Conflict') || isStoreError(e, 'NotFound')) return false;
      throw e;
    }
  }

  /** Deletes the claim on value if uid owns it (whatever its revision). */
  async releaseIfOwner(value: string, uid: string): Promise<boolean> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const c = await this.get(value);
      if (!c || c.owner.uid !== uid) return false;
      if (await this.delete(value, c.revision)) return true;
    }
    return false;
  }

  /** All claims, in key order (paged, so that a big range does not make one huge read). */
  async list(): Promise<Claim[]> {
    const out: Claim[] = [];
    let after: string | undefined;
    let revision: number | undefined;
    for (;;) {
      const page = await this.store.list(this.prefix, { limit: 2000, after, revision });
      revision = page.revision;
      for (const kv of page.items) out.push(this.decode(kv));
      if (!page.more || page.items.length === 0) return out;
      after = page.items[page.items.length - 1].key;
    }
  }
}
