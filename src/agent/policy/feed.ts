// Wires the policy engine into an agent at one seam: the agent's shared informers of NetworkPolicies,
// Namespaces and every pod (unfiltered: the peers live on every node) feed it, and it answers the
// questions the node is asked about itself at /k8ts/drops, /k8ts/trace and /k8ts/facts.
import { findResource } from '../../api/resources.js';
import type { KObject } from '../../api/types.js';
import type { SharedInformerFactory } from '../../client/factory.js';
import { PolicyEngine, type PolicyEngineOptions, type WatchEvent } from './engine.js';
import { traceArmed, traceHere, traceSend, type TraceContext, type TraceQuery } from '../trace.js';
import { nodeFacts } from '../facts.js';

const POLICIES = findResource('networking.k8s.io', 'v1', 'networkpolicies')!;
const NAMESPACES = findResource('', 'v1', 'namespaces')!;
const PODS = findResource('', 'v1', 'pods')!;

export interface PolicyFeed {
  engine: PolicyEngine;
  /** For the stream server: questions about this node. */
  queries: Record<string, (params: URLSearchParams) => Promise<unknown>>;
  /** Settles once the caches are full and the node is programmed (pods wait on the engine themselves). */
  started: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Register on the informers and start: once their caches are full, program the node and keep it programmed.
 * Returns at once: the rest of the agent does not wait (a pod's containers wait on the engine themselves),
 * and the rules of a previous agent stay in the kernel until the first full rewrite replaces them.
 */
export function startPolicyEngine(informers: SharedInformerFactory, o: PolicyEngineOptions & { services: () => KObject[]; slices: () => KObject[]; nodeIP: string; podCIDR: string; proxyTable: string; netnsOfPod: (key: string) => string | undefined }): PolicyFeed {
  const engine = new PolicyEngine({
    ...o,
    serviceAt: (ip, protocol, port) => o.services().find((s) => [...(s.spec?.clusterIPs ?? [s.spec?.clusterIP])].includes(ip)
      && (s.spec?.ports ?? []).some((p: any) => p.port === port && (p.protocol ?? 'TCP') === protocol)),
  });
  const feed = (to: (t: WatchEvent, o: KObject) => void) => ({
    onAdd: (x: KObject) => to('ADDED', x),
    onUpdate: (x: KObject, old: KObject) => x !== old && to('MODIFIED', x),
    onDelete: (x: KObject) => to('DELETED', x),
  });
  // From the process's shared factory: every pod (the peers), not only this node's.
  const sources = [
    [informers.informerFor(POLICIES), (t: WatchEvent, x: KObject) => engine.onPolicy(t, x)],
    [informers.informerFor(NAMESPACES), (t: WatchEvent, x: KObject) => engine.onNamespace(t, x)],
    [informers.informerFor(PODS), (t: WatchEvent, x: KObject) => engine.onPod(t, x)],
  ] as const;
  const registrations = sources.map(([i, to]) => (i as unknown as { addEventHandler(h: ReturnType<typeof feed>): { remove(): void } }).addEventHandler(feed(to)));
  const started = (async () => {
    await Promise.all(sources.map(([i]) => i.waitForSync()));
    await engine.start();
  })();
  const traceContext = (): TraceContext => ({ engine, nodeName: o.nodeName, nodeIP: o.nodeIP, podCIDR: o.podCIDR, proxyTable: o.proxyTable,
    policyTable: engine.programmer.table, services: o.services(), slices: o.slices(), netnsOfPod: o.netnsOfPod });
  const queries: PolicyFeed['queries'] = {
    drops: async () => ({ node: o.nodeName, drops: engine.recentDrops(), counters: await engine.counters() }),
    // A trace is three steps of one question: arm and watch (answers at the end), `step=armed` (answers once
    // the monitor is proven live), and, on the source's node, `step=send`.
    trace: async (p) => {
      const step = p.get('step');
      if (step === 'armed') return traceArmed(parseProbe(p, true)!);
      if (step === 'send') return traceSend(parseQuery(p), traceContext());
      if (step !== null && step !== 'watch') throw new BadRequest(`step: watch, armed or send, not ${JSON.stringify(step)}`);
      return traceHere(parseQuery(p), traceContext());
    },
    facts: (p) => nodeFacts(p, { nodeName: o.nodeName, proxyTable: o.proxyTable, policyTable: engine.programmer.table, netnsOfPod: o.netnsOfPod }),
  };
  return {
    engine, queries, started,
    stop: async () => {
      for (const r of registrations) r.remove();
      await started.catch(() => undefined);
      await engine.stop();
    },
  };
}

class BadRequest extends Error {
  readonly code = 'BadRequest';
}

function parseQuery(p: URLSearchParams): TraceQuery {
  const ip = (k: string) => {
    const v = p.get(k) ?? '';
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(v) || v.split('.').some((x) => Number(x) > 255)) throw new BadRequest(`${k}: not an IPv4 address: ${JSON.stringify(v)}`);
    return v;
  };
  const proto = p.get('protocol') ?? 'tcp';
  if (!['tcp', 'udp', 'icmp'].includes(proto)) throw new BadRequest(`protocol: one of tcp, udp, icmp, not ${JSON.stringify(proto)}`);
  const portS = p.get('port');
  const port = portS === null || portS === '' ? undefined : Number(portS);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new BadRequest(`port: 1-65535, not ${JSON.stringify(portS)}`);
  const probe = parseProbe(p, false);
  const srcPod = p.get('srcPod');
  if (srcPod !== null && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(srcPod)) throw new BadRequest('srcPod: namespace/name');
  return { src: ip('src'), dst: ip('dst'), protocol: proto as TraceQuery['protocol'], port, ...(probe ? { probe } : {}), ...(srcPod ? { srcPod } : {}) };
}

/** The probe id: 8 hex digits (it names an nft table and derives the probe's source port). */
function parseProbe(p: URLSearchParams, required: boolean): string | undefined {
  const probe = p.get('probe');
  if (probe === null && !required) return undefined;
  if (probe === null || !/^[0-9a-f]{8}$/.test(probe)) throw new BadRequest('probe: 8 hex digits');
  return probe;
}
