// `k8ts trace`, the node's half: what this node does with one flow, every line read from its kernel (pod
// routes, veth and bridge, the proxy's maps and the DNAT it chose, policy maps and sets, routes,
// neighbours, the VXLAN FDB, masquerade), confirmed by one real probe: a table marks the probe's packets
// with `meta nftrace set 1` and `nft monitor trace` tells what every chain did with them. The CLI asks
// every node to arm, waits until each has proven its monitor live, then has the source send and puts the nodes' answers in order.
import { asNumber, asString, type JsonObject, objs, parseJson, strings } from '../api/narrow.js';
import { createSocket } from 'node:dgram';
import { run, spawnProcess } from '../util/exec.js';
import { formatIPv4, parseCidr, parseIPv4, contains, type Cidr } from '../util/cidr.js';
import type { EndpointSlice, Service } from '../api/types.js';
import { parseConntrack, type PolicyEngine } from './policy/engine.js';
import { EXACT_SET, podObjects } from './policy/ruleset.js';
import { ROUTE_PROTO, VXLAN_DEV } from './routes.js';
import { PROTO_NUMBER } from './policy/model.js';

export interface TraceQuery {
  src: string;
  dst: string;
  protocol: 'tcp' | 'udp' | 'icmp';
  port?: number;
  /** 8 hex digits naming the probe; its source port derives from it. */
  probe?: string;
  /** The source pod (namespace/name) when this node sends the probe from it (trace-send). */
  srcPod?: string;
  /** This node will send the probe: its watch ends after the send rather than on the probe's last hook. */
  source?: boolean;
}

export interface Hop {
  /** What the packet passes: pod, veth, bridge, dnat, policy, route, vxlan, node-network, masquerade, deliver. */
  kind: string;
  text: string;
}

export interface NodeTrace {
  node: string;
  /** Whether this node saw the probe (its trace lines). */
  saw: boolean;
  hops: Hop[];
  /** Where the packet goes next: another node's address, or it ends here. */
  next?: { nodeIP: string; dst: string };
  outcome?: 'delivered' | 'dropped' | 'forwarded';
  /** The probe as the source saw it: connected/refused (reached the pod), timeout, or an error. */
  probe?: { result: string; ms: number };
  trace: string[];
  dropped?: string;
}

export interface TraceContext {
  engine: PolicyEngine;
  nodeName: string;
  nodeIP: string;
  podCIDR: string;
  proxyTable: string;
  policyTable: string;
  services: Service[];
  slices: EndpointSlice[];
  netnsOfPod?: (key: string) => string | undefined;
  netns?: string;
}

/** The probe's source port: fixed by its id, so every node can mark exactly its packets. */
export function probePort(id: string): number {
  return 40000 + (parseInt(id, 16) % 20000);
}

const sh = (ctx: TraceContext, argv: string[]) => run([...(ctx.netns ? ['nsenter', `--net=${ctx.netns}`, '--'] : []), ...argv], { timeoutMs: 5000 });
/** `ip -j` / `bridge -j` rows: an array of objects (fields narrowed where read); anything else is a clear error. */
const rowsOf = (text: string, what: string): JsonObject[] => {
  const doc = parseJson(text || '[]', what);
  if (!Array.isArray(doc)) throw new Error(`${what}: not a JSON array`);
  return objs(doc);
};
const json = async (ctx: TraceContext, argv: string[]): Promise<JsonObject[]> => rowsOf((await sh(ctx, argv)).stdout, argv.join(' '));

/** The probe sessions armed on this node, by probe id: the CLI asks each node whether it is armed before any
 *  probe is sent, and the source node's send lands in its own session. */
interface Session {
  armed: Promise<boolean>;
  /** Settled with the probe's result once this node sent it (the source node only). */
  sent?: { result: string; ms: number };
  onSent: () => void;
}
const sessions = new Map<string, Session>();
const sessionWaiters = new Map<string, (() => void)[]>();

/** How long a node watches for the probe once armed, when it is not the one that sends it. */
const WATCH_MS = 3000;

