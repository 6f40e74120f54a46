// SPDY/3.1 frame layouts, header blocks and the zlib dictionary contexts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './spdy-dictionary.js';
import { type Frame, FrameParser, HeaderCodec, SpdyProtocolError, decodeHeaderBlock, encodeFrame, encodeHeaderBlock } from './spdy-frames.js';

function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

test('the SPDY/3 dictionary has the published length and content', () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  assert.equal(createHash('sha256').update(SPDY3_DICTIONARY).digest('hex'), '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02');
  assert.equal(SPDY3_DICTIONARY.subarray(0, 11).toString('hex'), '000000076f7074696f6e73'); // \0\0\0\7options
  assert.ok(SPDY3_DICTIONARY.toString('latin1').endsWith(',*,enq=0.'));
});

const SAMPLES: Frame[] = [
  { type: 'data', streamId: 1, fin: false, data: Buffer.from('hello') },
  { type: 'data', streamId: 0x7fffffff, fin: true, data: Buffer.alloc(0) },
  { type: 'syn_stream', streamId: 3, associatedTo: 0, priority: 7, slot: 0, fin: false, unidirectional: true, block: Buffer.from([1, 2, 3]) },
  { type: 'syn_reply', streamId: 3, fin: true, block: Buffer.from([9]) },
  { type: 'headers', streamId: 5, fin: false, block: Buffer.from([4, 5]) },
  { type: 'rst_stream', streamId: 5, status: 5 },
  {
    type: 'settings',
    clear: true,
    entries: [
      { flags: 1, id: 7, value: 65536 },
      { flags: 0, id: 4, value: 100 },
    ],
  },
  { type: 'ping', id: 0xfffffffe },
  { type: 'goaway', lastGoodStreamId: 9, status: 1 },
  { type: 'window_update', streamId: 0, delta: 0x7fffffff },
];

