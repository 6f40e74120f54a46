// The agent's Node: registration with addresses, capacity and node info, the Ready condition, and the
// Lease in kube-node-lease that tells the control plane this node is alive.
import { LEASES, NODES } from '../api/kinds.js';
import { readFileSync } from 'node:fs';
import { cpus, totalmem, release, hostname } from 'node:os';
import type { KObject, NodeCondition, NodeStatus } from '../api/types.js';
import type { Client } from '../client/types.js';
import { KUBE_VERSION } from '../api/version.js';
import { now, microNow } from '../util/time.js';

export const MAX_PODS = 110;

function osImage(): string {
  try {
    return /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

export function readyCondition(ready: boolean, message: string): NodeCondition {
  const t = now();
  return {
    type: 'Ready',
    status: ready ? 'True' : 'False',
    reason: ready ? 'KubeletReady' : 'KubeletNotReady',
    message,
    lastHeartbeatTime: t,
    lastTransitionTime: t,
  };
}

/** Why a node is not Ready until its agent has set up the pod network (the kubelet's words while its
 *  network plugin is not ready). */
export const NETWORK_NOT_READY =
  'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:k8ts agent is setting up the pod network';

/** The status a node registers with; Ready as given (see registerNode). */
export function nodeStatus(nodeIP: string, runtimeVersion: string, ready = true): NodeStatus {
  const t = now();
  const capacity = { cpu: String(cpus().length), memory: `${Math.floor(totalmem() / 1024)}Ki`, pods: String(MAX_PODS), 'ephemeral-storage': '10Gi' };
  return {
    capacity,
    allocatable: capacity,
    addresses: [
      { type: 'InternalIP', address: nodeIP },
      { type: 'Hostname', address: hostname() },
    ],
    conditions: [
      {
        type: 'MemoryPressure',
        status: 'False',
        reason: 'KubeletHasSufficientMemory',
        message: 'kubelet has sufficient memory available',
        lastHeartbeatTime: t,
        lastTransitionTime: t,
      },
      {
        type: 'DiskPressure',
        status: 'False',
        reason: 'KubeletHasNoDiskPressure',
        message: 'kubelet has no disk pressure',
        lastHeartbeatTime: t,
        lastTransitionTime: t,
      },
      {
        type: 'PIDPressure',
        status: 'False',
        reason: 'KubeletHasSufficientPID',
        message: 'kubelet has sufficient PID available',
        lastHeartbeatTime: t,
        lastTransitionTime: t,
      },
      ready ? readyCondition(true, 'k8ts agent is posting ready status') : readyCondition(false, NETWORK_NOT_READY),
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      machineID: '',
      systemUUID: '',
      bootID: '',
      kernelVersion: release(),
      osImage: osImage(),
      containerRuntimeVersion: runtimeVersion,
      kubeletVersion: KUBE_VERSION.gitVersion,
      kubeProxyVersion: KUBE_VERSION.gitVersion,
      operatingSystem: 'linux',
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    },
  };
}

/**
 * Create the Node, or bring an existing one up to date (labels, addresses, conditions); returns it.
 * `ready: false` (an agent): a new Node is Ready=False until the agent has set up its pod network and posts
 * Ready itself (postReady); an existing Node keeps the Ready condition it has, since a restarting agent
 * leaves the node's network and pods running. `ready: true`: a node with nothing to set up (a hollow node).
 */
export async function registerNode(client: Client, name: string, nodeIP: string, runtimeVersion: string, ready: boolean): Promise<KObject> {
  const labels = { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch };
  const status = nodeStatus(nodeIP, runtimeVersion, ready);
  const existing = await client.get(NODES, undefined, name);
  const kept = ready ? undefined : existing?.status?.conditions?.find((c) => c.type === 'Ready');
  if (kept) status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== 'Ready'), kept];
  if (!existing) {
    try {
      return await client.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: {}, status });
    } catch (e) {
      if ((e as { code?: number }).code !== 409) throw e;
    }
  }
  await client.patch(NODES, undefined, name, 'merge', { metadata: { labels } });
  return client.patch(NODES, undefined, name, 'merge', { status }, 'status');
}

export async function postReady(client: Client, name: string, ready: boolean, message: string): Promise<void> {
  const node = await client.get(NODES, undefined, name);
  if (!node) return;
  const prev = (node.status?.conditions ?? []).find((c) => c.type === 'Ready');
  const next = readyCondition(ready, message);
  if (prev && prev.status === next.status) next.lastTransitionTime = prev.lastTransitionTime;
  const conds = (node.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
  conds.push(next);
  await client.patch(NODES, undefined, name, 'merge', { status: { conditions: conds } }, 'status');
}

/** Renew (or create) the node's Lease. */
export async function renewLease(client: Client, name: string, durationSeconds = 40): Promise<void> {
  const spec = { holderIdentity: name, leaseDurationSeconds: durationSeconds, renewTime: microNow() };
  try {
    await client.patch(LEASES, 'kube-node-lease', name, 'merge', { spec });
  } catch (e) {
    if ((e as { code?: number }).code !== 404) throw e;
    const node = await client.get(NODES, undefined, name);
    await client.create(LEASES, 'kube-node-lease', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, ...(node ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata.uid! }] } : {}) },
      spec,
    });
  }
}
