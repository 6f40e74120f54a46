// API server benchmark: create/get/list/watch on SQLite and on etcd, each beside its anchors measured in
// the same run: the floor server (bench/floor-server.ts: Node HTTPS + JSON + durable SQLite committed in
// groups, nothing of Kubernetes), raw SQLite inserts, raw etcd puts through the store's own gRPC channel (no store logic). The
// paced create runs twice: on the machine as it is, and with one core taken by a busy loop. Lists are timed
// to their last byte, as `curl -o /dev/null` times them (the goal is the server's side); the bench's own
// client making one 16 MB string of the JSON list is shown beside it.
//   node dist/bench/api.js [--store sqlite|etcd|both] [--list-pods 10000]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request, Agent } from 'node:https';
import Database from 'better-sqlite3';
import { Client, podBody, rssMB, startServer, summarize, table, fmt, type Server } from './lib.js';
import { startEtcd } from '../src/store/testing/etcd.js';
import { encodeTxn } from '../src/store/etcdproto.js';
import { GrpcChannel } from '../src/store/grpc.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const STORES = arg('store', 'both') === 'both' ? ['sqlite', 'etcd'] : [arg('store', 'sqlite')];
const LIST_PODS = Number(arg('list-pods', '10000'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// ---- anchors ----

interface Floor {
  url: string;
  ca: Buffer;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** The floor server as a child process (its own event loop and core, as the k8ts server has). */
async function startFloor(dir: string): Promise<Floor> {
  const fdir = mkdtempSync(join(dir, 'floor-'));
  const proc = spawn(process.execPath, [join(dirname(new URL(import.meta.url).pathname), 'floor-server.js'), fdir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err += b));
  const port = await new Promise<string>((res, rej) => {
    proc.stdout!.on('data', (b: Buffer) => {
      out += b;
      const m = /listening on (\d+)/.exec(out);
      if (m) res(m[1]);
    });
    proc.on('exit', (c) => rej(new Error(`floor server exited ${c}: ${err}`)));
  });
  return {
    url: `https://127.0.0.1:${port}`,
    ca: readFileSync(join(fdir, 'floor.crt')),
    proc,
    async stop() {
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await done;
    },
  };
}

/** One core kept busy by a spinning process, for the loaded runs; returns its stopper. */
function busyCore(): () => Promise<void> {
  const p = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  return async () => {
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await done;
  };
}

function sqliteAnchor(dir: string, n: number): { seqPerSec: number; p50: number; p99: number; batchPerSec: number } {
  const db = new Database(join(dir, 'anchor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE kv (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, value BLOB)');
  const ins = db.prepare('INSERT INTO kv (name, value) VALUES (?, ?)');
  const value = JSON.stringify(podBody('anchor'));
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    ins.run(`/registry/core/pods/anchor/p${i}`, value);
    lat.push(performance.now() - t);
  }
  const seq = n / ((performance.now() - t0) / 1000);
  const batch = db.transaction((k: number) => {
    for (let i = 0; i < 32; i++) ins.run(`/registry/core/pods/anchor/b${k}-${i}`, value);
  });
  const t1 = performance.now();
  for (let k = 0; k < n / 32; k++) batch(k);
  const batched = (Math.floor(n / 32) * 32) / ((performance.now() - t1) / 1000);
  db.close();
  const s = summarize(lat);
  return { seqPerSec: seq, p50: s.p50, p99: s.p99, batchPerSec: batched };
}

function sqliteListAnchor(dir: string, n: number): number {
  const db = new Database(join(dir, 'list.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE kv (name TEXT PRIMARY KEY, value BLOB)');
  const ins = db.prepare('INSERT INTO kv (name, value) VALUES (?, ?)');
  const value = JSON.stringify(podBody('anchor'));
  db.transaction(() => {
    for (let i = 0; i < n; i++) ins.run(`/registry/core/pods/list/p${String(i).padStart(6, '0')}`, value);
  })();
  const sel = db.prepare('SELECT name, value FROM kv WHERE name >= ? AND name < ? ORDER BY name');
  const times: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    const rows = sel.all('/registry/core/pods/list/', '/registry/core/pods/list0') as { value: string }[];
    for (const row of rows) JSON.parse(row.value);
    times.push(performance.now() - t);
  }
  db.close();
  return summarize(times).p50;
}

async function etcdAnchor(endpoint: string, n: number): Promise<{ seqPerSec: number; p50: number; p99: number; parPerSec: number }> {
  const channel = new GrpcChannel([new URL(endpoint)]);
  const value = JSON.stringify(podBody('anchor'));
  // A put alone (a txn with no guard): what etcd and the wire cost, without the store's compare.
  const put = (key: string) =>
    channel.unary(
      '/etcdserverpb.KV/Txn',
      encodeTxn({ compare: [], success: [{ put: { key: Buffer.from(key), value: { text: value, encoding: 'utf8' } } }], failure: [] }),
      10_000,
    );
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await put(`/anchor/seq/${i}`);
    lat.push(performance.now() - t);
  }
  const seq = n / ((performance.now() - t0) / 1000);
  let next = 0;
  const total = n * 2;
  const t1 = performance.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < total) {
        const i = next++;
        await put(`/anchor/par/${i}`);
      }
    }),
  );
  const par = total / ((performance.now() - t1) / 1000);
  channel.close();
  const s = summarize(lat);
  return { seqPerSec: seq, p50: s.p50, p99: s.p99, parPerSec: par };
}

