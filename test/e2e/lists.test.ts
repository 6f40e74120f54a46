// Lists and gets served from the watch cache, checked against the store path of the same server: the
// resourceVersion semantics upstream gives them (consistent by default, "0", NotOlderThan, Exact, continue),
// hostile list options, pagination over a snapshot while writes go on, and a 10,000-object list whose bytes
// equal the store's answer at the same revision (JSON, partial metadata, Table).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type TestServer } from './harness.js';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import type { ListMeta } from 'kubernetes-types/meta/v1.js';

let s: TestServer;
let agent: Agent;

interface Answer {
  code: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const u = new URL(path, s.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        agent,
        headers: { Authorization: `Bearer ${s.token}`, 'Content-Type': 'application/json', ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A ConfigMap as the server answers it in these tests: named, with a resourceVersion. */
type Stored = ConfigMap & { metadata: { name: string; resourceVersion: string } };
interface StoredList {
  metadata: ListMeta;
  items: Stored[];
}

/** A 2xx answer's body as the kind the caller names (unchecked: the assertions on it are the check). */
async function ok<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  const r = await call(method, path, body, headers);
  assert.ok(r.code >= 200 && r.code < 300, `${method} ${path}: ${r.code} ${r.text.slice(0, 300)}`);
  return JSON.parse(r.text);
}

const cm = (name: string, labels: Record<string, string> = {}) => ({ metadata: { name, labels }, data: { k: name } });
/** Every namespace gets the root CA's ConfigMap from its controller; the tests wait for it and leave it out. */
const ROOT_CA = 'kube-root-ca.crt';
const names = (l: { items: { metadata: { name: string } }[] }) => l.items.map((o) => o.metadata.name).filter((n) => n !== ROOT_CA);

/** Equal bytes, or the first place they differ. */
function sameBytes(a: string, b: string, what: string): void {
  if (a === b) return;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  assert.fail(
    `${what} differ at byte ${i} of ${a.length}/${b.length}: ${JSON.stringify(a.slice(Math.max(0, i - 80), i + 80))} vs ${JSON.stringify(b.slice(Math.max(0, i - 80), i + 80))}`,
  );
}

async function createMany(ns: string, n: number, width = 32, labels: (i: number) => Record<string, string> = () => ({})): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        await ok('POST', `/api/v1/namespaces/${ns}/configmaps`, cm(`c${String(i).padStart(5, '0')}`, labels(i)));
      }
    }),
  );
}

