// The agent's serving certificate over time, as the kubelet's server certificate manager keeps it: the
// stored one when it is this node's, in date and names the node's addresses; otherwise a new one asked for
// (kubelet-serving CSR, made as the node), retried with back-off when refused; renewed at 70–90 % of its life
// (the renewal and back-off are certmanager.ts's, shared with the node's client certificate).
import type { Node } from '../api/types.js';
import type { RestClient } from '../client/rest.js';
import { isDNS1123Subdomain } from '../api/validation.js';
import { CertificateManager } from './certmanager.js';
import { type NodeCredentials, type ServingNames, loadServingCredentials, requestServingCredentials } from './identity.js';

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

export class ServingCertificate {
  private manager?: CertificateManager;

  constructor(private o: ServingCertOptions) {}

  /** The stored certificate when usable (returned at once), else undefined and a request runs in the
   *  background; later renewals are scheduled either way. */
  start(names: ServingNames): NodeCredentials | undefined {
    this.manager?.stop();
    this.manager = new CertificateManager({
      what: 'serving',
      nodeName: this.o.nodeName,
      log: this.o.log,
      onChange: this.o.onChange,
      request: () =>
        requestServingCredentials(this.o.client, { server: '', ca: this.o.ca, nodeName: this.o.nodeName, dataDir: this.o.dataDir, log: this.o.log, names }),
    });
    const stored = loadServingCredentials(this.o.dataDir, this.o.nodeName, this.o.ca, names);
    if (!('why' in stored)) {
      this.o.log(`k8ts agent ${this.o.nodeName}: using the stored serving certificate (valid until ${new Date(stored.notAfter).toISOString()})`);
      this.manager.start(stored);
      return stored;
    }
    this.o.log(`k8ts agent ${this.o.nodeName}: ${stored.why}; serving a self-signed certificate (the API server sends nothing to it) until one is issued`);
    this.manager.start();
    return undefined;
  }

  /** Resolves when a CA-signed certificate is in use, or after timeoutMs (false). */
  ready(timeoutMs: number): Promise<boolean> {
    return this.manager ? this.manager.ready(timeoutMs) : Promise.resolve(false);
  }

  /** The CA-signed certificate in use, if any. */
  get credentials(): NodeCredentials | undefined {
    return this.manager?.credentials;
  }

  stop(): void {
    this.manager?.stop();
  }
}
