// Unit tests of the image module's parsers: references, registries.yaml, the pull-secret keyring,
// WWW-Authenticate challenges, platform choice, the image user, and layers with hostile entries.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { parseChallenges } from './client.js';
import { ImageError } from './errors.js';
import { Keyring } from './keyring.js';
import { MT, hostPlatform, parseManifest, pickPlatform } from './manifest.js';
import { defaultPullPolicy, formatReference, parseReference, storeName } from './reference.js';
import { Registries, RegistriesConfigError } from './registries.js';
import { goDuration } from './service.js';
import { tarOf } from './testing.js';
import { UnpackError, unpackLayer } from './unpack.js';
import { UserLookupError, resolveUser } from './user.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('image references', () => {
  const cases: [string, string, string][] = [
    ['nginx', 'docker.io/library/nginx:latest', 'docker.io/library/nginx:latest'],
    ['nginx:1.27', 'docker.io/library/nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['library/nginx', 'docker.io/library/nginx:latest', 'docker.io/library/nginx:latest'],
    ['index.docker.io/user/app', 'docker.io/user/app:latest', 'docker.io/user/app:latest'],
    ['registry-1.docker.io/nginx', 'docker.io/library/nginx:latest', 'docker.io/library/nginx:latest'],
    ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
    ['localhost:5000/a/b/c:v1', 'localhost:5000/a/b/c:v1', 'localhost:5000/a/b/c:v1'],
    ['registry.example/app:1.2', 'registry.example/app:1.2', 'registry.example/app:1.2'],
    [`ghcr.io/org/app@${D}`, `ghcr.io/org/app@${D}`, `ghcr.io/org/app@${D}`],
    [`nginx:1@${D}`, `docker.io/library/nginx:1@${D}`, `docker.io/library/nginx@${D}`],
    ['[::1]:5000/app', '[::1]:5000/app:latest', '[::1]:5000/app:latest'],
  ];
  for (const [ref, full, name] of cases) {
    it(`${ref} → ${full}`, () => {
      const r = parseReference(ref);
      assert.equal(formatReference(r), full);
      assert.equal(storeName(r), name);
    });
  }
  for (const bad of [
    '',
    ' nginx',
    'Nginx',
    'nginx:',
    'nginx:-x',
    'nginx@sha256:abc',
    'a//b',
    '/a',
    'a/',
    'bad host:1/x',
    `x@md5:${'a'.repeat(32)}`,
    'a'.repeat(300),
  ]) {
    it(`${JSON.stringify(bad.slice(0, 20))} is refused with InvalidImageName`, () => {
      assert.throws(
        () => parseReference(bad),
        (e: unknown) => e instanceof ImageError && e.code === 'InvalidImageName' && e.message.includes('invalid image reference'),
      );
    });
  }
  it('the default pull policy is Always for :latest and no tag, IfNotPresent otherwise', () => {
    assert.equal(defaultPullPolicy('nginx'), 'Always');
    assert.equal(defaultPullPolicy('nginx:latest'), 'Always');
    assert.equal(defaultPullPolicy('nginx:1'), 'IfNotPresent');
    assert.equal(defaultPullPolicy(`nginx@${D}`), 'IfNotPresent');
    assert.equal(defaultPullPolicy(`nginx:latest@${D}`), 'IfNotPresent');
  });
  it('prints durations as Go does', () => {
    assert.equal(goDuration(12), '12ms');
    assert.equal(goDuration(1234), '1.234s');
    assert.equal(goDuration(2000), '2s');
    assert.equal(goDuration(61_500), '1m1.5s');
  });
});

