// Test and benchmark helpers: a real registry (Debian's docker-registry) started on an address of the
// test's choosing, with htpasswd or token auth and TLS; images built from this machine's Debian files (a
// python3 web server: the binary, the libraries ldd names and the stdlib modules it loads, in three layers
// with a whiteout and an opaque directory); and our own push code (monolithic blob uploads, manifests,
// indexes) to put them there.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { dirname, join, posix } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { MT, hostPlatform, type Platform } from './manifest.js';

export const PYTHON = '/usr/bin/python3.11';

export interface LayerEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device';
  data?: Buffer | string;
  mode?: number;
  linkname?: string;
  uid?: number;
  gid?: number;
}

export interface BuiltLayer {
  blob: Buffer;
  digest: string;
  diffID: string;
  size: number;
  mediaType: string;
}

export interface BuiltImage {
  config: Buffer;
  configDigest: string;
  layers: BuiltLayer[];
  manifest: Buffer;
  manifestDigest: string;
  mediaType: string;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function tarOf(entries: LayerEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((r, j) => {
    p.on('end', r);
    p.on('error', j);
  });
  const mtime = new Date(1_700_000_000_000);
  for (const e of entries) {
    const type = e.type ?? 'file';
    const h = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), mtime, uid: e.uid ?? 0, gid: e.gid ?? 0, linkname: e.linkname };
    if (type === 'file') p.entry(h, typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0)));
    else p.entry(h);
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function buildLayer(entries: LayerEntry[], compression: 'gzip' | 'zstd' | 'none' = 'gzip'): Promise<BuiltLayer> {
  const tar = await tarOf(entries);
  const blob =
    compression === 'gzip'
      ? gzipSync(tar, { level: 6 })
      : compression === 'zstd'
        ? execFileSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 })
        : tar;
  const mediaType = compression === 'gzip' ? MT.ociLayerGzip : compression === 'zstd' ? MT.ociLayerZstd : MT.ociLayer;
  return { blob, digest: sha(blob), diffID: sha(tar), size: blob.length, mediaType };
}

export function buildImage(layers: BuiltLayer[], config: Record<string, unknown>, opts: { platform?: Platform; docker?: boolean } = {}): BuiltImage {
  const plat = opts.platform ?? hostPlatform();
  const cfg = Buffer.from(
    JSON.stringify({
      architecture: plat.architecture,
      os: plat.os,
      ...(plat.variant ? { variant: plat.variant } : {}),
      config,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    }),
  );
  const docker = !!opts.docker;
  const mediaType = docker ? MT.dockerManifest : MT.ociManifest;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: docker ? MT.dockerConfig : MT.ociConfig, digest: sha(cfg), size: cfg.length },
      layers: layers.map((l) => ({ mediaType: docker && l.mediaType === MT.ociLayerGzip ? MT.dockerLayerGzip : l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
  return { config: cfg, configDigest: sha(cfg), layers, manifest, manifestDigest: sha(manifest), mediaType };
}

/** Files of the host, as layer entries under the same paths (symlinks kept, directories made). */
function hostEntries(paths: string[]): LayerEntry[] {
  const out: LayerEntry[] = [];
  const dirs = new Set<string>();
  const addDirs = (p: string) => {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        out.push({ name: `${d}/`, type: 'directory' });
      }
    }
  };
  for (const p of [...new Set(paths)].sort()) {
    addDirs(p);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out.push({ name: p.slice(1), type: 'symlink', linkname: readlinkSync(p) });
    else out.push({ name: p.slice(1), data: readFileSync(p), mode: st.mode & 0o7777 });
  }
  return out;
}

/** The shared libraries a binary needs, as ldd lists them (with the symlinks that lead to them). */
export function lddFiles(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const files: string[] = [];
  for (const m of out.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) {
    let p = m[1];
    files.push(p);
    while (lstatSync(p).isSymbolicLink()) {
      p = posix.resolve(dirname(p), readlinkSync(p));
      files.push(p);
    }
  }
  return files;
}

/** The stdlib files Debian's python3.11 loads to run `-m http.server` (and to answer requests). */
export function pythonModules(all = false): string[] {
  if (all) {
    const out: string[] = [];
    const walk = (d: string) => {
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        if (n === '__pycache__' || n === 'test' || n === 'dist-packages' || n === 'site-packages' || n === 'idlelib' || n === 'tkinter' || n === 'turtledemo')
          continue;
        const st = lstatSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile()) out.push(p);
      }
    };
    walk('/usr/lib/python3.11');
    return out;
  }
  const script = `
import runpy, sys, atexit
import http.server, socketserver, mimetypes, shutil, email.utils, html, urllib.parse, io, select, selectors, datetime, time, posixpath, os, stat, socket, encodings.idna, stringprep, unicodedata
socket.getaddrinfo('0.0.0.0', 8080, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
def dump():
    for m in list(sys.modules.values()):
        f = getattr(m, '__file__', None)
        if f and f.startswith('/usr/lib/python3.11/'): sys.stderr.write(f + '\\n')
atexit.register(dump)
sys.argv = ['x', '--help']
runpy.run_module('http.server', run_name='__main__')
`;
  const r = spawnSync(PYTHON, ['-S', '-c', script], { encoding: 'utf8' });
  return r.stderr.split('\n').filter((l) => l.startsWith('/usr/lib/python3.11/'));
}

