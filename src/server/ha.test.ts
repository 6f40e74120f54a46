// Two API servers on one etcd (Debian's, started here on loopback), each a real `k8ts server` process:
// exactly one leads each loop, the `kubernetes` endpoints list both; kill -9 of the leader hands every
// Lease to the other within 20 s, a Service changed after that is reconciled, and the dead server drops
// out of the endpoints. One leader at a time, from the Leases and from both servers' logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENDPOINTS, ENDPOINTSLICES, LEASES, PODS, SERVICES } from '../api/kinds.js';
import { RestClient, configFromKubeconfig } from '../client/rest.js';
import { etcdSkipReason, startEtcd } from '../store/testing/etcd.js';
import { eventually } from '../testing/eventually.js';
import { LEASE_APISERVER, LEASE_CONTROLLER_MANAGER, LEASE_SCHEDULER } from './server.js';

const MAIN = resolve(fileURLToPath(import.meta.url), '../../cli/main.js');
const LEASES_LED = [LEASE_APISERVER, LEASE_CONTROLLER_MANAGER, LEASE_SCHEDULER];

interface Proc {
  name: string;
  address: string;
  child: ChildProcess;
  url: Promise<string>;
  lines: string[];
  dead: boolean;
}

/** Who leads what, from the log lines of both servers as they arrive; fails on a second leader. */
class LeadershipLog {
  private holder = new Map<string, string>();
  violations: string[] = [];

  line(server: string, l: string): void {
    const m = /is now leading kube-system\/(\S+)/.exec(l);
    if (m) {
      const cur = this.holder.get(m[1]);
      if (cur && cur !== server) this.violations.push(`${server} leads ${m[1]} while ${cur} does`);
      this.holder.set(m[1], server);
    }
    const s = /stopped leading kube-system\/(\S+)/.exec(l);
    if (s && this.holder.get(s[1]) === server) this.holder.delete(s[1]);
  }

  /** A process killed with SIGKILL leads nothing from then on. */
  died(server: string): void {
    for (const [k, v] of this.holder) if (v === server) this.holder.delete(k);
  }

  leader(lease: string): string | undefined {
    return this.holder.get(lease);
  }
}

