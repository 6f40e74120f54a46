// What the JSON type check of a write costs (apiserver/jsontypes.ts), per object, against the anchor of
// JSON.parse of the same body, in the same run: a full Pod (spec, status, managedFields) and a
// Deployment. Rows are interleaved, round after round, so the machine's load falls on all alike.
// Run: npm run build && node dist/bench/typecheck.js [rounds, default 7]
import { readFileSync } from 'node:fs';
import { typeMismatch } from '../src/apiserver/jsontypes.js';
import { decodeStrictly } from '../src/apiserver/typecheck.js';
import { deployment as makeDeployment, fullPod } from './fixtures.js';
import { fmt, table } from './lib.js';

const ROUNDS = Number(process.argv[2] ?? 7);
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const pod = fullPod();
const deployment = makeDeployment();

/** ns per call, over at least minMs. */
function nsPer(fn: () => unknown, minMs = 200): number {
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < BigInt(minMs) * 1_000_000n) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    elapsed = process.hrtime.bigint() - start;
  }
  return Number(elapsed) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const [name, obj] of [
  ['Pod', pod],
  ['Deployment', deployment],
] as const) {
  const body = JSON.stringify(obj);
  const parsed = JSON.parse(body);
  const apiVersion = obj.apiVersion;
  if (typeMismatch(apiVersion, name, parsed)) throw new Error(`bench: the ${name} does not type-check`);
  const rows = { parse: [] as number[], check: [] as number[], decode: [] as number[] };
  const loadBefore = load();
  for (let r = 0; r < ROUNDS; r++) {
    rows.parse.push(nsPer(() => JSON.parse(body)));
    rows.check.push(nsPer(() => typeMismatch(apiVersion, name, parsed)));
    // The whole decode step of a write: the type check, then the unknown-field walk (no unknown fields here).
    rows.decode.push(nsPer(() => decodeStrictly(parsed, apiVersion, name, 'Warn')));
  }
  const p = median(rows.parse);
  console.log(`\n${name}: ${body.length} bytes of JSON, ${ROUNDS} interleaved rounds, median ns per object (load ${loadBefore} → ${load()})`);
  console.log(
    table([
      ['step', 'ns/object', 'min', 'max', '× JSON.parse'],
      ...Object.entries(rows).map(([k, xs]) => [
        k === 'parse' ? 'JSON.parse (anchor)' : k === 'check' ? 'typeMismatch' : 'decodeStrictly (check + unknown fields)',
        fmt(median(xs), 0),
        fmt(Math.min(...xs), 0),
        fmt(Math.max(...xs), 0),
        fmt(median(xs) / p, 2),
      ]),
    ]),
  );
}
