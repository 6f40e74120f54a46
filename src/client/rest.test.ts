// RestClient's connection use and its answer to a shed request, against a real HTTPS server: requests beyond
// maxConnections wait for a connection instead of opening more (what keeps 1,000 hollow nodes from flooding
// the API server's accept queue), and a 429 is sent again only when it carries Retry-After, as client-go does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { selfSigned } from '../api/certificates/issue.js';
import { RestClient } from './rest.js';
import { NAMESPACES } from '../api/kinds.js';

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string; ca: string; connections: () => number }> {
  const made = await selfSigned({ subject: { cn: 'rest-test' }, usage: 'server', names: ['127.0.0.1'], days: 1 });
  const server = createServer({ key: made.keyPem, cert: made.certPem }, handler);
  let connections = 0;
  server.on('secureConnection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { server, url: `https://127.0.0.1:${port}`, ca: made.certPem, connections: () => connections };
}

const ns = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

test('requests beyond maxConnections wait for a connection; none is opened past the limit', async () => {
  let inFlight = 0;
  let peak = 0;
  const s = await serve((req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    setTimeout(() => {
      inFlight--;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(ns(req.url!.split('/').pop()!)));
    }, 30);
  });
  const c = new RestClient({ server: s.url, ca: s.ca, token: 't', maxConnections: 2 });
  try {
    const got = await Promise.all(Array.from({ length: 12 }, (_, i) => c.get(NAMESPACES, undefined, `n${i}`)));
    assert.deepEqual(
      got.map((n) => n?.metadata.name),
      Array.from({ length: 12 }, (_, i) => `n${i}`),
    );
    assert.equal(s.connections(), 2, 'two connections, reused');
    assert.equal(peak, 2, 'never more than two requests at the server at once');
  } finally {
    c.close();
    s.server.close();
  }
});

test('a 429 with Retry-After is sent again until it is served; one without Retry-After is the answer', async () => {
  let calls = 0;
  let shedWithHeader = true;
  const s = await serve((_req, res) => {
    calls++;
    if (calls <= 2) {
      if (shedWithHeader) res.setHeader('Retry-After', '0');
      res.writeHead(429, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'TooManyRequests', code: 429, message: 'Too many requests' }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(ns('served')));
  });
  const c = new RestClient({ server: s.url, ca: s.ca, token: 't' });
  try {
    const n = await c.get(NAMESPACES, undefined, 'served');
    assert.equal(n?.metadata.name, 'served');
    assert.equal(calls, 3, 'two shed, the third served');
    calls = 0;
    shedWithHeader = false;
    await assert.rejects(c.get(NAMESPACES, undefined, 'served'), /Too many requests/);
    assert.equal(calls, 1, 'not sent again without Retry-After');
  } finally {
    c.close();
    s.server.close();
  }
});
