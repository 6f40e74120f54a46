// NetworkPolicy benchmark, with 1,000 policies and 1,000 pods (100 namespaces, 500 pods local to each of two
// "nodes": two throwaway node namespaces, each with its own policy engine fed the same objects; node a's
// engine runs in this process, node b's in a process of its own (netpol-node.ts), as two agents would, so
// their JS work is not serialised in one event loop and each node's CPU per change is counted apart):
//   1. full ruleset load (compile + one nft transaction through the engine's nft -i session) ≤ 0.5 s, and its CPU time — anchor, same run: the same allow sets
//      written per peer address instead of per peer class (the layout without classes), by `nft -f`;
//   2. applied → enforced on every node, p99 ≤ 100 ms — anchor, same run: the floor, a one-element `nft -f`
//      transaction in the same namespace (a spawned `nft -f`); with node a's stages of each change (compile,
//      difference text, nft -i transaction); and, for a few changes, until a real connection sees the change;
//   3. connection setup rate and TCP throughput between two pods with the 1,000 policies in force (the
//      server isolated, the client allowed through its peer class) ≥ 0.95 of the same pods with no policy
//      (anchor, same run: the same pods with the policies taken away, in ABBA rounds so that the machine's
//      drift within a round cancels; a twin server no policy selects, measured by the same client at the
//      same moment, shows the drift that is left).
// Everything lives in namespaces named k8tspx-… (removed at the end, also on failure or Ctrl-C). Needs root.
//   node dist/bench/netpol.js [--changes 50] [--rounds 20] [--seconds 1] [--conn-seconds 1]
//   K8TS_CENSUS=1: who used the CPU in each connection window; K8TS_PERF=DIR: a system-wide perf profile of each
//   window into DIR, and netfilter's share of the samples with and without the policies
import { performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { nftEnv, run, spawnProcess } from '../src/util/exec.js';
import { formatIPv4, parseIPv4 } from '../src/util/cidr.js';
import { IS_ROOT, ProxyLab, type Pod as LabPod } from '../src/agent/proxy/testing.js';
import { PolicyEngine } from '../src/agent/policy/engine.js';
import type { PolicyState } from '../src/agent/policy/compiler.js';
import { fullRuleset, podObjects } from '../src/agent/policy/ruleset.js';
import { compilePolicies } from '../src/agent/policy/compiler.js';
import { parseNamespace, parsePod, parsePolicy } from '../src/agent/policy/model.js';
import { fmt, type Proc, processTable, summarize, table } from './lib.js';
import type { KObject } from '../src/api/types.js';
import type { WatchEvent } from '../src/agent/policy/engine.js';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Reply, Request } from './netpol-node.js';
import { change, NAMESPACES, np, ns, pod, pods, policies } from './netpol-world.js';
import { prober } from './proxy/prober.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const CHANGES = Number(arg('changes', '50'));
// Twenty ABBA rounds of 1 s windows: this machine's speed drifts by ±20 % over seconds (a VM whose CPU time
// per connection moved by half between two windows under perf), so with 7 rounds of 2–3 s windows the
// median on ÷ off came out at 0.93–0.96 for the server and for the twin alike, and with 20 rounds of 1 s
// at 0.98 and 0.99 (paired 1.00 in both).
const ROUNDS = Number(arg('rounds', '20'));
/** iperf3's seconds per state and round. */
const SECONDS = Number(arg('seconds', '1'));
/** Seconds of each connection-rate window (four per round). */
const CONN_SECONDS = Number(arg('conn-seconds', '1'));

/** Node b's engine in its own process (bench/netpol-node.ts), driven over the IPC channel. */
class RemoteNode {
  private child: ChildProcess;
  private seq = 0;
  private waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  /** The answer to the last request (CPU so far, the last pass's stages). */
  last?: Reply;