/**
 * Every file Debian's python3.11 loads to run `script` (stdlib and dist-packages modules, with the C
 * libraries their extension modules link): the closure an image needs to run that program, found by running
 * it on the host with an atexit hook that lists sys.modules. `script` must run to its end here too.
 */
export function pythonProgramFiles(script: string, env: Record<string, string> = {}): string[] {
  const hook = `
import sys, atexit
def _dump():
    for m in list(sys.modules.values()):
        f = getattr(m, '__file__', None)
        if f and f.startswith('/usr/lib/'): sys.stderr.write('@@' + f + '\\n')
atexit.register(_dump)
`;
  const r = spawnSync(PYTHON, ['-c', hook + script], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0)
    throw new Error(
      `${PYTHON} could not run the program to list its modules: ${r.stderr
        .split('\n')
        .filter((l) => !l.startsWith('@@'))
        .join('\n')
        .slice(-1500)}`,
    );
  const files = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('@@'))
    .map((l) => l.slice(2));
  // A package's data files beside its modules (certifi's cacert.pem and the like) come along with its directory.
  const out = new Set<string>([PYTHON, ...lddFiles(PYTHON)]);
  for (const f of files) {
    out.add(f);
    if (f.endsWith('.so')) for (const l of lddFiles(f)) out.add(l);
    if (f.endsWith('/__init__.py')) {
      const dir = dirname(f);
      for (const n of readdirSync(dir)) {
        const p = join(dir, n);
        if (lstatSync(p).isFile() && !n.endsWith('.pyc')) out.add(p);
      }
    }
  }
  // The site module reads the .pth files of dist-packages; the encodings package is needed before any import.
  for (const f of pythonModules()) out.add(f);
  return [...out];
}

/**
 * An image that runs the official Python client (Debian's python3-kubernetes) as a workload would: python3
 * with exactly the modules and libraries `script` loads on the host (run there once with `env`), running
 * `script` as user 1000.
 */
export async function pythonScriptImage(script: string, env: Record<string, string> = {}): Promise<BuiltImage> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} not found: apt-get install python3.11-minimal`);
  const l1 = await buildLayer([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/srv:/bin/false\n' },
    { name: 'etc/group', data: 'root:x:0:\napp:x:1000:\n' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    ...hostEntries(pythonProgramFiles(script, env)),
    { name: 'usr/bin/python3', type: 'symlink', linkname: 'python3.11' },
    { name: 'srv/', type: 'directory' },
    { name: 'srv/main.py', data: script },
  ]);
  return buildImage([l1], { Entrypoint: ['/usr/bin/python3', '/srv/main.py'], WorkingDir: '/srv', User: '1000:1000', Env: ['PYTHONDONTWRITEBYTECODE=1'] });
}

export interface PythonImageOptions {
  /** The whole stdlib (~50 MB unpacked, for benchmarks) instead of the modules http.server needs. */
  fullStdlib?: boolean;
  compression?: 'gzip' | 'zstd' | 'none';
  docker?: boolean;
  platform?: Platform;
  /** Text of /srv/index.html. */
  index?: string;
}

/**
 * A python3 web server image in three layers: (1) the C libraries, /etc/passwd and /etc/group with a user
 * `www` (1000) and a group `staff` it belongs to, /srv/junk.txt and /srv/old/stale.txt; (2) python and its
 * stdlib; (3) a whiteout of /srv/junk.txt, /srv/old made opaque with new.txt in it, and /srv/index.html.
 * Runs as `www` in /srv: `python3 -S -m http.server 8080`.
 */
export async function pythonImage(o: PythonImageOptions = {}): Promise<BuiltImage> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} not found: apt-get install python3.11-minimal`);
  const c = o.compression ?? 'gzip';
  const libs = hostEntries(lddFiles(PYTHON));
  const l1 = await buildLayer(
    [
      ...libs,
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\nwww:x:1000:1000:web:/srv:/bin/false\n' },
      { name: 'etc/group', data: 'root:x:0:\nwww:x:1000:\nstaff:x:50:www\n' },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
      { name: 'srv/', type: 'directory' },
      { name: 'srv/junk.txt', data: 'this file is whited out by the top layer\n' },
      { name: 'srv/old/', type: 'directory' },
      { name: 'srv/old/stale.txt', data: 'hidden by the opaque directory above\n' },
    ],
    c,
  );
  const l2 = await buildLayer(
    [...hostEntries([PYTHON, ...pythonModules(o.fullStdlib)]), { name: 'usr/bin/python3', type: 'symlink', linkname: 'python3.11' }],
    c,
  );
  const l3 = await buildLayer(
    [
      { name: 'srv/', type: 'directory' },
      { name: 'srv/.wh.junk.txt' },
      { name: 'srv/old/', type: 'directory' },
      { name: 'srv/old/.wh..wh..opq' },
      { name: 'srv/old/new.txt', data: 'new\n' },
      { name: 'srv/index.html', data: o.index ?? '<h1>hello from a k8ts test image</h1>\n', uid: 1000, gid: 1000 },
    ],
    c,
  );
  return buildImage(
    [l1, l2, l3],
    {
      Entrypoint: ['/usr/bin/python3', '-S'],
      Cmd: ['-m', 'http.server', '--bind', '0.0.0.0', '8080'],
      WorkingDir: '/srv',
      User: 'www',
      Env: ['PYTHONDONTWRITEBYTECODE=1', 'GREETING=from-image'],
      ExposedPorts: { '8080/tcp': {} },
    },
    { platform: o.platform, docker: o.docker },
  );
}

