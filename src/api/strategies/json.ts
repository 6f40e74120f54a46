// Loose accessors for JSON objects whose shape a client may have got wrong.

export const arr = (v: unknown): any[] => (Array.isArray(v) ? v : []);
export const isObj = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v);
