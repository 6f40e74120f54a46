// Resource quantities ("500m", "1Gi"): parsing with Kubernetes' errors, comparison, canonical text.

export const QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
export const QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix";
export const QUANTITY_NUMERIC_ERROR = 'unable to parse numeric part of quantity';

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

export interface Quantity {
  /** The value times 10^9, rounded up (Kubernetes keeps nano precision). */
  nanos: bigint;
  format: QuantityFormat;
}

const SHAPE = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

/** A quantity, or the error text Kubernetes gives for a malformed one. */
export function parseQuantity(input: unknown): Quantity | { error: string } {
  const s = typeof input === 'number' ? String(input) : typeof input === 'string' ? input.trim() : undefined;
  if (!s) return { error: QUANTITY_FORMAT_ERROR };
  const m = SHAPE.exec(s);
  if (!m) return { error: QUANTITY_FORMAT_ERROR };
  const [, num, suffix] = m;
  const nm = /^([+-]?)([0-9]*)(?:\.([0-9]*))?$/.exec(num);
  if (!nm || (nm[2] === '' && (nm[3] ?? '') === '')) return { error: QUANTITY_NUMERIC_ERROR };
  const negative = nm[1] === '-';
  const whole = nm[2] || '0';
  const frac = nm[3] ?? '';

  let base = 10n;
  let exp = 0;
  let format: QuantityFormat;
  if (suffix in DECIMAL) {
    exp = DECIMAL[suffix];
    format = 'DecimalSI';
  } else if (suffix in BINARY) {
    base = 2n;
    exp = BINARY[suffix];
    format = 'BinarySI';
  } else if (/^[eE][-+]?[0-9]+$/.test(suffix)) {
    exp = Number(suffix.slice(1));
    format = 'DecimalExponent';
  } else {
    return { error: QUANTITY_SUFFIX_ERROR };
  }

  // value = (whole.frac) * base^exp, kept as numerator/denominator then scaled to nanos.
  let numer = BigInt(whole + frac);
  let denom = 10n ** BigInt(frac.length);
  if (exp >= 0) numer *= base ** BigInt(exp);
  else denom *= base ** BigInt(-exp);
  numer *= 1_000_000_000n;
  let nanos = numer / denom;
  if (nanos * denom !== numer) nanos += 1n; // Kubernetes rounds up below nano precision
  return { nanos: negative ? -nanos : nanos, format };
}

export function isQuantity(q: Quantity | { error: string }): q is Quantity {
  return (q as Quantity).nanos !== undefined;
}

export function compareQuantity(a: Quantity, b: Quantity): number {
  return a.nanos < b.nanos ? -1 : a.nanos > b.nanos ? 1 : 0;
}

/** The canonical spelling, as Quantity.String() prints it ("0.5" → "500m", "1024Mi" → "1Gi"). */
export function formatQuantity(q: Quantity): string {
  if (q.nanos === 0n) return '0';
  const neg = q.nanos < 0n;
  const abs = neg ? -q.nanos : q.nanos;
  const sign = neg ? '-' : '';
  if (q.format === 'BinarySI' && abs % 1_000_000_000n === 0n) {
    let units = abs / 1_000_000_000n;
    if (units >= 1024n) {
      const suffixes = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
      let i = 0;
      while (i < suffixes.length - 1 && units % 1024n === 0n) {
        units /= 1024n;
        i++;
      }
      if (i > 0) return `${sign}${units}${suffixes[i]}`;
    }
  }
  // DecimalSI (and the fallbacks): the largest power-of-1000 unit that keeps an integer mantissa.
  const units: [bigint, string][] = [
    [10n ** 27n, 'E'],
    [10n ** 24n, 'P'],
    [10n ** 21n, 'T'],
    [10n ** 18n, 'G'],
    [10n ** 15n, 'M'],
    [10n ** 12n, 'k'],
    [10n ** 9n, ''],
    [10n ** 6n, 'm'],
    [10n ** 3n, 'u'],
    [1n, 'n'],
  ];
  for (const [scale, suffix] of units) {
    if (abs % scale === 0n) return `${sign}${abs / scale}${suffix}`;
  }
  return `${sign}${abs}n`;
}
