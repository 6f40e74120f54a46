// metav1.Status answers of the pod stream handlers: the result documents written inside exec streams, and
// error answers before an upgrade, on a response or on a raw upgraded socket.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { ApiError, errors, statusBody } from '../../api/status.js';
import { StreamBackendError } from './backend.js';

/** The Status document of a finished remote command, as the kubelet marshals it (no kind/apiVersion). */
export interface StreamStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason?: string; message: string }[] };
  code?: number;
}

export function successStatus(): StreamStatus {
  return { metadata: {}, status: 'Success' };
}

/** kubectl reads the exit code from the cause with reason ExitCode and exits with it. */
export function exitCodeStatus(argv: string[], code: number): StreamStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** kubectl prints `error: <message>` and exits 1. */
export function internalErrorStatus(message: string): StreamStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}

/** The HTTP answer for an error raised before a stream is established. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof StreamBackendError) {
    switch (err.code) {
      case 'ContainerNotFound':
        return new ApiError(404, 'NotFound', err.message);
      case 'ContainerNotRunning':
      case 'Unsupported':
      case 'CommandNotFound':
        return errors.badRequest(err.message);
    }
  }
  return errors.internal(err instanceof Error ? err.message : String(err));
}

export function sendStatusResponse(res: ServerResponse, err: unknown): void {
  const e = toApiError(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = statusBody(e.toStatus());
  res.writeHead(e.code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache, private' });
  res.end(body);
}

/** Writes a complete HTTP/1.1 error response on a socket that was handed over for an upgrade, then
 *  closes it; the client sees an ordinary failed request. */
export function sendStatusOnSocket(socket: Duplex, err: unknown, headers: Record<string, string | string[]> = {}): void {
  const e = toApiError(err);
  const body = statusBody(e.toStatus());
  const lines = [
    `HTTP/1.1 ${e.code} ${STATUS_CODES[e.code] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  // A client that keeps the socket open after the answer must not hold it forever.
  setTimeout(() => socket.destroy(), 2000).unref();
}
