// Bad input never breaks the API server: malformed JSON and YAML, wrong types, huge strings, deep
// nesting, invalid names, selectors and patches all get a 4xx Status, and nothing stored changes.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { startServer, type TestServer } from './harness.js';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import type { ObjectMeta, Status } from 'kubernetes-types/meta/v1.js';

/** An answer: its body parsed (the text when it is not JSON), as the kind the caller names; unchecked. */
interface Answer<T = unknown> {
  code: number;
  body: T;
}

let s: TestServer;
let ca: Buffer;

function call<T = unknown>(method: string, path: string, body?: string | Buffer, contentType = 'application/json'): Promise<Answer<T>> {
  const u = new URL(path, s.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        ca,
        headers: { Authorization: `Bearer ${s.token}`, 'Content-Type': contentType, Accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
          resolve({ code: res.statusCode ?? 0, body: parsed as T });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** What is stored in the default namespace: names and resourceVersions of its pods and configmaps. */
async function snapshot(): Promise<string> {
  const out: string[] = [];
  for (const res of ['pods', 'configmaps']) {
    const r = await call<{ items: { metadata: ObjectMeta }[] }>('GET', `/api/v1/namespaces/default/${res}`);
    assert.equal(r.code, 200);
    for (const o of r.body.items) out.push(`${res}/${o.metadata.name}@${o.metadata.resourceVersion}`);
  }
  return out.sort().join(',');
}

function assertClientError(a: Answer, what: string): void {
  assert.ok(a.code >= 400 && a.code < 500, `${what}: expected a 4xx, got ${a.code} ${JSON.stringify(a.body).slice(0, 300)}`);
  // Any body at all (text, a list) until the next line has seen a Status.
  const st = a.body as Status | undefined;
  assert.equal(st?.kind, 'Status', `${what}: not a Status: ${JSON.stringify(a.body).slice(0, 300)}`);
  assert.equal(st?.status, 'Failure');
  assert.equal(st?.code, a.code);
  assert.equal(typeof st?.message, 'string');
}

const invalidName = fc.oneof(
  fc.constant(''),
  fc.string({ minLength: 1, maxLength: 20 }).filter((x) => !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(x) && !x.includes('/') && !x.includes('%')),
  fc.string({ minLength: 254, maxLength: 400 }).map((x) => `a${x.replace(/[^a-z]/g, 'a')}`),
  fc.constantFrom('UPPER', 'under_score', '-lead', 'trail-', 'a..b', '.dot', 'sp ace'),
);

const wrongType = fc.oneof(fc.integer(), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }), fc.constant(null), fc.double());

describe('the API server under bad input', () => {
  before(async () => {
    s = await startServer();
    ca = readFileSync(join(s.dataDir, 'pki', 'ca.crt'));
  });
  after(async () => {
    await s?.stop();
  });

  test('malformed JSON and YAML bodies', async () => {
    const rv = await snapshot();
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), fc.constantFrom('application/json', 'application/yaml'), async (text, type) => {
        let doc: unknown;
        try {
          doc = JSON.parse(text);
        } catch {
          doc = undefined;
        }
        if (doc && typeof doc === 'object' && !Array.isArray(doc)) return; // a real object: not malformed
        const a = await call('POST', '/api/v1/namespaces/default/configmaps', text, type);
        assertClientError(a, `POST ${JSON.stringify(text)} as ${type}`);
      }),
      { numRuns: 150 },
    );
    assert.equal(await snapshot(), rv);
  });

  test('wrong types, invalid names, huge strings', async () => {
    const before = await snapshot();
    const podWith = (name: unknown, containers: unknown) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers } });
    await fc.assert(
      fc.asyncProperty(invalidName, async (name) => {
        const a = await call('POST', '/api/v1/namespaces/default/pods', podWith(name, [{ name: 'c', image: 'busybox' }]));
        assertClientError(a, `pod name ${JSON.stringify(name)}`);
      }),
      { numRuns: 80 },
    );
    await fc.assert(
      fc.asyncProperty(wrongType, fc.constantFrom('metadata', 'spec', 'containers', 'name', 'labels', 'image', 'ports'), async (raw, where) => {
        // What the server receives: JSON has no NaN or Infinity, JSON.stringify sends them as null.
        const v: unknown = JSON.parse(JSON.stringify([raw]))[0];
        // A well-formed pod whose one field `where` is then replaced by v: its parts are kept by name, since
        // a value of the wrong type is the point (a Pod type would refuse it).
        const container: Record<string, unknown> = { name: 'c', image: 'busybox', ports: [{ containerPort: 80 }] };
        const metadata: Record<string, unknown> = { name: 'typed', labels: { a: 'b' } };
        const spec: Record<string, unknown> = { containers: [container] };
        const base: Record<string, unknown> = { apiVersion: 'v1', kind: 'Pod', metadata, spec };
        if (where === 'metadata') base.metadata = v;
        if (where === 'spec') base.spec = v;
        if (where === 'containers') spec.containers = v;
        if (where === 'name') metadata.name = v;
        if (where === 'labels') metadata.labels = v;
        if (where === 'image') container.image = v;
        if (where === 'ports') container.ports = v;
        if (where === 'metadata' && v === null) return; // a null metadata is just absent metadata: no name → still invalid, checked below
        const a = await call('POST', '/api/v1/namespaces/default/pods', JSON.stringify(base));
        if ((where === 'ports' && Array.isArray(v) && v.length === 0) || (v === null && (where === 'ports' || where === 'labels'))) {
          // An empty or null list of ports, or null labels, is a valid pod: clean it up.
          if (a.code === 201) await call('DELETE', '/api/v1/namespaces/default/pods/typed');
          return;
        }
        assertClientError(a, `pod with ${where}=${JSON.stringify(v)}`);
      }),
      { numRuns: 120 },
    );
    const huge = 'x'.repeat(4 * 1024 * 1024);
    assertClientError(
      await call('POST', '/api/v1/namespaces/default/configmaps', JSON.stringify({ metadata: { name: 'big' }, data: { k: huge } })),
      'huge body',
    );
    assertClientError(
      await call('POST', '/api/v1/namespaces/default/configmaps', JSON.stringify({ metadata: { name: 'big', labels: { k: 'v'.repeat(100) } } })),
      'long label',
    );
    assertClientError(
      await call('POST', '/api/v1/namespaces/default/configmaps', JSON.stringify({ metadata: { name: 'big', annotations: { k: 'v'.repeat(300 * 1024) } } })),
      'huge annotations',
    );
    assert.equal(await snapshot(), before);
  });

  test('deep nesting', async () => {
    const rv = await snapshot();
    for (const depth of [200, 5_000, 100_000]) {
      const body = `{"metadata":{"name":"deep"},"data":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
      assertClientError(await call('POST', '/api/v1/namespaces/default/configmaps', body), `nesting ${depth}`);
      const arr = `{"metadata":{"name":"deep"},"data":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
      assertClientError(await call('POST', '/api/v1/namespaces/default/configmaps', arr), `array nesting ${depth}`);
    }
    assert.equal(await snapshot(), rv);
  });

  test('invalid label and field selectors', async () => {
    const rv = await snapshot();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('a in (', 'a notin b', '=x', 'a!!=b', '!', 'a,', 'a in (b', 'Inv@lid=x', 'a=b=c', '(a)', 'a=' + 'v'.repeat(70)),
        async (sel) => {
          assertClientError(await call('GET', `/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(sel)}`), `labelSelector ${sel}`);
        },
      ),
      { numRuns: 30 },
    );
    for (const sel of ['spec.unknown=x', 'metadata.name', '=x', 'a=b,c']) {
      assertClientError(await call('GET', `/api/v1/namespaces/default/pods?fieldSelector=${encodeURIComponent(sel)}`), `fieldSelector ${sel}`);
    }
    for (const q of ['limit=abc', 'limit=-1', 'continue=garbage', 'resourceVersion=abc&watch=true', 'timeoutSeconds=x&watch=true']) {
      assertClientError(await call('GET', `/api/v1/namespaces/default/pods?${q}`), q);
    }
    assert.equal(await snapshot(), rv);
  });

  test('invalid patches leave the object as it was', async () => {
    const created = await call(
      'POST',
      '/api/v1/namespaces/default/configmaps',
      JSON.stringify({ metadata: { name: 'target', labels: { a: 'b' } }, data: { k: 'v' } }),
    );
    assert.equal(created.code, 201);
    const rv = await snapshot();
    const types = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...types),
        fc.oneof(
          fc.string({ maxLength: 50 }).filter((x) => {
            try {
              JSON.parse(x);
              return false;
            } catch {
              return true;
            }
          }),
          fc.constantFrom(
            '[{"op":"nope","path":"/a"}]',
            '[{"op":"remove","path":"/missing/x"}]',
            '[{"op":"test","path":"/data/k","value":"other"}]',
            '{"metadata":{"name":"renamed"}}',
            '{"metadata":{"labels":{"bad key!":"x"}}}',
            '{"data":{"bad key":"x"}}',
            '{"metadata":7}',
            '[{"op":"add","path":"/metadata/name","value":"Other_Name"}]',
            '{"kind":"Pod"}',
            '{"apiVersion":"v2"}',
            '[1,2,3]',
            '"str"',
            '{"metadata":{"resourceVersion":"1"},"data":{"k":"new"}}',
          ),
        ),
        async (type, body) => {
          if (type !== 'application/json-patch+json' && body.startsWith('[{"op"')) return;
          if (type === 'application/json-patch+json' && body.startsWith('{')) {
            const a = await call('PATCH', '/api/v1/namespaces/default/configmaps/target', body, type);
            assertClientError(a, `${type} ${body}`);
            return;
          }
          const a = await call('PATCH', '/api/v1/namespaces/default/configmaps/target', body, type);
          assertClientError(a, `${type} ${body}`);
        },
      ),
      { numRuns: 120 },
    );
    assertClientError(await call('PATCH', '/api/v1/namespaces/default/configmaps/target', '{}', 'application/x-unknown'), 'unknown patch type');
    assert.equal(await snapshot(), rv);
    const after = await call<ConfigMap>('GET', '/api/v1/namespaces/default/configmaps/target');
    assert.deepEqual(after.body.data, { k: 'v' });
    assert.deepEqual(after.body.metadata!.labels, { a: 'b' });
  });

  test('anonymous requests get upstream 403, a refused token 401, unknown paths 404, wrong methods 405', async () => {
    const u = new URL('/api/v1/pods', s.url);
    const plain = (headers: Record<string, string>) =>
      new Promise<{ code: number; body: string }>((resolve, reject) => {
        request({ host: u.hostname, port: u.port, path: u.pathname, ca, headers }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
        })
          .on('error', reject)
          .end();
      });
    const anon = await plain({});
    assert.equal(anon.code, 403);
    assert.equal(JSON.parse(anon.body).message, 'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" at the cluster scope');
    // A scheme other than Bearer is no credential (upstream's bearer authenticator ignores it): anonymous.
    assert.equal((await plain({ authorization: 'Basic YWRtaW46YWRtaW4=' })).code, 403);
    const refused = await plain({ authorization: 'Bearer not-a-token' });
    assert.equal(refused.code, 401);
    assert.equal(JSON.parse(refused.body).reason, 'Unauthorized');
    assertClientError(await call('GET', '/api/v1/namespaces/default/widgets'), 'unknown resource');
    assertClientError(await call('GET', '/apis/nope.example/v1'), 'unknown group');
    assertClientError(await call('PUT', '/api/v1/namespaces/default/pods'), 'PUT on a collection');
    assertClientError(await call('POST', '/api/v1/nodes/x/status', '{}'), 'POST on status');
  });
});
