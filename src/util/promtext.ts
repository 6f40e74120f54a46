// A reader of the Prometheus text exposition format (version 0.0.4): every sample with its labels and
// timestamp, and the TYPE of every family; tests check what a scraper sees, the API server reads the
// agents' /metrics/resource with it.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** The sample's own timestamp (ms since the epoch), when the line has one. */
  timestamp?: number;
}

export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** Parses the text; throws naming the line when it is not the format. */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (m) types.set(m[1], m[2]);
      else if (!/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line) && !line.startsWith('# HELP'))
        throw new Error(`line ${i + 1}: unknown comment ${JSON.stringify(line)}`);
      return;
    }
    const n = NAME.exec(line);
    if (!n) throw new Error(`line ${i + 1}: no metric name: ${JSON.stringify(line)}`);
    let rest = line.slice(n[0].length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const l = LABEL.exec(rest);
        if (!l || rest[l[0].length] !== '=' || rest[l[0].length + 1] !== '"') throw new Error(`line ${i + 1}: bad label in ${JSON.stringify(line)}`);
        rest = rest.slice(l[0].length + 2);
        let v = '';
        for (;;) {
          if (rest === '') throw new Error(`line ${i + 1}: unterminated label value`);
          const c = rest[0];
          if (c === '"') break;
          if (c === '\\') {
            const e = rest[1];
            v += e === 'n' ? '\n' : e;
            rest = rest.slice(2);
          } else {
            v += c;
            rest = rest.slice(1);
          }
        }
        labels[l[0]] = v;
        rest = rest.slice(1);
        if (rest.startsWith(',')) rest = rest.slice(1);
      }
      rest = rest.slice(1);
    }
    const parts = rest.trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2 || !rest.startsWith(' ')) throw new Error(`line ${i + 1}: bad value in ${JSON.stringify(line)}`);
    // Go's ParseFloat (Prometheus's reader) takes NaN and Inf in any case; prom-client writes "Nan".
    const word = parts[0].toLowerCase();
    const value = word === 'nan' ? NaN : word === '+inf' || word === 'inf' ? Infinity : word === '-inf' ? -Infinity : Number(parts[0]);
    if (Number.isNaN(value) && word !== 'nan') throw new Error(`line ${i + 1}: value ${JSON.stringify(parts[0])} is not a number`);
    const ts = parts[1] === undefined ? undefined : Number(parts[1]);
    if (ts !== undefined && !Number.isSafeInteger(ts)) throw new Error(`line ${i + 1}: timestamp ${JSON.stringify(parts[1])} is not an integer`);
    samples.push({ name: n[0], labels, value, ...(ts !== undefined ? { timestamp: ts } : {}) });
  });
  return { samples, types };
}

/** The sum of the samples named `name` whose labels include `match`. */
export function sumOf(e: Exposition, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of e.samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** Whether a sample of that name exists (with those labels). */
export function has(e: Exposition, name: string, match: Record<string, string> = {}): boolean {
  return e.samples.some((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}
