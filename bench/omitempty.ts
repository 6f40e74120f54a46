// What the API server adds per written object to leave out empty omitempty lists and maps (dropEmpty),
// against the anchor of what every write already pays: JSON.stringify of the same object for the store.
// Run: npx tsc -p tsconfig.json && node dist/bench/omitempty.js
import { loadavg } from 'node:os';
import { definitions, dropEmpty } from '../src/apiserver/openapi/schemas.js';
import { fullPod } from './fixtures.js';

/** A defaulted, scheduled, running Pod as a client sends it, with the empty lists and maps omitempty drops. */
const pod = () => fullPod({ empties: true });

/** µs per call of fn over `n` objects made beforehand (making them is not timed). */
function perCall(fn: (o: ReturnType<typeof pod>) => unknown, n = 20_000, make = pod): number {
  const objs = Array.from({ length: n }, make);
  const t = process.hrtime.bigint();
  for (const o of objs) fn(o);
  return Number(process.hrtime.bigint() - t) / 1e3 / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

definitions(); // loaded once, as the server does at its first write
perCall((o) => dropEmpty('', 'v1', 'Pod', o)); // warm-up
perCall((o) => JSON.stringify(o));
/** The usual update: an object read back from the store, already without empty fields. */
const clean = () => {
  const p = pod();
  dropEmpty('', 'v1', 'Pod', p);
  return JSON.parse(JSON.stringify(p)) as ReturnType<typeof pod>;
};
const drop: number[] = [];
const dropClean: number[] = [];
const anchor: number[] = [];
for (let round = 0; round < 7; round++) {
  drop.push(perCall((o) => dropEmpty('', 'v1', 'Pod', o)));
  dropClean.push(perCall((o) => dropEmpty('', 'v1', 'Pod', o), 20_000, clean));
  anchor.push(perCall((o) => JSON.stringify(o)));
}
const d = median(drop);
const c = median(dropClean);
const a = median(anchor);
console.log(
  `load average: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
console.log(`anchor  JSON.stringify of the same Pod (every write does it): ${a.toFixed(2)} µs`);
console.log(`dropEmpty on a Pod with empty omitempty fields:           ${d.toFixed(2)} µs`);
console.log(`dropEmpty on a Pod read back from the store (nothing to drop): ${c.toFixed(2)} µs`);
console.log(`ratio dropEmpty / JSON.stringify: ${(d / a).toFixed(2)} with empties, ${(c / a).toFixed(2)} without`);
