// `k8ts drops` and `k8ts trace`: the CLI asks each node's agent (through the API server's node proxy, as
// kubectl reaches logs and exec) what it dropped, or what it does with one flow, and puts the answers in
// order. Works against any k8ts cluster: the lab's by --name, any other by --kubeconfig.
import { NODES, PODS, SERVICES } from '../api/kinds.js';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import type { Node, Pod } from '../api/types.js';
import { configFromKubeconfig, RestClient } from '../client/rest.js';
import { k8tsHome } from '../lab/paths.js';
import { loadPlan } from '../lab/plan.js';
import { run } from '../util/exec.js';
import { flagHelp, parseFlags, UsageError, type FlagSpec, type Flags } from './args.js';
import type { NodeTrace } from '../agent/trace.js';
import type { DropRecord } from '../agent/policy/engine.js';

const CLUSTER_FLAGS = {
  name: { type: 'string', default: 'default', help: 'the lab cluster (as k8ts kubeconfig picks it)', metavar: 'NAME' },
  kubeconfig: { type: 'string', help: "any k8ts cluster's kubeconfig instead of a lab one", metavar: 'FILE' },
  json: { type: 'boolean', help: 'print JSON for scripts' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies FlagSpec;

async function clientFor(flags: Pick<Flags<typeof CLUSTER_FLAGS>, 'kubeconfig' | 'name'>): Promise<RestClient> {
  const path = flags.kubeconfig ?? (await loadPlan(k8tsHome(), flags.name)).paths.kubeconfig;
  return new RestClient({ ...configFromKubeconfig(path), userAgent: 'k8ts-cli' });
}

const internalIP = (n: Node) => (n.status?.addresses ?? []).find((a) => a.type === 'InternalIP')?.address;

export async function dropsCommand(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, CLUSTER_FLAGS);
  if (flags.help)
    return void process.stdout.write(
      `Usage: k8ts drops [--name CLUSTER | --kubeconfig FILE] [--json]\n\nLists the packets each node dropped recently by NetworkPolicy (and the service proxy's "no endpoints"\nrejects), with the reason, and the drop counters per policy and direction.\n\n${flagHelp(CLUSTER_FLAGS)}\n`,
    );
  const c = await clientFor(flags);
  try {
    const nodes = (await c.list(NODES)).items;
    const answers = await Promise.all(
      nodes.map(async (n) => {
        try {
          return (await c.getPath(`/api/v1/nodes/${encodeURIComponent(n.metadata.name!)}/proxy/k8ts/drops`)) as {
            node: string;
            drops: DropRecord[];
            counters: { policies: { policy: string; direction: string; packets: number }[] };
          };
        } catch (e) {
          return { node: n.metadata.name!, error: (e as Error).message, drops: [], counters: { policies: [] } };
        }
      }),
    );
    if (flags.json) return void process.stdout.write(`${JSON.stringify(answers, null, 2)}\n`);
    const rows = answers.flatMap((a) => a.drops).sort((x, y) => (x.time < y.time ? -1 : 1));
    if (!rows.length) process.stdout.write('no drops logged\n');
    else {
      process.stdout.write(
        `${'TIME'.padEnd(24)} ${'NODE'.padEnd(8)} ${'DIRECTION'.padEnd(9)} ${'OBJECT'.padEnd(28)} ${'FROM'.padEnd(21)} ${'TO'.padEnd(21)} REASON\n`,
      );
      for (const d of rows) {
        process.stdout.write(
          `${d.time.padEnd(24)} ${d.node.padEnd(8)} ${d.direction.padEnd(9)} ${(d.object ?? '-').padEnd(28)} ${`${d.src}${d.sport !== undefined ? `:${d.sport}` : ''}`.padEnd(21)} ${`${d.dst}${d.dport !== undefined ? `:${d.dport}` : ''}/${d.protocol}`.padEnd(21)} ${d.reason}\n`,
        );
      }
    }
    const counts = new Map<string, number>();
    for (const a of answers)
      for (const p of a.counters.policies) counts.set(`${p.policy} ${p.direction}`, (counts.get(`${p.policy} ${p.direction}`) ?? 0) + p.packets);
    if (counts.size) {
      process.stdout.write('\nPOLICY DIRECTION DROPPED-PACKETS\n');
      for (const [k, n] of [...counts].sort()) process.stdout.write(`${k} ${n}\n`);
    }
    for (const a of answers) if ('error' in a) process.stdout.write(`node ${a.node}: ${a.error}\n`);
  } finally {
    c.close();
  }
}

const TRACE_FLAGS = {
  ...CLUSTER_FLAGS,
  protocol: { type: 'string', default: 'tcp', help: 'tcp, udp or icmp', metavar: 'PROTO' },
} satisfies FlagSpec;

interface End {
  kind: 'pod' | 'service' | 'address' | 'host';
  label: string;
  ip: string;
  port?: number;
  pod?: Pod;
}

/** SRC: ns/name or name (a pod), or "host" (this machine). DST: ns/name[:PORT] (pod), svc/[ns/]name[:PORT], IP[:PORT]. */
async function resolveEnd(c: RestClient, spec: string, isSrc: boolean): Promise<End> {
  if (isSrc && spec === 'host') return { kind: 'host', label: 'this host', ip: '' };
  const m = /^(.*?)(?::(\d+))?$/.exec(spec)!;
  const port = m[2] !== undefined ? Number(m[2]) : undefined;
  if (port !== undefined && (port < 1 || port > 65535)) throw new UsageError(`${spec}: port must be 1-65535`);
  const body = m[1];
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(body)) {
    if (isSrc) throw new UsageError('SRC must be a pod (namespace/name) or "host"');
    return { kind: 'address', label: body, ip: body, port };
  }
  const svc = /^(?:svc|service)\/(?:([a-z0-9-]+)\/)?([a-z0-9-]+)$/.exec(body);
  if (svc) {
    if (isSrc) throw new UsageError('SRC must be a pod (namespace/name) or "host"');
    const s = await c.get(SERVICES, svc[1] ?? 'default', svc[2]);
    if (!s) throw new UsageError(`service ${svc[1] ?? 'default'}/${svc[2]} not found`);
    const ip = s.spec?.clusterIP;
    if (!ip || ip === 'None') throw new UsageError(`service ${s.metadata.namespace}/${s.metadata.name} has no ClusterIP; trace one of its pods`);
    return { kind: 'service', label: `service ${s.metadata.namespace}/${s.metadata.name}`, ip, port: port ?? s.spec?.ports?.[0]?.port };
  }
  const pm = /^(?:(?:pod|pods)\/)?(?:([a-z0-9-]+)\/)?([a-z0-9.-]+)$/.exec(body);
  if (!pm) throw new UsageError(`${spec}: expected namespace/name, svc/[namespace/]name or an IPv4 address, with :PORT`);
  const p = await c.get(PODS, pm[1] ?? 'default', pm[2]);
  if (!p) throw new UsageError(`pod ${pm[1] ?? 'default'}/${pm[2]} not found`);
  if (!p.status?.podIP) throw new UsageError(`pod ${p.metadata.namespace}/${p.metadata.name} has no IP yet`);
  return { kind: 'pod', label: `pod ${p.metadata.namespace}/${p.metadata.name}`, ip: p.status.podIP, port, pod: p };
}