describe('registries.yaml', () => {
  it('mirrors with rewrites come first, the registry last; configs by endpoint host', () => {
    const r = Registries.parse(`mirrors:
  docker.io:
    endpoint: ["https://mirror.local:5000", "http://10.0.0.1:5000/prefix/v2"]
    rewrite:
      "^library/(.*)": "hub/$1"
  "*":
    endpoint: ["http://catchall.local"]
configs:
  mirror.local:5000:
    auth: { username: u, password: p }
    tls: { insecure_skip_verify: true }
  "10.0.0.1:5000":
    auth: { auth: ${Buffer.from('x:y:z').toString('base64')} }
`);
    const eps = r.endpoints('docker.io', 'library/nginx');
    assert.deepEqual(
      eps.map((e) => [e.url, e.prefix, e.path, e.mirror]),
      [
        ['https://mirror.local:5000', '', 'hub/nginx', true],
        ['http://10.0.0.1:5000', '/prefix', 'hub/nginx', true],
        ['https://registry-1.docker.io', '', 'library/nginx', false],
      ],
    );
    assert.equal(eps[0].credentials?.username, 'u');
    assert.equal(eps[0].tls.insecureSkipVerify, true);
    assert.deepEqual([eps[1].credentials?.username, eps[1].credentials?.password], ['x', 'y:z']);
    assert.deepEqual(
      r.endpoints('quay.io', 'a/b').map((e) => e.url),
      ['http://catchall.local', 'https://quay.io'],
    );
    assert.deepEqual(
      Registries.empty()
        .endpoints('ghcr.io', 'o/a')
        .map((e) => e.url),
      ['https://ghcr.io'],
    );
  });
  const bad: [string, RegExp][] = [
    ['mirrors: [1]', /mirrors: expected a mapping/],
    ['mirrors:\n  docker.io:\n    endpoints: [x]', /unknown field "endpoints"/],
    ['mirrors:\n  docker.io:\n    endpoint: ["ftp://x"]', /only http:\/\/ and https:\/\//],
    ['mirrors:\n  docker.io:\n    endpoint: ["https://u:p@x"]', /no credentials/],
    ['mirrors:\n  docker.io:\n    rewrite: { "(": "x" }', /not a regular expression/],
    ['configs:\n  x:\n    tls: { ca_file: /nonexistent/ca.crt }', /ca_file: ENOENT/],
    ['configs:\n  x:\n    tls: { cert_file: /etc/hostname }', /go together/],
    ['configs:\n  x:\n    auth: { auth: bm9jb2xvbg== }', /not base64 of user:password/],
    ['configs:\n  "bad host":\n    auth: {}', /not a registry host/],
    ['other: 1', /unknown field "other"/],
    ['a: [', /not YAML/],
  ];
  for (const [text, re] of bad) {
    it(`refuses ${JSON.stringify(text.slice(0, 40))}`, () =>
      assert.throws(
        () => Registries.parse(text),
        (e: unknown) => e instanceof RegistriesConfigError && re.test(e.message),
      ));
  }
});

describe('the imagePullSecrets keyring', () => {
  const secret = (type: string, data: Record<string, string>) =>
    ({ apiVersion: 'v1', kind: 'Secret', type, metadata: { namespace: 'ns', name: 's' }, data }) as never;
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64');
  it('matches by host glob, port and path prefix, most specific first; Docker Hub keys by any alias', () => {
    const k = new Keyring();
    k.addSecret(
      secret('kubernetes.io/dockerconfigjson', {
        '.dockerconfigjson': b64({
          auths: {
            'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
            '*.example.com': { username: 'glob', password: 'g' },
            'reg.example.com/team': { username: 'team', password: 't' },
            'reg.example.com:5000': { username: 'port', password: 'p' },
          },
        }),
      }),
    );
    k.addSecret(secret('kubernetes.io/dockercfg', { '.dockercfg': b64({ 'http://old.example.org': { auth: Buffer.from('old:o').toString('base64') } }) }));
    assert.deepEqual(
      k.lookup('docker.io', 'library/nginx').map((c) => c.username),
      ['hub'],
    );
    assert.deepEqual(
      k.lookup('registry-1.docker.io', 'library/nginx').map((c) => c.username),
      ['hub'],
    );
    assert.deepEqual(
      k.lookup('reg.example.com', 'team/app').map((c) => c.username),
      ['team', 'glob'],
    );
    assert.deepEqual(
      k.lookup('reg.example.com', 'other/app').map((c) => c.username),
      ['glob'],
    );
    assert.deepEqual(
      k.lookup('reg.example.com:5000', 'x').map((c) => c.username),
      ['port'],
    );
    assert.deepEqual(k.lookup('a.b.example.com', 'x'), []);
    assert.deepEqual(
      k.lookup('old.example.org', 'x').map((c) => c.username),
      ['old'],
    );
    assert.equal(k.lookup('docker.io', 'x')[0].source, 'imagePullSecret ns/s');
  });
  it('notes secrets of another type or with bad JSON, and goes on', () => {
    const k = new Keyring();
    k.addSecret(secret('Opaque', {}));
    k.addSecret(secret('kubernetes.io/dockerconfigjson', { '.dockerconfigjson': Buffer.from('{').toString('base64') }));
    assert.equal(k.problems.length, 2);
    assert.match(k.problems[0], /type "Opaque"/);
    assert.match(k.problems[1], /valid JSON/);
  });
});

describe('WWW-Authenticate', () => {
  it('parses Bearer and Basic challenges with quoted values', () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' } },
    ]);
    assert.deepEqual(parseChallenges('Basic realm="k8ts \\"test\\""'), [{ scheme: 'basic', params: { realm: 'k8ts "test"' } }]);
    assert.deepEqual(
      parseChallenges(['Basic realm=x', 'Bearer realm="y"']).map((c) => c.scheme),
      ['basic', 'bearer'],
    );
    assert.deepEqual(parseChallenges(undefined), []);
  });
});

