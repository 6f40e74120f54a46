// The DNS server of one node as the agent runs it: informers for Services, EndpointSlices and Namespaces
// feed a ClusterZone, and a DnsServer answers from it. Once filled, the zone lives in the agent's memory, so
// answers go on while the API server is down.
import { findResource } from '../api/resources.js';
import { Informer } from '../client/informer.js';
import type { Client } from '../client/types.js';
import { ClusterZone, type ZoneOptions } from './records.js';
import { DnsServer, type DnsServerOptions, type Endpoint } from './server.js';

const SERVICES = findResource('', 'v1', 'services')!;
const SLICES = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;
const NAMESPACES = findResource('', 'v1', 'namespaces')!;

export interface NodeDnsOptions extends Omit<DnsServerOptions, 'zone'> {
  client: Client;
  zone?: ZoneOptions;
  /** How long start() waits for the first list of every informer before it listens anyway; default 10 s. */
  syncTimeoutMs?: number;
}

export class NodeDns {
  readonly zone: ClusterZone;
  readonly server: DnsServer;
  private readonly informers: Informer[];

  constructor(private readonly opts: NodeDnsOptions) {
    this.zone = new ClusterZone(opts.zone);
    this.server = new DnsServer({ ...opts, zone: this.zone });
    this.informers = [
      new Informer(opts.client, SERVICES).on(this.zone.handlers('services')),
      new Informer(opts.client, SLICES).on(this.zone.handlers('endpointslices')),
      new Informer(opts.client, NAMESPACES).on(this.zone.handlers('namespaces')),
    ];
  }

  /**
   * Starts the informers, waits (bounded) for their first lists so early answers are not NXDOMAIN for
   * services that exist, then listens. Returns the bound addresses.
   */
  async start(): Promise<Endpoint[]> {
    for (const i of this.informers) i.start();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.informers.map((i) => i.hasSynced())),
      new Promise<void>((r) => (timer = setTimeout(r, this.opts.syncTimeoutMs ?? 10_000))),
    ]);
    clearTimeout(timer);
    return this.server.start();
  }

  async stop(): Promise<void> {
    for (const i of this.informers) i.stop();
    await this.server.close();
  }
}
