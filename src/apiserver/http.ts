// Small HTTP helpers for the API server: bodies with a size limit, JSON and Status answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, errors } from '../api/status.js';
import { parseGoBool } from '../api/queryparams.js';

/** Kubernetes' limit on request bodies (3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** The server's configured body limit per request (--max-request-body-bytes), when it differs from the default. */
const bodyLimits = new WeakMap<IncomingMessage, number>();

export function setBodyLimit(req: IncomingMessage, limit: number): void {
  if (limit !== MAX_BODY_BYTES) bodyLimits.set(req, limit);
}

export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  limit = bodyLimits.get(req) ?? limit;
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(errors.tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(errors.tooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => !failed && resolve(Buffer.concat(chunks)));
    req.on('error', (e) => !failed && reject(e));
  });
}

/** Responses whose request asked for `pretty` (read with strconv.ParseBool, as the API server does). */
const prettyResponses = new WeakSet<ServerResponse>();

export function setPretty(res: ServerResponse, query: URLSearchParams): void {
  const v = query.get('pretty');
  if (v !== null && parseGoBool(v)) prettyResponses.add(res);
}

export function isPretty(res: ServerResponse): boolean {
  return prettyResponses.has(res);
}

export function sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  // A handler finishing after its request timed out (504 already sent) has no one to answer.
  if (timedOut.has(res)) return;
  // Go's json.Encoder ends every document with a newline; pre-encoded bodies are sent as they are.
  const data = typeof body === 'string' || Buffer.isBuffer(body) ? body : `${JSON.stringify(body, null, prettyResponses.has(res) ? 2 : undefined)}\n`;
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data), 'Cache-Control': 'no-cache, private' });
  res.end(data);
}

/** Responses already answered 504 by the handler timeout; later writes of their handler are dropped. */
const timedOut = new WeakSet<ServerResponse>();

export function markTimedOut(res: ServerResponse): void {
  timedOut.add(res);
}

export function isTimedOut(res: ServerResponse): boolean {
  return timedOut.has(res);
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (timedOut.has(res)) return;
  const e = err instanceof ApiError ? err : errors.internal(err instanceof Error ? err.message : String(err));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.code, e.toStatus());
}

export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

/** Deepest nesting accepted in a request body; real objects stay far below it, and a bound keeps
 *  every recursive walk (validation, patching, cloning) safe from stack exhaustion. */
export const MAX_DEPTH = 100;

export function checkDepth(value: unknown, max = MAX_DEPTH): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d > max) throw errors.badRequest(`the request body is nested more than ${max} levels deep`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
    }
  }
}
