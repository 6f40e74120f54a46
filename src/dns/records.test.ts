import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RCODE, TYPE, type ResourceRecord } from './message.js';
import { ClusterZone, reverseName } from './records.js';
import { service, slice } from './testing.js';

const D = 'cluster.local';
const data = (rrs: ResourceRecord[]) =>
  rrs.map((r) => ({ name: r.name, type: r.type, ...r.data })).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
const ips = (rrs: ResourceRecord[]) => rrs.map((r) => (r.data as { address: string }).address).sort();

function zone(): ClusterZone {
  const z = new ClusterZone({ nameservers: ['10.96.0.10'] });
  z.upsertService(
    service('default', 'web', {
      type: 'ClusterIP',
      clusterIP: '10.96.0.20',
      clusterIPs: ['10.96.0.20'],
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }, { port: 9000 }],
    }),
  );
  z.upsertService(service('default', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }));
  z.upsertSlice(
    slice(
      'default',
      'db',
      'db-abc',
      [{ ip: '10.244.1.5', hostname: 'db-0' }, { ip: '10.244.2.6', hostname: 'db-1' }, { ip: '10.244.1.7' }, { ip: '10.244.1.8', ready: false }],
      [{ name: 'pg', port: 5432, protocol: 'TCP' }],
    ),
  );
  z.upsertService(service('default', 'ext', { type: 'ExternalName', externalName: 'www.Example.com.' }));
  return z;
}

test('ClusterIP service: A, SRV for named ports with the A in additional, PTR', () => {
  const z = zone();
  const a = z.resolve(`web.default.svc.${D}`, TYPE.A)!;
  assert.equal(a.rcode, RCODE.NOERROR);
  assert.deepEqual(ips(a.answers), ['10.96.0.20']);
  assert.equal(a.answers[0].ttl, 5);
  const srv = z.resolve(`_http._tcp.web.default.svc.${D}`, TYPE.SRV)!;
  assert.deepEqual(data(srv.answers), [
    { name: `_http._tcp.web.default.svc.${D}`, type: TYPE.SRV, kind: 'srv', priority: 0, weight: 100, port: 80, target: `web.default.svc.${D}` },
  ]);
  assert.deepEqual(ips(srv.additionals), ['10.96.0.20']);
  assert.equal(z.resolve(`_dns._udp.web.default.svc.${D}`, TYPE.SRV)!.answers.length, 1);
  // The UDP port has no TCP SRV; `_tcp.<svc>` exists as an empty non-terminal; unnamed ports have none.
  assert.equal(z.resolve(`_dns._tcp.web.default.svc.${D}`, TYPE.SRV)!.rcode, RCODE.NXDOMAIN);
  const ent = z.resolve(`_tcp.web.default.svc.${D}`, TYPE.SRV)!;
  assert.equal(ent.rcode, RCODE.NOERROR);
  assert.equal(ent.answers.length, 0);
  const ptr = z.resolve('20.0.96.10.in-addr.arpa', TYPE.PTR)!;
  assert.deepEqual(data(ptr.answers), [{ name: '20.0.96.10.in-addr.arpa', type: TYPE.PTR, kind: 'name', target: `web.default.svc.${D}` }]);
  // A reverse name no service has is not ours to answer.
  assert.equal(z.resolve('99.0.96.10.in-addr.arpa', TYPE.PTR), undefined);
});

