// Timestamps as the Kubernetes API writes them: metav1.Time (RFC 3339, seconds) and MicroTime.

export function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export function microNow(): string {
  return new Date().toISOString().replace(/Z$/, '000Z');
}

/** Go's time.ParseDuration ("1m0s", "30s", "500ms", "-1s", "0"), in milliseconds; undefined when it is
 *  not one (a plain number other than 0 is not a Go duration). */
export function parseGoDuration(v: string): number | undefined {
  if (v === '0' || v === '+0' || v === '-0') return 0;
  const m = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:h|ms|m|s|us|µs|μs|ns))+$/.exec(v);
  if (!m) return undefined;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, μs: 0.001, ns: 0.000001 };
  let ms = 0;
  for (const p of v.slice(m[1].length).matchAll(/(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|μs|ns)/g)) ms += Number(p[1]) * unit[p[2]];
  return m[1] === '-' ? -ms : ms;
}
