// The bearer token of an Authorization header, read as kube-apiserver's bearer-token authenticator reads it:
// the scheme is case-insensitive (RFC 7235; client-python sends "bearer"), the token is the second
// space-separated field, anything after it is ignored.
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const parts = header.trim().split(' ');
  if (parts.length < 2 || parts[0].toLowerCase() !== 'bearer') return undefined;
  return parts[1] || undefined;
}
