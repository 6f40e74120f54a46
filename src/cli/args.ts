// Flag parsing for the k8ts command: --name value, --name=value, boolean --flag; unknown flags are errors.
import type { Loose } from '../api/strategies/json.js';

export interface FlagSpec {
  [name: string]: { type: 'string' | 'boolean' | 'number'; default?: string | boolean | number; help: string; metavar?: string };
}

/** Parsed flags by name: a string, boolean or number as the spec says (a command reads its own flags by name). */
export type Flags = Record<string, Loose>;

export class UsageError extends Error {
  readonly code = 'Usage';
}

export function parseFlags(argv: string[], spec: FlagSpec): { flags: Flags; rest: string[] } {
  const flags: Flags = {};
  for (const [k, s] of Object.entries(spec)) if (s.default !== undefined) flags[k] = s.default;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      rest.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UsageError(`unknown flag --${name}`);
    if (s.type === 'boolean') {
      flags[name] = eq < 0 ? true : a.slice(eq + 1) !== 'false';
      continue;
    }
    const v = eq < 0 ? argv[++i] : a.slice(eq + 1);
    if (v === undefined) throw new UsageError(`flag --${name} needs a value`);
    if (s.type === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`flag --${name}: ${JSON.stringify(v)} is not a number`);
      flags[name] = n;
    } else flags[name] = v;
  }
  return { flags, rest };
}

export function flagHelp(spec: FlagSpec): string {
  const rows = Object.entries(spec).map(([k, s]) => ({
    left: `  --${k}${s.type === 'boolean' ? '' : ` ${s.metavar ?? s.type.toUpperCase()}`}`,
    help: `${s.help}${s.default !== undefined && s.default !== false ? ` (default ${s.default})` : ''}`,
  }));
  // One column for every flag, wide enough for the longest, so no help text runs into its flag.
  const width = Math.max(34, ...rows.map((r) => r.left.length + 2));
  return rows.map((r) => `${r.left.padEnd(width)}${r.help}`).join('\n');
}
