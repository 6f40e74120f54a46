// Secrets encrypted at rest through a real server and the real kubectl: the datastore's files hold no
// plaintext, keys rotate by rewriting (`kubectl get secrets -A -o json | kubectl replace -f -`), a secret
// no key can read answers 500 naming its key while the others are served, and a hostile configuration
// stops `k8ts server` naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServer, type RunningServer } from './server.js';
import { serverCommand } from '../cli/server.js';
import { UsageError } from '../cli/args.js';
import { kubectlBinary } from '../testing/kubectl-harness.js';

const KUBECTL = kubectlBinary('1.33');
const skip = !KUBECTL && process.env.K8TS_CI !== '1' ? 'kubectl.1.33 not found beside kubectl on PATH' : false;
const OLD = Buffer.alloc(32, 7).toString('base64');
const NEW = Buffer.alloc(32, 9).toString('base64');
const PASSWORD = 'hunter2-correct-horse-battery';

function encConfig(providers: string[]): string {
  return [
    'apiVersion: apiserver.config.k8s.io/v1',
    'kind: EncryptionConfiguration',
    'resources:',
    '  - resources: [secrets]',
    '    providers:',
    ...providers.map((p) => `      - ${p}`),
    '',
  ].join('\n');
}

function kubectl(s: RunningServer, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile(KUBECTL!, ['--kubeconfig', s.kubeconfigPath, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) c.stdin!.end(input);
  });
}

function diskBytes(dir: string): Buffer {
  return Buffer.concat(
    readdirSync(dir)
      .filter((f) => f.startsWith('store.db'))
      .map((f) => readFileSync(join(dir, f))),
  );
}

