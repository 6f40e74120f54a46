// The WebSocket transports kubectl 1.30+ uses: exec/attach with channel-prefixed binary messages
// (v5.channel.k8s.io, v4.channel.k8s.io), and port-forward as SPDY/3.1 tunnelled in binary messages.
import type { IncomingMessage } from 'node:http';
import { Duplex, PassThrough, Writable } from 'node:stream';
import { debuglog } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { errors } from '../../api/status.js';
import type { PodRef, PortForwardBackend, StreamBackends } from './backend.js';
import { type RemoteCommandRequest, ResizeParser, type Started, runSession, startRemoteCommand } from './remotecommand.js';
import { servePortForward } from './portforward.js';
import { SpdyConnection } from './spdy.js';
import { type StreamStatus, sendStatusOnSocket } from './status.js';
import { headerValues, negotiate } from './upgrade.js';

const log = debuglog('k8ts:streams');

export const WS_REMOTE_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
export const WS_PORT_FORWARD_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';

export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** One binary message: the channel byte, then the payload. */
export function channelMessage(channel: number, payload: Buffer): Buffer {
  const m = Buffer.allocUnsafe(payload.length + 1);
  m[0] = channel;
  payload.copy(m, 1);
  return m;
}

const chosenProtocol = new WeakMap<IncomingMessage, string>();
const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false });
// kubectl treats a 101 without the subprotocol it offered as a failed upgrade, so the choice made before
// the upgrade is echoed here.
wss.on('headers', (headers: string[], req: IncomingMessage) => {
  const p = chosenProtocol.get(req);
  if (p) headers.push(`Sec-WebSocket-Protocol: ${p}`);
});

/** Why ws would refuse this handshake, checked before anything is started for it. */
function handshakeProblem(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return `a WebSocket upgrade must be a GET, not ${req.method}`;
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[+/0-9A-Za-z]{22}==$/.test(key)) return 'missing or invalid Sec-WebSocket-Key';
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return `unsupported Sec-WebSocket-Version ${JSON.stringify(version)} (13 is required)`;
  return undefined;
}

/** Picks our subprotocol from the client's offer; throws the 400 to answer when there is none. */
function chooseProtocol(req: IncomingMessage, accepted: readonly string[]): string {
  const problem = handshakeProblem(req);
  if (problem) throw errors.badRequest(`unable to upgrade: ${problem}`);
  const offered = headerValues(req, 'sec-websocket-protocol');
  const p = negotiate(offered, accepted);
  if (!p) {
    throw errors.badRequest(`unable to upgrade: no supported WebSocket subprotocol: client offers [${offered.join(' ')}], server accepts [${accepted.join(' ')}]`);
  }
  chosenProtocol.set(req, p);
  return p;
}

function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<WebSocket> {
  // ws only accepts RFC 6455 token characters in subprotocol names and refuses the whole handshake
  // otherwise; kubectl's port-forward protocol has a '/'. The choice is already made (chooseProtocol),
  // so ws gets a view of the request without the header (the caller's request stays untouched).
  const { 'sec-websocket-protocol': _offered, ...headers } = req.headers;
  const view = Object.create(req, { headers: { value: headers } }) as IncomingMessage;
  const chosen = chosenProtocol.get(req);
  if (chosen) chosenProtocol.set(view, chosen);
  return new Promise((resolve) => wss.handleUpgrade(view, socket, head, resolve));
}

/** Output of the process on one channel; the send callbacks give the process backpressure. */
class ChannelWriter extends Writable {
  constructor(private ws: WebSocket, private channel: number) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      cb(); // the client is gone; the output has nowhere to go
      return;
    }
    this.ws.send(channelMessage(this.channel, chunk), { binary: true }, () => cb());
  }
}

function sendStatus(ws: WebSocket, status: StreamStatus): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState !== WebSocket.OPEN) {
      resolve();
      return;
    }
    ws.send(channelMessage(Channel.error, Buffer.from(JSON.stringify(status))), { binary: true }, () => resolve());
  });
}

