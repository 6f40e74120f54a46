// The CLI bundle as the build leaves it (scripts/build-cli.mjs): its source is Latin-1, so V8 keeps the copy
// every k8ts process holds for life at one byte per character, and the characters escaped to get there still
// reach the user as themselves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CLI_BUNDLE, distFile } from '../util/layout.js';

test('the bundle is ASCII (V8 would hold a source beyond Latin-1 at two bytes per character; the entry reads it as Latin-1)', () => {
  const text = readFileSync(distFile('src/cli/k8ts-main.cjs'), 'utf8');
  const wide = /[\u0080-\uffff]/.exec(text);
  assert.equal(wide, null, wide ? `character U+${wide[0].charCodeAt(0).toString(16)} at ${wide.index}: ${text.slice(wide.index - 60, wide.index + 20)}` : '');
  assert.match(text, /\\u2026/, "the help texts' ellipses are escaped, not dropped");
  assert.match(text, /\\u00b5s/, "Latin-1's µ (in duration units) is escaped too");
});

test('an escaped character prints as itself: the agent help says "4Ki … 1Ti"', () => {
  const r = spawnSync(process.execPath, [CLI_BUNDLE, 'agent', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /4Ki \u2026 1Ti/);
  assert.doesNotMatch(r.stdout, /\\u2026/);
  // Latin-1's own characters, escaped as well since the bundle went ASCII.
  const sim = spawnSync(process.execPath, [CLI_BUNDLE, 'simulate', '--help'], { encoding: 'utf8' });
  assert.equal(sim.status, 0, sim.stderr);
  assert.match(sim.stdout, /N\u00d7P pods/);
});
