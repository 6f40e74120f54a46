// The shim script: it must compile under strict and warnings (it runs without them, for start-up time).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run } from '../../util/exec.js';
import { RuntimeSetupError } from './errors.js';
import { SHIM_SCRIPT, shimSyscalls } from './shim.js';

describe('shim', () => {
  it('compiles cleanly with strict and warnings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'k8tsrt-shim-'));
    try {
      const file = join(dir, 'shim.pl');
      await writeFile(file, SHIM_SCRIPT);
      const { stderr } = await run(['perl', '-Mstrict', '-Mwarnings', '-c', file]);
      assert.equal(stderr.trim(), `${file} syntax OK`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits without starting anything when not told a container', async () => {
    const { stdout } = await run(['perl', '-e', SHIM_SCRIPT, '/bin/false', '/nonexistent', shimSyscalls()], { input: 'no\n' });
    assert.equal(stdout, '');
  });

  it('knows the system calls of x64 and arm64, and says so for others', () => {
    assert.equal(shimSyscalls('x64'), '157,228,294,254,434');
    assert.equal(shimSyscalls('arm64'), '167,113,26,27,434');
    assert.throws(() => shimSyscalls('mips'), RuntimeSetupError);
  });
});
