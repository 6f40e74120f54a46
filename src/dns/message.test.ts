import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLASS_IN,
  type DnsError,
  QueryParser,
  TYPE,
  decodeMessage,
  encodeMessage,
  nameKey,
  nameToLabels,
  readName,
  truncate,
  type Message,
  type ResourceRecord,
} from './message.js';
import { buildQuery } from './testing.js';

const hdr = (over: Partial<Message['header']> = {}): Message['header'] => ({
  id: 7,
  qr: true,
  opcode: 0,
  aa: true,
  tc: false,
  rd: true,
  ra: false,
  ad: false,
  cd: false,
  rcode: 0,
  ...over,
});
const rr = (name: string, type: number, data: ResourceRecord['data'], ttl = 5): ResourceRecord => ({ name, type, class: CLASS_IN, ttl, data });

test('every record kind survives encode → decode', () => {
  const m: Message = {
    header: hdr({ rcode: 3, cd: true }),
    questions: [{ name: 'web.default.svc.cluster.local', type: TYPE.ANY, class: CLASS_IN }],
    answers: [
      rr('web.default.svc.cluster.local', TYPE.A, { kind: 'ip', address: '10.96.0.12' }),
      rr('web.default.svc.cluster.local', TYPE.AAAA, { kind: 'ip', address: 'fd00:0:0:0:0:0:0:1' }),
      rr('x.default.svc.cluster.local', TYPE.CNAME, { kind: 'name', target: 'www.example.com' }),
      rr('1.0.96.10.in-addr.arpa', TYPE.PTR, { kind: 'name', target: 'kubernetes.default.svc.cluster.local' }),
      rr('_http._tcp.web.default.svc.cluster.local', TYPE.SRV, { kind: 'srv', priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' }),
      rr('example.com', TYPE.MX, { kind: 'mx', preference: 10, exchange: 'mail.example.com' }),
      rr('dns-version.cluster.local', TYPE.TXT, { kind: 'txt', texts: ['1.0.1', ''] }),
      rr('odd', 99, { kind: 'raw', bytes: Uint8Array.from([1, 2, 3]) }),
    ],
    authorities: [
      rr('cluster.local', TYPE.SOA, {
        kind: 'soa',
        mname: 'ns.dns.cluster.local',
        rname: 'hostmaster.cluster.local',
        serial: 42,
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: 5,
      }),
    ],
    additionals: [rr('ns.dns.cluster.local', TYPE.A, { kind: 'ip', address: '10.96.0.10' })],
    edns: { udpSize: 1232, extRcode: 0, version: 0, dnssecOk: true, options: [{ code: 10, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) }] },
  };
  const back = decodeMessage(encodeMessage(m));
  assert.deepEqual(back.header, m.header);
  assert.deepEqual(back.questions, m.questions);
  assert.equal(back.answers.length, m.answers.length);
  for (let i = 0; i < m.answers.length; i++) {
    const got = back.answers[i];
    const want = m.answers[i];
    assert.equal(got.name, want.name);
    assert.equal(got.type, want.type);
    if (want.type === TYPE.AAAA) assert.deepEqual(got.data, { kind: 'ip', address: 'fd00:0:0:0:0:0:0:1' });
    else if (want.data.kind === 'raw') assert.deepEqual([...(got.data as { bytes: Uint8Array }).bytes], [1, 2, 3]);
    else assert.deepEqual(got.data, want.data);
  }
  assert.deepEqual(back.authorities, m.authorities);
  assert.deepEqual(back.additionals, m.additionals);
  assert.equal(back.edns?.dnssecOk, true);
  assert.deepEqual([...back.edns!.options[0].data], [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('names are compressed against earlier names, case-insensitively, but SRV targets stay whole', () => {
  const name = 'web.default.svc.cluster.local';
  const m: Message = {
    header: hdr(),
    questions: [{ name: 'WEB.default.svc.cluster.local', type: TYPE.A, class: CLASS_IN }],
    answers: [rr(name, TYPE.A, { kind: 'ip', address: '10.0.0.1' }), rr(name, TYPE.A, { kind: 'ip', address: '10.0.0.2' })],
    authorities: [],
    additionals: [],
  };
  const buf = encodeMessage(m);
  // header 12 + question (31 + 4) + 2 answers of (pointer 2 + 10 + 4)
  assert.equal(buf.length, 12 + 31 + 4 + 2 * 16);
  assert.equal(buf[12 + 35], 0xc0);
  assert.equal(buf[12 + 36], 12);
  const srv: Message = {
    header: hdr(),
    questions: [{ name: `_http._tcp.${name}`, type: TYPE.SRV, class: CLASS_IN }],
    answers: [rr(`_http._tcp.${name}`, TYPE.SRV, { kind: 'srv', priority: 0, weight: 1, port: 80, target: name })],
    authorities: [],
    additionals: [rr(name, TYPE.A, { kind: 'ip', address: '10.0.0.1' })],
  };
  const sb = encodeMessage(srv);
  const decoded = decodeMessage(sb);
  assert.equal((decoded.answers[0].data as { target: string }).target, name);
  // The SRV target is written out in full (the name's bytes appear twice: question and target).
  const text = sb.toString('latin1');
  assert.equal(text.split('\x07default').length - 1, 2);
  // The additional record's owner points at the target inside the SRV data.
  assert.equal(decoded.additionals[0].name, name);
});

test('names: escapes round-trip, label and name limits are enforced', () => {
  const odd = 'a\\.b\\\\c\\000.example';
  const labels = nameToLabels(odd);
  assert.deepEqual(
    labels.map((l) => [...l]),
    [[0x61, 0x2e, 0x62, 0x5c, 0x63, 0], [...Buffer.from('example')]],
  );
  const enc = encodeMessage({ header: hdr(), questions: [{ name: odd, type: 1, class: 1 }], answers: [], authorities: [], additionals: [] });
  assert.equal(decodeMessage(enc).questions[0].name, odd);
  assert.throws(
    () => nameToLabels('x'.repeat(64) + '.com'),
    (e: DnsError) => e.code === 'DNS_BAD_LABEL',
  );
  assert.throws(
    () => nameToLabels(Array(128).fill('a').join('.')),
    (e: DnsError) => e.code === 'DNS_NAME_TOO_LONG',
  );
  assert.doesNotThrow(() => nameToLabels(Array(127).fill('a').join('.')));
  assert.throws(
    () => nameToLabels('a..b'),
    (e: DnsError) => e.code === 'DNS_BAD_NAME',
  );
  assert.equal(nameKey('Ab.C'), '\x02ab\x01c\x00');
});

/** A query with a hand-written question name (raw label bytes). */
function rawQuery(nameBytes: number[], opts: { qd?: number; tail?: number[]; flags?: number } = {}): Buffer {
  const head = [0x12, 0x34, (opts.flags ?? 0x0100) >> 8, (opts.flags ?? 0x0100) & 0xff, 0, opts.qd ?? 1, 0, 0, 0, 0, 0, 0];
  return Buffer.from([...head, ...nameBytes, 0, 1, 0, 1, ...(opts.tail ?? [])]);
}

test('query parser: verdicts for malformed queries', () => {
  const p = new QueryParser();
  assert.equal(p.parse(Buffer.from([1, 2, 3])), 'drop');
  assert.equal(p.parse(rawQuery([1, 0x61, 0], { flags: 0x8100 })), 'drop', 'a response is never answered');
  assert.equal(p.parse(rawQuery([1, 0x61, 0], { flags: 0x2800 })), 'notimp', 'opcode UPDATE');
  assert.equal(p.parse(rawQuery([1, 0x61, 0], { qd: 0 })), 'formerr');
  assert.equal(p.parse(rawQuery([1, 0x61, 0], { qd: 2 })), 'formerr');
  assert.equal(p.parse(rawQuery([5, 0x61])), 'formerr', 'label runs past the end');
  assert.equal(p.parse(Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1])), 'formerr', 'qtype/qclass cut short');
  assert.equal(p.parse(rawQuery([0x40, 0x61, 0])), 'formerr', 'label of 64 (extended label type)');
  assert.equal(p.parse(rawQuery([0x80, 0])), 'formerr', 'reserved label type');
  const long: number[] = [];
  for (let i = 0; i < 5; i++) long.push(63, ...Array(63).fill(0x61));
  assert.equal(p.parse(rawQuery(long)), 'formerr', 'name over 255 bytes');
  assert.match(p.error, /255/);
  // A pointer to itself, and one that points forward.
  assert.equal(p.parse(rawQuery([0xc0, 12])), 'formerr');
  assert.equal(p.parse(rawQuery([0xc0, 40])), 'formerr');
  // A pointer into the header is legal (it points backwards) and is followed: the header bytes 0x00... read as root.
  assert.equal(p.parse(Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 6, 0, 1, 0, 1])), 'ok');
  assert.equal(p.nameLen, 1);
});

test('query parser: EDNS, pointer loops in other sections, bad OPT records', () => {
  const p = new QueryParser();
  const q = buildQuery('Web.Default.svc.cluster.local', TYPE.SRV, { edns: { udpSize: 4096, dnssecOk: true } });
  assert.equal(p.parse(q), 'ok');
  assert.equal(p.edns, true);
  assert.equal(p.udpSize, 4096);
  assert.equal(p.dnssecOk, true);
  assert.equal(p.text(), 'web.default.svc.cluster.local');
  assert.equal(p.name.toString('latin1', 1, 4), 'Web');
  assert.equal(p.nameKey(), nameKey('web.default.svc.cluster.local'));
  // EDNS version 1 → BADVERS.
  const v1 = Buffer.from(q);
  v1[v1.length - 11 + 6] = 1;
  assert.equal(p.parse(v1), 'badvers');
  // Two OPT records.
  const two = Buffer.concat([q, q.subarray(q.length - 11)]);
  two[11] = 2;
  assert.equal(p.parse(two), 'formerr');
  // An OPT owner that is not the root.
  const owner = Buffer.concat([q.subarray(0, q.length - 11), Buffer.from([1, 0x61]), q.subarray(q.length - 11)]);
  assert.equal(p.parse(owner), 'formerr');
  // An additional record whose owner is a pointer loop: two pointers pointing at each other.
  const base = buildQuery('a', TYPE.A);
  const at = base.length;
  const loop = Buffer.concat([base, Buffer.from([0xc0, at + 2, 0xc0, at, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0])]);
  loop[11] = 1;
  assert.equal(p.parse(loop), 'formerr');
  assert.match(p.error, /backwards/);
  // A record that claims more data than there is.
  const short = Buffer.concat([base, Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1])]);
  short[11] = 1;
  assert.equal(p.parse(short), 'formerr');
  // Trailing bytes after the counted records are ignored.
  assert.equal(p.parse(Buffer.concat([base, Buffer.from([9, 9, 9])])), 'ok');
});

