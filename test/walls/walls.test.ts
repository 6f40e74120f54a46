// The walls test: the tree as it is breaks no wall, and the checker does catch each kind of breach
// when one is planted in a copy of a small tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkWalls } from './walls.js';

// dist/test/walls/walls.test.js → the repository root (the checker reads the TypeScript sources).
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

test('no import in src/ breaks a wall', () => {
  const v = checkWalls(ROOT);
  assert.deepEqual(v, [], v.map((x) => `${x.file} imports ${x.imports}: ${x.rule}`).join('\n'));
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'k8ts-walls-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

const CLEAN = {
  'src/api/types.ts': 'export type X = 1;\n',
  'src/client/types.ts': "import type { X } from '../api/types.js';\nexport type C = X;\n",
  'src/controllers/a.ts': "import type { C } from '../client/types.js';\nexport const a: C | undefined = undefined;\n",
  'src/apiserver/registry.ts': "import type { X } from '../api/types.js';\nexport const r: X = 1;\n",
  'src/store/types.ts': 'export const s = 1;\n',
  'src/agent/agent.ts': "import { a } from '../controllers/a.js';\nexport const b = a;\n",
  'src/util/time.ts': 'export const t = 1;\n',
};

test('a planted breach of each wall is caught', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    [
      'controllers import apiserver',
      { 'src/controllers/b.ts': "import { r } from '../apiserver/registry.js';\nexport const b = r;\n" },
      /controllers reach the cluster only through a Client/,
    ],
    ['dns imports store', { 'src/dns/z.ts': "import type * as S from '../store/types.js';\nexport type Z = typeof S;\n" }, /dns reaches the cluster only/],
    ['api imports util', { 'src/api/more.ts': "import { t } from '../util/time.js';\nexport const m = t;\n" }, /api is the leaf/],
    ['store imports api', { 'src/store/x.ts': "export { type X } from '../api/types.js';\n" }, /store is a leaf/],
    ['agent imports controllers', {}, /never import(s)? controllers/],
    [
      'two files import each other',
      {
        'src/controllers/p.ts': "import { q } from './q.js';\nexport const p = () => q;\n",
        'src/controllers/q.ts': "import { p } from './p.js';\nexport const q = () => p;\n",
      },
      /two files import each other/,
    ],
    [
      'a dynamic import',
      { 'src/agent/dyn.ts': "export const d = () => import('../apiserver/registry.js');\n" },
      /the agent reaches the cluster only through a Client/,
    ],
  ];
  for (const [what, extra, rule] of cases) {
    const files: Record<string, string> = { ...CLEAN, ...extra };
    // The clean tree's agent imports controllers only for the case that tests it.
    if (what !== 'agent imports controllers') files['src/agent/agent.ts'] = 'export const b = 1;\n';
    const root = tree(files);
    try {
      const v = checkWalls(root);
      assert.ok(
        v.some((x) => rule.test(x.rule)),
        `${what}: expected a violation matching ${rule}, got ${JSON.stringify(v)}`,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  const root = tree({ ...CLEAN, 'src/agent/agent.ts': 'export const b = 1;\n' });
  try {
    assert.deepEqual(checkWalls(root), [], 'the clean tree passes');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
