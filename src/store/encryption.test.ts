// Encryption at rest below the API: the EncryptionConfiguration's validation against hostile files, the
// aescbc layout checked with an independent implementation (openssl), secretbox's layout, and the store
// wrapper over every backend (the bytes written hold no plaintext; rotation; an unreadable value fails alone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { EncryptionConfigError, parseEncryptionConfig, transformersFor } from './encryption.js';
import { EncryptedStore, TransformError } from './encrypted.js';
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';
import type { Store, WatchEvent } from './types.js';
import { etcdSkipReason, startEtcd } from './testing/etcd.js';

const K1 = Buffer.alloc(32, 1).toString('base64');
const K2 = Buffer.alloc(32, 2).toString('base64');

function config(providers: string, resources = '[secrets]'): string {
  return `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: ${resources}\n    providers:\n${providers}`;
}
const aescbc = (name: string, secret: string) => `      - aescbc: {keys: [{name: ${name}, secret: "${secret}"}]}\n`;
const secretbox = (name: string, secret: string) => `      - secretbox: {keys: [{name: ${name}, secret: "${secret}"}]}\n`;
const identity = '      - identity: {}\n';

const SECRET_KEY = '/registry/core/secrets/default/s1';
const PLAINTEXT = 'c3VwZXItc2VjcmV0LXBhc3N3b3Jk'; // base64 of the secret's data, as a Secret stores it
const secretJson = (name = 's1') =>
  JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name, namespace: 'default' }, data: { password: PLAINTEXT } });

test('hostile EncryptionConfigurations are refused, naming the field', () => {
  const cases: [string, string, RegExp][] = [
    [
      'bad base64',
      config(aescbc('k1', 'not*base64!')),
      /resources\[0\]\.providers\[0\]\.aescbc\.keys\[0\]\.secret: Invalid value: "REDACTED": secrets must be base64 encoded/,
    ],
    [
      "unpadded base64 (Go's StdEncoding refuses it)",
      config(aescbc('k1', K1.replace(/=+$/, ''))),
      /keys\[0\]\.secret: Invalid value: "REDACTED": secrets must be base64 encoded/,
    ],
    ['aescbc key of 31 bytes', config(aescbc('k1', Buffer.alloc(31).toString('base64'))), /aescbc\.keys\[0\]\.secret: .*got 31, expected one of \[16 24 32\]/],
    [
      'secretbox key of 16 bytes',
      config(secretbox('k1', Buffer.alloc(16).toString('base64'))),
      /secretbox\.keys\[0\]\.secret: .*got 16, expected one of \[32\]/,
    ],
    [
      'unknown provider',
      config('      - rot13: {}\n'),
      /resources\[0\]\.providers\[0\]: Invalid value: "rot13": provider does not contain any of the expected providers/,
    ],
    [
      'two providers in one element',
      config('      - identity: {}\n        aescbc: {keys: []}\n'),
      /providers\[0\]: .*more than one provider specified in a single element/,
    ],
    [
      'no providers',
      `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers: []\n`,
      /resources\[0\]\.providers: Required value/,
    ],
    [
      'no resources',
      `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: []\n`,
      /resources: Required value: at least one resources is required/,
    ],
    ['no keys', config('      - aescbc: {keys: []}\n'), /providers\[0\]\.aescbc\.keys: Required value/],
    [
      'key without a name',
      config('      - aescbc: {keys: [{secret: "' + K1 + '"}]}\n'),
      /keys\[0\]\.name: Required value: name is a mandatory field for a key/,
    ],
    ['key name with a colon (it would break the stored prefix)', config(aescbc('"a:b"', K1)), /keys\[0\]\.name: Invalid value: "a:b"/],
    [
      'duplicate key name',
      config('      - aescbc: {keys: [{name: k, secret: "' + K1 + '"}, {name: k, secret: "' + K2 + '"}]}\n'),
      /keys\[1\]\.name: Duplicate value: "k"/,
    ],
    ['wrong kind', config(identity).replace('EncryptionConfiguration', 'Secret'), /kind: Invalid value: "Secret"/],
    ['kms is not implemented', config('      - kms: {name: x, endpoint: "unix:///x"}\n'), /providers\[0\]\.kms: Unsupported value/],
    ['bad resource name', config(identity, '["sec rets"]'), /resources\[0\]\.resources\[0\]: Invalid value: "sec rets"/],
    ['not YAML', '{{{', /not YAML or JSON/],
  ];
  for (const [what, text, want] of cases) {
    assert.throws(
      () => parseEncryptionConfig(text, '/etc/enc.yaml'),
      (e: Error) => {
        assert.ok(e instanceof EncryptionConfigError, what);
        assert.match(e.message, want, what);
        assert.ok(e.message.startsWith('/etc/enc.yaml: '), `${what}: names the file`);
        assert.ok(!e.message.includes(K1) && !e.message.includes(K2), `${what}: never echoes a key`);
        return true;
      },
      what,
    );
  }
});

