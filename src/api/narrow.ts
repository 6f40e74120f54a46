// Narrowing for JSON whose shape nothing has proven yet (a client's body before validation, `ip -j` / `nft -j`
// output, a registry's manifest): the one place these checks live, so every module narrows the same way.

/** A JSON object (not null, not an array): its fields are still unknown and are narrowed one by one. */
export type JsonObject = Record<string, unknown>;

/** A JSON object (not null, not an array). A typed value keeps its type (`isObj(spec.template)` is a
 *  PodTemplateSpec whose fields stay typed); an unknown one becomes a JsonObject. */
export const isObj = <T>(v: T): v is T & JsonObject => !!v && typeof v === 'object' && !Array.isArray(v);
/** Alias of `isObj` under the name the narrowing helpers share. */
export const isRecord = isObj;

/**
 * An array's items, or none when it is not an array (a client's `ports: 5`). A typed field (`spec.ports`) keeps
 * its item type: the object was decoded into its kind, and each item is still checked where it is read;
 * an unknown value's items stay unknown.
 */
export function arr<T>(v: readonly T[] | null | undefined): T[];
export function arr(v: unknown): unknown[];
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
/** The items of an array that are objects; anything else (a missing field, `[1, null]`'s items) is left out. */
export const records = (v: unknown): JsonObject[] => arr(v).filter(isObj);
/** The items of an array that are strings. */
export const strings = (v: unknown): string[] => arr(v).filter((x): x is string => typeof x === 'string');

/** v is one of list's values (a client's `protocol: 5` is not; nothing is coerced). */
export const isOneOf = <T>(list: readonly T[], v: unknown): v is T => (list as readonly unknown[]).includes(v);

/** The value when it is a string, else undefined (a number where a string belongs is not coerced). */
export const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
/** The value when it is a finite number, else undefined. */
export const asNumber = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
/** The value when it is an object, else an empty one: reads on it are then `undefined`, never a crash. */
export const asObj = (v: unknown): JsonObject => (isObj(v) ? v : {});
/** An array's items as objects, index for index (a non-object item reads as `{}`, so its errors keep their index). */
export const objs = (v: unknown): JsonObject[] => arr(v).map(asObj);

/** A typed object's fields to read, or none when it is missing or not an object (a client's `spec: 5`). */
export const fieldsOf = <T extends object>(v: T | null | undefined): Partial<T> => (isObj(v) ? v : {});

/** JSON text parsed, or a clear error naming what was being read (a tool's output, a registry's answer). */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what}: not JSON (${(e as Error).message})`);
  }
}