test('NXDOMAIN vs NODATA, both with the SOA; namespaces, zone apex, dns-version, nameserver', () => {
  const z = zone();
  const nx = z.resolve(`nope.default.svc.${D}`, TYPE.A)!;
  assert.equal(nx.rcode, RCODE.NXDOMAIN);
  assert.equal(nx.authorities[0].type, TYPE.SOA);
  assert.equal(nx.authorities[0].name, D);
  const soa = nx.authorities[0].data;
  assert.equal(soa.kind === 'soa' && soa.minimum, 5);
  // An existing name asked for a type it has not: NODATA (NOERROR, empty answer, SOA).
  for (const [name, type] of [
    [`web.default.svc.${D}`, TYPE.AAAA],
    [`web.default.svc.${D}`, 65280],
    [`default.svc.${D}`, TYPE.A],
    [`svc.${D}`, TYPE.A],
    [D, TYPE.A],
  ] as const) {
    const r = z.resolve(name, type)!;
    assert.equal(r.rcode, RCODE.NOERROR, name);
    assert.equal(r.answers.length, 0, name);
    assert.equal(r.authorities[0].type, TYPE.SOA, name);
  }
  assert.equal(z.resolve(`other.svc.${D}`, TYPE.A)!.rcode, RCODE.NXDOMAIN, 'namespace without services');
  z.upsertNamespace({ metadata: { name: 'other' } });
  assert.equal(z.resolve(`other.svc.${D}`, TYPE.A)!.rcode, RCODE.NOERROR);
  z.deleteNamespace({ metadata: { name: 'other' } });
  assert.equal(z.resolve(`other.svc.${D}`, TYPE.A)!.rcode, RCODE.NXDOMAIN);
  assert.deepEqual(data(z.resolve(`dns-version.${D}`, TYPE.TXT)!.answers), [{ name: `dns-version.${D}`, type: TYPE.TXT, kind: 'txt', texts: ['1.0.1'] }]);
  assert.equal(z.resolve(D, TYPE.SOA)!.answers[0].type, TYPE.SOA);
  assert.deepEqual(data(z.resolve(D, TYPE.NS)!.answers), [{ name: D, type: TYPE.NS, kind: 'name', target: `ns.dns.${D}` }]);
  assert.deepEqual(ips(z.resolve(`ns.dns.${D}`, TYPE.A)!.answers), ['10.96.0.10']);
  assert.equal(z.resolve('example.com', TYPE.A), undefined);
  assert.equal(z.resolve('xcluster.local', TYPE.A), undefined);
});

test('headless service: one A per ready endpoint, hostnames, dashed names, SRV per endpoint and port, PTR', () => {
  const z = zone();
  const fq = `db.default.svc.${D}`;
  assert.deepEqual(ips(z.resolve(fq, TYPE.A)!.answers), ['10.244.1.5', '10.244.1.7', '10.244.2.6']);
  assert.deepEqual(ips(z.resolve(`db-0.${fq}`, TYPE.A)!.answers), ['10.244.1.5']);
  assert.deepEqual(ips(z.resolve(`10-244-1-7.${fq}`, TYPE.A)!.answers), ['10.244.1.7']);
  assert.equal(z.resolve(`10-244-1-8.${fq}`, TYPE.A)!.rcode, RCODE.NXDOMAIN, 'not ready');
  const srv = z.resolve(`_pg._tcp.${fq}`, TYPE.SRV)!;
  assert.deepEqual(srv.answers.map((r) => r.data.kind === 'srv' && `${r.data.port} ${r.data.weight} ${r.data.target}`).sort(), [
    `5432 33 10-244-1-7.${fq}`,
    `5432 33 db-0.${fq}`,
    `5432 33 db-1.${fq}`,
  ]);
  assert.deepEqual(ips(srv.additionals), ['10.244.1.5', '10.244.1.7', '10.244.2.6']);
  assert.equal((z.resolve('5.1.244.10.in-addr.arpa', TYPE.PTR)!.answers[0].data as { target: string }).target, `db-0.${fq}`);
  assert.equal((z.resolve('7.1.244.10.in-addr.arpa', TYPE.PTR)!.answers[0].data as { target: string }).target, `10-244-1-7.${fq}`);
  assert.equal(z.resolve('8.1.244.10.in-addr.arpa', TYPE.PTR), undefined);
});

