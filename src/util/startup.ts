// Start-up marks for taking a slow start apart: with NODE_DEBUG=k8ts:startup a process prints, for each
// named step of its start, the milliseconds since the process began (V8's time origin, so the bundle's
// load is counted) and the wall clock, which lines the server's and the agents' logs up with each other.
import { debuglog } from 'node:util';
import { performance } from 'node:perf_hooks';

const log = debuglog('k8ts:startup');

/** Notes that `step` just ended (free when NODE_DEBUG does not name k8ts:startup). */
export function startupMark(step: string): void {
  if (log.enabled) log('%s ms (%s) %s', performance.now().toFixed(0), new Date().toISOString().slice(11, 23), step);
}
