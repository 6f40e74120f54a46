// Datastore benchmark: durable creates through SqliteStore and EtcdStore against the raw client of the
// same engine (same payload, same durability) measured in the same run, plus a 10,000-key list.
//   node dist/bench/store.js [--store sqlite|etcd|both]   (BENCH_SECONDS=n: seconds per write case, default 2)
// Each row also shows the benchmark process's own CPU per operation: for etcd that is the client's cost
// alone (etcd runs in its own process), the figure a server on etcd pays per write.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../src/store/etcd.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { etcdSkipReason, startEtcd } from '../src/store/testing/etcd.js';

const storeArg = process.argv.includes('--store') ? process.argv[process.argv.indexOf('--store') + 1] : 'both';
const STORES = storeArg === 'both' ? ['sqlite', 'etcd'] : [storeArg];
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const CONCURRENCY = 32;
const LIST_KEYS = 10_000;
/** About the size of a small pod object in JSON. */
const PAYLOAD = JSON.stringify({ kind: 'Pod', apiVersion: 'v1', spec: { pad: 'x'.repeat(960) } });

interface Result {
  backend: string;
  name: string;
  ops: number;
  seconds: number;
  latencies: number[];
  /** CPU (user + system) of this process while the case ran, in microseconds. */
  cpuMicros: number;
  /** Label of the anchor row this one is compared with. */
  anchor?: string;
}

const results: Result[] = [];

interface Case {
  name: string;
  concurrency: number;
  op: (i: number) => unknown;
  /** Rows one call writes (a batched insert writes several). */
  opsPerCall?: number;
}

/**
 * Times an anchor and the case compared with it in alternating slices (A B A B ...), so a change in
 * the machine's disk or CPU speed during the run hits both alike. Every call's latency is recorded.
 */
async function timedPair(backend: string, anchor: Case, subject: Case, slices = 4): Promise<void> {
  const a = newResult(backend, anchor.name);
  const b = newResult(backend, subject.name, anchor.name);
  let n = 0;
  for (let s = 0; s < slices; s++) {
    for (const [c, r] of [
      [anchor, a],
      [subject, b],
    ] as const) {
      const start = performance.now();
      const cpu0 = process.cpuUsage();
      const deadline = start + (SECONDS * 1000) / slices;
      const loop = async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          await c.op(n++);
          r.latencies.push(performance.now() - t0);
          r.ops += c.opsPerCall ?? 1;
        }
      };
      await Promise.all(Array.from({ length: c.concurrency }, loop));
      r.seconds += (performance.now() - start) / 1000;
      r.cpuMicros += cpuMicrosSince(cpu0);
    }
  }
  results.push(a, b);
}

function newResult(backend: string, name: string, anchor?: string): Result {
  return { backend, name, ops: 0, seconds: 0, latencies: [], cpuMicros: 0, anchor };
}

function cpuMicrosSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return d.user + d.system;
}

/** Times a few runs of one call (for reads that take milliseconds, not microseconds). */
async function repeated(backend: string, name: string, runs: number, op: () => unknown, anchor?: string): Promise<void> {
  await op(); // warm the cache: the benchmark is about steady state, not the first read from disk
  const latencies: number[] = [];
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await op();
    latencies.push(performance.now() - t0);
  }
  results.push({ backend, name, ops: runs, seconds: (performance.now() - start) / 1000, latencies, cpuMicros: cpuMicrosSince(cpu0), anchor });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function opsPerSecond(r: Result): number {
  return r.ops / r.seconds;
}

