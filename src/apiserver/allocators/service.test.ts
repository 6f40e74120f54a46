// The services' write hooks through a real Registry on a memory store: allocation on create, honoured and
// refused requests, type changes, delete, dry run, failed writes, and (fast-check) that no two live
// services ever share an IP or node port and no claim outlives its use.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryStore } from '../../store/memory.js';
import { StoreError } from '../../store/types.js';
import { isOf, NAMESPACES, SERVICES as SVC } from '../../api/kinds.js';
import type { KObject, Service, ServiceSpec } from '../../api/types.js';
import { clusterIPOf, nodePortOf, serviceFixture as svc } from './testing.js';
import { Registry } from '../registry.js';
import { WatchCache } from '../watchcache.js';
import { ApiError } from '../../api/status.js';
import { ServiceAllocations, type ServiceAllocatorOptions, heldPorts, heldValues } from './service.js';

interface Env {
  store: MemoryStore;
  alloc: ServiceAllocations;
  reg: Registry;
  close(): void;
}

async function setup(opts: ServiceAllocatorOptions = {}): Promise<Env> {
  const store = new MemoryStore();
  const cache = await WatchCache.start(store);
  const alloc = new ServiceAllocations(store, { serviceCidr: '10.96.0.0/16', ...opts });
  const reg = new Registry(store, cache, new Map([['services', alloc]]));
  await reg.create(NAMESPACES, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  return { store, alloc, reg, close: () => cache.close() };
}

/** What the registry hands back for the services resource is a Service (it returns objects as `KObject`). */
function served(o: KObject | undefined): Service {
  assert.ok(o && isOf(SVC, SVC, o), 'a service');
  return o;
}

/** The registry's writes and reads of services, typed. */
const create = async (env: Env, s: Service, opts?: { dryRun?: boolean }) => served(await env.reg.create(SVC, 'default', s, opts));
const patch = async (env: Env, name: string, type: 'merge' | 'strategic', doc: unknown, opts?: { dryRun?: boolean }) =>
  served((await env.reg.patch(SVC, 'default', name, type, doc, undefined, opts)).object);

/** Claims as "value→ns/name" in key order. */
async function claims(env: Env): Promise<{ ips: string[]; ports: string[] }> {
  const show = (c: { value: string; owner: { namespace: string; name: string } }) => `${c.value}→${c.owner.namespace}/${c.owner.name}`;
  return { ips: (await env.alloc.ips.claims.list()).map(show), ports: (await env.alloc.ports.claims.list()).map(show) };
}

function rejectsWith(code: number, message: string | RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  };
}

