// The pod volumes on the node with real mounts in temp directories: the atomic writer's layout and its
// swap under a concurrent reader, tmpfs for Secrets and Memory emptyDirs, hostPath type checks, subPath
// walks that refuse symlinks and '..', missing and optional sources, and a tear-down that leaves nothing.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPayloadPath, currentDir, readPayload, writePayload, type FileProjection } from './atomic.js';
import { checkHostPath, checkPropagationSource, MountError, mountSubPath, VolumeManager } from './manager.js';
import { needsRefresh, TokenManager, tokenSpec, type TokenRequestSpec } from './tokens.js';
import { mountsUnder, unmountUnder } from '../../lab/mounts.js';
import type { ConfigMap, Pod, Secret } from '../../api/types.js';

const root = process.getuid?.() === 0;
const files = (o: Record<string, string>, mode = 0o644) =>
  new Map<string, FileProjection>(Object.entries(o).map(([k, v]) => [k, { data: Buffer.from(v), mode }]));
const fstype = (dir: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[4] === dir)
    ?.split(' - ')[1]
    ?.split(' ')[0];

describe('atomic writer', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'k8ts-atomic-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the kubelet layout: ..data → a timestamped directory, each top-level name a link through ..data', () => {
    const v = join(dir, 'v1');
    assert.equal(writePayload(v, files({ a: '1', 'sub/b': '2' })), true);
    const ts = readlinkSync(join(v, '..data'));
    assert.match(ts, /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+$/);
    assert.equal(readlinkSync(join(v, 'a')), '..data/a');
    assert.equal(readlinkSync(join(v, 'sub')), '..data/sub');
    assert.equal(readFileSync(join(v, 'sub/b'), 'utf8'), '2');
    assert.equal(writePayload(v, files({ a: '1', 'sub/b': '2' })), false, 'the same payload writes nothing');
    assert.equal(readlinkSync(join(v, '..data')), ts);
    // A new version: the old directory and the names no longer in the payload go.
    writePayload(v, new Map([['a', { data: Buffer.from('one'), mode: 0o600 }]]));
    assert.notEqual(readlinkSync(join(v, '..data')), ts);
    assert.equal(existsSync(join(v, ts)), false);
    assert.equal(existsSync(join(v, 'sub')), false);
    assert.equal(statSync(join(v, 'a')).mode & 0o777, 0o600, 'the mode asked for, whatever the umask');
    assert.deepEqual([...readPayload(v)!.keys()], ['a']);
    assert.deepEqual(readdirSync(v).sort(), ['..data', readlinkSync(join(v, '..data')), 'a'].sort());
  });

  test('bad paths are refused before anything is written', () => {
    for (const p of ['../x', 'a/../../x', '/etc/passwd', '..data', '..2020_01_01', 'a//b', './a', 'a\0b', '']) {
      assert.throws(() => checkPayloadPath(p), /invalid path/, p);
    }
    const v = join(dir, 'bad');
    writePayload(v, files({ ok: '1' }));
    const before = readlinkSync(join(v, '..data'));
    assert.throws(() => writePayload(v, files({ ok: '2', '../escape': 'x' })), /invalid path/);
    assert.throws(() => writePayload(v, files({ a: '1', 'a/b': '2' })), /both a file and a directory/);
    assert.equal(readlinkSync(join(v, '..data')), before);
    assert.equal(existsSync(join(dir, 'escape')), false);
  });

  test('a reader in another process never sees a mixed or half-written set while versions are swapped', async () => {
    const v = join(dir, 'race');
    const payload = (n: number) => files({ a: String(n % 10).repeat(65536), b: String(n % 10).repeat(65536) });
    writePayload(v, payload(0));
    // The reader resolves ..data once per round (as a program that opens both files from one version).
    const reader = spawn(
      process.execPath,
      [
        '-e',
        `
      const fs = require('fs'); let rounds = 0, bad = 0, end = Date.now() + 1500;
      while (Date.now() < end) {
        let a, b;
        try { const d = fs.realpathSync(${JSON.stringify(v)} + '/..data'); a = fs.readFileSync(d + '/a', 'utf8'); b = fs.readFileSync(d + '/b', 'utf8'); }
        catch (e) { if (e.code === 'ENOENT') continue; throw e; }
        rounds++;
        if (a !== b || a.length !== 65536 || a !== a[0].repeat(65536)) bad++;
      }
      process.stdout.write(JSON.stringify({ rounds, bad }));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    reader.stdout.on('data', (b) => (out += b));
    const done = new Promise((r) => reader.on('close', r));
    let n = 1;
    const end = Date.now() + 1400;
    while (Date.now() < end) {
      writePayload(v, payload(n++));
      await new Promise((r) => setImmediate(r));
    }
    await done;
    const { rounds, bad } = JSON.parse(out);
    assert.ok(n > 20 && rounds > 20, `versions ${n}, reader rounds ${rounds}`);
    assert.equal(bad, 0, `${bad} of ${rounds} reads saw a mixed or partial set`);
    // Readers of the plain names (through the links) always see a whole file too.
    assert.equal(readFileSync(join(v, 'a'), 'utf8').length, 65536);
  });
});

describe('hostPath type checks', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'k8ts-hostpath-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('each type: what is there must be that; the OrCreate types make it', () => {
    writeFileSync(join(dir, 'f'), 'x');
    checkHostPath(join(dir, 'f'), 'File');
    checkHostPath(dir, 'Directory');
    checkHostPath(join(dir, 'any'), undefined);
    assert.throws(() => checkHostPath(dir, 'File'), new RegExp(`hostPath type check failed: ${dir} is not a file`));
    assert.throws(() => checkHostPath(join(dir, 'f'), 'Directory'), /is not a directory/);
    assert.throws(() => checkHostPath(join(dir, 'none'), 'File'), /is not a file/);
    assert.throws(() => checkHostPath(dir, 'Socket'), /is not a socket file/);
    assert.throws(() => checkHostPath(dir, 'CharDevice'), /is not a character device/);
    checkHostPath('/dev/null', 'CharDevice');
    assert.throws(() => checkHostPath(dir, 'Bogus'), /unknown type/);
    checkHostPath(join(dir, 'made/deep'), 'DirectoryOrCreate');
    assert.ok(statSync(join(dir, 'made/deep')).isDirectory());
    checkHostPath(join(dir, 'made/file'), 'FileOrCreate');
    assert.ok(statSync(join(dir, 'made/file')).isFile());
    assert.throws(() => checkHostPath(join(dir, 'f'), 'DirectoryOrCreate'), /is not a directory/);
  });
});

describe('volumes with real mounts', { skip: root ? false : 'needs root: mounts tmpfs and bind mounts' }, () => {
  let dir: string;
  const cms = new Map<string, ConfigMap>();
  const secrets = new Map<string, Secret>();
  const objects = { configMap: (ns: string, n: string) => cms.get(`${ns}/${n}`), secret: (ns: string, n: string) => secrets.get(`${ns}/${n}`) };
  const node = { nodeName: 'n1', nodeIP: '10.0.0.1', cpu: 2, memory: 4 << 30 };
  const requests: TokenRequestSpec[] = [];
  const tokens = new TokenManager({
    async request(s) {
      requests.push(s);
      return { token: `tok-${requests.length}`, expiresAt: new Date(Date.now() + 3600_000) };
    },
  });
  const vm = new VolumeManager({ objects, node, tokens, apiAudiences: [] });
  const pod = (volumes: unknown[]): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'ns', uid: '11111111-2222-3333-4444-555555555555', labels: { b: '2', a: '1' } },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { limits: { memory: '64Mi' } } }], volumes: volumes as never },
  });
  before(() => (dir = mkdtempSync(join(tmpdir(), 'k8ts-volumes-'))));
  after(async () => {
    await unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  test('configMap on disk, secret/downwardAPI/projected and Memory emptyDir on tmpfs, hostPath as is; tear-down unmounts and removes them', async () => {
    cms.set('ns/cm', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm' },
      data: { k: 'v', other: 'o' },
      binaryData: { bin: Buffer.from([0, 1, 2]).toString('base64') },
    });
    secrets.set('ns/s', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { pw: Buffer.from('hunter2').toString('base64') } });
    const podDir = join(dir, 'pod1');
    const p = pod([
      { name: 'cm', configMap: { name: 'cm', items: [{ key: 'k', path: 'deep/k', mode: 0o600 }] } },
      { name: 'all', configMap: { name: 'cm' } },
      { name: 'sec', secret: { secretName: 's', defaultMode: 0o400 } },
      {
        name: 'down',
        downwardAPI: {
          items: [
            { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
            { path: 'mem', resourceFieldRef: { containerName: 'c', resource: 'limits.memory', divisor: '1Mi' } },
          ],
        },
      },
      { name: 'proj', projected: { sources: [{ secret: { name: 's' } }, { serviceAccountToken: { path: 'token', audience: 'vault' } }] } },
      { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
      { name: 'disk', emptyDir: {} },
      { name: 'host', hostPath: { path: join(dir, 'hostdir'), type: 'DirectoryOrCreate' } },
    ]);
    const vols = await vm.setUp(p, podDir);
    const at = (v: string) => vols.get(v)!.hostPath;
    assert.equal(readFileSync(join(at('cm'), 'deep/k'), 'utf8'), 'v');
    assert.equal(statSync(join(at('cm'), 'deep/k')).mode & 0o777, 0o600);
    assert.deepEqual(readFileSync(join(at('all'), 'bin')), Buffer.from([0, 1, 2]));
    assert.equal(readFileSync(join(at('sec'), 'pw'), 'utf8'), 'hunter2');
    assert.equal(statSync(join(at('sec'), 'pw')).mode & 0o777, 0o400);
    assert.equal(readFileSync(join(at('down'), 'labels'), 'utf8'), 'a="1"\nb="2"');
    assert.equal(readFileSync(join(at('down'), 'mem'), 'utf8'), '64');
    assert.equal(readFileSync(join(at('proj'), 'token'), 'utf8'), 'tok-1');
    assert.deepEqual(requests[0], {
      namespace: 'ns',
      serviceAccount: 'default',
      audiences: ['vault'],
      expirationSeconds: 3600,
      pod: { name: 'p', uid: p.metadata.uid },
    });
    assert.equal(fstype(at('sec')), 'tmpfs');
    assert.equal(fstype(at('down')), 'tmpfs');
    assert.equal(fstype(at('proj')), 'tmpfs');
    assert.equal(fstype(at('mem')), 'tmpfs');
    assert.equal(fstype(at('cm')), undefined, 'a ConfigMap volume is a plain directory');
    assert.equal(at('host'), join(dir, 'hostdir'));
    assert.deepEqual(
      [...vols]
        .map(([k, v]) => [k, v.atomic, v.readOnly])
        .filter(([, a]) => a)
        .map(([k]) => k),
      ['cm', 'all', 'sec', 'down', 'proj'],
    );
    // The size limit holds.
    assert.throws(() => writeFileSync(join(at('mem'), 'big'), Buffer.alloc(2 << 20)), /ENOSPC/);

    // A second set-up is a refresh: the token is cached, a changed object swaps in, a vanished required one keeps the old set.
    cms.set('ns/cm', { ...cms.get('ns/cm')!, data: { k: 'v2', other: 'o' } });
    const before = readlinkSync(join(at('all'), '..data'));
    await vm.setUp(p, podDir);
    assert.equal(requests.length, 1, 'the token is reused until due');
    assert.equal(readFileSync(join(at('cm'), 'deep/k'), 'utf8'), 'v2');
    assert.notEqual(readlinkSync(join(at('all'), '..data')), before);
    secrets.delete('ns/s');
    await vm.setUp(p, podDir);
    assert.equal(readFileSync(join(at('sec'), 'pw'), 'utf8'), 'hunter2', 'a running pod keeps its last good Secret');

    await vm.tearDown(podDir);
    assert.deepEqual(await mountsUnder(podDir), []);
    assert.equal(existsSync(join(podDir, 'volumes')), false);
    assert.ok(existsSync(join(dir, 'hostdir')), 'a hostPath is never removed');
  });

  test('the volumes-only refresh rewrites just the volumes that read what changed, only once set up, and never through a torn-down tmpfs', async () => {
    cms.set('ns/r1', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'r1' }, data: { k: 'one' } });
    cms.set('ns/r2', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'r2' }, data: { k: 'two' } });
    secrets.set('ns/rs', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'rs' }, data: { pw: Buffer.from('a').toString('base64') } });
    const podDir = join(dir, 'pod-refresh');
    const p = pod([
      { name: 'a', configMap: { name: 'r1' } },
      { name: 'b', configMap: { name: 'r2' } },
      {
        name: 'mix',
        projected: {
          sources: [
            { configMap: { name: 'r1', items: [{ key: 'k', path: 'cm' }] } },
            { secret: { name: 'rs' } },
            { downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
          ],
        },
      },
      { name: 'sec', secret: { secretName: 'rs' } },
    ]);
    // Nothing set up yet: a refresh writes nothing (set-up, with its errors, is the full sync's).
    assert.equal(await vm.refresh(p, podDir, { kind: 'configMap', name: 'r1' }), 0);
    assert.equal(existsSync(join(podDir, 'volumes', 'a')), false);
    const vols = await vm.setUp(p, podDir);
    const at = (v: string) => vols.get(v)!.hostPath;
    const links = () => Object.fromEntries(['a', 'b', 'mix', 'sec'].map((v) => [v, readlinkSync(join(at(v), '..data'))]));
    const was = links();
    cms.set('ns/r1', { ...cms.get('ns/r1')!, data: { k: 'uno' } });
    cms.set('ns/r2', { ...cms.get('ns/r2')!, data: { k: 'dos' } });
    assert.equal(await vm.refresh(p, podDir, { kind: 'configMap', name: 'r1' }), 2, 'a and mix read r1');
    const now1 = links();
    assert.notEqual(now1.a, was.a);
    assert.notEqual(now1.mix, was.mix);
    assert.equal(now1.b, was.b, 'b reads r2 only: not rewritten by a change of r1');
    assert.equal(now1.sec, was.sec);
    assert.equal(readFileSync(join(at('a'), 'k'), 'utf8'), 'uno');
    assert.equal(readFileSync(join(at('mix'), 'cm'), 'utf8'), 'uno');
    assert.equal(readFileSync(join(at('b'), 'k'), 'utf8'), 'two', "r2's change waits for its own refresh");
    assert.equal(await vm.refresh(p, podDir, { kind: 'configMap', name: 'r1' }), 0, 'the same content again writes nothing');
    assert.equal(await vm.refresh(p, podDir, { kind: 'configMap', name: 'r2' }), 1);
    assert.equal(readFileSync(join(at('b'), 'k'), 'utf8'), 'dos');
    // The pod's own fields (downwardAPI) and a Secret.
    const relabelled = { ...p, metadata: { ...p.metadata, labels: { a: '9' } } };
    assert.equal(await vm.refresh(relabelled, podDir, { kind: 'pod' }), 1);
    assert.equal(readFileSync(join(at('mix'), 'labels'), 'utf8'), 'a="9"');
    secrets.set('ns/rs', { ...secrets.get('ns/rs')!, data: { pw: Buffer.from('b').toString('base64') } });
    assert.equal(await vm.refresh(relabelled, podDir, { kind: 'secret', name: 'rs' }), 2);
    assert.equal(readFileSync(join(at('sec'), 'pw'), 'utf8'), 'b');
    // A source gone: the last good files stay.
    secrets.delete('ns/rs');
    assert.equal(await vm.refresh(relabelled, podDir, { kind: 'secret', name: 'rs' }), 0);
    assert.equal(readFileSync(join(at('sec'), 'pw'), 'utf8'), 'b');
    // A refresh racing the tear-down: the Secret's tmpfs goes and nothing is written beneath it on disk.
    secrets.set('ns/rs', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'rs' }, data: { pw: Buffer.from('c').toString('base64') } });
    const racing = vm.refresh(relabelled, podDir, { kind: 'secret', name: 'rs' });
    await vm.tearDown(podDir);
    await racing;
    assert.equal(existsSync(join(podDir, 'volumes')), false, 'nothing written after the tear-down');
    assert.deepEqual(await mountsUnder(podDir), []);
  });

  test('a missing source is a MountError naming it; an optional one is an empty volume; a bad hostPath type names the reason', async () => {
    const podDir = join(dir, 'pod2');
    await assert.rejects(
      vm.setUp(pod([{ name: 'sec', secret: { secretName: 'gone' } }]), podDir),
      (e: unknown) => e instanceof MountError && e.message === 'MountVolume.SetUp failed for volume "sec" : secret "gone" not found',
    );
    cms.set('ns/two', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'two' }, data: { a: '1' } });
    await assert.rejects(
      vm.setUp(pod([{ name: 'cm', configMap: { name: 'two', items: [{ key: 'zz', path: 'zz' }] } }]), podDir),
      /configmap references non-existent config key: zz/,
    );
    const vols = await vm.setUp(pod([{ name: 'opt', secret: { secretName: 'gone', optional: true } }]), podDir);
    assert.deepEqual(
      readdirSync(vols.get('opt')!.hostPath).filter((e) => !e.startsWith('..')),
      [],
    );
    await assert.rejects(
      vm.setUp(pod([{ name: 'h', hostPath: { path: dir, type: 'File' } }]), podDir),
      /volume "h" : hostPath type check failed: .* is not a file/,
    );
    await vm.tearDown(podDir);
    assert.deepEqual(await mountsUnder(podDir), []);
  });

  test('subPath: bound from a descriptor walk; symlinks (anywhere on the way) and .. are refused, nothing outside is reachable', async () => {
    const vol = join(dir, 'sub/vol');
    const out = join(dir, 'sub/outside');
    mkdirSync(join(vol, 'a/b'), { recursive: true });
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'secret'), 'host data');
    writeFileSync(join(vol, 'a/b/f'), 'inside');
    symlinkSync(out, join(vol, 'link'));
    symlinkSync('../../outside', join(vol, 'a/rel'));
    const target = (n: string) => join(dir, 'sub/targets', n);
    await mountSubPath(vol, 'a/b', false, target('dir'));
    assert.equal(readFileSync(join(target('dir'), 'f'), 'utf8'), 'inside');
    await mountSubPath(vol, 'a/b/f', false, target('file'));
    assert.equal(readFileSync(target('file'), 'utf8'), 'inside');
    assert.ok(lstatSync(target('file')).isFile());
    await mountSubPath(vol, 'new/dirs', false, target('made'));
    assert.ok(statSync(join(vol, 'new/dirs')).isDirectory(), 'missing directories are made inside the volume');
    for (const [sub, why] of [
      ['link', /link is a symlink/],
      ['link/secret', /link is a symlink/],
      ['a/rel/secret', /a\/rel is a symlink/],
      ['../outside', /must not contain '..'/],
      ['a/../../outside', /must not contain '..'/],
      ['/etc', /must be a relative path/],
      ['a/b/f/x', /is not a directory/],
    ] as const) {
      await assert.rejects(mountSubPath(vol, sub, false, target('bad')), why, sub);
    }
    // Atomic-writer volumes resolve in the current version; a missing name is not made.
    const cfg = join(dir, 'sub/cfg');
    writePayload(cfg, files({ 'x/y': 'Y' }));
    await mountSubPath(cfg, 'x/y', true, target('cfg'));
    assert.equal(readFileSync(target('cfg'), 'utf8'), 'Y');
    await assert.rejects(mountSubPath(cfg, 'nope', true, target('cfg2')), /ENOENT/);
    assert.equal(currentDir(cfg)!.startsWith(cfg), true);
    await unmountUnder(join(dir, 'sub/targets'));
    assert.deepEqual(await mountsUnder(join(dir, 'sub')), []);
  });
});

describe('token manager', () => {
  test('refreshed at 80 % of the lifetime or after 24 h; one token per pod, audience and expiry', async () => {
    let now = 1_000_000;
    const issued: TokenRequestSpec[] = [];
    const m = new TokenManager(
      {
        async request(s) {
          issued.push(s);
          return { token: `t${issued.length}`, expiresAt: new Date(now + s.expirationSeconds * 1000) };
        },
      },
      () => now,
    );
    const p = { metadata: { name: 'p', namespace: 'ns', uid: 'u1' }, spec: { serviceAccountName: 'sa', containers: [] } } as unknown as Pod;
    const spec = tokenSpec(p, { expirationSeconds: 1000 }, ['api']);
    assert.deepEqual(spec.audiences, ['api']);
    assert.equal(await m.token(spec), 't1');
    now += 799_000;
    assert.equal(await m.token(spec), 't1');
    assert.equal(m.nextRefreshMs('u1'), 1000);
    now += 1000;
    assert.equal(await m.token(spec), 't2');
    assert.equal(await m.token(tokenSpec(p, { audience: 'other', expirationSeconds: 1000 }, ['api'])), 't3');
    m.forgetPod('u1');
    assert.equal(m.nextRefreshMs('u1'), undefined);
    assert.equal(needsRefresh({ token: 'x', expiresAt: new Date(0 + 48 * 3600_000) }, 0, 24 * 3600_000), true, '24 h at most');
  });
});

describe('mountPropagation source check', () => {
  // mountinfo lines: id parent major:minor root mount-point options optional-fields... - fstype source super-options
  const info = [
    '22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
    '30 22 0:40 / /srv rw shared:7 - tmpfs tmpfs rw',
    '31 30 0:41 / /srv/slave rw master:7 - tmpfs tmpfs rw',
    '32 22 0:42 / /with\\040space rw shared:9 master:3 - tmpfs tmpfs rw',
  ].join('\n');
  test("the mount holding the path decides; containerd's wording names the fix", () => {
    assert.throws(() => checkPropagationSource('/', 'HostToContainer', info), /path "\/" is mounted on "\/" but it is not a shared or slave mount/);
    assert.throws(() => checkPropagationSource('/', 'Bidirectional', info), /is mounted on "\/" but it is not a shared mount/);
    checkPropagationSource('/', 'HostToContainer', info.replace('- ext4', 'shared:1 - ext4'));
  });
  test('shared and slave mounts by their optional fields, the longest mount point wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-prop-'));
    try {
      // Real paths are resolved first; fake mount points stand on the temp dir.
      const fake = info.replaceAll('/srv', dir);
      checkPropagationSource(dir, 'Bidirectional', fake);
      mkdirSync(join(dir, 'slave/x'), { recursive: true });
      checkPropagationSource(join(dir, 'slave/x'), 'HostToContainer', fake);
      assert.throws(() => checkPropagationSource(join(dir, 'slave/x'), 'Bidirectional', fake), /mounted on ".*\/slave" but it is not a shared mount/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
