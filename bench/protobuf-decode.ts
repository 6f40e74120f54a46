// Decoding kubectl's protobuf bodies, against the anchor of parsing the same object sent as JSON.
// Run: npx tsc -p tsconfig.json && node dist/bench/protobuf-decode.js
import { decodeK8sProtobuf } from '../src/apiserver/protobuf/decode.js';
import { encodeK8sProtobuf } from '../src/apiserver/protobuf/encode.js';
import { deployment as makeDeployment } from './fixtures.js';

const deployment = makeDeployment();

// kubectl's body: Go writes every non-pointer field, so encode with zero values as Go does
const pb = encodeK8sProtobuf(deployment, { goZeroValues: true });
const json = Buffer.from(JSON.stringify(deployment));

function rate(fn: () => unknown, minMs = 300): number {
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return (n / elapsed) * 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

rate(() => decodeK8sProtobuf(pb), 200); // warm-up
rate(() => JSON.parse(json.toString('utf8')), 200);
const pbRates: number[] = [];
const jsonRates: number[] = [];
for (let round = 0; round < 5; round++) {
  pbRates.push(rate(() => decodeK8sProtobuf(pb)));
  jsonRates.push(rate(() => JSON.parse(json.toString('utf8'))));
}
const p = median(pbRates);
const j = median(jsonRates);
console.log(`body sizes: protobuf ${pb.length} B (with Go zero values), JSON ${json.length} B`);
console.log(`anchor  JSON.parse of the same Deployment: ${Math.round(j).toLocaleString()} /s`);
console.log(`decodeK8sProtobuf (Deployment):          ${Math.round(p).toLocaleString()} /s`);
console.log(`ratio protobuf decode / JSON.parse: ${(p / j).toFixed(2)} (time per body ${(j / p).toFixed(2)}x the anchor)`);
