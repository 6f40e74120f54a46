// Node ports: a port range (30000-32767 by default) shared by every protocol, as in Kubernetes: a port
// number held by one service is taken for TCP, UDP and SCTP alike.
import type { Store } from '../../store/types.js';
import { CLAIMS_ROOT, ClaimStore } from './claims.js';
import { AllocationError, RangeAllocator, staticBand } from './range.js';

export const NODE_PORT_PREFIX = `${CLAIMS_ROOT}servicenodeports/`;

export interface PortRange {
  base: number;
  size: number;
}

/** "30000-32767" (or a single port "30000") → {base, size}. */
export function parsePortRange(s: string): PortRange {
  const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5}))?\s*$/.exec(s);
  if (!m) throw new TypeError(`node port range ${JSON.stringify(s)}: expected FIRST-LAST, e.g. 30000-32767`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 1 || hi > 65535 || hi < lo) throw new TypeError(`node port range ${JSON.stringify(s)}: ports must be 1-65535 and FIRST <= LAST`);
  return { base: lo, size: hi - lo + 1 };
}

export class NodePortAllocator extends RangeAllocator {
  readonly ports: PortRange;
  /** "30000-32767". */
  readonly range: string;

  constructor(store: Store, range: string, random?: () => number) {
    const pr = parsePortRange(range);
    super(new ClaimStore(store, NODE_PORT_PREFIX, 'NodePortClaim'), pr.size, staticBand(pr.size, 16, 32, 128), random);
    this.ports = pr;
    this.range = `${pr.base}-${pr.base + pr.size - 1}`;
  }

  offsetOf(value: string): number | undefined {
    if (!/^\d{1,5}$/.test(value)) return undefined;
    const off = Number(value) - this.ports.base;
    return off >= 0 && off < this.size ? off : undefined;
  }

  valueAt(offset: number): string {
    return String(this.ports.base + offset);
  }

  protected notInRange(): AllocationError {
    return new AllocationError('NotInRange', `provided port is not in the valid range. The range of valid ports is ${this.range}`);
  }

  protected allocated(): AllocationError {
    return new AllocationError('Allocated', 'provided port is already allocated');
  }
}
