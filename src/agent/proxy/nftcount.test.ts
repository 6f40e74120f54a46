import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NftCountScanner, NftListingError, type KernelCounts } from './nftcount.js';

/** The same counts the slow way: the whole document parsed. */
function reference(text: string): KernelCounts {
  type Item = Record<string, { name?: string; chain?: string; elem?: unknown[] }>;
  const doc = JSON.parse(text) as { nftables: Item[] };
  const out: KernelCounts = { elements: new Map(), chains: new Set(), rules: new Map() };
  for (const it of doc.nftables) {
    const s = it.set ?? it.map;
    if (s) out.elements.set(s.name!, Array.isArray(s.elem) ? s.elem.length : 0);
    if (it.chain) out.chains.add(it.chain.name!);
    if (it.rule) out.rules.set(it.rule.chain!, (out.rules.get(it.rule.chain!) ?? 0) + 1);
  }
  return out;
}

function scan(chunks: string[]): KernelCounts {
  const s = new NftCountScanner();
  for (const c of chunks) s.feed(c);
  return s.result();
}

// Shaped as nft 1.0.6 prints a table (-j): every item kind, element values that are strings, numbers,
// arrays and objects nested several deep, a set without elements, an empty one, and strings holding the
// characters the scanner structures on.
const DOC = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'ip', name: 'k8ts-proxy', handle: 2 } },
    { counter: { family: 'ip', name: 'noeps', table: 'k8ts-proxy', handle: 3, packets: 0, bytes: 0 } },
    {
      map: {
        family: 'ip',
        name: 'services',
        table: 'k8ts-proxy',
        type: ['ipv4_addr', 'inet_proto', 'inet_service'],
        map: 'verdict',
        elem: [
          [{ concat: ['10.96.0.1', 6, 80] }, { goto: { target: 'pick-2' } }],
          [{ concat: ['10.96.0.2', 17, 53] }, { goto: { target: 'xpick-1' } }],
          [{ concat: ['10.96.0.3', 6, 443] }, 'drop'],
        ],
      },
    },
    { set: { family: 'ip', name: 'hairpin', table: 'k8ts-proxy', type: ['ipv4_addr', 'ipv4_addr'], elem: [{ concat: ['10.244.0.2', '10.244.0.2'] }] } },
    { set: { family: 'ip', name: 'alive', table: 'k8ts-proxy', type: 'inet_service' } },
    { set: { family: 'ip', name: 'noeps', table: 'k8ts-proxy', elem: [] } },
    { set: { family: 'ip', name: 'ranges', elem: [{ prefix: { addr: '10.0.0.0', len: 8 } }, { range: ['10.1.0.0', '10.1.0.9'] }, 'x'] } },
    { set: { family: 'ip', name: 'odd "name" {[,:]}', comment: 'a \\ "quoted" ] } , text', elem: ['a,b', 'c"]}', 7, null, true] } },
    { chain: { family: 'ip', table: 'k8ts-proxy', name: 'services', handle: 5 } },
    { chain: { family: 'ip', table: 'k8ts-proxy', name: 'prerouting', type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' } },
    { rule: { family: 'ip', table: 'k8ts-proxy', chain: 'prerouting', expr: [{ jump: { target: 'services' } }] } },
    {
      rule: {
        family: 'ip',
        table: 'k8ts-proxy',
        chain: 'services',
        expr: [{ vmap: { key: { concat: [{ payload: { protocol: 'ip', field: 'daddr' } }] }, data: '@services' } }],
      },
    },
    { rule: { family: 'ip', table: 'k8ts-proxy', chain: 'services', comment: 'chain "x" ,{', expr: [] } },
  ],
});

test('counts elements, chains and rules as JSON.parse would', () => {
  const want = reference(DOC);
  assert.deepEqual(want.elements.get('services'), 3);
  assert.deepEqual(want.elements.get('odd "name" {[,:]}'), 5);
  const got = scan([DOC]);
  // Names are kept as they appear between the quotes, escapes included.
  const unescaped = new Map([...got.elements].map(([k, v]) => [k.replace(/\\"/g, '"'), v]));
  assert.deepEqual(unescaped, want.elements);
  assert.deepEqual(got.chains, want.chains);
  assert.deepEqual(got.rules, want.rules);
});

test('any split of the stream gives the same counts', () => {
  const whole = scan([DOC]);
  for (let i = 0; i <= DOC.length; i++) assert.deepEqual(scan([DOC.slice(0, i), DOC.slice(i)]), whole, `split at ${i}`);
  // One character at a time, and nft's own spacing (it prints ", " and ": ").
  assert.deepEqual(scan([...DOC]), whole);
  const spaced = DOC.replace(/,(?=["{[\d])/g, ', ').replace(/":/g, '": ');
  assert.deepEqual(scan([spaced]), scan([DOC]));
});

test('a truncated or unbalanced listing is an error, not a count', () => {
  assert.throws(() => scan([DOC.slice(0, DOC.length - 3)]), NftListingError);
  assert.throws(() => scan(['{"nftables": [}']), NftListingError);
  assert.throws(() => scan(['{"nftables": ["unterminated']), NftListingError);
});

test('30,000 elements are counted without building them', () => {
  const elem = Array.from({ length: 30_000 }, (_, i) => [{ concat: [`10.96.${i >> 8}.${i & 255}`, 6, 80, 0] }, { concat: ['10.244.0.2', 8080] }]);
  const text = JSON.stringify({ nftables: [{ map: { name: 'backends', elem } }, { chain: { name: 'c' } }] });
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += 65536) chunks.push(text.slice(i, i + 65536));
  assert.equal(scan(chunks).elements.get('backends'), 30_000);
});
