// The DNS server of one node as the agent runs it: informers for Services, EndpointSlices and Namespaces
// feed a ClusterZone, and a DnsServer answers from it. Once filled, the zone lives in the agent's memory, so
// answers go on while the API server is down.
import { ENDPOINTSLICES, NAMESPACES, SERVICES } from '../api/kinds.js';
import { SharedInformerFactory } from '../client/factory.js';
import type { Client } from '../client/types.js';
import { ClusterZone, type ZoneOptions } from './records.js';
import { DnsServer, type DnsServerOptions, type Endpoint } from './server.js';

export interface NodeDnsOptions extends Omit<DnsServerOptions, 'zone'> {
  client: Client;
  zone?: ZoneOptions;
  /** How long start() waits for the first list of every informer before it listens anyway; default 10 s. */
  syncTimeoutMs?: number;
}

export class NodeDns {
  readonly zone: ClusterZone;
  readonly server: DnsServer;
  /** The DNS worker is a thread of its own (its own heap), so it has its own factory: one watch per kind. */
  readonly informers: SharedInformerFactory;

  constructor(private readonly opts: NodeDnsOptions) {
    this.zone = new ClusterZone(opts.zone);
    this.server = new DnsServer({ ...opts, zone: this.zone });
    this.informers = new SharedInformerFactory(opts.client);
    this.informers.informerFor(SERVICES).addEventHandler(this.zone.handlers('services'));
    this.informers.informerFor(ENDPOINTSLICES).addEventHandler(this.zone.handlers('endpointslices'));
    this.informers.informerFor(NAMESPACES).addEventHandler(this.zone.handlers('namespaces'));
  }

  /**
   * Starts the informers, waits (bounded) for their first lists so early answers are not NXDOMAIN for
   * services that exist, then listens. Returns the bound addresses.
   */
  async start(): Promise<Endpoint[]> {
    this.informers.start();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.informers.waitForCacheSync(), new Promise<void>((r) => (timer = setTimeout(r, this.opts.syncTimeoutMs ?? 10_000)))]);
    clearTimeout(timer);
    return this.server.start();
  }

  async stop(): Promise<void> {
    this.informers.stop();
    await this.server.close();
  }
}