test('headless: publishNotReadyAddresses includes all, no ready endpoints is NXDOMAIN, slices across updates', () => {
  const z = zone();
  const fq = `db.default.svc.${D}`;
  z.upsertService(service('default', 'db', { clusterIP: 'None', publishNotReadyAddresses: true, ports: [] }));
  assert.deepEqual(ips(z.resolve(fq, TYPE.A)!.answers), ['10.244.1.5', '10.244.1.7', '10.244.1.8', '10.244.2.6']);
  z.upsertService(service('default', 'db', { clusterIP: 'None' }));
  // A second slice adds endpoints; removing the first leaves the second's.
  z.upsertSlice(slice('default', 'db', 'db-def', [{ ip: '10.244.3.9' }]));
  assert.equal(z.resolve(fq, TYPE.A)!.answers.length, 4);
  z.deleteSlice(slice('default', 'db', 'db-abc', []));
  assert.deepEqual(ips(z.resolve(fq, TYPE.A)!.answers), ['10.244.3.9']);
  z.upsertSlice(slice('default', 'db', 'db-def', [{ ip: '10.244.3.9', ready: false }]));
  assert.equal(z.resolve(fq, TYPE.A)!.rcode, RCODE.NXDOMAIN);
  assert.equal(z.resolve('9.3.244.10.in-addr.arpa', TYPE.PTR), undefined);
  // The namespace still exists.
  assert.equal(z.resolve(`default.svc.${D}`, TYPE.A)!.rcode, RCODE.NOERROR);
});

test('ExternalName: CNAME (and no A); CNAMEs inside the zone are followed', () => {
  const z = zone();
  const r = z.resolve(`ext.default.svc.${D}`, TYPE.A)!;
  assert.equal(r.rcode, RCODE.NOERROR);
  assert.deepEqual(data(r.answers), [{ name: `ext.default.svc.${D}`, type: TYPE.CNAME, kind: 'name', target: 'www.example.com' }]);
  assert.equal(r.chase, 'www.example.com');
  assert.equal(z.resolve(`ext.default.svc.${D}`, TYPE.CNAME)!.chase, undefined);
  z.upsertService(service('default', 'alias', { type: 'ExternalName', externalName: `web.default.svc.${D}` }));
  const inner = z.resolve(`alias.default.svc.${D}`, TYPE.A)!;
  assert.equal(inner.volatile, true);
  assert.deepEqual(
    inner.answers.map((a) => a.type),
    [TYPE.CNAME, TYPE.A],
  );
  z.upsertService(service('default', 'dangling', { type: 'ExternalName', externalName: `gone.default.svc.${D}` }));
  assert.equal(z.resolve(`dangling.default.svc.${D}`, TYPE.A)!.rcode, RCODE.NXDOMAIN);
  // An externalName that cannot be a DNS name gives no record rather than a broken answer.
  z.upsertService(service('default', 'broken', { type: 'ExternalName', externalName: 'a..b' }));
  assert.equal(z.resolve(`broken.default.svc.${D}`, TYPE.A)!.rcode, RCODE.NXDOMAIN);
  // A type change from ExternalName to ClusterIP replaces the CNAME.
  z.upsertService(service('default', 'ext', { clusterIP: '10.96.0.30' }));
  assert.deepEqual(ips(z.resolve(`ext.default.svc.${D}`, TYPE.A)!.answers), ['10.96.0.30']);
});