function printTable(): void {
  const rows = [['backend', 'case', 'ops/s', 'p50 ms', 'p99 ms', 'CPU µs/op', 'vs anchor']];
  for (const r of results) {
    const sorted = [...r.latencies].sort((a, b) => a - b);
    const anchor = r.anchor ? results.find((a) => a.backend === r.backend && a.name === r.anchor) : undefined;
    rows.push([
      r.backend,
      r.name,
      Math.round(opsPerSecond(r)).toLocaleString('en-US'),
      percentile(sorted, 50).toFixed(2),
      percentile(sorted, 99).toFixed(2),
      Math.round(r.cpuMicros / r.ops).toLocaleString('en-US'),
      anchor ? `${(opsPerSecond(r) / opsPerSecond(anchor)).toFixed(2)}x of "${anchor.name}"` : 'anchor',
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const [i, row] of rows.entries()) {
    console.log(row.map((cell, c) => (c >= 2 && c <= 5 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

async function benchSqlite(root: string): Promise<void> {
  // Anchor: the same engine with the same durability (WAL, synchronous=FULL), no store logic at all.
  const rawDir = join(root, 'raw');
  mkdirSync(rawDir);
  const db = new Database(join(rawDir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO t (name, value) VALUES (?, ?)');
  const insertBatch = db.transaction((base: number) => {
    for (let i = 0; i < CONCURRENCY; i++) insert.run(`/raw/b${base}-${i}`, PAYLOAD);
  });
  const store = await SqliteStore.open({ dataDir: join(root, 'store') });
  await timedPair(
    'sqlite',
    { name: 'raw insert, 1 row/txn', concurrency: 1, op: (i) => insert.run(`/raw/s${i}`, PAYLOAD) },
    { name: 'SqliteStore.create, 1 caller', concurrency: 1, op: (i) => store.create(`/bench/seq/${i}`, PAYLOAD) },
  );
  await timedPair(
    'sqlite',
    { name: `raw insert, ${CONCURRENCY} rows/txn`, concurrency: 1, op: (i) => insertBatch(i), opsPerCall: CONCURRENCY },
    {
      name: `SqliteStore.create, ${CONCURRENCY} callers`,
      concurrency: CONCURRENCY,
      op: (i) => store.create(`/bench/par/${i}`, PAYLOAD),
    },
  );

  // Lists: 10,000 keys under one prefix, next to plenty of keys under others.
  for (let i = 0; i < LIST_KEYS; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => store.create(`/bench/list/${String(i + j).padStart(6, '0')}`, PAYLOAD)));
    const rows = Array.from({ length: 500 }, (_, j) => `/bench/list/${String(i + j).padStart(6, '0')}`);
    db.transaction(() => rows.forEach((name) => insert.run(name, PAYLOAD)))();
  }
  db.exec('CREATE INDEX t_name ON t (name)');
  const rawList = db.prepare("SELECT id, name, value FROM t WHERE name >= '/bench/list/' AND name < '/bench/list0' ORDER BY name");
  const RAW_LIST = `raw select of ${LIST_KEYS} rows`;
  await repeated('sqlite', RAW_LIST, 20, () => {
    if (rawList.all().length !== LIST_KEYS) throw new Error('raw list size');
  });
  await repeated(
    'sqlite',
    `SqliteStore.list ${LIST_KEYS} keys`,
    20,
    async () => {
      if ((await store.list('/bench/list/')).items.length !== LIST_KEYS) throw new Error('list size');
    },
    RAW_LIST,
  );
  // Paging at a fixed older revision takes the history path (latest row per key at that revision).
  const rev = await store.currentRevision();
  await store.create('/bench/list/after', PAYLOAD);
  await repeated(
    'sqlite',
    `SqliteStore.list ${LIST_KEYS} keys at past rev, pages of 500`,
    5,
    async () => {
      let page = await store.list('/bench/list/', { revision: rev, limit: 500 });
      let n = page.items.length;
      while (page.more) {
        page = await store.list('/bench/list/', { revision: rev, limit: 500, after: page.items[page.items.length - 1].key });
        n += page.items.length;
      }
      if (n !== LIST_KEYS) throw new Error(`paged list size ${n}`);
    },
    RAW_LIST,
  );
  await store.close();
  db.close();
}

async function benchEtcd(): Promise<void> {
  const reason = etcdSkipReason();
  if (reason) {
    console.log(`etcd benchmark skipped: ${reason}`);
    return;
  }
  const etcd = await startEtcd();
  try {
    const client = new Etcd3({ hosts: [etcd.endpoint], grpcOptions: { 'grpc.max_receive_message_length': -1 } });
    const value = Buffer.from(PAYLOAD);
    await client.put('/warmup').value('x'); // connect outside the timed part
    const store = await EtcdStore.open({ endpoints: [etcd.endpoint], prefix: '/bench' });
    const put = (key: string) => client.kv.put({ key: Buffer.from(key), value });
    await timedPair(
      'etcd',
      { name: 'raw etcd3 put, 1 in flight', concurrency: 1, op: (i) => put(`/raw/s${i}`) },
      { name: 'EtcdStore.create, 1 caller', concurrency: 1, op: (i) => store.create(`/seq/${i}`, PAYLOAD) },
    );
    await timedPair(
      'etcd',
      { name: `raw etcd3 put, ${CONCURRENCY} in flight`, concurrency: CONCURRENCY, op: (i) => put(`/raw/p${i}`) },
      { name: `EtcdStore.create, ${CONCURRENCY} callers`, concurrency: CONCURRENCY, op: (i) => store.create(`/par/${i}`, PAYLOAD) },
    );
    // 10,000 keys written 100 to a txn (etcd's default limit is 128 operations per txn).
    for (let i = 0; i < LIST_KEYS; i += 100) {
      const success = Array.from({ length: 100 }, (_, j) => ({
        request_put: { key: Buffer.from(`/bench/list/${String(i + j).padStart(6, '0')}`), value },
      }));
      await client.kv.txn({ compare: [], success, failure: [] });
    }
    const RAW_RANGE = `raw etcd3 range of ${LIST_KEYS} keys`;
    const rangeKey = Buffer.from('/bench/list/');
    const rangeEnd = Buffer.from('/bench/list0');
    await repeated('etcd', RAW_RANGE, 10, async () => {
      const res = await client.kv.range({ key: rangeKey, range_end: rangeEnd });
      if (res.kvs.length !== LIST_KEYS) throw new Error('raw range size');
    });
    await repeated(
      'etcd',
      `EtcdStore.list ${LIST_KEYS} keys`,
      10,
      async () => {
        if ((await store.list('/list/')).items.length !== LIST_KEYS) throw new Error('list size');
      },
      RAW_RANGE,
    );
    await store.close();
    client.close();
  } finally {
    await etcd.stop();
  }
}

const root = mkdtempSync(join(tmpdir(), 'k8ts-bench-store-'));
try {
  console.log(`store benchmark: ${SECONDS} s per write case, payload ${PAYLOAD.length} bytes, durable (fsync per commit)\n`);
  if (STORES.includes('sqlite')) await benchSqlite(root);
  if (STORES.includes('etcd')) await benchEtcd();
  printTable();
} finally {
  rmSync(root, { recursive: true, force: true });
}
