// Cluster DNS: queries per second and latency of the k8ts DNS server with `dnsperf`, beside dnsmasq serving
// the same names in the same run (the anchor). Each server runs pinned to CPU 1, dnsperf to CPU 0.
// The zone: N ClusterIP services (default 1,000) over 10 namespaces, each with a named port; the query file
// mixes A (60%), SRV (20%) and NXDOMAIN names as a pod's search path produces them (20%).
// Two runs per server, interleaved over rounds: as fast as dnsperf can (-q 200 outstanding), and at a fixed
// rate (-Q, default 20,000/s) with each query's latency (dnsperf -v) for p50/p99.
// Then names outside the zone (N names of example.test that dnsmasq holds, TTL 30 s): a second k8ts server
// forwarding to that dnsmasq, at the fixed rate, beside dnsmasq answering them itself: after the first
// pass every answer comes from k8ts's cache of upstream answers, so the upstream's round trip drops out.
// Then the machine made busy (--busy N processes spinning, each in a session of its own, as other users'
// work is): at the fixed rate, k8ts's server in its process's cpu cgroup as before, the same server with
// its thread moved into a cpu cgroup of cpu.shares 10240 (lab/cgroups.ts: k8ts up's fallback), the same
// server placed as `k8ts up` places each node's DNS thread (placeDnsThread in dns/placement.ts: SCHED_RR at
// priority 1 where the host allows it, else that cgroup; its process with REALTIME_DNS_NODE_FLAGS as the
// agents' are), and dnsmasq (the anchor) where it was. dnsperf, the instrument, is the same in every case:
// SCHED_FIFO where the host allows it (else a cgroup of the DNS cgroup's weight), so that its own waits for
// a CPU are not what is measured and what differs is only where the server's thread is scheduled. Needs a
// v1 cpu hierarchy.
//   node dist/bench/dns.js [--services 1000] [--seconds 8] [--rounds 2] [--rate 20000] [--nice -5] [--busy 8]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer } from 'node:net';
import { ClusterZone } from '../src/dns/records.js';
import { DnsServer } from '../src/dns/server.js';
import { REALTIME_DNS_NODE_FLAGS, placeDnsThread } from '../src/dns/placement.js';
import { DNS_CPU_SHARES, cpuCgroupBase } from '../src/lab/cgroups.js';
import { service } from '../src/dns/testing.js';
import { fmt, summarize, table } from './lib.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SERVICES = Number(arg('services', '1000'));
const SECONDS = Number(arg('seconds', '8'));
const ROUNDS = Number(arg('rounds', '2'));
const RATE = Number(arg('rate', '20000'));
const NAMESPACES = 10;
const BUSY = Number(arg('busy', '8'));
/** `--nice -5` runs the servers and dnsperf at that priority, for a machine busy with other work. */
const NICE = arg('nice', '');
const pinned = (cpu: number, argv: string[]): [string, string[]] =>
  NICE ? ['nice', ['-n', NICE, 'taskset', '-c', String(cpu), ...argv]] : ['taskset', ['-c', String(cpu), ...argv]];
/** How dnsperf runs during the busy section (set there), so the client is never the one starved: real-time, or in a cgroup of high weight. */
let client: { realtime: true } | { cgroup: string } | undefined;

const svcName = (i: number) => `svc-${i}`;
const nsName = (i: number) => `ns-${i % NAMESPACES}`;
const clusterIP = (i: number) => `10.96.${(i >> 8) + 1}.${i & 255}`;
const fqdn = (i: number) => `${svcName(i)}.${nsName(i)}.svc.cluster.local`;
const extName = (i: number) => `host-${i}.example.test`;