// ---- API measurements ----

async function pacedCreates(c: Client, ns: string, perSec: number, seconds: number): Promise<number[]> {
  const lat: number[] = [];
  const total = perSec * seconds;
  const interval = 1000 / perSec;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    pending.push(
      c.call('POST', `/api/v1/namespaces/${ns}/pods`, podBody(`paced-${i}`)).then((r) => {
        if (r.code !== 201) throw new Error(`create failed: ${r.code} ${r.text}`);
        lat.push(r.ms);
      }),
    );
  }
  await Promise.all(pending);
  return lat;
}

async function concurrentCreates(c: Client, ns: string, clients: number, total: number, prefix: string): Promise<{ perSec: number; lat: number[] }> {
  let next = 0;
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        const i = next++;
        const r = await c.call('POST', `/api/v1/namespaces/${ns}/pods`, podBody(`${prefix}-${i}`));
        if (r.code !== 201) throw new Error(`create failed: ${r.code} ${r.text}`);
        lat.push(r.ms);
      }
    }),
  );
  return { perSec: total / ((performance.now() - t0) / 1000), lat };
}

/** One `kubectl get pods` and where its time went, from its own -v=6 log: the waits of its client-side
 *  rate limiter (client-go's default QPS 5, burst 10: a 10,000-pod list is 20 pages of 500) and the
 *  round trips of its requests as it timed them. */
function kubectlGet(s: Server, ns: string, home: string): { ms: number; throttledMs: number; requestsMs: number; requests: number } {
  const dir = dirname(spawnSync('sh', ['-c', 'readlink -f "$(command -v kubectl)"'], { encoding: 'utf8' }).stdout.trim());
  const bin = join(dir, 'kubectl.1.32');
  const t = performance.now();
  const r = spawnSync(bin, ['get', 'pods', '-n', ns, '-v=6'], {
    env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: s.kubeconfig },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`kubectl get pods failed: ${r.stderr}`);
  const rows = r.stdout.trim().split('\n').length - 1;
  if (rows < LIST_PODS) throw new Error(`kubectl printed ${rows} rows, expected ${LIST_PODS}`);
  const sum = (re: RegExp) => [...r.stderr.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
  return {
    ms,
    throttledMs: sum(/Waited for ([\d.]+)ms due to client-side throttling/g),
    requestsMs: sum(/ in (\d+) milliseconds/g),
    requests: [...r.stderr.matchAll(/ in \d+ milliseconds/g)].length,
  };
}

async function watchFanout(s: Server, c: Client, ns: string, watchers: number, writes: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: watchers + 4, ca: s.ca });
  const list = await c.call('GET', `/api/v1/namespaces/${ns}/configmaps`);
  const rv = JSON.parse(list.text).metadata.resourceVersion;
  const sent = new Map<string, number>();
  const lat: number[] = [];
  const reqs: ReturnType<typeof request>[] = [];
  let connected = 0;
  await new Promise<void>((ready) => {
    for (let w = 0; w < watchers; w++) {
      const u = new URL(`/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${rv}`, s.url);
      const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, agent, headers: { Authorization: `Bearer ${s.token}` } }, (res) => {
        let buf = '';
        res.on('data', (b: Buffer) => {
          const at = performance.now();
          buf += b;
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const name = JSON.parse(line).object.metadata.name;
            const t = sent.get(name);
            if (t !== undefined) lat.push(at - t);
          }
        });
        if (++connected === watchers) ready();
      });
      req.end();
      reqs.push(req);
    }
  });
  await sleep(200);
  for (let i = 0; i < writes; i++) {
    const name = `w-${i}`;
    sent.set(name, performance.now());
    const r = await c.call('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name }, data: { i: String(i) } });
    if (r.code !== 201) throw new Error(r.text);
    await sleep(50);
  }
  await sleep(500);
  for (const r of reqs) r.destroy();
  agent.destroy();
  if (lat.length !== watchers * writes) throw new Error(`watchers saw ${lat.length} events, expected ${watchers * writes}`);
  return lat;
}

