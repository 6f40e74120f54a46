// Job controller cost: 500 one-pod Jobs from create to Complete, beside the anchor of the same 500 pods
// created directly, in the same run on the same server (SQLite, the full controller manager and scheduler).
// Nodes are API objects without agents; a "kubelet" here marks every bound pod Succeeded through the
// status subresource, as an agent would after running it.
//   node dist/bench/jobs.js [--jobs 500]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runServer } from '../src/server/server.js';
import { RestClient, configFromKubeconfig } from '../src/client/rest.js';
import { JOBS, LEASES, NAMESPACES, NODES, PODS } from '../src/api/kinds.js';
import type { Job, Lease, Pod } from '../src/api/types.js';
import { fmt, parallel, table } from './lib.js';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--jobs') + 1] || 500) || 500;
const NODE_COUNT = 3;
const iso = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-jobs-'));
const s = await runServer({ dataDir: dir, store: 'sqlite', listen: [{ host: '127.0.0.1', port: 0 }] });
const c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
const timers: NodeJS.Timeout[] = [];
try {
  for (let i = 0; i < NODE_COUNT; i++) {
    const name = `bench-node-${i}`;
    await c.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } } });
    await c.patch(
      NODES,
      undefined,
      name,
      'merge',
      {
        status: {
          conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: iso(), lastTransitionTime: iso() }],
          capacity: { pods: '1000' },
          allocatable: { pods: '1000' },
        },
      },
      'status',
    );
    const lease = (): Lease => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name },
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date().toISOString().replace('Z', '000Z') },
    });
    await c.create(LEASES, 'kube-node-lease', lease());
    timers.push(setInterval(() => void c.patch(LEASES, 'kube-node-lease', name, 'merge', { spec: lease().spec }).catch(() => undefined), 5_000));
  }

  // The stand-in kubelet: every bound pod that is Pending becomes Succeeded (container exited 0).
  const marked = new Set<string>();
  const kubelet = async (p: Pod) => {
    if (!p.spec?.nodeName || p.status?.phase !== 'Pending' || p.metadata.deletionTimestamp || marked.has(p.metadata.uid!)) return;
    marked.add(p.metadata.uid!);
    const t = iso();
    await c
      .patch(
        PODS,
        p.metadata.namespace,
        p.metadata.name!,
        'merge',
        {
          status: {
            phase: 'Succeeded',
            containerStatuses: [
              {
                name: 'c',
                image: 'busybox',
                imageID: '',
                ready: false,
                restartCount: 0,
                state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: t, finishedAt: t } },
              },
            ],
          },
        },
        'status',
      )
      .catch(() => marked.delete(p.metadata.uid!));
  };
  const podList = await c.list(PODS);
  await c.watch(PODS, undefined, podList.resourceVersion, { onEvent: (type, p) => void (type !== 'DELETED' && kubelet(p)), onError: () => undefined });

  async function until(what: string, f: () => Promise<boolean>): Promise<void> {
    const end = Date.now() + 600_000;
    while (!(await f())) {
      if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const template = { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['true'] }] } };
  const ns = (n: string) => c.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } });

  const rows: (string | number)[][] = [['case', 'n', 'seconds', 'per second', 'ratio to anchor']];
  const results: number[] = [];
  for (let round = 0; round < 2; round++) {
    // Anchor: the same pods created directly, scheduled, marked Succeeded.
    const a = `anchor-${round}`;
    await ns(a);
    let t0 = performance.now();
    await parallel(N, 16, (i) => c.create(PODS, a, { apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${i}` }, spec: template.spec } as Pod));
    await until('anchor pods Succeeded', async () => (await c.list(PODS, a)).items.filter((p) => p.status?.phase === 'Succeeded').length === N);
    const anchor = (performance.now() - t0) / 1000;

    const b = `jobs-${round}`;
    await ns(b);
    t0 = performance.now();
    await parallel(N, 16, (i) => c.create(JOBS, b, { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: `j${i}` }, spec: { template } } as Job));
    await until(
      'Jobs Complete',
      async () => (await c.list(JOBS, b)).items.filter((j) => j.status?.conditions?.some((x) => x.type === 'Complete' && x.status === 'True')).length === N,
    );
    const jobs = (performance.now() - t0) / 1000;
    results.push(jobs / anchor);
    rows.push([`anchor: ${N} bare pods → Succeeded (round ${round + 1})`, N, fmt(anchor), fmt(N / anchor, 0), '1.00']);
    rows.push([`${N} Jobs → Complete (round ${round + 1})`, N, fmt(jobs), fmt(N / jobs, 0), fmt(jobs / anchor)]);
  }
  console.log(table(rows));
  console.log(`load: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
} finally {
  for (const t of timers) clearInterval(t);
  c.close();
  await s.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
