// The WebSocket transports: exec/attach with channel-prefixed messages in every protocol the kubelet
// serves (v5.channel.k8s.io for kubectl 1.30+, v4.channel.k8s.io for the Python and Java clients, the
// v1 channel.k8s.io, and the base64 variants of v1 and v4, whose text messages carry the channel as an
// ASCII digit and the data in base64), and port-forward either as SPDY/3.1 tunnelled in binary
// messages (kubectl 1.31+) or as channel pairs per port (v4.channel.k8s.io, what other clients use).
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

/** In the kubelet's order of preference; the client's order decides (negotiate). The empty name is a
 *  client that offers no subprotocol: the kubelet serves it the binary v1 protocol. */
export const WS_REMOTE_COMMAND_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
] as const;
export const WS_PORT_FORWARD_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
/** Port-forward as channel pairs (the kubelet's websocket port-forward): v4 binary or base64. */
export const WS_PORT_FORWARD_CHANNEL_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io'] as const;

export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** How a channel protocol frames its messages and reports the end of a command. */
export interface ChannelFraming {
  /** Text messages: the channel as an ASCII digit ('0' + channel), the payload in base64. */
  base64: boolean;
  /** v4 and v5 write the whole Status JSON on the error channel; v1 writes only a failure's message. */
  statusJSON: boolean;
  /** v5: a [255, channel] message closes that channel (the client's stdin EOF). */
  close: boolean;
}

export function framingOf(protocol: string): ChannelFraming {
  return {
    base64: protocol.includes('base64.'),
    statusJSON: protocol.startsWith('v4.') || protocol.startsWith('v5.'),
    close: protocol === 'v5.channel.k8s.io',
  };
}

/** One binary message: the channel byte, then the payload. */
export function channelMessage(channel: number, payload: Buffer): Buffer {
  const m = Buffer.allocUnsafe(payload.length + 1);
  m[0] = channel;
  payload.copy(m, 1);
  return m;
}

/** One message in the protocol's framing: binary, or text for the base64 protocols. */
function encodeChannel(f: ChannelFraming, channel: number, payload: Buffer): { data: Buffer | string; binary: boolean } {
  if (f.base64) return { data: `${String.fromCharCode(48 + channel)}${payload.toString('base64')}`, binary: false };
  return { data: channelMessage(channel, payload), binary: true };
}

/** The channel and payload of a received message, or a reason to ignore it. Like the kubelet, the
 *  message type (text or binary) does not matter, only the protocol's codec: the Python client sends
 *  its str data as text messages whose first character is the raw channel byte. */
export function decodeChannel(f: ChannelFraming, data: Buffer): { channel: number; payload: Buffer } | string {
  if (data.length === 0) return 'an empty message';
  if (!f.base64) return { channel: data[0], payload: data.subarray(1) };
  const digit = data[0] - 48;
  if (digit < 0 || digit > 9) return `a message on channel ${JSON.stringify(String.fromCharCode(data[0]))}`;
  const text = data.subarray(1).toString('latin1');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return 'a message that is not base64';
  return { channel: digit, payload: Buffer.from(text, 'base64') };
}

