import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResourceDef } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import type { Client, WatchHandlers } from '../client/types.js';
import { RCODE, TYPE } from './message.js';
import { NodeDns } from './node.js';
import { ask, service, slice } from './testing.js';

/** A client holding lists in memory; watches can be fed events, and the API can "go down". */
class FakeClient {
  readonly objects = new Map<string, KObject[]>();
  readonly watchers = new Map<string, WatchHandlers>();
  down = false;

  list = async (r: ResourceDef): Promise<{ items: KObject[]; resourceVersion: string }> => {
    if (this.down) throw new Error('connection refused');
    return { items: this.objects.get(r.plural) ?? [], resourceVersion: '1' };
  };

  watch = async (r: ResourceDef, _ns: string | undefined, _rv: string, h: WatchHandlers): Promise<{ close(): void }> => {
    this.watchers.set(r.plural, h);
    return { close: () => this.watchers.delete(r.plural) };
  };
}

test('NodeDns fills its zone from informers, follows watch events, and keeps answering with the API down', async () => {
  const fake = new FakeClient();
  fake.objects.set('services', [service('default', 'web', { clusterIP: '10.96.0.20' })]);
  fake.objects.set('endpointslices', []);
  fake.objects.set('namespaces', [{ metadata: { name: 'empty' } }]);
  const dns = new NodeDns({ client: fake as unknown as Client, listen: [{ address: '127.0.0.1', port: 0 }], zone: { nameservers: ['10.96.0.10'] } });
  try {
    const [ep] = await dns.start();
    assert.equal((await ask(ep, 'web.default.svc.cluster.local', TYPE.A)).msg.answers.length, 1);
    assert.equal((await ask(ep, 'empty.svc.cluster.local', TYPE.A)).msg.header.rcode, RCODE.NOERROR);
    fake.watchers.get('services')!.onEvent('ADDED', service('default', 'db', { clusterIP: 'None' }));
    fake.watchers.get('endpointslices')!.onEvent('ADDED', slice('default', 'db', 'db-1', [{ ip: '10.244.1.5', hostname: 'db-0' }]));
    assert.equal((await ask(ep, 'db-0.db.default.svc.cluster.local', TYPE.A)).msg.answers.length, 1);
    // The API server goes away: the watch breaks, re-lists fail, answers go on from memory.
    fake.down = true;
    for (const w of [...fake.watchers.values()]) w.onError(new Error('gone'));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await ask(ep, 'db.default.svc.cluster.local', TYPE.A)).msg.answers.length, 1);
    assert.equal((await ask(ep, 'web.default.svc.cluster.local', TYPE.A)).msg.answers.length, 1);
  } finally {
    await dns.stop();
  }
});
