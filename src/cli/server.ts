// `k8ts server`: the API server with its datastore and controllers, in the foreground.
import { startupMark } from '../util/startup.js';
import { readFileSync, statSync } from 'node:fs';
import { parseBootstrapToken } from '../api/bootstraptoken.js';
import { join, resolve } from 'node:path';
import { EncryptionConfigError, parseEncryptionConfig } from '../store/encryption.js';
import { runServer } from '../server/server.js';
import { ipToInt, parseIPRange, PoolError } from '../controllers/loadbalancer.js';
import { type FlagSpec, UsageError, flagHelp, parseFlags, type Flags } from './args.js';
import { DEFAULT_LIMITS, type ServerLimits } from '../apiserver/limits.js';

const FLAGS = {
  'data-dir': { type: 'string', help: 'where the datastore, certificates and kubeconfig live', metavar: 'DIR' },
  store: { type: 'string', default: 'sqlite', help: 'datastore: sqlite (embedded) or etcd', metavar: 'sqlite|etcd' },
  'etcd-endpoints': { type: 'string', help: 'comma-separated etcd client URLs (with --store etcd)', metavar: 'URLS' },
  'etcd-prefix': { type: 'string', default: '/k8ts', help: 'key prefix in etcd', metavar: 'PREFIX' },
  listen: {
    type: 'string',
    default: '127.0.0.1:6443',
    help: 'comma-separated addresses to serve HTTPS on, one port for all',
    metavar: 'HOST:PORT[,HOST:PORT]',
  },
  'tls-san': { type: 'string', help: 'extra comma-separated names/IPs for the serving certificate', metavar: 'NAMES' },
  'cluster-cidr': { type: 'string', default: '10.244.0.0/16', help: 'pod CIDR of the cluster; each node gets a slice', metavar: 'CIDR' },
  'node-cidr-mask-size': { type: 'number', default: 24, help: "prefix length of each node's pod CIDR", metavar: 'N' },
  'node-monitor-grace-period': { type: 'number', default: 40, help: 'seconds without a Lease renewal before a node is NotReady', metavar: 'SECONDS' },
  'service-cluster-ip-range': {
    type: 'string',
    default: '10.96.0.0/16',
    help: 'IPv4 CIDR of service cluster IPs; the `kubernetes` service gets its first IP',
    metavar: 'CIDR',
  },
  'service-node-port-range': { type: 'string', default: '30000-32767', help: 'node ports of NodePort and LoadBalancer services, FIRST-LAST', metavar: 'RANGE' },
  'advertise-address': {
    type: 'string',
    help: "address the `kubernetes` service sends clients to (default: the first --listen address, or this host's first non-loopback IPv4)",
    metavar: 'IP',
  },
  'advertise-port': { type: 'number', help: 'port the `kubernetes` service sends clients to (default: the port served on)', metavar: 'PORT' },
  'server-name': {
    type: 'string',
    help: "this server's name in its identity Lease and leader election (default: the host name; servers sharing a host need their own)",
    metavar: 'NAME',
  },
  'default-not-ready-toleration-seconds': {
    type: 'number',
    default: 300,
    help: 'tolerationSeconds of the node.kubernetes.io/not-ready:NoExecute toleration added to every pod that has none',
    metavar: 'SECONDS',
  },
  'default-unreachable-toleration-seconds': {
    type: 'number',
    default: 300,
    help: 'tolerationSeconds of the node.kubernetes.io/unreachable:NoExecute toleration added to every pod that has none',
    metavar: 'SECONDS',
  },
  'metric-resolution': {
    type: 'number',
    default: 15,
    help: "seconds between scrapes of the agents' resource metrics for metrics.k8s.io (kubectl top; metrics-server's flag)",
    metavar: 'SECONDS',
  },
  'event-ttl': { type: 'number', default: 3600, help: 'seconds an Event is kept after it was last seen', metavar: 'SECONDS' },
  'lb-pool': { type: 'string', help: 'hand out LoadBalancer IPs from this range on the node network (none without it)', metavar: 'FIRST-LAST' },
  'cluster-dns': { type: 'string', help: 'ClusterIP of the kube-dns service, whose endpoints are the nodes (none without it)', metavar: 'IP' },
  'anonymous-auth': {
    type: 'boolean',
    default: true,
    help: 'a request offering no credential is system:anonymous (group system:unauthenticated), authorized like any other: by default it may read only /healthz, /livez, /readyz and /version; --anonymous-auth=false answers it 401',
  },
  'bootstrap-token-file': {
    type: 'string',
    help: "a bootstrap token (k8ts token create's format) put in kube-system before the server serves, valid 24 h from when FILE was written (k8ts up gives its agents' join token this way); a token already there is left as it is",
    metavar: 'FILE',
  },
  'token-auth-file': {
    type: 'string',
    help: 'extra users, one per line: token,user,uid[,"group1,group2"] (kube-apiserver\'s --token-auth-file)',
    metavar: 'FILE',
  },
  'service-account-issuer': {
    type: 'string',
    default: 'https://kubernetes.default.svc.cluster.local',
    help: 'the `iss` of service-account tokens and the audience the API accepts (the signing key is DIR/pki/service-account.key)',
    metavar: 'URL',
  },
  'max-requests-inflight': {
    type: 'number',
    default: DEFAULT_LIMITS.maxRequestsInflight,
    help: "read-only requests served at once (watch, exec, logs and proxy aside); with the next flag, the seats that priority levels share: a request beyond its level's share waits in its queue (15 s at most), then 429 with Retry-After: 1 (both 0: no limit)",
    metavar: 'N',
  },
  'max-mutating-requests-inflight': {
    type: 'number',
    default: DEFAULT_LIMITS.maxMutatingRequestsInflight,
    help: 'mutating requests served at once; added to --max-requests-inflight as the seats priority levels share (both 0: no limit)',
    metavar: 'N',
  },
  'request-timeout': {
    type: 'string',
    default: '1m0s',
    help: "a non-long-running request (not watch, exec, attach, logs, port-forward, proxy) must arrive within this, else 408 and the connection closes, and be answered within it (or the client's shorter ?timeout=), else 504 Timeout (Go duration or seconds)",
    metavar: 'DURATION',
  },
  'header-timeout': { type: 'string', default: '32s', help: 'the TLS handshake and request headers must arrive within this', metavar: 'DURATION' },
  'idle-timeout': { type: 'string', default: '1m30s', help: 'an idle keep-alive connection is closed after this', metavar: 'DURATION' },
  'max-connections': {
    type: 'number',
    help: 'open connections at most; beyond, new ones are closed at once (default: the open-file limit less 1024)',
    metavar: 'N',
  },
  'max-request-body-bytes': {
    type: 'number',
    default: DEFAULT_LIMITS.maxBodyBytes,
    help: 'larger request bodies get 413 RequestEntityTooLarge',
    metavar: 'BYTES',
  },
  'watch-buffer-bytes': {
    type: 'number',
    default: DEFAULT_LIMITS.watchBufferBytes,
    help: 'bytes a watch may have written that its client has not read; beyond, the watch ends with a 410 ERROR event and the client lists again',
    metavar: 'BYTES',
  },
  'watch-cache-bytes': {
    type: 'number',
    default: DEFAULT_LIMITS.watchCacheBytes,
    help: 'approximate bytes of event history the watch cache keeps (watches from older resourceVersions get 410)',
    metavar: 'BYTES',
  },
  'encryption-provider-config': {
    type: 'string',
    help: 'an EncryptionConfiguration (apiserver.config.k8s.io/v1) naming the resources to encrypt at rest and their providers: aescbc, secretbox, identity; the first provider writes, all of them read',
    metavar: 'FILE',
  },
  help: { type: 'boolean', help: 'show this help' },
} satisfies FlagSpec;

