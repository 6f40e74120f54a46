// The linter test: `biome lint` (and `biome ci`, the format check) with the project's configuration fails on a violation planted in a temp
// copy of a real source file, and passes on the clean copy (so the failure is the planted line's).
// The whole tree is linted by scripts/run-tests.mjs as a step of `make test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/lint/lint.test.js → the repository root.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const BIOME = join(ROOT, 'node_modules/.bin/biome');
const FILE = 'src/api/labels.ts';

function lintCopy(extra: string, command: 'lint' | 'ci' = 'lint'): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-lint-'));
  try {
    mkdirSync(join(dir, dirname(FILE)), { recursive: true });
    copyFileSync(join(ROOT, 'biome.jsonc'), join(dir, 'biome.jsonc'));
    writeFileSync(join(dir, FILE), readFileSync(join(ROOT, FILE), 'utf8') + extra);
    // The copy is no git checkout: version-control integration (the .gitignore) is off for it.
    const r = spawnSync(BIOME, [command, '--error-on-warnings', '--vcs-enabled=false', '--colors=off'], { cwd: dir, encoding: 'utf8' });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the clean copy of a source file lints clean', () => {
  const r = lintCopy('');
  assert.equal(r.status, 0, r.out);
});

test('a file the formatter would change fails the check', () => {
  const r = lintCopy('\nexport const  spaced = [1,2,  3];\n', 'ci');
  assert.notEqual(r.status, 0, `biome ci passed on a misformatted line:\n${r.out}`);
  assert.match(r.out, /format/, r.out);
});

test('a planted violation fails the linter and is named', () => {
  const cases: [string, string][] = [
    ['export function same(a: unknown, b: unknown): boolean {\n  return a == b;\n}\n', 'lint/suspicious/noDoubleEquals'],
    ["import { readFileSync } from 'node:fs';\n", 'lint/correctness/noUnusedImports'],
    ['export function stop(): void {\n  debugger;\n}\n', 'lint/suspicious/noDebugger'],
  ];
  for (const [code, rule] of cases) {
    const r = lintCopy(`\n${code}`);
    assert.notEqual(r.status, 0, `${rule}: biome lint passed on the planted violation:\n${r.out}`);
    assert.match(r.out, new RegExp(rule.replaceAll('/', '\\/')), r.out);
  }
});
