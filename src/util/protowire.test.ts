import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProtoReader, ProtoWriter, ProtobufError, WireType } from './protowire.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const reader = (h: string) => new ProtoReader(Buffer.from(h, 'hex'));

function throwsCode(fn: () => unknown, code: string, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ProtobufError, `expected ProtobufError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

test('encodes the protobuf documentation examples byte for byte', () => {
  assert.equal(hex(new ProtoWriter().int32(1, 150).finish()), '089601');
  assert.equal(hex(new ProtoWriter().string(2, 'testing').finish()), '120774657374696e67');
  assert.equal(hex(new ProtoWriter().message(3, (w) => w.int32(1, 150)).finish()), '1a03089601');
  assert.equal(hex(new ProtoWriter().packed(4, 'int32', [3, 270, 86942]).finish()), '2206038e029ea705');
  // negative int32 is sign-extended to ten bytes
  assert.equal(hex(new ProtoWriter().int32(1, -1).finish()), '08ffffffffffffffffff01');
});

test('reads the documentation examples', () => {
  const r = reader('089601120774657374696e67');
  assert.deepEqual(r.tag(), { field: 1, wire: WireType.Varint });
  assert.equal(r.int32(), 150);
  assert.deepEqual(r.tag(), { field: 2, wire: WireType.LengthDelimited });
  assert.equal(r.string(), 'testing');
  assert.ok(r.done());
  assert.equal(reader('ffffffffffffffffff01').int32(), -1);
  assert.equal(reader('ffffffffffffffffff01').int64(), -1);
  assert.equal(reader('ffffffffffffffffff01').int64Big(), -1n);
});

test('scalars round-trip (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -0x80000000, max: 0x7fffffff }),
      fc.maxSafeInteger(),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.double({ noNaN: true }),
      fc.string({ unit: 'grapheme' }),
      fc.uint8Array({ maxLength: 300 }),
      fc.boolean(),
      (i32, i64, big, u32, dbl, str, bytes, b) => {
        const w = new ProtoWriter(1)
          .int32(1, i32)
          .int64(2, i64)
          .int64(3, big)
          .uint32(4, u32)
          .double(5, dbl)
          .string(6, str)
          .bytes(7, bytes)
          .bool(8, b)
          .fixed32(9, u32)
          .sfixed64(10, big)
          .float(11, Math.fround(dbl));
        const r = new ProtoReader(w.finish());
        const next = (field: number) => assert.equal(r.tag().field, field);
        next(1);
        assert.equal(r.int32(), i32);
        next(2);
        assert.equal(r.int64(), i64);
        next(3);
        assert.equal(r.int64Big(), big);
        next(4);
        assert.equal(r.uint32(), u32);
        next(5);
        assert.equal(Object.is(r.double(), dbl), true);
        next(6);
        assert.equal(r.string(), str);
        next(7);
        assert.deepEqual(Buffer.from(r.bytes()), Buffer.from(bytes));
        next(8);
        assert.equal(r.bool(), b);
        next(9);
        assert.equal(r.fixed32(), u32);
        next(10);
        assert.equal(r.sfixed64Big(), big);
        next(11);
        assert.equal(Object.is(r.float(), Math.fround(dbl)), true);
        assert.ok(r.done());
      },
    ),
    { numRuns: 300 },
  );
});

test('nested messages of any size get the right length prefix (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 40000 }), { minLength: 1, maxLength: 4 }), (sizes) => {
      // messages nested in each other, each adding a payload of the given size
      const w = new ProtoWriter(8);
      const build = (level: number, x: ProtoWriter): void => {
        x.bytes(1, Buffer.alloc(sizes[level], level + 1));
        if (level + 1 < sizes.length) x.message(2, (y) => build(level + 1, y));
        x.int32(3, level);
      };
      build(0, w);
      let r = new ProtoReader(w.finish());
      for (let level = 0; level < sizes.length; level++) {
        assert.equal(r.tag().field, 1);
        const b = r.bytes();
        assert.equal(b.length, sizes[level]);
        assert.ok(b.every((x) => x === level + 1));
        let inner: ProtoReader | undefined;
        if (level + 1 < sizes.length) {
          assert.equal(r.tag().field, 2);
          inner = r.sub();
        }
        assert.equal(r.tag().field, 3);
        assert.equal(r.int32(), level);
        assert.ok(r.done());
        if (inner) r = inner;
      }
    }),
    { numRuns: 100 },
  );
});

test('packed repeated fields round-trip for every packable type', () => {
  const ints = [0, 1, -1, 127, 128, -0x80000000, 0x7fffffff];
  const w = new ProtoWriter()
    .packed(1, 'int32', ints)
    .packed(2, 'int64', [0, -5, 2 ** 53 - 1])
    .packed(3, 'bool', [true, false, true])
    .packed(4, 'fixed32', [0, 0xffffffff])
    .packed(5, 'double', [1.5, -0])
    .packed(6, 'int32', []);
  const r = new ProtoReader(w.finish());
  const readAll = (fn: (p: ProtoReader) => unknown) => {
    const p = r.sub();
    const out: unknown[] = [];
    while (!p.done()) out.push(fn(p));
    return out;
  };
  assert.equal(r.tag().field, 1);
  assert.deepEqual(
    readAll((p) => p.int32()),
    ints,
  );
  assert.equal(r.tag().field, 2);
  assert.deepEqual(
    readAll((p) => p.int64()),
    [0, -5, 2 ** 53 - 1],
  );
  assert.equal(r.tag().field, 3);
  assert.deepEqual(
    readAll((p) => p.bool()),
    [true, false, true],
  );
  assert.equal(r.tag().field, 4);
  assert.deepEqual(
    readAll((p) => p.fixed32()),
    [0, 0xffffffff],
  );
  assert.equal(r.tag().field, 5);
  assert.deepEqual(
    readAll((p) => p.double()),
    [1.5, -0],
  );
  assert.ok(r.done(), 'an empty packed list writes nothing');
});

test('malformed input: each case throws ProtobufError with a clear code', () => {
  throwsCode(() => reader('').uint32(), 'Truncated', /truncated varint/);
  throwsCode(() => reader('80').int32(), 'Truncated', /truncated varint/);
  throwsCode(() => reader('ffffffffffffffffff').int64(), 'Truncated');
  throwsCode(() => reader('ffffffffffffffffff02').int64(), 'VarintOverflow', /64 bits/);
  throwsCode(() => reader('ffffffffffffffffffff01').int64(), 'VarintOverflow');
  throwsCode(() => reader('8080808010').uint32(), 'IntegerOverflow', /32 bits/);
  throwsCode(() => reader('05616263').string(), 'Truncated', /length 5 runs past the end \(3 bytes left\)/);
  throwsCode(() => reader('ffffffff0f').bytes(), 'Truncated');
  throwsCode(() => reader('0a').sub(), 'Truncated');
  throwsCode(() => reader('010203').fixed32(), 'Truncated', /need 4 bytes, 3 left/);
  throwsCode(() => reader('01020304050607').double(), 'Truncated');
  throwsCode(() => reader('0b').tag(), 'BadWireType', /field 1: bad wire type 3 \(start-group\)/);
  throwsCode(() => reader('0c').tag(), 'BadWireType', /end-group/);
  throwsCode(() => reader('0e').tag(), 'BadWireType', /invalid\(6\)/);
  throwsCode(() => reader('0f').tag(), 'BadWireType');
  throwsCode(() => reader('00').tag(), 'BadFieldNumber', /field number 0/);
  throwsCode(() => reader('8080808080808010').int64(), 'IntegerOverflow', /2\^53/);
  throwsCode(() => reader('0a').skip(WireType.LengthDelimited), 'Truncated');
  throwsCode(() => reader('0102').skip(WireType.Fixed64), 'Truncated');
});

test('nesting deeper than 64 throws TooDeep', () => {
  // 70 nested empty-ish messages: field 1, each wrapping the next
  let inner = Buffer.alloc(0);
  for (let i = 0; i < 70; i++) inner = Buffer.concat([Buffer.from([0x0a]), encodeLen(inner.length), inner]);
  let r = new ProtoReader(inner);
  let depth = 0;
  assert.throws(
    () => {
      for (;;) {
        r.tag();
        r = r.sub();
        depth++;
      }
    },
    (e: unknown) => e instanceof ProtobufError && e.code === 'TooDeep' && /deeper than 64/.test(e.message),
  );
  assert.equal(depth, 64);
});

function encodeLen(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

test('random bytes: a generic walk only ever throws ProtobufError and always ends (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const walk = (r: ProtoReader): void => {
        while (!r.done()) {
          const { wire } = r.tag();
          // try to read length-delimited fields as messages, as a schema-less decoder might
          if (wire === WireType.LengthDelimited) {
            const save = r.pos;
            try {
              walk(r.sub());
            } catch (e) {
              if (!(e instanceof ProtobufError)) throw e;
              r.pos = save;
              r.skip(wire);
            }
          } else {
            r.skip(wire);
          }
        }
      };
      try {
        walk(new ProtoReader(bytes));
      } catch (e) {
        assert.ok(e instanceof ProtobufError, `unexpected ${e}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('the writer grows from a tiny buffer and can be reset', () => {
  const w = new ProtoWriter(1);
  for (let i = 0; i < 1000; i++) w.string(1, 'x'.repeat(i % 50));
  const first = w.finish();
  assert.ok(first.length > 1000);
  w.reset().int32(1, 1);
  assert.equal(hex(w.finish()), '0801');
  assert.throws(() => new ProtoWriter().int32(0, 1), RangeError);
  assert.throws(() => new ProtoWriter().int64(1, 2 ** 60), RangeError);
});

test('skip moves past exactly one value of each wire type', () => {
  const w = new ProtoWriter()
    .int64(1, -1)
    .fixed64(2, 7n)
    .string(3, 'abcdef')
    .fixed32(4, 9)
    .message(5, (m) => m.string(1, 'x'.repeat(200)))
    .int32(6, 42);
  const r = new ProtoReader(w.finish());
  for (let field = 1; field <= 5; field++) {
    const t = r.tag();
    assert.equal(t.field, field);
    r.skip(t.wire);
  }
  assert.equal(r.tag().field, 6);
  assert.equal(r.int32(), 42);
  assert.ok(r.done());
});
