// Test support: a tiny HTTPS server on 127.0.0.1 that answers kubectl's discovery and records requests.

import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface CapturedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Answers a request that is not discovery; return false to let the harness answer 404. `raw` is the
 *  request itself, for handlers that take an IncomingMessage (its body is already read into `req.body`). */
export type Responder = (req: CapturedRequest, res: ServerResponse, raw: IncomingMessage) => boolean;

/** Takes over an authenticated upgrade request (WebSocket, SPDY); return false to let the harness answer 404. */
export type UpgradeResponder = (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

export interface HarnessOptions {
  upgrade?: UpgradeResponder;
}

export interface HarnessResource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const DEFAULT_RESOURCES: HarnessResource[] = [
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true },
];

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Harness {
  port: number;
  dir: string;
  token: string;
  requests: CapturedRequest[];
  /** Runs kubectl with HOME and KUBECONFIG inside the harness's temp dir (plus `env`). */
  kubectl(bin: string, args: string[], stdin?: string, env?: Record<string, string>): Promise<KubectlResult>;
  /** The environment kubectl runs with: PATH, HOME and KUBECONFIG for this harness. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Path of the versioned kubectl binary shipped beside `kubectl` (e.g. kubectl.1.32), if present. */
export function kubectlBinary(version: string): string | undefined {
  const paths = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const p of paths) {
    const k = join(p, 'kubectl');
    if (!existsSync(k)) continue;
    const bin = join(dirname(realpathSync(k)), `kubectl.${version}`);
    return existsSync(bin) ? bin : undefined;
  }
  return undefined;
}

/** Why a real-kubectl test cannot run here (for `skip`), or false if it can. */
export function skipReason(kubectlVersion: string): string | false {
  if (!kubectlBinary(kubectlVersion)) return `kubectl.${kubectlVersion} not found beside kubectl on PATH`;
  const onPath = (process.env.PATH ?? '').split(':').some((p) => p && existsSync(join(p, 'openssl')));
  return onPath ? false : 'openssl not found on PATH (Debian package openssl)';
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(data);
}

export function notFound(res: ServerResponse, what: string): void {
  sendJson(res, 404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `${what} not found`, reason: 'NotFound', code: 404 });
}

function discovery(resources: HarnessResource[], path: string): unknown | undefined {
  const groupVersions = [...new Set(resources.filter((r) => r.group !== '').map((r) => `${r.group}/${r.version}`))];
  if (path === '/api') return { kind: 'APIVersions', versions: ['v1'] };
  if (path === '/apis') {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: groupVersions.map((gv) => {
        const [name, version] = gv.split('/');
        return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
      }),
    };
  }
  const gv = path === '/api/v1' ? 'v1' : path.startsWith('/apis/') ? path.slice('/apis/'.length) : undefined;
  if (gv === undefined || (gv !== 'v1' && !groupVersions.includes(gv))) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv,
    resources: resources
      .filter((r) => (r.group === '' ? r.version : `${r.group}/${r.version}`) === gv)
      .map((r) => ({
        name: r.plural,
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
      })),
  };
}

/** Starts the server (self-signed cert from the openssl CLI) and writes a kubeconfig with a bearer token. */
export async function startHarness(respond: Responder, resources: HarnessResource[] = DEFAULT_RESOURCES, opts: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-pb-'));
  let server: Server | undefined;
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=k8ts-test',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'pipe' },
    );
    const token = 'k8ts-test-token';
    const requests: CapturedRequest[] = [];
    const srv = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const captured: CapturedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
        requests.push(captured);
        try {
          if (req.headers.authorization !== `Bearer ${token}`) {
            sendJson(res, 401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401, message: 'Unauthorized' });
            return;
          }
          const path = captured.url.split('?')[0];
          const disc = captured.method === 'GET' ? discovery(resources, path) : undefined;
          if (disc !== undefined) sendJson(res, 200, disc);
          else if (!respond(captured, res, req)) notFound(res, path);
        } catch (e) {
          sendJson(res, 500, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'InternalError', code: 500, message: String(e) });
        }
      });
    });
    server = srv;
    // Upgraded sockets leave the server's connection tracking; close() must end them itself.
    const upgraded = new Set<Duplex>();
    srv.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0) });
      upgraded.add(socket);
      socket.on('close', () => upgraded.delete(socket));
      socket.on('error', () => {});
      const reply = (code: number, status: string, body: unknown) => {
        const data = JSON.stringify(body);
        socket.end(
          `HTTP/1.1 ${code} ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(data)}\r\nConnection: close\r\n\r\n${data}`,
        );
      };
      if (req.headers.authorization !== `Bearer ${token}`) {
        reply(401, 'Unauthorized', { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401, message: 'Unauthorized' });
        return;
      }
      if (!opts.upgrade?.(req, socket, head)) {
        reply(404, 'Not Found', {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `${(req.url ?? '').split('?')[0]} not found`,
          reason: 'NotFound',
          code: 404,
        });
      }
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', resolve);
    });
    const port = (srv.address() as AddressInfo).port;
    writeFileSync(
      join(dir, 'kubeconfig'),
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: t`,
        `  cluster: {server: "https://127.0.0.1:${port}", certificate-authority: "${join(dir, 'cert.pem')}"}`,
        'users:',
        `- name: t`,
        `  user: {token: "${token}"}`,
        'contexts:',
        '- name: t',
        '  context: {cluster: t, user: t, namespace: default}',
        'current-context: t',
        '',
      ].join('\n'),
    );
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, KUBECONFIG: join(dir, 'kubeconfig') };
    return {
      port,
      dir,
      token,
      requests,
      env,
      kubectl(bin, args, stdin, extraEnv) {
        return new Promise((resolve) => {
          const child = execFile(
            bin,
            args,
            {
              env: { ...env, ...extraEnv },
              cwd: dir,
              timeout: 60_000,
              maxBuffer: 4 << 20,
            },
            (err, stdout, stderr) => {
              const code = err
                ? typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number'
                  ? (err as unknown as { code: number }).code
                  : null
                : 0;
              resolve({ code, stdout, stderr });
            },
          );
          child.stdin?.end(stdin ?? '');
        });
      },
      async close() {
        for (const s of upgraded) s.destroy();
        srv.closeAllConnections();
        await new Promise<void>((resolve) => srv.close(() => resolve()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    server?.closeAllConnections();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
