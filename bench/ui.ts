// The topology page at scale: 300 pods on 3 hollow nodes (Node and Pod objects written to a real `k8ts
// server`, no agents: the page draws the routes from the Node objects when no kernel facts answer), with
// the page in Debian's headless chromium. Measures, in the browser:
//   - first paint: navigation start → the first frame with the whole cluster drawn (the page's own preview,
//     ≤ 1 s wanted), and cytoscape's first frame that replaces it (from then on clicks answer);
//   - update: the watch event reaching the ui server → the frame that shows it (≤ 100 ms wanted), beside its
//     anchor, the API server's own write → watch event time in the same run;
//   - the API server's CPU per written event under a steady write load with the ui server and 5 pages watching
//     it (≤ 1.1× wanted), against a twin API server without them that gets the same writes at the same
//     moments (the machine's speed drifts more between windows than the row allows), over rounds that
//     alternate which server is watched and the order of the states (no ui server, the ui server with no
//     page, 5 pages), with the requests, watchers, Chromium's CPU and the machine's load of each window.
// The hollow nodes' addresses are on loopback (127.77.0.N, as `k8ts simulate`'s): nothing is sent off the
// machine towards them.
//   node dist/bench/ui.js [--pods 300] [--rounds 6] [--window 20] [--patch-ms 20] [--paints 5] [--only paint,updates,cpu] [--profile]
//     [--api-profile DIR]
// --only: just those parts (a quicker loop while working on one of them).
// --api-profile DIR: the API server runs with --cpu-prof into DIR, and its functions with the most self time
// are printed for each state's windows (per patch of the load).
// --profile: also records Chromium's CPU profile (CDP Profiler) of one first paint and of the updates and
// prints the functions with the most self time (build the page unminified with K8TS_UI_DEBUG=1 to read them).
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, fmt, parallel, processTable, type Server, startServer, summarize, table } from './lib.js';
import { configFromKubeconfig } from '../src/client/rest.js';
import { UiServer } from '../src/ui/server.js';
import { hollowNodeIP } from '../src/agent/hollow.js';
import { launch, noChromium, waitIn } from '../test/e2e/browser.js';

const args = process.argv.slice(2);
const arg = (k: string, d: number) => Number(args[args.indexOf(`--${k}`) + 1] || d) || d;
const PODS = arg('pods', 300);
const ROUNDS = arg('rounds', 6);
const WINDOW_S = arg('window', 20);
/** Milliseconds between two load patches in the CPU part (each to both API servers at once). At 10 patches/s a
 *  15–20 s window held 0.5–0.7 s of a server's CPU and one collection more or less moved it by 10 %: the two
 *  servers with no ui at all spread 0.96–1.17. At ~50/s they spread 0.84–1.00, and the pages see 5× the events. */
const PATCH_MS = arg('patch-ms', 20);
const NODES = 3;
const PROFILE = args.includes('--profile');
/** --api-profile DIR: the API server runs with --cpu-prof into DIR; each state's windows are cut from it. */
const API_PROFILE = args.includes('--api-profile') ? args[args.indexOf('--api-profile') + 1] : undefined;
const PAINTS = arg('paints', 5);
const ONLY = new Set((args.includes('--only') ? args[args.indexOf('--only') + 1] : 'paint,updates,cpu').split(','));
const MERGE = { 'Content-Type': 'application/merge-patch+json' };

/** What the page exposes for measurement (app.ts's `window.k8tsUi`). */
declare const window: {
  k8tsUi: {
    ready?: boolean;
    firstPaintMs: number;
    interactiveMs: number;
    marks: Record<string, number>;
    cy: { nodes(selector: string): { length: number } };
    renders: { op: string; kind: string; drawn?: boolean; ms: number }[];
  };
};

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time (ms) per function of a V8 CPU profile (CDP's or --cpu-prof's), over the samples taken when
 * keep(t) holds (t on the profile's clock, µs), idle left out; the functions sorted by it.
 */
function selfTimes(p: CpuProfile & { startTime?: number }, keep: (t: number) => boolean = () => true): { total: number; rows: [string, number][] } {
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  let total = 0;
  let t = p.startTime ?? 0;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (!keep(t)) return;
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') return;
    // The gap to the next sample is this one's time (V8 stamps a sample when it is taken).
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    const k = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\//, '')}:${f.lineNumber + 1}`;
    total += dt;
    self.set(k, (self.get(k) ?? 0) + dt);
  });
  return { total, rows: [...self].sort((a, b) => b[1] - a[1]) };
}

