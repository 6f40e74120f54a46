// `k8ts image import` of OCI image layouts into a real store: a layout directory and its tar (made with
// GNU tar), built here from this machine's python3 (three layers, whiteout, opaque dir), named by
// io.containerd.image.name or org.opencontainers.image.ref.name, nested indexes; the imported image runs
// from an overlay of its layers. Hostile layouts are refused by name with nothing left half-written:
// no name, a tag alone, digest mismatches (manifest, config, layer), a tar entry or a blob symlink that
// climbs out, an index.json that is not an index, a missing blob.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { importArchive } from './archive.js';
import { ImageError } from './errors.js';
import { MT, hostPlatform } from './manifest.js';
import { ImageStore } from './store.js';
import { PYTHON, type BuiltImage, buildImage, buildIndex, buildLayer, pythonImage } from './testing.js';

const CI = process.env.K8TS_CI === '1';
const skip = !CI && (!existsSync(PYTHON) || process.getuid?.() !== 0) ? `needs root and ${PYTHON} (make setup)` : false;

const root = mkdtempSync(join(tmpdir(), 'k8ts-ociimport-'));
let py: BuiltImage;
let n = 0;

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface LayoutOptions {
  annotations?: Record<string, string>;
  /** index.json's own body instead of the one made from the image. */
  indexJson?: unknown;
  /** Wrap the image in a nested index (as buildx's OCI exporter writes). */
  nested?: boolean;
}

/** An OCI image layout directory holding img, as `ctr export` / skopeo / buildx write one. */
function layout(img: BuiltImage, o: LayoutOptions = {}): string {
  const dir = join(root, `layout-${++n}`);
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => writeFileSync(join(blobs, sha(b).slice(7)), b);
  for (const l of img.layers) put(l.blob);
  put(img.config);
  put(img.manifest);
  let top = { mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifest.length };
  if (o.nested) {
    const idx = buildIndex([{ img, platform: hostPlatform() }]);
    put(idx.body);
    top = { mediaType: idx.mediaType, digest: idx.digest, size: idx.body.length };
  }
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const annotations = o.annotations ?? { 'io.containerd.image.name': 'registry.example/web/python:3.11', 'org.opencontainers.image.ref.name': '3.11' };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(o.indexJson ?? { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ ...top, annotations }] }));
  return dir;
}

function tarOfDir(dir: string): string {
  const file = `${dir}.tar`;
  execFileSync('tar', ['-C', dir, '-cf', file, '.']);
  return file;
}

function store(): ImageStore {
  return new ImageStore(join(root, `store-${++n}`));
}

/** Nothing half-written: no image record, no layer, no tmp entry. */
function untouched(s: ImageStore): void {
  for (const d of [s.images, s.layers, s.tmp]) assert.deepEqual(existsSync(d) ? readdirSync(d) : [], [], `${d} is empty`);
}

function refused(file: string, why: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof ImageError, `an ImageError, not ${(e as Error)?.stack}`);
    assert.equal(e.code, 'ImageImportFailed');
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    assert.match(e.message, why);
    return true;
  };
}

