// Process start-up of k8ts: the CPU and wall time a k8ts process spends before its first line of work,
// which every server, agent and CLI call pays (and `k8ts up` four times at once). Rows, interleaved:
//   the one-file CLI bundle run from V8's code cache (dist/src/cli/k8ts.cjs, the entry), the same bundle
//   compiled at every start (dist/src/cli/k8ts-main.cjs run directly), the module tree it is built from
//   (dist/src/cli/main.js), and the anchor measured in the same run: a bare `node -e 0`.
// Rows run `--help` (the CLI alone: main.ts loads a role's modules only when the role runs), `agent --help`
// and `server --help` (each loads its role's modules, as a running agent or server does, and stops at the
// help). Each row also shows the process's peak RSS.
//   node dist/bench/startup.js [--rounds 10]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { distFile, CLI_BUNDLE } from '../src/util/layout.js';
import { summarize, table } from './lib.js';

const args = process.argv.slice(2);
const ROUNDS = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 10;
const load = () => readFileSync('/proc/loadavg', 'utf8').trim();

/** Wall ms, CPU ms (user + system of the child, from its rusage) and peak RSS (MB) of one run. */
function once(argv: string[]): { wall: number; cpu: number; rss: number } {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', process.execPath, ...argv], { encoding: 'utf8' });
  const wall = performance.now() - t;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  const [u, s, kb] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { wall, cpu: (u + s) * 1000, rss: kb / 1024 };
}

const builds: [string, string][] = [
  ['module tree', distFile('src/cli/main.js')],
  ['bundle', distFile('src/cli/k8ts-main.cjs')],
  ['bundle + code cache', CLI_BUNDLE],
];
const commands = [[], ['agent'], ['server']];
const rows: [string, string[]][] = [['anchor: node -e 0', ['-e', '0']]];
for (const cmd of commands) for (const [name, file] of builds) rows.push([`${name}: k8ts ${[...cmd, '--help'].join(' ')}`, [file, ...cmd, '--help']]);
// The code cache (one per role) is written by the role's first run that finds none: made before the rounds.
for (const cmd of commands) once([CLI_BUNDLE, ...cmd, '--help']);
console.log(`load before: ${load()}`);
const wall = rows.map(() => [] as number[]);
const cpu = rows.map(() => [] as number[]);
const rss = rows.map(() => [] as number[]);
for (let i = 0; i < ROUNDS; i++) {
  rows.forEach(([, argv], j) => {
    const r = once(argv);
    wall[j].push(r.wall);
    cpu[j].push(r.cpu);
    rss[j].push(r.rss);
  });
}
console.log(`load after: ${load()}\n`);
const out: (string | number)[][] = [['process', 'CPU p50 ms', 'wall p50 ms', 'wall p90 ms', 'peak RSS p50 MB']];
rows.forEach(([name], j) => out.push([name, summarize(cpu[j]).p50, summarize(wall[j]).p50, summarize(wall[j]).p90, summarize(rss[j]).p50.toFixed(1)]));
console.log(table(out));
const c = (j: number) => summarize(cpu[j]).p50;
const bare = c(0);
// The server's rows: the largest role.
const [tree, bundle, cached] = [7, 8, 9];
console.log(
  `\nk8ts server --help, CPU beyond bare node: module tree ${(c(tree) - bare).toFixed(0)} ms, bundle ${(c(bundle) - bare).toFixed(0)} ms, bundle from the code cache ${(c(cached) - bare).toFixed(0)} ms: the bundle costs ${((c(bundle) - bare) / (c(tree) - bare)).toFixed(2)}× the module tree, and ${((c(cached) - bare) / (c(tree) - bare)).toFixed(2)}× from the cache`,
);
