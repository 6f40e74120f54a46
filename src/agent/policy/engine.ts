// The NetworkPolicy engine of one node: fed by informers (policies, namespaces, pods) and by the pod loop
// (a local pod's address at CNI ADD, before its containers start), it compiles what this node's kernel
// must hold, programs it (programmer.ts), cuts the established connections a change stopped allowing,
// and turns the kernel's drop log into Events on the pods and a list for `k8ts drops`.
import { networkInterfaces } from 'node:os';
import type { KObject, Pod as KPod, Service } from '../../api/types.js';
import { run } from '../../util/exec.js';
import { formatIPv4, parseIPv4 } from '../../util/cidr.js';
import { PolicyCompiler, type PolicyState } from './compiler.js';
import { DropLogReader, type LoggedPacket } from './droplog.js';
import { parseNamespace, parsePod, parsePolicy, PROTO_NAME, type Pod } from './model.js';
import { PolicyProgrammer } from './programmer.js';
import { LOG_GROUP, LOG_PREFIX } from './ruleset.js';
import { judge, type Flow, type Verdict, type World } from './verdict.js';

export type WatchEvent = 'ADDED' | 'MODIFIED' | 'DELETED';

/** The prefix the service proxy logs its "no endpoints" rejects with (same NFLOG group). */
export const NOEPS_PREFIX = 'k8ts-svc noeps';

export interface DropRecord {
  time: string;
  node: string;
  direction: 'ingress' | 'egress' | 'service';
  /** The pod (namespace/name) or Service the drop is about. */
  object?: string;
  src: string;
  dst: string;
  protocol: string;
  sport?: number;
  dport?: number;
  reason: string;
}

export interface PolicyEngineOptions {
  nodeName: string;
  /** Run nft, conntrack and tcpdump in this network namespace; default: our own. */
  netns?: string;
  table?: string;
  guardTable?: string;
  logGroup?: number;
  /** Changes arriving within this window are compiled together; default 2 ms. */
  debounceMs?: number;
  /** Cut established connections a change no longer allows (needs `conntrack`); default true. */
  conntrack?: boolean;
  /** Read the drop log (needs `tcpdump`); default true. */
  dropLog?: boolean;
  /** Record an Event (the agent's recorder); the engine limits how often. */
  event?: (obj: KObject, type: 'Normal' | 'Warning', reason: string, message: string) => void;
  /** The Service behind a ClusterIP/port, for naming "no endpoints" rejects. */
  serviceAt?: (ip: string, protocol: string, port: number) => Service | undefined;
  log?: (line: string) => void;
}

export class PolicyEngine {
  readonly compiler: PolicyCompiler;
  readonly programmer: PolicyProgrammer;
  private reader?: DropLogReader;
  private objects = new Map<string, KPod>();
  private podRelevance = new Map<string, string>();
  private started = false;
  private timer?: NodeJS.Timeout;
  private passing: Promise<void> = Promise.resolve();
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private drops: DropRecord[] = [];
  private eventKeys = new Map<string, { message: string; at: number }>();
  private eventBudget = { at: 0, left: 0 };
  private localAddrs = new Set<number>();
  readonly stats = { passes: 0, lastCompileMs: 0, lastProgramMs: 0, revoked: 0, logged: 0 };
  /** Drops read from the log, by direction (ingress, egress, service: a service with no endpoints). */
  readonly loggedByDirection: Record<string, number> = { ingress: 0, egress: 0, service: 0 };

  constructor(private o: PolicyEngineOptions) {
    this.compiler = new PolicyCompiler(o.nodeName);
    this.programmer = new PolicyProgrammer({ table: o.table, guardTable: o.guardTable, logGroup: o.logGroup, netns: o.netns, log: o.log });
  }

