// Registry configuration in k3s's registries.yaml format: `mirrors` (per registry host, or "*": endpoints
// tried in order, then the registry itself, with optional regex rewrites of the repository path) and
// `configs` (per endpoint host: credentials and TLS). Parsed and proven once, at start.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { parse as parseYaml } from 'yaml';
import { DOCKER_HUB, DOCKER_HUB_API } from './reference.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** A refresh token (Docker's identitytoken), exchanged at the token endpoint with grant_type=refresh_token. */
  identityToken?: string;
  /** Where they came from, for messages: `registries.yaml`, `imagePullSecret ns/name`. */
  source: string;
}

export interface TlsConfig {
  /** PEM CA certificates: the system's and the configured file's. */
  ca?: string[];
  cert?: Buffer;
  key?: Buffer;
  insecureSkipVerify?: boolean;
}

/** One place to ask for an image. */
export interface Endpoint {
  /** `https://host:port` (or http:// where configured). */
  url: string;
  /** host[:port] of the URL: what credentials are matched against. */
  host: string;
  /** Path before /v2/ (usually empty). */
  prefix: string;
  /** The repository path at this endpoint (after rewrites). */
  path: string;
  tls: TlsConfig;
  credentials?: Credentials;
  /** A mirror rather than the registry named by the reference. */
  mirror: boolean;
}

interface Mirror {
  endpoints: URL[];
  rewrites: [RegExp, string][];
}

export class RegistriesConfigError extends Error {
  readonly code = 'BadRegistriesConfig';
}

const HOST =
  /^(?:\*|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?|\[[0-9a-fA-F:.]+\](?::[0-9]{1,5})?)$/;

function keysOnly(o: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new RegistriesConfigError(`${where}: unknown field "${k}" (known: ${allowed.join(', ')})`);
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new RegistriesConfigError(`${where}: expected a mapping`);
  return v as Record<string, unknown>;
}

function str(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new RegistriesConfigError(`${where}: expected a string`);
  return v;
}

export class Registries {
  private mirrors = new Map<string, Mirror>();
  private configs = new Map<string, { tls: TlsConfig; credentials?: Credentials }>();

  /** An empty configuration: every registry over HTTPS with the system CAs, anonymously. */
  static empty(): Registries {
    return new Registries();
  }

