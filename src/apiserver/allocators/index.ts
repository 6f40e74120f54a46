// Service IP and node port allocation: claims in the store, the registry's service hooks, the repair loop.
export { type Claim, type ClaimOwner, ClaimStore, CLAIMS_ROOT } from './claims.js';
export { type Allocation, AllocationError, type AllocationErrorCode, RangeAllocator, staticBand } from './range.js';
export { ClusterIPAllocator, SERVICE_IP_PREFIX } from './clusterip.js';
export { NodePortAllocator, NODE_PORT_PREFIX, type PortRange, parsePortRange } from './nodeport.js';
export {
  DEFAULT_NODE_PORT_RANGE,
  DEFAULT_SERVICE_CIDR,
  type HeldValues,
  ServiceAllocations,
  type ServiceAllocatorOptions,
  heldPorts,
  heldValues,
} from './service.js';
export { AllocationRepair, type RepairOptions, type RepairReport } from './repair.js';
