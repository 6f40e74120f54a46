// The scheduler's picture of the cluster, kept up to date from the informers (never rebuilt per pod):
// per node its allocatable, what its pods request, their host ports and the pods themselves; the pods by
// namespace; the pods with affinity terms. Pods the scheduler has bound but the informer has not shown yet
// are "assumed" so the next pod sees their room taken.
import type { Node, Pod } from '../../api/types.js';
import { type PodInfo, hasAffinityTerms, podInfo } from './podinfo.js';
import { type Resources, allocatable } from './resources.js';

export class NodeInfo {
  node?: Node;
  allocatable: Resources = new Map();
  requested: Resources = new Map();
  nonZeroCpu = 0;
  nonZeroMemory = 0;
  pods = new Map<string, PodInfo>();
  hostPorts = new Map<string, number>();

  constructor(readonly name: string) {}

  get labels(): Record<string, string> {
    return this.node?.metadata.labels ?? {};
  }

  add(p: PodInfo, sign: 1 | -1): void {
    for (const [k, v] of p.requests) this.requested.set(k, (this.requested.get(k) ?? 0) + sign * v);
    this.requested.set('pods', (this.requested.get('pods') ?? 0) + sign);
    this.nonZeroCpu += sign * p.nonZero.cpu;
    this.nonZeroMemory += sign * p.nonZero.memory;
    for (const hp of p.hostPorts) {
      const n = (this.hostPorts.get(hp) ?? 0) + sign;
      if (n > 0) this.hostPorts.set(hp, n);
      else this.hostPorts.delete(hp);
    }
    if (sign > 0) this.pods.set(p.key, p);
    else this.pods.delete(p.key);
  }
}

/** Pods that take room on a node: bound and not finished (upstream's scheduler cache leaves finished pods out). */
export function occupiesNode(p: Pod): boolean {
  const phase = p.status?.phase;
  return !!p.spec?.nodeName && phase !== 'Succeeded' && phase !== 'Failed';
}

export class SchedulerCache {
  private nodes = new Map<string, NodeInfo>();
  private pods = new Map<string, PodInfo>();
  private assumed = new Set<string>();
  private byNamespace = new Map<string, Map<string, PodInfo>>();
  /** Bound pods with any pod (anti-)affinity term: the only ones whose terms other pods must respect. */
  readonly withAffinity = new Map<string, PodInfo>();
  /** Bumped by every change, so a caller can tell whether its snapshot is stale. */
  generation = 0;
  private list?: NodeInfo[];

  private nodeInfo(name: string): NodeInfo {
    let n = this.nodes.get(name);
    if (!n) this.nodes.set(name, (n = new NodeInfo(name)));
    return n;
  }

  setNode(node: Node): void {
    const n = this.nodeInfo(node.metadata.name!);
    n.node = node;
    n.allocatable = allocatable(node);
    this.list = undefined;
    this.changed();
  }

  removeNode(name: string): void {
    const n = this.nodes.get(name);
    if (!n) return;
    n.node = undefined;
    if (!n.pods.size) this.nodes.delete(name);
    this.list = undefined;
    this.changed();
  }

  /** The informer's view of a pod (add or update); a pod that no longer occupies a node is removed. */
  setPod(pod: Pod, key: string): void {
    this.assumed.delete(key);
    if (!occupiesNode(pod)) return this.removePod(key);
    const old = this.pods.get(key);
    if (old && old.pod === pod) return;
    if (old) this.unlink(old);
    this.link(podInfo(pod, key));
  }

  removePod(key: string): void {
    const old = this.pods.get(key);
    if (old) this.unlink(old);
    this.assumed.delete(key);
  }

  /** Count a pod on a node before the API confirms the binding. */
  assume(p: PodInfo, node: string): void {
    if (this.pods.has(p.key)) this.unlink(this.pods.get(p.key)!);
    this.link({ ...p, node });
    this.assumed.add(p.key);
  }

  /** Undo assume() after a failed bind (unless the informer has already shown the pod bound). */
  forget(key: string): void {
    if (this.assumed.has(key)) this.removePod(key);
  }

  isAssumed(key: string): boolean {
    return this.assumed.has(key);
  }

  /** Nodes that exist (a node deleted under its pods keeps an entry until they go). */
  nodeList(): NodeInfo[] {
    if (!this.list) this.list = [...this.nodes.values()].filter((n) => n.node);
    return this.list;
  }

  getNode(name: string): NodeInfo | undefined {
    const n = this.nodes.get(name);
    return n?.node ? n : undefined;
  }

  podsIn(namespace: string): Iterable<PodInfo> {
    return this.byNamespace.get(namespace)?.values() ?? [];
  }

  namespaces(): Iterable<string> {
    return this.byNamespace.keys();
  }

  private link(p: PodInfo): void {
    this.pods.set(p.key, p);
    this.nodeInfo(p.node!).add(p, 1);
    let ns = this.byNamespace.get(p.namespace);
    if (!ns) this.byNamespace.set(p.namespace, (ns = new Map()));
    ns.set(p.key, p);
    if (hasAffinityTerms(p)) this.withAffinity.set(p.key, p);
    this.changed();
  }

  private unlink(p: PodInfo): void {
    this.pods.delete(p.key);
    const n = this.nodes.get(p.node!);
    if (n) {
      n.add(p, -1);
      if (!n.node && !n.pods.size) this.nodes.delete(n.name);
    }
    const ns = this.byNamespace.get(p.namespace);
    ns?.delete(p.key);
    if (ns && !ns.size) this.byNamespace.delete(p.namespace);
    this.withAffinity.delete(p.key);
    this.changed();
  }

  private changed(): void {
    this.generation++;
  }
}