/** The functions with the most self time in a CDP CPU profile, as printable rows. */
function topSelf(p: CpuProfile, n = 15): string {
  const { total, rows } = selfTimes(p);
  return [
    `  profiled ${fmt(total, 0)} ms`,
    ...rows.slice(0, n).map(([k, ms]) => `  ${fmt(ms, 1).padStart(9)} ms  ${fmt((100 * ms) / total, 1).padStart(5)} %  ${k}`),
  ].join('\n');
}

async function profiled<T>(page: import('playwright-core').Page, what: string, f: () => Promise<T>): Promise<T> {
  if (!PROFILE) return f();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  try {
    return await f();
  } finally {
    const { profile } = (await cdp.send('Profiler.stop')) as unknown as { profile: CpuProfile };
    console.log(`CPU profile, ${what}:\n${topSelf(profile)}`);
    // The whole profile too, for Chromium's DevTools (Performance → Load profile) or a closer look.
    if (process.env.K8TS_PROFILE_DIR) writeFileSync(join(process.env.K8TS_PROFILE_DIR, `ui-${what.replace(/\W+/g, '-')}.cpuprofile`), JSON.stringify(profile));
    await cdp.detach();
  }
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** CPU seconds of this process's Chromium descendants (browser, zygotes, renderers, GPU/utility processes). */
function chromiumSeconds(): number {
  const procs = processTable();
  const mine = (pid: number): boolean => {
    for (let p = procs.get(pid)?.ppid; p; p = procs.get(p)?.ppid) if (p === process.pid) return true;
    return false;
  };
  let s = 0;
  for (const [pid, x] of procs) if (/^(chromium|chrome)/.test(x.comm) && mine(pid)) s += x.ticks / 100;
  return s;
}

/** The machine's CPU time in ticks over all cores since boot: busy (not idle or iowait) and total. */
function machineCpu(): { busy: number; total: number } {
  const t = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = t.reduce((a, b) => a + b, 0);
  return { busy: total - t[3] - t[4], total };
}

/** Now on the monotonic clock, in µs. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** The API server's functions with the most self time in each state's windows, per patch of the load:
 *  samples cut from its --cpu-prof profile by the windows' spans. */
function printApiProfile(dir: string, spans: { state: string; from: number; to: number; patches: number }[]): void {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!file) return void console.log(`no .cpuprofile in ${dir}: did the API server exit cleanly?`);
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile & { startTime: number };
  for (const state of [...new Set(spans.map((x) => x.state))].filter((x) => x !== 'warm-up')) {
    const mine = spans.filter((x) => x.state === state);
    const patches = mine.reduce((a, x) => a + x.patches, 0);
    const { total, rows: all } = selfTimes(p, (t) => mine.some((x) => t >= x.from && t < x.to));
    const rows = all.slice(0, 12);
    console.log(`API server profile, ${state}: ${fmt(total / patches, 3)} ms of JS and GC per patch over ${patches} patches (${mine.length} windows)`);
    for (const [k, ms] of rows) console.log(`  ${fmt((1000 * ms) / patches, 1).padStart(7)} µs/patch  ${fmt((100 * ms) / total, 1).padStart(5)} %  ${k}`);
  }
}

async function must(c: Client, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<unknown> {
  const r = await c.call(method, path, body, headers);
  if (r.code >= 300) throw new Error(`${method} ${path}: ${r.code} ${r.text}`);
  return JSON.parse(r.text);
}

async function hollowCluster(c: Client): Promise<void> {
  for (let i = 1; i <= NODES; i++) {
    const name = `hollow${i}`;
    await must(c, 'POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name } },
      spec: { podCIDR: `10.250.${i}.0/24` },
    });
    await must(
      c,
      'PATCH',
      `/api/v1/nodes/${name}/status`,
      {
        status: {
          addresses: [{ type: 'InternalIP', address: hollowNodeIP(i) }],
          conditions: [
            { type: 'Ready', status: 'True', reason: 'Hollow', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() },
          ],
        },
      },
      MERGE,
    );
  }
  await parallel(PODS, 16, async (i) => {
    const node = (i % NODES) + 1;
    await must(c, 'POST', '/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p${i}`, labels: { app: `a${i % 10}` } },
      // Tolerating the hollow nodes' taints for good: no agent renews their Leases, and on a loaded machine the
      // run outlasted the default 300 s after which the pods were evicted under the benchmark.
      spec: {
        nodeName: `hollow${node}`,
        containers: [{ name: 'main', image: 'busybox', ports: [{ containerPort: 80 }] }],
        tolerations: ['node.kubernetes.io/unreachable', 'node.kubernetes.io/not-ready'].map((key) => ({ key, operator: 'Exists', effect: 'NoExecute' })),
      },
    });
    await must(
      c,
      'PATCH',
      `/api/v1/namespaces/default/pods/p${i}/status`,
      { status: { phase: 'Running', podIP: `10.250.${node}.${2 + Math.floor(i / NODES)}`, conditions: [{ type: 'Ready', status: 'True' }] } },
      MERGE,
    );
  });
  for (let s = 0; s < 10; s++) {
    await must(c, 'POST', '/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `s${s}` },
      spec: { selector: { app: `a${s}` }, ports: [{ port: 80 }] },
    });
  }
}