  onPolicy(type: WatchEvent, o: KObject): void {
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    if (type === 'DELETED') this.compiler.deletePolicy(key);
    else {
      const { policy, problems } = parsePolicy(o);
      if (problems.length) this.o.log?.(`policy ${key}: left out in part: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
      if (policy) this.compiler.setPolicy(policy);
      else this.compiler.deletePolicy(key);
    }
    this.schedule();
  }

  onNamespace(type: WatchEvent, o: KObject): void {
    if (type === 'DELETED') this.compiler.deleteNamespace(o.metadata.name!);
    else {
      const n = parseNamespace(o);
      if (n) this.compiler.setNamespace(n);
    }
    this.schedule();
  }

  onPod(type: WatchEvent, o: KPod): void {
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    const old = this.objects.get(key);
    if (type === 'DELETED') {
      this.objects.delete(key);
      this.compiler.deletePod(key);
      if (o.metadata.uid) this.compiler.forgetLocalIP(o.metadata.uid);
    } else {
      const p = parsePod(o);
      if (!p) return;
      if (old && old.metadata.uid !== o.metadata.uid && old.metadata.uid) this.compiler.forgetLocalIP(old.metadata.uid);
      this.objects.set(key, o);
      // Most pod updates are status (conditions, restarts): nothing a policy looks at.
      const k = relevance(p);
      if (this.podRelevance.get(key) === k) return;
      this.podRelevance.set(key, k);
      this.compiler.setPod(p);
    }
    if (type === 'DELETED') this.podRelevance.delete(key);
    this.schedule();
  }

  /**
   * The pod loop's seam: a local pod's sandbox has this address; resolves once the pod's rules (and its
   * address as a peer) are in the kernel, so its containers start behind them.
   */
  async localPodReady(pod: KPod, ip: string): Promise<void> {
    const p = parsePod(pod);
    if (!p) throw new Error(`pod ${pod.metadata?.namespace}/${pod.metadata?.name} has no name`);
    this.objects.set(p.key, pod);
    this.podRelevance.set(p.key, relevance(p));
    this.compiler.setPod(p);
    const addr = parseIPv4(ip);
    this.compiler.setLocalIP(p.uid, addr);
    await this.settled();
    const st = this.programmer.state;
    if (st.ingress.has(addr) || st.egress.has(addr)) await this.forgetEarlier(addr);
  }

  /**
   * What the node let through to or from a local pod's address before it was isolated must not reach the
   * pod after: a SYN judged while the address was open can wait in the bridge's ARP queue for up to a
   * second and be handed to the pod once it listens, its flow already in conntrack, so the answer passes as
   * an established reply. The asynchronous revocation (revoke) would cut it, but a pod that starts fast can
   * beat it. So before the pod's containers start: its neighbour entries go (the kernel drops what they
   * queued), and the flows of the address that no policy allows are cut.
   */
  private async forgetEarlier(ip: number): Promise<void> {
    const a = formatIPv4(ip);
    await run([...this.prefix(), 'ip', 'neigh', 'flush', 'to', a]).catch((e) => this.o.log?.(`policy: ip neigh flush to ${a}: ${(e as Error).message}`));
    if (!(this.o.conntrack ?? true)) return;
    const lists = await Promise.all(
      ['--reply-src', '--orig-src'].map((f) =>
        run([...this.prefix(), 'conntrack', '-L', f, a], { timeoutMs: 10_000 }).then(
          (r) => r.stdout,
          (e) => String(e.stdout ?? ''),
        ),
      ),
    );
    await this.cut(parseConntrack(lists.join('\n')), new Set([ip]));
  }

  /** Program everything known now, then keep it programmed. Call once the informers' caches are full. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.refreshLocalAddrs();
    await this.runPass();
    this.programmer.watch();
    if (this.o.dropLog ?? true) {
      this.reader = new DropLogReader({ group: this.o.logGroup ?? LOG_GROUP, netns: this.o.netns, onPacket: (p) => this.onDrop(p), log: this.o.log });
      this.reader.start();
    }
  }

  /** Resolves once every change seen so far is in the kernel (rejects if that programming failed). */
  settled(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (this.started) this.schedule(0);
    });
  }

  /** Whether the drop log reader is bound (tests wait for it before sending what must be logged). */
  dropLogReady(timeoutMs?: number): Promise<boolean> {
    return this.reader ? this.reader.ready(timeoutMs) : Promise.resolve(false);
  }

  private schedule(ms = this.o.debounceMs ?? 2): void {
    if (!this.started) return;
    if (this.timer) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runPass();
    }, ms);
  }

  private runPass(): Promise<void> {
    const waiters = this.waiters.splice(0);
    this.passing = this.passing
      .then(() => this.pass())
      .then(
        () => waiters.forEach((w) => w.resolve()),
        (e: Error) => {
          waiters.forEach((w) => w.reject(e));
          this.o.log?.(`policy: ${e.message}`);
          setTimeout(() => this.schedule(0), 500).unref();
        },
      );
    return this.passing;
  }

  private async pass(): Promise<void> {
    const t0 = performance.now();
    const before = this.programmer.state;
    const after = this.compiler.compile();
    const t1 = performance.now();
    await this.programmer.apply(after);
    this.stats.passes++;
    this.stats.lastCompileMs = t1 - t0;
    this.stats.lastProgramMs = performance.now() - t1;
    // Off the programming path: a long conntrack table must not delay the next change.
    if (this.o.conntrack ?? true) {
      this.revoking = this.revoking.then(() => this.revoke(before, after)).catch((e) => this.o.log?.(`policy: conntrack: ${(e as Error).message}`));
    }
  }

  private revoking: Promise<void> = Promise.resolve();

  /** Resolves once the connections earlier changes stopped allowing are cut (tests). */
  revoked(): Promise<void> {
    return this.revoking;
  }

  // ---- cutting what is no longer allowed ----

  /** Local pods whose allowances may have shrunk between two states. */
  private shrunk(before: PolicyState, after: PolicyState): Set<number> {
    const out = new Set<number>();
    let classesMoved = false;
    for (const [ip, c] of before.podClass) if (after.podClass.get(ip) !== c) classesMoved = true;
    for (const [ip, c] of before.podLocal) if (after.podLocal.get(ip) !== c) classesMoved = true;
    if (before.netClass.length !== after.netClass.length || before.netClass.some((r, i) => r.cls !== after.netClass[i].cls || r.lo !== after.netClass[i].lo))
      classesMoved = true;
    for (const [b, a] of [
      [before.ingress, after.ingress],
      [before.egress, after.egress],
    ] as const) {
      for (const [ip, r] of a) {
        const old = b.get(ip);
        // The compiler hands back the same array for a pod whose rules held: no join for those.
        if (!old || classesMoved || (old.elements !== r.elements && old.elements.join() !== r.elements.join())) out.add(ip);
      }
    }
    return out;
  }

  private async revoke(before: PolicyState, after: PolicyState): Promise<void> {
    if (before === after || (!before.local.size && !before.podClass.size)) return;
    const pods = this.shrunk(before, after);
    if (!pods.size) return;
    const { stdout } = await run([...this.prefix(), 'conntrack', '-L'], { timeoutMs: 10_000 }).catch((e) => ({ stdout: String(e.stdout ?? '') }));
    await this.cut(parseConntrack(stdout), pods);
  }

  /** Delete the live flows with one of `pods` that the policies do not allow. */
  private async cut(entries: ConntrackEntry[], pods: Set<number>): Promise<void> {
    const world = this.world();
    const dels: string[][] = [];
    for (const e of entries) {
      // Only live flows: a closing or closed TCP entry carries nothing more.
      if (e.state && e.state !== 'ESTABLISHED' && e.state !== 'SYN_RECV' && e.state !== 'SYN_SENT') continue;
      // After DNAT the reply comes from the backend: that is who the flow is with.
      const dst = e.replySrc;
      const src = e.origSrc;
      if (!pods.has(src) && !pods.has(dst)) continue;
      const v = judge(world, this.flow(src, dst, e.proto, e.replySport));
      if (v.allowed) continue;
      const args = ['-D', '-p', String(e.proto), '-s', formatIPv4(e.origSrc), '-d', formatIPv4(e.origDst)];
      if (e.origSport !== undefined) args.push('--sport', String(e.origSport), '--dport', String(e.origDport));
      dels.push(args);
    }
    for (let i = 0; i < dels.length; i += 8) {
      await Promise.all(dels.slice(i, i + 8).map((a) => run([...this.prefix(), 'conntrack', ...a]).catch(() => undefined)));
    }
    this.stats.revoked += dels.length;
    if (dels.length) this.o.log?.(`policy: cut ${dels.length} established connection(s) no policy allows any more`);
  }

  // ---- judging in user space (trace, revocation, drop reasons) ----

  world(): World {
    const byIp = new Map<number, Pod>();
    for (const p of this.compiler.podList()) {
      const ip = this.compiler.ipOf(p);
      if (ip !== undefined) byIp.set(ip, p);
    }
    return { policies: this.compiler.policyList(), namespace: (n) => this.compiler.namespace(n), podAt: (ip) => byIp.get(ip) };
  }

  /** A flow as this node sees it: its own addresses count as "the pod's node" for its own pods. */
  flow(src: number, dst: number, proto: number, port?: number): Flow {
    const st = this.programmer.state;
    return { src, dst, proto, port, srcIsDstNode: this.localAddrs.has(src) && st.local.has(dst), dstIsSrcNode: this.localAddrs.has(dst) && st.local.has(src) };
  }

  /** Judge a flow with what this node knows. */
  verdict(src: string, dst: string, proto: number, port?: number): Verdict {
    return judge(this.world(), this.flow(parseIPv4(src), parseIPv4(dst), proto, port));
  }

  private async refreshLocalAddrs(): Promise<void> {
    try {
      const s = new Set<number>();
      if (this.o.netns) {
        const { stdout } = await run([...this.prefix(), 'ip', '-j', '-4', 'addr', 'show']);
        for (const l of JSON.parse(stdout)) for (const a of l.addr_info ?? []) if (a.local) s.add(parseIPv4(a.local));
      } else {
        // The agent's own namespace: getifaddrs(3) in this process, no program.
        for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) if (a.family === 'IPv4') s.add(parseIPv4(a.address));
      }
      this.localAddrs = s;
    } catch (e) {
      this.o.log?.(`policy: cannot list this node's addresses: ${(e as Error).message}`);
    }
  }

  // ---- the drop log ----

  private onDrop(p: LoggedPacket): void {
    this.stats.logged++;
    const proto = PROTO_NAME[p.proto] ?? (p.proto === 1 ? 'ICMP' : String(p.proto));
    const base = {
      time: new Date(p.time * 1000).toISOString(),
      node: this.o.nodeName,
      src: p.src,
      dst: p.dst,
      protocol: proto,
      sport: p.sport,
      dport: p.dport,
    };
    let rec: DropRecord;
    let obj: KObject | undefined;
    if (p.prefix.startsWith(NOEPS_PREFIX)) {
      const svc = p.dport !== undefined ? this.o.serviceAt?.(p.dst, proto, p.dport) : undefined;
      obj = svc;
      const name = svc ? `${svc.metadata.namespace}/${svc.metadata.name}` : undefined;
      rec = { ...base, direction: 'service', object: name, reason: `service ${name ?? `${p.dst}:${p.dport}`} has no endpoints` };
    } else {
      const dir = p.prefix.startsWith(LOG_PREFIX.out) ? 'egress' : 'ingress';
      let v: Verdict | undefined;
      try {
        v = this.verdict(p.src, p.dst, p.proto, p.dport);
      } catch {
        v = undefined;
      }
      const side = dir === 'ingress' ? v?.ingress : v?.egress;
      const key = side?.pod;
      obj = key ? this.objects.get(key) : undefined;
      const reason = side && !side.allowed ? side.reason : 'no policy allows it';
      rec = { ...base, direction: dir, object: key, reason };
    }
    this.drops.push(rec);
    this.loggedByDirection[rec.direction] = (this.loggedByDirection[rec.direction] ?? 0) + 1;
    if (this.drops.length > 1000) this.drops.splice(0, this.drops.length - 1000);
    if (obj) this.emit(obj, rec);
  }

  /** An Event per (object, direction, peer, port) at most once a minute, and at most 5 a second in all. */
  private emit(obj: KObject, r: DropRecord): void {
    if (!this.o.event) return;
    const now = Date.now();
    const peer = r.direction === 'egress' ? r.dst : r.src;
    const k = `${obj.metadata.uid}/${r.direction}/${peer}/${r.dport}/${r.protocol}/${r.reason}`;
    const seen = this.eventKeys.get(k);
    if (seen && now - seen.at < 60_000) return;
    if (now - this.eventBudget.at > 1000) this.eventBudget = { at: now, left: 5 };
    if (this.eventBudget.left-- <= 0) return;
    const port = r.dport !== undefined ? `:${r.dport}/${r.protocol}` : ` (${r.protocol})`;
    const message =
      r.direction === 'service'
        ? `rejected ${r.src}${r.sport !== undefined ? `:${r.sport}` : ''} to ${r.dst}${port}: no endpoints`
        : r.direction === 'ingress'
          ? `denied ingress from ${r.src}${r.sport !== undefined ? `:${r.sport}` : ''} to ${port}: ${r.reason}`
          : `denied egress to ${r.dst}${port}: ${r.reason}`;
    this.eventKeys.set(k, { message, at: now });
    if (this.eventKeys.size > 5000) this.eventKeys.delete(this.eventKeys.keys().next().value!);
    this.o.event(obj, 'Warning', r.direction === 'service' ? 'NoEndpoints' : 'PolicyDenied', message);
  }

  /** The most recent drops this node logged (newest last). */
  recentDrops(limit = 200): DropRecord[] {
    return this.drops.slice(-limit);
  }

  /** Kernel drop counters per local pod and direction, and per policy (a drop counts for each policy isolating the pod). */
  async counters(): Promise<{
    pods: { pod: string; direction: string; packets: number }[];
    policies: { policy: string; direction: string; packets: number }[];
  }> {
    const c = await this.programmer.dropCounters();
    const st = this.programmer.state;
    const pods: { pod: string; direction: string; packets: number }[] = [];
    const pol = new Map<string, number>();
    for (const [dir, m] of [
      ['ingress', st.ingress],
      ['egress', st.egress],
    ] as const) {
      for (const r of m.values()) {
        const n = c.get(this.programmer.counterName(dir === 'ingress' ? 'in' : 'out', r.ip)) ?? 0;
        pods.push({ pod: r.pod, direction: dir, packets: n });
        for (const p of r.policies) pol.set(`${p}\0${dir}`, (pol.get(`${p}\0${dir}`) ?? 0) + n);
      }
    }
    return { pods, policies: [...pol].map(([k, packets]) => ({ policy: k.split('\0')[0], direction: k.split('\0')[1], packets })) };
  }

  private prefix(): string[] {
    return this.o.netns ? ['nsenter', `--net=${this.o.netns}`, '--'] : [];
  }

  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.timer);
    await this.passing;
    await this.revoking;
    await this.reader?.stop();
    await this.programmer.stop();
  }

  /** Stop and remove the tables (k8ts down, tests). */
  async teardown(): Promise<void> {
    await this.stop();
    await this.programmer.teardown();
  }
}