function openSession(probe: string, armed: Promise<boolean>): { session: Session; sent: Promise<void> } {
  let onSent!: () => void;
  const sent = new Promise<void>((r) => (onSent = r));
  const session: Session = { armed, onSent };
  sessions.set(probe, session);
  for (const w of sessionWaiters.get(probe) ?? []) w();
  sessionWaiters.delete(probe);
  return { session, sent };
}

/** Whether the probe's session is armed here: waits for the session to open (its request may come second)
 *  and for its monitor to be proven live, up to timeoutMs. */
export async function traceArmed(probe: string, timeoutMs = 5000): Promise<{ armed: boolean }> {
  const deadline = Date.now() + timeoutMs;
  if (!sessions.has(probe)) {
    await new Promise<void>((resolve) => {
      const list = sessionWaiters.get(probe) ?? [];
      const wake = () => (clearTimeout(t), resolve());
      // A session that never opens leaves no waiter behind.
      const t = setTimeout(() => {
        const left = (sessionWaiters.get(probe) ?? []).filter((w) => w !== wake);
        if (left.length) sessionWaiters.set(probe, left);
        else sessionWaiters.delete(probe);
        resolve();
      }, timeoutMs);
      list.push(wake);
      sessionWaiters.set(probe, list);
    });
  }
  const s = sessions.get(probe);
  if (!s) return { armed: false };
  const left = Math.max(0, deadline - Date.now());
  return { armed: await Promise.race([s.armed, new Promise<boolean>((r) => setTimeout(() => r(false), left))]) };
}

/** Sends the probe from this node (from the source pod's namespace), and hands the result to this node's
 *  session so its answer carries it. */
export async function traceSend(q: TraceQuery, ctx: TraceContext): Promise<{ result: string; ms: number }> {
  if (!q.probe) throw new Error('probe: required');
  const r = await sendProbe(ctx, q, probePort(q.probe));
  const s = sessions.get(q.probe);
  if (s) {
    s.sent = r;
    s.onSent();
  }
  return r;
}

/** Proves `nft monitor trace` is subscribed: a datagram to the canary port on loopback is marked by the
 *  table, and its trace line shows once the monitor hears trace events. */
