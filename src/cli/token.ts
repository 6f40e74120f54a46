// `k8ts token create|list|delete`: bootstrap tokens (kube-system Secrets of type bootstrap.kubernetes.io/token),
// as `kubeadm token` manages them; an agent joins with one (k8ts agent --bootstrap-token-file).
import { SECRETS } from '../api/kinds.js';
import type { Secret } from '../api/types.js';
import {
  BOOTSTRAP_NAMESPACE,
  BOOTSTRAP_TOKEN_PREFIX,
  BOOTSTRAP_TOKEN_TYPE,
  KEY_DESCRIPTION,
  KEY_EXPIRATION,
  KEY_EXTRA_GROUPS,
  USAGE_PREFIX,
  bootstrapTokenSecret,
  generateBootstrapToken,
  parseBootstrapToken,
} from '../api/bootstraptoken.js';
import { configFromKubeconfig, RestClient } from '../client/rest.js';
import { errorCode } from '../client/types.js';
import { k8tsHome } from '../lab/paths.js';
import { loadPlan } from '../lab/plan.js';
import { flagHelp, parseFlags, UsageError, type FlagSpec, type Flags } from './args.js';

const FLAGS = {
  name: { type: 'string', default: 'default', help: 'the lab cluster (as k8ts kubeconfig picks it)', metavar: 'NAME' },
  kubeconfig: { type: 'string', help: "any k8ts cluster's kubeconfig instead of a lab one (default: $KUBECONFIG when set)", metavar: 'FILE' },
  ttl: { type: 'string', default: '24h', help: 'create: how long the token is valid, a Go duration such as 24h or 90m; 0 never expires', metavar: 'DURATION' },
  description: { type: 'string', help: 'create: a human-readable note on the token', metavar: 'TEXT' },
  groups: { type: 'string', help: 'create: extra comma-separated groups the token authenticates as (each under system:bootstrappers:)', metavar: 'GROUPS' },
  help: { type: 'boolean', help: 'show this help' },
} satisfies FlagSpec;

export const tokenHelp = `Usage: k8ts token create [--ttl DURATION] [--description TEXT] [--groups G1,G2]
       k8ts token list
       k8ts token delete ID|TOKEN

Bootstrap tokens, as kubeadm's: a token <id>.<secret> is a kube-system Secret bootstrap-token-<id>; it
authenticates as system:bootstrap:<id> in system:bootstrappers, which may create CertificateSigningRequests
for node client certificates (approved automatically). An agent joins with one:
k8ts agent --bootstrap-token-file FILE ... ; it is deleted by the token cleaner once expired.
Works against a lab cluster by --name or any k8ts cluster by --kubeconfig.

Flags:
${flagHelp(FLAGS)}
`;

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go time.Duration string (e.g. 24h, 1h30m, 0) in whole seconds. */
export function parseDuration(s: string): number {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let ms = 0;
  let end = 0;
  for (let m; (m = re.exec(s)); end = re.lastIndex) ms += Number(m[1]) * UNITS[m[2]];
  if (!s || end !== s.length) throw new UsageError(`--ttl ${JSON.stringify(s)}: expected a duration such as 24h, 90m or 1h30m (0: never expires)`);
  return Math.ceil(ms / 1000);
}

async function clientFor(flags: Flags<typeof FLAGS>): Promise<RestClient> {
  const path = flags.kubeconfig ?? process.env.KUBECONFIG ?? (await loadPlan(k8tsHome(), flags.name)).paths.kubeconfig;
  return new RestClient({ ...configFromKubeconfig(path), userAgent: 'k8ts-cli' });
}

const text = (s: Secret, k: string) => (typeof s.data?.[k] === 'string' ? Buffer.from(s.data[k], 'base64').toString('utf8') : '');

function ttlLeft(exp: string, now: number): string {
  if (!exp) return '<forever>';
  const s = Math.floor((Date.parse(exp) - now) / 1000);
  if (!(s > 0)) return '<invalid>';
  return s >= 86400 ? `${Math.floor(s / 86400)}d` : s >= 3600 ? `${Math.floor(s / 3600)}h` : s >= 60 ? `${Math.floor(s / 60)}m` : `${s}s`;
}

export async function tokenCommand(argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv, FLAGS);
  const [sub, ...args] = rest;
  if (flags.help || !sub) return void process.stdout.write(tokenHelp);
  if (sub === 'create') {
    if (args.length) throw new UsageError(`k8ts token create takes no arguments (got ${JSON.stringify(args.join(' '))}); see k8ts token --help`);
    const ttlSeconds = parseDuration(String(flags.ttl));
    const extraGroups = flags.groups ? String(flags.groups).split(',').filter(Boolean) : [];
    const c = await clientFor(flags);
    try {
      const t = generateBootstrapToken();
      await c.create(SECRETS, BOOTSTRAP_NAMESPACE, bootstrapTokenSecret(t, { ttlSeconds, description: flags.description, extraGroups }) as Secret);
      process.stdout.write(`${t.id}.${t.secret}\n`);
    } finally {
      c.close();
    }
    return;
  }
  if (sub === 'list') {
    const c = await clientFor(flags);
    try {
      const { items } = await c.list(SECRETS, BOOTSTRAP_NAMESPACE);
      const now = Date.now();
      const rows = [['TOKEN', 'TTL', 'EXPIRES', 'USAGES', 'DESCRIPTION', 'EXTRA GROUPS']];
      for (const s of items.filter((x) => x.type === BOOTSTRAP_TOKEN_TYPE && x.metadata.name?.startsWith(BOOTSTRAP_TOKEN_PREFIX))) {
        const exp = text(s, KEY_EXPIRATION);
        const usages = Object.keys(s.data ?? {})
          .filter((k) => k.startsWith(USAGE_PREFIX) && text(s, k) === 'true')
          .map((k) => k.slice(USAGE_PREFIX.length))
          .sort();
        // The secret half is never printed: the id is enough to delete.
        rows.push([
          `${text(s, 'token-id')}.<secret>`,
          ttlLeft(exp, now),
          exp || '<never>',
          usages.join(',') || '<none>',
          text(s, KEY_DESCRIPTION) || '<none>',
          text(s, KEY_EXTRA_GROUPS) || '<none>',
        ]);
      }
      const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      process.stdout.write(rows.map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(w[i] + 3))).join('')).join('\n') + '\n');
    } finally {
      c.close();
    }
    return;
  }
  if (sub === 'delete') {
    if (args.length !== 1) throw new UsageError('k8ts token delete takes one token id (6 characters of [a-z0-9]) or whole token');
    const id = parseBootstrapToken(args[0])?.id ?? (/^[a-z0-9]{6}$/.test(args[0]) ? args[0] : undefined);
    if (!id) throw new UsageError(`k8ts token delete ${JSON.stringify(args[0])}: expected a token id ([a-z0-9]{6}) or a token ([a-z0-9]{6}.[a-z0-9]{16})`);
    const c = await clientFor(flags);
    try {
      await c.delete(SECRETS, BOOTSTRAP_NAMESPACE, `${BOOTSTRAP_TOKEN_PREFIX}${id}`);
    } catch (e) {
      if (errorCode(e) === 404) throw new Error(`bootstrap token ${JSON.stringify(id)} not found`);
      throw e;
    } finally {
      c.close();
    }
    process.stdout.write(`bootstrap token "${id}" deleted\n`);
    return;
  }
  throw new UsageError(`k8ts token ${JSON.stringify(sub)}: expected create, list or delete`);
}
