// The proxy's netlink batch, read back here by a small decoder written from the uapi headers: the framing,
// each element's bytes, the split into messages, and every malformed key or value refused before a byte is
// sent. (proxier.test.ts compares what the kernel holds after the batch with what nft writes.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import type { Container } from './ruleset.js';
import { changeBatch, createTableBatch, ElementError, elementBatch } from './nfnl.js';

const LE = endianness() === 'LE';
const u16 = (b: Buffer, at: number) => (LE ? b.readUInt16LE(at) : b.readUInt16BE(at));
const u32 = (b: Buffer, at: number) => (LE ? b.readUInt32LE(at) : b.readUInt32BE(at));

interface Msg {
  type: number;
  flags: number;
  seq: number;
  family: number;
  resId: number;
  attrs: Attr[];
}
interface Attr {
  type: number;
  nested: boolean;
  data: Buffer;
}

function attrs(b: Buffer): Attr[] {
  const out: Attr[] = [];
  for (let at = 0; at < b.length; ) {
    const len = u16(b, at);
    const type = u16(b, at + 2);
    assert.ok(len >= 4 && at + len <= b.length, `attribute at ${at}: length ${len} of ${b.length}`);
    out.push({ type: type & 0x3fff, nested: (type & 0x8000) !== 0, data: b.subarray(at + 4, at + len) });
    at += (len + 3) & ~3;
  }
  return out;
}

function messages(b: Buffer): Msg[] {
  const out: Msg[] = [];
  for (let at = 0; at < b.length; ) {
    const len = u32(b, at);
    assert.ok(len >= 20 && at + len <= b.length, `message at ${at}: length ${len}`);
    out.push({
      type: u16(b, at + 4),
      flags: u16(b, at + 6),
      seq: u32(b, at + 8),
      family: b[at + 16],
      resId: b.readUInt16BE(at + 18),
      attrs: attrs(b.subarray(at + 20, at + len)),
    });
    at += (len + 3) & ~3;
  }
  return out;
}

const child = (a: Attr[], type: number) => a.find((x) => x.type === type)!;
const hex = (b: Buffer) => b.toString('hex');

function batchOf(c: Container, els: [string, string][]) {
  return elementBatch('k8ts-proxy', [c], (_c, emit) => els.forEach(([k, v]) => emit(k, v)));
}

/** The key and data attributes of every element of every NEWSETELEM message. */
function elementsOf(b: Buffer) {
  const out: { set: string; key: Buffer; data?: Attr[] }[] = [];
  for (const m of messages(b)) {
    if (m.type !== ((10 << 8) | 12)) continue;
    const set = child(m.attrs, 2).data.toString('latin1').replace(/\0$/, '');
    for (const e of attrs(child(m.attrs, 3).data)) {
      const parts = attrs(e.data);
      const key = child(attrs(child(parts, 1).data), 1).data;
      const data = parts.find((p) => p.type === 2);
      out.push({ set, key, data: data && attrs(data.data) });
    }
  }
  return out;
}

test('the batch is begin, NEWSETELEM messages asking for acknowledgements, end, in sequence', () => {
  const b = batchOf('services', [['10.96.0.1 . tcp . 80', 'goto pick-2']]);
  const ms = messages(b.bytes);
  assert.deepEqual(
    ms.map((m) => [m.type, m.flags, m.seq, m.family, m.resId]),
    [
      [0x10, 0x1, 1, 0, 10], // NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, subsystem nf_tables
      [0x0a0c, 0x1 | 0x4 | 0x400, 2, 2, 0], // NFT_MSG_NEWSETELEM, REQUEST|ACK|CREATE, NFPROTO_IPV4
      [0x11, 0x1, 3, 0, 10],
    ],
  );
  assert.equal(child(ms[1].attrs, 1).data.toString(), 'k8ts-proxy\0');
  assert.equal(child(ms[1].attrs, 2).data.toString(), 'services\0');
  assert.ok(child(ms[1].attrs, 3).nested);
  assert.equal(b.messages, 1);
  assert.equal(b.elements, 1);
});

