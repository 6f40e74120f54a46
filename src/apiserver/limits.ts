// The API server's limits under load and abuse: requests in flight, connections, timeouts, body size and
// the per-watch and watch-cache buffers; upstream's defaults where kube-apiserver has the same knob.
import { readFileSync } from 'node:fs';

export interface ServerLimits {
  /** Read-only requests handled at once, long-running ones aside (kube-apiserver --max-requests-inflight). */
  maxRequestsInflight: number;
  /** Mutating requests handled at once (--max-mutating-requests-inflight). */
  maxMutatingRequestsInflight: number;
  /** A non-long-running request must arrive whole within this (408) and be answered within it, or the
   *  client's shorter ?timeout= (504 Timeout) (--request-timeout, 1m). */
  requestTimeoutMs: number;
  /** The TLS handshake and request headers must arrive within this (Go's ReadHeaderTimeout in
   *  kube-apiserver's secure serving: 32 s). */
  headerTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (kube-apiserver's IdleTimeout: 90 s). */
  idleTimeoutMs: number;
  /** Open connections at most; beyond, new ones are closed at once. */
  maxConnections: number;
  /** Request bodies larger than this get 413 (upstream: 3 MiB). */
  maxBodyBytes: number;
  /** Bytes a watch may have written and not yet drained to its client; beyond, the watch ends with an error. */
  watchBufferBytes: number;
  /** Approximate bytes of history the watch cache keeps; older events are dropped (watches from them get 410). */
  watchCacheBytes: number;
}

/** File descriptors kept for the datastore, log files and outgoing connections when sizing maxConnections. */
const FD_RESERVE = 1024;

/** The soft RLIMIT_NOFILE of this process (Linux), undefined when unknown or unlimited. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Connections the process can hold without running out of descriptors for everything else. */
export function defaultMaxConnections(): number {
  const n = openFileLimit();
  return n === undefined ? 10_000 : Math.max(64, n - FD_RESERVE);
}

export const DEFAULT_LIMITS: Readonly<Omit<ServerLimits, 'maxConnections'>> = {
  maxRequestsInflight: 400,
  maxMutatingRequestsInflight: 200,
  requestTimeoutMs: 60_000,
  headerTimeoutMs: 32_000,
  idleTimeoutMs: 90_000,
  maxBodyBytes: 3 * 1024 * 1024,
  watchBufferBytes: 4 * 1024 * 1024,
  watchCacheBytes: 256 * 1024 * 1024,
};

export function resolveLimits(l: Partial<ServerLimits> = {}): ServerLimits {
  const out: ServerLimits = { ...DEFAULT_LIMITS, maxConnections: defaultMaxConnections(), ...l };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`limit ${k}: ${v} is not a whole number ≥ 0`);
  }
  return out;
}