export interface TraceResult {
  src: string;
  dst: string;
  protocol: string;
  port?: number;
  nodes: NodeTrace[];
  host?: string[];
  arrived: boolean;
  summary: string;
}

export async function traceCommand(argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv, TRACE_FLAGS);
  const usage = `Usage: k8ts trace [--name CLUSTER | --kubeconfig FILE] SRC DST[:PORT] [--protocol tcp|udp|icmp] [--json]

Shows each hop a packet from SRC to DST takes — pod eth0, veth, cbr0, the node's routing table, the node
network or VXLAN, the other node, cbr0, veth, pod — with the Service DNAT (which backend), each
NetworkPolicy verdict (which policy allowed it, or that none did) and masquerade, every line read from the
nodes' kernels; then sends one real probe marked with nftrace and says whether it arrived.

SRC: a pod (namespace/name, or name in default), or "host" (this machine, e.g. towards a NodePort).
DST: a pod (namespace/name[:PORT]), a Service (svc/[namespace/]name[:PORT]), or an address (IP[:PORT]):
     a ClusterIP, a node's IP with a NodePort, a LoadBalancer IP, anything else.

${flagHelp(TRACE_FLAGS)}
`;
  if (flags.help) return void process.stdout.write(usage);
  if (rest.length !== 2) throw new UsageError(`trace needs SRC and DST\n\n${usage}`);
  const protocol = String(flags.protocol);
  if (!['tcp', 'udp', 'icmp'].includes(protocol)) throw new UsageError(`--protocol: tcp, udp or icmp, not ${JSON.stringify(protocol)}`);
  const c = await clientFor(flags);
  try {
    const res = await trace(c, rest[0], rest[1], protocol as 'tcp' | 'udp' | 'icmp');
    if (flags.json) process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
    else process.stdout.write(formatTrace(res));
    if (!res.arrived) process.exitCode = 1;
  } finally {
    c.close();
  }
}