/** Runs an exec/attach session on an open WebSocket and closes it with 1000 (kubectl requires that code). */
export async function runWebSocketSession(ws: WebSocket, protocol: string, r: RemoteCommandRequest, started: Started): Promise<void> {
  const v5 = protocol === 'v5.channel.k8s.io';
  const proc = 'proc' in started ? started.proc : undefined;
  const stdin = r.stdin ? new PassThrough() : null;
  const resize = new ResizeParser((w, h) => proc?.resize(w, h));
  let finished = false;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    // Text frames belong to the base64 protocols, which kubectl never asks for.
    if (!isBinary || data.length === 0) return;
    const payload = data.subarray(1);
    switch (data[0]) {
      case Channel.stdin:
        if (stdin && !stdin.writableEnded && payload.length && !stdin.write(payload)) {
          ws.pause();
          stdin.once('drain', () => ws.resume());
        }
        return;
      case Channel.resize:
        resize.feed(payload);
        return;
      case Channel.close:
        // v5: [255, 0] is the client's stdin EOF.
        if (v5 && payload[0] === Channel.stdin) stdin?.end();
        return;
      default:
        log('ignoring message on channel %d', data[0]);
    }
  });
  ws.on('error', (e) => log('websocket: %s', e.message));
  ws.on('close', () => {
    stdin?.end();
    if (!finished) proc?.kill();
  });
  await runSession(r, started, {
    stdin,
    stdout: r.stdout ? new ChannelWriter(ws, Channel.stdout) : null,
    stderr: r.stderr ? new ChannelWriter(ws, Channel.stderr) : null,
    writeStatus: (s) => sendStatus(ws, s),
  });
  finished = true;
  if (ws.readyState === WebSocket.OPEN) ws.close(1000);
}

/** Serves an exec/attach request that asked for a WebSocket, from the handshake to the close. */
export async function serveWebSocketRemoteCommand(req: IncomingMessage, socket: Duplex, head: Buffer, r: RemoteCommandRequest, pod: PodRef, backends: StreamBackends): Promise<void> {
  let protocol: string;
  let started: Started;
  try {
    protocol = chooseProtocol(req, WS_REMOTE_COMMAND_PROTOCOLS);
    started = await startRemoteCommand(r, pod, backends);
  } catch (e) {
    sendStatusOnSocket(socket, e);
    return;
  }
  if (socket.destroyed) {
    if ('proc' in started) started.proc.kill();
    return;
  }
  const ws = await upgrade(req, socket, head);
  await runWebSocketSession(ws, protocol, r, started);
}

/** A byte stream over the binary messages of a WebSocket: what the SPDY tunnel runs on. */
export function webSocketDuplex(ws: WebSocket): Duplex {
  const d = new Duplex({
    read() {
      ws.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== WebSocket.OPEN) {
        cb(new Error('websocket is closed'));
        return;
      }
      ws.send(chunk, { binary: true }, (e) => cb(e ?? null));
    },
    // Corked writes (a SPDY frame header and its payload) travel as one message.
    writev(chunks, cb) {
      if (ws.readyState !== WebSocket.OPEN) {
        cb(new Error('websocket is closed'));
        return;
      }
      ws.send(Buffer.concat(chunks.map((c) => c.chunk as Buffer)), { binary: true }, (e) => cb(e ?? null));
    },
    final(cb) {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      cb();
    },
    destroy(err, cb) {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      cb(err);
    },
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      d.destroy(new Error('text message on a binary tunnel'));
      return;
    }
    if (!d.push(data)) ws.pause();
  });
  ws.on('close', () => d.push(null));
  ws.on('error', (e) => d.destroy(e));
  return d;
}

/** Serves port-forward over WebSocket: SPDY/3.1 frames carried in the binary messages. */
export async function serveWebSocketPortForward(req: IncomingMessage, socket: Duplex, head: Buffer, pod: PodRef, backend: PortForwardBackend): Promise<void> {
  try {
    chooseProtocol(req, [WS_PORT_FORWARD_TUNNEL_PROTOCOL]);
  } catch (e) {
    sendStatusOnSocket(socket, e);
    return;
  }
  const ws = await upgrade(req, socket, head);
  const conn = new SpdyConnection(webSocketDuplex(ws), { role: 'server' });
  await servePortForward(conn, pod, backend);
}