test('resources select providers as upstream: plural, plural.group, *.group, *.*; first rule wins; claims never', () => {
  const c = parseEncryptionConfig(
    `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n` +
      `  - resources: [secrets, deployments.apps]\n    providers:\n${aescbc('a', K1)}` +
      `  - resources: ["*.batch"]\n    providers:\n${secretbox('b', K2)}` +
      `  - resources: ["*.*"]\n    providers:\n${identity}`,
  );
  assert.equal(transformersFor(c, '/registry/core/secrets/ns/x')?.[0].prefix, 'k8s:enc:aescbc:v1:a:');
  assert.equal(transformersFor(c, '/registry/apps/deployments/ns/x')?.[0].prefix, 'k8s:enc:aescbc:v1:a:');
  assert.equal(transformersFor(c, '/registry/batch/jobs/ns/x')?.[0].prefix, 'k8s:enc:secretbox:v1:b:');
  assert.equal(transformersFor(c, '/registry/core/configmaps/ns/x')?.[0].provider, 'identity');
  assert.equal(transformersFor(c, '/registry/k8ts/claims/x'), undefined);
  const only = parseEncryptionConfig(config(aescbc('a', K1)));
  assert.equal(transformersFor(only, '/registry/core/configmaps/ns/x'), undefined);
  assert.equal(transformersFor(only, '/registry/other.group/secrets/ns/x'), undefined, 'secrets means the core group only');
});

test("aescbc writes upstream's layout: prefix, random IV, AES-CBC with PKCS#7 (openssl decrypts it)", async () => {
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const store = new EncryptedStore(new MemoryStore(), parseEncryptionConfig(config(aescbc('key1', key.toString('base64')))));
  const raw = (store as unknown as { inner: Store }).inner;
  await store.create(SECRET_KEY, secretJson());
  const stored = Buffer.from((await raw.get(SECRET_KEY))!.value, 'latin1');
  const prefix = Buffer.from('k8s:enc:aescbc:v1:key1:');
  assert.deepEqual(stored.subarray(0, prefix.length), prefix);
  const body = stored.subarray(prefix.length);
  const plainLen = Buffer.byteLength(secretJson());
  assert.equal(body.length, 16 + (Math.floor(plainLen / 16) + 1) * 16, 'IV, then the padded ciphertext');
  const out = execFileSync('openssl', ['enc', '-d', '-aes-256-cbc', '-K', key.toString('hex'), '-iv', body.subarray(0, 16).toString('hex')], {
    input: body.subarray(16),
  });
  assert.equal(out.toString(), secretJson());
  // A second write of the same object gets a fresh IV.
  await store.update(SECRET_KEY, secretJson(), (await raw.get(SECRET_KEY))!.modRevision);
  const again = Buffer.from((await raw.get(SECRET_KEY))!.value, 'latin1');
  assert.notDeepEqual(again.subarray(prefix.length, prefix.length + 16), body.subarray(0, 16));
});

