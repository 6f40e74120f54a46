// Readiness as every component reads it from an object's conditions: one definition for the scheduler,
// the endpoint controllers, the agent and the CLI.
import type { KObject } from './types.js';

/** The node's Ready condition is True. */
export function isNodeReady(node: KObject): boolean {
  return (node.status?.conditions ?? []).some((c: any) => c?.type === 'Ready' && c?.status === 'True');
}

/** The pod's Ready condition is True. */
export function isPodReady(pod: KObject): boolean {
  return (pod.status?.conditions ?? []).some((c: any) => c?.type === 'Ready' && c?.status === 'True');
}
