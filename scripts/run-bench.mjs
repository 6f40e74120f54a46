// Runs every benchmark in dist/bench (each prints its own anchor and ratio). K8TS_BENCH=name narrows it.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const only = process.env.K8TS_BENCH;
const files = readdirSync('dist/bench')
  .filter((f) => f.endsWith('.js') && f !== 'lib.js' && (!only || f.includes(only)))
  .sort();
let failed = 0;
for (const f of files) {
  console.log(`\n##### bench/${f.replace(/\.js$/, '.ts')}`);
  const r = spawnSync(process.execPath, [`dist/bench/${f}`, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