// ---- a registry ----

export interface RegistryOptions {
  dir: string;
  host?: string;
  /** A fixed port (a registry restarted on its old address); a free one when absent. */
  port?: number;
  htpasswd?: { user: string; password: string };
  token?: { realm: string; service: string; issuer: string; certFile: string };
  tls?: { certFile: string; keyFile: string };
}

export interface TestRegistry {
  /** host:port */
  addr: string;
  url: string;
  storage: string;
  stop(): Promise<void>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitPort(host: string, port: number, child: ChildProcess, log: () => string): Promise<void> {
  const end = Date.now() + 15_000;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log()}`);
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, host, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not listen on ${host}:${port}: ${log()}`);
}

/** Starts Debian's docker-registry with its own storage under dir. */
export async function startRegistry(o: RegistryOptions): Promise<TestRegistry> {
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? (await freePort(host));
  mkdirSync(o.dir, { recursive: true });
  const storage = join(o.dir, 'storage');
  let auth = '';
  if (o.htpasswd) {
    const line = execFileSync('htpasswd', ['-Bbn', o.htpasswd.user, o.htpasswd.password], { encoding: 'utf8' }).trim();
    writeFileSync(join(o.dir, 'htpasswd'), `${line}\n`);
    auth = `auth:\n  htpasswd:\n    realm: k8ts-test\n    path: ${join(o.dir, 'htpasswd')}\n`;
  } else if (o.token) {
    auth = `auth:\n  token:\n    realm: ${o.token.realm}\n    service: ${o.token.service}\n    issuer: ${o.token.issuer}\n    rootcertbundle: ${o.token.certFile}\n`;
  }
  const tls = o.tls ? `  tls:\n    certificate: ${o.tls.certFile}\n    key: ${o.tls.keyFile}\n` : '';
  writeFileSync(
    join(o.dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}:${port}\n${tls}${auth}`,
  );
  const child = spawn('docker-registry', ['serve', join(o.dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  await waitPort(host, port, child, () => err);
  const addr = `${host}:${port}`;
  return {
    addr,
    url: `${o.tls ? 'https' : 'http'}://${addr}`,
    storage,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Where docker-registry's filesystem driver keeps a blob (to corrupt it in tests). */
export function registryBlobPath(storage: string, digest: string): string {
  const hex = digest.slice(7);
  return join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

// ---- pushing ----

export interface PushTarget {
  url: string;
  /** Authorization header value, if the registry wants one. */
  auth?: string;
  /** For https registries with a test CA. */
  ca?: string;
}

function req(
  t: PushTarget,
  method: string,
  path: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(path, t.url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const r = mod.request(
      u,
      {
        method,
        headers: { ...(t.auth ? { authorization: t.auth } : {}), ...(body ? { 'content-length': String(body.length) } : {}), ...headers },
        ...(t.ca ? { ca: t.ca } : {}),
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }));
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

export async function pushBlob(t: PushTarget, repo: string, digest: string, data: Buffer): Promise<void> {
  const head = await req(t, 'HEAD', `/v2/${repo}/blobs/${digest}`);
  if (head.status === 200) return;
  const start = await req(t, 'POST', `/v2/${repo}/blobs/uploads/`);
  if (start.status !== 202) throw new Error(`push ${repo} blob ${digest}: POST uploads: ${start.status} ${start.body}`);
  const loc = new URL(String(start.headers.location), t.url);
  loc.searchParams.set('digest', digest);
  const put = await req(t, 'PUT', loc.pathname + loc.search, data, { 'content-type': 'application/octet-stream' });
  if (put.status !== 201) throw new Error(`push ${repo} blob ${digest}: PUT: ${put.status} ${put.body}`);
}

export async function pushManifest(t: PushTarget, repo: string, ref: string, body: Buffer, mediaType: string): Promise<string> {
  const put = await req(t, 'PUT', `/v2/${repo}/manifests/${ref}`, body, { 'content-type': mediaType });
  if (put.status !== 201) throw new Error(`push ${repo}:${ref} manifest: ${put.status} ${put.body}`);
  return sha(body);
}

/** Pushes an image's blobs and manifest; tag may be undefined (by digest only). Returns the manifest digest. */
export async function pushImage(t: PushTarget, repo: string, tag: string | undefined, img: BuiltImage): Promise<string> {
  for (const l of img.layers) await pushBlob(t, repo, l.digest, l.blob);
  await pushBlob(t, repo, img.configDigest, img.config);
  return pushManifest(t, repo, tag ?? img.manifestDigest, img.manifest, img.mediaType);
}

/** An index of already pushed manifests, each with its platform. */
export function buildIndex(entries: { img: BuiltImage; platform: Platform }[], docker = false): { body: Buffer; digest: string; mediaType: string } {
  const mediaType = docker ? MT.dockerList : MT.ociIndex;
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: entries.map(({ img, platform }) => ({ mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifest.length, platform })),
    }),
  );
  return { body, digest: sha(body), mediaType };
}

// ---- a token server for the Bearer flow ----

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Requests it answered: [user or '-', scope, status]. */
  log: [string, string, number][];
  stop(): Promise<void>;
}