before(async () => {
  s = await startServer();
  agent = new Agent({ keepAlive: true, maxSockets: 40, ca: readFileSync(join(s.dataDir, 'pki/ca.crt')) });
  for (const ns of ['rv', 'page', 'fresh', 'big']) {
    await ok('POST', '/api/v1/namespaces', { metadata: { name: ns } });
    for (let i = 0; (await call('GET', `/api/v1/namespaces/${ns}/configmaps/${ROOT_CA}`)).code !== 200; i++) {
      if (i > 300) throw new Error(`no ${ROOT_CA} in ${ns} after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  agent?.destroy();
  await s?.stop();
});

describe('lists and gets from the watch cache', () => {
  test('resourceVersion: consistent by default, "0", NotOlderThan, Exact from the store; 410 and 504 as upstream', async () => {
    const a = await ok<Stored>('POST', '/api/v1/namespaces/rv/configmaps', cm('a'));
    const b = await ok<Stored>('POST', '/api/v1/namespaces/rv/configmaps', cm('b'));
    const rvAB = b.metadata.resourceVersion;
    const a2 = await ok<Stored>('PUT', '/api/v1/namespaces/rv/configmaps/a', { ...a, data: { k: 'changed' } });
    await ok('DELETE', '/api/v1/namespaces/rv/configmaps/b');
    const now = await ok<StoredList>('GET', '/api/v1/namespaces/rv/configmaps');
    assert.deepEqual(names(now), ['a']);
    assert.equal(now.items[0].data!.k, 'changed');
    assert.equal(now.items[0].metadata.resourceVersion, a2.metadata.resourceVersion);
    assert.ok(Number(now.metadata.resourceVersion) >= Number(a2.metadata.resourceVersion));

    // Exact: the state at that revision, from the store.
    const then = await ok<StoredList>('GET', `/api/v1/namespaces/rv/configmaps?resourceVersion=${rvAB}&resourceVersionMatch=Exact`);
    assert.equal(then.metadata.resourceVersion, rvAB);
    assert.deepEqual(names(then), ['a', 'b']);
    assert.equal(then.items[0].data!.k, 'a');
    assert.equal(then.items[0].metadata.resourceVersion, a.metadata.resourceVersion);
    // NotOlderThan (and a bare resourceVersion): at least that new, so today's state.
    for (const q of [`resourceVersion=${rvAB}&resourceVersionMatch=NotOlderThan`, `resourceVersion=${rvAB}`, 'resourceVersion=0']) {
      assert.deepEqual(names(await ok<StoredList>('GET', `/api/v1/namespaces/rv/configmaps?${q}`)), ['a'], q);
    }
    // A get from the cache answers the object as a get from the store would: kind and apiVersion first.
    const got = await call('GET', '/api/v1/namespaces/rv/configmaps/a');
    assert.equal(got.code, 200);
    assert.ok(got.text.startsWith('{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a"'), got.text.slice(0, 80));
    assert.deepEqual(JSON.parse(got.text), { ...now.items[0], kind: 'ConfigMap', apiVersion: 'v1' });
    assert.equal((await call('GET', '/api/v1/namespaces/rv/configmaps/b')).code, 404);
    assert.equal((await call('GET', '/api/v1/namespaces/rv/configmaps/a?resourceVersion=0')).code, 200);

    // Hostile and impossible options, each named.
    const bad: [string, number, RegExp][] = [
      ['resourceVersionMatch=Exact', 422, /resourceVersionMatch is forbidden unless resourceVersion is provided/],
      ['resourceVersion=0&resourceVersionMatch=Exact', 422, /exact\\" is forbidden for resourceVersion \\"0/],
      ['resourceVersion=5&resourceVersionMatch=Sometimes', 422, /Unsupported value: \\"Sometimes/],
      ['resourceVersion=abc', 400, /invalid resource version: \\"abc/],
      ['resourceVersion=-1', 400, /invalid resource version/],
      ['resourceVersion=99999999999999999999', 400, /invalid resource version/],
      ['continue=x&resourceVersion=5', 400, /not allowed when using continue/],
      ['continue=bm90LWEtdG9rZW4', 400, /continue key is not valid/],
      [`resourceVersion=${Number(now.metadata.resourceVersion) + 1000}&resourceVersionMatch=Exact`, 504, /Too large resource version/],
      [`resourceVersion=${Number(now.metadata.resourceVersion) + 1000}`, 504, /Too large resource version/],
    ];
    for (const [q, code, msg] of bad) {
      const r = await call('GET', `/api/v1/namespaces/rv/configmaps?${q}`);
      assert.equal(r.code, code, `${q}: ${r.text}`);
      assert.equal(JSON.parse(r.text).kind, 'Status', q);
      assert.match(r.text, msg, q);
    }
    assert.equal((await call('GET', '/api/v1/namespaces/rv/configmaps/a?resourceVersion=x1')).code, 400);
  });

  test('limit and continue: pages of one snapshot while writes go on; remainingItemCount; selectors', async () => {
    await createMany('page', 25, 8, (i) => ({ parity: i % 2 ? 'odd' : 'even' }));
    const p1 = await ok<StoredList>('GET', '/api/v1/namespaces/page/configmaps?limit=10');
    assert.deepEqual(
      names(p1),
      Array.from({ length: 10 }, (_, i) => `c${String(i).padStart(5, '0')}`),
    );
    assert.equal(p1.metadata.remainingItemCount, 16); // 15 and the root CA's
    assert.ok(p1.metadata.continue);
    // Writes after the first page change nothing in the pages that follow (they read its revision).
    await ok('DELETE', '/api/v1/namespaces/page/configmaps/c00015');
    await ok('POST', '/api/v1/namespaces/page/configmaps', cm('c00012x'));
    const p2 = await ok<StoredList>('GET', `/api/v1/namespaces/page/configmaps?limit=10&continue=${encodeURIComponent(p1.metadata.continue!)}`);
    assert.equal(p2.metadata.resourceVersion, p1.metadata.resourceVersion);
    assert.deepEqual(
      names(p2),
      Array.from({ length: 10 }, (_, i) => `c${String(i + 10).padStart(5, '0')}`),
    );
    assert.equal(p2.metadata.remainingItemCount, 6);
    const p3 = await ok<StoredList>('GET', `/api/v1/namespaces/page/configmaps?limit=10&continue=${encodeURIComponent(p2.metadata.continue!)}`);
    assert.deepEqual(names(p3), ['c00020', 'c00021', 'c00022', 'c00023', 'c00024']);
    assert.equal(p3.metadata.continue, undefined);
    // The current state has both writes.
    const all = names(await ok<StoredList>('GET', '/api/v1/namespaces/page/configmaps'));
    assert.equal(all.length, 25);
    assert.ok(all.includes('c00012x') && !all.includes('c00015'));
    // A label selector with a limit walks past the objects it skips.
    const odd: string[] = [];
    let cont = '';
    for (let guard = 0; guard < 20; guard++) {
      const p = await ok<StoredList>(
        'GET',
        `/api/v1/namespaces/page/configmaps?labelSelector=parity%3Dodd&limit=4${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`,
      );
      odd.push(...names(p));
      assert.equal(p.metadata.remainingItemCount, undefined);
      cont = p.metadata.continue ?? '';
      if (!cont) break;
    }
    assert.deepEqual(
      odd,
      all.filter((n) => n !== 'c00012x' && Number(n.slice(1)) % 2 === 1),
    );
  });

  test('consistent read: an acknowledged write is in the very next list and get', async () => {
    for (let i = 0; i < 40; i++) {
      const made = await ok<Stored>('POST', '/api/v1/namespaces/fresh/configmaps', cm(`f${i}`));
      const l = await ok<StoredList>('GET', '/api/v1/namespaces/fresh/configmaps');
      assert.equal(names(l).length, i + 1);
      assert.ok(Number(l.metadata.resourceVersion) >= Number(made.metadata.resourceVersion));
      const g = await ok<Stored>('GET', `/api/v1/namespaces/fresh/configmaps/f${i}`);
      assert.equal(g.metadata.resourceVersion, made.metadata.resourceVersion);
    }
  });

  test("10,000 objects: the cache's streamed list is byte for byte the store's answer at the same revision", { timeout: 600_000 }, async () => {
    await createMany('big', 10_000, 32, (i) => ({ app: 'big', shard: String(i % 10) }));
    const fromCache = await call('GET', '/api/v1/namespaces/big/configmaps?resourceVersion=0');
    assert.equal(fromCache.code, 200);
    const rv = JSON.parse(fromCache.text).metadata.resourceVersion;
    const fromStore = await call('GET', `/api/v1/namespaces/big/configmaps?resourceVersion=${rv}&resourceVersionMatch=Exact`);
    assert.equal(fromStore.code, 200);
    assert.equal(names(JSON.parse(fromCache.text)).length, 10_000);
    sameBytes(fromCache.text, fromStore.text, 'the JSON lists');
    // A consistent read of the same objects is the same bytes too, but for the list's revision (other
    // writes on the server, leases and events, move it on).
    const listRv = (t: string) => t.replace(/^(\{"kind":"ConfigMapList","apiVersion":"v1","metadata":\{"resourceVersion":")\d+"/, '$1"');
    sameBytes(listRv((await call('GET', '/api/v1/namespaces/big/configmaps')).text), listRv(fromStore.text), "a consistent list and the store's");

    const partial = { Accept: 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json' };
    const pc = await call('GET', '/api/v1/namespaces/big/configmaps?resourceVersion=0', undefined, partial);
    const prv = JSON.parse(pc.text).metadata.resourceVersion;
    const ps = await call('GET', `/api/v1/namespaces/big/configmaps?resourceVersion=${prv}&resourceVersionMatch=Exact`, undefined, partial);
    assert.equal(JSON.parse(pc.text).kind, 'PartialObjectMetadataList');
    sameBytes(pc.text, ps.text, 'the partial metadata lists');

    // Tables: the same, but for the AGE cell, which is computed at the moment of each answer.
    const tbl = { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' };
    const tc = await call('GET', '/api/v1/namespaces/big/configmaps?resourceVersion=0&labelSelector=shard%3D3', undefined, tbl);
    const trv = JSON.parse(tc.text).metadata.resourceVersion;
    const ts = await call('GET', `/api/v1/namespaces/big/configmaps?resourceVersion=${trv}&resourceVersionMatch=Exact&labelSelector=shard%3D3`, undefined, tbl);
    const noAge = (t: string) => t.replace(/"cells":\["([^"]*)",(\d+),"[^"]*"\]/g, '"cells":["$1",$2,"-"]');
    assert.equal(JSON.parse(tc.text).rows.length, 1000);
    sameBytes(noAge(tc.text), noAge(ts.text), 'the Tables');
    // Pretty output is the same document, indented.
    const pretty = await call('GET', '/api/v1/namespaces/big/configmaps?resourceVersion=0&pretty=true&limit=3');
    assert.deepEqual(JSON.parse(pretty.text).items, JSON.parse(fromStore.text).items.slice(0, 3));
    assert.match(pretty.text, /^\{\n {2}"kind": "ConfigMapList"/);
  });
});
