// runPieces against real processes: the input arrives whole and in order, a failure keeps the command's
// output, and a failure while making the input kills the command before its input ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, runPieces } from './exec.js';

test('runPieces: the command reads every piece, in order, across many pipe-fulls', async () => {
  const pieces = Array.from({ length: 200 }, (_, i) => `${String(i).padStart(4, '0')}${'x'.repeat(20_000)}\n`);
  const { stdout } = await runPieces(['cat'], pieces);
  assert.equal(stdout, pieces.join(''));
});

test('runPieces: a failing command is a CommandError with its stderr, also when it stops reading early', async () => {
  const pieces = Array.from({ length: 100 }, () => 'y'.repeat(100_000));
  const err = await runPieces(['sh', '-c', 'echo broken >&2; exit 3'], pieces).catch((e: unknown) => e);
  assert.ok(err instanceof CommandError, String(err));
  assert.equal(err.exitCode, 3);
  assert.match(err.stderr, /broken/);
});

test('runPieces: when making a piece throws, the command is killed and never sees the end of its input', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-pieces-'));
  const done = join(dir, 'done');
  try {
    function* pieces() {
      yield 'first\n';
      throw new Error('cannot make the second piece');
    }
    // The command acts only after reading to the end, as `nft -f -` commits only then.
    await assert.rejects(runPieces(['sh', '-c', `cat >/dev/null && touch ${done}`], pieces()), /cannot make the second piece/);
    assert.equal(existsSync(done), false, 'the command acted on half an input');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