test('keys and values in their register layout: 4-byte fields, network order, numgen bucket in host order', () => {
  const [svc] = elementsOf(batchOf('services', [['10.96.0.1 . tcp . 80', 'goto pick-2']]).bytes);
  assert.equal(hex(svc.key), '0a600001' + '06000000' + '00500000');
  const verdict = attrs(child(svc.data!, 2).data); // NFTA_DATA_VERDICT
  assert.equal(child(verdict, 1).data.readInt32BE(0), -4); // NFT_GOTO
  assert.equal(child(verdict, 2).data.toString(), 'pick-2\0');

  const [drop] = elementsOf(batchOf('nodeports', [['udp . 30053', 'drop']]).bytes);
  assert.equal(hex(drop.key), '11000000' + '75650000');
  const dv = attrs(child(drop.data!, 2).data);
  assert.equal(child(dv, 1).data.readInt32BE(0), 0); // NF_DROP
  assert.equal(dv.length, 1, 'no chain with drop');

  const [be] = elementsOf(batchOf('backends', [['10.96.0.1 . 6 . 80 . 3', '10.244.0.2 . 8080']]).bytes);
  const bucket = Buffer.alloc(4);
  LE ? bucket.writeUInt32LE(3) : bucket.writeUInt32BE(3);
  assert.equal(hex(be.key), `0a600001060000000050000${'0'}${hex(bucket)}`);
  assert.equal(hex(child(be.data!, 1).data), '0af40002' + '1f900000');

  const [hp] = elementsOf(batchOf('hairpin', [['10.244.0.2 . 10.244.0.2', '']]).bytes);
  assert.equal(hex(hp.key), '0af400020af40002');
  assert.equal(hp.data, undefined);

  const [sctp] = elementsOf(batchOf('npnoeps', [['sctp . 30000', '']]).bytes);
  assert.equal(hex(sctp.key), '84000000' + '75300000');
});

test('many elements are split into messages whose element list stays under the 16-bit attribute length', () => {
  const els: [string, string][] = Array.from({ length: 5000 }, (_, i) => [`10.96.${i >> 8}.${i & 255} . tcp . 80 . 0`, `10.245.${i >> 8}.${i & 255} . 8080`]);
  const b = batchOf('backends', els);
  const ms = messages(b.bytes).filter((m) => m.type === 0x0a0c);
  assert.ok(ms.length > 1 && ms.length === b.messages, `${ms.length} messages`);
  for (const m of ms) assert.ok(child(m.attrs, 3).data.length < 65_000);
  const got = elementsOf(b.bytes);
  assert.equal(got.length, 5000);
  assert.equal(hex(got[4999].key.subarray(0, 4)), '0a601387'); // 10.96.19.135, the last, in order
  assert.deepEqual(
    messages(b.bytes).map((m) => m.seq),
    Array.from({ length: ms.length + 2 }, (_, i) => i + 1),
  );
  // Several containers: one run of messages each, none when a container is empty.
  const two = elementBatch('k8ts-proxy', ['noeps', 'hairpin', 'services'], (c, emit) =>
    c === 'services' ? undefined : emit(c === 'noeps' ? '10.96.0.3 . udp . 53' : '10.1.1.1 . 10.1.1.1', ''),
  );
  assert.deepEqual(
    elementsOf(two.bytes).map((e) => e.set),
    ['noeps', 'hairpin'],
  );
});

