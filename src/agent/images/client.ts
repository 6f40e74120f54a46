// The OCI distribution client: manifests and blobs over Node's http/https from one endpoint, with the
// registry auth flows (anonymous, Basic, and Bearer tokens fetched from the WWW-Authenticate realm, cached
// per scope), redirects (blob storage elsewhere gets no Authorization) and bounded bodies.
import { asNumber, asObj, asString, objs } from '../../api/narrow.js';
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { NotFoundError, UnauthorizedError } from './errors.js';
import { MANIFEST_ACCEPT } from './manifest.js';
import type { Credentials, Endpoint } from './registries.js';

export const USER_AGENT = 'k8ts/0.1 (containerd-compatible puller)';
const MAX_MANIFEST = 4 << 20;
const MAX_TOKEN = 1 << 20;
const MAX_REDIRECTS = 5;

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` (several challenges allowed). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  for (const h of Array.isArray(header) ? header : header ? [header] : []) {
    const re = /\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)((?:\s*,?\s*[A-Za-z0-9_.-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^,\s]*))*)/y;
    let m: RegExpExecArray | null;
    while ((m = re.exec(h)) && m[0].length) {
      const params: Record<string, string> = {};
      const pre = /([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
      let p: RegExpExecArray | null;
      while ((p = pre.exec(m[2]))) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
      out.push({ scheme: m[1].toLowerCase(), params });
      if (re.lastIndex < h.length && h[re.lastIndex] === ',') re.lastIndex++;
    }
  }
  return out;
}

interface CachedToken {
  header: string;
  expires: number;
}

/** Tokens by realm, service, scope and who asked: a pull of a cached image costs no token round trip. */
const tokens = new Map<string, CachedToken>();

const agents = new Map<string, http.Agent>();

function agentFor(ep: Endpoint): http.Agent {
  const key = `${ep.url}|${ep.tls.insecureSkipVerify ? 1 : 0}|${ep.tls.ca?.length ?? 0}|${ep.tls.cert ? createHash('sha256').update(ep.tls.cert).digest('hex') : ''}`;
  let a = agents.get(key);
  if (!a) {
    a = ep.url.startsWith('https:')
      ? new https.Agent({ keepAlive: true, maxSockets: 8, ca: ep.tls.ca, cert: ep.tls.cert, key: ep.tls.key, rejectUnauthorized: !ep.tls.insecureSkipVerify })
      : new http.Agent({ keepAlive: true, maxSockets: 8 });
    agents.set(key, a);
  }
  return a;
}

/** Ends idle keep-alive sockets (tests, CLI exit). */
export function closeAgents(): void {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Readable;
  url: string;
}

const CERT_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
]);

function describeNetError(url: string, e: NodeJS.ErrnoException): Error {
  const host = new URL(url).host;
  let msg: string;
  if (e.code && CERT_ERRORS.has(e.code)) {
    msg = `registry ${host}: its TLS certificate is not trusted: ${e.message} (give its CA as configs."${host}".tls.ca_file in registries.yaml)`;
  } else if (e.code === 'EPROTO' || /wrong version number/.test(e.message)) {
    msg = `registry ${host}: the TLS handshake failed, it does not speak HTTPS there (a plain-HTTP registry needs an http:// endpoint under mirrors."${host}" in registries.yaml)`;
  } else {
    const why =
      e.code === 'ECONNREFUSED'
        ? 'connection refused'
        : e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH'
          ? 'no route to host'
          : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN'
            ? 'name does not resolve'
            : e.code === 'ETIMEDOUT' || e.code === 'ESOCKETTIMEDOUT'
              ? 'timed out'
              : e.message;
    msg = `registry ${host} is unreachable: ${why} (${e.code ?? 'error'} on ${url.split('?')[0]})`;
  }
  const err = new Error(msg);
  // Another endpoint (a mirror, or the registry itself) may still answer.
  (err as { unreachable?: boolean }).unreachable = true;
  return err;
}

/** One endpoint of one repository, with the credentials to try there. */
export class RegistrySession {
  private auth?: string;
  private readonly tried = new Set<string>();