/** What of a pod the policies look at: a pod update that keeps it changes nothing. */
function relevance(p: Pod): string {
  return JSON.stringify([p.uid, p.ip, p.nodeName, p.hostNetwork, Object.entries(p.labels).sort(), p.namedPorts]);
}

export interface ConntrackEntry {
  proto: number;
  /** TCP state (ESTABLISHED, TIME_WAIT, …); undefined for other protocols. */
  state?: string;
  origSrc: number;
  origDst: number;
  origSport?: number;
  origDport?: number;
  replySrc: number;
  replySport?: number;
}

/** `conntrack -L` lines: the protocol number, then the original and the reply tuple. */
export function parseConntrack(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^\S+\s+(\d+)\s/.exec(line);
    if (!m) continue;
    const src = [...line.matchAll(/\bsrc=(\d+\.\d+\.\d+\.\d+)/g)].map((x) => x[1]);
    const dst = [...line.matchAll(/\bdst=(\d+\.\d+\.\d+\.\d+)/g)].map((x) => x[1]);
    const sport = [...line.matchAll(/\bsport=(\d+)/g)].map((x) => Number(x[1]));
    const dport = [...line.matchAll(/\bdport=(\d+)/g)].map((x) => Number(x[1]));
    if (src.length < 2 || dst.length < 2) continue;
    try {
      const st = /^tcp\s+\d+\s+\d+\s+([A-Z_]+)\s/.exec(line)?.[1];
      out.push({
        proto: Number(m[1]),
        ...(st ? { state: st } : {}),
        origSrc: parseIPv4(src[0]),
        origDst: parseIPv4(dst[0]),
        origSport: sport[0],
        origDport: dport[0],
        replySrc: parseIPv4(src[1]),
        replySport: sport[1],
      });
    } catch {
      /* not IPv4 */
    }
  }
  return out;
}
