// RBAC authorization overhead: the same GET, by the same non-admin user, with 1,000 Roles and 1,000
// RoleBindings in the index, authorization on vs off (the anchor, measured in the same process and run,
// in alternating rounds so drift hits both). Also the authorizer call alone.
//   node dist/bench/rbac.js [--rounds 8] [--per-round 400]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runServer } from '../src/server/server.js';
import { LocalClient } from '../src/apiserver/localclient.js';
import { CONFIGMAPS, NAMESPACES, ROLEBINDINGS, ROLES } from '../src/api/kinds.js';
import { requestAttributes } from '../src/apiserver/authz/attributes.js';
import { Client, summarize, table, fmt } from './lib.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const ROUNDS = Number(arg('rounds', '8'));
const PER_ROUND = Number(arg('per-round', '400'));
const NAMESPACES_N = 100;
const PER_NS = 10; // 100 × 10 = 1,000 Roles and 1,000 RoleBindings
const TOKEN = 'bench-rbac-user-token-7c41';
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-bench-rbac-'));
  writeFileSync(join(dir, 'tokens.csv'), `${TOKEN},bench-user,b-1,"bench-group"\n`, { mode: 0o600 });
  const s = await runServer({
    dataDir: join(dir, 'data'),
    store: 'memory',
    listen: [{ host: '127.0.0.1', port: 0 }],
    tokenAuthFile: join(dir, 'tokens.csv'),
    log: () => {},
  });
  try {
    const c = new LocalClient(s.api.registry);
    for (let n = 0; n < NAMESPACES_N; n++) {
      const ns = `bench-${n}`;
      await c.create(NAMESPACES, undefined, { metadata: { name: ns } });
      for (let i = 0; i < PER_NS; i++) {
        await c.create(ROLES, ns, {
          metadata: { name: `role-${i}`, namespace: ns },
          rules: [
            { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['get', 'list'], resourceNames: [`cm-${i}`] },
            { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale'], verbs: ['get', 'list', 'watch', 'update'] },
            { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
          ],
        });
        // Every binding names the bench user's group among others; the one that allows the GET is the last.
        await c.create(ROLEBINDINGS, ns, {
          metadata: { name: `rb-${i}`, namespace: ns },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `role-${i}` },
          subjects: [
            { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: `user-${n}-${i}` },
            { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'bench-group' },
            { kind: 'ServiceAccount', name: `sa-${i}`, namespace: ns },
          ],
        });
      }
    }
    await c.create(CONFIGMAPS, 'bench-7', { metadata: { name: `cm-${PER_NS - 1}`, namespace: 'bench-7' }, data: { k: 'v' } });
    for (let i = 0; i < 200 && s.api.rbac!.counts.roles < NAMESPACES_N * PER_NS; i++) await new Promise((r) => setTimeout(r, 50));
    const counts = s.api.rbac!.counts;
    const path = `/api/v1/namespaces/bench-7/configmaps/cm-${PER_NS - 1}`;
    const http = new Client(s.url, TOKEN, readFileSync(s.caPath), 1);
    const rbac = s.api.rbac!;
    // Check the setup: allowed with RBAC, and a neighbour's configmap refused.
    const okReply = await http.call('GET', path);
    const refused = await http.call('GET', '/api/v1/namespaces/bench-7/configmaps/cm-0x');
    if (okReply.code !== 200 || refused.code !== 403) throw new Error(`setup: got ${okReply.code} and ${refused.code}, want 200 and 403`);
    for (let i = 0; i < 300; i++) await http.call('GET', path); // warm up
    const on: number[] = [];
    const off: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of r % 2 ? ['off', 'on'] : ['on', 'off']) {
        s.api.rbac = mode === 'on' ? rbac : undefined;
        for (let i = 0; i < PER_ROUND; i++) {
          const x = await http.call('GET', path);
          if (x.code !== 200) throw new Error(`GET ${path}: ${x.code} ${x.text}`);
          (mode === 'on' ? on : off).push(x.ms);
        }
      }
    }
    s.api.rbac = rbac;
    http.close();
    // The authorizer alone, on the same attributes.
    const attrs = requestAttributes({ name: 'bench-user', groups: ['bench-group', 'system:authenticated'] }, 'GET', path, new URLSearchParams());
    const calls: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const t0 = performance.now();
      if (!rbac.authorize(attrs).allowed) throw new Error('authorize refused');
      calls.push(performance.now() - t0);
    }
    const a = summarize(on);
    const b = summarize(off);
    const z = summarize(calls);
    console.log(
      `rbac: ${counts.roles} Roles, ${counts.bindings} bindings (${counts.clusterRoles} ClusterRoles) in the index; GET ${path} by a user allowed by the 10th binding it is in`,
    );
    console.log(
      table([
        ['', 'n', 'p50 ms', 'p90 ms', 'p99 ms'],
        ['authorization on', a.n, a.p50, a.p90, a.p99],
        ['authorization off (anchor)', b.n, b.p50, b.p90, b.p99],
        ['authorize() alone', z.n, z.p50, z.p90, z.p99],
      ]),
    );
    const overhead = a.p50 - b.p50;
    console.log(
      `overhead p50: ${fmt(overhead, 3)} ms (goal ≤ 0.2 ms: ${overhead <= 0.2 ? 'met' : 'NOT met'}); ratio on/off p50 ${fmt(a.p50 / b.p50, 3)}; authorize() p50 ${fmt(z.p50 * 1000, 1)} µs`,
    );
    console.log(`load: ${load()} on ${cpus().length} CPUs`);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
