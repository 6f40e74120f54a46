// Finding commands inside a container root from the host, symlinks resolved against that root.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lookPathError, resolveInRoot } from './lookpath.js';

describe('lookPathError', () => {
  let root: string;
  const env = ['PATH=/usr/bin:/bin'];
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'k8tsrt-root-'));
    await mkdir(join(root, 'bin'), { recursive: true });
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    await mkdir(join(root, 'data'));
    await writeFile(join(root, 'bin/tool'), '#!/bin/sh\n');
    await chmod(join(root, 'bin/tool'), 0o755);
    await writeFile(join(root, 'bin/notexec'), '');
    // Absolute links must resolve inside the root, never to the host's /bin.
    await symlink('/bin/tool', join(root, 'usr/bin/alias'));
    await symlink('/nowhere/sh', join(root, 'usr/bin/sh'));
    await symlink('../../bin/tool', join(root, 'usr/bin/rel'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('finds commands in PATH, through absolute and relative links', async () => {
    assert.equal(await lookPathError(root, 'tool', env), undefined);
    assert.equal(await lookPathError(root, 'alias', env), undefined);
    assert.equal(await lookPathError(root, 'rel', env), undefined);
    assert.equal(await resolveInRoot(root, '/usr/bin/alias'), join(root, 'bin/tool'));
  });

  it('reports missing commands as runc does', async () => {
    assert.equal(await lookPathError(root, 'nosuchcmd', env), 'exec: "nosuchcmd": executable file not found in $PATH');
    // The host has /bin/sh; the root does not, and its /usr/bin/sh points nowhere inside the root.
    assert.equal(await lookPathError(root, 'sh', env), 'exec: "sh": executable file not found in $PATH');
    assert.equal(await lookPathError(root, 'notexec', env), 'exec: "notexec": executable file not found in $PATH');
    assert.equal(await lookPathError(root, 'tool', ['PATH=/data']), 'exec: "tool": executable file not found in $PATH');
  });

  it('takes names with a slash as paths', async () => {
    assert.equal(await lookPathError(root, '/bin/tool', env), undefined);
    assert.equal(await lookPathError(root, './tool', env, '/bin'), undefined);
    assert.equal(await lookPathError(root, '/bin/nope', env), 'exec: "/bin/nope": stat /bin/nope: no such file or directory');
    assert.equal(await lookPathError(root, '/bin/notexec', env), 'exec: "/bin/notexec": permission denied');
  });
});
