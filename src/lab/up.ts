// `k8ts up` as a library call: plan, preflight, save the plan, then run the steps (the lab's topology, then
// whatever the caller adds: server, agents). A failure undoes the steps and removes every trace of the cluster.
import { LabError } from './errors.js';
import { downPlan } from './down.js';
import { type ClusterPlan, type PlanOptions, releasePlan, reservePlan } from './plan.js';
import { type PreflightOptions, type Problem, preflight } from './preflight.js';
import { type Step, beginFor, runSteps, stderrLog, stepLine } from './steps.js';
import { topologySteps } from './topology.js';
import { readHostNet } from './hostnet.js';
import { createCgroups, removeCgroups } from './cgroups.js';

/** Each node's own cgroup, so its agent and pods are accounted as that node (or a line saying why not). */
function cgroupStep(plan: ClusterPlan, log: (line: string) => void): Step {
  return {
    name: `Making a cgroup for each node (${plan.stem}-${plan.name})`,
    execute: async () => {
      const made = await createCgroups(plan);
      if ('unavailable' in made) log(`  no node cgroups: ${made.unavailable}; every node's CPU and memory are the host's`);
    },
    undo: () => removeCgroups(plan).then(() => {}),
  };
}

export interface UpOptions extends PlanOptions {
  log?: (line: string) => void;
  preflight?: PreflightOptions;
  /** Steps that need the node network but no node (etcd, the server): run after the bridge and the cgroups
   *  and before the nodes are made, so that the server boots while they are. */
  controlPlane?: (plan: ClusterPlan) => Step[];
  /** Steps after the topology (start the agents, wait for nodes Ready). */
  steps?: (plan: ClusterPlan) => Step[];
  /** On failure keep what was made, for debugging (then `k8ts down` removes it). */
  retain?: boolean;
}

export class PreflightError extends LabError {
  constructor(readonly problems: Problem[]) {
    super('PreflightFailed', `this host cannot run the cluster as planned:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`);
    this.name = 'PreflightError';
  }
}

export async function up(opts: UpOptions): Promise<ClusterPlan> {
  const log = opts.log ?? stderrLog;
  beginFor(log)(`Checking the host for cluster ${opts.name}`);
  const t0 = performance.now();
  // The plan is saved (its index claimed host-wide) before preflight looks at the host: otherwise a
  // concurrent `up` could take the same index between the look and the claim. Saving writes only the state
  // directory and the claim, and a failed preflight removes both.
  // The host's network is read once, for the plan and for preflight's look at it.
  const host = opts.host ?? (opts.preflight?.netns ? undefined : await readHostNet());
  const plan = await reservePlan({ ...opts, host });
  const problems = await preflight(plan, {
    kernelProofDir: plan.runDir,
    ...opts.preflight,
    ...(host && !opts.preflight?.netns && !opts.preflight?.host ? { host } : {}),
  }).catch(async (e) => {
    await releasePlan(plan);
    throw e;
  });
  if (problems.length) {
    await releasePlan(plan);
    log(stepLine(false, `Checking the host for cluster ${plan.name}`, performance.now() - t0));
    throw new PreflightError(problems);
  }
  log(
    stepLine(
      true,
      `Planning cluster ${plan.name}: ${plan.stem}, nodes ${plan.nodeNetwork}, pods ${plan.clusterCIDR}, services ${plan.serviceCIDR}, API port ${plan.apiServer.port}`,
      performance.now() - t0,
    ),
  );
  try {
    const [bridge, nodes] = topologySteps(plan);
    await runSteps([bridge, cgroupStep(plan, log), ...(opts.controlPlane?.(plan) ?? []), nodes, ...(opts.steps?.(plan) ?? [])], { log, retain: opts.retain });
  } catch (e) {
    // The steps' undos ran; down sweeps whatever they could not know of (processes in the namespaces, the
    // state directory, the claim).
    if (!opts.retain) {
      await downPlan(plan, { log: () => {} }).catch((d: Error) =>
        log(`✗ Cleaning up cluster ${plan.name} after the failure: ${d.message}; finish with: k8ts down ${plan.name}`),
      );
    }
    throw e;
  }
  return plan;
}
