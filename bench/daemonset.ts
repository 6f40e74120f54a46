// A DaemonSet over 100 nodes: from the create until all 100 pods are bound by the scheduler (the
// controller makes each pod pinned by node affinity, the scheduler binds it), beside the anchor measured
// in the same run: 100 bare pods created with nodeName (no controller, no scheduler) until all exist.
// Nodes are API objects without agents. Server on SQLite in this process, clients over HTTPS.
//   node dist/bench/daemonset.js [--nodes 100] [--rounds 3]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runServer } from '../src/server/server.js';
import { configFromKubeconfig, RestClient } from '../src/client/rest.js';
import { DAEMONSETS, NAMESPACES, NODES, PODS } from '../src/api/kinds.js';
import type { Node, Pod } from '../src/api/types.js';

const args = process.argv.slice(2);
const opt = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || d : d);
const N = opt('--nodes', 100);
const ROUNDS = opt('--rounds', 3);
const load = () => readFileSync('/proc/loadavg', 'utf8').trim();

const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-ds-'));
const s = await runServer({ dataDir: dir, store: 'sqlite', listen: [{ host: '127.0.0.1', port: 0 }] });
const c = new RestClient(configFromKubeconfig(s.kubeconfigPath));

async function until(f: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

try {
  console.log(`load before: ${load()}`);
  for (let i = 0; i < N; i++) {
    const n: Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: `bn${i}`, labels: { 'kubernetes.io/hostname': `bn${i}` } },
      status: {
        capacity: { pods: '110' },
        allocatable: { pods: '110' },
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'ok',
            lastHeartbeatTime: new Date().toISOString(),
            lastTransitionTime: new Date().toISOString(),
          },
        ],
      },
    };
    await c.create(NODES, undefined, n);
  }
  const container = [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }];
  const rows: { round: number; bare: number; ds: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const bareNs = `bare${r}`;
    const dsNs = `ds${r}`;
    for (const ns of [bareNs, dsNs]) await c.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    let t0 = performance.now();
    await Promise.all(
      Array.from({ length: N }, (_, i) =>
        c.create(PODS, bareNs, { apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${i}` }, spec: { nodeName: `bn${i}`, containers: container } } as Pod),
      ),
    );
    await until(async () => (await c.list(PODS, bareNs)).items.filter((p) => p.spec?.nodeName).length === N);
    const bare = performance.now() - t0;
    t0 = performance.now();
    await c.create(DAEMONSETS, dsNs, {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent' },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: container } } },
    });
    await until(async () => (await c.list(PODS, dsNs)).items.filter((p) => p.spec?.nodeName).length === N);
    const ds = performance.now() - t0;
    rows.push({ round: r, bare, ds });
    console.log(
      `round ${r}: anchor ${N} bare pods with nodeName ${bare.toFixed(0)} ms; DaemonSet on ${N} nodes all bound ${ds.toFixed(0)} ms; ratio ${(ds / bare).toFixed(2)}x; load ${load()}`,
    );
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const b = med(rows.map((x) => x.bare));
  const d = med(rows.map((x) => x.ds));
  console.log(`median: anchor ${b.toFixed(0)} ms, DaemonSet ${d.toFixed(0)} ms, ratio ${(d / b).toFixed(2)}x (load ${load()})`);
} finally {
  c.close();
  await s.close();
  rmSync(dir, { recursive: true, force: true });
}