async function proveArmed(ctx: TraceContext, canary: number, seen: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (ctx.netns) {
      const js = `const s=require('dgram').createSocket('udp4');s.send('k8ts-trace-canary',${canary},'127.0.0.1',()=>s.close())`;
      await run(['nsenter', `--net=${ctx.netns}`, '--', process.execPath, '-e', js], { timeoutMs: 2000 }).catch(() => undefined);
    } else {
      await new Promise<void>((resolve) => {
        const s = createSocket('udp4');
        s.on('error', () => (s.close(), resolve()));
        s.send('k8ts-trace-canary', canary, '127.0.0.1', () => (s.close(), resolve()));
      });
    }
    for (let i = 0; i < 5; i++) {
      if (seen()) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return seen();
}

export async function traceHere(q: TraceQuery, ctx: TraceContext): Promise<NodeTrace> {
  const out: NodeTrace = { node: ctx.nodeName, saw: false, hops: [], trace: [] };
  const probe = q.probe;
  let lines: string[] = [];
  let conn: { dnatTo?: string; dnatPort?: number } = {};
  if (probe) {
    const T = `k8ts-trace-${probe}`;
    const sport = probePort(probe);
    // Never the probe's port: the probe ports are 40000-59999.
    const canary = 39000 + (parseInt(probe, 16) % 1000);
    const match = q.protocol === 'icmp' ? `ip saddr ${q.src} icmp type echo-request` : `meta l4proto ${q.protocol} th sport ${sport}`;
    let markArmed!: (x: boolean) => void;
    const { session, sent } = openSession(probe, new Promise<boolean>((r) => (markArmed = r)));
    let mon: ReturnType<typeof spawnProcess> | undefined;
    let buf = '';
    try {
      await run([...(ctx.netns ? ['nsenter', `--net=${ctx.netns}`, '--'] : []), 'nft', '-f', '-'], {
        input: [
          `table ip ${T} {`,
          // Marked again in every hook: a packet passed up from the bridge to the IP layer loses its trace flag.
          `  chain tpre { type filter hook prerouting priority -350; policy accept; ${match} meta nftrace set 1; }`,
          `  chain tout { type filter hook output priority -350; policy accept; ${match} meta nftrace set 1; ip daddr 127.0.0.1 udp dport ${canary} meta nftrace set 1; }`,
          `  chain tfwd0 { type filter hook forward priority -350; policy accept; ${match} meta nftrace set 1; }`,
          `  chain tin0 { type filter hook input priority -350; policy accept; ${match} meta nftrace set 1; }`,
          `  chain tpost0 { type filter hook postrouting priority -350; policy accept; ${match} meta nftrace set 1; }`,
          // Empty chains last in each hook: their "policy accept" says the packet passed everything before.
          '  chain tfwd { type filter hook forward priority 500; policy accept; }',
          '  chain tin { type filter hook input priority 500; policy accept; }',
          '  chain tpost { type filter hook postrouting priority 500; policy accept; }',
          '}',
          '',
        ].join('\n'),
      });
      mon = spawnProcess([...(ctx.netns ? ['nsenter', `--net=${ctx.netns}`, '--'] : []), 'stdbuf', '-oL', 'nft', 'monitor', 'trace'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      mon.child.stdout!.on('data', (b: Buffer) => (buf += b.toString()));
      // Armed once the monitor is proven to hear this table's trace events, not after a guessed delay.
      const armed = await proveArmed(ctx, canary, () => buf.includes(`udp dport ${canary} `), 2000);
      markArmed(armed);
      const deadline = Date.now() + WATCH_MS;
      // The probe's path ends here once its trace shows the last chain of a hook it leaves by (postrouting,
      // or input for this node's own sockets) or a drop; the canary's own lines do not count.
      const canaryIds = () =>
        new Set(
          buf
            .split('\n')
            .filter((l) => l.includes(`udp dport ${canary} `))
            .map((l) => l.split(' ')[2]),
        );
      const done = new RegExp(`^trace id \\S+ ip ${T} (tpost|tin) policy accept|verdict drop`);
      const finished = () => {
        const skip = canaryIds();
        return buf.split('\n').some((l) => l.startsWith('trace id ') && !skip.has(l.split(' ')[2]) && done.test(l));
      };
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      // The source's node waits for its own send; the others for the probe's last hook here, or the watch time.
      if (q.source) await Promise.race([sent, sleep(WATCH_MS)]);
      else while (Date.now() < deadline && !finished()) await sleep(50);
      // Then until the monitor's output has been still for 200 ms: a loaded machine may print the lines late.
      for (let len = -1, end = Date.now() + 1000; buf.length !== len && Date.now() < end; ) {
        len = buf.length;
        await sleep(200);
      }
      if (session.sent) out.probe = session.sent;
    } finally {
      markArmed(false);
      sessions.delete(probe);
      if (mon) {
        mon.child.kill('SIGTERM');
        await mon.exited.catch(() => undefined);
      }
      await sh(ctx, ['nft', 'delete', 'table', 'ip', T]).catch(() => undefined);
    }
    lines = buf.split('\n').filter((l) => l.startsWith('trace id ') && !l.includes(`udp dport ${canary} `));
    // Only the first packet of the probe (the SYN, or the first datagram) is the path: the trace ids whose
    // packet has the IP id of the first one (a packet's trace id can change between hooks).
    const ipId = (l: string) => / packet: .* ip id (\d+) /.exec(l)?.[1];
    const firstId = lines.map(ipId).find((x) => x !== undefined);
    const ids = new Set(lines.filter((l) => firstId !== undefined && ipId(l) === firstId).map((l) => l.split(' ')[2]));
    lines = lines.filter((l) => ids.has(l.split(' ')[2]));
    out.trace = lines;
    out.saw = lines.length > 0;
    if (q.protocol !== 'icmp') conn = await probeConntrack(ctx, q, sport);
  }
  await staticHops(q, ctx, out, lines, conn);
  return out;
}

async function sendProbe(ctx: TraceContext, q: TraceQuery, sport: number): Promise<{ result: string; ms: number }> {
  const netns = q.srcPod ? ctx.netnsOfPod?.(q.srcPod) : undefined;
  if (q.srcPod && !netns) return { result: `pod ${q.srcPod} has no network namespace on this node`, ms: 0 };
  const pre = netns ? ['nsenter', `--net=${netns}`, '--'] : ctx.netns ? ['nsenter', `--net=${ctx.netns}`, '--'] : [];
  const t0 = Date.now();
  let argv: string[];
  if (q.protocol === 'icmp') argv = ['busybox', 'ping', '-c', '1', '-W', '2', q.dst];
  else {
    const js =
      q.protocol === 'tcp'
        ? `const s=require('net').connect({host:${JSON.stringify(q.dst)},port:${q.port ?? 80},localPort:${sport}});const t=setTimeout(()=>{console.log('timeout');process.exit(0)},2000);s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',e=>{console.log(e.code==='ECONNREFUSED'?'refused':e.code);process.exit(0)})`
        : `const s=require('dgram').createSocket('udp4');s.bind(${sport},()=>s.send('k8ts-trace',${q.port ?? 53},${JSON.stringify(q.dst)}));const t=setTimeout(()=>{console.log('no answer');process.exit(0)},1500);s.on('message',()=>{console.log('answered');process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)})`;
    argv = [process.execPath, '-e', js];
  }
  try {
    const { stdout } = await run([...pre, ...argv], { timeoutMs: 5000 });
    return { result: q.protocol === 'icmp' ? 'answered' : stdout.trim(), ms: Date.now() - t0 };
  } catch (e) {
    return { result: q.protocol === 'icmp' ? 'no answer' : (e as Error).message.split('\n')[0], ms: Date.now() - t0 };
  }
}

/** The probe's conntrack entry here (its exact original tuple): where DNAT sent it. */
async function probeConntrack(ctx: TraceContext, q: TraceQuery, sport: number): Promise<{ dnatTo?: string; dnatPort?: number }> {
  try {
    const { stdout } = await sh(ctx, ['conntrack', '-L', '-p', q.protocol, '--orig-port-src', String(sport), '--orig-dst', q.dst]);
    const src = parseIPv4(q.src);
    const e = parseConntrack(stdout).find((x) => x.origSport === sport && (x.origSrc === src || q.src === ''));
    if (!e || formatIPv4(e.replySrc) === q.dst) return {};
    return { dnatTo: formatIPv4(e.replySrc), dnatPort: e.replySport };
  } catch {
    return {};
  }
}

interface RouteRow {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string | number;
  prefsrc?: string;
  scope?: string;
}

async function matchingRoute(ctx: TraceContext, ip: string): Promise<RouteRow | undefined> {
  const rows: RouteRow[] = [];
  for (const r of await json(ctx, ['ip', '-j', 'route', 'show', 'table', 'main'])) {
    const dst = asString(r.dst);
    if (dst === undefined) continue;
    const protocol = asString(r.protocol) ?? asNumber(r.protocol);
    rows.push({ dst, gateway: asString(r.gateway), dev: asString(r.dev), protocol, prefsrc: asString(r.prefsrc), scope: asString(r.scope) });
  }
  const n = parseIPv4(ip);
  let best: { r: RouteRow; c: Cidr } | undefined;
  for (const r of rows) {
    let c: Cidr;
    try {
      c = r.dst === 'default' ? { base: 0, prefix: 0 } : parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
    } catch {
      continue;
    }
    if (contains(c, n) && (!best || c.prefix > best.c.prefix)) best = { r, c };
  }
  return best?.r;
}

const routeText = (r: RouteRow) =>
  `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}${r.protocol !== undefined ? ` proto ${r.protocol}` : ''}${String(r.protocol) === String(ROUTE_PROTO) ? ' (k8ts)' : ''}`;

async function nftGet(ctx: TraceContext, table: string, set: string, keys: string[]): Promise<string[] | undefined> {
  try {
    const { stdout } = await sh(ctx, ['nft', 'get', 'element', 'ip', table, set, `{ ${keys.join(', ')} }`]);
    const m = /elements = \{([\s\S]*?)\}/.exec(stdout);
    return m
      ? m[1]
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [];
  } catch {
    return undefined;
  }
}

async function staticHops(q: TraceQuery, ctx: TraceContext, out: NodeTrace, lines: string[], conn: { dnatTo?: string; dnatPort?: number }): Promise<void> {
  const st = ctx.engine.programmer.state;
  const S = parseIPv4(q.src);
  const hop = (kind: string, text: string) => out.hops.push({ kind, text });
  const srcLocal = st.local.get(S);
  const proto = q.protocol === 'icmp' ? 1 : PROTO_NUMBER[q.protocol.toUpperCase() as 'TCP'];
  let inDev = 'cbr0';
  if (srcLocal && out.saw !== false) {
    const netns = ctx.netnsOfPod?.(srcLocal);
    if (netns) {
      const r = rowsOf(
        (await run(['nsenter', `--net=${netns}`, '--', 'ip', '-j', 'route', 'get', q.dst]).catch(() => ({ stdout: '[]' }))).stdout,
        'ip -j route get',
      )[0];
      const via = asString(r?.gateway);
      hop('pod', `pod ${srcLocal} eth0 ${q.src} → ${r ? `${via ? `via ${via} ` : ''}dev ${asString(r.dev) ?? '?'}` : 'no route'} (the pod's routing table)`);
      const l = rowsOf(
        (await run(['nsenter', `--net=${netns}`, '--', 'ip', '-j', 'link', 'show', 'eth0']).catch(() => ({ stdout: '[]' }))).stdout,
        'ip -j link show eth0',
      )[0];
      const peerIndex = asNumber(l?.link_index);
      const peer = peerIndex === undefined ? undefined : (await json(ctx, ['ip', '-j', 'link', 'show'])).find((x) => asNumber(x.ifindex) === peerIndex);
      const master = asString(peer?.master);
      if (peer) hop('veth', `veth ${asString(peer.ifname) ?? '?'} (the pod's peer, ifindex ${peerIndex}) → bridge ${master ?? '(none)'}`);
      inDev = master ?? 'cbr0';
    } else hop('pod', `pod ${srcLocal} ${q.src}`);
  } else {
    const pkt = lines.find((l) => / packet: iif "/.test(l));
    inDev = pkt ? /iif "([^"]+)"/.exec(pkt)![1] : inDev;
    hop('arrive', `arrives at node ${ctx.nodeName} on ${pkt ? inDev : '(no probe seen here)'} from ${q.src}`);
  }

  // Service DNAT: the proxy's maps.
  let dst = q.dst;
  let dport = q.port;
  if (q.protocol !== 'icmp' && q.port !== undefined) {
    const key = `${q.dst} . ${q.protocol} . ${q.port}`;
    let verdict = await nftGet(ctx, ctx.proxyTable, 'services', [key]);
    let np = false;
    const localAddr = await json(ctx, ['ip', '-j', 'route', 'get', q.dst]).then(
      ([r]) => r?.type === 'local' || r?.dev === 'lo',
      () => false,
    );
    if (!verdict?.length && localAddr) {
      verdict = await nftGet(ctx, ctx.proxyTable, 'nodeports', [`${q.protocol} . ${q.port}`]);
      np = Boolean(verdict?.length);
    }
    const svc = ctx.services.find((s) =>
      np
        ? (s.spec?.ports ?? []).some((p) => p.nodePort === q.port)
        : [
            ...(s.spec?.clusterIPs ?? [s.spec?.clusterIP]),
            ...(s.spec?.externalIPs ?? []),
            ...(s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip),
          ].includes(q.dst),
    );
    const svcName = svc ? `service ${svc.metadata.namespace}/${svc.metadata.name}` : 'a service';
    if (verdict?.length) {
      const v = verdict[0].split(':').slice(1).join(':').trim();
      const m = /goto (np-)?(x)?pick-(\d+)/.exec(v);
      if (m) {
        const n = Number(m[3]);
        const keys = Array.from({ length: n }, (_, i) => (np ? `${q.protocol} . ${q.port} . ${i}` : `${key} . ${i}`));
        const be = (await nftGet(ctx, ctx.proxyTable, np ? 'npbackends' : 'backends', keys)) ?? [];
        const list = be.map((e) => e.split(':').slice(1).join(':').trim().replace(' . ', ':'));
        const chosen = conn.dnatTo ? `${conn.dnatTo}:${conn.dnatPort}` : undefined;
        hop(
          'dnat',
          `${svcName}: ${np ? 'NodePort' : 'ip'} ${q.dst}:${q.port}/${q.protocol.toUpperCase()} → map ${np ? 'nodeports' : 'services'} → chain ${v.replace('goto ', '')}: one of ${n} endpoint(s) [${list.join(', ')}] picked at random per connection${chosen ? `; the probe got ${chosen}` : ''}${m[2] ? '; marked for masquerade (0x4000)' : ''}`,
        );
        if (conn.dnatTo) {
          dst = conn.dnatTo;
          dport = conn.dnatPort;
        } else if (list[0]) {
          [dst] = list[0].split(':');
          dport = Number(list[0].split(':')[1]);
        }
      } else if (v === 'drop') hop('dnat', `${svcName}: ${q.dst}:${q.port} → drop (traffic policy Local and no endpoint on this node)`);
      else hop('dnat', `${svcName}: ${q.dst}:${q.port} → ${v} (session affinity chain)`);
      if (conn.dnatTo && !m) {
        dst = conn.dnatTo;
        dport = conn.dnatPort;
      }
    } else if ((await nftGet(ctx, ctx.proxyTable, localAddr ? 'npnoeps' : 'noeps', [localAddr ? `${q.protocol} . ${q.port}` : key]))?.length) {
      hop('dnat', `${svcName}: ${q.dst}:${q.port} has no endpoints → rejected (set ${localAddr ? 'npnoeps' : 'noeps'})`);
    }
  }

  // NetworkPolicy: what the kernel holds for each local end, and why (from the policies).
  const D = parseIPv4(dst);
  const v = ctx.engine.verdict(q.src, dst, proto, dport);
  for (const [dir, ip, side, map] of [
    ['out', S, v.egress, 'egress'],
    ['in', D, v.ingress, 'ingress'],
  ] as const) {
    if (!st.local.has(ip)) continue;
    const isolated = (await nftGet(ctx, ctx.policyTable, map, [formatIPv4(ip)]))?.length;
    if (!isolated) {
      hop('policy', `${dir === 'out' ? 'egress from' : 'ingress to'} ${st.local.get(ip)}: not isolated (no element in map ${map}) — ${side.reason}`);
      continue;
    }
    const peer = dir === 'out' ? D : S;
    const cls =
      (await nftGet(ctx, ctx.policyTable, 'podclass', [formatIPv4(peer)]))?.[0] ?? (await nftGet(ctx, ctx.policyTable, 'netclass', [formatIPv4(peer)]))?.[0];
    const clsNum = cls ? Number(cls.split(':').pop()!.trim()) : undefined;
    // A pod peer may also have a namespace class (its own namespace's podSelector peers): looked up second.
    const local = (await nftGet(ctx, ctx.policyTable, 'podlocal', [formatIPv4(peer)]))?.[0];
    const localNum = local ? Number(local.split(':').pop()!.trim()) : undefined;
    let inSet: string | false | undefined;
    for (const c of [clsNum, localNum]) {
      if (c === undefined || proto === 1 || inSet) continue;
      // Exact allowances live in the shared hash set keyed by the pod's address too, the rest in the pod's own set.
      const key = `${c} . ${proto} . ${dport ?? 0}`;
      if ((await nftGet(ctx, ctx.policyTable, EXACT_SET[dir], [`${formatIPv4(ip)} . ${key}`]))?.length) inSet = `${EXACT_SET[dir]} (class ${c})`;
      else if ((await nftGet(ctx, ctx.policyTable, podObjects(dir, ip).set, [key]))?.length) inSet = `${podObjects(dir, ip).set} (class ${c})`;
      else inSet = false;
    }
    const classes = `class ${clsNum ?? '?'}${localNum === undefined ? '' : ` and namespace class ${localNum}`}`;
    hop(
      'policy',
      `${dir === 'out' ? 'egress from' : 'ingress to'} ${st.local.get(ip)}: isolated by ${side.isolatedBy.join(', ')}; peer ${formatIPv4(peer)} is ${classes}${inSet === undefined ? '' : inSet ? `, in set ${inSet}` : `, not in set ${EXACT_SET[dir]} or ${podObjects(dir, ip).set}`} → ${side.allowed ? 'ALLOWED' : 'DENIED'}: ${side.reason}`,
    );
  }

  // Routing after DNAT.
  const localDst = st.local.get(D);
  const rt = await matchingRoute(ctx, dst);
  if (rt) hop('route', `node ${ctx.nodeName} routing table: ${dst} matches ${routeText(rt)}`);
  if (localDst || rt?.dev === 'cbr0') {
    const neigh = (await json(ctx, ['ip', '-j', 'neigh', 'show', dst, 'dev', 'cbr0']))[0];
    const lladdr = asString(neigh?.lladdr);
    const fdb = lladdr
      ? (await json(ctx, ['bridge', '-j', 'fdb', 'show', 'br', 'cbr0'])).find((f) => f.mac === lladdr && asString(f.ifname) && f.ifname !== 'cbr0')
      : undefined;
    hop(
      'bridge',
      `cbr0: neighbour ${dst} ${lladdr ? `is ${lladdr} (${strings(neigh?.state).join(',')})` : 'not yet resolved'}${fdb ? `, bridge FDB: ${lladdr} on port ${asString(fdb.ifname)}` : ''} → veth → ${localDst ? `pod ${localDst}` : dst} eth0${dport ? `:${dport}` : ''}`,
    );
    out.next = undefined;
  } else if (rt?.dev === VXLAN_DEV && rt.gateway) {
    const lladdr = asString((await json(ctx, ['ip', '-j', 'neigh', 'show', rt.gateway, 'dev', VXLAN_DEV]))[0]?.lladdr);
    const fdbDst = lladdr
      ? (await json(ctx, ['bridge', '-j', 'fdb', 'show', 'dev', VXLAN_DEV])).map((f) => (f.mac === lladdr ? asString(f.dst) : undefined)).find(Boolean)
      : undefined;
    hop(
      'vxlan',
      `${VXLAN_DEV}: VTEP ${rt.gateway} → neighbour MAC ${lladdr ?? '?'} → FDB ${fdbDst ? `dst ${fdbDst}` : 'no entry'} (VXLAN over UDP to the other node)`,
    );
    if (fdbDst) out.next = { nodeIP: fdbDst, dst };
  } else if (rt?.gateway) {
    hop('node-network', `out ${rt.dev} to ${rt.gateway} on the node network`);
    out.next = { nodeIP: rt.gateway, dst };
  } else if (rt?.dev) {
    hop('node-network', `out ${rt.dev} (directly connected)`);
  }

  // Masquerade: the agent's nat table (pods to non-pods, non-nodes) or the proxy's mark.
  try {
    const cluster = (await sh(ctx, ['nft', '-j', 'list', 'table', 'ip', 'k8ts-nat'])).stdout;
    const m = /"prefix":\s*\{\s*"addr":\s*"([\d.]+)",\s*"len":\s*(\d+)/.exec(cluster);
    if (m) {
      const c = parseCidr(`${m[1]}/${m[2]}`);
      const nodes = (await nftGet(ctx, 'k8ts-nat', 'nodes', [dst]))?.length;
      if (contains(c, S) && !contains(c, D) && !nodes)
        hop('masquerade', `masquerade: ${q.src} → this node's address (table ip k8ts-nat: pod to a host that is neither a pod nor a node)`);
    }
  } catch {
    /* no nat table */
  }

  // What the probe did here, from the trace.
  const drop = lines.find((l) => /verdict drop|policy drop/.test(l));
  if (drop) {
    out.outcome = 'dropped';
    out.dropped = drop.replace(/^trace id \S+ /, '');
    hop('verdict', `probe DROPPED here: ${out.dropped}`);
  } else if (lines.some((l) => / tpost policy accept/.test(l) || / tfwd policy accept/.test(l))) {
    out.outcome = localDst || !out.next ? 'delivered' : 'forwarded';
    const pkt = [...lines].reverse().find((l) => /oif "/.test(l));
    hop('verdict', `probe passed every chain here${pkt ? ` and left on ${/oif "([^"]+)"/.exec(pkt)![1]}` : ''}`);
  } else if (lines.some((l) => / tin policy accept/.test(l))) {
    out.outcome = 'delivered';
    hop('verdict', 'probe delivered to this node itself');
  }
}
