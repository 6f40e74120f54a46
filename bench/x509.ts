// Certificates and requests in process (src/api/certificates/x509.ts): what a node's join costs in them — the
// agent (or a hollow node) making its key and CSR, the API server parsing and verifying the CSR, and the CA
// signing its certificate — each beside its anchor measured in the same run: the bare crypto the step cannot
// do without (a P-256 key pair and one ECDSA signature; one verification; one signature) on the same bytes.
// Run before and after a change in both trees for an A/B. Prints the load.
//   node dist/bench/x509.js [--n 2000]
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { makeNodeCsr } from '../src/agent/identity.js';
import { CaSigner, parseCsrPem, verifyCsrSignature } from '../src/api/certificates/csr.js';
import { makeCa } from '../src/api/certificates/issue.js';
import { fmt, summarize, table } from './lib.js';

const args = process.argv.slice(2);
const N = args.includes('--n') ? Number(args[args.indexOf('--n') + 1]) : 2000;
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** Per-call ms of `f`, after a warm-up, in rounds of 50 taken turn about with `anchor` (so both see the same machine). */
async function pair(f: () => unknown, anchor: () => unknown): Promise<[number[], number[]]> {
  for (let i = 0; i < 100; i++) {
    await f();
    await anchor();
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let done = 0; done < N; done += 50) {
    for (const [fn, out] of [
      [f, a],
      [anchor, b],
    ] as const) {
      const t = performance.now();
      for (let i = 0; i < 50; i++) await fn();
      out.push((performance.now() - t) / 50);
    }
  }
  return [a, b];
}

console.log(`x509 benchmark: ${N} calls each, load before ${load()}`);
const ca = await makeCa('bench-ca', 10);
const signer = await CaSigner.load(ca.certPem, ca.keyPem);
const { csrPem } = await makeNodeCsr('bench-node');
const parsed = parseCsrPem(csrPem);
const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
// The anchors sign and verify the request's own bytes (about what the steps sign and verify).
const info = Buffer.from(csrPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
const sig = sign('sha256', info, key.privateKey);

const rows: (string | number)[][] = [['step', 'p50 ms per call', 'anchor', 'anchor p50 ms', 'ratio']];
const add = (step: string, [a, b]: [number[], number[]], anchor: string) => {
  const x = summarize(a).p50;
  const y = summarize(b).p50;
  rows.push([step, fmt(x, 3), anchor, fmt(y, 3), `${fmt(x / y)}×`]);
};
add(
  'node: key pair + CSR (makeNodeCsr)',
  await pair(
    () => makeNodeCsr('bench-node'),
    () => sign('sha256', info, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey),
  ),
  'P-256 key pair + one signature',
);
add(
  'server: parse + verify the CSR',
  await pair(
    () => verifyCsrSignature(parseCsrPem(csrPem)),
    () => verify('sha256', info, key.publicKey, sig),
  ),
  'one ECDSA verification',
);
add(
  'server: sign the certificate (CaSigner.sign)',
  await pair(
    () => signer.sign(parsed, ['digital signature', 'client auth'], 86400),
    () => sign('sha256', info, key.privateKey),
  ),
  'one ECDSA signature',
);
console.log(table(rows));
console.log(`load after ${load()}`);
