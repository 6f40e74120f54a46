// Service proxy benchmark: full sync of N services × 2 endpoints, a one-service change (p50/p99) with N
// loaded, and "until the rule works" (a new ClusterIP programmed until a pod's connection through it
// succeeds), for k8ts's flat layout driven by ServiceProxy, beside the anchor measured in the same run: the
// layout kube-proxy's nftables mode describes (a chain per service and per endpoint, the endpoint picked by
// an inline numgen verdict map per service, a service-ips verdict map), generated here and driven by `nft -f`.
//
// Everything runs in throwaway namespaces ("k8tspx-…"), removed at the end, also on failure or Ctrl-C.
// Needs root.   node dist/bench/proxy.js [--sizes 1000,10000] [--changes 30] [--probes 10]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { EndpointSlice, Service } from '../src/api/types.js';
import { run } from '../src/util/exec.js';
import { NodeHelper } from '../src/agent/helper.js';
import { ServiceProxy } from '../src/agent/proxy/proxier.js';
import { IS_ROOT, NODE_IP, ProxyLab, service, slice } from '../src/agent/proxy/testing.js';
import { fmt, summarize, table } from './lib.js';
import { KP, clusterIP, epIPs, kpChange, kpRuleset, kpService } from './proxy/kubeproxy.js';
import { prober } from './proxy/prober.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SIZES = arg('sizes', '1000,10000').split(',').map(Number);
const CHANGES = Number(arg('changes', '30'));
const PROBES = Number(arg('probes', '10'));
const NODE = 'node-a';

const labs = new Set<ProxyLab>();
// The agent's node helper, which sends the netlink batch of a full sync (the proxy's nft runs as a child).
const helperDir = mkdtempSync(join(tmpdir(), 'k8tspx-helper-'));
const helper = new NodeHelper(helperDir);
async function cleanup(): Promise<void> {
  await Promise.all([...labs].map((l) => l.cleanup()));
  await helper.close();
  rmSync(helperDir, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => void cleanup().finally(() => process.exit(130)));
}

function world(n: number): { services: Service[]; slices: EndpointSlice[] } {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  for (let i = 0; i < n; i++) {
    services.push(service({ name: `s${i}`, clusterIP: clusterIP(i), ports: [{ port: 80, targetPort: 8080 }] }));
    slices.push(
      slice(
        `s${i}`,
        [{ port: 8080 }],
        epIPs(i).map((ip) => ({ ip, node: NODE })),
      ),
    );
  }
  return { services, slices };
}

// ---- helpers --------------------------------------------------------------------------------------------
async function nftIn(lab: ProxyLab, text: string): Promise<number> {
  const t0 = performance.now();
  await run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'nft', '-f', '-'], { input: text });
  return performance.now() - t0;
}

const now = () => performance.timeOrigin + performance.now();

interface Row {
  n: number;
  fullK8ts: number;
  fullKp: number;
  fullK8tsNft: number;
  fullK8tsNetlink: number;
  fullK8tsVia: string;
  restartK8ts: number;
  restartK8tsNft: number;
  chgK8ts: ReturnType<typeof summarize>;
  chgKp: ReturnType<typeof summarize>;
  worksK8ts: ReturnType<typeof summarize>;
  worksKp: ReturnType<typeof summarize>;
}