describe('k8ts image import: OCI image layouts', { skip }, () => {
  before(async () => {
    py = await pythonImage();
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a layout directory and its tar import the same image, which runs from its layers', async () => {
    const dir = layout(py);
    const file = tarOfDir(dir);
    for (const src of [dir, file]) {
      const s = store();
      const got = await importArchive(s, src);
      assert.equal(got.length, 1);
      const rec = got[0].record;
      assert.equal(rec.name, 'registry.example/web/python:3.11');
      assert.equal(rec.target, py.manifestDigest);
      assert.equal(rec.config, py.configDigest);
      assert.deepEqual(
        rec.layers.map((l) => l.diffID),
        py.layers.map((l) => l.diffID),
      );
      const stored = (await s.stored((await s.getImage(rec.name))!))!;
      assert.equal(stored.lowerdirs.length, 3);
      assert.deepEqual(stored.config.config.Entrypoint, ['/usr/bin/python3', '-S']);
      assert.equal(stored.config.config.User, 'www');
      assert.equal(stored.config.config.WorkingDir, '/srv');
      // What a container sees: the overlay of the imported layers, whiteouts applied, python running.
      const mnt = mkdtempSync(join(root, 'mnt-'));
      const seen = execFileSync(
        'unshare',
        [
          '-m',
          '--propagation',
          'private',
          'sh',
          '-c',
          `mount -t overlay overlay -o lowerdir=${stored.lowerdirs.join(':')} ${mnt} && cd ${mnt} && ls srv && chroot . /usr/bin/python3 -S -c "import http.server; print('py ok')"`,
        ],
        { encoding: 'utf8' },
      );
      rmSync(mnt, { recursive: true, force: true });
      assert.match(seen, /index\.html/);
      assert.doesNotMatch(seen, /junk\.txt/);
      assert.match(seen, /py ok/);
      assert.deepEqual(readdirSync(s.tmp), [], 'the unpacked tar is gone from tmp/');
    }
  });

  it('named by org.opencontainers.image.ref.name alone, through a nested index; again is a no-op', async () => {
    const s = store();
    const dir = layout(py, { nested: true, annotations: { 'org.opencontainers.image.ref.name': 'localhost:5000/app:v2' } });
    const [a] = await importArchive(s, dir);
    assert.equal(a.record.name, 'localhost:5000/app:v2');
    assert.equal(a.record.manifest, py.manifestDigest);
    assert.notEqual(a.record.target, py.manifestDigest, 'the repo digest is the index');
    const layersBefore = readdirSync(s.layers).sort();
    const [b] = await importArchive(s, tarOfDir(dir));
    assert.equal(b.record.config, a.record.config);
    assert.deepEqual(readdirSync(s.layers).sort(), layersBefore);
  });

  describe('hostile layouts are refused by name, nothing half-written', () => {
    let small: BuiltImage;
    before(async () => {
      const l = await buildLayer([{ name: 'hello', data: 'hi\n' }]);
      small = buildImage([l], { Cmd: ['/hello'] });
    });

    it('no name annotation', async () => {
      const s = store();
      const dir = layout(small, { annotations: {} });
      await assert.rejects(
        importArchive(s, dir),
        refused(dir, /manifests\[0\] \(sha256:[0-9a-f]{64}\) has no name: annotate it with io\.containerd\.image\.name/),
      );
      untouched(s);
    });

    it('a ref.name that is a tag alone', async () => {
      const s = store();
      const dir = layout(small, { annotations: { 'org.opencontainers.image.ref.name': 'latest' } });
      await assert.rejects(importArchive(s, dir), refused(dir, /"latest" is a tag alone, not an image name/));
      untouched(s);
    });

    it('a manifest, a config or a layer that does not match its digest', async () => {
      for (const [what, pick, why] of [
        ['manifest', (i: BuiltImage) => i.manifestDigest, /blob sha256:[0-9a-f]{64} does not match its digest/],
        ['config', (i: BuiltImage) => i.configDigest, /config blob sha256:[0-9a-f]{64} does not match its digest/],
        ['layer', (i: BuiltImage) => i.layers[0].digest, /digest mismatch: the source sent \d+ bytes with digest sha256:/],
      ] as const) {
        const s = store();
        const dir = layout(small);
        const f = join(dir, 'blobs', 'sha256', pick(small).slice(7));
        const b = readFileSync(f);
        b[b.length - 3] ^= 0xff;
        writeFileSync(f, b);
        await assert.rejects(importArchive(s, dir), refused(dir, why), what);
        untouched(s);
        const t = tarOfDir(dir);
        await assert.rejects(importArchive(s, t), refused(t, why), `${what} (tar)`);
        untouched(s);
      }
    });

    it('a tar entry that climbs out of the archive', async () => {
      const s = store();
      const dir = layout(small);
      const t = join(root, 'climb.tar');
      // GNU tar keeps `..` with -P: an archive made to write outside where it is unpacked.
      mkdirSync(join(root, 'x', 'y'), { recursive: true });
      execFileSync('tar', ['-P', '-C', join(root, 'x', 'y'), '-cf', t, `../../${dir.slice(root.length + 1)}/index.json`]);
      assert.match(execFileSync('tar', ['-P', '-tf', t], { encoding: 'utf8' }), /^\.\.\/\.\.\//);
      await assert.rejects(importArchive(s, t), refused(t, /the entry "\.\.\/\.\.\/layout-\d+\/index\.json" climbs out of the archive: refused/));
      untouched(s);
    });

    it('a blob that is a symlink out of the layout', async () => {
      const s = store();
      const dir = layout(small);
      const f = join(dir, 'blobs', 'sha256', small.configDigest.slice(7));
      const outside = join(root, 'outside-config');
      writeFileSync(outside, small.config);
      rmSync(f);
      symlinkSync(outside, f);
      await assert.rejects(
        importArchive(s, dir),
        refused(dir, new RegExp(`blobs/sha256/${small.configDigest.slice(7)} leads out of the layout \\(to ${outside}\\): refused`)),
      );
      untouched(s);
    });

    it('a digest in index.json that is not one', async () => {
      const s = store();
      const dir = layout(small, {
        indexJson: {
          schemaVersion: 2,
          manifests: [{ mediaType: MT.ociManifest, digest: 'sha256:../../../etc/passwd', size: 10, annotations: { 'io.containerd.image.name': 'a/b:1' } }],
        },
      });
      await assert.rejects(importArchive(s, dir), refused(dir, /index\.json: .*digest/));
      untouched(s);
    });

    it('an index.json that is not an index, or not JSON', async () => {
      const s = store();
      const dir = layout(small, { indexJson: JSON.parse(small.manifest.toString()) });
      await assert.rejects(importArchive(s, dir), refused(dir, /index\.json is not an image index/));
      writeFileSync(join(dir, 'index.json'), '{"schemaVersion": 2, "manifests": [');
      await assert.rejects(importArchive(s, dir), refused(dir, /index\.json: the manifest is not JSON/));
      untouched(s);
    });

    it('a missing layer blob', async () => {
      const s = store();
      const dir = layout(small);
      rmSync(join(dir, 'blobs', 'sha256', small.layers[0].digest.slice(7)));
      await assert.rejects(importArchive(s, dir), refused(dir, /layer blob sha256:[0-9a-f]{64} of registry\.example\/web\/python:3\.11 is missing/));
      untouched(s);
    });

    it('neither layout nor docker save', async () => {
      const s = store();
      const dir = join(root, 'empty-dir');
      mkdirSync(dir);
      await assert.rejects(importArchive(s, dir), refused(dir, /neither a docker save archive \(manifest\.json\) nor an OCI image layout/));
      const notTar = join(root, 'not.tar');
      writeFileSync(notTar, 'hello, this is not a tar archive at all'.repeat(20));
      await assert.rejects(importArchive(s, notTar), refused(notTar, /not a tar archive|neither/));
      untouched(s);
    });
  });
});
