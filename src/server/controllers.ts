// The control plane's controllers as two processes of Kubernetes group them: the controller manager
// (namespace, node IPAM and lifecycle, taint eviction, disruption budgets, Event TTL, endpoints, EndpointSlices,
// LoadBalancer IPs, kube-dns, DaemonSets, StatefulSets, Jobs, CronJobs, TTL-after-finished, ReplicaSets,
// Deployments, garbage collector, CSR signing and approving, bootstrap token cleaning)
// and the scheduler. Each leadership term builds them afresh on the shared informers.
import { ClusterRoleAggregation } from '../controllers/clusterroleaggregation.js';
import type { Controller, ControllerContext } from '../controllers/context.js';
import { ClusterDns } from '../controllers/clusterdns.js';
import { DaemonSetController } from '../controllers/daemonset.js';
import { CronJobController } from '../controllers/cronjob.js';
import { EndpointSliceController } from '../controllers/endpointslice.js';
import { EndpointsController } from '../controllers/endpoints.js';
import { DeploymentController } from '../controllers/deployment.js';
import { EventTtl } from '../controllers/eventttl.js';
import { GarbageCollector } from '../controllers/garbagecollector.js';
import { JobController } from '../controllers/job.js';
import { type IPRange, LoadBalancerController } from '../controllers/loadbalancer.js';
import { NamespaceController } from '../controllers/namespace.js';
import { NodeIpam } from '../controllers/nodeipam.js';
import { NodeLifecycle } from '../controllers/nodelifecycle.js';
import { ReplicaSetController } from '../controllers/replicaset.js';
import { RootCaPublisher } from '../controllers/rootcapublisher.js';
import { CsrApprover, CsrSigner } from '../controllers/csr.js';
import { TokenCleaner } from '../controllers/tokencleaner.js';
import type { CaSigner } from '../api/certificates/csr.js';
import type { Attributes } from '../apiserver/authz/attributes.js';
import { PersistentVolumeController } from '../controllers/persistentvolume.js';
import { LocalPathProvisioner } from '../controllers/localpath.js';
import { StorageProtection } from '../controllers/pvprotection.js';
import { Scheduler } from '../controllers/scheduler.js';
import { TaintEvictionController } from '../controllers/tainteviction.js';
import { DisruptionController } from '../controllers/disruption.js';
import { StatefulSetController } from '../controllers/statefulset.js';
import { TtlAfterFinished } from '../controllers/ttlafterfinished.js';
import type { Runnable } from './singleton.js';

export interface ControllerManagerOptions {
  clusterCidr?: string;
  nodeCidrMaskSize?: number;
  nodeMonitorGracePeriodMs?: number;
  eventTtlMs?: number;
  lbPool?: IPRange;
  dnsServiceIP?: string;
  /** The cluster CA (PEM) the root-CA publisher puts in every namespace's kube-root-ca.crt. */
  rootCaPem?: string;
  /** The cluster CA as the kubernetes.io client signers (the CSR signer runs only with it). */
  caSigner?: CaSigner;
  /** The authorizer the CSR approver's SubjectAccessReviews ask (the approver runs only with it). */
  authorize?: (a: Attributes) => boolean;
}

/** Controllers made by make() while leading: started together, stopped together. */
function group(make: () => Controller[]): Runnable {
  let running: Controller[] = [];
  return {
    async start() {
      running = make();
      await Promise.all(running.map((c) => c.start()));
    },
    stop() {
      for (const c of running.splice(0)) c.stop();
    },
  };
}

export function controllerManager(ctx: ControllerContext, o: ControllerManagerOptions): Runnable {
  return group(() => [
    new NamespaceController(ctx),
    new NodeIpam(ctx, o.clusterCidr ?? '10.244.0.0/16', o.nodeCidrMaskSize ?? 24),
    new NodeLifecycle(ctx, o.nodeMonitorGracePeriodMs ?? 40_000),
    new EventTtl(ctx, o.eventTtlMs ?? 3_600_000),
    new TaintEvictionController(ctx),
    new DisruptionController(ctx),
    new EndpointSliceController(ctx),
    new EndpointsController(ctx),
    new DaemonSetController(ctx),
    new StatefulSetController(ctx),
    new JobController(ctx),
    new CronJobController(ctx),
    new TtlAfterFinished(ctx),
    ...(o.lbPool ? [new LoadBalancerController(ctx, o.lbPool)] : []),
    ...(o.dnsServiceIP ? [new ClusterDns(ctx, o.dnsServiceIP)] : []),
    ReplicaSetController.forReplicaSets(ctx),
    ReplicaSetController.forReplicationControllers(ctx),
    new DeploymentController(ctx),
    new GarbageCollector(ctx),
    new ClusterRoleAggregation(ctx),
    ...(o.rootCaPem ? [new RootCaPublisher(ctx, o.rootCaPem)] : []),
    ...(o.caSigner ? [new CsrSigner(ctx, o.caSigner)] : []),
    ...(o.authorize ? [new CsrApprover(ctx, o.authorize)] : []),
    new TokenCleaner(ctx),
    new PersistentVolumeController(ctx),
    new LocalPathProvisioner(ctx),
    new StorageProtection(ctx),
  ]);
}

export function scheduler(ctx: ControllerContext): Runnable {
  return group(() => [new Scheduler(ctx)]);
}
