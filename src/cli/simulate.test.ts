// Hollow nodes against a real control plane: 20 nodes join with their own certificates (a CSR each), get
// Ready, renew their Leases, get 100 pods scheduled and report them Running with IPs from their pod CIDRs;
// the real kubectl lists them; stopped, the node lifecycle controller marks them unknown. And `k8ts simulate`
// end to end: its own server started and stopped, its data removed, bad flags refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runServer } from '../server/server.js';
import { RestClient, configFromKubeconfig } from '../client/rest.js';
import { CSRS, LEASES, NAMESPACES, NODES, PODS, SECRETS } from '../api/kinds.js';
import type { Lease, Node, Pod, Secret } from '../api/types.js';
import { bootstrapTokenSecret, generateBootstrapToken } from '../api/bootstraptoken.js';
import { HollowFleet } from '../agent/hollow.js';
import { UsageError } from './args.js';
import { simulateCommand } from './simulate.js';
import { kubectlBinary } from '../testing/kubectl-harness.js';
import { eventually } from '../testing/eventually.js';

const KUBECTL = kubectlBinary('1.33');
const K8TS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bin/k8ts');

function inCidr(ip: string, cidr: string): boolean {
  const n = (a: string) => a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  const [net, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n(ip) / size) === Math.floor(n(net) / size);
}

