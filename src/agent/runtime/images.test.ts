// The built-in busybox image as a normal image in the store, and images as the runtime finds them.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ImageError } from './errors.js';
import { BUSYBOX_BINARY, ensureImages, loadImage, resolveImage } from './images.js';

describe('resolveImage', () => {
  it('spells references out', () => {
    assert.equal(resolveImage('busybox').ref, 'docker.io/library/busybox:latest');
    assert.equal(resolveImage('localhost:5000/app:1').ref, 'localhost:5000/app:1');
    assert.throws(
      () => resolveImage('BusyBox'),
      (e: unknown) => e instanceof ImageError && e.code === 'InvalidImageName',
    );
  });
});

describe('ensureImages', { skip: existsSync(BUSYBOX_BINARY) ? false : `${BUSYBOX_BINARY} missing: apt-get install busybox-static` }, () => {
  it('makes busybox a one-layer image in the store once, and any busybox tag finds it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'k8tsrt-img-'));
    try {
      const [rec] = await ensureImages(dir);
      assert.equal(rec.name, 'docker.io/library/busybox:latest');
      assert.match(rec.id, /^sha256:[0-9a-f]{64}$/);
      assert.match(rec.repoDigest, /^docker\.io\/library\/busybox@sha256:[0-9a-f]{64}$/);
      assert.deepEqual(rec.config.cmd, ['sh']);
      assert.deepEqual(rec.config.entrypoint, []);
      assert.equal(rec.lowerdirs.length, 1);
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
      assert.equal((await readdir(join(dir, 'layers'))).length, 1, 'one unpacked layer');
      assert.deepEqual(await readdir(join(dir, 'tmp')), [], 'nothing left in tmp/');
      for (const ref of ['busybox', 'busybox:1.36', 'docker.io/library/busybox:glibc', `busybox@${rec.repoDigest.split('@')[1]}`]) {
        assert.equal((await loadImage(dir, ref)).id, rec.id, ref);
      }
      await assert.rejects(loadImage(dir, `busybox@sha256:${'ab'.repeat(32)}`), (e: unknown) => e instanceof ImageError && e.code === 'ErrImagePull');
      await assert.rejects(
        loadImage(dir, 'nginx'),
        (e: unknown) => e instanceof ImageError && e.code === 'ErrImagePull' && /not present on this node/.test(e.message),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a dynamically linked busybox and names the package to install', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'k8tsrt-img-'));
    try {
      await assert.rejects(
        ensureImages(dir, { busybox: process.execPath }),
        (e: unknown) => e instanceof ImageError && e.code === 'ImageBuildFailed' && e.message.includes('busybox-static'),
      );
      await assert.rejects(ensureImages(dir, { busybox: join(dir, 'nope') }), (e: unknown) => e instanceof ImageError && e.code === 'ImageBuildFailed');
      await assert.rejects(loadImage(dir, 'busybox'), (e: unknown) => e instanceof ImageError && e.code === 'ErrImagePull');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