test('two API servers on one etcd: one leader per loop, failover after kill -9, endpoints follow', { skip: etcdSkipReason(), timeout: 180_000 }, async (t) => {
  const etcd = await startEtcd();
  const dirA = mkdtempSync(join(tmpdir(), 'k8ts-ha-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'k8ts-ha-b-'));
  const procs: Proc[] = [];
  const log = new LeadershipLog();
  const start = (name: string, dir: string, address: string): Proc => {
    const child = spawn(
      process.execPath,
      [
        MAIN,
        'server',
        '--data-dir',
        dir,
        '--store',
        'etcd',
        '--etcd-endpoints',
        etcd.endpoint,
        '--etcd-prefix',
        '/k8ts-ha',
        '--listen',
        '127.0.0.1:0',
        '--server-name',
        name,
        // Addresses nobody connects to in this test (TEST-NET-1): what each server advertises as its endpoint.
        '--advertise-address',
        address,
        '--advertise-port',
        '6443',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const p: Proc = { name, address, child, lines: [], dead: false, url: Promise.resolve('') };
    p.url = new Promise((resolveUrl, reject) => {
      let buf = '';
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (c: string) => {
        buf += c;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const l = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          p.lines.push(l);
          log.line(name, l);
          const m = /serving on (https:\/\/\S+)/.exec(l);
          if (m) resolveUrl(m[1]);
        }
      });
      child.once('exit', (code) => reject(new Error(`${name} exited (${code}): ${p.lines.slice(-5).join(' | ')}`)));
    });
    procs.push(p);
    return p;
  };
  const clients: RestClient[] = [];
  try {
    const a = start('ha-a', dirA, '192.0.2.1');
    await a.url;
    // Both servers share one CA and token, as servers of one cluster do.
    rmSync(dirB, { recursive: true, force: true });
    cpSync(dirA, dirB, { recursive: true });
    const b = start('ha-b', dirB, '192.0.2.2');
    await b.url;
    const cfg = configFromKubeconfig(join(dirA, 'kubeconfig'));
    const clientFor = async (p: Proc) => {
      const c = new RestClient({ ...cfg, server: await p.url });
      clients.push(c);
      return c;
    };
    const ca = await clientFor(a);
    const cb = await clientFor(b);

    // Every loop has exactly one leader, and the Lease names it.
    const holders = async (c: RestClient) => Promise.all(LEASES_LED.map(async (n) => (await c.get(LEASES, 'kube-system', n))?.spec?.holderIdentity ?? ''));
    await eventually(
      'a leader for every loop',
      async () => (await holders(cb)).every((h) => /^ha-[ab]_/.test(h)) && LEASES_LED.every((n) => log.leader(n)),
      30_000,
    );
    for (const n of LEASES_LED) {
      const h = (await cb.get(LEASES, 'kube-system', n))!.spec!.holderIdentity!;
      assert.equal(h.split('_')[0], log.leader(n), `${n}: the Lease and the logs agree on the leader`);
    }
    const leaderName = log.leader(LEASE_CONTROLLER_MANAGER)!;
    const leader = procs.find((p) => p.name === leaderName)!;
    const survivor = procs.find((p) => p !== leader)!;
    const cs = survivor === a ? ca : cb;

    // Both servers are in the kubernetes endpoints.
    const kubeEndpoints = async (c: RestClient) => {
      const ep = await c.get(ENDPOINTS, 'default', 'kubernetes');
      const slice = await c.get(ENDPOINTSLICES, 'default', 'kubernetes');
      const fromEp = (ep?.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((x) => x.ip)).sort();
      const fromSlice = (slice?.endpoints ?? []).flatMap((e) => e.addresses).sort();
      return JSON.stringify(fromEp) === JSON.stringify(fromSlice) ? fromEp.join(',') : `mismatch ${fromEp} / ${fromSlice}`;
    };
    await eventually('both servers in the kubernetes endpoints', async () => (await kubeEndpoints(ca)) === '192.0.2.1,192.0.2.2', 30_000);

    // kill -9 of the leader: the survivor takes every Lease within 20 s.
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    leader.dead = true;
    log.died(leader.name);
    await eventually(
      'the survivor leads every loop',
      async () => {
        const hs = await holders(cs);
        return hs.every((h) => h.startsWith(`${survivor.name}_`)) && LEASES_LED.every((n) => log.leader(n) === survivor.name);
      },
      25_000,
    );
    const tookMs = Date.now() - killedAt;
    t.diagnostic(`failover after kill -9 of ${leader.name}: ${tookMs} ms`);
    assert.ok(tookMs <= 20_000, `failover took ${tookMs} ms`);

    // A change made after the failover is reconciled by the new leader's controllers.
    await cs.create(SERVICES, 'default', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'after' },
      spec: { selector: { app: 'after' }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    await cs.create(PODS, 'default', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'after-0', labels: { app: 'after' } },
      spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] },
    });
    await cs.patch(
      PODS,
      'default',
      'after-0',
      'merge',
      { status: { phase: 'Running', podIP: '10.244.9.9', podIPs: [{ ip: '10.244.9.9' }], conditions: [{ type: 'Ready', status: 'True' }] } },
      'status',
    );
    await eventually(
      'an EndpointSlice for the new service',
      async () => {
        const { items } = await cs.list(ENDPOINTSLICES, 'default', { labelSelector: 'kubernetes.io/service-name=after' });
        return items.some((s) => (s.endpoints ?? []).some((e) => e.addresses.includes('10.244.9.9')));
      },
      20_000,
    );

    // The dead server's identity Lease expires and it leaves the endpoints.
    await eventually('only the live server in the kubernetes endpoints', async () => (await kubeEndpoints(cs)) === survivor.address, 40_000);
    assert.deepEqual(log.violations, [], 'never two leaders of one loop');
  } finally {
    for (const c of clients) c.close();
    for (const p of procs)
      if (!p.dead && p.child.exitCode === null) {
        const exited = new Promise((r) => p.child.once('exit', r));
        p.child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (p.child.exitCode === null) p.child.kill('SIGKILL');
      }
    await etcd.stop();
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
});
