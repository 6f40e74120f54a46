// Flag parsing for the k8ts command: --name value, --name=value, boolean --flag; unknown flags are errors.

/** One flag: its value's type, an optional default, and the line `--help` prints. */
export interface FlagDef {
  type: 'string' | 'number' | 'boolean' | 'list';
  default?: string | number | boolean;
  help: string;
  metavar?: string;
}

/** A command's flags by name. Declare it `const X = {...} satisfies FlagSpec` so each flag keeps its literal type. */
export type FlagSpec = Readonly<Record<string, FlagDef>>;

type ValueOf<T extends FlagDef['type']> = T extends 'string' ? string : T extends 'number' ? number : T extends 'boolean' ? boolean : string[];

/**
 * Parsed flags, typed from the spec: `--nodes` declared `type: 'number'` reads as `number`, a name the spec does
 * not declare is a compile error. A flag with a default is always there, and so is a list (empty when not given);
 * any other flag is `undefined` until given.
 */
export type Flags<S extends FlagSpec> = {
  -readonly [K in keyof S]: S[K] extends { default: string | number | boolean }
    ? ValueOf<S[K]['type']>
    : S[K]['type'] extends 'list'
      ? string[]
      : ValueOf<S[K]['type']> | undefined;
};

export class UsageError extends Error {
  readonly code = 'Usage';
}

/** What `--flag=VALUE` may say for a boolean, as Go's flag package (strconv.ParseBool) reads it. */
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

export function parseFlags<S extends FlagSpec>(argv: string[], spec: S): { flags: Flags<S>; rest: string[] } {
  const flags: Record<string, string | number | boolean | string[]> = {};
  for (const [k, s] of Object.entries(spec)) {
    if (s.default !== undefined) flags[k] = s.default;
    else if (s.type === 'list') flags[k] = [];
  }
  const given = new Set<string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      rest.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const s = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!s) throw new UsageError(`unknown flag --${name}`);
    if (s.type === 'boolean') {
      // `--flag` alone is true; `--flag false` is not read as a value (Go's flag package does the same), so a
      // boolean's value goes after `=`, and only a word ParseBool accepts is one.
      if (eq < 0) flags[name] = true;
      else {
        const v = a.slice(eq + 1);
        if (TRUE.has(v)) flags[name] = true;
        else if (FALSE.has(v)) flags[name] = false;
        else throw new UsageError(`flag --${name}: ${JSON.stringify(v)} is not a boolean (use --${name}, --${name}=true or --${name}=false)`);
      }
      continue;
    }
    const v = eq < 0 ? argv[++i] : a.slice(eq + 1);
    if (v === undefined) throw new UsageError(`flag --${name} needs a value`);
    if (s.type === 'number') {
      const n = v.trim() === '' ? Number.NaN : Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`flag --${name}: ${JSON.stringify(v)} is not a number`);
      flags[name] = n;
    } else if (s.type === 'list') {
      // Repeatable: each --flag adds its value; the default (if any) is replaced by the first one given.
      const prev = given.has(name) ? (flags[name] as string[]) : [];
      flags[name] = [...prev, v];
    } else flags[name] = v;
    given.add(name);
  }
  return { flags: flags as Flags<S>, rest };
}

/** The flags with the named ones proven given (not missing, not empty), or a UsageError naming the first that is not. */
export function requireFlags<F extends object, K extends keyof F & string>(
  flags: F,
  names: readonly K[],
  command: string,
): F & { [P in K]-?: NonNullable<F[P]> } {
  for (const n of names) if (!flags[n]) throw new UsageError(`${command}: --${n} is required`);
  return flags as F & { [P in K]-?: NonNullable<F[P]> };
}

export function flagHelp(spec: FlagSpec): string {
  const rows = Object.entries(spec).map(([k, s]) => ({
    left: `  --${k}${s.type === 'boolean' ? '' : ` ${s.metavar ?? s.type.toUpperCase()}`}${s.type === 'list' ? ' (repeatable)' : ''}`,
    help: `${s.help}${s.default !== undefined && s.default !== false ? ` (default ${s.default})` : ''}`,
  }));
  // One column for every flag, wide enough for the longest, so no help text runs into its flag.
  const width = Math.max(34, ...rows.map((r) => r.left.length + 2));
  return rows.map((r) => `${r.left.padEnd(width)}${r.help}`).join('\n');
}
