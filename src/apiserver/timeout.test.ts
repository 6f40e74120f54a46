// The handler timeout: a non-long-running request slower than --request-timeout (or the client's shorter
// ?timeout=) answers 504 Timeout worded as kube-apiserver; watches are long-running and exempt. The store
// is slowed for one object's writes so the handler, not the network, is what takes long (reads of it are
// served from the watch cache and never reach the store).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServer, type RunningServer } from '../server/server.js';
import type { Store } from '../store/types.js';
import { kubectlBinary } from '../testing/kubectl-harness.js';

const SLOW_MS = 2500;
let s: RunningServer;
let dir: string;

/** Updates of keys ending in /slow take SLOW_MS: everything else is the real store as it is. */
function slowed(inner: Store): Store {
  return new Proxy(inner, {
    get(target, prop, recv) {
      if (prop === 'update') {
        return async (key: string, value: string, expected: number) => {
          if (key.endsWith('/slow')) await new Promise((r) => setTimeout(r, SLOW_MS));
          return target.update(key, value, expected);
        };
      }
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

function call(path: string, method = 'GET', body?: string, contentType = 'application/json'): Promise<{ code: number; body: string; ms: number }> {
  const u = new URL(s.url);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const rq = request(
      {
        host: u.hostname,
        port: u.port,
        path,
        method,
        ca: readFileSync(s.caPath),
        headers: { Authorization: `Bearer ${s.token}`, 'Content-Type': contentType },
      },
      (res) => {
        let b = '';
        res.on('data', (c) => {
          b += c;
        });
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body: b, ms: Date.now() - t0 }));
      },
    );
    rq.on('error', reject);
    rq.end(body);
  });
}

/** A merge patch of the named ConfigMap: a write, so it reaches the (slowed) store. */
const patch = (name: string, query = '') =>
  call(`/api/v1/namespaces/default/configmaps/${name}${query}`, 'PATCH', JSON.stringify({ data: { at: String(Date.now()) } }), 'application/merge-patch+json');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'k8ts-timeout-'));
  s = await runServer({
    dataDir: dir,
    store: 'memory',
    listen: [{ host: '127.0.0.1', port: 0 }],
    log: () => {},
    wrapStore: slowed,
    limits: { requestTimeoutMs: 1000 },
  });
  for (const name of ['slow', 'fast']) {
    const r = await call('/api/v1/namespaces/default/configmaps', 'POST', JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } }));
    assert.equal(r.code, 201, r.body);
  }
});

after(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a request slower than --request-timeout answers 504 Timeout as kube-apiserver; others are served', async () => {
  const [slow, fast] = await Promise.all([patch('slow'), patch('fast')]);
  assert.equal(fast.code, 200);
  assert.equal(slow.code, 504, slow.body);
  assert.ok(slow.ms >= 900 && slow.ms < SLOW_MS, `answered at the deadline, not when the handler finished (${slow.ms} ms)`);
  assert.deepEqual(JSON.parse(slow.body), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'Timeout: request did not complete within requested timeout - context deadline exceeded',
    reason: 'Timeout',
    code: 504,
  });
  // The handler finishing later writes nothing more and breaks nothing.
  await new Promise((r) => setTimeout(r, SLOW_MS - 900));
  assert.equal((await patch('fast')).code, 200);
  assert.equal((await call('/api/v1/namespaces/default/configmaps/fast')).code, 200);
});

test('?timeout= shortens the deadline (never lengthens it); a malformed one is a 400', async () => {
  const ok = await patch('fast', '?timeout=30s');
  assert.equal(ok.code, 200);
  const short = await patch('slow', '?timeout=300ms');
  assert.equal(short.code, 504);
  assert.ok(short.ms < 900, `the client's 300ms deadline, not the server's 1s (${short.ms} ms)`);
  const longer = await patch('slow', '?timeout=10m');
  assert.equal(longer.code, 504, "the server's own limit still holds");
  const bad = await call('/api/v1/namespaces/default/configmaps/fast?timeout=soon');
  assert.equal(bad.code, 400);
  assert.match(JSON.parse(bad.body).message, /invalid timeout specified in the request URL/);
});

test('kubectl sees the 504 worded as upstream', {
  skip: !kubectlBinary('1.33') && process.env.K8TS_CI !== '1' ? 'kubectl.1.33 not found' : false,
}, async () => {
  const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(
      kubectlBinary('1.33')!,
      ['--kubeconfig', s.kubeconfigPath, 'label', '--overwrite', 'configmap', 'slow', 'at=now'],
      { timeout: 30_000 },
      (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr }),
    ),
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Error from server \(Timeout\): Timeout: request did not complete within requested timeout - context deadline exceeded/);
});

test('a watch is long-running: it outlives the request timeout and still delivers events', async () => {
  const u = new URL(s.url);
  const got = await new Promise<string>((resolve, reject) => {
    const rq = request(
      {
        host: u.hostname,
        port: u.port,
        path: '/api/v1/namespaces/default/configmaps?watch=1&timeout=1s&timeoutSeconds=60',
        ca: readFileSync(s.caPath),
        headers: { Authorization: `Bearer ${s.token}` },
      },
      (res) => {
        let b = '';
        res.on('data', (c) => {
          b += c;
          if (b.includes('"late"')) {
            rq.destroy();
            resolve(b);
          }
        });
      },
    );
    rq.on('error', (e) => {
      if (!/socket hang up|aborted/.test(e.message)) reject(e);
    });
    rq.end();
    setTimeout(() => {
      call('/api/v1/namespaces/default/configmaps', 'POST', JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late' } })).catch(reject);
    }, 2000);
    setTimeout(() => reject(new Error('no event after the request timeout')), 15_000).unref();
  });
  assert.match(got, /"type":"ADDED".*"name":"late"/s);
});