async function benchStore(store: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `k8ts-bench-${store}-`));
  let etcd: Awaited<ReturnType<typeof startEtcd>> | undefined;
  let s: Server | undefined;
  try {
    console.log(`\n=== API server on ${store} ===`);
    let anchorLine: (string | number)[][];
    if (store === 'etcd') {
      etcd = await startEtcd();
      const a = await etcdAnchor(etcd.endpoint, 500);
      anchorLine = [
        ['anchor: raw etcd put (gRPC channel)', 'sequential/s', a.seqPerSec],
        ['', 'p50 ms', a.p50],
        ['', 'p99 ms', a.p99],
        ['', '32 in flight/s', a.parPerSec],
      ];
    } else {
      const a = sqliteAnchor(dir, 1000);
      anchorLine = [
        ['anchor: raw SQLite insert (WAL, synchronous=FULL)', 'sequential/s', a.seqPerSec],
        ['', 'p50 ms', a.p50],
        ['', 'p99 ms', a.p99],
        ['', 'batched 32/txn rows/s', a.batchPerSec],
      ];
    }
    const loadBefore = loadavg();
    // The floor server: 32 clients and the paced run, quiet and with one core busy (measured twice, around
    // the API server's runs, so the ratio is not one noisy moment against another).
    const floorRuns: number[] = [];
    const floorPaced: { quiet?: ReturnType<typeof summarize>; loaded?: ReturnType<typeof summarize> } = {};
    const runFloor = async (round: number): Promise<void> => {
      const f = await startFloor(dir);
      const fc = new Client(f.url, '', f.ca, 64);
      try {
        await concurrentCreates(fc, `warm${round}`, 32, 500, 'w');
        floorRuns.push((await concurrentCreates(fc, `conc${round}`, 32, 6000, 'c')).perSec);
        if (round === 0) {
          floorPaced.quiet = summarize(await pacedCreates(fc, 'paced', 200, 5));
          const stopBusy = busyCore();
          try {
            floorPaced.loaded = summarize(await pacedCreates(fc, 'pacedload', 200, 5));
          } finally {
            await stopBusy();
          }
        }
      } finally {
        fc.close();
        await f.stop();
      }
    };
    await runFloor(0);

    s = await startServer(dir, store, etcd?.endpoint);
    // Two readings of an idle server: 2 s after it serves (start-up's garbage still resident), and 30 s after,
    // once V8's memory reducer has collected it. Read each second, an idle server holds ~90 MB until 15–16 s
    // after it serves and ~76 MB from then on (2026-12-08), so a reading at 15 s caught either.
    await sleep(2000);
    const startRss = rssMB(s.proc.pid!);
    await sleep(28_000);
    const idleRss = rssMB(s.proc.pid!);
    const c = new Client(s.url, s.token, s.ca, 64);
    for (const ns of ['paced', 'pacedload', 'conc', 'list', 'watch', 'warm']) await c.call('POST', '/api/v1/namespaces', { metadata: { name: ns } });

    await concurrentCreates(c, 'warm', 32, 500, 'w');
    const paced = summarize(await pacedCreates(c, 'paced', 200, 5));
    const stopBusy = busyCore();
    let pacedLoaded: ReturnType<typeof summarize>;
    const loadDuringBusy = loadavg();
    try {
      pacedLoaded = summarize(await pacedCreates(c, 'pacedload', 200, 5));
    } finally {
      await stopBusy();
    }
    const conc = await concurrentCreates(c, 'conc', 32, store === 'etcd' ? 3000 : 6000, 'c');
    const concS = summarize(conc.lat);
    await runFloor(1);
    const floorRate = floorRuns.reduce((a, b) => a + b, 0) / floorRuns.length;
    const gets: number[] = [];
    for (let i = 0; i < 500; i++) gets.push((await c.call('GET', `/api/v1/namespaces/conc/pods/c-${i}`)).ms);
    const getS = summarize(gets);

    // Fill the list namespace, then time a plain list and a Table list (server side) and the real kubectl.
    await concurrentCreates(c, 'list', 32, LIST_PODS, 'l');
    // Timed to the last byte (the server's side and the transfer); each answer is checked once, untimed, and
    // the time the bench's own client takes to make one string of the JSON list is shown beside it.
    const tableAccept = { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' };
    const whole = await c.call('GET', `/api/v1/namespaces/list/pods`);
    const items = whole.code === 200 ? JSON.parse(whole.text).items.length : 0;
    if (items !== LIST_PODS) throw new Error(`list answered ${whole.code} with ${items} items, expected ${LIST_PODS}: ${whole.text.slice(0, 200)}`);
    const wholeTable = await c.call('GET', `/api/v1/namespaces/list/pods`, undefined, tableAccept);
    const rowsSeen = wholeTable.code === 200 ? JSON.parse(wholeTable.text).rows.length : 0;
    if (rowsSeen !== LIST_PODS) throw new Error(`Table list answered ${wholeTable.code} with ${rowsSeen} rows, expected ${LIST_PODS}`);
    const listMs: number[] = [];
    const listStringMs: number[] = [whole.ms];
    const tableMs: number[] = [];
    const listBytes = Buffer.byteLength(whole.text);
    for (let i = 0; i < 5; i++) {
      const l = await c.fetchBytes(`/api/v1/namespaces/list/pods`);
      if (l.code !== 200 || l.bytes !== listBytes) throw new Error(`list answered ${l.code} with ${l.bytes} bytes, expected ${listBytes}`);
      listMs.push(l.ms);
      const r = await c.fetchBytes(`/api/v1/namespaces/list/pods`, tableAccept);
      if (r.code !== 200) throw new Error(`Table list answered ${r.code}`);
      tableMs.push(r.ms);
      if (i < 2) listStringMs.push((await c.call('GET', `/api/v1/namespaces/list/pods`)).ms);
    }
    const afterListsRss = rssMB(s.proc.pid!);
    const home = join(dir, 'home');
    kubectlGet(s, 'list', home); // warm the discovery cache
    const server = s;
    const kubectlRuns = [0, 1, 2].map(() => kubectlGet(server, 'list', home));
    const kubectlMs = kubectlRuns.map((k) => k.ms);
    const median = (f: (k: (typeof kubectlRuns)[number]) => number) => summarize(kubectlRuns.map(f)).p50;
    const listAnchor = sqliteListAnchor(dir, LIST_PODS);

    const fan = summarize(await watchFanout(s, c, 'watch', 100, 20));
    const loadedRss = rssMB(s.proc.pid!);
    c.close();
    const loadAfter = loadavg();

    const rows: (string | number)[][] = [['measure', 'figure', 'value'], ...anchorLine];
    if (store === 'sqlite') {
      rows.push(
        ['anchor: floor server (HTTPS+JSON+SQLite group commit)', '32 clients creates/s (2 runs)', floorRate],
        ['', 'paced 200/s p99 ms, quiet / one core busy', `${fmt(floorPaced.quiet!.p99)} / ${fmt(floorPaced.loaded!.p99)}`],
      );
    }
    rows.push(
      ['create, paced 200/s for 5 s', 'p50 ms', paced.p50],
      ['', 'p99 ms (goal <= 10)', paced.p99],
      ['create, paced 200/s, one core busy', 'p50 ms', pacedLoaded.p50],
      ['', 'p99 ms (goal <= 10)', pacedLoaded.p99],
      ['create, 32 concurrent clients', 'creates/s', conc.perSec],
      ['', 'p50 ms', concS.p50],
      ['', 'p99 ms', concS.p99],
      ['get one pod, sequential', 'p50 ms', getS.p50],
      ['', 'p99 ms', getS.p99],
      [`list ${LIST_PODS} pods, JSON (${fmt(listBytes / 1e6)} MB), to its last byte`, 'p50 ms (goal <= 100)', summarize(listMs).p50],
      ['', "the same read into one string by this bench's client, p50 ms", summarize(listStringMs).p50],
      [`list ${LIST_PODS} pods as a Table, to its last byte`, 'p50 ms (goal <= 100)', summarize(tableMs).p50],
      [`kubectl get pods, ${LIST_PODS} pods`, 'p50 ms (goal <= 1000)', summarize(kubectlMs).p50],
      ['', `its requests' round trips, sum ms (${kubectlRuns[0].requests} requests)`, median((k) => k.requestsMs)],
      ['', "kubectl's own rate limiter (QPS 5, burst 10), waits ms", median((k) => k.throttledMs)],
      [`anchor: raw SQLite select+parse ${LIST_PODS} rows`, 'p50 ms', listAnchor],
      ['one write seen by 100 watchers', 'p50 ms', fan.p50],
      ['', 'p99 ms (goal <= 20)', fan.p99],
      ['server RSS', '2 s after it serves MB', startRss],
      ['', 'idle, 30 s after it serves MB (goal <= 80)', idleRss],
      ['', 'after 10 lists MB', afterListsRss],
      ['', 'after the load MB', loadedRss],
    );
    console.log(table(rows));
    console.log(`load (1/5/15 min): before ${loadBefore}; during the busy-core run ${loadDuringBusy}; after ${loadAfter}`);
    if (store === 'sqlite') console.log(`ratio: API creates/s (32 clients) / floor server creates/s = ${fmt(conc.perSec / floorRate)} (goal >= 0.7)`);
    else console.log(`ratio: API creates/s (32 clients) / raw etcd 32 in flight/s = ${fmt(conc.perSec / Number(anchorLine[3][2]))}`);
  } finally {
    await s?.stop();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const st of STORES) await benchStore(st);
