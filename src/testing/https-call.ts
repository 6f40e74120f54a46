// One JSON request to a test API server as a bearer-token user, answered as status code and parsed body
// (the text when it is not JSON); a watch's 200 is the answer itself (the stream is not read).
import assert from 'node:assert/strict';
import { request } from 'node:https';

/** A reply: its body is `unknown` until the caller names what it expects (`mustReply<ClusterRole>`, `json<Status>`). */
export interface Reply<T = unknown> {
  code: number;
  body: T;
}

/**
 * The body of a reply as the kind the caller names (a type from `kubernetes-types` or a small local interface).
 * Nothing is checked at run time: the server's answer is what the test is asserting on, and a field that is
 * not there reads as `undefined` and fails that assertion.
 */
export function json<T>(r: Reply): T {
  return r.body as T;
}

/** The reply's body as T once its code is the one expected (else the assertion names the code and the body). */
export async function mustReply<T = unknown>(r: Promise<Reply>, code: number): Promise<T> {
  const got = await r;
  assert.equal(got.code, code, JSON.stringify(got.body));
  return json<T>(got);
}

export function callAs(
  base: string,
  ca: string | Buffer,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string | string[]> = {},
): Promise<Reply> {
  const u = new URL(path, base);
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const rq = request(
      u,
      {
        method,
        ca,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(data ? { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json', 'content-length': String(data.length) } : {}),
          ...headers,
        },
      },
      (res) => {
        if (res.statusCode === 200 && u.searchParams.get('watch')) {
          res.destroy();
          return resolve({ code: 200, body: undefined });
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const t = Buffer.concat(chunks).toString();
          let b: unknown = t;
          try {
            b = JSON.parse(t);
          } catch {
            /* text */
          }
          resolve({ code: res.statusCode ?? 0, body: b });
        });
      },
    );
    rq.on('error', reject);
    rq.end(data);
  });
}

/** A GET as a bearer-token user, answered as status code and body text (metrics, proxied agent answers). */
export function getTextAs(base: string, ca: string | Buffer, token: string, path: string): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const rq = request(new URL(path, base), { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    rq.on('error', reject);
    rq.end();
  });
}
