// The server against a real stub resolver: glibc's (getent) in a network namespace of the test's own, whose
// resolv.conf (/etc/netns/<ns>/resolv.conf, as `ip netns exec` provides) is a pod's. Needs root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

const IS_ROOT = process.getuid?.() === 0;
const HAVE = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const here = dirname(fileURLToPath(import.meta.url));

const serverCode = `
import { ClusterZone } from ${JSON.stringify(join(here, 'records.js'))};
import { DnsServer } from ${JSON.stringify(join(here, 'server.js'))};
import { service, slice } from ${JSON.stringify(join(here, 'testing.js'))};
const zone = new ClusterZone();
zone.upsertService(service('default', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80 }] }));
zone.upsertService(service('other', 'api', { clusterIP: '10.96.0.30' }));
zone.upsertService(service('default', 'big', { clusterIP: 'None' }));
zone.upsertSlice(slice('default', 'big', 'big-1', Array.from({ length: 100 }, (_, i) => ({ ip: '10.244.1.' + (i + 1) }))));
const server = new DnsServer({ zone, listen: [{ address: '127.0.0.1', port: 53 }] });
await server.start();
console.log('READY');
process.on('SIGTERM', () => { console.log(JSON.stringify(server.snapshot())); process.exit(0); });
`;

function getent(ns: string, ...args: string[]): { out: string; status: number | null; ms: number } {
  const t0 = performance.now();
  const r = spawnSync('ip', ['netns', 'exec', ns, 'getent', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { out: r.stdout, status: r.status, ms: performance.now() - t0 };
}

test('glibc resolves services, the search path, a truncated answer over TCP, and fails fast outside', {
  skip: !IS_ROOT ? 'needs root' : !HAVE('getent') || !HAVE('ip') ? 'needs ip and getent' : false,
}, async () => {
  const ns = `k8tsdns${process.pid}`;
  const etc = `/etc/netns/${ns}`;
  let child: ReturnType<typeof spawn> | undefined;
  try {
    assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
    assert.equal(spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']).status, 0);
    mkdirSync(etc, { recursive: true });
    writeFileSync(
      join(etc, 'resolv.conf'),
      'nameserver 127.0.0.1\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:5\n',
    );
    // No /etc/hosts entries to short-circuit the lookups: files then dns, as in a pod.
    writeFileSync(join(etc, 'nsswitch.conf'), 'hosts: dns\n');
    child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', serverCode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('READY')) resolve();
      });
      child!.on('exit', (c) => reject(new Error(`DNS server in ${ns} exited with ${c}: ${out}`)));
    });

    assert.match(getent(ns, 'hosts', 'web').out, /^10\.96\.0\.20\s+web\.default\.svc\.cluster\.local/);
    assert.match(getent(ns, 'hosts', 'api.other').out, /^10\.96\.0\.30\s+api\.other\.svc\.cluster\.local/);
    assert.match(getent(ns, 'hosts', 'web.default.svc.cluster.local.').out, /^10\.96\.0\.20/);
    // 100 addresses do not fit in 512 bytes: glibc gets TC over UDP and asks again over TCP.
    // (ahosts, not ahostsv4: AI_ADDRCONFIG finds no IPv4 address but loopback in this namespace.)
    const big = getent(ns, 'ahosts', 'big');
    const addrs = new Set(
      big.out
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(/\s+/)[0]),
    );
    assert.equal(addrs.size, 100, big.out);
    const missing = getent(ns, 'hosts', 'nope');
    assert.equal(missing.status, 2, 'not found');
    // Outside the cluster without an upstream: every search domain says NXDOMAIN, the name itself REFUSED.
    const outside = getent(ns, 'hosts', 'www.example.com');
    assert.equal(outside.status, 2);
    assert.ok(outside.ms < 2000, `failed after ${outside.ms} ms`);
    // 'close', not 'exit': the stats the server prints as it ends may still be in the pipe at 'exit'.
    const closed = new Promise((r) => child!.once('close', r));
    child.kill('SIGTERM');
    await closed;
    const stats = JSON.parse(out.slice(out.indexOf('READY') + 5));
    assert.ok(stats.truncated >= 1 && stats.tcp >= 1, `glibc came back over TCP: ${JSON.stringify(stats)}`);
    assert.equal(stats.errors, 0);
  } finally {
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(etc, { recursive: true, force: true });
  }
});
