// JSON forms of the Kubernetes types whose protobuf message is not their JSON shape: times and durations.

import { ProtobufError } from '../../util/protowire.js';

// Go's encoding/json refuses times outside years 0..9999; so do we.
const MIN_SECONDS = -62167219200; // 0000-01-01T00:00:00Z
const MAX_SECONDS = 253402300799; // 9999-12-31T23:59:59Z

function checkRange(seconds: number, what: string): void {
  if (!Number.isSafeInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    throw new ProtobufError('InvalidValue', `${what}: ${seconds} seconds is outside years 0000..9999`);
  }
}

/** metav1.Time → RFC 3339 in UTC with whole seconds, as Kubernetes prints it. */
export function formatTime(seconds: number): string {
  checkRange(seconds, 'Time');
  return new Date(seconds * 1000).toISOString().slice(0, 19) + 'Z';
}

/** metav1.MicroTime → RFC 3339 in UTC with exactly six fractional digits. */
export function formatMicroTime(seconds: number, nanos: number): string {
  checkRange(seconds, 'MicroTime');
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw new ProtobufError('InvalidValue', `MicroTime: nanos ${nanos} is outside 0..999999999`);
  }
  const micros = Math.floor(nanos / 1000);
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}Z`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Parses an RFC 3339 timestamp into whole seconds and nanoseconds since the epoch. */
export function parseTimestamp(s: string): { seconds: number; nanos: number } {
  const m = RFC3339.exec(s);
  if (!m) throw new ProtobufError('InvalidValue', `not an RFC 3339 time: ${JSON.stringify(s)}`);
  const [, y, mo, d, h, mi, se, frac, , sign, oh, om] = m;
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 to 1900..1999
  const dt = new Date(0);
  dt.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  dt.setUTCHours(Number(h), Number(mi), Number(se), 0);
  let seconds = Math.floor(dt.getTime() / 1000);
  if (sign) seconds -= (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60);
  const nanos = frac ? Number(frac.padEnd(9, '0')) : 0;
  checkRange(seconds, 'time');
  return { seconds, nanos };
}

const NS_PER_UNIT: Record<string, bigint> = {
  ns: 1n,
  us: 1000n,
  µs: 1000n, // U+00B5
  μs: 1000n, // U+03BC
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

function fraction(rem: bigint, prec: number): string {
  if (rem === 0n) return '';
  return '.' + rem.toString().padStart(prec, '0').replace(/0+$/, '');
}

/** metav1.Duration → Go's time.Duration.String() ("1h2m3.5s", "1.5ms", "0s"). */
export function formatDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const neg = ns < 0n;
  const u = neg ? -ns : ns;
  let out: string;
  if (u < 1_000_000_000n) {
    if (u < 1000n) out = `${u}ns`;
    else if (u < 1_000_000n) out = `${u / 1000n}${fraction(u % 1000n, 3)}µs`;
    else out = `${u / 1_000_000n}${fraction(u % 1_000_000n, 6)}ms`;
  } else {
    const secs = u / 1_000_000_000n;
    out = `${secs % 60n}${fraction(u % 1_000_000_000n, 9)}s`;
    const mins = secs / 60n;
    if (mins > 0n) {
      out = `${mins % 60n}m${out}`;
      const hours = mins / 60n;
      if (hours > 0n) out = `${hours}h${out}`;
    }
  }
  return neg ? `-${out}` : out;
}

const DURATION_PART = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/y;

/** Parses a Go duration string ("1h30m", "-1.5s", "0") into nanoseconds. */
export function parseDuration(s: string): bigint {
  const bad = () => new ProtobufError('InvalidValue', `not a duration: ${JSON.stringify(s)}`);
  let i = 0;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    i = 1;
  }
  if (s.slice(i) === '0') return 0n;
  if (i >= s.length) throw bad();
  let total = 0n;
  while (i < s.length) {
    DURATION_PART.lastIndex = i;
    const m = DURATION_PART.exec(s);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) throw bad();
    const unit = NS_PER_UNIT[m[3]];
    total += BigInt(m[1] || '0') * unit;
    if (m[2]) total += (BigInt(m[2]) * unit) / 10n ** BigInt(m[2].length);
    i = DURATION_PART.lastIndex;
  }
  if (total > 0x7fffffffffffffffn + (neg ? 1n : 0n)) throw bad();
  return neg ? -total : total;
}
