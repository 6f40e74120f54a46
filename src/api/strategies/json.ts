// Loose accessors for JSON objects whose shape a client may have got wrong.

/**
 * JSON whose shape nothing has proven yet: a client's body before validation, `ip -j` / `nft -j` output, a
 * registry's manifest, parsed CLI flags. The one named `any` outside the codecs: code reading a `Loose` value checks each
 * field it uses (typeof, isObj, arr) before trusting it, which is what validation and parsing are for.
 * Typed code gets the kinds' types (`api/types.ts`) once validation or parsing has run.
 */
// biome-ignore lint/suspicious/noExplicitAny: the shape is unproven by definition (see above); every read is checked where it is used.
export type Loose = any;

export const arr = (v: unknown): Loose[] => (Array.isArray(v) ? v : []);
export const isObj = (v: unknown): v is Record<string, Loose> => !!v && typeof v === 'object' && !Array.isArray(v);

/** A typed object's fields to read, or none when it is missing or not an object (a client's `spec: 5`). */
export const fieldsOf = <T extends object>(v: T | null | undefined): Partial<T> => (isObj(v) ? v : {});
