// The shim script: it must compile under strict and warnings (it runs without them, for start-up time).
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

  it('keeps the exit status of a process that ends while runc, its first parent, still runs', async () => {
    // A stand-in for `runc run --detach`: it starts the process (exit 7 at once), writes the pid file, and
    // only exits itself 300 ms later, so the shim (the subreaper) inherits an already finished child.
    const dir = await mkdtemp(join(tmpdir(), 'k8tsrt-shim-'));
    try {
      const runc = join(dir, 'fake-runc');
      await writeFile(
        runc,
        `#!/usr/bin/perl
my @args = @ARGV;
exit 0 if grep { $_ eq 'delete' } @args;
my ($pidfile) = map { $args[$_ + 1] } grep { $args[$_] eq '--pid-file' } 0 .. $#args;
my $child = fork() // die;
if ($child == 0) { exec('/bin/sh', '-c', 'exit 7') }
select(undef, undef, undef, 0.05);
open(my $f, '>', "$pidfile.tmp") or die; print $f $child; close($f); rename("$pidfile.tmp", $pidfile) or die;
select(undef, undef, undef, 0.3);
exit 0;
`,
      );
      await chmod(runc, 0o755);
      const { stdout } = await run(['perl', '-e', SHIM_SCRIPT, runc, dir, shimSyscalls()], { input: `go\tc1\t${dir}\n` });
      assert.match(stdout, /^started \d+\n$/);
      assert.match(await readFile(join(dir, 'exit'), 'utf8'), /^7 0 \d+ \d+\n$/);
      assert.match(await readFile(join(dir, 'done'), 'utf8'), /^\d+ \d+\n$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('knows the system calls of x64 and arm64, and says so for others', () => {
    assert.equal(shimSyscalls('x64'), '157,228,294,254,434');
    assert.equal(shimSyscalls('arm64'), '167,113,26,27,434');
    assert.throws(() => shimSyscalls('mips'), RuntimeSetupError);
  });
});
