// Credentials from imagePullSecrets, as the kubelet matches them: `kubernetes.io/dockerconfigjson`
// ({"auths": {...}}) and `kubernetes.io/dockercfg` ({...}) keyed by registry URL or host, with `*.`
// globs per host component, the port exact, and the key's path a prefix of the repository's.
import { isObj } from '../../api/narrow.js';
import type { KObject } from '../../api/types.js';
import { decodeAuth, type Credentials } from './registries.js';

interface Entry {
  host: string;
  path: string;
  credentials: Credentials;
}

const HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

export class Keyring {
  private entries: Entry[] = [];
  /** Secrets that could not be read, with why (reported as events, never thrown). */
  readonly problems: string[] = [];

  /** Adds the credentials of one Secret; a Secret of another type, or unreadable, is noted in `problems`. */
  addSecret(secret: KObject): void {
    const name = `${secret.metadata.namespace}/${secret.metadata.name}`;
    const data = (secret as { data?: Record<string, string> }).data ?? {};
    let auths: unknown;
    try {
      if (secret.type === 'kubernetes.io/dockerconfigjson') {
        const j = JSON.parse(Buffer.from(data['.dockerconfigjson'] ?? '', 'base64').toString('utf8'));
        auths = isObj(j) ? j.auths : undefined;
      } else if (secret.type === 'kubernetes.io/dockercfg') {
        auths = JSON.parse(Buffer.from(data['.dockercfg'] ?? '', 'base64').toString('utf8'));
      } else {
        this.problems.push(
          `imagePullSecret ${name} has type ${JSON.stringify(secret.type ?? '')}, not kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg`,
        );
        return;
      }
    } catch {
      this.problems.push(
        `imagePullSecret ${name} does not hold valid JSON in ${secret.type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson'}`,
      );
      return;
    }
    if (!isObj(auths)) return;
    for (const [key, v] of Object.entries(auths)) {
      if (!isObj(v)) continue;
      const credentials: Credentials = { source: `imagePullSecret ${name}` };
      if (typeof v.username === 'string') credentials.username = v.username;
      if (typeof v.password === 'string') credentials.password = v.password;
      if (typeof v.identitytoken === 'string' && v.identitytoken) credentials.identityToken = v.identitytoken;
      if (typeof v.auth === 'string' && v.auth) {
        try {
          Object.assign(credentials, decodeAuth(v.auth, `imagePullSecret ${name} auths."${key}"`));
        } catch (e) {
          this.problems.push((e as Error).message);
          continue;
        }
      }
      this.add(key, credentials);
    }
  }

  add(key: string, credentials: Credentials): void {
    const stripped = key.replace(/^[a-z]+:\/\//i, '');
    const slash = stripped.indexOf('/');
    let host = (slash < 0 ? stripped : stripped.slice(0, slash)).toLowerCase();
    let path = slash < 0 ? '' : stripped.slice(slash + 1).replace(/\/+$/, '');
    // Docker's own keys for the Hub (`https://index.docker.io/v1/`) name the API version, not a path.
    if (HUB_HOSTS.has(host)) {
      host = 'docker.io';
      if (path === 'v1' || path === 'v2') path = '';
    }
    this.entries.push({ host, path, credentials });
  }

  /** Credentials for a repository at a host, most specific key first (longest path, then exact host). */
  lookup(host: string, repoPath: string): Credentials[] {
    const h = HUB_HOSTS.has(host) ? 'docker.io' : host.toLowerCase();
    return this.entries
      .filter((e) => hostMatches(e.host, h) && (!e.path || repoPath === e.path || repoPath.startsWith(`${e.path}/`)))
      .sort((a, b) => b.path.length - a.path.length || Number(b.host === h) - Number(a.host === h))
      .map((e) => e.credentials);
  }

  get size(): number {
    return this.entries.length;
  }
}

/** `*.example.com` matches `a.example.com` (one component per `*`); ports must be equal. */
function hostMatches(pattern: string, host: string): boolean {
  const [ph, pp] = splitPort(pattern);
  const [hh, hp] = splitPort(host);
  if (pp !== hp) return false;
  const pa = ph.split('.');
  const ha = hh.split('.');
  if (pa.length !== ha.length) return false;
  return pa.every(
    (p, i) =>
      p === ha[i] ||
      (p.includes('*') &&
        new RegExp(
          `^${p
            .split('*')
            .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
            .join('[^.]*')}$`,
        ).test(ha[i])),
  );
}

function splitPort(h: string): [string, string] {
  const m = /^(.*?)(?::(\d+))?$/.exec(h)!;
  return [m[1], m[2] ?? ''];
}