test('secretbox writes prefix, 24-byte nonce, tag and ciphertext; an altered byte fails authentication', async () => {
  const store = new EncryptedStore(new MemoryStore(), parseEncryptionConfig(config(secretbox('sb', K1))));
  const raw = (store as unknown as { inner: Store }).inner;
  await store.create(SECRET_KEY, secretJson());
  const kv = (await raw.get(SECRET_KEY))!;
  const stored = Buffer.from(kv.value, 'latin1');
  const prefix = 'k8s:enc:secretbox:v1:sb:';
  assert.equal(stored.subarray(0, prefix.length).toString(), prefix);
  assert.equal(stored.length, prefix.length + 24 + 16 + Buffer.byteLength(secretJson()));
  assert.equal((await store.get(SECRET_KEY))!.value, secretJson());
  stored[stored.length - 1] ^= 1;
  await raw.update(SECRET_KEY, stored.toString('latin1'), kv.modRevision);
  await assert.rejects(
    store.get(SECRET_KEY),
    (e: Error) =>
      e instanceof TransformError &&
      /unable to transform key "\/registry\/core\/secrets\/default\/s1": secretbox key "sb": authentication failed/.test(e.message),
  );
});

test('rotation: a new key first still reads the old; without the old key only those objects fail, naming the key', async () => {
  const raw = new MemoryStore();
  const v1 = new EncryptedStore(raw, parseEncryptionConfig(config(aescbc('old', K1))));
  await v1.create(SECRET_KEY, secretJson());
  await v1.create('/registry/core/configmaps/default/c', '{"metadata":{"name":"c"}}');
  const v2 = new EncryptedStore(raw, parseEncryptionConfig(config(secretbox('new', K2) + aescbc('old', K1))));
  assert.equal((await v2.get(SECRET_KEY))!.value, secretJson(), 'the old key still reads');
  assert.equal((await v2.get(SECRET_KEY))!.stale, true, 'read with a provider that does not write: stale, so an unchanged update still writes');
  assert.equal((await v1.get(SECRET_KEY))!.stale, undefined);
  await v2.create('/registry/core/secrets/default/s2', secretJson('s2'));
  assert.ok((await raw.get('/registry/core/secrets/default/s2'))!.value.startsWith('k8s:enc:secretbox:v1:new:'), 'the first provider writes');
  // Dropping the old key before rewriting: s1 cannot be read, s2 and the configmap still can.
  const v3 = new EncryptedStore(raw, parseEncryptionConfig(config(secretbox('new', K2))));
  await assert.rejects(
    v3.get(SECRET_KEY),
    (e: Error) =>
      e instanceof TransformError &&
      e.message.includes('"/registry/core/secrets/default/s1"') &&
      e.message.includes('aescbc key "old"') &&
      e.message.includes('secretbox key "new"'),
  );
  assert.equal((await v3.get('/registry/core/secrets/default/s2'))!.value, secretJson('s2'));
  assert.equal((await v3.get('/registry/core/configmaps/default/c'))!.value, '{"metadata":{"name":"c"}}');
  assert.deepEqual(
    (await v3.list('/registry/core/secrets/')).items.map((kv) => kv.key),
    ['/registry/core/secrets/default/s2'],
    'a list leaves the unreadable one out',
  );
  // Rewriting with both keys moves s1 to the new key; then the new key alone reads everything.
  const s1 = (await v2.get(SECRET_KEY))!;
  await v2.update(SECRET_KEY, s1.value, s1.modRevision);
  assert.equal((await v3.list('/registry/core/secrets/')).items.length, 2, 'after the rewrite the new key alone reads both');
  // identity first (decrypting away from encryption) still reads encrypted values through the next provider.
  const v4 = new EncryptedStore(raw, parseEncryptionConfig(config(identity + secretbox('new', K2))));
  assert.equal((await v4.get(SECRET_KEY))!.value, secretJson());
  await v4.update(SECRET_KEY, secretJson(), (await raw.get(SECRET_KEY))!.modRevision);
  assert.equal((await raw.get(SECRET_KEY))!.value, secretJson(), 'identity first writes plain');
  // Without identity, a plain value is refused rather than served unencrypted... as upstream: no matching prefix.
  await assert.rejects(v3.get(SECRET_KEY), /no matching prefix found: the value is not encrypted and identity is not listed/);
});