describe('platforms', () => {
  const idx = (plats: [string, string, string?][]) =>
    parseManifest(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociIndex,
          manifests: plats.map(([os, architecture, variant], i) => ({
            mediaType: MT.ociManifest,
            digest: `sha256:${String(i).repeat(64)}`,
            size: 1,
            platform: { os, architecture, ...(variant ? { variant } : {}) },
          })),
        }),
      ),
    );
  it('picks os/arch, the ARM variant, never attestations', () => {
    const i = idx([
      ['unknown', 'unknown'],
      ['linux', 'arm', 'v6'],
      ['linux', 'arm', 'v7'],
      ['linux', 'amd64'],
      ['linux', 'arm64', 'v8'],
    ]) as never;
    assert.equal(pickPlatform(i, { os: 'linux', architecture: 'amd64' })?.digest, `sha256:${'3'.repeat(64)}`);
    assert.equal(pickPlatform(i, { os: 'linux', architecture: 'arm64', variant: 'v8' })?.digest, `sha256:${'4'.repeat(64)}`);
    assert.equal(pickPlatform(i, { os: 'linux', architecture: 'arm', variant: 'v7' })?.digest, `sha256:${'2'.repeat(64)}`);
    assert.equal(pickPlatform(i, { os: 'linux', architecture: 's390x' }), undefined);
    assert.equal(hostPlatform('x64').architecture, 'amd64');
  });
  it('refuses manifests that lie about themselves', () => {
    for (const bad of [
      '{}',
      '[]',
      '{"schemaVersion":1}',
      `{"schemaVersion":2,"mediaType":"${MT.ociManifest}","config":{"mediaType":"x","digest":"sha256:1","size":1},"layers":[]}`,
      `{"schemaVersion":2,"mediaType":"${MT.ociManifest}","config":{"mediaType":"x","digest":"${D}","size":-1},"layers":[]}`,
      `{"schemaVersion":2,"mediaType":"${MT.ociManifest}","config":{"mediaType":"x","digest":"${D}","size":1},"layers":[{"mediaType":"text/plain","digest":"${D}","size":1}]}`,
    ]) {
      assert.throws(() => parseManifest(Buffer.from(bad)), /schemaVersion|digest|size|not a layer|not an image|no layers|not a JSON|mediaType/);
    }
  });
});

