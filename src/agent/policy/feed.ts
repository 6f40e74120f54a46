// Wires the policy engine into an agent at one seam: the agent's shared informers of NetworkPolicies,
// Namespaces and every pod (unfiltered: the peers live on every node) feed it, and it answers the
// questions the node is asked about itself at /k8ts/drops, /k8ts/trace and /k8ts/facts.
import { NAMESPACES, NETWORKPOLICIES, PODS } from '../../api/kinds.js';
import type { EndpointSlice, KObject, Service } from '../../api/types.js';
import type { SharedInformerFactory } from '../../client/factory.js';
import type { EventHandler } from '../../client/informer.js';
import { PolicyEngine, type PolicyEngineOptions, type WatchEvent } from './engine.js';
import { traceArmed, traceHere, traceSend, type TraceContext, type TraceQuery } from '../trace.js';
import { nodeFacts } from '../facts.js';

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
export function startPolicyEngine(
  informers: SharedInformerFactory,
  o: PolicyEngineOptions & {
    services: () => Service[];
    slices: () => EndpointSlice[];
    nodeIP: string;
    podCIDR: string;
    proxyTable: string;
    netnsOfPod: (key: string) => string | undefined;
  },
): PolicyFeed {
  const engine = new PolicyEngine({
    ...o,
    serviceAt: (ip, protocol, port) =>
      o
        .services()
        .find(
          (s) =>
            [...(s.spec?.clusterIPs ?? [s.spec?.clusterIP])].includes(ip) &&
            (s.spec?.ports ?? []).some((p) => p.port === port && (p.protocol ?? 'TCP') === protocol),
        ),
  });
  const feed = <T extends KObject>(to: (t: WatchEvent, o: T) => void): EventHandler<T> => ({
    onAdd: (x) => to('ADDED', x),
    onUpdate: (x, old) => x !== old && to('MODIFIED', x),
    onDelete: (x) => to('DELETED', x),
  });
  // From the process's shared factory: every pod (the peers), not only this node's.
  const sources = [informers.informerFor(NETWORKPOLICIES), informers.informerFor(NAMESPACES), informers.informerFor(PODS)] as const;
  const registrations = [
    sources[0].addEventHandler(feed((t, x) => engine.onPolicy(t, x))),
    sources[1].addEventHandler(feed((t, x) => engine.onNamespace(t, x))),
    sources[2].addEventHandler(feed((t, x) => engine.onPod(t, x))),
  ];
  const started = (async () => {
    await Promise.all(sources.map((i) => i.waitForSync()));
    await engine.start();
  })();
  const traceContext = (): TraceContext => ({
    engine,
    nodeName: o.nodeName,
    nodeIP: o.nodeIP,
    podCIDR: o.podCIDR,
    proxyTable: o.proxyTable,
    policyTable: engine.programmer.table,
    services: o.services(),
    slices: o.slices(),
    netnsOfPod: o.netnsOfPod,
  });
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
    engine,
    queries,
    started,
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
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(v) || v.split('.').some((x) => Number(x) > 255))
      throw new BadRequest(`${k}: not an IPv4 address: ${JSON.stringify(v)}`);
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
  return {
    src: ip('src'),
    dst: ip('dst'),
    protocol: proto as TraceQuery['protocol'],
    port,
    source: p.get('source') === '1',
    ...(probe ? { probe } : {}),
    ...(srcPod ? { srcPod } : {}),
  };
}

/** The probe id: 8 hex digits (it names an nft table and derives the probe's source port). */
function parseProbe(p: URLSearchParams, required: boolean): string | undefined {
  const probe = p.get('probe');
  if (probe === null && !required) return undefined;
  if (probe === null || !/^[0-9a-f]{8}$/.test(probe)) throw new BadRequest('probe: 8 hex digits');
  return probe;
}
