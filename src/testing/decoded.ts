// Objects as the API server's JSON decoder hands them on, for tests of hostile input: nothing in decoding
// checks that a field has its kind's type (a client may send a number where a string belongs, or leave out
// what the Go struct requires), and catching that is what defaults and validation are for.
// (This folder imports nothing of the project, so T is any object with metadata rather than a KObject.)

/** obj as the kind T, unchecked, the way the server reads a request body. Only for objects a test makes
 *  deliberately malformed or incomplete; a well-formed fixture is written as the kind's type instead. */
export function decoded<T extends { metadata: object }>(obj: { metadata: object; [field: string]: unknown }): T {
  return obj as T;
}
