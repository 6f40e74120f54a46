// Services on a real 2-node cluster (root): network programming latency (a new Service posted to the API
// until a connection through its ClusterIP works from a pod on every node) and TCP throughput and
// connection rate through a ClusterIP as a ratio to the pod IP directly, with 1 service loaded and then with
// each of --sizes. Anchors measured in the same run: the pod IP directly (throughput, connections), and
// kube-proxy's nftables layout driven by the `nft` command in a throwaway namespace with the same number of
// services (one-service change p50/p99), see bench/proxy/kubeproxy.ts. Everything made is removed at the
// end, also on failure or Ctrl-C.
//   node dist/bench/services.js [--sizes 1000,10000] [--changes 20] [--iperf-seconds 3] [--rounds 3] [--conn-seconds 3]
import { ENDPOINTSLICES as SLICES, SERVICES } from '../src/api/kinds.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Service, ServiceSpec } from '../src/api/types.js';
import { run, spawnProcess } from '../src/util/exec.js';
import { formatIPv4, parseCidr } from '../src/util/cidr.js';
import { fmt, summarize, table } from './lib.js';
import { type Cluster, PODS, PodWatch, benchPod, children, clusterDown, clusterUp, createNamespace, iperf, podNetns, pool, sleep } from './cluster/kit.js';
import { KP, kpChange, kpRuleset } from './proxy/kubeproxy.js';
import { prober } from './proxy/prober.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SIZES = arg('sizes', '1000,10000').split(',').map(Number);
const CHANGES = Number(arg('changes', '20'));
const IPERF_SECONDS = Number(arg('iperf-seconds', '3'));
const ROUNDS = Number(arg('rounds', '3'));
const CONN_SECONDS = Number(arg('conn-seconds', '3'));
const NS = 'bench';

const home = mkdtempSync(join(tmpdir(), 'k8ts-bench-services-'));
const made = new Set<string>();
let cluster: Cluster | undefined;
const anchorNetns = `k8tsbs-${randomBytes(3).toString('hex')}`;
let anchorMade = false;
const log = (s: string) => process.stderr.write(`[services] ${s}\n`);

// ---- connection rate: a server that accepts and closes, a client that counts whole connections ----

// Two listeners: the service targets 8080, the direct anchor uses 8081. Sharing one port would let the
// anchor's TIME_WAIT 4-tuples collide with the DNATed ones (the client reuses source ports), and a SYN that
// lands on such a tuple waits a second: that measures the test, not the path.
const CONN_SERVER = `const net=require('net');let n=0;for(const p of [8080,8081])net.createServer((s)=>s.end()).listen(p,()=>{if(++n===2)console.log('listening')});`;
const CONN_CLIENT = `const net=require('net');const [ip,secs,width]=process.argv.slice(1);const end=Date.now()+secs*1000;let n=0,errs=0;
const one=()=>new Promise((r)=>{const s=net.connect({host:ip,port:80});s.on('error',()=>{errs++;r()});s.on('close',()=>r());s.on('data',()=>{});s.on('end',()=>{n++;s.destroy()})});
(async()=>{await Promise.all(Array.from({length:+width},async()=>{while(Date.now()<end)await one()}));console.log(JSON.stringify({n,errs,rate:n/secs}))})();`;

async function connServer(netns: string): Promise<void> {
  const p = spawnProcess(['nsenter', `--net=/run/netns/${netns}`, '--', process.execPath, '-e', CONN_SERVER]);
  children.add(p.child);
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error('connection server did not start')), 5000);
    p.child.stdout!.on('data', () => {
      clearTimeout(t);
      res();
    });
  });
}

/** Whole TCP connections per second from netns to ip:80 (the ClusterIP, port 80 → the pod's 8080), or to the pod IP's 8081. */
async function connRate(netns: string, ip: string, port80: boolean): Promise<number> {
  const src = port80 ? CONN_CLIENT : CONN_CLIENT.replace('port:80', 'port:8081');
  const { stdout } = await run(['nsenter', `--net=/run/netns/${netns}`, '--', process.execPath, '-e', src, ip, String(CONN_SECONDS), '8'], {
    timeoutMs: (CONN_SECONDS + 20) * 1000,
  });
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as { n: number; errs: number; rate: number };
  if (r.errs > r.n / 100) throw new Error(`connections to ${ip}: ${r.errs} errors beside ${r.n} successes`);
  return r.rate;
}

