// Runs every compiled test file (dist/**/*.test.js) with node's test runner.
// K8TS_TEST_FILTER=substring narrows the set of files.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filter = process.env.K8TS_TEST_FILTER;
const files = walk('dist', []).filter((f) => !filter || f.includes(filter)).sort();
if (files.length === 0) {
  console.error('no test files found under dist/: run make build');
  process.exit(1);
}
// A hung test fails after 10 minutes instead of eating CI's 90.
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-timeout=600000', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