test('every frame type survives encode → parse, even when fed one byte at a time', () => {
  const bytes = Buffer.concat(SAMPLES.map(encodeFrame));
  const whole = new FrameParser().push(bytes);
  assert.deepEqual(whole, SAMPLES);
  const p = new FrameParser();
  const trickled: Frame[] = [];
  for (let i = 0; i < bytes.length; i++) trickled.push(...p.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(trickled, SAMPLES);
});

test('frames have the SPDY/3 layouts on the wire', () => {
  // control bit + version 3, type, flags, 24-bit length, payload
  assert.equal(encodeFrame({ type: 'ping', id: 1 }).toString('hex'), '80030006000000040000' + '0001');
  assert.equal(encodeFrame({ type: 'window_update', streamId: 3, delta: 0x10000 }).toString('hex'), '800300090000000800000003' + '00010000');
  assert.equal(encodeFrame({ type: 'rst_stream', streamId: 1, status: 3 }).toString('hex'), '800300030000000800000001' + '00000003');
  assert.equal(encodeFrame({ type: 'goaway', lastGoodStreamId: 7, status: 0 }).toString('hex'), '800300070000000800000007' + '00000000');
  // data: stream id without control bit, FIN flag in the high byte of the length word
  assert.equal(encodeFrame({ type: 'data', streamId: 5, fin: true, data: Buffer.from('ab') }).toString('hex'), '00000005' + '01000002' + '6162');
  // SYN_STREAM: flags FIN|UNIDIRECTIONAL, 10 fixed bytes then the block, priority in the top 3 bits
  const syn = encodeFrame({
    type: 'syn_stream',
    streamId: 1,
    associatedTo: 0,
    priority: 2,
    slot: 0,
    fin: true,
    unidirectional: true,
    block: Buffer.from([0xaa]),
  });
  assert.equal(syn.toString('hex'), '80030001' + '0300000b' + '00000001' + '00000000' + '40' + '00' + 'aa');
  // SETTINGS entry: flags in the high byte of the id word
  const settings = encodeFrame({ type: 'settings', clear: false, entries: [{ flags: 1, id: 7, value: 1 }] });
  assert.equal(settings.toString('hex'), '80030004' + '0000000c' + '00000001' + '01000007' + '00000001');
});

test('control frames of another version or unknown type are returned as unknown, not dropped silently', () => {
  const raw = Buffer.from('8002000100000004deadbeef' + '8003000a00000000', 'hex');
  const frames = new FrameParser().push(raw);
  assert.equal(frames.length, 2);
  assert.deepEqual(
    frames.map((f) => f.type),
    ['unknown', 'unknown'],
  );
  assert.deepEqual(frames.map(encodeFrame), [raw.subarray(0, 12), raw.subarray(12)]);
});

test('short control payloads are protocol errors', () => {
  assert.throws(() => new FrameParser().push(Buffer.from('800300060000000200000000'.slice(0, 20), 'hex')), SpdyProtocolError);
});

test('header blocks: count, then length-prefixed names and values; names lower-cased', () => {
  const b = encodeHeaderBlock({ StreamType: 'error', port: '80' });
  assert.equal(
    b.toString('hex'),
    '00000002' +
      '0000000a' +
      Buffer.from('streamtype').toString('hex') +
      '00000005' +
      Buffer.from('error').toString('hex') +
      '00000004' +
      Buffer.from('port').toString('hex') +
      '00000002' +
      Buffer.from('80').toString('hex'),
  );
  assert.deepEqual({ ...decodeHeaderBlock(b) }, { streamtype: 'error', port: '80' });
  assert.throws(() => decodeHeaderBlock(encodeHeaderBlock({ a: '1' }).subarray(0, 10)), SpdyProtocolError);
  const dup = Buffer.concat([Buffer.from('00000002', 'hex'), encodeHeaderBlock({ a: '1' }).subarray(4), encodeHeaderBlock({ a: '2' }).subarray(4)]);
  assert.throws(() => decodeHeaderBlock(dup), /repeats the name "a"/);
  assert.throws(() => decodeHeaderBlock(Buffer.concat([encodeHeaderBlock({ a: '1' }), Buffer.from([0])])), /after its last pair/);
});

test('header compression uses the SPDY/3 dictionary and one zlib stream per direction', async () => {
  const tx = new HeaderCodec();
  const rx = new HeaderCodec();
  try {
    const blocks: Buffer[] = [];
    const sent: Record<string, string>[] = [];
    for (let i = 0; i < 50; i++) {
      const h = { streamtype: i % 2 ? 'data' : 'error', port: String(8000 + i), requestid: String(i) };
      sent.push(h);
      blocks.push(await tx.encode(h));
    }
    // zlib header: CMF/FLG with FDICT set, then the dictionary's Adler-32
    assert.equal(blocks[0][0] & 0x0f, 8);
    assert.ok(blocks[0][1] & 0x20, 'FDICT flag');
    assert.equal(blocks[0].readUInt32BE(2), adler32(SPDY3_DICTIONARY));
    // each block ends on a sync flush (empty stored block)
    for (const b of blocks) assert.equal(b.subarray(-4).toString('hex'), '0000ffff');
    // later blocks reuse the history: far smaller than the first, and undecodable on their own
    assert.ok(blocks[10].length < blocks[0].length, `${blocks[10].length} < ${blocks[0].length}`);
    await assert.rejects(new HeaderCodec().decode(blocks[10]), SpdyProtocolError);
    // the first block is a standalone zlib stream prefix that plain zlib decodes with the dictionary
    const first = zlib.inflateSync(blocks[0], { dictionary: SPDY3_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    assert.deepEqual({ ...decodeHeaderBlock(first) }, sent[0]);
    const got = await Promise.all(blocks.map((b) => rx.decode(b)));
    assert.deepEqual(
      got.map((h) => ({ ...h })),
      sent,
    );
  } finally {
    tx.close();
    rx.close();
  }
});

test('large header blocks (beyond one zlib output chunk) round-trip in order', async () => {
  const tx = new HeaderCodec();
  const rx = new HeaderCodec();
  try {
    const big: Record<string, string> = {};
    for (let i = 0; i < 400; i++) big[`x-header-${i}`] = createHash('sha256').update(String(i)).digest('hex').repeat(2);
    const a = await tx.encode(big);
    const b = await tx.encode({ after: 'big' });
    assert.ok(a.length > 16384, `compressed ${a.length} bytes`);
    assert.deepEqual({ ...(await rx.decode(a)) }, big);
    assert.deepEqual({ ...(await rx.decode(b)) }, { after: 'big' });
  } finally {
    tx.close();
    rx.close();
  }
});

test('corrupt compressed blocks fail with a protocol error, and so does every later block', async () => {
  const tx = new HeaderCodec();
  const rx = new HeaderCodec();
  try {
    const good = await tx.encode({ a: 'b' });
    const bad = Buffer.from(good);
    bad[0] ^= 0xff;
    await assert.rejects(rx.decode(bad), SpdyProtocolError);
    await assert.rejects(rx.decode(good), SpdyProtocolError);
  } finally {
    tx.close();
    rx.close();
  }
});
