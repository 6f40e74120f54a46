// Cron schedules as Kubernetes reads them (robfig/cron v3's ParseStandard: five fields, names, ranges,
// steps, lists, `?`, the @yearly…@hourly macros and @every), and the next activation time in an IANA zone.
// Wall-clock fields come from Node's Intl; the stepping reproduces robfig's (absolute hours and minutes,
// calendar days and months), so DST gaps skip a slot and DST overlaps fire twice, as upstream does.

interface Bounds {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const MINUTES: Bounds = { min: 0, max: 59 };
const HOURS: Bounds = { min: 0, max: 23 };
const DOM: Bounds = { min: 1, max: 31 };
const MONTHS: Bounds = {
  min: 1,
  max: 12,
  names: { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 },
};
const DOW: Bounds = { min: 0, max: 6, names: { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } };

/** One field: which values match, and whether it was written as `*` or `?` (robfig's star bit). */
interface Field {
  set: boolean[];
  star: boolean;
}

export interface Schedule {
  /** The first activation strictly after `after` (ms since the epoch), in zone tz; undefined when there is
   *  none within five years (robfig's zero time). */
  next(after: number, tz: string): number | undefined;
}

/** A schedule that cannot be read: the message is robfig's error text. */
export class CronError extends Error {}

function parseInt10(expr: string): number {
  // strconv.Atoi: optional sign, decimal digits only.
  if (!/^[+-]?[0-9]+$/.test(expr)) throw new CronError(`failed to parse int from ${expr}: strconv.Atoi: parsing ${JSON.stringify(expr)}: invalid syntax`);
  const n = Number(expr);
  if (n < 0) throw new CronError(`negative number (${n}) not allowed: ${expr}`);
  return n;
}

function intOrName(expr: string, b: Bounds): number {
  const named = b.names?.[expr.toLowerCase()];
  return named !== undefined ? named : parseInt10(expr);
}

function parseRange(expr: string, b: Bounds, f: Field): void {
  const rangeAndStep = expr.split('/');
  const lowAndHigh = rangeAndStep[0].split('-');
  const single = lowAndHigh.length === 1;
  let start: number;
  let end: number;
  let star = false;
  if (lowAndHigh[0] === '*' || lowAndHigh[0] === '?') {
    start = b.min;
    end = b.max;
    star = true;
  } else {
    start = intOrName(lowAndHigh[0], b);
    if (lowAndHigh.length === 1) end = start;
    else if (lowAndHigh.length === 2) end = intOrName(lowAndHigh[1], b);
    else throw new CronError(`too many hyphens: ${expr}`);
  }
  let step = 1;
  if (rangeAndStep.length === 2) {
    step = parseInt10(rangeAndStep[1]);
    if (single) end = b.max; // "N/step" means N-max/step
    if (step > 1) star = false;
  } else if (rangeAndStep.length > 2) {
    throw new CronError(`too many slashes: ${expr}`);
  }
  if (start < b.min) throw new CronError(`beginning of range (${start}) below minimum (${b.min}): ${expr}`);
  if (end > b.max) throw new CronError(`end of range (${end}) above maximum (${b.max}): ${expr}`);
  if (start > end) throw new CronError(`beginning of range (${start}) beyond end of range (${end}): ${expr}`);
  if (step === 0) throw new CronError(`step of range should be a positive number: ${expr}`);
  for (let v = start; v <= end; v += step) f.set[v] = true;
  if (star) f.star = true;
}

function parseField(text: string, b: Bounds): Field {
  const f: Field = { set: new Array(b.max + 1).fill(false), star: false };
  for (const part of text.split(',')) parseRange(part, b, f);
  return f;
}

function only(b: Bounds, v: number): Field {
  const f: Field = { set: new Array(b.max + 1).fill(false), star: false };
  f.set[v] = true;
  return f;
}

function all(b: Bounds): Field {
  const f: Field = { set: new Array(b.max + 1).fill(false), star: true };
  for (let v = b.min; v <= b.max; v++) f.set[v] = true;
  return f;
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds. */
export function parseGoDuration(s: string): number {
  const bad = (): never => {
    throw new CronError(`time: invalid duration ${JSON.stringify(s)}`);
  };
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') bad();
  let total = 0;
  while (rest.length) {
    const m = /^([0-9]*(?:\.[0-9]*)?)([a-zµμ]+)/.exec(rest);
    if (!m || m[1] === '' || m[1] === '.') bad();
    const unit = GO_UNITS[m![2]];
    if (unit === undefined) throw new CronError(`time: unknown unit ${JSON.stringify(m![2])} in duration ${JSON.stringify(s)}`);
    total += Number(m![1]) * unit;
    rest = rest.slice(m![0].length);
  }
  return sign * total;
}

/** The robfig spec schedule: seconds are always 0 under the standard parser. */
class SpecSchedule implements Schedule {
  constructor(
    private minute: Field,
    private hour: Field,
    private dom: Field,
    private month: Field,
    private dow: Field,
  ) {}

  private dayMatches(w: Wall): boolean {
    const domMatch = this.dom.set[w.day];
    const dowMatch = this.dow.set[w.weekday];
    if (this.dom.star || this.dow.star) return domMatch && dowMatch;
    return domMatch || dowMatch;
  }

  next(after: number, tz: string): number | undefined {
    const zone = zoneOf(tz);
    // The upcoming whole second.
    let t = Math.floor(after / 1000) * 1000 + 1000;
    let added = false;
    let w = zone.wall(t);
    const yearLimit = w.year + 5;
    wrap: for (;;) {
      if (w.year > yearLimit) return undefined;
      while (!this.month.set[w.month]) {
        if (!added) {
          added = true;
          t = zone.date(w.year, w.month, 1, 0, 0, 0);
          w = zone.wall(t);
        }
        t = zone.date(w.year, w.month + 1, w.day, w.hour, w.minute, w.second);
        w = zone.wall(t);
        if (w.month === 1) continue wrap;
      }
      while (!this.dayMatches(w)) {
        if (!added) {
          added = true;
          t = zone.date(w.year, w.month, w.day, 0, 0, 0);
          w = zone.wall(t);
        }
        t = zone.date(w.year, w.month, w.day + 1, w.hour, w.minute, w.second);
        w = zone.wall(t);
        // Midnight may not exist (or exist twice) on a DST day: land on the day's start.
        if (w.hour !== 0) {
          t += w.hour > 12 ? (24 - w.hour) * 3_600_000 : -w.hour * 3_600_000;
          w = zone.wall(t);
        }
        if (w.day === 1) continue wrap;
      }
      while (!this.hour.set[w.hour]) {
        if (!added) {
          added = true;
          t = zone.date(w.year, w.month, w.day, w.hour, 0, 0);
        }
        t += 3_600_000;
        w = zone.wall(t);
        if (w.hour === 0) continue wrap;
      }
      while (!this.minute.set[w.minute]) {
        if (!added) {
          added = true;
          t = Math.floor(t / 60_000) * 60_000;
        }
        t += 60_000;
        w = zone.wall(t);
        if (w.minute === 0) continue wrap;
      }
      while (w.second !== 0) {
        if (!added) {
          added = true;
          t = Math.floor(t / 1000) * 1000;
        }
        t += 1000;
        w = zone.wall(t);
        if (w.second === 0) continue wrap;
      }
      return t;
    }
  }
}

/** @every D: activations D apart (at least a second, whole seconds), from wherever it is asked. */
class ConstantDelay implements Schedule {
  constructor(private delayMs: number) {}

  next(after: number): number {
    return Math.floor(after / 1000) * 1000 + this.delayMs;
  }
}

function descriptor(spec: string): Schedule {
  const m = MINUTES,
    h = HOURS,
    d = DOM,
    mo = MONTHS,
    w = DOW;
  switch (spec) {
    case '@yearly':
    case '@annually':
      return new SpecSchedule(only(m, 0), only(h, 0), only(d, 1), only(mo, 1), all(w));
    case '@monthly':
      return new SpecSchedule(only(m, 0), only(h, 0), only(d, 1), all(mo), all(w));
    case '@weekly':
      return new SpecSchedule(only(m, 0), only(h, 0), all(d), all(mo), only(w, 0));
    case '@daily':
    case '@midnight':
      return new SpecSchedule(only(m, 0), only(h, 0), all(d), all(mo), all(w));
    case '@hourly':
      return new SpecSchedule(only(m, 0), all(h), all(d), all(mo), all(w));
  }
  if (spec.startsWith('@every ')) {
    let ms: number;
    try {
      ms = parseGoDuration(spec.slice('@every '.length));
    } catch (e) {
      throw new CronError(`failed to parse duration ${spec}: ${(e as Error).message}`);
    }
    // robfig's Every: at least one second, truncated to whole seconds.
    const delay = ms < 1000 ? 1000 : ms - (ms % 1000);
    return new ConstantDelay(delay);
  }
  throw new CronError(`unrecognized descriptor: ${spec}`);
}

/** A time-zone prefix robfig accepts (`TZ=Europe/Berlin 0 * * * *`): the zone and the rest. */
export function splitTzPrefix(spec: string): { tz?: string; rest: string } {
  const m = /^(?:CRON_TZ|TZ)=(\S*)\s*/.exec(spec);
  return m ? { tz: m[1], rest: spec.slice(m[0].length) } : { rest: spec };
}

/** cron.ParseStandard: throws CronError with robfig's message. */
export function parseCron(input: string): Schedule {
  if (input.length === 0) throw new CronError('empty spec string');
  let spec = input;
  const { tz, rest } = splitTzPrefix(spec);
  if (tz !== undefined) {
    if (!isValidTimeZone(tz)) throw new CronError(`provided bad location ${tz}: unknown time zone ${tz}`);
    spec = rest;
  }
  if (spec.startsWith('@')) return descriptor(spec);
  const fields = spec
    .trim()
    .split(/\s+/)
    .filter((f) => f !== '');
  if (fields.length !== 5) throw new CronError(`expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`);
  return new SpecSchedule(
    parseField(fields[0], MINUTES),
    parseField(fields[1], HOURS),
    parseField(fields[2], DOM),
    parseField(fields[3], MONTHS),
    parseField(fields[4], DOW),
  );
}

// ---- time zones ----

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

class Zone {
  private fmt: Intl.DateTimeFormat;

  constructor(tz: string) {
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
  }

  wall(t: number): Wall {
    const w: Wall = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, weekday: 0 };
    for (const p of this.fmt.formatToParts(t)) {
      switch (p.type) {
        case 'year':
          w.year = Number(p.value);
          break;
        case 'month':
          w.month = Number(p.value);
          break;
        case 'day':
          w.day = Number(p.value);
          break;
        case 'hour':
          w.hour = Number(p.value);
          break;
        case 'minute':
          w.minute = Number(p.value);
          break;
        case 'second':
          w.second = Number(p.value);
          break;
        case 'weekday':
          w.weekday = WEEKDAYS[p.value] ?? 0;
          break;
      }
    }
    return w;
  }

  /** The zone's offset from UTC at instant t, in ms. */
  offset(t: number): number {
    const w = this.wall(t);
    return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(t / 1000) * 1000;
  }

  /** Go's time.Date in this zone: fields normalised (month 13 is next January), a wall time in a DST gap
   *  or overlap resolved as Go resolves it (the offset in force just before the wall time, read as UTC). */
  date(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
    const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
    const off1 = this.offset(asUtc);
    const utc = asUtc - off1;
    const off2 = this.offset(utc);
    return off2 === off1 ? utc : asUtc - off2;
  }
}

const zones = new Map<string, Zone>();

function zoneOf(tz: string): Zone {
  let z = zones.get(tz);
  if (!z) {
    z = new Zone(tz);
    zones.set(tz, z);
  }
  return z;
}

/** The zone of this process (a CronJob without timeZone runs in the controller manager's zone). */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** An IANA zone name Intl knows (the tz database Node carries). */
export function isValidTimeZone(tz: string): boolean {
  if (tz === '' || tz.toLowerCase() === 'local') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** RFC 3339 of instant t as seen in zone tz (`2024-03-10T01:59:00-05:00`), as Go formats time.RFC3339. */
export function rfc3339In(t: number, tz: string): string {
  const z = zoneOf(tz);
  const w = z.wall(t);
  const off = z.offset(t) / 60_000;
  const p = (n: number, l = 2) => String(n).padStart(l, '0');
  const zone = off === 0 ? 'Z' : `${off < 0 ? '-' : '+'}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
  return `${p(w.year, 4)}-${p(w.month)}-${p(w.day)}T${p(w.hour)}:${p(w.minute)}:${p(w.second)}${zone}`;
}
