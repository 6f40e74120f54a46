// What metrics cost: the per-request instrumentation (request attributes, bounded labels, the counter and
// the histogram), measured in-process, beside its anchor, a GET of one ConfigMap from a real `k8ts server`
// in the same run (the overhead as a share of a request); and a /metrics scrape of that server.
//   node dist/bench/metrics.js [--n 20000]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, startServer, summarize, table, fmt } from './lib.js';
import { ApiServerMetrics, requestLabels } from '../src/apiserver/metrics.js';
import { requestAttributes } from '../src/apiserver/authz/attributes.js';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--n') + 1] || 20000) || 20000;

/** µs per request of the API server's instrumentation path, as `ApiServer.instrument` runs it. */
function instrumentationMicros(n: number): number {
  const m = new ApiServerMetrics(undefined, { processMetrics: false });
  const user = { name: 'bench', groups: [] };
  const paths = ['/api/v1/namespaces/default/configmaps/c1', '/api/v1/namespaces/default/pods', '/apis/apps/v1/namespaces/default/deployments/d1'];
  const q = new URLSearchParams();
  // The server parses the URL anyway; only what instrument() adds is timed.
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const a = requestAttributes(user, 'GET', paths[i % 3], q);
    const labels = requestLabels(a, 'GET', q, undefined);
    m.inflight.inc({ request_kind: 'readOnly' });
    const end = m.begin(labels);
    end(200);
    m.inflight.dec({ request_kind: 'readOnly' });
  }
  return ((performance.now() - t0) * 1000) / n;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-metrics-'));
  const s = await startServer(dir, 'sqlite');
  const c = new Client(s.url, s.token, s.ca, 1);
  try {
    await c.call('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'c1' }, data: { k: 'v' } });
    const rows: (string | number)[][] = [
      ['round', 'instrumentation µs/req', 'GET p50 µs (anchor)', 'share of a GET', 'scrape ms p50', 'scrape bytes', 'loadavg'],
    ];
    for (let round = 1; round <= 3; round++) {
      const gets: number[] = [];
      for (let i = 0; i < 2000; i++) gets.push((await c.call('GET', '/api/v1/namespaces/default/configmaps/c1')).ms);
      const us = instrumentationMicros(N);
      const getP50 = summarize(gets).p50 * 1000;
      const scrapes: number[] = [];
      let bytes = 0;
      for (let i = 0; i < 20; i++) {
        const r = await c.call('GET', '/metrics', undefined, { Accept: 'text/plain' });
        scrapes.push(r.ms);
        bytes = Buffer.byteLength(r.text);
      }
      rows.push([
        round,
        fmt(us),
        fmt(getP50, 0),
        `${fmt((100 * us) / getP50)} %`,
        fmt(summarize(scrapes).p50),
        bytes,
        readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      ]);
    }
    console.log(table(rows));
  } finally {
    c.close();
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
