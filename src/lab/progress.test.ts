// Progress output: plain ✓ lines with their time when not on a terminal (nothing redrawn, no escapes); on a
// terminal a spinner with the running step that each finished line replaces, and that stops with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress } from './progress.js';
import { runSteps, stepLine } from './steps.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, out: { isTTY, write: (s: string) => chunks.push(s) } };
}

test('not a terminal: one plain line per step, no spinner, no escape sequences', async () => {
  const { chunks, out } = sink(false);
  const p = new Progress(out);
  assert.equal(p.tty, false);
  await runSteps(
    [
      { name: 'Step one', execute: () => new Promise((r) => setTimeout(r, 250)) },
      { name: 'Step two', execute: () => {} },
    ],
    { log: (l) => p.line(l), begin: (n) => p.begin(n) },
  );
  const text = chunks.join('');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the test proves no terminal escape reaches a pipe
  assert.doesNotMatch(text, /\x1b|\r/);
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^✓ Step one \((2[5-9]\d|[3-9]\d\d|\d{4,}) ms\)$/);
  assert.match(lines[1], /^✓ Step two \(\d+ ms\)$/);
});

test('a terminal: the spinner shows the running step and its elapsed time, and each finished line replaces it', async () => {
  const { chunks, out } = sink(true);
  const p = new Progress(out, true);
  await runSteps([{ name: 'Slow step', execute: () => new Promise((r) => setTimeout(r, 350)) }], { log: (l) => p.line(l), begin: (n) => p.begin(n) });
  const text = chunks.join('');
  const frames = text.split('\r\x1b[2K').filter(Boolean);
  // Redrawn while it ran (every 100 ms), each frame the step's name and seconds.
  assert.ok(frames.length >= 3, JSON.stringify(frames));
  for (const f of frames.slice(0, -1)) assert.match(f, /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Slow step \(\d+\.\d s\)$/);
  assert.match(frames.at(-1)!, /^✓ Slow step \(\d+ ms\)\n$/);
  // Stopped: nothing more is drawn after the line.
  const n = chunks.length;
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(chunks.length, n);
  // A failed step's line replaces the spinner too, and clear() leaves a clean line for an error.
  p.begin('Failing');
  p.line(stepLine(false, 'Failing', 3));
  p.begin('Interrupted');
  p.clear();
  assert.ok(chunks.join('').includes('\r\x1b[2K✗ Failing (3 ms)\n'));
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's clear-line escape is what is checked
  assert.match(chunks.at(-1)!, /^\r\x1b\[2K$/);
});
