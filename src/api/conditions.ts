// Readiness as every component reads it from an object's conditions: one definition for the scheduler,
// the endpoint controllers, the agent and the CLI.
import type { Node, Pod } from './types.js';

/** The node's Ready condition is True. */
export function isNodeReady(node: Node): boolean {
  return (node.status?.conditions ?? []).some((c) => c?.type === 'Ready' && c?.status === 'True');
}

/** The pod's Ready condition is True. */
export function isPodReady(pod: Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c?.type === 'Ready' && c?.status === 'True');
}