test('kubectl: secrets are encrypted on disk, keys rotate by rewriting, an unreadable secret fails alone', { skip }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'k8ts-atrest-e2e-'));
  const data = join(root, 'data');
  const cfg = join(root, 'enc.yaml');
  const logs: string[] = [];
  const start = (providers: string[]) => {
    writeFileSync(cfg, encConfig(providers), { mode: 0o600 });
    return runServer({ dataDir: data, store: 'sqlite', listen: [{ host: '127.0.0.1', port: 0 }], encryptionProviderConfig: cfg, log: (l) => logs.push(l) });
  };
  let s: RunningServer | undefined;
  try {
    s = await start([`aescbc: {keys: [{name: old, secret: ${OLD}}]}`]);
    assert.ok(
      logs.some((l) => l === 'encryption at rest: secrets: writes with aescbc key "old"; reads aescbc key "old"'),
      logs.join('\n'),
    );
    let r = await kubectl(s, ['create', 'secret', 'generic', 'db', `--from-literal=password=${PASSWORD}`]);
    assert.equal(r.code, 0, r.stderr);
    r = await kubectl(s, ['create', 'namespace', 'team']);
    assert.equal(r.code, 0, r.stderr);
    r = await kubectl(s, ['-n', 'team', 'create', 'secret', 'generic', 'api', `--from-literal=token=${PASSWORD}`]);
    assert.equal(r.code, 0, r.stderr);
    r = await kubectl(s, ['create', 'configmap', 'plain', `--from-literal=note=${PASSWORD}`]);
    assert.equal(r.code, 0, r.stderr);
    r = await kubectl(s, ['get', 'secret', 'db', '-o', 'jsonpath={.data.password}']);
    assert.equal(Buffer.from(r.stdout, 'base64').toString(), PASSWORD, 'kubectl reads the plain secret');
    const metrics = await kubectl(s, ['get', '--raw', '/metrics']);
    assert.match(
      metrics.stdout,
      /apiserver_storage_transformation_operations_total\{transformation_type="to_storage",transformer_prefix="k8s:enc:aescbc:v1:old:",status="OK"\} [1-9]/,
    );
    await s.close();
    s = undefined;
    let disk = diskBytes(data);
    const b64 = Buffer.from(PASSWORD).toString('base64');
    assert.ok(disk.includes('k8s:enc:aescbc:v1:old:'), 'the secrets are stored with the aescbc prefix');
    assert.ok(!disk.includes(b64), "no secret's data is on disk");
    assert.ok(disk.includes(PASSWORD), 'the configmap (not listed) is stored as it is: the check does see plaintext');
    // Rotation, step 1: the new key first, the old one still listed; every secret rewritten.
    s = await start([`secretbox: {keys: [{name: new, secret: ${NEW}}]}`, `aescbc: {keys: [{name: old, secret: ${OLD}}]}`]);
    r = await kubectl(s, ['get', 'secrets', '-A', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const rewrite = await kubectl(s, ['replace', '-f', '-'], r.stdout);
    assert.equal(rewrite.code, 0, rewrite.stderr);
    assert.match(rewrite.stdout, /secret\/db replaced/);
    assert.match(rewrite.stdout, /secret\/api replaced/);
    // A secret made now, then the old key dropped.
    r = await kubectl(s, ['create', 'secret', 'generic', 'later', `--from-literal=k=${PASSWORD}`]);
    assert.equal(r.code, 0, r.stderr);
    await s.close();
    s = undefined;
    s = await start([`secretbox: {keys: [{name: new, secret: ${NEW}}]}`]);
    for (const [ns, name, field] of [
      ['default', 'db', 'password'],
      ['team', 'api', 'token'],
      ['default', 'later', 'k'],
    ]) {
      r = await kubectl(s, ['-n', ns, 'get', 'secret', name, '-o', `jsonpath={.data.${field}}`]);
      assert.equal(r.code, 0, `${ns}/${name}: ${r.stderr}`);
      assert.equal(Buffer.from(r.stdout, 'base64').toString(), PASSWORD, `${ns}/${name} after rotation`);
    }
    await s.close();
    s = undefined;
    disk = diskBytes(data);
    assert.ok(disk.includes('k8s:enc:secretbox:v1:new:'));
    assert.ok(!disk.includes(b64), "still no secret's data on disk (history rows included)");

    // A secret written with a key the server no longer has: its read is a 500 naming the key; others served.
    s = await start([`aescbc: {keys: [{name: old, secret: ${OLD}}]}`, 'identity: {}']);
    r = await kubectl(s, ['create', 'secret', 'generic', 'orphan', `--from-literal=k=${PASSWORD}`]);
    assert.equal(r.code, 0, r.stderr);
    await s.close();
    s = undefined;
    s = await start([`secretbox: {keys: [{name: new, secret: ${NEW}}]}`]);
    r = await kubectl(s, ['get', 'secret', 'orphan']);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /Error from server \(InternalError\): Internal error occurred: unable to transform key "\/registry\/core\/secrets\/default\/orphan": no matching prefix found: the value was written with aescbc key "old"; the EncryptionConfiguration lists secretbox key "new"/,
    );
    r = await kubectl(s, ['get', 'secret', 'db', '-o', 'jsonpath={.data.password}']);
    assert.equal(Buffer.from(r.stdout, 'base64').toString(), PASSWORD, 'the other secrets are still served');
    r = await kubectl(s, ['get', 'configmap', 'plain', '-o', 'jsonpath={.data.note}']);
    assert.equal(r.stdout, PASSWORD);
    r = await kubectl(s, ['get', 'secrets', '-o', 'name']);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['secret/db', 'secret/later'], 'a list leaves the unreadable secret out');
    assert.ok(logs.some((l) => /list: unable to transform key "\/registry\/core\/secrets\/default\/orphan".*left out of the list/.test(l)));
  } finally {
    await s?.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('k8ts server refuses a hostile --encryption-provider-config, naming the field', async () => {
  const root = mkdtempSync(join(tmpdir(), 'k8ts-atrest-cli-'));
  try {
    const cases: [string, RegExp][] = [
      [
        encConfig(['aescbc: {keys: [{name: k, secret: "%%%"}]}']),
        /resources\[0\]\.providers\[0\]\.aescbc\.keys\[0\]\.secret: Invalid value: "REDACTED": secrets must be base64 encoded/,
      ],
      [
        encConfig([`secretbox: {keys: [{name: k, secret: ${Buffer.alloc(24).toString('base64')}}]}`]),
        /secretbox\.keys\[0\]\.secret: .*got 24, expected one of \[32\]/,
      ],
      [encConfig(['vault: {}']), /providers\[0\]: Invalid value: "vault": provider does not contain any of the expected providers/],
      [encConfig([]).replace('    providers:\n', '    providers: []\n'), /resources\[0\]\.providers: Required value/],
    ];
    for (const [text, want] of cases) {
      const f = join(root, 'enc.yaml');
      writeFileSync(f, text);
      await assert.rejects(
        serverCommand(['--data-dir', join(root, 'data'), '--listen', '127.0.0.1:0', '--encryption-provider-config', f]),
        (e: Error) => e instanceof UsageError && e.message.startsWith('--encryption-provider-config ') && want.test(e.message),
      );
    }
    await assert.rejects(
      serverCommand(['--data-dir', join(root, 'data'), '--encryption-provider-config', join(root, 'missing.yaml')]),
      (e: Error) => e instanceof UsageError && /cannot read .*missing\.yaml: ENOENT/.test(e.message),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
