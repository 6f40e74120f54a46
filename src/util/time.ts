// Timestamps as the Kubernetes API writes them: metav1.Time (RFC 3339, seconds) and MicroTime.

export function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export function microNow(): string {
  return new Date().toISOString().replace(/Z$/, '000Z');
}
