// Hands out values of a numbered range through claims: a requested value if it is in range and free,
// otherwise a random free one, preferring the upper part of the range (the lower part is kept for static
// requests, as Kubernetes does), with a scan over the claimed values when random picks keep colliding.
import type { Claim, ClaimOwner, ClaimStore } from './claims.js';

export type AllocationErrorCode = 'NotInRange' | 'Allocated' | 'Full';

/** A value could not be handed out; the message is Kubernetes' allocator wording. */
export class AllocationError extends Error {
  constructor(
    readonly code: AllocationErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AllocationError';
  }
}

/** A value now held by an owner. adopted: the claim existed already with this owner and was taken over
 *  (so undoing this allocation must not delete it: the owner may be using it). */
export interface Allocation {
  value: string;
  claim: Claim;
  adopted: boolean;
}

/** Random picks tried before falling back to a scan over the list of claims. */
const RANDOM_TRIES = 8;

/** Size of the static band, min(max(lo, size/step), hi), as Kubernetes sizes it for IPs and ports. */
export function staticBand(size: number, lo: number, step: number, hi: number): number {
  if (size <= lo) return 0;
  return Math.min(Math.max(lo, Math.floor(size / step)), hi);
}

export abstract class RangeAllocator {
  readonly claims: ClaimStore;

  /**
   * size: how many values (offsets 0..size-1); band: offsets below it are tried last by allocateNext.
   * random: in [0, 1), replaceable for tests.
   */
  protected constructor(
    claims: ClaimStore,
    readonly size: number,
    readonly band: number,
    private random: () => number = Math.random,
  ) {
    this.claims = claims;
  }

  /** Offset of a value, or undefined when the value is not in the range (or not a value at all). */
  abstract offsetOf(value: string): number | undefined;
  /** The value at an offset, in canonical form (the form claims are keyed by). */
  abstract valueAt(offset: number): string;
  protected abstract notInRange(value: string): AllocationError;
  protected abstract allocated(value: string): AllocationError;

  contains(value: string): boolean {
    return this.offsetOf(value) !== undefined;
  }

  /** The canonical form of a value in range (e.g. an IP without leading zeros). */
  canonical(value: string): string {
    const off = this.offsetOf(value);
    if (off === undefined) throw this.notInRange(value);
    return this.valueAt(off);
  }

  /** Takes the requested value for owner. A claim already held by the same uid is taken over. */
  async allocate(value: string, owner: ClaimOwner): Promise<Allocation> {
    const v = this.canonical(value);
    for (let attempt = 0; attempt < 8; attempt++) {
      const created = await this.claims.create(v, owner);
      if (created) return { value: v, claim: created, adopted: false };
      const cur = await this.claims.get(v);
      if (!cur) continue;
      if (cur.owner.uid !== owner.uid) throw this.allocated(v);
      const touched = await this.claims.touch(cur, owner);
      if (touched) return { value: v, claim: touched, adopted: true };
    }
    throw this.allocated(v);
  }

  /** Throws what allocate would throw, without claiming anything (dry run). */
  async check(value: string, ownerUid: string): Promise<string> {
    const v = this.canonical(value);
    const cur = await this.claims.get(v);
    if (cur && cur.owner.uid !== ownerUid) throw this.allocated(v);
    return v;
  }

  /** Takes any free value for owner. */
  async allocateNext(owner: ClaimOwner): Promise<Allocation> {
    const dynamic = this.size - this.band;
    if (dynamic > 0) {
      for (let i = 0; i < RANDOM_TRIES; i++) {
        const claim = await this.claims.create(this.valueAt(this.band + Math.floor(this.random() * dynamic)), owner);
        if (claim) return { value: claim.value, claim, adopted: false };
      }
    }
    const taken = new Set<number>();
    for (const c of await this.claims.list()) {
      const off = this.offsetOf(c.value);
      if (off !== undefined) taken.add(off);
    }
    for (const off of this.scanOrder()) {
      if (taken.has(off)) continue;
      const claim = await this.claims.create(this.valueAt(off), owner);
      if (claim) return { value: claim.value, claim, adopted: false };
    }
    throw new AllocationError('Full', 'range is full');
  }

  /** The upper part from a random start (wrapping), then the static band from a random start. */
  private *scanOrder(): Generator<number> {
    const dynamic = this.size - this.band;
    if (dynamic > 0) {
      const start = Math.floor(this.random() * dynamic);
      for (let i = 0; i < dynamic; i++) yield this.band + ((start + i) % dynamic);
    }
    if (this.band > 0) {
      const start = Math.floor(this.random() * this.band);
      for (let i = 0; i < this.band; i++) yield (start + i) % this.band;
    }
  }

  /** Undo an allocation made by this process: deletes the claim unless somebody took it over since. */
  async undo(a: Allocation): Promise<void> {
    if (!a.adopted) await this.claims.delete(a.value, a.claim.revision);
  }

  /** Gives a value back if uid holds it. */
  async release(value: string, uid: string): Promise<boolean> {
    return this.claims.releaseIfOwner(value, uid);
  }
}