describe('service allocation through the registry', () => {
  let env: Env;
  before(async () => {
    env = await setup();
  });
  after(() => env.close());

  test('create gives a ClusterIP from the upper part of the range, held by a claim naming the service', async () => {
    const s = await create(env, svc('web'));
    const ip = clusterIPOf(s);
    assert.deepEqual(s.spec?.clusterIPs, [ip]);
    assert.ok(env.alloc.ips.offsetOf(ip)! >= 256, `${ip} is above the static band`);
    const c = (await env.alloc.ips.claims.get(ip))!;
    assert.deepEqual(c.owner, { namespace: 'default', name: 'web', uid: s.metadata.uid });
    assert.equal(s.spec?.ports?.[0].nodePort, undefined);
  });

  test('a requested ClusterIP is honoured when free and in range; otherwise 422 worded as Kubernetes', async () => {
    const s = await create(env, svc('dns', { clusterIP: '10.96.0.10' }));
    assert.equal(s.spec?.clusterIP, '10.96.0.10');
    await assert.rejects(
      env.reg.create(SVC, 'default', svc('dns2', { clusterIP: '10.96.0.10' })),
      rejectsWith(
        422,
        'Service "dns2" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: provided IP is already allocated',
      ),
    );
    await assert.rejects(
      env.reg.create(SVC, 'default', svc('far', { clusterIP: '10.0.0.5' })),
      rejectsWith(
        422,
        'Service "far" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/16',
      ),
    );
    assert.equal(await env.reg.tryGet(SVC, 'default', 'dns2'), undefined);
  });

  test('IP families this single-stack IPv4 cluster does not have are refused', async () => {
    await assert.rejects(
      env.reg.create(SVC, 'default', svc('v6', { clusterIP: 'fd00::10' })),
      rejectsWith(422, /spec\.clusterIPs\[0\]: Invalid value: \[\]string\{"fd00::10"\}: IPv6 is not configured on this cluster/),
    );
    await assert.rejects(
      env.reg.create(SVC, 'default', svc('ds', { ipFamilyPolicy: 'RequireDualStack' })),
      rejectsWith(422, /spec\.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services/),
    );
    const pds = await create(env, svc('pds', { ipFamilyPolicy: 'PreferDualStack' }));
    assert.equal(pds.spec?.clusterIPs?.length, 1);
  });

  test('headless and ExternalName services get no IP', async () => {
    const h = await create(env, svc('headless', { clusterIP: 'None' }));
    assert.deepEqual(h.spec?.clusterIPs, ['None']);
    const en = await create(env, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext' }, spec: { type: 'ExternalName', externalName: 'example.com' } });
    assert.equal(en.spec?.clusterIP, undefined);
    assert.ok(!(await claims(env)).ips.some((c) => c.endsWith('/headless') || c.endsWith('/ext')));
  });

  test('NodePort: ports allocated, TCP and UDP of one port share a node port, requests honoured or refused', async () => {
    const s = await create(
      env,
      svc('np', {
        type: 'NodePort',
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
          { name: 'web', port: 80 },
        ],
      }),
    );
    const [a, b, c] = [0, 1, 2].map((i) => nodePortOf(s, i));
    assert.equal(a, b);
    assert.notEqual(a, c);
    for (const p of [a, c]) assert.ok(p >= 30086 && p <= 32767, `${p} is above the static band`);
    const req = await create(env, svc('np2', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }));
    assert.equal(nodePortOf(req), 30080);
    await assert.rejects(
      env.reg.create(SVC, 'default', svc('np3', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] })),
      rejectsWith(422, 'Service "np3" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated'),
    );
    await assert.rejects(
      env.reg.create(
        SVC,
        'default',
        svc('np4', {
          type: 'NodePort',
          ports: [
            { name: 'a', port: 80 },
            { name: 'b', port: 81, nodePort: 8080 },
          ],
        }),
      ),
      rejectsWith(
        422,
        'Service "np4" is invalid: spec.ports[1].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767',
      ),
    );
    // The failed create left nothing behind (np4's first port was never auto-allocated; np3 claimed nothing).
    assert.ok(!(await claims(env)).ports.some((c) => /default\/np[34]$/.test(c)));
  });

  test('LoadBalancer: node ports unless allocateLoadBalancerNodePorts is false; a health-check port with Local', async () => {
    const lb = await create(env, svc('lb', { type: 'LoadBalancer' }));
    assert.ok(nodePortOf(lb) > 0);
    assert.equal(lb.spec?.healthCheckNodePort, undefined);
    const bare = await create(env, svc('lb-bare', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false }));
    assert.equal(bare.spec?.ports?.[0].nodePort, undefined);
    const local = await create(env, svc('lb-local', { type: 'LoadBalancer', externalTrafficPolicy: 'Local' }));
    const hc = local.spec?.healthCheckNodePort ?? 0;
    assert.ok(hc >= 30000 && hc !== nodePortOf(local));
    assert.equal((await env.alloc.ports.claims.get(String(hc)))!.owner.name, 'lb-local');
    await assert.rejects(
      env.reg.create(SVC, 'default', svc('lb-local2', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: hc })),
      rejectsWith(500, `Internal error occurred: failed to allocate requested HealthCheck NodePort ${hc}: provided port is already allocated`),
    );
  });

  test('type changes allocate what the new type needs and release what it no longer needs', async () => {
    const s0 = await create(env, svc('flip'));
    const ip0 = clusterIPOf(s0);
    // ClusterIP -> ExternalName: the IP goes back.
    const en = await patch(env, 'flip', 'merge', { spec: { type: 'ExternalName', externalName: 'example.com', selector: null } });
    assert.equal(en.spec?.clusterIP, undefined);
    assert.equal(await env.alloc.ips.claims.get(ip0), undefined);
    // ExternalName -> ClusterIP with a requested IP.
    const back = await patch(env, 'flip', 'merge', { spec: { type: 'ClusterIP', externalName: null, clusterIP: '10.96.0.77' } });
    assert.equal(back.spec?.clusterIP, '10.96.0.77');
    assert.equal((await env.alloc.ips.claims.get('10.96.0.77'))!.owner.uid, s0.metadata.uid);
    // ClusterIP -> NodePort (strategic merge, as kubectl patch sends it): a node port.
    const np = await patch(env, 'flip', 'strategic', { spec: { type: 'NodePort' } });
    const port = nodePortOf(np);
    assert.ok(port > 0);
    assert.equal(np.spec?.clusterIP, '10.96.0.77');
    // NodePort -> LoadBalancer/Local: the node port stays, a health-check port is added.
    const lb = await patch(env, 'flip', 'merge', { spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local' } });
    assert.equal(nodePortOf(lb), port);
    const hc = lb.spec?.healthCheckNodePort ?? 0;
    assert.ok(hc > 0);
    // LoadBalancer/Local -> Cluster: the health-check port goes back.
    const lbc = await patch(env, 'flip', 'merge', { spec: { externalTrafficPolicy: 'Cluster' } });
    assert.equal(lbc.spec?.healthCheckNodePort, undefined);
    assert.equal(await env.alloc.ports.claims.get(String(hc)), undefined);
    // A changed node port (PUT): the new one is claimed, the old one released.
    const cur = await env.reg.get(SVC, 'default', 'flip');
    cur.spec!.ports![0].nodePort = 30111;
    const moved = served(await env.reg.update(SVC, 'default', 'flip', cur, undefined));
    assert.equal(nodePortOf(moved), 30111);
    assert.equal(await env.alloc.ports.claims.get(String(port)), undefined);
    // -> ClusterIP: node ports go back, the IP stays.
    const cip = await patch(env, 'flip', 'merge', { spec: { type: 'ClusterIP', externalTrafficPolicy: null, allocateLoadBalancerNodePorts: null } });
    assert.equal(cip.spec?.ports?.[0].nodePort, undefined);
    assert.equal(await env.alloc.ports.claims.get('30111'), undefined);
    assert.ok(await env.alloc.ips.claims.get('10.96.0.77'));
    // Taking a node port another service holds is refused on update too, and changes nothing.
    await assert.rejects(
      env.reg.patch(SVC, 'default', 'flip', 'merge', { spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] } }),
      rejectsWith(422, /spec\.ports\[0\]\.nodePort: Invalid value: 30080: provided port is already allocated/),
    );
    assert.equal((await env.reg.get(SVC, 'default', 'flip')).spec?.type, 'ClusterIP');
    // Delete gives everything back.
    await env.reg.delete(SVC, 'default', 'flip');
    assert.ok(!(await claims(env)).ips.concat((await claims(env)).ports).some((c) => c.endsWith('/flip')));
  });

  test('dry run allocates nothing and shows what Kubernetes shows', async () => {
    const before = await claims(env);
    const s = await create(
      env,
      svc('dry', {
        type: 'NodePort',
        ports: [
          { name: 'a', port: 80 },
          { name: 'b', port: 81 },
        ],
      }),
      { dryRun: true },
    );
    assert.equal(s.spec?.clusterIP, '10.96.0.0');
    assert.deepEqual(
      s.spec?.ports?.map((p) => p.nodePort),
      [32769, 32770],
    );
    await assert.rejects(
      env.reg.create(SVC, 'default', svc('dry', { clusterIP: '10.96.0.10' }), { dryRun: true }),
      rejectsWith(422, /provided IP is already allocated/),
    );
    const web = await env.reg.get(SVC, 'default', 'web');
    const upd = await patch(env, 'web', 'merge', { spec: { type: 'NodePort' } }, { dryRun: true });
    assert.equal(upd.spec?.clusterIP, web.spec?.clusterIP);
    assert.equal(nodePortOf(upd), 32769);
    await env.reg.delete(SVC, 'default', 'web', { dryRun: ['All'] });
    assert.deepEqual(await claims(env), before);
  });

  test('a failed store write gives back what was claimed for it', async () => {
    const before = await claims(env);
    const realCreate = env.store.create.bind(env.store);
    const realUpdate = env.store.update.bind(env.store);
    const fail = (k: string) => k.startsWith('/registry/core/services/');
    env.store.create = async (k, v) => (fail(k) ? Promise.reject(new StoreError('Unavailable', 'injected')) : realCreate(k, v));
    try {
      await assert.rejects(env.reg.create(SVC, 'default', svc('doomed', { type: 'NodePort', clusterIP: '10.96.0.99' })), /injected/);
      assert.deepEqual(await claims(env), before);
    } finally {
      env.store.create = realCreate;
    }
    env.store.update = async (k, v, r) => (fail(k) ? Promise.reject(new StoreError('Unavailable', 'injected')) : realUpdate(k, v, r));
    try {
      await assert.rejects(env.reg.patch(SVC, 'default', 'dns', 'merge', { spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local' } }), /injected/);
      assert.deepEqual(await claims(env), before);
    } finally {
      env.store.update = realUpdate;
    }
  });

  test('concurrent creates get distinct IPs and ports', async () => {
    const made = await Promise.all(Array.from({ length: 40 }, (_, i) => create(env, svc(`c${i}`, { type: 'NodePort' }))));
    assert.equal(new Set(made.map((s) => s.spec?.clusterIP)).size, 40);
    assert.equal(new Set(made.map((s) => s.spec?.ports?.[0].nodePort)).size, 40);
  });
});

describe('service allocation: a property', () => {
  test('under random create/update/delete, no two live services share an IP or node port, and claims match use', async () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const type = fc.constantFrom('ClusterIP', 'NodePort', 'LoadBalancer', 'LoadBalancerLocal', 'ExternalName', 'Headless');
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('create' as const),
        name: fc.constantFrom(...names),
        type,
        ip: fc.option(fc.integer({ min: 0, max: 15 })),
        port: fc.option(fc.integer({ min: 29998, max: 30009 })),
      }),
      fc.record({ kind: fc.constant('update' as const), name: fc.constantFrom(...names), type, port: fc.option(fc.integer({ min: 29998, max: 30009 })) }),
      fc.record({ kind: fc.constant('delete' as const), name: fc.constantFrom(...names) }),
    );
    const specFor = (t: string, ip: number | null, port: number | null): ServiceSpec => {
      const ports = [
        { name: 'a', port: 80, ...(port !== null && ['NodePort', 'LoadBalancer', 'LoadBalancerLocal'].includes(t) ? { nodePort: port } : {}) },
        { name: 'b', port: 81 },
      ];
      switch (t) {
        case 'ExternalName':
          return { type: 'ExternalName', externalName: 'example.com', selector: undefined, ports };
        case 'Headless':
          return { type: 'ClusterIP', clusterIP: 'None', ports };
        case 'LoadBalancerLocal':
          return { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports };
        default:
          return { type: t, ...(ip !== null ? { clusterIP: `10.0.0.${ip}` } : {}), ports };
      }
    };
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        // A /28 (14 IPs) and 10 node ports: small enough that ops collide and ranges fill up.
        const env = await setup({ serviceCidr: '10.0.0.0/28', nodePortRange: '30000-30009' });
        try {
          for (const o of ops) {
            try {
              if (o.kind === 'create') {
                await env.reg.create(SVC, 'default', svc(o.name, specFor(o.type, o.ip, o.port)));
              } else if (o.kind === 'update') {
                const cur = await env.reg.tryGet(SVC, 'default', o.name);
                if (!cur) continue;
                const next = structuredClone(served(cur));
                const want = specFor(o.type, null, o.port);
                const spec: ServiceSpec = { ...next.spec, ...want };
                next.spec = spec;
                if (want.type !== 'LoadBalancer') delete spec.externalTrafficPolicy;
                if (want.type === 'ExternalName') delete spec.selector;
                else spec.externalName = undefined;
                if (o.type === 'Headless') spec.clusterIPs = ['None'];
                await env.reg.update(SVC, 'default', o.name, next, undefined);
              } else {
                await env.reg.delete(SVC, 'default', o.name);
              }
            } catch (e) {
              if (!(e instanceof ApiError)) throw e;
            }
            const live = (await env.reg.list(SVC, undefined)).items;
            const owner = new Map<string, string>();
            const expected = new Set<string>();
            for (const s of live) {
              const h = heldValues(s);
              for (const v of [...h.ips.map((ip) => `ip ${ip}`), ...heldPorts(h).map((p) => `port ${p}`)]) {
                assert.ok(!owner.has(v), `${v} is used by ${owner.get(v)} and ${s.metadata.name}`);
                owner.set(v, s.metadata.name!);
                expected.add(`${v} ${s.metadata.uid}`);
              }
            }
            const held = new Set([
              ...(await env.alloc.ips.claims.list()).map((c) => `ip ${c.value} ${c.owner.uid}`),
              ...(await env.alloc.ports.claims.list()).map((c) => `port ${c.value} ${c.owner.uid}`),
            ]);
            assert.deepEqual([...held].sort(), [...expected].sort(), 'claims are exactly the values live services use');
          }
        } finally {
          env.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('the repair loop', () => {
  test('releases old orphans and unused claims, keeps young ones, re-claims lost ones, reports doubles', async () => {
    const env = await setup();
    try {
      const a = await create(env, svc('a', { type: 'NodePort' }));
      const b = await create(env, svc('b'));
      const plant = (prefix: string, value: string, uid: string, claimedAt: string) =>
        env.store.create(
          `${prefix}${value}`,
          JSON.stringify({ kind: 'Claim', metadata: { name: value }, owner: { namespace: 'default', name: 'x', uid }, claimedAt }),
        );
      const old = '2020-01-01T00:00:00Z';
      await plant(env.alloc.ips.claims.prefix, '10.96.9.9', 'gone', old);
      await plant(env.alloc.ips.claims.prefix, '10.96.9.10', 'gone', new Date().toISOString());
      await plant(env.alloc.ports.claims.prefix, '30999', a.metadata.uid!, old);
      const lost = (await env.alloc.ips.claims.get(clusterIPOf(a)))!;
      await env.alloc.ips.claims.delete(lost.value, lost.revision);
      // b is made to use a's node port behind the API's back (as a restore from an old backup could).
      const key = `/registry/core/services/default/b`;
      const kv = (await env.store.get(key))!;
      const bad = {
        ...b,
        spec: { ...b.spec, type: 'NodePort', externalTrafficPolicy: 'Cluster', ports: [{ ...b.spec?.ports?.[0], nodePort: nodePortOf(a) }] },
      };
      await env.store.update(key, JSON.stringify(bad), kv.modRevision);
      const logs: string[] = [];
      const { AllocationRepair } = await import('./repair.js');
      const repair = new AllocationRepair(env.store, env.alloc, { log: (m) => logs.push(m) });
      const r = await repair.runOnce();
      assert.deepEqual(r.released.sort(), ['ip 10.96.9.9', 'port 30999']);
      assert.deepEqual(r.claimed, [`ip ${clusterIPOf(a)}`]);
      assert.equal(r.problems.length, 1);
      assert.match(r.problems[0], new RegExp(`port ${nodePortOf(a)} of service default/b is allocated to default/a`));
      assert.ok(await env.alloc.ips.claims.get('10.96.9.10'), 'a young claim may belong to a write in flight');
      assert.equal((await env.alloc.ips.claims.get(clusterIPOf(a)))?.owner.uid, a.metadata.uid);
      // A second pass finds nothing new to do, and does not log the same problem again.
      const again = await repair.runOnce();
      assert.deepEqual([again.released, again.claimed], [[], []]);
      assert.equal(logs.filter((l) => l.includes('two services use it')).length, 1);
    } finally {
      env.close();
    }
  });
});
