// Boolean query parameters as Kubernetes reads them. Every *Options struct (ListOptions, PodExecOptions,
// PodLogOptions, DeleteOptions, PatchOptions…) is decoded by apimachinery's parameter codec, whose
// Convert_Slice_string_To_bool is deliberately lenient: absent → false; "0" or "false" in any letter
// case → false; anything else, the empty string of a bare `?watch` included, → true. So Go's own
// strconv.ParseBool spellings (1 t T TRUE true True / 0 f F FALSE false False) all work, and so does
// Python's `True`. `f` and `F`, which ParseBool reads as false, are true here, as they are upstream.

/** The value of a boolean query parameter; `absent` when the parameter is not there. */
export function queryBool(q: URLSearchParams, name: string, absent = false): boolean {
  const v = q.get(name);
  if (v === null) return absent;
  return !(v === '0' || v.toLowerCase() === 'false');
}

/** Go's strconv.ParseBool: the six true and six false spellings, undefined for anything else. Used where
 *  Kubernetes itself calls ParseBool (the `pretty` parameter), never for *Options fields. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}
