// Process start-up of k8ts: the CPU and wall time a k8ts process spends before its first line of work,
// which every server, agent and CLI call pays (and `k8ts up` four times at once). Rows, interleaved:
//   the one-file CLI bundle run from V8's code cache (dist/src/cli/k8ts.cjs, the entry), the same bundle
//   compiled at every start (dist/src/cli/k8ts-main.cjs run directly), the module tree it is built from
//   (dist/src/cli/main.js), and the anchor measured in the same run: a bare `node -e 0`.
// Each row runs `--help` (which loads the whole CLI, as the server and agent do) and `agent --help`.
//   node dist/bench/startup.js [--rounds 10]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { distFile, CLI_BUNDLE } from '../src/util/layout.js';
import { summarize, table } from './lib.js';

const args = process.argv.slice(2);
const ROUNDS = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 10;
const load = () => readFileSync('/proc/loadavg', 'utf8').trim();

/** Wall ms and CPU ms (user + system of the child, from its rusage) of one run. */
function once(argv: string[]): { wall: number; cpu: number } {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, ...argv], { encoding: 'utf8' });
  const wall = performance.now() - t;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  const [u, s] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { wall, cpu: (u + s) * 1000 };
}

const rows: [string, string[]][] = [
  ['anchor: node -e 0', ['-e', '0']],
  ['module tree: k8ts --help', [distFile('src/cli/main.js'), '--help']],
  ['bundle: k8ts --help', [distFile('src/cli/k8ts-main.cjs'), '--help']],
  ['bundle + code cache: k8ts --help', [CLI_BUNDLE, '--help']],
  ['module tree: k8ts agent --help', [distFile('src/cli/main.js'), 'agent', '--help']],
  ['bundle: k8ts agent --help', [distFile('src/cli/k8ts-main.cjs'), 'agent', '--help']],
  ['bundle + code cache: k8ts agent --help', [CLI_BUNDLE, 'agent', '--help']],
];
// The code cache is written by the first run that finds none: made before the measured rounds.
once([CLI_BUNDLE, '--help']);
console.log(`load before: ${load()}`);
const wall = rows.map(() => [] as number[]);
const cpu = rows.map(() => [] as number[]);
for (let i = 0; i < ROUNDS; i++) {
  rows.forEach(([, argv], j) => {
    const r = once(argv);
    wall[j].push(r.wall);
    cpu[j].push(r.cpu);
  });
}
console.log(`load after: ${load()}\n`);
const out: (string | number)[][] = [['process', 'CPU p50 ms', 'wall p50 ms', 'wall p90 ms']];
rows.forEach(([name], j) => out.push([name, summarize(cpu[j]).p50, summarize(wall[j]).p50, summarize(wall[j]).p90]));
console.log(table(out));
const c = (j: number) => summarize(cpu[j]).p50;
const bare = c(0);
console.log(
  `\nCPU beyond bare node: module tree ${(c(1) - bare).toFixed(0)} ms, bundle ${(c(2) - bare).toFixed(0)} ms, bundle from the code cache ${(c(3) - bare).toFixed(0)} ms: the bundle costs ${((c(2) - bare) / (c(1) - bare)).toFixed(2)}× the module tree, and ${((c(3) - bare) / (c(1) - bare)).toFixed(2)}× from the cache`,
);