async function main(): Promise<void> {
  if (noChromium) throw new Error(`bench/ui: ${noChromium}`);
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-ui-'));
  const s = await startServer(dir, 'sqlite', undefined, API_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${API_PROFILE}`] : []);
  /** Each counted window's span on the monotonic clock (µs, as V8's profile stamps its samples), by state. */
  const spans: { state: string; from: number; to: number; patches: number }[] = [];
  const c = new Client(s.url, s.token, s.ca, 16);
  const pid = s.proc.pid!;
  let ui: UiServer | undefined;
  /** The CPU part's twin API server (see there). */
  let twin: Server | undefined;
  let twinClient: Client | undefined;
  let twinDir: string | undefined;
  const browsers: Awaited<ReturnType<typeof launch>>[] = [];
  try {
    const t0 = performance.now();
    await hollowCluster(c);
    console.log(`hollow cluster: ${NODES} nodes, ${PODS} pods, 10 services in ${fmt(performance.now() - t0, 0)} ms; loadavg ${loadavg()}`);
    ui = new UiServer({ config: configFromKubeconfig(s.kubeconfig), port: 0 });
    const url = await ui.start();

    // First paint, each in a fresh browser profile (no cache).
    const paints: number[] = [];
    const interactive: number[] = [];
    const marks: Record<string, number>[] = [];
    // Without the harness's request interception: each request would go through this process and back.
    for (let i = 0; ONLY.has('paint') && i < PAINTS; i++) {
      const b = await launch({ intercept: false });
      try {
        await profiled(b.page, `first paint ${i + 1}`, async () => {
          await b.page.goto(url);
          await waitIn(b.page, () => window.k8tsUi?.ready === true, null, 'the first drawing', 30_000);
        });
        const drawn = await b.page.evaluate(() => window.k8tsUi.cy.nodes('.pod').length);
        if (drawn !== PODS) throw new Error(`drew ${drawn} pods, not ${PODS}`);
        paints.push(await b.page.evaluate(() => window.k8tsUi.firstPaintMs));
        interactive.push(await b.page.evaluate(() => window.k8tsUi.interactiveMs ?? window.k8tsUi.firstPaintMs));
        console.log(
          `first paint ${i + 1}: ${fmt(paints[paints.length - 1], 0)} ms, cytoscape's ${fmt(interactive[interactive.length - 1], 0)} ms; loadavg ${loadavg()}`,
        );
        marks.push(await b.page.evaluate(() => ({ ...window.k8tsUi.marks })));
      } finally {
        await b.close();
      }
    }

    // Updates: one page open; pods' phases changed (drawn: label and colour), one at a time.
    const writeToEvent: number[] = [];
    let renders: number[] = [];
    if (ONLY.has('updates')) {
      const b = await launch({ intercept: false });
      browsers.push(b);
      await b.page.goto(url);
      await waitIn(b.page, () => window.k8tsUi?.ready === true, null, 'the first drawing', 30_000);
      const seen = new Map<string, number>();
      const probe = { at: 0, key: '' };
      // The server's private fan-out, wrapped to time each write to its event.
      const fanout = ui as unknown as { send(msg: { key?: string; at: number }): void };
      const origSend = fanout.send.bind(ui);
      fanout.send = (msg) => {
        if (msg.key === probe.key && !seen.has(probe.key)) seen.set(probe.key, msg.at);
        origSend(msg);
      };
      const updates = arg('updates', 60);
      await profiled(b.page, 'updates', async () => {
        for (let i = 0; i < updates; i++) {
          const name = `p${(i * 7) % PODS}`;
          probe.key = `default/${name}`;
          seen.delete(probe.key);
          const wall = Date.now();
          // A change the page draws: the pod's phase (its label and colour).
          await must(c, 'PATCH', `/api/v1/namespaces/default/pods/${name}/status`, { status: { phase: i % 2 ? 'Succeeded' : 'Pending' } }, MERGE);
          for (let w = 0; w < 200 && !seen.has(probe.key); w++) await sleep(5);
          if (seen.has(probe.key)) writeToEvent.push(seen.get(probe.key)! - wall);
          await sleep(50);
        }
      });
      await sleep(500);
      renders = (await b.page.evaluate(() =>
        window.k8tsUi.renders.filter((r) => r.op === 'upsert' && r.kind === 'Pod' && r.drawn !== false).map((r) => r.ms),
      )) as number[];
      await b.close();
      browsers.pop();
    }

    // The API server's CPU under a steady write load (a pod label patch every --patch-ms, each an event every watcher of
    // pods gets) with the ui server and 5 pages watching it, against the same server without them. This
    // machine's speed drifts by ±20 % from one window to the next (a VM; bench/netpol saw the CPU per
    // connection move by half between two windows), more than the 10 % the row allows, so the anchor runs at
    // the same moments: a twin API server (the same build, the same hollow cluster) gets every patch at the
    // same time as the watched one, and each window's figure is the watched server's CPU per patch over the
    // twin's. The rounds alternate which of the two is watched, so a difference between the two processes
    // cancels; a window with no ui server at all measures that difference, and one with the ui server and
    // no page the ui server's own share. Each state is measured after a settling pause (the ui server's lists
    // and the pages' first drawing are start-up, not watching). Beside each window: what the watched server
    // was asked besides the load (apiserver_request_total, which counts a request when it ends: a watch when
    // it is closed), the watchers registered on each server (a page should add none), the machine's busy
    // CPU, Chromium's, and the load average.
    await ui.close();
    ui = undefined;
    const scrape = async (cl: Client): Promise<{ requests: number; watchers: number }> => {
      const r = await cl.call('GET', '/metrics');
      if (r.code !== 200) throw new Error(`GET /metrics: ${r.code}`);
      let requests = 0;
      let watchers = 0;
      for (const l of r.text.split('\n')) {
        if (l.startsWith('apiserver_request_total{')) requests += Number(l.slice(l.lastIndexOf(' ') + 1));
        else if (l.startsWith('apiserver_registered_watchers{')) watchers += Number(l.slice(l.lastIndexOf(' ') + 1));
      }
      return { requests, watchers };
    };
    if (ONLY.has('cpu')) {
      twinDir = mkdtempSync(join(tmpdir(), 'k8ts-bench-ui-twin-'));
      twin = await startServer(twinDir, 'sqlite');
      twinClient = new Client(twin.url, twin.token, twin.ca, 16);
      await hollowCluster(twinClient);
    }
    const servers =
      twin && twinClient
        ? [
            { srv: s, c, pid },
            { srv: twin, c: twinClient, pid: twin.proc.pid! },
          ]
        : [];
    interface Window {
      /** CPU ms per load patch of the watched server and of its twin. */
      watched: number;
      twin: number;
      /** watched ÷ twin. */
      ratio: number;
      patches: number;
      /** Requests to the watched server besides the load. */
      others: number;
      /** Watchers registered on the watched server and on the twin. */
      watchers: string;
      /** The machine's busy share of all its cores over the window. */
      busy: number;
      /** Chromium's CPU, share of one core over the window. */
      chromium: number;
      load: string;
    }
    const cpu = async (w: number, state = 'warm-up'): Promise<Window> => {
      const W = servers[w];
      const T = servers[1 - w];
      const m0 = await scrape(W.c);
      const b0 = machineCpu();
      const k0 = chromiumSeconds();
      const c0 = [cpuSeconds(W.pid), cpuSeconds(T.pid)];
      const w0 = performance.now();
      const from = monotonicUs();
      let i = 0;
      while (performance.now() - w0 < WINDOW_S * 1000) {
        const path = `/api/v1/namespaces/default/pods/p${i % PODS}`;
        const body = { metadata: { labels: { load: `l${i}` } } };
        await Promise.all([must(W.c, 'PATCH', path, body, MERGE), must(T.c, 'PATCH', path, body, MERGE)]);
        i++;
        await sleep(PATCH_MS);
      }
      const used = [cpuSeconds(W.pid) - c0[0], cpuSeconds(T.pid) - c0[1]];
      const wall = (performance.now() - w0) / 1000;
      // --api-profile profiles the first server: its windows as the watched one.
      if (w === 0) spans.push({ state, from, to: monotonicUs(), patches: i });
      const b1 = machineCpu();
      const m1 = await scrape(W.c);
      const t1 = await scrape(T.c);
      // Less the load's patches and the first scrape (the second is counted after it is answered).
      return {
        watched: (1000 * used[0]) / i,
        twin: (1000 * used[1]) / i,
        ratio: used[0] / used[1],
        patches: i,
        others: m1.requests - m0.requests - i - 1,
        watchers: `${m1.watchers}/${t1.watchers}`,
        busy: (b1.busy - b0.busy) / (b1.total - b0.total),
        chromium: (chromiumSeconds() - k0) / wall,
        load: loadavg().split(' ')[0],
      };
    };
    const SETTLE_MS = 3000;
    let pagesBrowser: Awaited<ReturnType<typeof launch>> | undefined;
    const openUi = async (w: number) => {
      ui = new UiServer({ config: configFromKubeconfig(servers[w].srv.kubeconfig), port: 0 });
      await ui.start();
      await sleep(SETTLE_MS);
    };
    const closeUi = async () => {
      await ui?.close();
      ui = undefined;
    };
    const openPages = async () => {
      pagesBrowser = await launch({ intercept: false });
      browsers.push(pagesBrowser);
      for (let p = 0; p < 5; p++) {
        const page = p === 0 ? pagesBrowser.page : await pagesBrowser.context.newPage();
        // A loaded machine (load 40+) took more than the default 30 s to load a page.
        await page.goto(ui!.url, { timeout: 120_000 });
        await waitIn(page, () => window.k8tsUi?.ready === true, null, 'the first drawing', 30_000);
      }
      await sleep(SETTLE_MS);
    };
    const closePages = async () => {
      browsers.splice(browsers.indexOf(pagesBrowser!), 1);
      await pagesBrowser?.close();
      pagesBrowser = undefined;
    };
    const rows: (string | number)[][] = [
      [
        'round',
        'watched, order',
        'CPU ms/patch, watched ÷ twin: no ui server',
        'ui server, no page',
        'ui server, 5 pages',
        '5 pages ÷ twin',
        'patches',
        'other requests (0/ui/5)',
        'watchers, watched/twin (0; ui; 5)',
        'machine busy % (0/ui/5)',
        'Chromium % of a core (5 pages)',
        'loadavg 1 min (0/ui/5)',
      ],
    ];
    const ratios: number[] = [];
    const noUi: number[] = [];
    const uiOnly: number[] = [];
    // One window first, not counted: right after the paints and updates above the API server's first window
    // ran at twice its later CPU (seen in every run), whatever the pages.
    if (ONLY.has('cpu')) await cpu(0);
    for (let r = 1; ONLY.has('cpu') && r <= ROUNDS; r++) {
      let none: Window;
      let idle: Window;
      let pages: Window;
      const w = (r - 1) % 2;
      // Rounds 1 and 2 go no ui → pages, rounds 3 and 4 pages → no ui, and so on: each server is watched in
      // both orders.
      const upward = Math.floor((r - 1) / 2) % 2 === 0;
      if (upward) {
        none = await cpu(w, 'no ui server');
        await openUi(w);
        idle = await cpu(w, 'ui server, no page');
        await openPages();
        pages = await cpu(w, 'ui server, 5 pages');
        await closePages();
        await closeUi();
      } else {
        await openUi(w);
        await openPages();
        pages = await cpu(w, 'ui server, 5 pages');
        await closePages();
        await sleep(SETTLE_MS);
        idle = await cpu(w, 'ui server, no page');
        await closeUi();
        await sleep(SETTLE_MS);
        none = await cpu(w, 'no ui server');
      }
      ratios.push(pages.ratio);
      noUi.push(none.ratio);
      uiOnly.push(idle.ratio);
      const three = (f: (x: Window) => string | number) => [none, idle, pages].map(f).join('/');
      rows.push([
        String(r),
        `${w + 1}, ${upward ? '0 ui 5' : '5 ui 0'}`,
        `${fmt(none.watched)} ÷ ${fmt(none.twin)} = ${fmt(none.ratio)}`,
        `${fmt(idle.watched)} ÷ ${fmt(idle.twin)} = ${fmt(idle.ratio)}`,
        `${fmt(pages.watched)} ÷ ${fmt(pages.twin)} = ${fmt(pages.ratio)}`,
        `${fmt(pages.ratio)}×`,
        three((x) => x.patches),
        three((x) => x.others),
        [none, idle, pages].map((x) => x.watchers).join('; '),
        three((x) => fmt(100 * x.busy, 0)),
        fmt(100 * pages.chromium, 1),
        three((x) => x.load),
      ]);
      console.log(
        `round ${r} (server ${w + 1} watched, ${upward ? 'no ui first' : 'pages first'}): 5 pages ÷ twin ${fmt(pages.ratio)}× (no ui server ${fmt(none.ratio)}×); Chromium ${fmt(100 * pages.chromium, 1)} % of a core; loadavg ${loadavg()}`,
      );
    }

    const p = summarize(paints);
    const pi = summarize(interactive);
    const e = summarize(writeToEvent);
    const u = summarize(renders);
    console.log(
      table([
        ['measure', 'n', 'p50 ms', 'p90 ms', 'max ms', 'wanted'],
        ['first paint, 300 pods (navigation → drawn)', p.n, p.p50, p.p90, p.max, '≤ 1000'],
        ["cytoscape's first frame (clicks answered)", pi.n, pi.p50, pi.p90, pi.max, ''],
        ['anchor: API write → watch event at the ui server', e.n, e.p50, e.p90, e.max, ''],
        ['watch event → frame drawn in the page', u.n, u.p50, u.p90, u.max, '≤ 100'],
      ]),
    );
    // Where a first paint's time went (medians over the runs; ms since navigation start, and each step's share).
    const STEPS: [string, string][] = [
      ['script', "HTML and the page's script loaded, parsed, run (network + cytoscape's code)"],
      ['open', "event stream open (opened by the page's head, before the script)"],
      ['snapshot', 'snapshot received (server + network)'],
      ['parsed', 'snapshot parsed (JSON.parse)'],
      ['built', "elements computed (the page's own drawing code)"],
      ['preview', "first frame drawn (the page's preview, preview.js)"],
      ['shown', "the preview's frame done (rasterised, painted): the next task"],
      ['added', 'elements added and styled (cytoscape)'],
      ['painted', "cytoscape's first frame drawn (replaces the preview)"],
    ];
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    // Each step's time since the mark before it in that run (the stream opens before the script has run).
    const stepOf = (m: Record<string, number>, k: string) => m[k] - Math.max(0, ...Object.values(m).filter((v) => v < m[k]));
    const markRows: (string | number)[][] = [['first paint step (in order of time)', 'at ms (p50)', 'since the previous mark, ms (p50)']];
    const byAt = STEPS.filter(([k]) => marks.some((m) => typeof m[k] === 'number')).sort(
      (x, y) => med(marks.map((m) => m[x[0]] ?? 0)) - med(marks.map((m) => m[y[0]] ?? 0)),
    );
    for (const [k, what] of byAt) {
      const runs = marks.filter((m) => typeof m[k] === 'number');
      markRows.push([what, fmt(med(runs.map((m) => m[k])), 0), fmt(med(runs.map((m) => stepOf(m, k))), 0)]);
    }
    console.log(table(markRows));
    console.log(table(rows));
    // The median and the mean without the highest and the lowest round: one noisy window (another helper's
    // build) moves neither much.
    const trimmed = (xs: number[]) => {
      const t = [...xs].sort((a, b2) => a - b2).slice(xs.length > 2 ? 1 : 0, xs.length > 2 ? -1 : undefined);
      return t.reduce((a, b2) => a + b2, 0) / t.length;
    };
    if (ratios.length)
      console.log(
        `API server CPU per patch with 5 pages ÷ its twin without them, at the same moments: median ${fmt(med(ratios))}×, trimmed mean ${fmt(trimmed(ratios))}× over ${ratios.length} rounds (wanted ≤ 1.1×); ` +
          `the ui server with no page ÷ twin: median ${fmt(med(uiOnly))}×; the two servers with no ui server at all (one window's noise): median ${fmt(med(noUi))}×, ${fmt(Math.min(...noUi))}–${fmt(Math.max(...noUi))}; loadavg ${loadavg()}`,
      );
  } finally {
    for (const bb of browsers) await bb.close();
    await ui?.close();
    c.close();
    twinClient?.close();
    await s.stop();
    await twin?.stop();
    if (twinDir) rmSync(twinDir, { recursive: true, force: true });
    if (API_PROFILE) printApiProfile(API_PROFILE, spans);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
