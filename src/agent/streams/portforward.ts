// Port-forward over a SPDY connection (portforward.k8s.io): per forwarded client connection kubectl opens
// an `error` and a `data` stream sharing a `requestid`; data is piped to a TCP connection into the pod.
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import type { PodRef, PortForwardBackend } from './backend.js';
import { STREAM_CREATION_TIMEOUT_MS, type SpdyConnection, type SpdyStream } from './spdy.js';
import { RstStatus } from './spdy-frames.js';

const log = debuglog('k8ts:streams');

export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

/** Why a stream cannot be part of a forward (the kubelet refuses such streams), or undefined. */
function invalid(s: SpdyStream): string | undefined {
  const port = s.headers.port;
  if (!port) return '"port" header is required';
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `unable to parse "${port}" as a port`;
  const type = s.headers.streamtype;
  if (!type) return '"streamtype" header is required';
  if (type !== 'error' && type !== 'data') return `invalid stream type "${type}"`;
  return undefined;
}

/** Old clients sent no request id; their error and data streams were consecutive odd ids. */
function requestId(s: SpdyStream): string {
  return s.headers.requestid ?? String(s.headers.streamtype === 'data' ? s.id - 2 : s.id);
}

function endQuietly(s: SpdyStream | undefined): void {
  if (s && !s.destroyed && !s.writableEnded) s.end();
}

/** Forwards one connection's bytes both ways with half-closes, then ends the error stream (kubectl waits
 *  for its end before it finishes the connection). A failure to connect is written as text on `error`. */
async function forward(pod: PodRef, backend: PortForwardBackend, error: SpdyStream, data: SpdyStream): Promise<void> {
  const port = Number(data.headers.port);
  let sock: Duplex;
  try {
    sock = await backend.connect(pod, port);
  } catch (e) {
    const msg = `error forwarding port ${port} to pod ${pod.name}, uid ${pod.uid ?? ''}: ${e instanceof Error ? e.message : String(e)}`;
    log('%s', msg);
    if (!error.destroyed) error.end(msg);
    endQuietly(data);
    return;
  }
  if (data.destroyed) {
    sock.destroy();
    endQuietly(error);
    return;
  }
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      sock.destroy();
      endQuietly(data);
      endQuietly(error);
      resolve();
    };
    sock.on('error', (e) => log('pod connection for port %d: %s', port, e.message));
    data.on('error', (e) => log('data stream %d: %s', data.id, e.message));
    data.pipe(sock); // client FIN → half-close towards the pod
    sock.pipe(data); // pod closes → FIN to the client
    sock.on('close', finish);
    data.on('close', finish); // kubectl resets the data stream once it has our FIN
  });
}

/** Serves port-forward streams on `conn` until it closes. */
export function servePortForward(conn: SpdyConnection, pod: PodRef, backend: PortForwardBackend): Promise<void> {
  const pairs = new Map<string, Pair>();
  conn.on('stream', (s) => {
    const why = invalid(s);
    if (why) {
      log('refusing stream %d: %s', s.id, why);
      s.reset(RstStatus.RefusedStream);
      return;
    }
    s.reply();
    const id = requestId(s);
    let pair = pairs.get(id);
    if (!pair) {
      const p: Pair = {
        timer: setTimeout(() => {
          pairs.delete(id);
          const msg = `(conn=${pod.name}, request=${id}) timed out waiting for streams`;
          if (p.error && !p.error.destroyed) p.error.end(msg);
          endQuietly(p.data);
        }, STREAM_CREATION_TIMEOUT_MS),
      };
      pair = p;
      pairs.set(id, p);
    }
    const type = s.headers.streamtype as 'error' | 'data';
    if (pair[type]) {
      // A second stream of the same type for one request: report it on the error stream, refuse it.
      pair.error?.write(`error processing stream for request ${id}: ${type} stream already assigned`);
      s.reset(RstStatus.ProtocolError);
      return;
    }
    pair[type] = s;
    if (pair.error && pair.data) {
      clearTimeout(pair.timer);
      pairs.delete(id);
      // The client never writes on the error stream; drain it so its FIN is seen.
      pair.error.resume();
      void forward(pod, backend, pair.error, pair.data);
    }
  });
  return new Promise((resolve) =>
    conn.once('close', () => {
      for (const p of pairs.values()) clearTimeout(p.timer);
      resolve();
    }),
  );
}
