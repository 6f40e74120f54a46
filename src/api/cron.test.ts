// The cron parser and next-activation times, modelled on robfig/cron's spec and parser tests (the library
// Kubernetes' CronJob controller uses), including DST transitions in IANA zones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CronError, isValidTimeZone, parseCron, rfc3339In } from './cron.js';

const t = (s: string) => Date.parse(s);

function next(spec: string, from: string, tz = 'UTC'): string | undefined {
  const n = parseCron(spec).next(t(from), tz);
  return n === undefined ? undefined : rfc3339In(n, tz);
}

test('activations without a zone (robfig TestNext cases, five fields)', () => {
  const cases: [string, string, string | undefined][] = [
    ['2012-07-09T14:45:00Z', '0/15 * * * *', '2012-07-09T15:00:00Z'],
    ['2012-07-09T14:59:00Z', '0/15 * * * *', '2012-07-09T15:00:00Z'],
    ['2012-07-09T14:59:59Z', '0/15 * * * *', '2012-07-09T15:00:00Z'],
    ['2012-07-09T15:45:00Z', '20-35/15 * * * *', '2012-07-09T16:20:00Z'],
    ['2012-07-09T23:46:00Z', '*/15 * * * *', '2012-07-10T00:00:00Z'],
    ['2012-07-09T23:45:00Z', '20-35/15 * * * *', '2012-07-10T00:20:00Z'],
    ['2012-07-09T23:35:00Z', '15/35 */2 * * *', '2012-07-10T00:15:00Z'],
    ['2012-07-09T23:35:00Z', '0 0 9 Apr-Oct ?', '2012-08-09T00:00:00Z'],
    ['2012-07-09T23:35:00Z', '0 0 */5 Apr,Aug,Oct Mon', '2012-08-01T00:00:00Z'],
    ['2012-07-09T23:35:00Z', '0 0 * Feb Mon', '2013-02-04T00:00:00Z'],
    ['2012-07-09T23:35:00Z', '0 0 * Feb Mon/2', '2013-02-01T00:00:00Z'],
    ['2012-12-31T23:59:45Z', '* * * * *', '2013-01-01T00:00:00Z'],
    ['2012-07-09T23:35:00Z', '0 0 29 Feb ?', '2016-02-29T00:00:00Z'],
    ['2012-07-09T23:35:00Z', '0 0 30 Feb ?', undefined],
    ['2012-07-09T23:35:00Z', '0 0 31 Apr ?', undefined],
    // day-of-month and day-of-week both restricted: either matches; one of them `*`: both must.
    ['2024-01-01T00:00:00Z', '0 12 13 * 5', '2024-01-05T12:00:00Z'],
    ['2024-01-01T00:00:00Z', '0 12 13 * *', '2024-01-13T12:00:00Z'],
    ['2024-01-01T00:00:00Z', '0 12 * * FRI', '2024-01-05T12:00:00Z'],
    ['2024-01-01T00:00:00Z', '0 9 1-7 * sun', '2024-01-01T09:00:00Z'],
    ['2024-01-08T00:00:00Z', '0 9 1-7 * sun', '2024-01-14T09:00:00Z'],
  ];
  for (const [from, spec, want] of cases) assert.equal(next(spec, from), want, `${spec} after ${from}`);
});

test('macros are the schedules robfig defines', () => {
  assert.equal(next('@hourly', '2024-05-05T10:20:00Z'), '2024-05-05T11:00:00Z');
  assert.equal(next('@daily', '2024-05-05T10:20:00Z'), '2024-05-06T00:00:00Z');
  assert.equal(next('@midnight', '2024-05-05T10:20:00Z'), '2024-05-06T00:00:00Z');
  assert.equal(next('@weekly', '2024-05-05T10:20:00Z'), '2024-05-12T00:00:00Z'); // a Sunday
  assert.equal(next('@monthly', '2024-05-05T10:20:00Z'), '2024-06-01T00:00:00Z');
  assert.equal(next('@yearly', '2024-05-05T10:20:00Z'), '2025-01-01T00:00:00Z');
  assert.equal(next('@annually', '2024-05-05T10:20:00Z'), '2025-01-01T00:00:00Z');
  assert.equal(next('@every 90s', '2024-05-05T10:20:00.500Z'), '2024-05-05T10:21:30Z');
});