/** A Go duration (1m0s, 90s, 1h, 500ms) or plain seconds, in milliseconds. */
export function parseDuration(flag: string, v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/gy;
  let ms = 0;
  let end = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    ms += Number(m[1]) * unit[m[2]];
    end = re.lastIndex;
  }
  if (!v || end !== v.length) throw new UsageError(`--${flag} ${JSON.stringify(v)}: expected a duration such as 1m0s, 30s or 500ms`);
  return Math.round(ms);
}

function limitsFromFlags(flags: Flags<typeof FLAGS>): Partial<ServerLimits> {
  const whole = (
    f: 'max-requests-inflight' | 'max-mutating-requests-inflight' | 'max-request-body-bytes' | 'watch-buffer-bytes' | 'watch-cache-bytes' | 'max-connections',
  ): number => {
    const n = flags[f];
    if (n === undefined || !Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${f} ${n}: expected a whole number ≥ 0`);
    return n;
  };
  const l: Partial<ServerLimits> = {
    maxRequestsInflight: whole('max-requests-inflight'),
    maxMutatingRequestsInflight: whole('max-mutating-requests-inflight'),
    requestTimeoutMs: parseDuration('request-timeout', String(flags['request-timeout'])),
    headerTimeoutMs: parseDuration('header-timeout', String(flags['header-timeout'])),
    idleTimeoutMs: parseDuration('idle-timeout', String(flags['idle-timeout'])),
    maxBodyBytes: whole('max-request-body-bytes'),
    watchBufferBytes: whole('watch-buffer-bytes'),
    watchCacheBytes: whole('watch-cache-bytes'),
  };
  if (flags['max-connections'] !== undefined) l.maxConnections = whole('max-connections');
  return l;
}

export const serverHelp = `Usage: k8ts server --data-dir DIR [flags]

Runs the Kubernetes API server (the only door to the datastore), the controllers and the scheduler.
Several servers may share one etcd: each serves the API and lists itself in the \`kubernetes\` service's
endpoints; the controllers, the scheduler and the datastore's compaction run in one of them at a time,
chosen by leader election on Leases in kube-system.
HTTPS only: a CA, a serving certificate, the admin's client certificate and an admin token are made on
first start and kept in DIR; DIR/kubeconfig points kubectl at the server with the certificate
(kubernetes-admin in system:masters), DIR/kubeconfig-token with the token. Client certificates signed by
the CA authenticate (CN = user, O = groups); CertificateSigningRequests to the kubernetes.io client signers
are signed by it once approved. Every request is
authorized by RBAC (rbac.authorization.k8s.io/v1); the default roles and bindings are reconciled at start.

Flags:
${flagHelp(FLAGS)}
`;

export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s);
  if (!m) throw new UsageError(`--listen ${JSON.stringify(s)}: expected HOST:PORT, e.g. 127.0.0.1:6443`);
  const port = Number(m[3]);
  if (port > 65535) throw new UsageError(`--listen ${JSON.stringify(s)}: port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export async function serverCommand(argv: string[]): Promise<void> {
  startupMark('server: bundle loaded');
  const { flags } = parseFlags(argv, FLAGS);
  if (flags.help) {
    process.stdout.write(serverHelp);
    return;
  }
  if (!flags['data-dir']) throw new UsageError('k8ts server: --data-dir is required');
  const store = flags.store as string;
  if (store !== 'sqlite' && store !== 'etcd') throw new UsageError(`--store ${JSON.stringify(store)}: expected sqlite or etcd`);
  const endpoints = flags['etcd-endpoints'] ? String(flags['etcd-endpoints']).split(',').filter(Boolean) : undefined;
  if (store === 'etcd' && !endpoints?.length) throw new UsageError('--store etcd needs --etcd-endpoints, e.g. http://127.0.0.1:2379');
  const listen = String(flags.listen).split(',').filter(Boolean).map(parseListen);
  let lbPool;
  try {
    lbPool = flags['lb-pool'] ? parseIPRange(String(flags['lb-pool'])) : undefined;
  } catch (e) {
    throw e instanceof PoolError ? new UsageError(`--lb-pool: ${e.message}`) : e;
  }
  for (const f of ['default-not-ready-toleration-seconds', 'default-unreachable-toleration-seconds', 'node-monitor-grace-period'] as const) {
    if (!Number.isInteger(flags[f]) || flags[f] < 0) throw new UsageError(`--${f} ${flags[f]}: expected a whole number of seconds ≥ 0`);
  }
  if (!(flags['metric-resolution'] >= 1 && flags['metric-resolution'] <= 3600))
    throw new UsageError(`--metric-resolution ${flags['metric-resolution']}: expected seconds from 1 to 3600`);
  const dnsServiceIP = flags['cluster-dns'] ? String(flags['cluster-dns']) : undefined;
  if (dnsServiceIP !== undefined && ipToInt(dnsServiceIP) === undefined)
    throw new UsageError(`--cluster-dns ${JSON.stringify(dnsServiceIP)}: expected an IPv4 address, e.g. 10.96.0.10`);
  const issuer = String(flags['service-account-issuer']);
  let issuerUrl: URL | undefined;
  try {
    issuerUrl = new URL(issuer);
  } catch {
    /* checked below */
  }
  if (issuerUrl?.protocol !== 'https:' || issuerUrl.search || issuerUrl.hash) {
    throw new UsageError(
      `--service-account-issuer ${JSON.stringify(issuer)}: expected an https URL without query or fragment, e.g. https://kubernetes.default.svc.cluster.local`,
    );
  }
  let encryptionProviderConfig: string | undefined;
  if (flags['encryption-provider-config'] !== undefined) {
    // Proven here too, so that a bad file is a usage error naming the field before anything starts.
    encryptionProviderConfig = resolve(String(flags['encryption-provider-config']));
    let text: string;
    try {
      text = readFileSync(encryptionProviderConfig, 'utf8');
    } catch (e) {
      throw new UsageError(
        `--encryption-provider-config: cannot read ${encryptionProviderConfig}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    try {
      parseEncryptionConfig(text, encryptionProviderConfig);
    } catch (e) {
      throw e instanceof EncryptionConfigError ? new UsageError(`--encryption-provider-config ${e.message}`) : e;
    }
  }
  let bootstrapToken: { token: string; writtenAt: number } | undefined;
  if (flags['bootstrap-token-file'] !== undefined) {
    const file = resolve(String(flags['bootstrap-token-file']));
    let token: string;
    let writtenAt: number;
    try {
      token = readFileSync(file, 'utf8').trim();
      writtenAt = statSync(file).mtimeMs;
    } catch (e) {
      throw new UsageError(`--bootstrap-token-file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    // Never echoed: a malformed file may hold some other secret.
    if (!parseBootstrapToken(token))
      throw new UsageError(`--bootstrap-token-file ${file}: not a bootstrap token (expected [a-z0-9]{6}.[a-z0-9]{16}, as k8ts token create prints)`);
    bootstrapToken = { token, writtenAt };
  }
  const s = await runServer({
    bootstrapToken,
    encryptionProviderConfig,
    dataDir: resolve(flags['data-dir']),
    store,
    etcdEndpoints: endpoints,
    etcdPrefix: flags['etcd-prefix'],
    listen,
    sans: flags['tls-san'] ? String(flags['tls-san']).split(',') : [],
    clusterCidr: flags['cluster-cidr'],
    nodeCidrMaskSize: flags['node-cidr-mask-size'],
    nodeMonitorGracePeriodMs: flags['node-monitor-grace-period'] * 1000,
    serviceCidr: flags['service-cluster-ip-range'],
    nodePortRange: flags['service-node-port-range'],
    advertiseAddress: flags['advertise-address'],
    advertisePort: flags['advertise-port'],
    serverName: flags['server-name'],
    eventTtlMs: flags['event-ttl'] * 1000,
    metricResolutionMs: flags['metric-resolution'] * 1000,
    defaultNotReadyTolerationSeconds: flags['default-not-ready-toleration-seconds'],
    defaultUnreachableTolerationSeconds: flags['default-unreachable-toleration-seconds'],
    lbPool,
    dnsServiceIP,
    serviceAccountIssuer: issuer,
    tokenAuthFile: flags['token-auth-file'] ? resolve(String(flags['token-auth-file'])) : undefined,
    limits: limitsFromFlags(flags),
    anonymousAuth: flags['anonymous-auth'] !== false,
  });
  startupMark('server: serving');
  process.stderr.write(`k8ts server: serving on ${s.url} (store: ${store})\n`);
  process.stderr.write(`k8ts server: export KUBECONFIG=${s.kubeconfigPath}\n`);
  // The token goes through a file: a token on a command line is visible to every user of the host.
  const dir = resolve(flags['data-dir']);
  process.stderr.write(
    `k8ts server: to join a node, make a bootstrap token and start its agent with it:\n` +
      `  KUBECONFIG=${s.kubeconfigPath} k8ts token create --ttl 24h > join.token\n` +
      `  k8ts agent --server ${s.url} --ca-file ${join(dir, 'pki/ca.crt')} --bootstrap-token-file join.token --node-name NAME\n`,
  );
  const stop = async (sig: string) => {
    process.stderr.write(`k8ts server: ${sig}, shutting down\n`);
    await s.close().catch(() => {});
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}
