// A watcher that never reads while objects change 10,000 times: how much the API server's memory grows, and
// how much later the other watchers see their events, beside the same run without the slow watcher (the
// anchor). The objects exist before the baseline is taken (a fixed set of ConfigMaps, each changed in turn),
// so the growth is the watch path's and the caches', not the new objects'.
//   node dist/bench/slowwatcher.js [--n 10000] [--objects 1000] [--watchers 4] [--rounds 2] [--rate 400]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { request } from 'node:https';
import { performance } from 'node:perf_hooks';
import { Client, fmt, parallel, rssMB, startServer, summarize, table } from './lib.js';

const args = process.argv.slice(2);
const arg = (name: string, d: number) => Number(args[args.indexOf(`--${name}`) + 1] || d) || d;
const N = arg('n', 10_000);
/** The fixed set of objects the changes cycle through. */
const OBJECTS = Math.min(arg('objects', 1000), N);
const WATCHERS = arg('watchers', 4);
const ROUNDS = arg('rounds', 2);
/** Writes per second: below the server's saturation, so latency measures the event path, not a queue of writes. */
const RATE = arg('rate', 400);
const LIST = '/api/v1/namespaces/default/configmaps';
/** Watches start at the list's resourceVersion: they see the changes, not the objects made before. */
const watchPath = (rv: string) => `${LIST}?watch=1&resourceVersion=${rv}`;
const now = () => performance.timeOrigin + performance.now();

/** A watch that reads every event and records its delay after the write that caused it was sent. */
function readingWatcher(url: string, token: string, ca: Buffer, rv: string, latencies: number[]): Promise<() => void> {
  const u = new URL(watchPath(rv), url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, ca, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const t = /"sent":"([\d.]+)"/.exec(line);
          if (t) latencies.push(now() - Number(t[1]));
        }
      });
      resolve(() => req.destroy());
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    req.end();
  });
}

/** A watch whose client never reads a byte after asking. */
function slowWatcher(url: string, token: string, ca: Buffer, rv: string): Promise<TLSSocket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({ host: u.hostname, port: Number(u.port), ca, servername: 'localhost' }, () => {
      sock.write(`GET ${watchPath(rv)} HTTP/1.1\r\nHost: k8ts\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      sock.pause();
      resolve(sock);
    });
    sock.on('error', () => {});
    sock.once('error', reject);
  });
}

interface Run {
  slow: boolean;
  rssGrowthMB: number;
  p50: number;
  p99: number;
  events: number;
  cutOff: boolean;
}

async function run(slow: boolean): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-slowwatch-'));
  const s = await startServer(dir, 'sqlite');
  const c = new Client(s.url, s.token, s.ca, 16);
  const latencies: number[] = [];
  const stops: (() => void)[] = [];
  let slowSock: TLSSocket | undefined;
  try {
    const blob = 'x'.repeat(1024);
    await parallel(OBJECTS, 16, async (i) => {
      const r = await c.call('POST', LIST, { metadata: { name: `c${i}` }, data: { blob } });
      if (r.code !== 201) throw new Error(`create c${i}: ${r.code} ${r.text}`);
    });
    const rv = JSON.parse((await c.call('GET', `${LIST}?limit=1`)).text).metadata.resourceVersion as string;
    for (let i = 0; i < WATCHERS; i++) stops.push(await readingWatcher(s.url, s.token, s.ca, rv, latencies));
    if (slow) slowSock = await slowWatcher(s.url, s.token, s.ca, rv);
    await new Promise((r) => setTimeout(r, 2000));
    const base = rssMB(s.proc.pid!);
    let peak = base;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMB(s.proc.pid!));
    }, 50);
    const t0 = performance.now();
    await parallel(N, 16, async (i) => {
      const due = t0 + (i * 1000) / RATE - performance.now();
      if (due > 0) await new Promise((r) => setTimeout(r, due));
      // Change i of object i mod OBJECTS: new data of the same size, and when it was sent.
      const r = await c.call(
        'PATCH',
        `${LIST}/c${i % OBJECTS}`,
        { metadata: { annotations: { sent: String(now()) } }, data: { blob: `${String(i).padStart(8, '0')}${blob.slice(8)}` } },
        { 'Content-Type': 'application/merge-patch+json' },
      );
      if (r.code !== 200) throw new Error(`change ${i}: ${r.code} ${r.text}`);
    });
    const want = N * WATCHERS;
    const deadline = Date.now() + 60_000;
    while (latencies.length < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    clearInterval(sampler);
    peak = Math.max(peak, rssMB(s.proc.pid!));
    const metrics = (await c.call('GET', '/metrics')).text;
    const cutOff = /apiserver_terminated_watchers_total\{resource="configmaps"\} [1-9]/.test(metrics);
    const sum = summarize(latencies);
    return { slow, rssGrowthMB: peak - base, p50: sum.p50, p99: sum.p99, events: latencies.length, cutOff };
  } finally {
    for (const stop of stops) stop();
    slowSock?.destroy();
    c.close();
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(
    `slow watcher: ${N} changes at ${RATE}/s to ${OBJECTS} ConfigMaps (1 KiB, made before the baseline), ${WATCHERS} reading watchers; anchor: the same run without the slow watcher`,
  );
  console.log(`loadavg before: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  const rows: (string | number)[][] = [['run', 'round', 'RSS growth MB', 'event p50 ms', 'event p99 ms', 'events', 'slow watcher cut off']];
  const anchors: Run[] = [];
  const slows: Run[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const a = await run(false);
    anchors.push(a);
    rows.push(['anchor (no slow watcher)', round, a.rssGrowthMB, a.p50, a.p99, a.events, '-']);
    const b = await run(true);
    slows.push(b);
    rows.push(['slow watcher', round, b.rssGrowthMB, b.p50, b.p99, b.events, b.cutOff ? 'yes' : 'no']);
  }
  console.log(table(rows));
  const med = (xs: number[]) => summarize(xs).p50;
  const aP99 = med(anchors.map((r) => r.p99));
  const bP99 = med(slows.map((r) => r.p99));
  const aRss = med(anchors.map((r) => r.rssGrowthMB));
  const bRss = med(slows.map((r) => r.rssGrowthMB));
  console.log(
    `median over rounds: RSS growth ${fmt(bRss)} MB with the slow watcher vs ${fmt(aRss)} MB anchor (difference ${fmt(bRss - aRss)} MB; goal: growth ≤ 20 MB)`,
  );
  console.log(`other watchers' p99 event latency: ${fmt(bP99)} ms vs ${fmt(aP99)} ms anchor, ratio ${fmt(bP99 / aP99)} (goal ≤ 1.2)`);
  console.log(`loadavg after: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
}

await main();