test('errors are robfig messages', () => {
  const cases: [string, string][] = [
    ['', 'empty spec string'],
    ['* * * *', 'expected exactly 5 fields, found 4: [* * * *]'],
    ['hello', 'expected exactly 5 fields, found 1: [hello]'],
    ['* * * * * *', 'expected exactly 5 fields, found 6: [* * * * * *]'],
    ['60 * * * *', 'end of range (60) above maximum (59): 60'],
    ['* 24 * * *', 'end of range (24) above maximum (23): 24'],
    ['* * 0 * *', 'beginning of range (0) below minimum (1): 0'],
    ['* * * 13 *', 'end of range (13) above maximum (12): 13'],
    ['* * * * 7', 'end of range (7) above maximum (6): 7'],
    ['5-1 * * * *', 'beginning of range (5) beyond end of range (1): 5-1'],
    ['*/0 * * * *', 'step of range should be a positive number: */0'],
    ['1-2-3 * * * *', 'too many hyphens: 1-2-3'],
    ['*/2/3 * * * *', 'too many slashes: */2/3'],
    ['x * * * *', 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'],
    ['* * * foo *', 'failed to parse int from foo: strconv.Atoi: parsing "foo": invalid syntax'],
    ['@fortnightly', 'unrecognized descriptor: @fortnightly'],
    ['@every x', 'failed to parse duration @every x: time: invalid duration "x"'],
    ['TZ=Mars/Olympus * * * * *', 'provided bad location Mars/Olympus: unknown time zone Mars/Olympus'],
  ];
  for (const [spec, msg] of cases) {
    assert.throws(
      () => parseCron(spec),
      (e: unknown) => e instanceof CronError && e.message === msg,
      `${JSON.stringify(spec)} → ${msg}`,
    );
  }
  // Names are case-insensitive; `?` stands for `*`.
  assert.doesNotThrow(() => parseCron('0 0 ? jan-DEC Mon-fri'));
});

test('America/New_York spring forward: the gap hour is skipped, hourly jumps 01:00 → 03:00', () => {
  const tz = 'America/New_York';
  assert.equal(next('30 2 11 Mar ?', '2012-03-11T05:00:00Z', tz), '2013-03-11T02:30:00-04:00');
  assert.equal(next('0 * * * *', '2012-03-11T05:00:00Z', tz), '2012-03-11T01:00:00-05:00');
  assert.equal(next('0 * * * *', '2012-03-11T06:00:00Z', tz), '2012-03-11T03:00:00-04:00');
  // A daily 02:30 job does not run on the transition day.
  assert.equal(next('30 2 * * *', '2012-03-10T08:00:00Z', tz), '2012-03-12T02:30:00-04:00');
});

test('America/New_York fall back: the repeated hour runs twice, as robfig steps absolute hours', () => {
  const tz = 'America/New_York';
  assert.equal(next('0 * * * *', '2012-11-04T04:00:00Z', tz), '2012-11-04T01:00:00-04:00');
  assert.equal(next('0 * * * *', '2012-11-04T05:00:00Z', tz), '2012-11-04T01:00:00-05:00');
  assert.equal(next('0 * * * *', '2012-11-04T06:00:00Z', tz), '2012-11-04T02:00:00-05:00');
  assert.equal(next('30 1 4 Nov ?', '2012-11-04T04:00:00Z', tz), '2012-11-04T01:30:00-04:00');
  assert.equal(next('30 1 4 Nov ?', '2012-11-04T05:30:00Z', tz), '2012-11-04T01:30:00-05:00');
  // Daily at midnight lands on the local midnight on both sides.
  assert.equal(next('0 0 * * *', '2012-11-04T03:00:00Z', tz), '2012-11-04T00:00:00-04:00');
  assert.equal(next('0 0 * * *', '2012-11-04T05:00:00Z', tz), '2012-11-05T00:00:00-05:00');
});

test('zones with other offsets; the same schedule differs by zone', () => {
  assert.equal(next('0 9 * * *', '2024-06-01T00:00:00Z', 'Asia/Kolkata'), '2024-06-01T09:00:00+05:30');
  assert.equal(next('0 9 * * *', '2024-06-01T00:00:00Z', 'Europe/Berlin'), '2024-06-01T09:00:00+02:00');
  // Europe/Berlin springs forward at 02:00 on 2024-03-31.
  assert.equal(next('30 2 * * *', '2024-03-30T12:00:00Z', 'Europe/Berlin'), '2024-04-01T02:30:00+02:00');
});

test('time zone names', () => {
  assert.ok(isValidTimeZone('America/New_York'));
  assert.ok(isValidTimeZone('UTC'));
  assert.ok(!isValidTimeZone('Local'));
  assert.ok(!isValidTimeZone(''));
  assert.ok(!isValidTimeZone('Not/AZone'));
});
