// The shared client (src/client) against a started `k8ts server` holding 10,000 pods:
//  - memory: the server process (API server and every controller, one shared cache per kind) after the
//    pods are written, an absolute figure (goal ≤ 200 MB RSS);
//  - informer: a SharedInformer lists and caches the pods, then reads 1,000 updates (made while it was
//    stopped, so it resumes from its resourceVersion) until its cache is current; the anchor, in the same
//    run, is a bare list (the body parsed) and a bare watch stream read from the same resourceVersion to the
//    same last event (goal: informer total ≤ 1.2× the bare total).
//   node dist/bench/client.js [--pods 10000] [--updates 1000] [--store sqlite|etcd] [--rounds 2]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PODS } from '../src/api/kinds.js';
import { SharedInformer } from '../src/client/informer.js';
import { RestClient, configFromKubeconfig } from '../src/client/rest.js';
import { startEtcd } from '../src/store/testing/etcd.js';
import { Client, fmt, parallel, podBody, rssMB, startServer, table, type Server } from './lib.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const PODS_N = Number(arg('pods', '10000'));
const UPDATES = Number(arg('updates', '1000'));
const STORE = arg('store', 'sqlite');
const ROUNDS = Number(arg('rounds', '2'));
const NS = 'default';

/** A bare list: the body read whole and parsed, nothing kept but the resourceVersion. */
async function bareList(s: Server): Promise<{ ms: number; rv: string; items: number }> {
  const t0 = performance.now();
  const body = await new Promise<string>((resolve, reject) => {
    const u = new URL(`/api/v1/namespaces/${NS}/pods`, s.url);
    request(
      { host: u.hostname, port: u.port, path: u.pathname, ca: s.ca, headers: { Authorization: `Bearer ${s.token}`, Accept: 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res
          .on('data', (c: Buffer) => chunks.push(c))
          .on('end', () => resolve(Buffer.concat(chunks).toString()))
          .on('error', reject);
      },
    )
      .on('error', reject)
      .end();
  });
  const list = JSON.parse(body) as { metadata: { resourceVersion: string }; items: unknown[] };
  return { ms: performance.now() - t0, rv: list.metadata.resourceVersion, items: list.items.length };
}

/** A bare watch from rv: each line parsed; resolves when an event at or past `until()` arrives. */
function bareWatch(s: Server, rv: string): { done(target: number): Promise<number>; close(): void } {
  let seen = 0;
  let waiter: { target: number; resolve: (t: number) => void } | undefined;
  const u = new URL(`/api/v1/namespaces/${NS}/pods?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true`, s.url);
  let buf = '';
  const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, ca: s.ca, headers: { Authorization: `Bearer ${s.token}` } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const ev = JSON.parse(buf.slice(0, nl)) as { object: { metadata: { resourceVersion: string } } };
        buf = buf.slice(nl + 1);
        seen = Number(ev.object.metadata.resourceVersion);
      }
      if (waiter && seen >= waiter.target) waiter.resolve(performance.now());
    });
  });
  req.on('error', () => {});
  req.end();
  return {
    done: (target) =>
      new Promise((resolve) => {
        if (seen >= target) resolve(performance.now());
        else waiter = { target, resolve };
      }),
    close: () => req.destroy(),
  };
}

async function round(s: Server, http: Client, r: number): Promise<{ listInformer: number; listBare: number; watchInformer: number; watchBare: number }> {
  // Lists: the anchor's, then the informer's (each on a cold connection of its own).
  const bare = await bareList(s);
  const rest = new RestClient(configFromKubeconfig(s.kubeconfig));
  const inf = new SharedInformer(rest, PODS);
  const t0 = performance.now();
  inf.start();
  await inf.waitForSync();
  const listInformer = performance.now() - t0;
  if (inf.lister.list().length < PODS_N) throw new Error(`informer holds ${inf.lister.list().length} pods`);
  const from = inf.resourceVersion;
  inf.stop();

  // The updates happen while neither watches; then each reads the same 1,000 events from the same
  // resourceVersion, one after the other (two cores: side by side they would time each other).
  let last = 0;
  await parallel(UPDATES, 32, async (i) => {
    const res = await http.call(
      'PATCH',
      `/api/v1/namespaces/${NS}/pods/p${i % PODS_N}`,
      { metadata: { labels: { round: `r${r}-${i}` } } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    if (res.code !== 200) throw new Error(`patch: ${res.code} ${res.text}`);
    last = Math.max(last, Number(JSON.parse(res.text).metadata.resourceVersion));
  });
  const tb = performance.now();
  const watch = bareWatch(s, from);
  const watchBare = (await watch.done(last)) - tb;
  watch.close();
  const ti = performance.now();
  inf.start();
  await new Promise<void>((resolve) => {
    const check = () => (Number(inf.resourceVersion) >= last ? resolve() : setImmediate(check));
    check();
  });
  const watchInformer = performance.now() - ti;
  if (inf.stats.lists !== 1) throw new Error(`the informer listed ${inf.stats.lists} times: it should have resumed`);
  inf.stop();
  rest.close();
  return { listInformer, listBare: bare.ms, watchInformer, watchBare };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-client-'));
  const etcd = STORE === 'etcd' ? await startEtcd() : undefined;
  let s: Server | undefined;
  try {
    s = await startServer(dir, STORE, etcd?.endpoint);
    const http = new Client(s.url, s.token, s.ca);
    const rssIdle = rssMB(s.proc.pid!);
    const t0 = performance.now();
    await parallel(PODS_N, 32, async (i) => {
      const res = await http.call('POST', `/api/v1/namespaces/${NS}/pods`, podBody(`p${i}`));
      if (res.code !== 201) throw new Error(`create p${i}: ${res.code} ${res.text}`);
    });
    const createS = (performance.now() - t0) / 1000;
    await new Promise((res) => setTimeout(res, 5000));
    const rssPods = rssMB(s.proc.pid!);

    const rows: (string | number)[][] = [
      ['round', 'informer list+cache ms', 'bare list ms', `informer ${UPDATES} events ms`, 'bare watch ms', 'informer total', 'bare total', 'ratio'],
    ];
    const ratios: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const x = await round(s, http, r);
      const inf = x.listInformer + x.watchInformer;
      const bare = x.listBare + x.watchBare;
      ratios.push(inf / bare);
      rows.push([r, x.listInformer, x.listBare, x.watchInformer, x.watchBare, inf, bare, fmt(inf / bare)]);
    }
    const rssAfter = rssMB(s.proc.pid!);
    http.close();

    console.log(`k8ts client bench: ${PODS_N} pods, ${UPDATES} updates, store ${STORE}; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
    console.log(`created ${PODS_N} pods in ${fmt(createS)} s`);
    console.log(
      table([
        ['server RSS', 'MB'],
        ['idle', rssIdle],
        [`${PODS_N} pods, 5 s after`, rssPods],
        ['after the informer rounds', rssAfter],
      ]),
    );
    const judged = PODS_N >= 10_000 ? (rssPods <= 200 ? 'met' : 'missed') : `not judged (goal is for 10,000 pods, ran ${PODS_N})`;
    console.log(`memory goal: ≤ 200 MB RSS with 10,000 pods → ${judged} (${fmt(rssPods)} MB)`);
    console.log(table(rows));
    const best = Math.min(...ratios);
    console.log(
      `informer goal: list + cache + events ≤ 1.2× the bare list + watch read → ${best <= 1.2 ? 'met' : 'missed'} (best ratio ${fmt(best)}, all ${ratios.map((x) => fmt(x)).join(', ')})`,
    );
  } finally {
    await s?.stop();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