function run(cmd: string, args: string[], env: Record<string, string> = {}, timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { timeout, env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('hollow nodes register, renew Leases, run their pods, are listed by kubectl, and go unknown when stopped', {
  timeout: 180_000,
  skip: !KUBECTL && process.env.K8TS_CI !== '1' ? 'kubectl.1.33 not found beside kubectl on PATH' : false,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-hollow-test-'));
  const s = await runServer({
    dataDir: join(dir, 'server'),
    store: 'sqlite',
    listen: [{ host: '127.0.0.1', port: 0 }],
    nodeMonitorGracePeriodMs: 4000,
    serverName: `hollow-test-${process.pid}`,
    log: () => {},
  });
  const admin = new RestClient(configFromKubeconfig(s.kubeconfigPath));
  const names = Array.from({ length: 20 }, (_, i) => `hollow-t-${i}`);
  let fleet: HollowFleet | undefined;
  try {
    const t = generateBootstrapToken();
    await admin.create(SECRETS, 'kube-system', bootstrapTokenSecret(t, { ttlSeconds: 600 }) as Secret);
    const calls: string[] = [];
    fleet = new HollowFleet({
      server: s.url,
      ca: readFileSync(s.caPath),
      names,
      identity: { bootstrapToken: t.token },
      dataDir: join(dir, 'nodes'),
      leaseMs: 1000,
      observe: (call, _ms, ok) => {
        if (!ok) calls.push(call);
      },
      log: () => {},
    });
    await fleet.start();
    assert.equal(fleet.size, 20);

    // Registered as themselves, Ready, each with its own address and a pod CIDR.
    await eventually(
      '20 Ready hollow nodes',
      async () => {
        const nodes = (await admin.list(NODES)).items.filter((n) => names.includes(n.metadata.name!));
        assert.equal(nodes.length, 20);
        for (const n of nodes) {
          assert.equal(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True', n.metadata.name);
          assert.match(n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '', /^127\.77\.0\.\d+$/);
          assert.ok(n.spec?.podCIDR, `${n.metadata.name} has a pod CIDR`);
        }
        return true;
      },
      20_000,
    );
    // Each node's CSR was made by the bootstrap token and names the node: the identity is its own.
    const csrs = (await admin.list(CSRS)).items.filter((c) => c.spec.username?.startsWith('system:bootstrap:') && c.status?.certificate);
    assert.equal(csrs.length, 20, 'one CSR per node, issued');

    // Leases: one per node, renewed (renewTime moves within a few periods).
    const leaseTimes = async () =>
      new Map(
        (await admin.list(LEASES, 'kube-node-lease')).items
          .filter((l) => names.includes(l.metadata.name!))
          .map((l: Lease) => [l.metadata.name!, l.spec?.renewTime ?? ''] as const),
      );
    const first = await leaseTimes();
    assert.equal(first.size, 20);
    await eventually(
      'every Lease renewed',
      async () => {
        const now = await leaseTimes();
        for (const n of names) assert.notEqual(now.get(n), first.get(n), `${n} renewed its Lease`);
        return true;
      },
      15_000,
    );

    // 100 pods: scheduled onto the hollow nodes and reported Running, IPs from each node's pod CIDR.
    await admin.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sim' } });
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        admin.create(PODS, 'sim', {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `p-${i}` },
          spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.9' }] },
        } as Pod),
      ),
    );
    await eventually('100 pods Running', async () => (await admin.list(PODS, 'sim')).items.filter((p) => p.status?.phase === 'Running').length === 100, 60_000);
    const nodes = new Map((await admin.list(NODES)).items.map((n: Node) => [n.metadata.name!, n]));
    const pods = (await admin.list(PODS, 'sim')).items;
    const ips = new Set<string>();
    for (const p of pods) {
      const node = nodes.get(p.spec!.nodeName!)!;
      assert.ok(names.includes(node.metadata.name!));
      assert.ok(inCidr(p.status!.podIP!, node.spec!.podCIDR!), `${p.status!.podIP} in ${node.spec!.podCIDR}`);
      assert.equal(p.status!.hostIP, node.status!.addresses!.find((a) => a.type === 'InternalIP')!.address);
      assert.equal(p.status!.conditions!.find((c) => c.type === 'Ready')?.status, 'True');
      assert.deepEqual(Object.keys(p.status!.containerStatuses![0].state!), ['running']);
      ips.add(p.status!.podIP!);
    }
    assert.equal(ips.size, 100, 'every pod has its own IP');
    assert.deepEqual(calls, [], 'no API call of the fleet failed');

    // The real kubectl lists them.
    const got = await run(KUBECTL!, ['--kubeconfig', s.kubeconfigPath, 'get', 'nodes', '-o', 'name'], {}, 30_000);
    assert.equal(got.code, 0, got.stderr);
    for (const n of names) assert.ok(got.stdout.includes(`node/${n}\n`), `kubectl lists ${n}`);

    // A graceful delete is finished by the pod's hollow node.
    await admin.delete(PODS, 'sim', 'p-0');
    await eventually('p-0 deleted', async () => (await admin.get(PODS, 'sim', 'p-0')) === undefined, 20_000);

    // Stopped: no more renewals, and the node lifecycle controller marks every node Ready=Unknown.
    fleet.stop();
    await eventually(
      'every hollow node Ready=Unknown and tainted unreachable',
      async () => {
        for (const n of (await admin.list(NODES)).items.filter((x) => names.includes(x.metadata.name!))) {
          assert.equal(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'Unknown', n.metadata.name);
          assert.ok(n.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable'));
        }
        return true;
      },
      30_000,
    );
  } finally {
    fleet?.stop();
    admin.close();
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('k8ts simulate starts its own server, runs the fleet, reports, and leaves nothing behind', { timeout: 240_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'k8ts-simulate-cli-'));
  try {
    const r = await run(
      K8TS,
      ['simulate', '--nodes', '3', '--pods-per-node', '4', '--steady', '1', '--prefix', `simt${process.pid}`],
      { TMPDIR: tmp },
      220_000,
    );
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /joined: 3 nodes/);
    assert.match(r.stdout, /summary: nodes=3 pods=12 store=sqlite .*startup_p99_ms=\d/);
    assert.match(r.stdout, /PATCH leases/);
    assert.match(r.stdout, /namespace with 12 pods deleted/);
    const pid = Number(/\(sqlite, pid (\d+)\)/.exec(r.stdout)?.[1]);
    assert.ok(pid > 0);
    assert.equal(existsSync(`/proc/${pid}`), false, 'the server it started is gone');
    assert.deepEqual(readdirSync(tmp), [], 'its data dir is removed');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('k8ts simulate refuses bad flags, naming them', async () => {
  const cases: [string[], RegExp][] = [
    [[], /--nodes is required/],
    [['--nodes', '0'], /--nodes 0: expected a whole number from 1 to 4096/],
    [['--nodes', '2.5'], /--nodes 2.5/],
    [['--nodes', '2', '--store', 'mysql'], /--store "mysql": expected sqlite or etcd/],
    [['--nodes', '2', '--server', 'https://127.0.0.1:1'], /--server and --kubeconfig go together/],
    [['--nodes', '2', '--identity', 'shared'], /--identity "shared": expected csr or ca/],
    [['--nodes', '2', '--prefix', 'Bad_Name'], /--prefix "Bad_Name"/],
    [['--nodes', '2', '--pods-per-node', '111'], /--pods-per-node 111/],
    [['--nodes', '2', '--server', 'not a url', '--kubeconfig', '/etc/hostname'], /--server "not a url": expected a URL/],
  ];
  // Parsed in this process (the same function the command runs): each is refused before anything starts.
  for (const [args, want] of cases) {
    await assert.rejects(simulateCommand(args), (e: Error) => e instanceof UsageError && want.test(e.message), args.join(' '));
  }
  // And through the command: exit 2, the message on stderr; --help documents it.
  const bad = await run(K8TS, ['simulate', '--nodes', '0'], {}, 60_000);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /k8ts: k8ts simulate: --nodes 0: expected a whole number from 1 to 4096/);
  const help = await run(K8TS, ['simulate', '--help'], {}, 60_000);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: k8ts simulate --nodes N/);
});