// ---- the cluster ----

function svc(name: string, extra: ServiceSpec = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS },
    spec: {
      selector: { app: 'srv' },
      ports: [
        { name: 'http', port: 80, targetPort: 8080 },
        { name: 'iperf', port: 5201, targetPort: 5201 },
      ],
      ...extra,
    },
  };
}

async function createServices(c: Cluster, from: number, to: number): Promise<number> {
  const t0 = performance.now();
  const idx = Array.from({ length: to - from }, (_, i) => from + i);
  await pool(idx, 32, async (i) => void (await c.client.create(SERVICES, NS, svc(`f${i}`))));
  return performance.now() - t0;
}

/** Until the slices exist for every filler service: the controllers have caught up. */
async function waitSlices(c: Cluster, want: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const { items } = await c.client.list(SLICES, NS);
    if (items.filter((s) => (s.endpoints ?? []).length > 0).length >= want) return;
    await sleep(500);
  }
  throw new Error(`fewer than ${want} EndpointSlices with endpoints after 5 minutes`);
}

interface Probe {
  until(ip: string): Promise<number>;
  stop(): void;
}

interface Programming {
  /** POST until both nodes' pods connect. */
  total: ReturnType<typeof summarize>;
  /** POST until a watch of this process sees the service's EndpointSlice with its endpoint (the server's part:
   *  the POST, the EndpointSlice controller's write, the watch fan-out). */
  slice: ReturnType<typeof summarize>;
  /** From that watch event until both pods connect (the agents' part: their watches, the proxy, nft). */
  agents: ReturnType<typeof summarize>;
}

/** Posts CHANGES new services with chosen ClusterIPs; for each, the time until both nodes' pods connect through
 *  it, and where that time went. */
async function programming(c: Cluster, probes: Probe[], tag: string, base: number): Promise<Programming> {
  const sliceSeen = new Map<string, number>();
  const wake = new Map<string, () => void>();
  const { resourceVersion } = await c.client.list(SLICES, NS);
  const watch = await c.client.watch(SLICES, NS, resourceVersion, {
    onEvent: (type, s) => {
      const owner = s.metadata.labels?.['kubernetes.io/service-name'];
      if (type === 'DELETED' || !owner || sliceSeen.has(owner) || !(s.endpoints ?? []).length) return;
      sliceSeen.set(owner, performance.timeOrigin + performance.now());
      wake.get(owner)?.();
    },
    onError: () => undefined,
  });
  const total: number[] = [];
  const slice: number[] = [];
  const agents: number[] = [];
  try {
    for (let j = 0; j < CHANGES; j++) {
      const ip = formatIPv4(base + j);
      const name = `p${tag}-${j}`;
      const seen = new Promise<void>((r) => wake.set(name, r));
      const t0 = performance.timeOrigin + performance.now();
      const works = probes.map((p) => p.until(ip));
      await c.client.create(SERVICES, NS, svc(name, { clusterIP: ip }));
      const at = Math.max(...(await Promise.all(works)));
      await Promise.race([seen, sleep(5000)]);
      const st = sliceSeen.get(name) ?? at;
      total.push(at - t0);
      slice.push(st - t0);
      agents.push(Math.max(0, at - st));
    }
  } finally {
    watch.close();
  }
  return { total: summarize(total), slice: summarize(slice), agents: summarize(agents) };
}

// ---- the anchor: kube-proxy's layout in a throwaway namespace ----

async function kubeProxyChange(n: number): Promise<{ load: number; change: ReturnType<typeof summarize> }> {
  if (!anchorMade) {
    await run(['ip', 'netns', 'add', anchorNetns]);
    anchorMade = true;
  }
  const nft = async (text: string) => {
    const t0 = performance.now();
    await run(['nsenter', `--net=/run/netns/${anchorNetns}`, '--', 'nft', '-f', '-'], { input: text, timeoutMs: 600_000 });
    return performance.now() - t0;
  };
  const load = await nft(kpRuleset(n));
  const ms: number[] = [];
  for (let j = 0; j < CHANGES; j++) {
    const i = (j * 7919) % n;
    const [a, b] = [`10.245.${i >> 6}.${((i & 63) << 1) + 1}`, `10.245.${i >> 6}.${((i & 63) << 1) + 2}`];
    const fresh = `10.246.${j >> 8}.${j & 255}`;
    ms.push(await nft(kpChange(i, b, fresh, a)));
    await nft(kpChange(i, fresh, b, a));
  }
  await run(['nsenter', `--net=/run/netns/${anchorNetns}`, '--', 'nft', 'delete', 'table', 'ip', KP]).catch(() => {});
  return { load, change: summarize(ms) };
}

