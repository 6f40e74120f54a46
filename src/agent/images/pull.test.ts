// Pulls from a real registry (Debian's docker-registry on loopback) of images this test builds from the
// machine's own python3: by tag, by digest, through an index, through a mirror with a rewrite, with basic
// auth, the token flow and pull-secret credentials, over TLS with a configured CA; and each failure (digest
// mismatch, missing tag, wrong password, unreachable registry, another architecture) with a clear message
// and nothing half-written in the store. The unpacked layers are mounted as a real overlay to check
// whiteouts and opaque directories, and python runs from it.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { issue, makeCa, writeKeyAndCert } from '../../api/certificates/issue.js';
import { ImageError } from './errors.js';
import { Keyring } from './keyring.js';
import { hostPlatform } from './manifest.js';
import { Puller } from './pull.js';
import { Registries } from './registries.js';
import { ImageStore } from './store.js';
import {
  PYTHON,
  buildImage,
  buildIndex,
  buildLayer,
  pushImage,
  pushManifest,
  pythonImage,
  registryBlobPath,
  startRegistry,
  startTokenServer,
  tokenFor,
  type BuiltImage,
  type TestRegistry,
  type TokenServer,
} from './testing.js';

const CI = process.env.K8TS_CI === '1';
const missing = ['docker-registry', 'htpasswd', 'zstd', 'openssl'].filter((c) => {
  try {
    execFileSync('which', [c], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});
const skip =
  !CI && (missing.length || !existsSync(PYTHON) || process.getuid?.() !== 0)
    ? `needs root, ${PYTHON} and ${missing.join(', ') || 'the tools'} (make setup)`
    : false;

const root = mkdtempSync(join(tmpdir(), 'k8ts-pull-'));
let reg: TestRegistry;
let py: BuiltImage;
let pyDigest: string;
const other = hostPlatform().architecture === 'arm64' ? { os: 'linux', architecture: 'amd64' } : { os: 'linux', architecture: 'arm64', variant: 'v8' };

function freshStore(name: string): ImageStore {
  return new ImageStore(join(root, 'stores', name));
}

/** What a container of this image sees: the layers mounted as overlay in a private mount namespace. */
function inOverlay(lowerdirs: string[], script: string): string {
  const mnt = mkdtempSync(join(root, 'mnt-'));
  try {
    return execFileSync(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', `mount -t overlay overlay -o lowerdir=${lowerdirs.join(':')} ${mnt} && cd ${mnt} && ${script}`],
      { encoding: 'utf8' },
    );
  } finally {
    rmSync(mnt, { recursive: true, force: true });
  }
}

function noLeftovers(store: ImageStore): void {
  assert.deepEqual(readdirSync(store.tmp), [], 'nothing left in tmp/');
  for (const l of readdirSync(store.layers)) assert.ok(existsSync(join(store.layers, l, 'layer.json')), `layer ${l} is complete`);
}

describe('pulling from a real registry', { skip }, () => {
  before(async () => {
    reg = await startRegistry({ dir: join(root, 'reg') });
    py = await pythonImage();
    pyDigest = await pushImage({ url: reg.url }, 'web/python', '3.11', py);
  });
  after(async () => {
    await reg?.stop();
  });

  it('by tag: three layers, whiteout and opaque dir in overlay form, python runs from the overlay as the image user', async () => {
    const store = freshStore('tag');
    const puller = new Puller(store, Registries.parse(`mirrors:\n  "${reg.addr}":\n    endpoint: ["http://${reg.addr}"]\n`));
    const lines: string[] = [];
    const r = await puller.pull(`${reg.addr}/web/python:3.11`, { progress: (p) => lines.push(p.step) });
    assert.equal(r.record.name, `${reg.addr}/web/python:3.11`);
    assert.equal(r.record.target, pyDigest);
    assert.equal(r.record.config, py.configDigest);
    assert.equal(r.stored.lowerdirs.length, 3);
    assert.equal(
      r.fetched,
      py.layers.reduce((a, l) => a + l.size, 0),
    );
    assert.deepEqual(lines.filter((l) => l === 'layer').length, 3);
    const seen = inOverlay(r.stored.lowerdirs, 'ls srv srv/old; cat srv/index.html; chroot . /usr/bin/python3 -S -c "import http.server; print(\'py ok\')"');
    assert.match(seen, /index\.html/);
    assert.doesNotMatch(seen, /junk\.txt/, 'the whiteout hides junk.txt');
    assert.doesNotMatch(seen, /stale\.txt/, 'the opaque directory hides stale.txt');
    assert.match(seen, /new\.txt/);
    assert.match(seen, /py ok/);
    assert.equal(r.stored.config.config.User, 'www');
    noLeftovers(store);
    // Again: nothing fetched, same image.
    const again = await puller.pull(`${reg.addr}/web/python:3.11`);
    assert.equal(again.fetched, 0);
    assert.equal(again.record.config, r.record.config);
    puller.close();
  });

  it('by digest, and one pull for concurrent pulls of one image', async () => {
    const store = freshStore('digest');
    const regs = Registries.parse(`mirrors:\n  "${reg.addr}":\n    endpoint: ["http://${reg.addr}"]\n`);
    const puller = new Puller(store, regs);
    const ref = `${reg.addr}/web/python@${pyDigest}`;
    const [a, b] = [puller.pull(ref), puller.pull(ref)];
    assert.equal(a, b, 'the same promise');
    const r = await a;
    assert.equal(r.record.name, ref);
    await assert.rejects(
      puller.pull(`${reg.addr}/web/python@sha256:${'0'.repeat(64)}`),
      (e: unknown) => e instanceof ImageError && e.code === 'ErrImagePull' && /not found/.test(e.message),
    );
    noLeftovers(store);
    puller.close();
  });

  it("through an index: this node's platform is picked; an image only for another architecture is refused by name", async () => {
    const foreign = buildImage(py.layers, { Cmd: ['true'] }, { platform: other });
    await pushImage({ url: reg.url }, 'multi/python', undefined, foreign);
    await pushImage({ url: reg.url }, 'multi/python', undefined, py);
    const idx = buildIndex([
      { img: foreign, platform: other },
      { img: py, platform: hostPlatform() },
    ]);
    await pushManifest({ url: reg.url }, 'multi/python', 'v1', idx.body, idx.mediaType);
    const onlyOther = buildIndex([{ img: foreign, platform: other }], true);
    await pushManifest({ url: reg.url }, 'multi/python', 'foreign-index', onlyOther.body, onlyOther.mediaType);
    await pushImage({ url: reg.url }, 'multi/python', 'foreign', foreign);
    const store = freshStore('index');
    const puller = new Puller(store, Registries.parse(`mirrors:\n  "*":\n    endpoint: ["http://${reg.addr}"]\n`));
    const r = await puller.pull(`${reg.addr}/multi/python:v1`);
    assert.equal(r.record.target, idx.digest, 'the repo digest is the index');
    assert.equal(r.record.manifest, py.manifestDigest);
    const want = `${hostPlatform().os}/${hostPlatform().architecture}`;
    await assert.rejects(
      puller.pull(`${reg.addr}/multi/python:foreign-index`),
      (e: unknown) =>
        e instanceof ImageError && e.message.includes(`no image for this node's platform ${want}`) && e.message.includes(`${other.os}/${other.architecture}`),
    );
    await assert.rejects(
      puller.pull(`${reg.addr}/multi/python:foreign`),
      (e: unknown) => e instanceof ImageError && e.message.includes(`is for ${other.os}/${other.architecture}`) && e.message.includes(`this node is ${want}`),
    );
    noLeftovers(store);
    puller.close();
  });

  it('a missing tag and an unreachable registry say so', async () => {
    const store = freshStore('missing');
    const puller = new Puller(
      store,
      Registries.parse(`mirrors:\n  "${reg.addr}":\n    endpoint: ["http://${reg.addr}"]\n  "127.0.0.1:9":\n    endpoint: ["http://127.0.0.1:9"]\n`),
    );
    await assert.rejects(
      puller.pull(`${reg.addr}/web/python:nope`),
      (e: unknown) => e instanceof ImageError && e.code === 'ErrImagePull' && /manifest nope not found in .*web\/python.*MANIFEST_UNKNOWN/.test(e.message),
    );
    await assert.rejects(
      puller.pull('127.0.0.1:9/web/python:1'),
      (e: unknown) => e instanceof ImageError && /registry 127\.0\.0\.1:9 is unreachable: connection refused/.test(e.message),
    );
    noLeftovers(store);
    puller.close();
  });

  it('a corrupted layer is a digest mismatch and leaves nothing a later pull would trust', async () => {
    const img = buildImage([await buildLayer([{ name: 'a.txt', data: 'original content '.repeat(1000) }])], { Cmd: ['x'] });
    await pushImage({ url: reg.url }, 'bad/layer', '1', img);
    const blob = registryBlobPath(reg.storage, img.layers[0].digest);
    const bytes = readFileSync(blob);
    bytes[bytes.length - 20] ^= 0xff;
    writeFileSync(blob, bytes);
    const store = freshStore('mismatch');
    const puller = new Puller(store, Registries.parse(`mirrors:\n  "${reg.addr}":\n    endpoint: ["http://${reg.addr}"]\n`));
    await assert.rejects(puller.pull(`${reg.addr}/bad/layer:1`), (e: unknown) => {
      assert.ok(e instanceof ImageError);
      assert.match(e.message, new RegExp(`layer ${img.layers[0].digest}: digest mismatch: the source sent \\d+ bytes with digest sha256:`));
      return true;
    });
    assert.equal(store.hasLayer(img.layers[0].diffID), false);
    assert.equal(store.hasBlob(img.layers[0].digest), false);
    assert.equal(await store.getImage(`${reg.addr}/bad/layer:1`), undefined);
    noLeftovers(store);
    puller.close();
  });

  it('zstd layers and Docker media types', async () => {
    const z = await pythonImage({ compression: 'zstd' });
    await pushImage({ url: reg.url }, 'web/python', 'zstd', z);
    const d = await pythonImage({ docker: true, index: 'docker\n' });
    await pushImage({ url: reg.url }, 'web/python', 'docker', d);
    const store = freshStore('zstd');
    const puller = new Puller(store, Registries.parse(`mirrors:\n  "${reg.addr}":\n    endpoint: ["http://${reg.addr}"]\n`));
    const rz = await puller.pull(`${reg.addr}/web/python:zstd`);
    assert.match(inOverlay(rz.stored.lowerdirs, 'cat srv/index.html'), /hello/);
    const rd = await puller.pull(`${reg.addr}/web/python:docker`);
    assert.equal(inOverlay(rd.stored.lowerdirs, 'cat srv/index.html'), 'docker\n');
    noLeftovers(store);
    puller.close();
  });

  it('through a mirror with a rewrite, for a registry that does not exist', async () => {
    await pushImage({ url: reg.url }, 'mirrored/team/python', '1', py);
    const store = freshStore('mirror');
    const puller = new Puller(
      store,
      Registries.parse(
        `mirrors:\n  registry.example.invalid:\n    endpoint:\n      - http://127.0.0.1:9\n      - http://${reg.addr}\n    rewrite:\n      "^team/(.*)": "mirrored/team/$1"\n`,
      ),
    );
    const r = await puller.pull('registry.example.invalid/team/python:1');
    assert.equal(r.record.name, 'registry.example.invalid/team/python:1');
    assert.equal(r.record.config, py.configDigest);
    puller.close();
  });

  it('kill -9 in the middle of a pull leaves no layer a later pull trusts', async () => {
    const big = await pythonImage({ fullStdlib: true, compression: 'none' });
    await pushImage({ url: reg.url }, 'big/python', '1', big);
    // A slow mirror in front of the registry, so the kill lands mid-layer.
    const slow = http.createServer((q, s) => {
      const up = http.request(`${reg.url}${q.url}`, { method: q.method, headers: q.headers }, (r) => {
        s.writeHead(r.statusCode ?? 502, r.headers);
        r.on('data', (c: Buffer) => {
          s.write(c);
          r.pause();
          setTimeout(() => r.resume(), 5);
        });
        r.on('end', () => s.end());
      });
      q.pipe(up);
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const port = (slow.address() as { port: number }).port;
    const dir = join(root, 'stores', 'killed');
    const yaml = `mirrors:\n  "${reg.addr}":\n    endpoint: ["http://127.0.0.1:${port}"]\n`;
    const mod = fileURLToPath(new URL('./pull.js', import.meta.url));
    const storeMod = fileURLToPath(new URL('./store.js', import.meta.url));
    const regMod = fileURLToPath(new URL('./registries.js', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
      const { Puller } = await import(${JSON.stringify(mod)});
      const { ImageStore } = await import(${JSON.stringify(storeMod)});
      const { Registries } = await import(${JSON.stringify(regMod)});
      await new Puller(new ImageStore(${JSON.stringify(dir)}), Registries.parse(${JSON.stringify(yaml)})).pull(${JSON.stringify(`${reg.addr}/big/python:1`)});
      console.log('finished');`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b));
    const store = new ImageStore(dir);
    // Kill once a layer is half-way: a tmp layer directory holding some files.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const busy = existsSync(store.tmp) && readdirSync(store.tmp).some((n) => n.endsWith('.layer') && readdirSync(join(store.tmp, n, 'fs')).length > 0);
      if (busy || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    slow.closeAllConnections();
    slow.close();
    assert.equal(out.includes('finished'), false, 'the pull was cut short');
    assert.ok(readdirSync(store.tmp).length > 0, 'the killed pull left work in tmp/');
    for (const l of readdirSync(store.layers)) assert.ok(existsSync(join(store.layers, l, 'layer.json')), 'only complete layers are in layers/');
    assert.equal(await store.getImage(`${reg.addr}/big/python:1`), undefined);
    const gone = await store.cleanTmp();
    assert.ok(gone.length > 0);
    const puller = new Puller(store, Registries.parse(`mirrors:\n  "${reg.addr}":\n    endpoint: ["http://${reg.addr}"]\n`));
    const r = await puller.pull(`${reg.addr}/big/python:1`);
    assert.match(inOverlay(r.stored.lowerdirs, 'chroot . /usr/bin/python3 -S -c "import json; print(json.dumps([1]))"'), /\[1\]/);
    noLeftovers(store);
    puller.close();
  });
});

describe('registry auth', { skip }, () => {
  const users = { alice: 'right-password' };
  let basic: TestRegistry;
  let tokReg: TestRegistry;
  let ts: TokenServer;
  const secret = (host: string, user: string, pass: string, type = 'kubernetes.io/dockerconfigjson') => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type,
    metadata: { namespace: 'default', name: 'regcred' },
    data:
      type === 'kubernetes.io/dockercfg'
        ? { '.dockercfg': Buffer.from(JSON.stringify({ [`http://${host}`]: { auth: Buffer.from(`${user}:${pass}`).toString('base64') } })).toString('base64') }
        : { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [host]: { username: user, password: pass } } })).toString('base64') },
  });
  before(async () => {
    basic = await startRegistry({ dir: join(root, 'basic'), htpasswd: { user: 'alice', password: users.alice } });
    await pushImage(
      { url: basic.url, auth: `Basic ${Buffer.from('alice:right-password').toString('base64')}` },
      'private/python',
      '1',
      py ?? (py = await pythonImage()),
    );
    ts = await startTokenServer(join(root, 'token'), users);
    tokReg = await startRegistry({ dir: join(root, 'tokreg'), token: ts });
    await pushImage({ url: tokReg.url, auth: await tokenFor(ts, 'alice', users.alice, 'repository:private/python:pull,push') }, 'private/python', '1', py);
  });
  after(async () => {
    await basic?.stop();
    await tokReg?.stop();
    await ts?.stop();
  });

  for (const kind of ['basic', 'token'] as const) {
    it(`${kind}: anonymous and a wrong password are refused by name; an imagePullSecret or registries.yaml credentials pull`, async () => {
      const r = kind === 'basic' ? basic : tokReg;
      const ref = `${r.addr}/private/python:1`;
      const mirror = `mirrors:\n  "${r.addr}":\n    endpoint: ["http://${r.addr}"]\n`;
      const store = freshStore(`auth-${kind}`);
      const anon = new Puller(store, Registries.parse(mirror));
      await assert.rejects(anon.pull(ref), (e: unknown) => e instanceof ImageError && /401|refused/.test(e.message) && /anonymous/i.test(e.message));
      const wrong = new Keyring();
      wrong.addSecret(secret(r.addr, 'alice', 'wrong-password') as never);
      await assert.rejects(
        anon.pull(ref, { keyring: wrong }),
        (e: unknown) => e instanceof ImageError && e.message.includes('imagePullSecret default/regcred'),
      );
      const right = new Keyring();
      right.addSecret(secret(r.addr, 'alice', users.alice, kind === 'basic' ? 'kubernetes.io/dockercfg' : 'kubernetes.io/dockerconfigjson') as never);
      const ok = await anon.pull(ref, { keyring: right });
      assert.equal(ok.record.config, py.configDigest);
      const viaConfig = new Puller(
        freshStore(`auth-${kind}-cfg`),
        Registries.parse(`${mirror}configs:\n  "${r.addr}":\n    auth:\n      username: alice\n      password: ${users.alice}\n`),
      );
      assert.equal((await viaConfig.pull(ref)).record.config, py.configDigest);
      noLeftovers(store);
      if (kind === 'token') assert.ok(ts.log.some(([u, , st]) => u === 'alice' && st === 200) && ts.log.some(([, , st]) => st === 401));
      anon.close();
    });
  }
});

// One clean-up for every suite here: they all keep their registries and stores under root.
after(() => rmSync(root, { recursive: true, force: true }));

describe('registry over TLS', { skip }, () => {
  let tlsReg: TestRegistry;
  let ca = '';
  before(async () => {
    const d = join(root, 'tls');
    execFileSync('mkdir', ['-p', d]);
    const testCa = await makeCa('k8ts test CA', 2);
    writeKeyAndCert(testCa, join(d, 'ca.key'), join(d, 'ca.crt'));
    writeKeyAndCert(
      await issue(testCa, { subject: { cn: '127.0.0.1' }, usage: 'server', names: ['127.0.0.1'], days: 2 }),
      join(d, 'reg.key'),
      join(d, 'reg.crt'),
    );
    ca = join(d, 'ca.crt');
    tlsReg = await startRegistry({ dir: d, tls: { certFile: join(d, 'reg.crt'), keyFile: join(d, 'reg.key') } });
    await pushImage({ url: tlsReg.url, ca: readFileSync(ca, 'utf8') }, 'secure/python', '1', py ?? (py = await pythonImage()));
  });
  after(async () => tlsReg?.stop());

  it('HTTPS with a configured CA works; without it the certificate is refused', async () => {
    const ref = `${tlsReg.addr}/secure/python:1`;
    await assert.rejects(
      new Puller(freshStore('tls-noca')).pull(ref),
      (e: unknown) => e instanceof ImageError && /certificate|self.signed|unable to verify/i.test(e.message),
    );
    const p = new Puller(freshStore('tls'), Registries.parse(`configs:\n  "${tlsReg.addr}":\n    tls:\n      ca_file: ${ca}\n`));
    assert.equal((await p.pull(ref)).record.config, py.configDigest);
    p.close();
  });
});