// --- child mode: the k8ts server alone in its process -----------------------------------------------------
if (args[0] === '--serve') {
  const zone = new ClusterZone();
  for (let i = 0; i < SERVICES; i++) {
    zone.upsertService(service(nsName(i), svcName(i), { clusterIP: clusterIP(i), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
  }
  const upstream = arg('upstream', '');
  const server = new DnsServer({ zone, listen: [{ address: '127.0.0.1', port: Number(arg('port', '0')) }], upstreams: upstream ? [upstream] : [] });
  const [ep] = await server.start();
  // This process serves on its main thread: place that thread as the agent places its DNS worker's.
  const cgroup = arg('cgroup', '');
  const placement = placeDnsThread({ realtime: process.argv.includes('--realtime'), ...(cgroup ? { cpuCgroup: cgroup } : {}) });
  process.stdout.write(`PORT ${ep.port} ${placement}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
} else {
  await main();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

interface Run {
  qps: number;
  /** Queries answered per CPU-second of the server: what one core could serve, whatever else the machine runs. */
  perCore: number;
  lost: number;
  codes: string;
  avgMs: number;
  p50?: number;
  p99?: number;
  cpu: number;
}

function dnsperf(port: number, file: string, extra: string[]): { out: string; wall: number } {
  const t0 = Date.now();
  const [cmd, argv] = pinned(0, ['dnsperf', '-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(SECONDS), '-t', '2', ...extra]);
  // Its output (a line per query with -v) goes to a file, not a pipe: on a busy machine this process may not
  // be scheduled to drain a pipe, and dnsperf, blocked writing a line, would stop reading answers.
  const outFile = join(dirname(file), 'dnsperf.out');
  const fd = openSync(outFile, 'w');
  const opts = { encoding: 'utf8' as const, stdio: ['ignore', fd, 'pipe'] as ['ignore', number, 'pipe'] };
  // In the busy section dnsperf runs under chrt, or first moves its shell into the client's cgroup (its own pid, `cgroup.procs`), then execs.
  const r = !client
    ? spawnSync(cmd, argv, opts)
    : 'realtime' in client
      ? spawnSync('chrt', ['--fifo', '1', cmd, ...argv], opts)
      : spawnSync('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', client.cgroup, cmd, ...argv], opts);
  closeSync(fd);
  const out = readFileSync(outFile, 'utf8');
  if (r.status !== 0) throw new Error(`dnsperf failed (${r.status}): ${r.stderr}${out.slice(-1500)}`);
  return { out, wall: (Date.now() - t0) / 1000 };
}

function measure(pid: number, port: number, file: string, latency: boolean): Run {
  const ticks0 = cpuTicks(pid);
  const { out, wall } = dnsperf(port, file, latency ? ['-Q', String(RATE), '-q', '1000', '-v'] : ['-q', '200']);
  const cpuSeconds = (cpuTicks(pid) - ticks0) / 100;
  const cpu = cpuSeconds / wall;
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const run: Run = {
    qps: num(/Queries per second:\s+([\d.]+)/),
    perCore: num(/Queries completed:\s+(\d+)/) / cpuSeconds,
    lost: num(/Queries lost:\s+(\d+)/),
    codes: (/Response codes:\s+(.*)/.exec(out)?.[1] ?? '').replace(/ \([\d.]+%\)/g, ''),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    cpu,
  };
  if (!(num(/Queries completed:\s+(\d+)/) > 0)) throw new Error(`dnsperf got no answers from port ${port}:\n${out.slice(-1500)}`);
  if (latency) {
    const ms: number[] = [];
    for (const line of out.split('\n')) {
      if (!line.startsWith('> ')) continue;
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(v)) ms.push(v * 1000);
    }
    const s = summarize(ms);
    run.p50 = s.p50;
    run.p99 = s.p99;
  }
  return run;
}

async function startK8ts(
  upstream?: string,
  place: { cgroup?: string; realtime?: boolean; nodeFlags?: string[] } = {},
): Promise<{ child: ChildProcess; port: number; placement: string }> {
  const child = spawn(
    ...pinned(1, [
      process.execPath,
      ...(place.nodeFlags ?? []),
      process.argv[1],
      '--serve',
      '--services',
      String(SERVICES),
      ...(upstream ? ['--upstream', upstream] : []),
      ...(place.cgroup ? ['--cgroup', place.cgroup] : []),
      ...(place.realtime ? ['--realtime'] : []),
    ]),
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [port, placement] = await new Promise<[number, string]>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /PORT (\d+) (.*)\n/.exec(text);
      if (m) resolve([Number(m[1]), m[2]]);
    });
    child.on('exit', (c) => reject(new Error(`k8ts DNS server exited with ${c}`)));
  });
  return { child, port, placement };
}

async function startDnsmasq(dir: string): Promise<{ child: ChildProcess; port: number }> {
  // local-ttl: dnsmasq answers its own records with TTL 0 unless told, which no cache would keep.
  const lines = ['local=/cluster.local/', 'local=/example.test/', 'local-ttl=30'];
  for (let i = 0; i < SERVICES; i++) {
    lines.push(`host-record=${fqdn(i)},${clusterIP(i)}`, `srv-host=_http._tcp.${fqdn(i)},${fqdn(i)},80`, `host-record=${extName(i)},${clusterIP(i)}`);
  }
  const conf = join(dir, 'dnsmasq.conf');
  writeFileSync(conf, lines.join('\n') + '\n');
  const port = await freePort();
  const child = spawn(
    ...pinned(1, [
      'dnsmasq',
      '--keep-in-foreground',
      '--user=root',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--pid-file=',
      `--conf-file=${conf}`,
    ]),
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  // Ready when it answers.
  for (let i = 0; i < 50; i++) {
    const r = spawnSync('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', join(dir, 'queries.txt'), '-n', '1', '-t', '1'], { encoding: 'utf8' });
    if (/Queries completed:\s+[1-9]/.test(r.stdout)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port };
}

/** A cgroup of the v1 cpu hierarchy beside our own, of the DNS cgroup's weight; undefined when the host has no such hierarchy. */
function cpuCgroup(name: string): string | undefined {
  const base = cpuCgroupBase(readFileSync('/proc/self/mountinfo', 'utf8'), readFileSync('/proc/self/cgroup', 'utf8'));
  if (!base) return undefined;
  const g = join(base, name);
  mkdirSync(g);
  writeFileSync(join(g, 'cpu.shares'), String(DNS_CPU_SHARES));
  return g;
}

async function busySection(o: {
  file: string;
  dm: { child: ChildProcess; port: number };
  k8ts: { child: ChildProcess; port: number };
  children: ChildProcess[];
  busy: ChildProcess[];
  cgroups: string[];
  med: (runs: Run[], f: (r: Run) => number) => number;
}): Promise<void> {
  const clientCgroup = cpuCgroup(`k8ts-dnsbench-${process.pid}-client`);
  if (!clientCgroup) {
    console.log(`\nbusy machine: skipped (no cgroup v1 cpu hierarchy here to place the DNS thread in)`);
    return;
  }
  o.cgroups.push(clientCgroup);
  const server = cpuCgroup(`k8ts-dnsbench-${process.pid}-dns`)!;
  o.cgroups.push(server);
  const prio = await startK8ts(undefined, { cgroup: server });
  o.children.push(prio.child);
  dnsperf(prio.port, o.file, ['-n', '1']);
  // As k8ts up places it: its own cgroup of the same weight, for the fallback it may take.
  const upCgroup = cpuCgroup(`k8ts-dnsbench-${process.pid}-up`)!;
  o.cgroups.push(upCgroup);
  const asUp = await startK8ts(undefined, { cgroup: upCgroup, realtime: true, nodeFlags: REALTIME_DNS_NODE_FLAGS });
  o.children.push(asUp.child);
  dnsperf(asUp.port, o.file, ['-n', '1']);
  // Each spinner is a session of its own (detached), so each is one autogroup, as a user's other work is.
  for (let i = 0; i < BUSY; i++) o.busy.push(spawn('sh', ['-c', 'while :; do :; done'], { detached: true, stdio: 'ignore' }));
  await new Promise((r) => setTimeout(r, 2000));
  client = spawnSync('chrt', ['--fifo', '1', 'true']).status === 0 ? { realtime: true } : { cgroup: clientCgroup };
  const clientNote =
    'realtime' in client
      ? 'dnsperf SCHED_FIFO at priority 1 for every server'
      : `dnsperf in a cpu cgroup of shares ${DNS_CPU_SHARES} for every server (SCHED_FIFO refused here)`;
  const rows = [
    { name: 'dnsmasq, as it was (anchor)', pid: o.dm.child.pid!, port: o.dm.port, lat: [] as Run[] },
    { name: "k8ts dns, in its process's cgroup", pid: o.k8ts.child.pid!, port: o.k8ts.port, lat: [] as Run[] },
    { name: `k8ts dns, thread in a cpu cgroup of shares ${DNS_CPU_SHARES}`, pid: prio.child.pid!, port: prio.port, lat: [] as Run[] },
    { name: `k8ts dns as k8ts up places it: ${asUp.placement}`, pid: asUp.child.pid!, port: asUp.port, lat: [] as Run[] },
  ];
  try {
    for (let r = 0; r < ROUNDS; r++) for (const s of rows) s.lat.push(measure(s.pid, s.port, o.file, true));
  } finally {
    client = undefined;
    for (const b of o.busy.splice(0)) b.kill('SIGKILL');
  }
  console.log();
  console.log(`busy machine: ${BUSY} spinning sessions, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}; ${clientNote}`);
  console.log(
    table([
      ['server', `p50 ms @${RATE}/s`, `p99 ms @${RATE}/s`, 'qps achieved', 'lost'],
      ...rows.map((s) => [
        s.name,
        fmt(
          o.med(s.lat, (r) => r.p50!),
          3,
        ),
        fmt(
          o.med(s.lat, (r) => r.p99!),
          3,
        ),
        fmt(
          o.med(s.lat, (r) => r.qps),
          0,
        ),
        String(s.lat.reduce((a, r) => a + r.lost, 0)),
      ]),
    ]),
  );
  const p99 = o.med(rows[3].lat, (r) => r.p99!);
  console.log(`goal: p99 ≤ 5 ms when the machine is busy (k8ts up's placement): ${fmt(p99, 3)} ms, ${p99 <= 5 ? 'met' : 'NOT met'}`);
}

async function main(): Promise<void> {
  for (const tool of ['dnsperf', 'dnsmasq', 'taskset']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      console.error(`bench/dns: ${tool} is not installed (Debian packages dnsperf, dnsmasq-base, util-linux)`);
      process.exit(1);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-dnsbench-'));
  const children: ChildProcess[] = [];
  const busy: ChildProcess[] = [];
  const cgroups: string[] = [];
  const cleanup = () => {
    for (const c of [...children, ...busy]) if (c.pid && c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    // A cgroup empties once its processes are gone (reaped by the kernel a moment after SIGKILL).
    for (const g of cgroups.reverse()) {
      for (let i = 0; i < 50 && existsSync(g); i++) {
        try {
          rmdirSync(g);
        } catch {
          spawnSync('sleep', ['0.02']);
        }
      }
      if (existsSync(g)) console.error(`bench/dns: could not remove cgroup ${g}`);
    }
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const q: string[] = [];
    for (let i = 0; i < SERVICES; i++) {
      q.push(
        `${fqdn(i)} A`,
        `${fqdn(i)} A`,
        `${fqdn(i)} A`,
        `_http._tcp.${fqdn(i)} SRV`,
        // What a pod in another namespace asks first for "svc-i.ns-j" with ndots:5.
        `${svcName(i)}.${nsName(i)}.${nsName(i + 1)}.svc.cluster.local A`,
      );
    }
    // Shuffle deterministically so the mix is even over time.
    for (let i = q.length - 1; i > 0; i--) {
      const j = (i * 7919) % (i + 1);
      [q[i], q[j]] = [q[j], q[i]];
    }
    writeFileSync(join(dir, 'queries.txt'), q.join('\n') + '\n');
    const file = join(dir, 'queries.txt');

    const k8ts = await startK8ts();
    children.push(k8ts.child);
    const dm = await startDnsmasq(dir);
    children.push(dm.child);
    const servers = [
      { name: 'dnsmasq (anchor)', pid: dm.child.pid!, port: dm.port, runs: [] as Run[], lat: [] as Run[] },
      { name: 'k8ts dns', pid: k8ts.child.pid!, port: k8ts.port, runs: [] as Run[], lat: [] as Run[] },
    ];
    // Warm both (the k8ts cache fills on the first pass; dnsmasq has everything in memory from the start).
    for (const s of servers) dnsperf(s.port, file, ['-n', '1']);
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of servers) {
        s.runs.push(measure(s.pid, s.port, file, false));
        s.lat.push(measure(s.pid, s.port, file, true));
      }
    }
    const best = (runs: Run[], f: (r: Run) => number) => Math.max(...runs.map(f));
    const med = (runs: Run[], f: (r: Run) => number) => summarize(runs.map(f)).p50;
    console.log(
      `cluster DNS: ${SERVICES} services, ${q.length} query names (60% A, 20% SRV, 20% NXDOMAIN), ` +
        `${ROUNDS} rounds of ${SECONDS} s; servers on CPU 1, dnsperf on CPU 0; CPU = server's CPU time / wall time`,
    );
    console.log(`response codes (k8ts): ${servers[1].runs[0].codes} | (dnsmasq): ${servers[0].runs[0].codes}`);
    console.log();
    const rows: (string | number)[][] = [
      [
        'server',
        'queries/CPU-s',
        'max qps (best)',
        'max qps (median)',
        'avg ms at max',
        'CPU at max',
        `p50 ms @${RATE}/s`,
        `p99 ms @${RATE}/s`,
        `qps achieved`,
        'CPU at rate',
        'lost',
      ],
    ];
    for (const s of servers) {
      rows.push([
        s.name,
        fmt(
          med([...s.runs, ...s.lat], (r) => r.perCore),
          0,
        ),
        fmt(
          best(s.runs, (r) => r.qps),
          0,
        ),
        fmt(
          med(s.runs, (r) => r.qps),
          0,
        ),
        fmt(
          med(s.runs, (r) => r.avgMs),
          3,
        ),
        `${fmt(med(s.runs, (r) => r.cpu) * 100, 0)}%`,
        fmt(
          med(s.lat, (r) => r.p50!),
          3,
        ),
        fmt(
          med(s.lat, (r) => r.p99!),
          3,
        ),
        fmt(
          med(s.lat, (r) => r.qps),
          0,
        ),
        `${fmt(med(s.lat, (r) => r.cpu) * 100, 0)}%`,
        String([...s.runs, ...s.lat].reduce((a, r) => a + r.lost, 0)),
      ]);
    }
    console.log(table(rows));
    const ratio = med(servers[1].runs, (r) => r.qps) / med(servers[0].runs, (r) => r.qps);
    console.log();
    const perCore = med([...servers[1].runs, ...servers[1].lat], (r) => r.perCore) / med([...servers[0].runs, ...servers[0].lat], (r) => r.perCore);
    console.log(
      `load: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} on ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} CPUs ` +
        '(achieved qps and latency depend on what else runs; queries/CPU-s much less)',
    );
    console.log(
      `ratio k8ts/dnsmasq, queries per CPU-second: ${fmt(perCore)}; max qps: ${fmt(ratio)}; p99 at ${RATE}/s: ${fmt(med(servers[1].lat, (r) => r.p99!) / med(servers[0].lat, (r) => r.p99!))}x`,
    );
    console.log(`goal: >= 20,000 qps on one core and p99 <= 2 ms (CoreDNS publishes ~17,000 qps per vCPU)`);

    // Names outside the zone, through an upstream: k8ts forwarding to dnsmasq (answers cached), beside
    // dnsmasq answering the same names itself. The first pass fills the cache; the measured ones follow.
    const extFile = join(dir, 'external.txt');
    writeFileSync(extFile, `${Array.from({ length: SERVICES }, (_, i) => `${extName(i)} A`).join('\n')}\n`);
    const fwd = await startK8ts(`127.0.0.1:${dm.port}`);
    children.push(fwd.child);
    dnsperf(fwd.port, extFile, ['-n', '1']);
    const ext = { fwd: [] as Run[], dm: [] as Run[] };
    for (let r = 0; r < ROUNDS; r++) {
      ext.dm.push(measure(dm.child.pid!, dm.port, extFile, true));
      ext.fwd.push(measure(fwd.child.pid!, fwd.port, extFile, true));
    }
    console.log();
    console.log(
      table([
        ['names outside the zone', `p50 ms @${RATE}/s`, `p99 ms @${RATE}/s`, 'qps achieved', 'codes'],
        [
          'dnsmasq answering them itself (anchor)',
          fmt(
            med(ext.dm, (r) => r.p50!),
            3,
          ),
          fmt(
            med(ext.dm, (r) => r.p99!),
            3,
          ),
          fmt(
            med(ext.dm, (r) => r.qps),
            0,
          ),
          ext.dm[0].codes,
        ],
        [
          'k8ts forwarding to it, answers cached',
          fmt(
            med(ext.fwd, (r) => r.p50!),
            3,
          ),
          fmt(
            med(ext.fwd, (r) => r.p99!),
            3,
          ),
          fmt(
            med(ext.fwd, (r) => r.qps),
            0,
          ),
          ext.fwd[0].codes,
        ],
      ]),
    );
    console.log(`ratio k8ts via upstream / dnsmasq direct, p99: ${fmt(med(ext.fwd, (r) => r.p99!) / med(ext.dm, (r) => r.p99!))}x`);

    if (BUSY > 0) await busySection({ file, dm, k8ts, children, busy, cgroups, med });
  } finally {
    cleanup();
  }
}