// ---- main ----

interface Level {
  n: number;
  prog?: Programming;
  kp?: { load: number; change: ReturnType<typeof summarize> };
  direct: number[];
  viaSvc: number[];
  connDirect: number[];
  connSvc: number[];
  createMs?: number;
}

async function throughput(lvl: Level, pods: Map<string, { netns: string; ip: string }>, svcIP: string): Promise<void> {
  const srv = pods.get('srv')!;
  const cli = pods.get('cli1')!;
  for (let r = 0; r < ROUNDS; r++) {
    lvl.direct.push(await iperf(srv.netns, cli.netns, srv.ip, IPERF_SECONDS));
    lvl.viaSvc.push(await iperf(srv.netns, cli.netns, svcIP, IPERF_SECONDS));
    lvl.connDirect.push(await connRate(cli.netns, srv.ip, false));
    lvl.connSvc.push(await connRate(cli.netns, svcIP, true));
    log(
      `${lvl.n} services, round ${r + 1}: iperf ${fmt(lvl.direct.at(-1)!)} / ${fmt(lvl.viaSvc.at(-1)!)} Gbit/s, connections ${fmt(lvl.connDirect.at(-1)!)} / ${fmt(lvl.connSvc.at(-1)!)} per s (pod IP / ClusterIP)`,
    );
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const tag = randomBytes(2).toString('hex');
  const up = await clusterUp(home, `bs${tag}`, 2, 'host-gw', made);
  const c = (cluster = up.cluster);
  log(`cluster up in ${fmt(up.ms)} ms`);
  await createNamespace(c, NS);
  const watch = await new PodWatch(c, NS).start();
  const specs: Array<[string, string]> = [
    ['srv', 'node2'],
    ['cli1', 'node1'],
    ['cli2', 'node2'],
  ];
  for (const [name, node] of specs) {
    const p = benchPod(name, node);
    if (name === 'srv') p.metadata.labels = { app: 'srv' };
    await c.client.create(PODS, NS, p);
  }
  const missing = await watch.waitAll(
    specs.map(([n]) => n),
    60_000,
  );
  watch.close();
  if (missing.length) throw new Error(`pods not Running: ${missing.join(', ')}`);
  const pods = new Map<string, { netns: string; ip: string }>();
  for (const [name] of specs) {
    const p = (await c.client.get(PODS, NS, name))!;
    pods.set(name, { netns: podNetns(c.plan, p), ip: p.status?.podIP ?? '' });
  }
  await connServer(pods.get('srv')!.netns);
  const main = await c.client.create(SERVICES, NS, svc('srv'));
  const svcIP = main.spec?.clusterIP ?? '';
  await waitSlices(c, 1);
  const probes = ['cli1', 'cli2'].map((n) => prober({ netns: `/run/netns/${pods.get(n)!.netns}` }));
  const stopProbes = () => probes.forEach((p) => p.stop());
  const cidr = parseCidr(c.plan.serviceCIDR);
  const levels: Level[] = [];
  try {
    // Warm the path and the probers once.
    await Promise.all(probes.map((p) => p.until(svcIP)));
    const one: Level = { n: 1, direct: [], viaSvc: [], connDirect: [], connSvc: [] };
    await throughput(one, pods, svcIP);
    levels.push(one);
    let have = 0;
    for (const [k, n] of SIZES.entries()) {
      const lvl: Level = { n, direct: [], viaSvc: [], connDirect: [], connSvc: [] };
      lvl.createMs = await createServices(c, have, n);
      have = n;
      await waitSlices(c, n + 1);
      log(`${n} services created in ${fmt(lvl.createMs / 1000)} s and their slices made; load ${loadavg()[0].toFixed(1)}`);
      // Requested IPs from the static band, which dynamic allocation leaves alone.
      lvl.prog = await programming(c, probes, String(k), cidr.base + 100 + k * CHANGES);
      const { total, slice, agents } = lvl.prog;
      log(
        `programming latency at ${n}: p50 ${fmt(total.p50)} ms, p99 ${fmt(total.p99)} ms; of which POST → slice in a watch p50 ${fmt(slice.p50)} / p99 ${fmt(slice.p99)} ms, then until both pods connect p50 ${fmt(agents.p50)} / p99 ${fmt(agents.p99)} ms`,
      );
      await throughput(lvl, pods, svcIP);
      lvl.kp = await kubeProxyChange(n);
      log(`kube-proxy layout at ${n}: load ${fmt(lvl.kp.load)} ms, one-service change p50 ${fmt(lvl.kp.change.p50)} ms, p99 ${fmt(lvl.kp.change.p99)} ms`);
      levels.push(lvl);
    }
  } finally {
    stopProbes();
  }

  console.log(
    `\n=== services on a 2-node cluster (host-gw); load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} ===`,
  );
  console.log('\nNetwork programming latency: Service POSTed → a connection through its ClusterIP works from a pod on every node');
  console.log(
    table([
      [
        'services loaded',
        'k8ts p50 ms',
        'k8ts p99 ms',
        'POST → slice seen p50 / p99',
        'slice seen → both connect p50 / p99',
        'anchor: kube-proxy layout, one-service `nft -f` change p50 / p99 ms (same run, same size)',
        'goal p99',
      ],
      ...levels
        .filter((l) => l.prog)
        .map((l) => [
          String(l.n),
          fmt(l.prog!.total.p50),
          fmt(l.prog!.total.p99),
          `${fmt(l.prog!.slice.p50)} / ${fmt(l.prog!.slice.p99)}`,
          `${fmt(l.prog!.agents.p50)} / ${fmt(l.prog!.agents.p99)}`,
          `${fmt(l.kp!.change.p50)} / ${fmt(l.kp!.change.p99)}`,
          '≤ 100 ms',
        ]),
    ]),
  );
  console.log('\nTCP through a ClusterIP vs the pod IP directly (cli1 on node1 → srv on node2; medians)');
  const one = levels[0];
  console.log(
    table([
      ['services loaded', 'iperf3 pod IP Gbit/s (anchor)', 'via ClusterIP', 'ratio', 'conn/s pod IP (anchor)', 'via ClusterIP', 'ratio', 'goal'],
      ...levels.map((l) => [
        String(l.n),
        fmt(median(l.direct)),
        fmt(median(l.viaSvc)),
        fmt(median(l.viaSvc) / median(l.direct)),
        fmt(median(l.connDirect)),
        fmt(median(l.connSvc)),
        fmt(median(l.connSvc) / median(l.connDirect)),
        '≥ 0.95, flat',
      ]),
    ]),
  );
  const last = levels.at(-1)!;
  console.log(
    `flatness: ClusterIP throughput at ${last.n} / at 1 service = ${fmt(median(last.viaSvc) / median(one.viaSvc))}; connection rate ${fmt(median(last.connSvc) / median(one.connSvc))}`,
  );
  for (const l of levels)
    if (l.createMs)
      console.log(
        `creating ${l.n} services (32 clients) took ${fmt(l.createMs / 1000)} s; kube-proxy layout loaded ${l.n} services by nft -f in ${fmt(l.kp!.load / 1000)} s`,
      );
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const ch of children) ch.kill('SIGKILL');
    if (anchorMade) await run(['ip', 'netns', 'del', anchorNetns]).catch(() => {});
    for (const name of [...made]) {
      const r = await clusterDown(home, cluster?.name === name ? cluster : { name }, made);
      if (r.left.length) console.log(`LEFT BEHIND by ${name}: ${r.left.join('; ')}`);
    }
    rmSync(home, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void cleanup().finally(() => process.exit(130)));

main().then(
  () => cleanup(),
  async (e) => {
    console.error(`bench/services failed: ${e instanceof Error ? e.stack : e}`);
    await cleanup();
    process.exitCode = 1;
  },
);
