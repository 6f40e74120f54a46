// Image references and the built-in busybox image.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ImageError } from './errors.js';
import { BUSYBOX_BINARY, ensureImages, loadImage, resolveImage } from './images.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('resolveImage', () => {
  const builtIn: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['busybox:latest', 'docker.io/library/busybox:latest'],
    ['busybox:1.36.1-musl', 'docker.io/library/busybox:1.36.1-musl'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['library/busybox:stable', 'docker.io/library/busybox:stable'],
    ['docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox:1.35', 'docker.io/library/busybox:1.35'],
    ['docker.io/library/busybox:glibc', 'docker.io/library/busybox:glibc'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['registry-1.docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    [`busybox@${DIGEST}`, `docker.io/library/busybox:latest@${DIGEST}`],
    [`busybox:1.36@${DIGEST}`, `docker.io/library/busybox:1.36@${DIGEST}`],
    [`docker.io/library/busybox@${DIGEST}`, `docker.io/library/busybox:latest@${DIGEST}`],
  ];
  for (const [ref, spelled] of builtIn) {
    it(`${ref} is the built-in busybox`, () => {
      const r = resolveImage(ref);
      assert.equal(r.name, 'busybox');
      assert.equal(r.ref, spelled);
    });
  }

  const unavailable = ['nginx', 'nginx:1.27', 'library/nginx', 'docker.io/library/alpine:3.20', 'myuser/busybox',
    'quay.io/prometheus/busybox', 'ghcr.io/library/busybox', 'localhost:5000/busybox', 'busybox2', 'registry.k8s.io/pause:3.9'];
  for (const ref of unavailable) {
    it(`${ref} is not available`, () => {
      assert.throws(() => resolveImage(ref), (e: unknown) => {
        assert.ok(e instanceof ImageError);
        assert.equal(e.code, 'ErrImagePull');
        assert.equal(e.message, `image "${ref}" is not available: this k8ts cluster runs only its built-in images (busybox, from Debian's busybox-static); use image: busybox`);
        return true;
      });
    });
  }

  const invalid = ['', ' busybox', 'BusyBox', 'busybox:', 'busybox:-x', 'busybox@sha256:abc', 'busybox@md5:' + 'a'.repeat(32), 'bus box', '/busybox', 'busybox//x'];
  for (const ref of invalid) {
    it(`${JSON.stringify(ref)} is not a valid reference`, () => {
      assert.throws(() => resolveImage(ref), (e: unknown) => e instanceof ImageError && e.code === 'InvalidImageName' && e.message.includes('invalid image reference'));
    });
  }
});

describe('ensureImages', { skip: existsSync(BUSYBOX_BINARY) ? false : `${BUSYBOX_BINARY} missing: apt-get install busybox-static` }, () => {
  it('builds a busybox rootfs once and reuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'k8tsrt-img-'));
    try {
      const [rec] = await ensureImages(dir);
      assert.equal(rec.name, 'busybox');
      assert.match(rec.id, /^sha256:[0-9a-f]{64}$/);
      assert.deepEqual(rec.config.cmd, ['sh']);
      assert.deepEqual(rec.config.entrypoint, []);
      const bin = join(rec.rootfs, 'bin');
      const busybox = await stat(join(bin, 'busybox'));
      for (const applet of ['sh', 'ls', 'sleep', 'ip', 'ping', 'cat']) {
        assert.equal((await stat(join(bin, applet))).ino, busybox.ino, `${applet} is a link to busybox`);
      }
      assert.equal(await readFile(join(rec.rootfs, 'etc/passwd'), 'utf8'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n');
      assert.match(await readFile(join(rec.rootfs, 'etc/group'), 'utf8'), /^root:x:0:\nnobody:x:65534:\n$/);
      assert.equal(existsSync(join(rec.rootfs, 'etc/nsswitch.conf')), false);
      assert.equal((await stat(join(rec.rootfs, 'tmp'))).mode & 0o7777, 0o1777);
      assert.equal((await stat(join(rec.rootfs, 'root'))).mode & 0o777, 0o700);
      for (const d of ['proc', 'sys', 'dev']) assert.ok((await stat(join(rec.rootfs, d))).isDirectory());

      const again = await ensureImages(dir);
      assert.deepEqual(again[0], rec);
      assert.deepEqual(await readdir(join(dir, 'busybox')), [rec.id.slice(7, 23)]);
      assert.deepEqual(await loadImage(dir, 'busybox'), rec);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a dynamically linked busybox and names the package to install', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'k8tsrt-img-'));
    try {
      await assert.rejects(ensureImages(dir, { busybox: process.execPath }), (e: unknown) => e instanceof ImageError && e.code === 'ImageBuildFailed' && e.message.includes('busybox-static'));
      await assert.rejects(ensureImages(dir, { busybox: join(dir, 'nope') }), (e: unknown) => e instanceof ImageError && e.code === 'ImageBuildFailed');
      await assert.rejects(loadImage(dir, 'busybox'), (e: unknown) => e instanceof ImageError && e.code === 'ErrImagePull');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