test('decodeMessage rejects pointer loops and names over 255 bytes', () => {
  const loop = Buffer.from([0, 1, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  assert.throws(
    () => decodeMessage(loop),
    (e: DnsError) => e.code === 'DNS_BAD_POINTER',
  );
  // 100 questions, each one label plus a pointer to the previous question: legal pointers, but the names
  // grow by 3 bytes each and pass 255 bytes at the 85th.
  const body: number[] = [];
  let prev = -1;
  let last = 0;
  for (let i = 0; i < 100; i++) {
    last = 12 + body.length;
    body.push(2, 0x61, 0x62);
    if (prev < 0) body.push(0);
    else body.push(0xc0 | (prev >> 8), prev & 0xff);
    body.push(0, 1, 0, 1);
    prev = last;
  }
  const msg = Buffer.from([0, 1, 0x81, 0, 0, 100, 0, 0, 0, 0, 0, 0, ...body]);
  assert.throws(
    () => decodeMessage(msg),
    (e: DnsError) => e.code === 'DNS_NAME_TOO_LONG',
  );
  assert.throws(
    () => readName(msg, last),
    (e: DnsError) => e.code === 'DNS_NAME_TOO_LONG',
  );
  assert.equal(readName(msg, 12 + 8).name, 'ab.ab');
});

test('truncate keeps whole answer records, drops additionals without TC, keeps OPT', () => {
  const name = 'big.default.svc.cluster.local';
  const answers = Array.from({ length: 60 }, (_, i) => rr(name, TYPE.A, { kind: 'ip', address: `10.0.${i >> 8}.${i & 255}` }));
  const m: Message = {
    header: hdr(),
    questions: [{ name, type: TYPE.A, class: CLASS_IN }],
    answers,
    authorities: [],
    additionals: [rr('x.cluster.local', TYPE.TXT, { kind: 'txt', texts: ['y'.repeat(200)] })],
    edns: { udpSize: 1232, extRcode: 0, version: 0, dnssecOk: false, options: [] },
  };
  const full = encodeMessage(m);
  assert.ok(full.length > 1232);
  // Without the additional record it fits in 1232: no TC.
  const t1 = decodeMessage(truncate(full, 1232));
  assert.equal(t1.header.tc, false);
  assert.equal(t1.answers.length, 60);
  assert.equal(t1.additionals.length, 0);
  assert.ok(t1.edns);
  const cut = truncate(full, 512);
  assert.ok(cut.length <= 512);
  const t2 = decodeMessage(cut);
  assert.equal(t2.header.tc, true);
  assert.ok(t2.answers.length > 0 && t2.answers.length < 60);
  assert.deepEqual(t2.answers, answers.slice(0, t2.answers.length));
  assert.ok(t2.edns, 'the OPT record is kept');
  // One more record would not have fit.
  assert.ok(cut.length + 16 > 512);
  assert.equal(truncate(full, full.length), full);
});