test('pod records a-b-c-d.<ns>.pod.<domain>, dual-stack services, AAAA and ip6.arpa', () => {
  const z = zone();
  assert.deepEqual(ips(z.resolve(`10-244-1-5.default.pod.${D}`, TYPE.A)!.answers), ['10.244.1.5']);
  assert.equal(z.resolve(`10-244-1-5.default.pod.${D}`, TYPE.AAAA)!.answers.length, 0);
  assert.equal(z.resolve(`10-244-1-256.default.pod.${D}`, TYPE.A)!.rcode, RCODE.NXDOMAIN);
  assert.equal(z.resolve(`010-244-1-5.default.pod.${D}`, TYPE.A)!.rcode, RCODE.NXDOMAIN);
  assert.equal(z.resolve(`default.pod.${D}`, TYPE.A)!.rcode, RCODE.NOERROR);
  assert.equal(new ClusterZone({ podRecords: false }).resolve(`10-244-1-5.default.pod.${D}`, TYPE.A)!.rcode, RCODE.NXDOMAIN);
  z.upsertService(service('default', 'dual', { clusterIP: '10.96.0.40', clusterIPs: ['10.96.0.40', 'fd00::40'] }));
  assert.deepEqual(ips(z.resolve(`dual.default.svc.${D}`, TYPE.AAAA)!.answers), ['fd00::40']);
  assert.deepEqual(ips(z.resolve(`dual.default.svc.${D}`, TYPE.A)!.answers), ['10.96.0.40']);
  const rev = reverseName('fd00::40')!;
  assert.match(rev, /^0\.4(\.0){28}\.d\.f\.ip6\.arpa$/);
  assert.equal(z.resolve(rev, TYPE.PTR)!.answers.length, 1);
  assert.equal(z.resolve(`dual.default.svc.${D}`, TYPE.ANY)!.answers.length, 2);
});

test('changes are reported by name; unchanged resourceVersions are skipped; delete removes every record', () => {
  const z = zone();
  const seen: string[][] = [];
  z.onChange((n) => seen.push(n));
  const svc = service('ns2', 'api', { clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80 }] });
  z.upsertService(svc);
  const names = seen.flat();
  assert.ok(names.includes(`api.ns2.svc.${D}`));
  assert.ok(names.includes(`_http._tcp.api.ns2.svc.${D}`));
  assert.ok(names.includes('1.1.96.10.in-addr.arpa'));
  assert.ok(names.includes(`ns2.svc.${D}`));
  seen.length = 0;
  z.upsertService(svc);
  assert.equal(seen.length, 0, 'an informer resync of the same object changes nothing');
  const before = z.nameCount;
  z.deleteService(svc);
  assert.equal(z.resolve(`api.ns2.svc.${D}`, TYPE.A)!.rcode, RCODE.NXDOMAIN);
  assert.equal(z.resolve(`ns2.svc.${D}`, TYPE.A)!.rcode, RCODE.NXDOMAIN);
  assert.equal(z.resolve('1.1.96.10.in-addr.arpa', TYPE.PTR), undefined);
  assert.equal(z.nameCount, before - 5);
  // Informer-shaped handlers feed the same methods.
  z.handlers('services').onAdd!(svc);
  assert.equal(z.resolve(`api.ns2.svc.${D}`, TYPE.A)!.rcode, RCODE.NOERROR);
  z.handlers('services').onDelete!(svc);
  assert.equal(z.serviceCount, 3);
});

test('the same endpoint IP in two headless services gets a PTR from each; a slice relabelled moves', () => {
  const z = new ClusterZone({ domain: 'Example.Internal.' });
  assert.equal(z.domain, 'example.internal');
  z.upsertService(service('a', 'one', { clusterIP: 'None' }));
  z.upsertService(service('a', 'two', { clusterIP: 'None' }));
  z.upsertSlice(slice('a', 'one', 's1', [{ ip: '10.1.1.1', hostname: 'p' }]));
  z.upsertSlice(slice('a', 'two', 's2', [{ ip: '10.1.1.1', hostname: 'p' }]));
  assert.equal(z.resolve('1.1.1.10.in-addr.arpa', TYPE.PTR)!.answers.length, 2);
  z.upsertSlice(slice('a', 'two', 's1', [{ ip: '10.1.1.2' }]));
  assert.equal(z.resolve('one.a.svc.example.internal', TYPE.A)!.rcode, RCODE.NXDOMAIN);
  assert.deepEqual(ips(z.resolve('two.a.svc.example.internal', TYPE.A)!.answers), ['10.1.1.1', '10.1.1.2']);
});
