// The one entry point for pod streams (exec, attach, portforward, log): picks the transport the request
// asks for — WebSocket, SPDY/3.1 or plain HTTP — and serves it on top of the agent's backends.
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import { errors } from '../../api/status.js';
import type { PodRef, StreamBackends } from './backend.js';
import { serveLogs } from './logs.js';
import { PORT_FORWARD_PROTOCOL, servePortForward } from './portforward.js';
import { parseRemoteCommandParams } from './remotecommand.js';
import { SpdyConnection } from './spdy.js';
import { negotiateStreamProtocol, serveSpdyRemoteCommand } from './spdy-exec.js';
import { sendStatusOnSocket, sendStatusResponse } from './status.js';
import { unshiftHead, upgradeKind, writeSwitchingProtocols } from './upgrade.js';
import { serveWebSocketPortForward, serveWebSocketRemoteCommand } from './websocket.js';

const log = debuglog('k8ts:streams');

export type StreamKind = 'exec' | 'attach' | 'portforward' | 'log';

/**
 * Serves one pod stream request; resolves when the session is over. Call it from the HTTP server's
 * 'request' event with the response (logs, or an upgrade-less request that gets a 400) and from its
 * 'upgrade' event with the socket and head (exec, attach, portforward). Never rejects: every failure is
 * answered to the client as kubectl expects.
 */
export async function handleStream(
  req: IncomingMessage,
  target: ServerResponse | Duplex,
  head: Buffer,
  kind: StreamKind,
  pod: PodRef,
  params: URLSearchParams,
  backends: StreamBackends,
): Promise<void> {
  try {
    if (target instanceof ServerResponse) {
      if (kind === 'log') {
        await serveLogs(req, target, pod, params, backends.logs);
        return;
      }
      sendStatusResponse(
        target,
        errors.badRequest(`Upgrade request required: ${kind} needs "Connection: Upgrade" with "Upgrade: websocket" or "Upgrade: SPDY/3.1"`),
      );
      return;
    }
    await upgraded(req, target, head, kind, pod, params, backends);
  } catch (e) {
    log('%s for %s/%s failed: %s', kind, pod.namespace, pod.name, (e as Error).stack ?? e);
    if (target instanceof ServerResponse) sendStatusResponse(target, e);
    else if (!target.destroyed) target.destroy();
  }
}

async function upgraded(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  kind: StreamKind,
  pod: PodRef,
  params: URLSearchParams,
  backends: StreamBackends,
): Promise<void> {
  socket.on('error', (e) => log('%s socket: %s', kind, e.message));
  const transport = upgradeKind(req);
  if (kind === 'log') {
    sendStatusOnSocket(socket, errors.badRequest('log is served as a plain GET, not over an upgraded connection'));
    return;
  }
  if (!transport) {
    const offered = req.headers.upgrade ?? '(none)';
    sendStatusOnSocket(
      socket,
      errors.badRequest(`Upgrade request required: ${kind} needs "Upgrade: websocket" or "Upgrade: SPDY/3.1" (got ${JSON.stringify(offered)})`),
    );
    return;
  }
  if (kind === 'portforward') {
    const backend = backends.portForward;
    if (!backend) {
      sendStatusOnSocket(socket, errors.badRequest('portforward is not supported by this node (no port-forward backend)'));
      return;
    }
    if (transport === 'websocket') {
      await serveWebSocketPortForward(req, socket, head, pod, backend, params);
      return;
    }
    let protocol: string;
    try {
      protocol = negotiateStreamProtocol(req, [PORT_FORWARD_PROTOCOL]);
    } catch (e) {
      sendStatusOnSocket(socket, e);
      return;
    }
    writeSwitchingProtocols(socket, { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocol });
    unshiftHead(socket, head);
    await servePortForward(new SpdyConnection(socket, { role: 'server' }), pod, backend);
    return;
  }
  let r;
  try {
    r = parseRemoteCommandParams(kind, params);
  } catch (e) {
    sendStatusOnSocket(socket, e);
    return;
  }
  if (transport === 'websocket') await serveWebSocketRemoteCommand(req, socket, head, r, pod, backends);
  else await serveSpdyRemoteCommand(req, socket, head, r, pod, backends);
}
