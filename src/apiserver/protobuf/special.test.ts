import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatDuration, formatMicroTime, formatTime, parseDuration, parseTimestamp } from './special.js';
import { ProtobufError } from '../../util/protowire.js';

test('durations print as Go prints time.Duration', () => {
  const cases: Array<[bigint, string]> = [
    [0n, '0s'],
    [1n, '1ns'],
    [1100n, '1.1µs'],
    [2_200_000n, '2.2ms'],
    [3_300_000_000n, '3.3s'],
    [245_000_000_000n, '4m5s'],
    [245_001_000_000n, '4m5.001s'],
    [18_367_001_000_000n, '5h6m7.001s'],
    [480_000_000_001n, '8m0.000000001s'],
    [3_600_000_000_000n, '1h0m0s'],
    [-1_500_000_000n, '-1.5s'],
    [2n ** 63n - 1n, '2562047h47m16.854775807s'],
    [-(2n ** 63n), '-2562047h47m16.854775808s'],
  ];
  for (const [ns, s] of cases) {
    assert.equal(formatDuration(ns), s);
    assert.equal(parseDuration(s), ns, s);
  }
});

test('durations parse the other spellings Go accepts', () => {
  assert.equal(parseDuration('0'), 0n);
  assert.equal(parseDuration('1h30m'), 5_400_000_000_000n);
  assert.equal(parseDuration('+2us'), 2000n);
  assert.equal(parseDuration('3μs'), 3000n);
  assert.equal(parseDuration('.5s'), 500_000_000n);
  assert.equal(parseDuration('1.5h'), 5_400_000_000_000n);
  for (const bad of ['', '1', 'h', '1x', '-', '.s', '1h 2m', '9999999999999h']) {
    assert.throws(
      () => parseDuration(bad),
      (e: unknown) => e instanceof ProtobufError && e.code === 'InvalidValue',
      bad,
    );
  }
});

test('durations round-trip (property)', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (ns) => {
      assert.equal(parseDuration(formatDuration(ns)), ns);
    }),
  );
});

test('times print as RFC 3339 in UTC, seconds or microseconds', () => {
  assert.equal(formatTime(1), '1970-01-01T00:00:01Z');
  assert.equal(formatTime(1_735_689_600), '2025-01-01T00:00:00Z');
  assert.equal(formatMicroTime(1_735_689_600, 123_456_789), '2025-01-01T00:00:00.123456Z');
  assert.equal(formatMicroTime(1_735_689_600, 0), '2025-01-01T00:00:00.000000Z');
  assert.equal(formatTime(-62135596800), '0001-01-01T00:00:00Z');
  assert.deepEqual(parseTimestamp('2025-01-01T02:00:00.5+02:00'), { seconds: 1_735_689_600, nanos: 500_000_000 });
  assert.deepEqual(parseTimestamp('0050-03-01T00:00:00Z'), { seconds: -60584198400, nanos: 0 });
  for (const bad of [
    () => formatTime(253402300800),
    () => formatTime(-62167219201),
    () => formatMicroTime(1, 1e9),
    () => parseTimestamp('2025-01-01 00:00:00'),
  ]) {
    assert.throws(bad, (e: unknown) => e instanceof ProtobufError && e.code === 'InvalidValue');
  }
});

test('times round-trip over the whole range (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: -62167219200, max: 253402300799 }), fc.integer({ min: 0, max: 999_999 }), (s, micros) => {
      assert.equal(parseTimestamp(formatTime(s)).seconds, s);
      assert.deepEqual(parseTimestamp(formatMicroTime(s, micros * 1000)), { seconds: s, nanos: micros * 1000 });
    }),
  );
});
