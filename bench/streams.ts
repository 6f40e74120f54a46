// Throughput of the pod stream transports (a port-forward data stream: SPDY on TCP, SPDY tunnelled in a
// WebSocket), against the anchor of plain loopback TCP measured in the same run.
// Run: npx tsc -p tsconfig.json && node dist/bench/streams.js [MiB per run, default 128]
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { SpdyConnection } from '../src/agent/streams/spdy.js';
import { webSocketDuplex } from '../src/agent/streams/websocket.js';
import { fmt, table } from './lib.js';

const MIB = 1024 * 1024;
const total = Number(process.argv[2] ?? 128) * MIB;
const chunk = Buffer.alloc(64 * 1024, 7);

/** Writes `total` bytes into `w` with backpressure and resolves when the reader has counted them all. */
async function pump(w: Duplex | Socket, received: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  let sent = 0;
  while (sent < total) {
    sent += chunk.length;
    if (!w.write(chunk)) await new Promise((r) => w.once('drain', r));
  }
  w.end();
  await received();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function sink(r: Duplex | Socket): () => Promise<void> {
  let n = 0;
  const done = new Promise<void>((resolve) => {
    r.on('data', (b: Buffer) => {
      n += b.length;
      if (n >= total) resolve();
    });
  });
  return () => done;
}

async function listen(onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConn);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

async function dial(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.setNoDelay(true);
  return s;
}

async function tcp(): Promise<number> {
  let accept!: (s: Socket) => void;
  const accepted = new Promise<Socket>((r) => (accept = r));
  const { server, port } = await listen(accept);
  const c = await dial(port);
  const wait = sink(await accepted);
  const secs = await pump(c, wait);
  c.destroy();
  server.close();
  return secs;
}

/** One stream opened by the client (as kubectl does); `toClient` makes our server the sender. */
async function spdyOver(transportPair: () => Promise<{ client: Duplex; server: Promise<Duplex>; close(): void }>, toClient: boolean): Promise<number> {
  const pair = await transportPair();
  const client = new SpdyConnection(pair.client, { role: 'client' });
  const server = new SpdyConnection(await pair.server, { role: 'server' });
  const incoming = new Promise<Duplex>((r) =>
    server.once('stream', (s) => {
      s.reply();
      r(s);
    }),
  );
  const ours = client.openStream({ streamtype: 'data', port: '80', requestid: '0' });
  const theirs = await incoming;
  const secs = toClient ? await pump(theirs, sink(ours)) : await pump(ours, sink(theirs));
  client.destroy();
  server.destroy();
  pair.close();
  return secs;
}

async function tcpPair() {
  let accept!: (s: Socket) => void;
  const accepted = new Promise<Duplex>((r) => (accept = r));
  const { server, port } = await listen((s) => {
    s.setNoDelay(true);
    accept(s);
  });
  const client = await dial(port);
  return { client, server: accepted, close: () => server.close() };
}

async function wsPair() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((r) => wss.once('listening', r));
  const accepted = new Promise<Duplex>((r) => wss.once('connection', (ws) => r(webSocketDuplex(ws))));
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: false });
  await new Promise((r) => ws.once('open', r));
  return { client: webSocketDuplex(ws), server: accepted, close: () => wss.close() };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const variants: [string, () => Promise<number>][] = [
  ['anchor: loopback TCP', tcp],
  ['SPDY on TCP (port-forward ≤1.30, exec over SPDY), server → client', () => spdyOver(tcpPair, true)],
  ['SPDY on TCP, client → server', () => spdyOver(tcpPair, false)],
  ['SPDY in WebSocket (port-forward 1.31+), server → client', () => spdyOver(wsPair, true)],
  ['SPDY in WebSocket, client → server (ws unmasks in JS)', () => spdyOver(wsPair, false)],
];
const ROUNDS = 5;
for (const [, run] of variants) await run(); // warm-up
// Rounds interleave the variants so that a shared machine's changing load hits all of them alike.
const rates = variants.map(() => [] as number[]);
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < variants.length; i++) rates[i].push(total / MIB / (await variants[i][1]()));
}
const anchor = median(rates[0]);
console.log(`one stream, ${total / MIB} MiB per run, median of ${ROUNDS} interleaved rounds after a warm-up`);
console.log(table([['path', 'MiB/s', 'ratio to anchor'], ...variants.map(([name], i) => [name, median(rates[i]), fmt(median(rates[i]) / anchor)])]));