describe('the image user', () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-user-'));
  const top = join(dir, 'top');
  const bottom = join(dir, 'bottom');
  mkdirSync(join(bottom, 'etc'), { recursive: true });
  mkdirSync(join(top, 'etc'), { recursive: true });
  writeFileSync(join(bottom, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nwww:x:1000:1000::/srv:/bin/false\nnobody:x:65534:65534::/:/bin/false\n');
  writeFileSync(join(bottom, 'etc/group'), 'root:x:0:\nwww:x:1000:\nstaff:x:50:www,other\nadm:x:4:www\n');
  it('resolves names and numbers through the layers', () => {
    assert.deepEqual(resolveUser('', [top, bottom]), { uid: 0, gid: 0 });
    assert.deepEqual(resolveUser('www', [top, bottom]), { uid: 1000, gid: 1000, additionalGids: [50, 4] });
    assert.deepEqual(resolveUser('1000', [top, bottom]), { uid: 1000, gid: 1000, additionalGids: [50, 4] });
    assert.deepEqual(resolveUser('4242', [top, bottom]), { uid: 4242, gid: 0 });
    assert.deepEqual(resolveUser('www:staff', [top, bottom]), { uid: 1000, gid: 50, additionalGids: [4] });
    assert.deepEqual(resolveUser('nobody:7', [top, bottom]), { uid: 65534, gid: 7 });
    assert.throws(
      () => resolveUser('ghost', [top, bottom]),
      (e: unknown) => e instanceof UserLookupError && /unable to find user ghost/.test(e.message),
    );
    assert.throws(() => resolveUser('www:ghosts', [top, bottom]), /unable to find group ghosts/);
  });
  it('a whiteout in an upper layer hides /etc/passwd', () => {
    execFileSync('mknod', [join(top, 'etc/passwd'), 'c', '0', '0']);
    assert.throws(() => resolveUser('www', [top, bottom]), /unable to find user www/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('unpacking hostile layers', { skip: process.getuid?.() !== 0 ? 'needs root (ownership, device nodes)' : false }, () => {
  const unpack = async (entries: Parameters<typeof tarOf>[0]) => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-unpack-'));
    try {
      const res = await unpackLayer(Readable.from([await tarOf(entries)]), dir);
      return { dir, res };
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  };
  it('refuses entries through a symlink and links out of the layer; names that climb out stay inside', async () => {
    await assert.rejects(
      unpack([
        { name: 'etc', type: 'symlink', linkname: '/etc' },
        { name: 'etc/evil', data: 'x' },
      ]),
      (e: unknown) => e instanceof UnpackError && /goes through a symlink/.test(e.message),
    );
    await assert.rejects(
      unpack([{ name: 'l', type: 'link', linkname: '../../etc/passwd' }]),
      (e: unknown) => e instanceof UnpackError && /not a regular file earlier in this layer/.test(e.message),
    );
    await assert.rejects(
      unpack([{ name: 'l', type: 'link', linkname: 'missing' }]),
      (e: unknown) => e instanceof UnpackError && /not a regular file earlier in this layer/.test(e.message),
    );
    const { dir } = await unpack([{ name: '../../../outside.txt', data: 'x' }]);
    // tar -x's rule: a leading ../ is dropped, the entry stays inside.
    assert.equal(readFileSync(join(dir, 'outside.txt'), 'utf8'), 'x');
    rmSync(dir, { recursive: true, force: true });
  });
  it('whiteouts become 0:0 devices, later entries replace earlier ones, owners and modes stick', async () => {
    const { dir, res } = await unpack([
      { name: 'a/', type: 'directory', mode: 0o750, uid: 7, gid: 8 },
      { name: 'a/f', data: 'one' },
      { name: 'a/f', data: 'two', mode: 0o4755, uid: 1000 },
      { name: 'a/.wh.gone' },
      { name: 'a/h', type: 'link', linkname: 'a/f' },
      { name: 'a/s', type: 'symlink', linkname: '/nowhere' },
    ]);
    try {
      assert.equal(readFileSync(join(dir, 'a/f'), 'utf8'), 'two');
      const f = lstatSync(join(dir, 'a/f'));
      assert.equal(f.mode & 0o7777, 0o4755);
      assert.equal(f.uid, 1000);
      assert.equal(f.nlink, 2);
      const w = lstatSync(join(dir, 'a/gone'));
      assert.ok(w.isCharacterDevice() && w.rdev === 0);
      const a = lstatSync(join(dir, 'a'));
      assert.equal(a.mode & 0o777, 0o750);
      assert.deepEqual([a.uid, a.gid], [7, 8]);
      assert.equal(res.whiteouts, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
