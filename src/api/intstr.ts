// Int-or-percent fields (maxSurge, maxUnavailable, minAvailable): what validation reads from them and
// what controllers scale them to, one definition for Deployments, DaemonSets, StatefulSets and budgets.
import { isValidPercent } from './validation.js';

/** The number a value stands for before scaling, as apps validation's getIntOrPercentValue:
 *  "25%" → 25, 3 → 3, "3" → 3, anything else → 0. */
export function intOrPercentValue(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (isValidPercent(v).length === 0) return Number(v.slice(0, -1));
    return /^-?[0-9]+$/.test(v) ? Number(v) : 0;
  }
  return 0;
}

/** intstr.GetScaledValueFromIntOrPercent: a number as it is, a percent of total rounded up or down as
 *  asked; a value validation would have refused counts as 0. */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return 0;
  if (isValidPercent(v).length) return /^[0-9]+$/.test(v) ? Number(v) : 0;
  const x = (Number(v.slice(0, -1)) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}
