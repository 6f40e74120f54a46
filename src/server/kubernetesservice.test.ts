// The `kubernetes` service's first pass is part of the server's start: a server whose store is slow to
// write still has its service, EndpointSlice and Endpoints when runServer returns, so a client's first
// request finds them. The writes are slowed by the test, so the order does not depend on the machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServer } from './server.js';
import { RestClient, configFromKubeconfig } from '../client/rest.js';
import { ENDPOINTS, ENDPOINTSLICES, SERVICES } from '../api/kinds.js';
import type { Store } from '../store/types.js';

const SLOW_MS = 400;
const OWN = /^\/registry\/(core\/services|core\/endpoints|discovery\.k8s\.io\/endpointslices)\/default\/kubernetes$/;

/** Creates of the three objects take SLOW_MS longer; when each was acknowledged is recorded. */
function slowedWrites(written: Map<string, number>): (inner: Store) => Store {
  return (inner) =>
    new Proxy(inner, {
      get(target, prop, recv) {
        if (prop === 'create') {
          return async (key: string, value: string) => {
            if (!OWN.test(key)) return target.create(key, value);
            await new Promise((r) => setTimeout(r, SLOW_MS));
            const kv = await target.create(key, value);
            written.set(key, Date.now());
            return kv;
          };
        }
        const v = Reflect.get(target, prop, recv);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
}

test('runServer returns with the kubernetes service, its EndpointSlice and Endpoints written, however slow the store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-kubesvc-'));
  const written = new Map<string, number>();
  const s = await runServer({
    dataDir: dir,
    store: 'memory',
    listen: [{ host: '127.0.0.1', port: 0 }],
    advertiseAddress: '192.0.2.51',
    log: () => {},
    wrapStore: slowedWrites(written),
  });
  const up = Date.now();
  const c = new RestClient(configFromKubeconfig(s.kubeconfigPath));
  try {
    assert.deepEqual([...written.keys()].sort(), [
      '/registry/core/endpoints/default/kubernetes',
      '/registry/core/services/default/kubernetes',
      '/registry/discovery.k8s.io/endpointslices/default/kubernetes',
    ]);
    for (const [key, at] of written) assert.ok(at <= up, `${key} acknowledged before runServer returned`);
    const port = Number(new URL(s.url).port);
    const svc = await c.get(SERVICES, 'default', 'kubernetes');
    assert.equal(svc?.spec?.clusterIP, '10.96.0.1');
    const slice = await c.get(ENDPOINTSLICES, 'default', 'kubernetes');
    assert.deepEqual(
      slice?.endpoints.map((e) => e.addresses),
      [['192.0.2.51']],
    );
    const ep = await c.get(ENDPOINTS, 'default', 'kubernetes');
    assert.deepEqual(ep?.subsets, [{ addresses: [{ ip: '192.0.2.51' }], ports: [{ name: 'https', port, protocol: 'TCP' }] }]);
  } finally {
    c.close();
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
