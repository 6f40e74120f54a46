// Runs every benchmark in dist/bench (each prints its own anchor and ratio). K8TS_BENCH=name narrows it.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const only = process.env.K8TS_BENCH;
// Modules of dist/bench that are not benchmarks themselves: helpers the benchmarks import or start as
// children (floor-server.js exits 2 without its arguments; netpol-node.js waits for its parent's messages).
const NOT_BENCHMARKS = new Set(['lib.js', 'fixtures.js', 'floor-server.js', 'netpol-node.js', 'netpol-world.js']);
const files = readdirSync('dist/bench')
  .filter((f) => f.endsWith('.js') && !NOT_BENCHMARKS.has(f) && (!only || f.includes(only)))
  .sort();
let failed = 0;
for (const f of files) {
  console.log(`\n##### bench/${f.replace(/\.js$/, '.ts')}`);
  const r = spawnSync(process.execPath, [`dist/bench/${f}`, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