test('watch events arrive decrypted; the transformation counter counts each provider', async () => {
  const metrics = new Registry();
  const store = new EncryptedStore(new MemoryStore(), parseEncryptionConfig(config(aescbc('k1', K1) + identity)), { metrics });
  const seen: WatchEvent[] = [];
  const w = await store.watch('/registry/', 0, { onEvents: (e) => seen.push(...e), onError: () => {} });
  await store.create(SECRET_KEY, secretJson());
  const kv = (await store.get(SECRET_KEY))!;
  await store.update(SECRET_KEY, secretJson('s1'), kv.modRevision);
  await store.delete(SECRET_KEY);
  for (let i = 0; i < 50 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  w.close();
  assert.deepEqual(
    seen.map((e) => e.type),
    ['put', 'put', 'delete'],
  );
  for (const e of seen) {
    const v = e.type === 'put' ? e.kv.value : e.prev.value;
    assert.equal(JSON.parse(v).data.password, PLAINTEXT);
  }
  const text = await metrics.metrics();
  assert.match(
    text,
    /apiserver_storage_transformation_operations_total\{transformation_type="to_storage",transformer_prefix="k8s:enc:aescbc:v1:k1:",status="OK"\} 2/,
  );
  assert.match(
    text,
    /apiserver_storage_transformation_operations_total\{transformation_type="from_storage",transformer_prefix="k8s:enc:aescbc:v1:k1:",status="OK"\} \d+/,
  );
});

/** Every file under dir, concatenated (the database, its WAL, etcd's snapshots and write-ahead log). */
function bytesUnder(dir: string): Buffer {
  const out: Buffer[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(readFileSync(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)));
  }
  return Buffer.concat(out);
}

test('SQLite: the file holds the prefix and the exact ciphertext bytes, never the plaintext', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-atrest-sqlite-'));
  try {
    const inner = await SqliteStore.open({ dataDir: dir });
    const store = new EncryptedStore(inner, parseEncryptionConfig(config(aescbc('k1', K1))));
    for (let i = 0; i < 20; i++) await store.create(`/registry/core/secrets/default/s${i}`, secretJson(`s${i}`));
    const kv = (await store.get('/registry/core/secrets/default/s7'))!;
    await store.update(kv.key, kv.value, kv.modRevision);
    assert.equal(JSON.parse((await store.get(kv.key))!.value).data.password, PLAINTEXT);
    assert.equal((await store.list('/registry/core/secrets/')).items.length, 20);
    const stored = (await inner.get(kv.key))!.value;
    assert.equal(
      stored.length,
      'k8s:enc:aescbc:v1:k1:'.length + 16 + (Math.floor(Buffer.byteLength(secretJson('s7')) / 16) + 1) * 16,
      'one char per byte: the BLOB holds the bytes as written',
    );
    await inner.close();
    const disk = bytesUnder(dir);
    assert.ok(disk.includes('k8s:enc:aescbc:v1:k1:'), 'the prefix is on disk');
    assert.ok(!disk.includes(PLAINTEXT), "the secret's data is not");
    assert.ok(!disk.includes(Buffer.from(PLAINTEXT, 'base64')), 'nor its decoded value');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('etcd: the value is the prefix and the raw ciphertext, never the plaintext', { skip: etcdSkipReason() }, async () => {
  const etcd = await startEtcd();
  try {
    const { EtcdStore } = await import('./etcd.js');
    const inner = await EtcdStore.open({ endpoints: [etcd.endpoint], prefix: '/atrest-test' });
    const store = new EncryptedStore(inner, parseEncryptionConfig(config(secretbox('sb', K1))));
    try {
      await store.create(SECRET_KEY, secretJson());
      assert.equal(JSON.parse((await store.get(SECRET_KEY))!.value).data.password, PLAINTEXT);
      const raw = Buffer.from((await inner.get(SECRET_KEY))!.value, 'latin1');
      assert.equal(raw.length, 'k8s:enc:secretbox:v1:sb:'.length + 24 + 16 + Buffer.byteLength(secretJson()), 'stored as raw bytes, not re-encoded');
      const seen: WatchEvent[] = [];
      const w = await store.watch('/registry/', 0, { onEvents: (e) => seen.push(...e), onError: () => {} });
      for (let i = 0; i < 100 && seen.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
      w.close();
      assert.equal(seen[0]?.type === 'put' && JSON.parse(seen[0].kv.value).metadata.name, 's1');
    } finally {
      await store.close();
    }
    const disk = bytesUnder(etcd.dataDir);
    assert.ok(disk.includes('k8s:enc:secretbox:v1:sb:'), "the prefix is in etcd's files");
    assert.ok(!disk.includes(PLAINTEXT), "the secret's data is not");
  } finally {
    await etcd.stop();
  }
});