async function size(n: number): Promise<Row> {
  const lab = new ProxyLab();
  labs.add(lab);
  try {
    await lab.start();
    const server = await lab.pod(2);
    const client = await lab.pod(3);
    await lab.http(server, 80);
    const { services, slices } = world(n);

    // k8ts: full sync through the proxy as an agent makes it (with its node helper) where there is no table:
    // the model, `nft -f` of the structure, one netlink batch of the elements.
    const opts = {
      nodeName: NODE,
      nodeIPs: [NODE_IP],
      netns: lab.nodeNetns,
      checkMs: 3_600_000,
      resyncMs: 3_600_000,
      debounceMs: 0,
      conntrack: false,
      helper,
    };
    const first = new ServiceProxy(opts);
    first.update(services, slices);
    const t0 = performance.now();
    await first.start();
    const fullK8ts = performance.now() - t0;
    const { lastNftMs: fullK8tsNft, lastNetlinkMs: fullK8tsNetlink, lastFullVia: fullK8tsVia = '?' } = first.stats;
    process.stderr.write(`  ${n}: k8ts full sync ${fmt(fullK8ts)} ms (elements by ${fullK8tsVia})\n`);
    await first.stop();
    // An agent restarting over its table: the same content rewritten in one `nft -f` transaction.
    const proxy = new ServiceProxy(opts);
    proxy.update(services, slices);
    const r0 = performance.now();
    await proxy.start();
    const restartK8ts = performance.now() - r0;
    const restartK8tsNft = proxy.stats.lastNftMs;
    process.stderr.write(`  ${n}: k8ts rewrite over the live table ${fmt(restartK8ts)} ms\n`);

    // k8ts: one-service change (an endpoint swapped), until nft returns.
    const chg: number[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const i = (k * 7919) % n;
      const eps = [epIPs(i)[0], `10.246.${k >> 8}.${(k & 255) + 1}`];
      slices[i] = slice(
        `s${i}`,
        [{ port: 8080 }],
        eps.map((ip) => ({ ip, node: NODE })),
      );
      const c0 = performance.now();
      proxy.onSliceChange('MODIFIED', slices[i]);
      await proxy.settled();
      chg.push(performance.now() - c0);
    }
    // k8ts: a new service until a connection through it works.
    const probe = prober(client);
    await probe.until(server.ip); // the prober is up and warm
    const works: number[] = [];
    for (let k = 0; k < PROBES; k++) {
      const ip = `10.97.0.${k + 1}`;
      const name = `new${k}`;
      const w0 = now();
      proxy.onServiceChange('ADDED', service({ name, clusterIP: ip, ports: [{ port: 80, targetPort: 80 }] }));
      proxy.onSliceChange('ADDED', slice(name, [{ port: 80 }], [{ ip: server.ip, node: NODE }]));
      works.push((await probe.until(ip)) - w0);
    }
    await proxy.teardown();
    process.stderr.write(`  ${n}: k8ts changes done\n`);

    // Anchor: kube-proxy's layout, loaded and changed by `nft -f`.
    const fullKp = await nftIn(lab, kpRuleset(n));
    process.stderr.write(`  ${n}: kube-proxy layout full load ${fmt(fullKp)} ms\n`);
    const chgKp: number[] = [];
    const cur = new Map<number, string[]>();
    for (let k = 0; k < CHANGES; k++) {
      const i = (k * 7919) % n;
      const eps = cur.get(i) ?? epIPs(i);
      const neu = `10.246.${k >> 8}.${(k & 255) + 1}`;
      chgKp.push(await nftIn(lab, kpChange(i, eps[1], neu, eps[0])));
      cur.set(i, [eps[0], neu]);
    }
    const worksKp: number[] = [];
    for (let k = 0; k < PROBES; k++) {
      const ip = `10.97.1.${k + 1}`;
      const w0 = now();
      await nftIn(
        lab,
        kpService(n + k, [server.ip], ip)
          .map((l) => l.replace(':8080', ':80'))
          .join('\n') + '\n',
      );
      worksKp.push((await probe.until(ip)) - w0);
    }
    probe.stop();
    await run(['nsenter', `--net=${lab.nodeNetns}`, '--', 'nft', 'delete', 'table', 'ip', KP]);
    return {
      n,
      fullK8ts,
      fullK8tsNft,
      fullK8tsNetlink,
      fullK8tsVia,
      restartK8ts,
      restartK8tsNft,
      fullKp,
      chgK8ts: summarize(chg),
      chgKp: summarize(chgKp),
      worksK8ts: summarize(works),
      worksKp: summarize(worksKp),
    };
  } finally {
    await lab.cleanup();
    labs.delete(lab);
  }
}

async function main(): Promise<void> {
  if (!IS_ROOT) {
    console.error('bench/proxy: needs root (creates network namespaces and nftables tables)');
    process.exit(2);
  }
  const rows: Row[] = [];
  for (const n of SIZES) rows.push(await size(n));
  const r = (a: number, b: number) => `${fmt(b / a)}×`;
  const out: (string | number)[][] = [['services × 2 eps', 'measure', 'k8ts flat layout', 'kube-proxy layout (anchor)', 'anchor / k8ts']];
  for (const x of rows) {
    out.push([x.n, 'full sync, ms', x.fullK8ts, x.fullKp, r(x.fullK8ts, x.fullKp)]);
    out.push([x.n, '  of which nft -f of the structure, ms', x.fullK8tsNft, '', '']);
    out.push([x.n, `  of which the elements by ${x.fullK8tsVia}, ms`, x.fullK8tsNetlink, '', '']);
    out.push([x.n, 'full rewrite over the live table (agent restart), ms', x.restartK8ts, x.fullKp, r(x.restartK8ts, x.fullKp)]);
    out.push([x.n, '  of which the nft -f process, ms', x.restartK8tsNft, x.fullKp, r(x.restartK8tsNft, x.fullKp)]);
    out.push([x.n, `one-service change p50, ms (n=${CHANGES})`, x.chgK8ts.p50, x.chgKp.p50, r(x.chgK8ts.p50, x.chgKp.p50)]);
    out.push([x.n, 'one-service change p99, ms', x.chgK8ts.p99, x.chgKp.p99, r(x.chgK8ts.p99, x.chgKp.p99)]);
    out.push([x.n, `new ClusterIP until it works p50, ms (n=${PROBES})`, x.worksK8ts.p50, x.worksKp.p50, r(x.worksK8ts.p50, x.worksKp.p50)]);
    out.push([x.n, 'new ClusterIP until it works p99, ms', x.worksK8ts.p99, x.worksKp.p99, r(x.worksK8ts.p99, x.worksKp.p99)]);
  }
  console.log(table(out));
  console.log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} CPUs (figures are wall time)`,
  );
  console.log(
    'k8ts: ServiceProxy (model, diff, one `nft -f -`, awaited; a full sync with no table: nft -f of the structure, the elements by one netlink batch through the node helper); anchor: the same change as kube-proxy makes it, by `nft -f -`.',
  );
}

main()
  .then(() => cleanup())
  .catch(async (e) => {
    console.error(e);
    await cleanup();
    process.exit(1);
  });