/**
 * A token server as docker-registry's token auth expects: Basic credentials in, an ES256 JWT out whose x5c
 * header carries a self-signed certificate that is also the registry's rootcertbundle.
 */
export async function startTokenServer(dir: string, users: Record<string, string>, host = '127.0.0.1'): Promise<TokenServer> {
  const { SignJWT, importPKCS8 } = await import('jose');
  mkdirSync(dir, { recursive: true });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  writeFileSync(keyFile, keyPem);
  execFileSync('openssl', ['req', '-new', '-x509', '-key', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=k8ts-test-token'], { stdio: 'ignore' });
  const der = Buffer.from(readFileSync(certFile, 'utf8').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const key = await importPKCS8(keyPem, 'ES256');
  const service = 'k8ts-test-registry';
  const issuer = 'k8ts-test-issuer';
  const log: [string, string, number][] = [];
  const server = http.createServer(async (rq, rs) => {
    const u = new URL(rq.url ?? '/', 'http://x');
    const scope = u.searchParams.getAll('scope').join(' ');
    const a = rq.headers.authorization ?? '';
    const [user, pass] = a.startsWith('Basic ') ? Buffer.from(a.slice(6), 'base64').toString().split(':', 2) : ['', ''];
    if (!user || users[user] !== pass) {
      log.push([user || '-', scope, 401]);
      rs.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const access = scope
      .split(' ')
      .filter(Boolean)
      .map((s) => {
        const [type, name, actions] = s.split(':');
        return { type, name, actions: actions.split(',') };
      });
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: 'ES256', x5c: [der.toString('base64')] })
      .setIssuer(issuer)
      .setSubject(user)
      .setAudience(u.searchParams.get('service') ?? service)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + 300)
      .setJti(randomBytes(8).toString('hex'))
      .sign(key);
    log.push([user, scope, 200]);
    rs.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  const port = await freePort(host);
  await new Promise<void>((r) => server.listen(port, host, r));
  return {
    realm: `http://${host}:${port}/token`,
    service,
    issuer,
    certFile,
    log,
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A token for pushing (the test's own push code speaks only Basic or a ready Bearer header). */
export async function tokenFor(ts: TokenServer, user: string, pass: string, scope: string): Promise<string> {
  const u = new URL(ts.realm);
  u.searchParams.set('service', ts.service);
  u.searchParams.set('scope', scope);
  const r = await fetch(u, { headers: { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` } });
  if (!r.ok) throw new Error(`token: ${r.status}`);
  return `Bearer ${((await r.json()) as { token: string }).token}`;
}

export function dirSize(p: string): number {
  const st = lstatSync(p);
  if (!st.isDirectory()) return st.blocks * 512;
  return readdirSync(p).reduce((a, n) => a + dirSize(join(p, n)), st.blocks * 512);
}
