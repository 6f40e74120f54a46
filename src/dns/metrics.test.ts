// CoreDNS's series counted from real replies of a real DnsServer over UDP and TCP: zone, type, proto, family and
// rcode labels as CoreDNS writes them, and a reply the question cannot be read back from counted as "other".
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { TYPE } from './message.js';
import { DnsMetrics, questionOf } from './metrics.js';
import { ClusterZone } from './records.js';
import { DnsServer } from './server.js';
import { ask, buildQuery, service, udpRaw } from './testing.js';
import { parseExposition, sumOf } from '../util/promtext.js';

const servers: DnsServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

test('coredns_dns_* from real queries: in-zone A over UDP and TCP, NXDOMAIN, outside the zone REFUSED, a FORMERR', async () => {
  const zone = new ClusterZone();
  zone.upsertService(service('default', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80 }] }));
  const metrics = new DnsMetrics('cluster.local');
  const server = new DnsServer({ zone, listen: [{ address: '127.0.0.1', port: 0 }], observe: (o) => metrics.observe(o) });
  servers.push(server);
  const [ep] = await server.start();
  await ask(ep, 'Web.Default.svc.cluster.local', TYPE.A);
  await ask(ep, 'web.default.svc.cluster.local', TYPE.A, { tcp: true });
  await ask(ep, 'web.default.svc.cluster.local', TYPE.MX);
  await ask(ep, 'nope.default.svc.cluster.local', TYPE.AAAA);
  await ask(ep, 'www.example.test', TYPE.A);
  // A header and half a question: FORMERR, and no question to read back from the reply.
  const bad = await udpRaw(ep, buildQuery('x.cluster.local', TYPE.A).subarray(0, 15));
  assert.ok(bad);
  const e = parseExposition(await metrics.registry.metrics());
  const server_ = `dns://127.0.0.1:${ep.port}`;
  const zoneL = { server: server_, zone: 'cluster.local.', view: '' };
  assert.equal(sumOf(e, 'coredns_dns_requests_total', { ...zoneL, proto: 'udp', family: '1', type: 'A' }), 1);
  assert.equal(sumOf(e, 'coredns_dns_requests_total', { ...zoneL, proto: 'tcp', family: '1', type: 'A' }), 1);
  assert.equal(sumOf(e, 'coredns_dns_requests_total', { ...zoneL, type: 'MX' }), 1);
  assert.equal(sumOf(e, 'coredns_dns_requests_total', { ...zoneL, type: 'AAAA' }), 1);
  assert.equal(sumOf(e, 'coredns_dns_requests_total', { zone: '.', type: 'A' }), 1);
  assert.equal(sumOf(e, 'coredns_dns_requests_total', { zone: '.', type: 'other' }), 1, 'the FORMERR, its question unreadable');
  assert.equal(sumOf(e, 'coredns_dns_requests_total'), 6);
  assert.equal(sumOf(e, 'coredns_dns_request_duration_seconds_count', { ...zoneL, type: 'A' }), 2);
  assert.equal(e.types.get('coredns_dns_request_duration_seconds'), 'histogram');
  assert.equal(sumOf(e, 'coredns_dns_responses_total', { ...zoneL, rcode: 'NOERROR' }), 3);
  assert.equal(sumOf(e, 'coredns_dns_responses_total', { ...zoneL, rcode: 'NXDOMAIN' }), 1);
  assert.equal(sumOf(e, 'coredns_dns_responses_total', { zone: '.', rcode: 'REFUSED' }), 1);
  assert.equal(sumOf(e, 'coredns_dns_responses_total', { zone: '.', rcode: 'FORMERR' }), 1);
  // Every duration is a real, small, positive time.
  const sum = sumOf(e, 'coredns_dns_request_duration_seconds_sum');
  assert.ok(sum > 0 && sum < 10, `sum ${sum}`);
});

test('questionOf reads the question back and refuses what is not one', () => {
  assert.deepEqual(questionOf(buildQuery('A.b.Cluster.Local', TYPE.SRV)), { name: 'a.b.cluster.local.', type: TYPE.SRV });
  assert.deepEqual(questionOf(buildQuery('.', TYPE.NS)), { name: '.', type: TYPE.NS });
  const q = buildQuery('a.b', TYPE.A);
  assert.equal(questionOf(q.subarray(0, 11)), undefined, 'shorter than a header');
  assert.equal(questionOf(q.subarray(0, q.length - 3)), undefined, 'type cut off');
  const zeroQ = Buffer.from(q);
  zeroQ.writeUInt16BE(0, 4);
  assert.equal(questionOf(zeroQ), undefined, 'no question');
  const pointer = Buffer.from(q);
  pointer[12] = 0xc0;
  assert.equal(questionOf(pointer), undefined, 'a compression pointer is not followed');
  const long = Buffer.from(q);
  long[12] = 60;
  assert.equal(questionOf(long), undefined, 'a label past the end');
});
