// exec/attach over SPDY/3.1 (kubectl ≤ 1.29, and later ones with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false):
// protocol negotiation, the client-opened error/stdin/stdout/stderr/resize streams, the Status at the end.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import { ApiError, errors } from '../../api/status.js';
import type { PodRef, StreamBackends } from './backend.js';
import { type RemoteCommandRequest, ResizeParser, runSession, startRemoteCommand } from './remotecommand.js';
import { STREAM_CREATION_TIMEOUT_MS, SpdyConnection, type SpdyStream } from './spdy.js';
import { RstStatus } from './spdy-frames.js';
import { type StreamStatus, sendStatusOnSocket } from './status.js';
import { headerValues, negotiate, unshiftHead, writeSwitchingProtocols } from './upgrade.js';

const log = debuglog('k8ts:streams');

/** Remote-command versions over SPDY, newest first. v5 behaves as v4 here (its addition is WebSocket-only);
 *  v4 made the error stream a JSON Status; v3 added the resize stream; v1/v2 write errors as plain text. */
export const SPDY_REMOTE_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;

/** Negotiates X-Stream-Protocol-Version as Kubernetes' handshake does; throws the HTTP error to answer. */
export function negotiateStreamProtocol(req: IncomingMessage, accepted: readonly string[]): string {
  const offered = headerValues(req, 'x-stream-protocol-version');
  if (offered.length === 0) throw errors.badRequest('unable to upgrade: X-Stream-Protocol-Version is required');
  const chosen = negotiate(offered, accepted);
  if (!chosen) {
    throw new ApiError(
      403,
      'Forbidden',
      `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${accepted.join(' ')}]`,
    );
  }
  return chosen;
}

interface ClientStreams {
  error?: SpdyStream;
  stdin?: SpdyStream;
  stdout?: SpdyStream;
  stderr?: SpdyStream;
  resize?: SpdyStream;
}

function waitForStreams(conn: SpdyConnection, expected: (keyof ClientStreams)[]): Promise<ClientStreams> {
  return new Promise((resolve, reject) => {
    const got: ClientStreams = {};
    const timer = setTimeout(
      () => finish(new Error(`timed out waiting for client to create streams (have ${Object.keys(got).join(', ') || 'none'}, want ${expected.join(', ')})`)),
      STREAM_CREATION_TIMEOUT_MS,
    );
    const onClose = () => finish(new Error('connection closed before the client created its streams'));
    const onStream = (s: SpdyStream) => {
      const type = s.headers.streamtype as keyof ClientStreams;
      if (!expected.includes(type) || got[type]) {
        log('unexpected stream type %s', s.headers.streamtype);
        s.reset(RstStatus.RefusedStream);
        return;
      }
      s.reply();
      got[type] = s;
      if (expected.every((t) => got[t])) finish();
    };
    const finish = (e?: Error) => {
      clearTimeout(timer);
      conn.off('stream', onStream);
      conn.off('close', onClose);
      if (e) reject(e);
      else resolve(got);
    };
    conn.on('stream', onStream);
    conn.on('close', onClose);
  });
}

function ended(s: SpdyStream | undefined): Promise<void> {
  if (!s || s.writableFinished || s.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    s.once('finish', resolve);
    s.once('close', resolve);
  });
}

/** Serves one exec/attach request that asked for `Upgrade: SPDY/3.1`, from the handshake to the close. */
export async function serveSpdyRemoteCommand(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  r: RemoteCommandRequest,
  pod: PodRef,
  backends: StreamBackends,
): Promise<void> {
  let protocol: string;
  let started;
  try {
    protocol = negotiateStreamProtocol(req, SPDY_REMOTE_COMMAND_PROTOCOLS);
    started = await startRemoteCommand(r, pod, backends);
  } catch (e) {
    sendStatusOnSocket(socket, e);
    return;
  }
  const proc = 'proc' in started ? started.proc : undefined;
  if (socket.destroyed) {
    proc?.kill();
    return;
  }
  writeSwitchingProtocols(socket, { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocol });
  unshiftHead(socket, head);
  const conn = new SpdyConnection(socket, { role: 'server' });
  const version = protocol === 'channel.k8s.io' ? 1 : Number(protocol[1]);
  const expected: (keyof ClientStreams)[] = ['error'];
  if (r.stdin) expected.push('stdin');
  if (r.stdout) expected.push('stdout');
  if (r.stderr) expected.push('stderr');
  if (r.tty && version >= 3) expected.push('resize');
  let streams: ClientStreams;
  try {
    streams = await waitForStreams(conn, expected);
  } catch (e) {
    log('exec over SPDY: %s', (e as Error).message);
    proc?.kill();
    conn.destroy();
    return;
  }
  let finished = false;
  conn.on('close', () => {
    if (!finished) proc?.kill();
  });
  if (streams.resize && proc) {
    const parser = new ResizeParser((w, h) => proc.resize(w, h));
    streams.resize.on('data', (c: Buffer) => parser.feed(c));
  }
  streams.resize?.on('error', () => {});
  const writeStatus = async (status: StreamStatus): Promise<void> => {
    const e = streams.error!;
    // v4+ read one JSON Status; older clients read plain text and treat any text as the error.
    if (version >= 4) e.write(JSON.stringify(status));
    else if (status.status !== 'Success') e.write(status.message ?? 'error');
    e.end();
    await ended(e);
  };
  await runSession(r, started, { stdin: streams.stdin ?? null, stdout: streams.stdout ?? null, stderr: streams.stderr ?? null, writeStatus });
  finished = true;
  // The client waits for our side of stdin to close before it returns (v2+).
  streams.stdin?.end();
  streams.resize?.end();
  await Promise.all([ended(streams.stdout), ended(streams.stderr), ended(streams.stdin)]);
  await conn.close();
}
