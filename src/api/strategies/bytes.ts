// Strict base64 for Secret data and ConfigMap binaryData, with Go's error text.

/** Decoded length, or the message Go gives for a malformed value. */
export function decodeBase64(s: string): { bytes: number } | { error: string } {
  const text = s.replace(/[\r\n]/g, '');
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (/[A-Za-z0-9+/]/.test(c)) continue;
    if (c === '=' && i >= text.length - 2 && i % 4 >= 2 && /^=*$/.test(text.slice(i))) continue;
    return { error: `illegal base64 data at input byte ${i}` };
  }
  if (text.length % 4 !== 0) return { error: `illegal base64 data at input byte ${text.length - (text.length % 4)}` };
  return { bytes: Buffer.from(text, 'base64').length };
}