  /** Reads and proves registries.yaml; every problem is a RegistriesConfigError naming the field. */
  static fromFile(file: string): Registries {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new RegistriesConfigError(`${file}: ${(e as Error).message}`);
    }
    return Registries.parse(text, file);
  }

  static parse(text: string, file = 'registries.yaml'): Registries {
    let doc: unknown;
    try {
      doc = parseYaml(text) ?? {};
    } catch (e) {
      throw new RegistriesConfigError(`${file}: not YAML: ${(e as Error).message}`);
    }
    const r = new Registries();
    const top = obj(doc, file);
    keysOnly(top, ['mirrors', 'configs'], file);
    for (const [host, m] of Object.entries(obj(top.mirrors, `${file}: mirrors`))) {
      const where = `${file}: mirrors."${host}"`;
      if (!HOST.test(host)) throw new RegistriesConfigError(`${where}: not a registry host[:port] or "*"`);
      const mo = obj(m, where);
      keysOnly(mo, ['endpoint', 'rewrite'], where);
      const eps = mo.endpoint ?? [];
      if (!Array.isArray(eps)) throw new RegistriesConfigError(`${where}.endpoint: expected a list of URLs`);
      const endpoints = eps.map((e, i) => {
        const s = str(e, `${where}.endpoint[${i}]`) ?? '';
        let u: URL;
        try {
          u = new URL(/^[a-z]+:\/\//i.test(s) ? s : `https://${s}`);
        } catch {
          throw new RegistriesConfigError(`${where}.endpoint[${i}]: ${JSON.stringify(s)} is not a URL`);
        }
        if (u.protocol !== 'https:' && u.protocol !== 'http:')
          throw new RegistriesConfigError(`${where}.endpoint[${i}]: ${JSON.stringify(s)}: only http:// and https:// endpoints`);
        if (u.username || u.password || u.search || u.hash)
          throw new RegistriesConfigError(
            `${where}.endpoint[${i}]: ${JSON.stringify(s)}: no credentials, query or fragment in an endpoint (credentials go under configs)`,
          );
        return u;
      });
      const rewrites: [RegExp, string][] = Object.entries(obj(mo.rewrite, `${where}.rewrite`)).map(([re, to]) => {
        let rx: RegExp;
        try {
          rx = new RegExp(re);
        } catch (e) {
          throw new RegistriesConfigError(`${where}.rewrite: ${JSON.stringify(re)} is not a regular expression: ${(e as Error).message}`);
        }
        return [rx, str(to, `${where}.rewrite."${re}"`) ?? ''];
      });
      r.mirrors.set(host, { endpoints, rewrites });
    }
    for (const [host, c] of Object.entries(obj(top.configs, `${file}: configs`))) {
      const where = `${file}: configs."${host}"`;
      if (!HOST.test(host)) throw new RegistriesConfigError(`${where}: not a registry host[:port] or "*"`);
      const co = obj(c, where);
      keysOnly(co, ['auth', 'tls'], where);
      const a = obj(co.auth, `${where}.auth`);
      keysOnly(a, ['username', 'password', 'auth', 'identity_token'], `${where}.auth`);
      let credentials: Credentials | undefined;
      if (Object.keys(a).length) {
        credentials = {
          username: str(a.username, `${where}.auth.username`),
          password: str(a.password, `${where}.auth.password`),
          identityToken: str(a.identity_token, `${where}.auth.identity_token`),
          source: `${file} configs."${host}"`,
        };
        const packed = str(a.auth, `${where}.auth.auth`);
        if (packed) Object.assign(credentials, decodeAuth(packed, `${where}.auth.auth`, RegistriesConfigError));
      }
      const t = obj(co.tls, `${where}.tls`);
      keysOnly(t, ['ca_file', 'cert_file', 'key_file', 'insecure_skip_verify'], `${where}.tls`);
      const read = (k: string) => {
        const f = str(t[k], `${where}.tls.${k}`);
        if (!f) return undefined;
        try {
          return readFileSync(f);
        } catch (e) {
          throw new RegistriesConfigError(`${where}.tls.${k}: ${(e as Error).message}`);
        }
      };
      const ca = read('ca_file');
      const cert = read('cert_file');
      const key = read('key_file');
      if (!!cert !== !!key) throw new RegistriesConfigError(`${where}.tls: cert_file and key_file go together`);
      if (t.insecure_skip_verify !== undefined && typeof t.insecure_skip_verify !== 'boolean')
        throw new RegistriesConfigError(`${where}.tls.insecure_skip_verify: expected true or false`);
      const tls: TlsConfig = {
        ...(ca ? { ca: [...rootCertificates, ca.toString('utf8')] } : {}),
        ...(cert ? { cert, key } : {}),
        ...(t.insecure_skip_verify ? { insecureSkipVerify: true } : {}),
      };
      r.configs.set(host, { tls, credentials });
    }
    return r;
  }

  /** Where to ask for `domain/path`, in order: its mirrors (or "*"'s), then the registry itself. */
  endpoints(domain: string, path: string): Endpoint[] {
    const out: Endpoint[] = [];
    const upstream = new URL(`https://${domain === DOCKER_HUB ? DOCKER_HUB_API : domain}`);
    const m = this.mirrors.get(domain) ?? this.mirrors.get('*');
    for (const u of m?.endpoints ?? []) {
      let p = path;
      for (const [rx, to] of m!.rewrites) {
        if (rx.test(p)) {
          p = p.replace(rx, to);
          break;
        }
      }
      out.push(this.endpoint(u, p, u.host !== upstream.host));
    }
    // The registry itself last, unless a mirror entry already names its host (say over http://).
    if (!out.some((e) => e.host === upstream.host && e.prefix === '')) out.push(this.endpoint(upstream, path, false));
    return out;
  }

  private endpoint(u: URL, path: string, mirror: boolean): Endpoint {
    const host = u.host;
    const cfg = this.configs.get(host) ?? (host === DOCKER_HUB_API ? this.configs.get(DOCKER_HUB) : undefined) ?? this.configs.get('*');
    let prefix = u.pathname.replace(/\/+$/, '');
    if (prefix.endsWith('/v2')) prefix = prefix.slice(0, -3);
    return { url: u.origin, host, prefix, path, tls: cfg?.tls ?? {}, credentials: cfg?.credentials, mirror };
  }

  /** The hosts this configuration names (for `k8ts image` messages). */
  describe(): string[] {
    return [...this.mirrors.entries()].map(([h, m]) => `${h} → ${m.endpoints.map((u) => u.href).join(', ') || '(itself)'}`);
  }
}

/** `base64(user:password)` as Docker's config files keep it. */
export function decodeAuth(packed: string, where: string, E: new (m: string) => Error = Error): { username: string; password: string } {
  const text = Buffer.from(packed, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i <= 0) throw new E(`${where}: "auth" is not base64 of user:password`);
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}
