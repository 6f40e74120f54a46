// POST pods/NAME/eviction (policy/v1 Eviction): delete a pod only if its PodDisruptionBudget allows it,
// as upstream's eviction REST does. Pods that are finished, pending or already terminating go at once;
// a pod covered by one budget with disruptions allowed is recorded in the budget's status.disruptedPods
// and its disruptionsAllowed decremented (one conditional write, retried on conflict) before the delete;
// with none allowed the answer is 429 in upstream's words; two budgets over one pod are refused.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PODDISRUPTIONBUDGETS } from '../api/kinds.js';
import { selectorMatches } from '../api/labels.js';
import type { ResourceDef } from '../api/resources.js';
import { ApiError, errors, successStatus } from '../api/status.js';
import type { Eviction, KObject, Pod, PodDisruptionBudget } from '../api/types.js';
import { isPodReady } from '../api/conditions.js';
import { sendJson } from './http.js';
import type { DeleteOptions } from './registry.js';
import type { SubresourceHost } from './subresources.js';

/** Upstream's MaxDisruptedPodSize: evictions the disruption controller has not confirmed yet. */
const MAX_DISRUPTED_PODS = 2000;
export const EVICTION_BLOCKED = "Cannot evict pod as it would violate the pod's disruption budget.";

interface Target {
  r: ResourceDef;
  ns?: string;
  name: string;
}

function deleteOptions(ev: Eviction, dryRun: boolean): DeleteOptions {
  const d = ev.deleteOptions ?? {};
  const out: DeleteOptions = {};
  if (typeof d.gracePeriodSeconds === 'number') out.gracePeriodSeconds = d.gracePeriodSeconds;
  if (d.preconditions) out.preconditions = { uid: d.preconditions.uid, resourceVersion: d.preconditions.resourceVersion };
  if (dryRun || d.dryRun?.length) out.dryRun = ['All'];
  return out;
}

/** Pods a budget need not protect: upstream's canIgnorePDB. */
function canIgnoreBudget(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || !!pod.metadata.deletionTimestamp;
}

export async function handleEviction(
  api: SubresourceHost,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  t: Target,
  q: URLSearchParams,
): Promise<void> {
  if (method !== 'POST') throw errors.methodNotAllowed(method, 'pods/eviction');
  const body = (await api.readObject(req, undefined)) as Eviction;
  if (body.kind !== undefined && body.kind !== 'Eviction') throw errors.badRequest(`expected an Eviction (policy/v1), got kind ${JSON.stringify(body.kind)}`);
  if (body.metadata?.name !== undefined && body.metadata.name !== t.name) throw errors.badRequest('name in URL does not match name in Eviction object');
  const reg = api.registry;
  const ns = t.ns!;
  const opts = deleteOptions(body, q.has('dryRun'));
  const pod = (await reg.get(t.r, ns, t.name)) as Pod;
  const done = async () => {
    await reg.delete(t.r, ns, t.name, opts);
    sendJson(res, 201, { ...successStatus(), code: 201 });
  };
  if (canIgnoreBudget(pod)) return done();
  const budgets = ((await reg.list(PODDISRUPTIONBUDGETS, ns)).items as PodDisruptionBudget[]).filter(
    (b) => b.spec?.selector && selectorMatches(b.spec.selector, pod.metadata.labels),
  );
  if (budgets.length > 1) throw errors.internal('This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
  if (!budgets.length) return done();
  const budget = budgets[0];
  // An unhealthy pod does not count toward the budget: AlwaysAllow lets it go, IfHealthyBudget when the
  // budget is met anyway.
  if (!isPodReady(pod)) {
    const st = budget.status;
    if (budget.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow') return done();
    if (st && st.desiredHealthy > 0 && st.currentHealthy >= st.desiredHealthy && (st.observedGeneration ?? 0) >= (budget.metadata.generation ?? 0))
      return done();
  }
  if (!opts.dryRun) {
    await reg.guaranteedUpdate(
      PODDISRUPTIONBUDGETS,
      ns,
      budget.metadata.name!,
      (cur: KObject) => {
        const b = cur as PodDisruptionBudget;
        checkBudget(b);
        const st = b.status!;
        return {
          ...b,
          status: {
            ...st,
            disruptionsAllowed: st.disruptionsAllowed - 1,
            disruptedPods: { ...(st.disruptedPods ?? {}), [pod.metadata.name!]: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
          },
        };
      },
      'status',
    );
  } else {
    checkBudget(budget);
  }
  return done();
}

/** Throws what upstream answers when the budget does not allow one more disruption now. */
function checkBudget(b: PodDisruptionBudget): void {
  const st = b.status;
  if (!st || (st.observedGeneration ?? 0) < (b.metadata.generation ?? 0)) {
    throw new ApiError(429, 'TooManyRequests', EVICTION_BLOCKED, {
      causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget has not been processed by the disruption controller yet' }],
    });
  }
  if (st.disruptionsAllowed < 0) throw errors.forbidden('pdb disruptions allowed is negative');
  if (Object.keys(st.disruptedPods ?? {}).length > MAX_DISRUPTED_PODS) {
    throw errors.forbidden('DisruptedPods map too big - too many evictions not confirmed by PDB controller');
  }
  if (st.disruptionsAllowed === 0) {
    throw new ApiError(429, 'TooManyRequests', EVICTION_BLOCKED, {
      causes: [
        {
          reason: 'DisruptionBudget',
          message: `The disruption budget ${b.metadata.name} needs ${st.desiredHealthy} healthy pods and has ${st.currentHealthy} currently`,
        },
      ],
    });
  }
}