export async function trace(c: RestClient, srcSpec: string, dstSpec: string, protocol: 'tcp' | 'udp' | 'icmp'): Promise<TraceResult> {
  const src = await resolveEnd(c, srcSpec, true);
  const dst = await resolveEnd(c, dstSpec, false);
  if (protocol !== 'icmp' && dst.port === undefined) throw new UsageError(`${dstSpec}: give a port (DST:PORT) for ${protocol}`);
  const nodes = (await c.list(NODES)).items;
  const host: string[] = [];
  if (src.kind === 'host') {
    const r = JSON.parse((await run(['ip', '-j', 'route', 'get', dst.ip])).stdout)[0];
    src.ip = r?.prefsrc ?? '127.0.0.1';
    host.push(`host ${src.ip} → ${dst.ip}: ${r?.gateway ? `via ${r.gateway} ` : ''}dev ${r?.dev} (this host's routing table)`);
  }
  const probe = randomBytes(4).toString('hex');
  const srcNode = src.pod?.spec?.nodeName;
  const params = (extra: Record<string, string> = {}) =>
    new URLSearchParams({
      src: src.ip,
      dst: dst.ip,
      protocol,
      ...(dst.port !== undefined ? { port: String(dst.port) } : {}),
      probe,
      ...extra,
    });
  const ask = (node: string, q: URLSearchParams) => c.getPath(`/api/v1/nodes/${encodeURIComponent(node)}/proxy/k8ts/trace?${q}`);
  // Every node arms and watches; once each has proven its monitor live, the source's node (or this host) sends.
  const asks = nodes.map((n) =>
    ask(n.metadata.name!, params(n.metadata.name === srcNode ? { source: '1' } : {})).then(
      (t) => t as NodeTrace,
      (e: Error) => ({ node: n.metadata.name!, saw: false, hops: [{ kind: 'error', text: e.message }], trace: [] }) as NodeTrace,
    ),
  );
  const armed = await Promise.all(
    nodes.map((n) =>
      ask(n.metadata.name!, new URLSearchParams({ step: 'armed', probe })).then(
        (a) => (a as { armed?: boolean }).armed === true,
        () => false,
      ),
    ),
  );
  const unarmed = nodes.filter((_, i) => !armed[i]).map((n) => n.metadata.name!);
  if (unarmed.length) host.push(`not armed in time (their trace may miss the probe): ${unarmed.join(', ')}`);
  let hostProbe: { result: string; ms: number } | undefined;
  if (src.kind === 'host') hostProbe = await sendFromHost(dst.ip, dst.port, protocol, 40000 + (parseInt(probe, 16) % 20000));
  else await ask(srcNode!, params({ step: 'send', srcPod: `${src.pod!.metadata.namespace}/${src.pod!.metadata.name}` })).catch(() => undefined);
  const answers = await Promise.all(asks);
  // The walk: from the source's node, each node's "next" names the one after it.
  const byIP = new Map(nodes.map((n) => [internalIP(n), n.metadata.name!]));
  const order: NodeTrace[] = [];
  let cur = srcNode ? answers.find((a) => a.node === srcNode) : answers.find((a) => a.saw);
  while (cur && !order.includes(cur)) {
    order.push(cur);
    const next: NodeTrace | undefined = cur.next ? answers.find((a) => a.node === byIP.get(cur!.next!.nodeIP)) : undefined;
    cur = next;
  }
  for (const a of answers) if (a.saw && !order.includes(a)) order.push(a);
  const last = order[order.length - 1];
  const probeResult = order[0]?.probe?.result ?? hostProbe?.result;
  const dropped = order.find((n) => n.outcome === 'dropped');
  const arrived = !dropped && (last?.outcome === 'delivered' || /^(connected|refused|answered)$/.test(probeResult ?? ''));
  const summary = dropped
    ? `probe did NOT arrive: dropped on node ${dropped.node}: ${dropped.dropped}`
    : arrived
      ? `probe ARRIVED (${probeResult ?? 'seen delivered'})`
      : `probe did NOT arrive (${probeResult ?? 'not seen'})`;
  if (hostProbe) order.forEach((n) => n === order[0] && (n.probe = hostProbe));
  return {
    src: `${src.label} ${src.ip}`,
    dst: `${dst.label}${dst.port !== undefined ? `:${dst.port}` : ''}`,
    protocol,
    port: dst.port,
    nodes: order,
    host,
    arrived,
    summary,
  };
}

function sendFromHost(ip: string, port: number | undefined, protocol: string, sport: number): Promise<{ result: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const done = (result: string) => resolve({ result, ms: Date.now() - t0 });
    if (protocol === 'tcp') {
      const s = connect({ host: ip, port: port!, localPort: sport });
      const t = setTimeout(() => (s.destroy(), done('timeout')), 2000);
      s.on('connect', () => (clearTimeout(t), s.destroy(), done('connected')));
      s.on('error', (e: NodeJS.ErrnoException) => (clearTimeout(t), done(e.code === 'ECONNREFUSED' ? 'refused' : (e.code ?? e.message))));
    } else if (protocol === 'udp') {
      const s = createSocket('udp4');
      const t = setTimeout(() => (s.close(), done('no answer')), 1500);
      s.on('message', () => (clearTimeout(t), s.close(), done('answered')));
      s.bind(sport, () => s.send('k8ts-trace', port!, ip));
    } else {
      run(['busybox', 'ping', '-c', '1', '-W', '2', ip]).then(
        () => done('answered'),
        () => done('no answer'),
      );
    }
  });
}

export function formatTrace(r: TraceResult): string {
  const out = [`trace ${r.src} → ${r.dst} (${r.protocol.toUpperCase()})`];
  for (const h of r.host ?? []) out.push(`  ${h}`);
  for (const n of r.nodes) {
    out.push(`node ${n.node}:`);
    for (const h of n.hops) out.push(`  ${h.kind.padEnd(12)} ${h.text}`);
    if (n.probe) out.push(`  ${'probe'.padEnd(12)} ${n.probe.result} after ${n.probe.ms} ms`);
  }
  out.push(r.summary, '');
  return out.join('\n');
}