  constructor(
    readonly ep: Endpoint,
    private readonly creds: Credentials[],
    private readonly timeoutMs = 30_000,
  ) {}

  private base(): string {
    return `${this.ep.url}${this.ep.prefix}/v2/${this.ep.path}`;
  }

  private request(method: string, url: string, headers: Record<string, string>, redirects = 0): Promise<Response> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const mod = u.protocol === 'https:' ? https : http;
      const sameOrigin = u.origin === this.ep.url;
      const req = mod.request(
        u,
        {
          method,
          headers: { 'user-agent': USER_AGENT, ...headers },
          timeout: this.timeoutMs,
          // Storage a registry redirects to gets the system CAs only, as Docker does.
          agent: sameOrigin ? agentFor(this.ep) : undefined,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
            res.resume();
            if (redirects >= MAX_REDIRECTS) return reject(new Error(`${url}: more than ${MAX_REDIRECTS} redirects`));
            const next = new URL(res.headers.location, url);
            const h = { ...headers };
            if (next.origin !== this.ep.url) delete h.authorization;
            return resolve(this.request(method === 'HEAD' ? 'HEAD' : 'GET', next.href, h, redirects + 1));
          }
          resolve({ status, headers: res.headers, body: res, url });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => reject(describeNetError(url, e)));
      req.end();
    });
  }

  /** A request with auth: on 401, answers the challenge with each credential in turn (then anonymously). */
  private async authed(method: string, url: string, headers: Record<string, string>): Promise<Response> {
    for (let round = 0; ; round++) {
      const res = await this.request(method, url, { ...headers, ...(this.auth ? { authorization: this.auth } : {}) });
      if (res.status !== 401 || round > this.creds.length + 1) return res;
      const challenges = parseChallenges(res.headers['www-authenticate']);
      res.body.resume();
      const next = await this.answer(challenges, url);
      if (!next) return { ...res, body: res.body };
      this.auth = next;
    }
  }

  /** The Authorization header for the next credential not yet refused; undefined when none is left. */
  private async answer(challenges: Challenge[], url: string): Promise<string | undefined> {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    const candidates: (Credentials | undefined)[] = [...this.creds, undefined];
    for (const c of candidates) {
      const id = `${bearer ? 'bearer' : 'basic'}:${c ? `${c.source}:${c.username ?? ''}` : 'anonymous'}`;
      if (this.tried.has(id)) continue;
      this.tried.add(id);
      if (bearer) {
        try {
          return await this.token(bearer, c);
        } catch (e) {
          if (e instanceof UnauthorizedError) continue;
          throw e;
        }
      }
      if (basic && c && c.username !== undefined) return `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    }
    if (!bearer && !basic) throw new UnauthorizedError(`${this.ep.host} answered 401 to ${url.split('?')[0]} without a Basic or Bearer challenge`);
    return undefined;
  }

  private async token(ch: Challenge, c: Credentials | undefined): Promise<string> {
    const realm = ch.params.realm;
    if (!realm) throw new UnauthorizedError(`${this.ep.host}: Bearer challenge without a realm`);
    let u: URL;
    try {
      u = new URL(realm);
    } catch {
      throw new UnauthorizedError(`${this.ep.host}: Bearer realm ${JSON.stringify(realm)} is not a URL`);
    }
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && this.ep.url.startsWith('http:'))) {
      throw new UnauthorizedError(`${this.ep.host}: token realm ${realm} is not HTTPS (plain HTTP is allowed only for a registry configured over http://)`);
    }
    const scope = ch.params.scope ?? `repository:${this.ep.path}:pull`;
    const key = `${realm}|${ch.params.service ?? ''}|${scope}|${c ? `${c.source}:${c.username}` : ''}`;
    const hit = tokens.get(key);
    if (hit && hit.expires > Date.now()) return hit.header;
    if (ch.params.service) u.searchParams.set('service', ch.params.service);
    for (const s of scope.split(' ')) u.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (c?.username !== undefined && !c.identityToken) headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    if (c?.identityToken) {
      // A refresh token goes to the OAuth2 side of the token endpoint (POST, form-encoded).
      u.searchParams.set('grant_type', 'refresh_token');
      u.searchParams.set('refresh_token', c.identityToken);
      u.searchParams.set('client_id', 'k8ts');
    }
    const res = await new Promise<Response>((resolve, reject) => {
      const mod = u.protocol === 'https:' ? https : http;
      const same = u.origin === this.ep.url;
      const req = mod.request(
        u,
        {
          method: 'GET',
          headers: { 'user-agent': USER_AGENT, ...headers },
          timeout: this.timeoutMs,
          agent: same ? agentFor(this.ep) : undefined,
          ...(!same && this.ep.tls.ca ? { ca: this.ep.tls.ca } : {}),
        },
        (r) => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: r, url: u.href }),
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => reject(describeNetError(u.href, e)));
      req.end();
    });
    const body = await readBody(res.body, MAX_TOKEN);
    if (res.status === 401 || res.status === 403) {
      throw new UnauthorizedError(
        `the token server ${u.host} refused ${c ? `the credentials of ${c.source} (user ${JSON.stringify(c.username ?? '')})` : 'an anonymous token'}: ${res.status}`,
      );
    }
    if (res.status !== 200) throw new Error(`the token server ${u.host} answered ${res.status}: ${body.toString('utf8').slice(0, 200)}`);
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      throw new Error(`the token server ${u.host} did not answer JSON`);
    }
    const j = asObj(doc);
    const tok = asString(j.token) || asString(j.access_token);
    if (!tok) throw new Error(`the token server ${u.host} answered no token`);
    const expires = asNumber(j.expires_in);
    const life = expires !== undefined && expires > 0 ? expires : 60;
    const header = `Bearer ${tok}`;
    tokens.set(key, { header, expires: Date.now() + Math.max(0, life - 10) * 1000 });
    return header;
  }

  /** GET a manifest by tag or digest; NotFoundError on 404, UnauthorizedError on 401/403. */
  async manifest(reference: string): Promise<{ body: Buffer; contentType: string; digest: string }> {
    const url = `${this.base()}/manifests/${reference}`;
    const res = await this.authed('GET', url, { accept: MANIFEST_ACCEPT });
    if (res.status !== 200) throw await this.failure(res, `manifest ${reference}`);
    const body = await readBody(res.body, MAX_MANIFEST);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    return { body, contentType: String(res.headers['content-type'] ?? ''), digest };
  }

  /** Opens a blob; the caller verifies its digest while reading. */
  async blob(digest: string): Promise<{ body: Readable; length?: number }> {
    const res = await this.authed('GET', `${this.base()}/blobs/${digest}`, {});
    if (res.status !== 200) throw await this.failure(res, `blob ${digest}`);
    const len = Number(res.headers['content-length']);
    return { body: res.body, length: Number.isFinite(len) ? len : undefined };
  }

  private async failure(res: Response, what: string): Promise<Error> {
    const text = (await readBody(res.body, 64 << 10).catch(() => Buffer.alloc(0))).toString('utf8');
    let detail = '';
    try {
      const errs = asObj(JSON.parse(text)).errors;
      if (Array.isArray(errs))
        detail = objs(errs)
          .map((e) => [asString(e.code), asString(e.message)].filter(Boolean).join(': '))
          .join('; ');
    } catch {
      detail = text.trim().slice(0, 200);
    }
    const where = `${this.ep.host}/${this.ep.path}`;
    if (res.status === 404) return new NotFoundError(`${what} not found in ${where}${detail ? ` (${detail})` : ''}`);
    if (res.status === 401 || res.status === 403) {
      const who = this.creds.length
        ? `with the credentials of ${this.creds.map((c) => c.source).join(', ')}`
        : 'anonymously (no imagePullSecret or registries.yaml credentials match this registry)';
      return new UnauthorizedError(
        `${where}: ${res.status === 401 ? '401 Unauthorized' : '403 Forbidden'} for ${what}, tried ${who}${detail ? ` (${detail})` : ''}`,
      );
    }
    return new Error(`${where}: ${what}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`);
  }
}

export async function readBody(r: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of r) {
    n += (c as Buffer).length;
    if (n > limit) {
      r.destroy();
      throw new Error(`response larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