test('a key or value that is not exactly what its container holds is refused, naming it', () => {
  const bad: [Container, string, string, RegExp][] = [
    ['services', '10.96.0.256 . tcp . 80', 'goto pick-1', /"10\.96\.0\.256" is not an IPv4 address/],
    ['services', '010.96.0.1 . tcp . 80', 'goto pick-1', /not an IPv4 address/],
    ['services', '10.96.0 . tcp . 80', 'goto pick-1', /not an IPv4 address/],
    ['services', '10.96.0.1.2 . tcp . 80', 'goto pick-1', /not an IPv4 address/],
    ['services', ' 10.96.0.1 . tcp . 80', 'goto pick-1', /not an IPv4 address/],
    ['services', '10.96.0.1 . icmp . 80', 'goto pick-1', /"icmp" is not tcp, udp or sctp/],
    ['services', '10.96.0.1 . tcp . 65536', 'goto pick-1', /"65536" is not a port/],
    ['services', '10.96.0.1 . tcp . 080', 'goto pick-1', /"080" is not a port/],
    ['services', '10.96.0.1 . tcp . ', 'goto pick-1', /"" is not a port/],
    ['services', '10.96.0.1 . tcp', 'goto pick-1', /want 3 fields/],
    ['services', '10.96.0.1 . tcp . 80 . 1', 'goto pick-1', /want 3 fields/],
    ['services', '10.96.0.1 . tcp . 80', 'goto pick-1; flush ruleset', /is not a chain name/],
    ['services', '10.96.0.1 . tcp . 80', 'goto Pick', /"Pick" is not a chain name/],
    ['services', '10.96.0.1 . tcp . 80', 'goto', /not a verdict/],
    ['services', '10.96.0.1 . tcp . 80', 'drop pick-1', /not a verdict/],
    ['services', '10.96.0.1 . tcp . 80', 'continue', /not a verdict/],
    ['services', '10.96.0.1 . tcp . 80', `goto ${'a'.repeat(256)}`, /is not a chain name/],
    ['backends', '10.96.0.1 . tcp . 80 . -1', '10.244.0.2 . 8080', /"-1" is not a numgen bucket/],
    ['backends', '10.96.0.1 . tcp . 80 . 0', '10.244.0.2', /want 2 fields/],
    ['hairpin', '10.244.0.2 . 10.244.0.2', 'drop', /a set element has no value/],
  ];
  for (const [c, k, v, re] of bad) {
    assert.throws(
      () => batchOf(c, [[k, v]]),
      (e: unknown) => e instanceof ElementError && e.code === 'BadElement' && re.test(e.message),
      `${c} ${JSON.stringify(k)} : ${JSON.stringify(v)}`,
    );
  }
  for (const t of ['', 'a b', 'x;y', 'T', 'a'.repeat(256)]) assert.throws(() => elementBatch(t, [], () => undefined), ElementError, t);
  assert.throws(() => createTableBatch('bad name'), ElementError);
});

test('createTableBatch is one NEWTABLE that must not exist yet', () => {
  const ms = messages(createTableBatch('k8ts-proxy'));
  assert.deepEqual(
    ms.map((m) => [m.type, m.flags]),
    [
      [0x10, 0x1],
      [0x0a00, 0x1 | 0x4 | 0x400 | 0x200], // NFT_MSG_NEWTABLE, REQUEST|ACK|CREATE|EXCL
      [0x11, 0x1],
    ],
  );
  assert.equal(child(ms[1].attrs, 1).data.toString(), 'k8ts-proxy\0');
});

test('a change is one batch: every delete (keys only, no CREATE) before every add, a changed value as both', () => {
  const b = changeBatch(
    'k8ts-proxy',
    new Map([
      ['backends', { gone: ['10.96.0.1 . tcp . 80 . 0'], add: [['10.96.0.1 . tcp . 80 . 0', '10.244.0.9 . 8080']] }],
      ['hairpin', { gone: ['10.244.0.2 . 10.244.0.2'], add: [] }],
      ['services', { gone: [], add: [['10.96.0.2 . udp . 53', 'goto pick-1']] }],
    ]),
  );
  const ms = messages(b.bytes).slice(1, -1);
  const setOf = (m: Msg) => child(m.attrs, 2).data.toString().replace(/\0$/, '');
  assert.deepEqual(
    ms.map((m) => [m.type, m.flags, setOf(m)]),
    [
      [0x0a0e, 0x1 | 0x4, 'backends'], // NFT_MSG_DELSETELEM
      [0x0a0e, 0x1 | 0x4, 'hairpin'],
      [0x0a0c, 0x1 | 0x4 | 0x400, 'backends'],
      [0x0a0c, 0x1 | 0x4 | 0x400, 'services'],
    ],
  );
  const gone = attrs(child(ms[0].attrs, 3).data).map((e) => attrs(e.data));
  assert.deepEqual(
    gone.map((parts) => parts.map((p) => p.type)),
    [[1]],
    'a delete carries the key only',
  );
  assert.equal(b.elements, 4);
  assert.throws(() => changeBatch('k8ts-proxy', new Map([['noeps', { gone: ['10.96.0.1 . tcp . 80 . 1'], add: [] }]])), /want 3 fields/);
});
