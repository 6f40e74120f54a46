// HTTP/1.1 upgrade plumbing shared by the WebSocket and SPDY transports: which upgrade a request asks
// for, header lists, subprotocol negotiation, and the 101 answer on a raw socket.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

export type UpgradeKind = 'websocket' | 'spdy';

/** The upgrade the request offers, if it is one this server speaks. */
export function upgradeKind(req: IncomingMessage): UpgradeKind | undefined {
  const connection = headerValues(req, 'connection').map((v) => v.toLowerCase());
  if (!connection.includes('upgrade')) return undefined;
  const upgrade = headerValues(req, 'upgrade').map((v) => v.toLowerCase());
  if (upgrade.includes('websocket')) return 'websocket';
  if (upgrade.includes('spdy/3.1')) return 'spdy';
  return undefined;
}

/** All values of a header, whether repeated or comma-separated, trimmed, empty ones dropped. */
export function headerValues(req: IncomingMessage, name: string): string[] {
  const raw = req.headersDistinct[name.toLowerCase()] ?? [];
  return raw
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

/** The first protocol in the client's order that the server accepts (as Kubernetes' handshake picks). */
export function negotiate(offered: string[], accepted: readonly string[]): string | undefined {
  return offered.find((p) => accepted.includes(p));
}

/** Completes an upgrade by hand: the 101 status line and headers on the raw socket. */
export function writeSwitchingProtocols(socket: Duplex, headers: Record<string, string>): void {
  const lines = ['HTTP/1.1 101 Switching Protocols', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
}

/** Makes the bytes that arrived with the upgrade request readable again, ahead of the socket's own. */
export function unshiftHead(socket: Duplex, head: Buffer): void {
  if (head.length) socket.unshift(head);
}
