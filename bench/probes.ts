// Cost of one probe run, per action, beside the bare operation it wraps measured in the same run:
// exec probe (Runtime.exec + output + exit) vs `runc exec <id> true` spawned directly (root only);
// httpGet probe vs a bare http.get on a fresh connection; tcpSocket probe vs a bare connect.
//   npx tsc -p tsconfig.json && node dist/bench/probes.js [--n 200]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { run } from '../src/util/exec.js';
import { execProbe, httpGetProbe, tcpSocketProbe } from '../src/agent/probe-handlers.js';
import { ensureImages } from '../src/agent/runtime/images.js';
import { Runtime } from '../src/agent/runtime/runtime.js';
import { fmt, summarize, table } from './lib.js';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--n') + 1] || 200) || 200;

async function timeIt(n: number, f: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    out.push(performance.now() - t0);
  }
  return out;
}

function bareGet(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
}

function bareConnect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve();
    });
    s.on('error', reject);
  });
}

function runcExec(root: string, id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('runc', ['--root', root, 'exec', id, 'true'], { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runc exec exited ${code}`))));
  });
}

const rows: (string | number)[][] = [['action', 'n', 'probe p50 ms', 'probe p99 ms', 'anchor', 'anchor p50 ms', 'anchor p99 ms', 'ratio p50']];
function row(name: string, probe: number[], anchorName: string, anchor: number[]): void {
  const p = summarize(probe);
  const a = summarize(anchor);
  rows.push([name, p.n, p.p50, p.p99, anchorName, a.p50, a.p99, `${fmt(p.p50 / a.p50)}x`]);
}

const srv = http.createServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
const port = (srv.address() as net.AddressInfo).port;
// Interleaved warm-up, then the measured runs.
await timeIt(20, () => httpGetProbe({ port, path: '/' }, '127.0.0.1', port, 1000));
await timeIt(20, () => bareGet(port));
row(
  'httpGet',
  await timeIt(N, () => httpGetProbe({ port, path: '/' }, '127.0.0.1', port, 1000)),
  'http.get, new connection',
  await timeIt(N, () => bareGet(port)),
);
row('tcpSocket', await timeIt(N, () => tcpSocketProbe('127.0.0.1', port, 1000)), 'net.connect', await timeIt(N, () => bareConnect(port)));
srv.close();

if (process.getuid?.() === 0) {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-probes-'));
  const netns = `k8tsbp-${randomBytes(4).toString('hex')}`;
  let rt: Runtime | undefined;
  try {
    await run(['ip', 'netns', 'add', netns]);
    await ensureImages(join(dir, 'images'));
    rt = new Runtime({ stateDir: join(dir, 'state'), imagesDir: join(dir, 'images') });
    const id = await rt.create({ name: 'main', podName: 'bench', image: 'busybox', netns: `/run/netns/${netns}`, command: ['sleep', '3600'] });
    const n = Math.min(N, 100);
    await timeIt(5, () => execProbe(rt!, id, ['true'], 5000));
    await timeIt(5, () => runcExec(rt!.runc.root, id));
    row('exec', await timeIt(n, () => execProbe(rt!, id, ['true'], 5000)), 'runc exec <id> true', await timeIt(n, () => runcExec(rt!.runc.root, id)));
  } finally {
    if (rt) {
      for (const c of await rt.list().catch(() => [])) await rt.remove(c.id).catch(() => {});
      rt.close();
    }
    await run(['ip', 'netns', 'del', netns]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  process.stderr.write('exec probe skipped: needs root (a runc container)\n');
}
process.stdout.write(`${table(rows)}\n`);
