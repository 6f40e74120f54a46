// CoreDNS's request metrics for the node's DNS server (coredns_dns_requests_total,
// coredns_dns_request_duration_seconds, coredns_dns_responses_total, with its server/zone/view/proto/family/type
// and rcode labels), counted in the DNS worker thread from each reply as it leaves: the question is read back
// from the reply, so the server's hot path keeps no extra state per query.
import { Counter, Histogram, Registry } from 'prom-client';
import type { DnsObservation } from './server.js';

/** The query types CoreDNS names in its type label; every other is "other" (plugin/metrics/vars). */
const TYPES = new Map<number, string>([
  [1, 'A'],
  [2, 'NS'],
  [5, 'CNAME'],
  [6, 'SOA'],
  [12, 'PTR'],
  [15, 'MX'],
  [16, 'TXT'],
  [28, 'AAAA'],
  [33, 'SRV'],
  [43, 'DS'],
  [46, 'RRSIG'],
  [47, 'NSEC'],
  [48, 'DNSKEY'],
  [50, 'NSEC3'],
  [65, 'HTTPS'],
  [251, 'IXFR'],
  [252, 'AXFR'],
  [255, 'ANY'],
]);
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

/** CoreDNS's duration buckets (plugin/metrics/vars: exponential 0.00025 s × 2, 16 of them). */
export const DNS_BUCKETS = Array.from({ length: 16 }, (_, i) => 0.00025 * 2 ** i);

/** The question of a DNS message (the reply echoes it): its lower-cased name with a trailing dot, and type. */
export function questionOf(m: Buffer): { name: string; type: number } | undefined {
  if (m.length < 12 || m.readUInt16BE(4) < 1) return undefined;
  let i = 12;
  const labels: string[] = [];
  for (;;) {
    if (i >= m.length) return undefined;
    const len = m[i];
    // The question is written uncompressed; a pointer or an extended label here is not ours to follow.
    if (len === 0) break;
    if (len > 63 || i + 1 + len > m.length) return undefined;
    labels.push(m.toString('latin1', i + 1, i + 1 + len).toLowerCase());
    i += 1 + len;
  }
  if (i + 3 > m.length) return undefined;
  return { name: labels.length ? `${labels.join('.')}.` : '.', type: m.readUInt16BE(i + 1) };
}

export class DnsMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'server' | 'zone' | 'view' | 'proto' | 'family' | 'type'>;
  private readonly duration: Histogram<'server' | 'zone' | 'view' | 'type'>;
  private readonly responses: Counter<'server' | 'zone' | 'view' | 'rcode' | 'plugin'>;
  /** The cluster zone as CoreDNS's zone label writes it ("cluster.local."). */
  private readonly zone: string;

  constructor(domain: string) {
    const registers = [this.registry];
    this.zone = `${domain.toLowerCase().replace(/\.$/, '')}.`;
    this.requests = new Counter({
      name: 'coredns_dns_requests_total',
      help: 'Counter of DNS requests made per zone, protocol and family.',
      labelNames: ['server', 'zone', 'view', 'proto', 'family', 'type'],
      registers,
    });
    this.duration = new Histogram({
      name: 'coredns_dns_request_duration_seconds',
      help: 'Histogram of the time (in seconds) each request took per zone.',
      labelNames: ['server', 'zone', 'view', 'type'],
      buckets: DNS_BUCKETS,
      registers,
    });
    this.responses = new Counter({
      name: 'coredns_dns_responses_total',
      help: 'Counter of response status codes.',
      labelNames: ['server', 'zone', 'view', 'rcode', 'plugin'],
      registers,
    });
  }

  /** One reply sent. Names in the cluster zone count under it, the rest (forwarded or refused) under ".". */
  observe(o: DnsObservation): void {
    const q = questionOf(o.reply);
    const inZone = q !== undefined && (q.name === this.zone || q.name.endsWith(`.${this.zone}`));
    const zone = inZone ? this.zone : '.';
    const type = (q && TYPES.get(q.type)) ?? 'other';
    this.requests.inc({ server: o.server, zone, view: '', proto: o.tcp ? 'tcp' : 'udp', family: o.family, type });
    this.duration.observe({ server: o.server, zone, view: '', type }, o.seconds);
    this.responses.inc({ server: o.server, zone, view: '', rcode: RCODES[o.rcode] ?? (o.rcode === 16 ? 'BADVERS' : `RCODE${o.rcode}`), plugin: '' });
  }
}
