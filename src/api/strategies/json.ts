// Loose accessors for JSON objects whose shape a client may have got wrong.

// `any` here on purpose: these read a body before validation has proven its shape, the one place where
// a field may be anything a client sent; callers check each value they use (typeof, isObj, arr).
export const arr = (v: unknown): any[] => (Array.isArray(v) ? v : []);
export const isObj = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v);

/** A typed object's fields to read, or none when it is missing or not an object (a client's `spec: 5`). */
export const fieldsOf = <T extends object>(v: T | null | undefined): Partial<T> => (isObj(v) ? v : {});
