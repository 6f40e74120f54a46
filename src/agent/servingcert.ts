// The agent's serving certificate over time, as the kubelet's server certificate manager keeps it: the
// stored one when it is this node's, in date and names the node's addresses; otherwise a new one asked for
// (kubelet-serving CSR, made as the node), retried with back-off when refused; renewed at 70–90 % of its life.
import type { Node } from '../api/types.js';
import type { RestClient } from '../client/rest.js';
import { isDNS1123Subdomain } from '../api/validation.js';
import { type NodeCredentials, type ServingNames, loadServingCredentials, renewalDeadline, requestServingCredentials } from './identity.js';

export interface ServingCertOptions {
  client: RestClient;
  nodeName: string;
  ca: string | Buffer;
  dataDir: string;
  log: (line: string) => void;
  /** Called with every certificate obtained after start (the first issued, then each renewal). */
  onChange: (c: NodeCredentials) => void;
}

/** The names to put in the certificate: the Node's IP addresses and its host names (when valid DNS names). */
export function servingNames(node: Pick<Node, 'status'>): ServingNames {
  const addrs = node.status?.addresses ?? [];
  const ips = [...new Set(addrs.filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address))];
  const dnsNames = [
    ...new Set(
      addrs
        .filter((a) => a.type === 'Hostname' || a.type === 'InternalDNS' || a.type === 'ExternalDNS')
        .map((a) => a.address.toLowerCase())
        .filter((d) => isDNS1123Subdomain(d).length === 0),
    ),
  ];
  return { ips, dnsNames };
}

const RETRY_FIRST_MS = 10_000;
const RETRY_MAX_MS = 300_000;

export class ServingCertificate {
  private current?: NodeCredentials;
  private names?: ServingNames;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private retryMs = RETRY_FIRST_MS;
  private issued?: Promise<void>;
  private resolveIssued?: () => void;

  constructor(private o: ServingCertOptions) {}

  /** The stored certificate when usable (returned at once), else undefined and a request runs in the
   *  background; later renewals are scheduled either way. */
  start(names: ServingNames): NodeCredentials | undefined {
    this.names = names;
    this.issued = new Promise((r) => (this.resolveIssued = r));
    const stored = loadServingCredentials(this.o.dataDir, this.o.nodeName, this.o.ca, names);
    if (!('why' in stored)) {
      this.current = stored;
      this.resolveIssued!();
      this.o.log(`k8ts agent ${this.o.nodeName}: using the stored serving certificate (valid until ${new Date(stored.notAfter).toISOString()})`);
      this.schedule();
      return stored;
    }
    this.o.log(`k8ts agent ${this.o.nodeName}: ${stored.why}; serving a self-signed certificate (the API server sends nothing to it) until one is issued`);
    void this.obtain();
    return undefined;
  }

  /** Resolves when a CA-signed certificate is in use, or after timeoutMs (false). */
  async ready(timeoutMs: number): Promise<boolean> {
    let t: NodeJS.Timeout | undefined;
    const done = await Promise.race([this.issued!.then(() => true), new Promise<boolean>((r) => (t = setTimeout(() => r(false), timeoutMs)))]);
    clearTimeout(t);
    return done;
  }

  /** The CA-signed certificate in use, if any. */
  get credentials(): NodeCredentials | undefined {
    return this.current;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    const c = this.current;
    if (!c || this.stopped) return;
    // Timers overflow past 24.8 days: a far deadline is looked at again daily.
    const wait = Math.min(Math.max(0, renewalDeadline(c) - Date.now()), 86_400_000);
    this.timer = setTimeout(() => {
      if (this.current && Date.now() < renewalDeadline(this.current, 0)) this.schedule();
      else void this.obtain();
    }, wait);
    this.timer.unref();
  }

  private async obtain(): Promise<void> {
    if (this.stopped) return;
    try {
      const next = await requestServingCredentials(this.o.client, {
        server: '',
        ca: this.o.ca,
        nodeName: this.o.nodeName,
        dataDir: this.o.dataDir,
        log: this.o.log,
        names: this.names!,
      });
      if (this.stopped) return;
      this.current = next;
      this.retryMs = RETRY_FIRST_MS;
      this.o.onChange(next);
      this.resolveIssued?.();
      this.schedule();
    } catch (e) {
      if (this.stopped) return;
      this.o.log(`k8ts agent ${this.o.nodeName}: serving certificate: ${e instanceof Error ? e.message : e}; asking again in ${this.retryMs / 1000} s`);
      this.timer = setTimeout(() => void this.obtain(), this.retryMs);
      this.timer.unref();
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    }
  }
}