  constructor() {
    this.child = fork(fileURLToPath(new URL('./netpol-node.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (r: Reply) => {
      const w = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      this.last = r;
      if (r.error) w?.reject(new Error(`node b: ${r.error}`));
      else w?.resolve(r);
    });
    this.child.on('exit', (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`node b's process ended (${code ?? signal})`));
      this.waiting.clear();
    });
  }

  send(m: Request): void {
    this.child.send(m);
  }

  private ask(op: 'start' | 'settle' | 'teardown'): Promise<Reply> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.send({ op, id });
    });
  }

  onNamespace(type: WatchEvent, obj: KObject): void {
    this.send({ op: 'namespace', type, obj });
  }
  onPod(type: WatchEvent, obj: LabPodObject): void {
    this.send({ op: 'pod', type, obj });
  }
  onPolicy(type: WatchEvent, obj: KObject): void {
    this.send({ op: 'policy', type, obj });
  }
  async start(): Promise<void> {
    await this.ask('start');
  }
  async settled(): Promise<void> {
    await this.ask('settle');
  }
  async teardown(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    await this.ask('teardown').catch(() => undefined);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}
type LabPodObject = ReturnType<typeof pod>;

const labs: ProxyLab[] = [];
const engines: (PolicyEngine | RemoteNode)[] = [];
/** The servers started in the pods (killed at the end, also on failure: a process outlives its netns). */
const servers: ReturnType<typeof spawnProcess>[] = [];
const cleanup = async () => {
  for (const p of servers.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const e of engines) await e.teardown().catch(() => undefined);
  for (const l of labs) await l.cleanup();
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void cleanup().finally(() => process.exit(130)));
const log = (s: string) => process.stderr.write(`[netpol] ${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The real pods on node a (the client allowed to the server by class, on the ports the benchmark uses). */
const REAL_POLICY = np('ns0', 'web', {
  podSelector: { matchLabels: { app: 'web' } },
  ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 80 }, { port: 8080 }, { port: 5201 }] }],
});

// ---- helpers ----

async function settleAll(): Promise<void> {
  await Promise.all(engines.map((e) => e.settled()));
}

/** The anchor of the full load: the same allow sets with every class written out as its member addresses. */
function perAddressRuleset(s: PolicyState, table: string): string {
  const members = new Map<number, number[]>();
  for (const [ip, c] of [...s.podClass, ...s.podLocal]) {
    let l = members.get(c);
    if (!l) members.set(c, (l = []));
    l.push(ip);
  }
  const out = [`table ip ${table}`, `delete table ip ${table}`, `table ip ${table} {`];
  const adds: string[] = [];
  for (const [dir, m] of [
    ['in', s.ingress],
    ['out', s.egress],
  ] as const) {
    for (const r of m.values()) {
      const o = podObjects(dir, r.ip);
      out.push(`  set ${o.set} { typeof ip saddr . meta l4proto . th dport; flags interval; }`);
      const els: string[] = [];
      for (const e of r.elements) {
        const [cls, proto, port] = e.split(' . ');
        const [lo, hi] = cls.split('-').map(Number);
        if (hi === undefined && lo === undefined) continue;
        if (cls === '0-4294967294') els.push(`0.0.0.0-255.255.255.255 . ${proto} . ${port}`);
        else for (let c = lo; c <= (hi ?? lo); c++) for (const ip of members.get(c) ?? []) els.push(`${formatIPv4(ip)} . ${proto} . ${port}`);
      }
      for (let i = 0; i < els.length; i += 2000) adds.push(`add element ip ${table} ${o.set} { ${els.slice(i, i + 2000).join(', ')} }`);
    }
  }
  out.push('}', ...adds, '');
  return out.join('\n');
}

const CONN_SERVER = `const net=require('net');net.createServer((s)=>s.end()).listen(8080,()=>console.log('listening'));`;
// One client process connects to every target at once (its workers alternate between them), so each
// target's count sees the same CPU, the same load and the same moment of the run.
const CONN_CLIENT = `const net=require('net');const [secs,width,...ips]=process.argv.slice(1);const end=Date.now()+secs*1000;const n=ips.map(()=>0);let errs=0;
const one=(t)=>new Promise((r)=>{const s=net.connect({host:ips[t],port:8080});s.on('error',()=>{errs++;r()});s.on('close',()=>r());s.on('data',()=>{});s.on('end',()=>{n[t]++;s.destroy()})});
(async()=>{await Promise.all(Array.from({length:+width},async(_,w)=>{while(Date.now()<end)await one(w%ips.length)}));console.log(JSON.stringify({n,errs,rate:n.map((x)=>x/secs)}))})();`;

/** Who used the CPU between two process tables (CPU ms per command name, the 6 largest). */
function censusDiff(a: Map<number, Proc>, b: Map<number, Proc>): string {
  const by = new Map<string, number>();
  for (const [pid, x] of b) {
    const d = x.ticks - (a.get(pid)?.ticks ?? 0);
    if (d > 0) by.set(x.comm, (by.get(x.comm) ?? 0) + d);
  }
  return [...by]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 6)
    .map(([c, t]) => `${c} ${t * 10} ms`)
    .join(', ');
}

/** Connections per second to each target, measured side by side (four workers each). */
async function connRates(client: LabPod, ips: string[]): Promise<number[]> {
  const { stdout } = await run(
    ['nsenter', `--net=${client.netns}`, '--', process.execPath, '-e', CONN_CLIENT, String(CONN_SECONDS), String(4 * ips.length), ...ips],
    {
      timeoutMs: (CONN_SECONDS + 20) * 1000,
    },
  );
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as { n: number[]; errs: number; rate: number[] };
  const total = r.n.reduce((x, y) => x + y, 0);
  if (r.errs > total / 100) throw new Error(`connections to ${ips.join(', ')}: ${r.errs} errors beside ${total} successes`);
  return r.rate;
}

async function iperf(client: LabPod, ip: string): Promise<number> {
  const { stdout } = await run(['nsenter', `--net=${client.netns}`, '--', 'iperf3', '-c', ip, '-t', String(SECONDS), '-J'], {
    timeoutMs: (SECONDS + 20) * 1000,
  });
  return JSON.parse(stdout).end.sum_received.bits_per_second / 1e9;
}

async function main(): Promise<void> {
  if (!IS_ROOT) throw new Error('needs root: creates network namespaces and nftables tables');
  const a = await new ProxyLab().start();
  labs.push(a);
  const b = await new ProxyLab().start();
  labs.push(b);
  await run(['nsenter', `--net=${a.nodeNetns}`, '--', 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']);
  const server = await a.pod(5);
  const client = await a.pod(6);
  // The server's twin: the same server in a namespace no policy is about, so never isolated. The client
  // connects to both at once; the twin's rate is the run's yardstick of load drift (see part 3).
  const twin = await a.pod(7);
  await a.http(server, 80);
  servers.push(
    spawnProcess(['nsenter', `--net=${server.netns}`, '--', process.execPath, '-e', CONN_SERVER]),
    spawnProcess(['nsenter', `--net=${twin.netns}`, '--', process.execPath, '-e', CONN_SERVER]),
    spawnProcess(['nsenter', `--net=${server.netns}`, '--', 'iperf3', '-s', '-p', '5201'], { stdio: 'ignore' }),
  );
  const world = { namespaces: Array.from({ length: NAMESPACES }, (_, i) => ns(i)), pods: pods(), policies: policies() };
  world.namespaces.push({ metadata: { name: 'free', labels: { team: 'free' } } });
  world.pods.push(
    pod('web', 'ns0', server.ip, 'a', { app: 'web', role: 'server' }),
    pod('client', 'ns0', client.ip, 'a', { app: 'cli', role: 'client' }),
    pod('twin', 'free', twin.ip, 'a', { app: 'web', role: 'server' }),
  );
  log(
    `world: ${world.namespaces.length} namespaces, ${world.pods.length} pods, ${world.policies.length + 1} policies; load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );

  const feed = (e: PolicyEngine | RemoteNode, withPolicies: boolean) => {
    for (const n of world.namespaces) e.onNamespace('ADDED', n);
    for (const p of world.pods) e.onPod('ADDED', p);
    if (withPolicies) for (const p of [...world.policies, REAL_POLICY]) e.onPolicy('ADDED', p);
  };

  // 1. Full load, five times on fresh engines (each start is one full transaction).
  const full: { total: number; compile: number; nft: number }[] = [];
  for (let i = 0; i < 5; i++) {
    const e = new PolicyEngine({
      nodeName: 'a',
      netns: a.nodeNetns,
      table: `k8tsnpb-${a.tag}`,
      guardTable: `k8tsnpbg-${a.tag}`,
      dropLog: i === 4,
      conntrack: false,
    });
    feed(e, true);
    const t0 = performance.now();
    await e.start();
    full.push({ total: performance.now() - t0, compile: e.stats.lastCompileMs, nft: e.programmer.stats.lastFullMs });
    if (i < 4) await e.teardown();
    else engines.push(e);
  }
  const ea = engines[0] as PolicyEngine;
  const st = ea.programmer.state;
  // The same load once more with its CPU time (the machine is shared: wall time carries everyone's load).
  // The compile's and the text's CPU is this process's main thread's own (its schedstat run time, in ns):
  // process.cpuUsage counts every thread. nft is run with the engine's environment (nftEnv). Not
  // understood yet: with this benchmark's output going to a file this nft took 510–660 ms of CPU, and
  // 40–80 with the output going to a pipe (see docs/architecture.md, NetworkPolicy).
  const mainThreadMs = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  const cpuOfLoad: number[] = [];
  for (let i = 0; i < 5; i++) {
    const c0 = mainThreadMs();
    const fresh = compilePolicies(
      'a',
      [...world.policies, REAL_POLICY].map((p) => parsePolicy(p).policy!),
      world.namespaces.map((n) => parseNamespace(n)!),
      world.pods.map((p) => parsePod(p)!),
    );
    const text = fullRuleset(fresh, { table: `k8tsnpc-${a.tag}` });
    const js = mainThreadMs() - c0;
    const { stdout } = await run(['nsenter', `--net=${a.nodeNetns}`, '--', 'bash', '-c', 'nft -f - && times'], { input: text, env: nftEnv() });
    // `times`: the shell's user/sys, then its children's (nft).
    const t = stdout
      .trim()
      .split('\n')
      .pop()!
      .split(/\s+/)
      .map((x) => {
        const m = /(\d+)m([\d.]+)s/.exec(x)!;
        return Number(m[1]) * 60 + Number(m[2]);
      });
    cpuOfLoad.push(js + (t[0] + t[1]) * 1000);
    if (process.env.K8TS_CENSUS) log(`full load CPU: compile + text ${fmt(js)} ms, nft ${fmt((t[0] + t[1]) * 1000)} ms`);
  }
  await run(['nsenter', `--net=${a.nodeNetns}`, '--', 'nft', 'delete', 'table', 'ip', `k8tsnpc-${a.tag}`]);
  const elements = [...st.ingress.values(), ...st.egress.values()].reduce((n, r) => n + r.elements.length, 0);
  const anchorText = perAddressRuleset(st, `k8tsnpa-${a.tag}`);
  const anchorMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await run(['nsenter', `--net=${a.nodeNetns}`, '--', 'nft', '-f', '-'], { input: anchorText });
    anchorMs.push(performance.now() - t0);
  }
  await run(['nsenter', `--net=${a.nodeNetns}`, '--', 'nft', 'delete', 'table', 'ip', `k8tsnpa-${a.tag}`]);
  const anchorElements = (anchorText.match(/ \. /g) ?? []).length / 2;

  // Node b: the same world.
  const eb = new RemoteNode();
  eb.send({
    op: 'new',
    opts: { nodeName: 'b', netns: b.nodeNetns, table: `k8tsnpb-${b.tag}`, guardTable: `k8tsnpbg-${b.tag}`, dropLog: false, conntrack: false },
  });
  feed(eb, true);
  await eb.start();
  engines.push(eb);
  log(
    `node a: ${st.ingress.size} pods isolated for ingress, ${st.egress.size} for egress, ${elements} set elements, ${new Set(st.podClass.values()).size} + ${new Set(st.podLocal.values()).size} pod classes (first + namespace)`,
  );

  // 2. Applied → enforced on both nodes: new policies, changed ones, deleted ones.
  const floor: number[] = [];
  await run(['nsenter', `--net=${a.nodeNetns}`, '--', 'nft', 'add', 'table', 'ip', `k8tsnpf-${a.tag}`]);
  await run(['nsenter', `--net=${a.nodeNetns}`, '--', 'nft', 'add', 'set', 'ip', `k8tsnpf-${a.tag}`, 's', '{ type ipv4_addr; }']);
  const enforce: number[] = [];
  const stage = { compile: [] as number[], text: [] as number[], nft: [] as number[] };
  const stageB = { compile: [] as number[], text: [] as number[], nft: [] as number[] };
  // CPU of the changes, which the machine's load does not stretch: node a's engine in this process (less the
  // benchmark's own floor spawns), node b's process, and the two nft children (parse, cache, kernel commit).
  await eb.settled();
  const b0 = eb.last!;
  const nftCpu0 = ea.programmer.session.cpuMs();
  const cpu0 = process.cpuUsage();
  let floorCpu = 0;
  for (let j = 0; j < CHANGES; j++) {
    const c = change(j);
    const t0 = performance.now();
    for (const e of engines) e.onPolicy(c.type, c.policy);
    await settleAll();
    enforce.push(performance.now() - t0);
    stage.compile.push(ea.stats.lastCompileMs);
    stage.text.push(ea.programmer.stats.lastTextMs);
    stage.nft.push(ea.programmer.stats.lastNftMs);
    stageB.compile.push(eb.last!.compileMs);
    stageB.text.push(eb.last!.textMs);
    stageB.nft.push(eb.last!.nftMs);
    const f0 = performance.now();
    const fc0 = process.cpuUsage();
    await run(['nsenter', `--net=${a.nodeNetns}`, '--', 'nft', '-f', '-'], { input: `add element ip k8tsnpf-${a.tag} s { 10.9.${j >> 8}.${j & 255} }\n` });
    const fc = process.cpuUsage(fc0);
    floorCpu += (fc.user + fc.system) / 1000;
    floor.push(performance.now() - f0);
  }
  const agentCpu = process.cpuUsage(cpu0);
  const b1 = eb.last!;
  const changeCpu = {
    a: ((agentCpu.user + agentCpu.system) / 1000 - floorCpu) / CHANGES,
    b: (b1.cpuMs - b0.cpuMs) / CHANGES,
    nftA: (ea.programmer.session.cpuMs() - nftCpu0) / CHANGES,
    nftB: (b1.nftCpuMs - b0.nftCpuMs) / CHANGES,
  };
  await run(['nsenter', `--net=${a.nodeNetns}`, '--', 'nft', 'delete', 'table', 'ip', `k8tsnpf-${a.tag}`]);
  // Until a real connection sees it: the client's allow taken away and given back, timed to the first connection.
  const probe = prober(client);
  const seen: number[] = [];
  for (let j = 0; j < 5; j++) {
    for (const e of engines) e.onPolicy('DELETED', REAL_POLICY);
    await settleAll();
    const works = probe.until(server.ip);
    const t0 = performance.timeOrigin + performance.now();
    for (const e of engines) e.onPolicy('ADDED', REAL_POLICY);
    seen.push((await works) - t0);
  }
  probe.stop();

  // The drop log: a denied SYN until the engine holds its record (tcpdump's NFLOG capture, the pcap parse).
  await ea.dropLogReady(5000);
  const logged: number[] = [];
  for (let j = 0; j < 10; j++) {
    const before = ea.recentDrops(1000).length;
    const t0 = performance.now();
    const nc = run(['nsenter', `--net=${client.netns}`, '--', 'busybox', 'nc', '-w', '1', server.ip, String(9900 + j)]).catch(() => undefined);
    while (ea.recentDrops(1000).length === before && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 2));
    logged.push(performance.now() - t0);
    await nc;
    await new Promise((r) => setTimeout(r, 50));
  }

  // 3. Connection rate and throughput: 1,000 policies in force vs no policy, interleaved rounds.
  // The connection rate of one client process drifts by ±20 % over tens of seconds on this shared machine,
  // while the judging itself is one SYN's walk through in-judge (a few set lookups; nft monitor trace: 7 more
  // rules than without policies; every later packet leaves at `ct state established`). So each round is
  // ABBA (off on on off, then on off off on): a drift that is linear over the round cancels in
  // (A1 + A2) ÷ (B1 + B2), and that raw ratio is the row judged. The twin, a second server that no policy
  // selects in either state, is measured by the same client at the same moment; its own on ÷ off is the
  // drift left over, and the server's ratio over the twin's is printed beside as the cross-check.
  await new Promise((r) => setTimeout(r, 300));
  const conn = { on: [] as number[], off: [] as number[], twinOn: [] as number[], twinOff: [] as number[] };
  const raw: number[] = [];
  const twinRaw: number[] = [];
  const paired: number[] = [];
  const thr = { on: [] as number[], off: [] as number[] };
  let isolated = false;
  // The engines start with the policies loaded (parts 1 and 2).
  let policiesOn = true;
  const setPolicies = async (on: boolean) => {
    if (on === policiesOn) return;
    for (const e of engines) for (const p of [...world.policies, REAL_POLICY]) e.onPolicy(on ? 'ADDED' : 'DELETED', p);
    await settleAll();
    policiesOn = on;
    // The isolated server really is judged on every connection with the policies on, and the twin never is.
    const st = ea.programmer.state;
    const tw = parseIPv4(twin.ip);
    if (on) isolated = st.ingress.has(parseIPv4(server.ip)) && !st.ingress.has(tw) && !st.egress.has(tw);
    // A short pause lets the switch's background work (guard sync, GC) end before measuring.
    await new Promise((res) => setTimeout(res, 500));
  };
  const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? [true, false, false, true] : [false, true, true, false];
    const w = { on: [] as number[], off: [] as number[], twinOn: [] as number[], twinOff: [] as number[] };
    const seen: string[] = [];
    for (const on of order) {
      await setPolicies(on);
      const c0 = processTable();
      // K8TS_PERF=DIR: a system-wide perf profile of every window, DIR/<round>-<on|off>-<i>.data.
      const perf = process.env.K8TS_PERF
        ? spawnProcess(
            ['perf', 'record', '-a', '-g', '-F', '499', '-o', `${process.env.K8TS_PERF}/${r}-${on ? 'on' : 'off'}-${w.on.length + w.off.length}.data`],
            { stdio: 'ignore' },
          )
        : undefined;
      const [sv, tv] = await connRates(client, [server.ip, twin.ip]);
      if (perf) {
        perf.child.kill('SIGINT');
        await perf.exited;
      }
      if (process.env.K8TS_CENSUS) log(`  ${on ? 'on ' : 'off'}: ${fmt(sv)} / twin ${fmt(tv)} conn/s; CPU ${censusDiff(c0, processTable())}`);
      w[on ? 'on' : 'off'].push(sv);
      w[on ? 'twinOn' : 'twinOff'].push(tv);
      seen.push(`${on ? 'on' : 'off'} ${fmt(sv)}`);
    }
    for (const k of ['on', 'off', 'twinOn', 'twinOff'] as const) conn[k].push(sum(w[k]) / 2);
    raw.push(sum(w.on) / sum(w.off));
    twinRaw.push(sum(w.twinOn) / sum(w.twinOff));
    paired.push(raw.at(-1)! / twinRaw.at(-1)!);
    log(
      `round ${r + 1}/${ROUNDS}: conn/s ${seen.join(', ')}: on ÷ off ${fmt(raw.at(-1)!)} (twin ${fmt(twinRaw.at(-1)!)}, paired ${fmt(paired.at(-1)!)}); load ${loadavg()[0].toFixed(2)}`,
    );
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const on of r % 2 ? [true, false] : [false, true]) {
      await setPolicies(on);
      thr[on ? 'on' : 'off'].push(await iperf(client, server.ip));
    }
  }
  // With K8TS_PERF, how much of all the CPU netfilter took in each state: a cost common to every pod's
  // traffic once the policies are loaded (which the twin cannot show) would raise it.
  const nfShare = process.env.K8TS_PERF ? { on: [] as number[], off: [] as number[] } : undefined;
  if (nfShare) {
    for (const f of readdirSync(process.env.K8TS_PERF!).filter((x) => x.endsWith('.data'))) {
      const { stdout } = await run(['perf', 'report', '-i', `${process.env.K8TS_PERF}/${f}`, '--no-children', '--sort', 'sym', '--stdio', '-g', 'none'], {
        timeoutMs: 60_000,
      });
      let share = 0;
      for (const line of stdout.split('\n')) {
        const m = /^\s+([\d.]+)%\s+\[k\]\s+(\S+)/.exec(line);
        if (m && /^(nft_|nf_tables|nf_hook|nf_conntrack|__nf_conntrack|nf_ct_|__nf_ct|nf_nat|br_nf|pipapo|nft_pipapo)/.test(m[2])) share += Number(m[1]);
      }
      nfShare[f.includes('-on-') ? 'on' : 'off'].push(share);
    }
  }
  log(`TCP throughput Gbit/s, off → on per round: ${thr.off.map((x, i) => `${fmt(x)} → ${fmt(thr.on[i])}`).join(', ')}`);

  const fl = summarize(full.map((x) => x.total));
  const en = summarize(enforce);
  const fo = summarize(floor);
  const se = summarize(seen);
  console.log(
    `\nNetworkPolicy, ${world.policies.length + 1} policies, ${world.pods.length} pods (2 nodes); load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}\n`,
  );
  console.log(
    table([
      ['measure', 'ours', 'anchor (same run)', 'anchor value', 'ratio', 'goal', 'ok'],
      [
        'full load, CPU time (compile + text on the main thread, nft), median of 5',
        `${fmt(median(cpuOfLoad))} ms`,
        '',
        '',
        '',
        '≤ 500 ms',
        median(cpuOfLoad) <= 500 ? 'yes' : 'NO',
      ],
      [
        'full ruleset load (compile + nft), median of 5',
        `${fmt(fl.p50)} ms (compile ${fmt(median(full.map((x) => x.compile)))}, nft ${fmt(median(full.map((x) => x.nft)))})`,
        `per-address sets (${anchorElements} elements vs ${elements}), nft -f`,
        `${fmt(median(anchorMs))} ms`,
        fmt(fl.p50 / median(anchorMs)),
        '≤ 500 ms',
        fl.p50 <= 500 ? 'yes' : 'NO',
      ],
      [
        `applied → enforced on both nodes, p50/p99 of ${CHANGES}`,
        `${fmt(en.p50)} / ${fmt(en.p99)} ms`,
        'one-element nft -f (floor)',
        `${fmt(fo.p50)} / ${fmt(fo.p99)} ms`,
        fmt(en.p99 / fo.p99),
        '≤ 100 ms p99',
        en.p99 <= 100 ? 'yes' : 'NO',
      ],
      ...(
        [
          ['a', stage],
          ['b', stageB],
        ] as const
      ).map(([n, x]) => [
        `  of which on node ${n} (p50 / p99): compile, difference text, nft -i transaction`,
        `${fmt(summarize(x.compile).p50)} / ${fmt(summarize(x.compile).p99)}, ${fmt(summarize(x.text).p50)} / ${fmt(summarize(x.text).p99)}, ${fmt(summarize(x.nft).p50)} / ${fmt(summarize(x.nft).p99)} ms`,
        '',
        '',
        '',
        '',
        '',
      ]),
      [
        '  CPU per change: node a agent + its nft child; node b agent + its nft child',
        `a ${fmt(changeCpu.a)} + ${fmt(changeCpu.nftA)}; b ${fmt(changeCpu.b)} + ${fmt(changeCpu.nftB)} ms`,
        '',
        '',
        '',
        '',
        '',
      ],
      [
        'denied SYN → drop record in the agent (tcpdump nflog), p50/max of 10',
        `${fmt(summarize(logged).p50)} / ${fmt(summarize(logged).max)} ms`,
        'includes spawning the client',
        '',
        '',
        '',
        '',
      ],
      ['allow given back → first real connection, p50/max of 5', `${fmt(se.p50)} / ${fmt(se.max)} ms`, '', '', '', '', ''],
      [
        `connections/s, server isolated (${isolated ? 'judged' : 'NOT isolated?'}) with policies ÷ without (${fmt(median(conn.on))} / ${fmt(median(conn.off))}/s), ABBA rounds of ${CONN_SECONDS} s windows, median of ${ROUNDS}`,
        fmt(median(raw)),
        'same pods, no policy: 1',
        '',
        fmt(median(raw)),
        '≥ 0.95',
        median(raw) >= 0.95 ? 'yes' : 'NO',
      ],
      [
        "  cross-check: the twin's on ÷ off (no policy selects it: the machine's drift); the server's ratio over the twin's",
        fmt(median(paired)),
        'twin on ÷ off',
        fmt(median(twinRaw)),
        '',
        '',
        '',
      ],
      ...(nfShare
        ? [
            [
              "  netfilter's share of all CPU samples (perf, every window), median with policies; without",
              `${fmt(median(nfShare.on))} %`,
              'without',
              `${fmt(median(nfShare.off))} %`,
              '',
              '',
              '',
            ],
          ]
        : []),
      [
        `TCP throughput Gbit/s (iperf3 ${SECONDS} s), median of ${ROUNDS}`,
        fmt(median(thr.on)),
        'same pods, no policy',
        fmt(median(thr.off)),
        fmt(median(thr.on) / median(thr.off)),
        '≥ 0.95',
        median(thr.on) / median(thr.off) >= 0.95 ? 'yes' : 'NO',
      ],
    ]),
  );
  console.log(
    '\nexternal reference (not measured here): kube-network-policies reports ≈300 ms to enforce, ≈2.3 s to revoke, ~1 ms p99 added per new connection (NFQUEUE).',
  );
}

main().then(cleanup, async (e) => {
  console.error(e);
  await cleanup();
  process.exit(1);
});
