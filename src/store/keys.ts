// Key-range helpers shared by the backends: prefix ranges and the byte order etcd and SQLite sort keys in.

/**
 * Compares keys in UTF-8 byte order (= code point order), the order etcd and SQLite's BINARY collation
 * use. Plain `<` on JS strings compares UTF-16 code units, which disagrees for astral characters.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// Surrogates (D800–DFFF) stand for code points above FFFF, so they must rank after E000–FFFF.
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

/**
 * The smallest string greater than every string that starts with prefix, or undefined when no such
 * string exists (the empty prefix: every key matches).
 */
export function prefixEnd(prefix: string): string | undefined {
  let p = prefix;
  while (p.length > 0) {
    const last = p.charCodeAt(p.length - 1);
    // A trailing surrogate pair is one astral code point; incrementing the low half keeps it valid
    // unless it is the very last one, in which case drop the pair and carry into the character before.
    if (last >= 0xdc00 && last <= 0xdfff && p.length >= 2) {
      const cp = p.codePointAt(p.length - 2)!;
      if (cp < 0x10ffff) return p.slice(0, -2) + String.fromCodePoint(cp + 1);
      p = p.slice(0, -2);
      continue;
    }
    if (last === 0xd7ff) return p.slice(0, -1) + '\ue000';
    if (last === 0xffff) return p.slice(0, -1) + '\u{10000}';
    return p.slice(0, -1) + String.fromCharCode(last + 1);
  }
  return undefined;
}