function sendChannel(ws: WebSocket, f: ChannelFraming, channel: number, payload: Buffer, cb: () => void): void {
  if (ws.readyState !== WebSocket.OPEN) {
    cb();
    return;
  }
  const m = encodeChannel(f, channel, payload);
  ws.send(m.data, { binary: m.binary }, () => cb());
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
function chooseProtocol(req: IncomingMessage, accepted: readonly string[], noOffer?: string): string {
  const problem = handshakeProblem(req);
  if (problem) throw errors.badRequest(`unable to upgrade: ${problem}`);
  const offered = headerValues(req, 'sec-websocket-protocol');
  // No subprotocol offered: the kubelet answers with its unnamed binary protocol and echoes none.
  if (offered.length === 0 && noOffer !== undefined) return noOffer;
  const p = negotiate(offered, accepted);
  if (!p) {
    throw errors.badRequest(
      `unable to upgrade: no supported WebSocket subprotocol: client offers [${offered.join(' ')}], server accepts [${accepted.join(' ')}]`,
    );
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

/** Output on one channel; the send callbacks give the writer (the process, the pod socket) backpressure;
 *  once the client is gone the output has nowhere to go and is dropped. */
class ChannelWriter extends Writable {
  constructor(
    private ws: WebSocket,
    private f: ChannelFraming,
    private channel: number,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    sendChannel(this.ws, this.f, this.channel, chunk, () => cb());
  }
}

function sendStatus(ws: WebSocket, f: ChannelFraming, status: StreamStatus): Promise<void> {
  // v1 reports only a failure, as its message text; success is the close alone.
  const text = f.statusJSON ? JSON.stringify(status) : status.status === 'Success' ? undefined : (status.message ?? '');
  if (text === undefined) return Promise.resolve();
  return new Promise((resolve) => sendChannel(ws, f, Channel.error, Buffer.from(text), resolve));
}

/** Runs an exec/attach session on an open WebSocket and closes it with 1000 (kubectl requires that code). */
export async function runWebSocketSession(ws: WebSocket, protocol: string, r: RemoteCommandRequest, started: Started): Promise<void> {
  const f = framingOf(protocol);
  const proc = 'proc' in started ? started.proc : undefined;
  const stdin = r.stdin ? new PassThrough() : null;
  const resize = new ResizeParser((w, h) => proc?.resize(w, h));
  let finished = false;
  // As the kubelet does, an empty message on the first output channel tells the client the session is
  // up (the Python client waits for the connection, not for output).
  const first = r.stdout ? Channel.stdout : r.stderr ? Channel.stderr : undefined;
  if (first !== undefined) sendChannel(ws, f, first, Buffer.alloc(0), () => {});
  ws.on('message', (data: Buffer) => {
    const m = decodeChannel(f, data);
    if (typeof m === 'string') {
      log('ignoring %s', m);
      return;
    }
    const payload = m.payload;
    switch (m.channel) {
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
        if (f.close && payload[0] === Channel.stdin) stdin?.end();
        return;
      default:
        log('ignoring message on channel %d', m.channel);
    }
  });
  ws.on('error', (e) => log('websocket: %s', e.message));
  ws.on('close', () => {
    stdin?.end();
    if (!finished) proc?.kill();
  });
  await runSession(r, started, {
    stdin,
    stdout: r.stdout ? new ChannelWriter(ws, f, Channel.stdout) : null,
    stderr: r.stderr ? new ChannelWriter(ws, f, Channel.stderr) : null,
    writeStatus: (s) => sendStatus(ws, f, s),
  });
  finished = true;
  if (ws.readyState === WebSocket.OPEN) ws.close(1000);
}

/** Serves an exec/attach request that asked for a WebSocket, from the handshake to the close. */
export async function serveWebSocketRemoteCommand(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  r: RemoteCommandRequest,
  pod: PodRef,
  backends: StreamBackends,
): Promise<void> {
  let protocol: string;
  let started: Started;
  try {
    protocol = chooseProtocol(req, WS_REMOTE_COMMAND_PROTOCOLS, 'channel.k8s.io');
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
  endAfterClose(socket);
}

/** After our close frame, the connection ends at once instead of waiting (up to 30 s) for the
 *  client's close reply. The Python client reads one message per poll() of the raw socket, so the
 *  Status and the close, arriving in one TLS record (the API server's proxy coalesces writes), would
 *  sit unseen in its SSL buffer; the FIN wakes it to read them. */
function endAfterClose(socket: Duplex): void {
  if (!socket.destroyed) socket.end();
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

/** The ports of a channel-pair port-forward, as the kubelet reads them: every `port` value (the
 *  kubelet's name) or `ports` value (PodPortForwardOptions', what reaches the API server), each a
 *  comma-separated list of numbers 1–65535. */
export function portForwardPorts(params: URLSearchParams): number[] {
  const raw = [...params.getAll('port'), ...params.getAll('ports')];
  if (raw.length === 0) throw errors.badRequest('query parameter "ports" is required');
  const ports: number[] = [];
  for (const v of raw) {
    if (v === '') throw errors.badRequest('query parameter "ports" cannot be empty');
    for (const p of v.split(',')) {
      if (!/^\d{1,5}$/.test(p) || Number(p) > 65535) throw errors.badRequest(`unable to parse ${JSON.stringify(v)} as a port`);
      if (Number(p) < 1) throw errors.badRequest(`port ${JSON.stringify(v)} must be > 0`);
      ports.push(Number(p));
    }
  }
  // Channels are one byte (two per port) and, in base64 framing, one digit.
  if (ports.length > 127) throw errors.badRequest(`at most 127 ports can be forwarded on one connection, got ${ports.length}`);
  return ports;
}

/** Serves port-forward over WebSocket: SPDY/3.1 frames carried in the binary messages (kubectl), or
 *  channel pairs (v4.channel.k8s.io: per port a data channel 2i and an error channel 2i+1, each opened
 *  with the port as two little-endian bytes; one connection to the pod's port per pair). */
export async function serveWebSocketPortForward(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  pod: PodRef,
  backend: PortForwardBackend,
  params: URLSearchParams,
): Promise<void> {
  let protocol: string;
  let ports: number[] = [];
  try {
    protocol = chooseProtocol(req, [WS_PORT_FORWARD_TUNNEL_PROTOCOL, ...WS_PORT_FORWARD_CHANNEL_PROTOCOLS], 'channel.k8s.io');
    if (protocol !== WS_PORT_FORWARD_TUNNEL_PROTOCOL) ports = portForwardPorts(params);
  } catch (e) {
    sendStatusOnSocket(socket, e);
    return;
  }
  const ws = await upgrade(req, socket, head);
  if (protocol === WS_PORT_FORWARD_TUNNEL_PROTOCOL) {
    const conn = new SpdyConnection(webSocketDuplex(ws), { role: 'server' });
    await servePortForward(conn, pod, backend);
    return;
  }
  await serveChannelPortForward(ws, socket, framingOf(protocol), pod, backend, ports);
}

async function serveChannelPortForward(
  ws: WebSocket,
  socket: Duplex,
  f: ChannelFraming,
  pod: PodRef,
  backend: PortForwardBackend,
  ports: number[],
): Promise<void> {
  const pods: (Duplex | undefined)[] = [];
  const pending: Buffer[][] = ports.map(() => []);
  ws.on('error', (e) => log('port-forward websocket: %s', e.message));
  ws.on('message', (data: Buffer) => {
    const m = decodeChannel(f, data);
    if (typeof m === 'string') return log('port-forward: ignoring %s', m);
    // Only data channels are writable by the client; the error channels are the server's.
    if (m.channel % 2 !== 0 || m.channel / 2 >= ports.length) return log('port-forward: ignoring data on channel %d', m.channel);
    const i = m.channel / 2;
    const sock = pods[i];
    if (sock) {
      if (!sock.write(m.payload)) {
        ws.pause();
        sock.once('drain', () => ws.resume());
      }
    } else pending[i].push(m.payload);
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  // The port prefixes go out before anything else on each channel.
  await Promise.all(
    ports.flatMap((port, i) => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16LE(port);
      return [2 * i, 2 * i + 1].map((ch) => new Promise<void>((resolve) => sendChannel(ws, f, ch, prefix, resolve)));
    }),
  );
  const forwardOne = async (port: number, i: number): Promise<void> => {
    let sock: Duplex;
    try {
      sock = await backend.connect(pod, port);
    } catch (e) {
      const msg = `error forwarding port ${port} to pod ${pod.name}, uid ${pod.uid ?? ''}: ${e instanceof Error ? e.message : String(e)}`;
      await new Promise<void>((resolve) => sendChannel(ws, f, 2 * i + 1, Buffer.from(msg), resolve));
      return;
    }
    pods[i] = sock;
    for (const b of pending[i].splice(0)) sock.write(b);
    sock.on('error', (e) => log('pod connection for port %d: %s', port, e.message));
    const done = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    sock.pipe(new ChannelWriter(ws, f, 2 * i));
    await Promise.race([done, closed]);
    sock.destroy();
  };
  await Promise.all(ports.map(forwardOne));
  // Every pair is done (the pod closed or the client left): the connection ends, as the kubelet's does.
  if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  endAfterClose(socket);
}
