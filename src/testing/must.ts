// Narrowing in tests: a value a test expects to be there (an optional field, a lookup) is asserted present,
// so the test fails with a named message rather than a TypeError several lines later.
import assert from 'node:assert/strict';

/** v itself, or an AssertionError naming what was missing. */
export function must<T>(v: T | undefined | null, what = 'a value'): T {
  assert.ok(v !== undefined && v !== null, `expected ${what}, got ${v}`);
  return v;
}
