// Service IPs: the usable addresses of the service CIDR (never the network or broadcast address).
import { type Cidr, formatCidr, formatIPv4, parseCidr, parseIPv4, size } from '../../util/cidr.js';
import type { Store } from '../../store/types.js';
import { CLAIMS_ROOT, ClaimStore } from './claims.js';
import { AllocationError, RangeAllocator, staticBand } from './range.js';

export const SERVICE_IP_PREFIX = `${CLAIMS_ROOT}serviceips/`;

export class ClusterIPAllocator extends RangeAllocator {
  readonly cidr: Cidr;
  /** The CIDR as given, canonical ("10.96.0.0/16"). */
  readonly range: string;

  /** cidr: an IPv4 CIDR with at least two usable addresses (prefix 8..30). */
  constructor(store: Store, cidr: string, random?: () => number) {
    let c: Cidr;
    try {
      c = parseCidr(cidr);
    } catch (e) {
      throw new TypeError(`service CIDR ${JSON.stringify(cidr)}: ${(e as Error).message} (expected an IPv4 CIDR such as 10.96.0.0/16)`);
    }
    if (c.prefix > 30 || c.prefix < 8)
      throw new TypeError(`service CIDR ${cidr}: the prefix must be between /8 and /30, so that the range has usable addresses and stays a sane size`);
    // Usable: everything but the network and broadcast addresses. The band is sized on the whole CIDR.
    super(new ClaimStore(store, SERVICE_IP_PREFIX, 'ServiceIPClaim'), size(c) - 2, staticBand(size(c), 16, 16, 256), random);
    this.cidr = c;
    this.range = formatCidr(c);
  }

  offsetOf(value: string): number | undefined {
    let ip: number;
    try {
      ip = parseIPv4(value);
    } catch {
      return undefined;
    }
    const off = ip - this.cidr.base - 1;
    return off >= 0 && off < this.size ? off : undefined;
  }

  valueAt(offset: number): string {
    return formatIPv4(this.cidr.base + 1 + offset);
  }

  /** The n-th usable address (1: the first, the `kubernetes` service's). */
  nth(n: number): string {
    if (n < 1 || n > this.size) throw new RangeError(`service CIDR ${this.range} has no address number ${n}`);
    return this.valueAt(n - 1);
  }

  /** The network address: what a dry run shows for an IP it did not allocate, as Kubernetes does. */
  get networkAddress(): string {
    return formatIPv4(this.cidr.base);
  }

  protected notInRange(value: string): AllocationError {
    return new AllocationError('NotInRange', `the provided IP (${value}) is not in the valid range. The range of valid IPs is ${this.range}`);
  }

  protected allocated(): AllocationError {
    return new AllocationError('Allocated', 'provided IP is already allocated');
  }
}
