import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { CLASS_IN, RCODE, TYPE, decodeMessage } from './message.js';
import { ClusterZone } from './records.js';
import { DnsServer, type DnsServerError, upstreamCacheSeconds, upstreamsFromResolvConf, type DnsServerOptions, type Endpoint } from './server.js';
import { ask, buildQuery, resolveLikeAStub, service, slice, tcpRaw, udpRaw } from './testing.js';

const D = 'cluster.local';
const servers: DnsServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(zone: ClusterZone, opts: Partial<DnsServerOptions> = {}): Promise<{ server: DnsServer; ep: Endpoint }> {
  const server = new DnsServer({ zone, listen: [{ address: '127.0.0.1', port: 0 }], ...opts });
  servers.push(server);
  const [ep] = await server.start();
  return { server, ep };
}

function bigHeadless(z: ClusterZone, ns: string, name: string, n: number): void {
  z.upsertService(service(ns, name, { clusterIP: 'None' }));
  z.upsertSlice(
    slice(
      ns,
      name,
      `${name}-1`,
      Array.from({ length: n }, (_, i) => ({ ip: `10.244.${i >> 8}.${i & 255}` })),
    ),
  );
}

function clusterZone(): ClusterZone {
  const z = new ClusterZone();
  z.upsertService(service('default', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80 }] }));
  z.upsertService(service('default', 'ext', { type: 'ExternalName', externalName: 'www.example.test' }));
  bigHeadless(z, 'default', 'big', 100);
  return z;
}

test('answers over UDP and TCP, echoing ID, RD and the letter case of the question; cache follows changes', async () => {
  const z = clusterZone();
  const { server, ep } = await start(z);
  for (const tcp of [false, true]) {
    const { msg, raw } = await ask(ep, 'WeB.Default.SVC.cluster.local', TYPE.A, { tcp, id: 0xbeef, rd: true });
    assert.equal(msg.header.id, 0xbeef);
    assert.equal(msg.header.qr, true);
    assert.equal(msg.header.aa, true);
    assert.equal(msg.header.rd, true);
    assert.equal(msg.header.ra, false, 'no upstream, no recursion');
    assert.equal(msg.questions[0].name, 'WeB.Default.SVC.cluster.local');
    assert.deepEqual(
      msg.answers.map((a) => a.data),
      [{ kind: 'ip', address: '10.96.0.20' }],
    );
    assert.equal(raw.indexOf('WeB'), 13);
  }
  // A second asker with other letters and no RD gets its own case and flags from the cached answer.
  const again = await ask(ep, 'web.default.svc.CLUSTER.local', TYPE.A, { id: 1, rd: false });
  assert.equal(again.msg.questions[0].name, 'web.default.svc.CLUSTER.local');
  assert.equal(again.msg.header.rd, false);
  assert.ok(server.stats.cacheHits >= 2);
  z.upsertService(service('default', 'web', { clusterIP: '10.96.0.21', ports: [{ name: 'http', port: 80 }] }));
  assert.deepEqual(
    (await ask(ep, `web.default.svc.${D}`, TYPE.A)).msg.answers.map((a) => a.data),
    [{ kind: 'ip', address: '10.96.0.21' }],
  );
  const srv = await ask(ep, `_http._tcp.web.default.svc.${D}`, TYPE.SRV, { edns: {} });
  assert.equal(srv.msg.answers.length, 1);
  assert.equal(srv.msg.additionals.length, 1);
  assert.equal(srv.msg.edns?.udpSize, 1232);
});

test('rcodes: NXDOMAIN and NODATA with SOA, FORMERR, NOTIMP, REFUSED for other classes, BADVERS, dropped junk', async () => {
  const { server, ep } = await start(clusterZone());
  const nx = (await ask(ep, `nope.default.svc.${D}`, TYPE.A)).msg;
  assert.equal(nx.header.rcode, RCODE.NXDOMAIN);
  assert.equal(nx.authorities[0].type, TYPE.SOA);
  const nodata = (await ask(ep, `web.default.svc.${D}`, 65399)).msg;
  assert.equal(nodata.header.rcode, RCODE.NOERROR);
  assert.equal(nodata.answers.length, 0);
  assert.equal(nodata.authorities[0].type, TYPE.SOA);
  const q = buildQuery(`web.default.svc.${D}`, TYPE.A, { id: 0x4242 });
  for (const qd of [0, 2]) {
    const bad = Buffer.from(q);
    bad.writeUInt16BE(qd, 4);
    const r = decodeMessage((await udpRaw(ep, bad))!);
    assert.equal(r.header.rcode, RCODE.FORMERR, `qdcount ${qd}`);
    assert.equal(r.header.id, 0x4242);
  }
  const status = Buffer.from(q);
  status[2] = (status[2] & 0x87) | (2 << 3);
  const st = decodeMessage((await udpRaw(ep, status))!);
  assert.equal(st.header.rcode, RCODE.NOTIMP);
  assert.equal(st.header.opcode, 2);
  assert.equal((await ask(ep, 'version.bind', TYPE.TXT, { qclass: 3 })).msg.header.rcode, RCODE.REFUSED);
  assert.equal((await ask(ep, D, TYPE.AXFR)).msg.header.rcode, RCODE.NOTIMP);
  const v1 = (await ask(ep, `web.default.svc.${D}`, TYPE.A, { edns: { version: 1 } })).msg;
  assert.equal(v1.header.rcode, RCODE.BADVERS);
  assert.equal(v1.edns?.version, 0);
  assert.equal(await udpRaw(ep, Buffer.from([1, 2, 3, 4]), 200), undefined, 'shorter than a header: dropped');
  const resp = Buffer.from(q);
  resp[2] |= 0x80;
  assert.equal(await udpRaw(ep, resp, 200), undefined, 'a response is never answered');
  assert.equal(server.stats.dropped, 2);
  assert.equal(server.snapshot().rcodes.FORMERR, 2);
  assert.equal(server.stats.errors, 0);
});

test('truncation over UDP trims to whole records with TC; the retry over TCP gets the full answer', async () => {
  const { ep } = await start(clusterZone());
  const name = `big.default.svc.${D}`;
  for (const edns of [false, { udpSize: 1232 }, { udpSize: 65000 }, { udpSize: 100 }] as const) {
    const raw = (await udpRaw(ep, buildQuery(name, TYPE.A, { edns })))!;
    const m = decodeMessage(raw);
    const limit = edns === false ? 512 : Math.max(512, Math.min(edns.udpSize, 1232));
    assert.ok(raw.length <= limit, `${raw.length} <= ${limit}`);
    assert.equal(m.header.tc, true);
    assert.ok(m.answers.length > 0 && m.answers.length < 100);
    assert.ok(raw.length + 16 > limit, 'as many whole records as fit');
    assert.equal(!!m.edns, edns !== false);
  }
  const full = await resolveLikeAStub(ep, name, TYPE.A, { edns: {} });
  assert.equal(full.tcp, true);
  assert.equal(full.msg.header.tc, false);
  assert.equal(full.msg.answers.length, 100);
  assert.deepEqual(new Set(full.msg.answers.map((a) => (a.data as { address: string }).address)).size, 100);
});

test('an answer larger than any TCP message is cut to whole records with TC', async () => {
  const z = clusterZone();
  bigHeadless(z, 'default', 'huge', 5000);
  const { server, ep } = await start(z);
  const [raw] = await tcpRaw(ep, [buildQuery(`huge.default.svc.${D}`, TYPE.A)]);
  const m = decodeMessage(raw);
  assert.equal(m.header.tc, true);
  assert.ok(raw.length <= 65535 && raw.length + 16 > 65535, `${raw.length} bytes`);
  assert.equal(m.answers.length, Math.floor((65535 - raw.indexOf(0, 12) - 5) / 16));
  assert.equal(server.stats.errors, 0);
});

test('TCP: pipelined queries on one connection, frames split across writes, a 64 KiB frame, idle timeout', async () => {
  const { ep } = await start(clusterZone(), { tcpIdleMs: 300 });
  const frames = Array.from({ length: 20 }, (_, i) => buildQuery(i % 2 ? `web.default.svc.${D}` : `x${i}.default.svc.${D}`, TYPE.A, { id: i }));
  const replies = await tcpRaw(ep, frames);
  assert.equal(replies.length, 20);
  for (const r of replies) {
    const m = decodeMessage(r);
    assert.equal(m.header.rcode, m.header.id % 2 ? RCODE.NOERROR : RCODE.NXDOMAIN);
  }
  // A valid question followed by 65 KB of junk the header does not count: answered.
  const q = buildQuery(`web.default.svc.${D}`, TYPE.A, { id: 77 });
  const huge = Buffer.concat([q, Buffer.alloc(65535 - q.length, 0xab)]);
  const [hr] = await tcpRaw(ep, [huge]);
  assert.equal(decodeMessage(hr).header.id, 77);
  // Huge garbage claiming thousands of records: FORMERR, and the connection keeps serving.
  const junk = Buffer.alloc(65535, 0xc0);
  junk.writeUInt16BE(9, 0);
  junk.writeUInt16BE(0x0100, 2);
  const both = await tcpRaw(ep, [junk, q]);
  assert.equal(both.length, 2);
  assert.equal(decodeMessage(both[0]).header.rcode, RCODE.FORMERR);
  assert.equal(decodeMessage(both[1]).header.rcode, RCODE.NOERROR);
  // One query in three writes.
  const framed = Buffer.concat([Buffer.from([0, q.length]), q]);
  const got = await new Promise<Buffer>((resolve, reject) => {
    const s = connect(ep.port, ep.address, async () => {
      for (const part of [framed.subarray(0, 1), framed.subarray(1, 9), framed.subarray(9)]) {
        s.write(part);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    s.on('data', (d) => {
      s.destroy();
      resolve(d);
    });
    s.on('error', reject);
  });
  assert.equal(got.readUInt16BE(0), got.length - 2);
  // An idle connection is closed by the server.
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const s = connect(ep.port, ep.address);
    s.on('close', () => resolve());
    s.on('error', () => undefined);
  });
  const idle = performance.now() - t0;
  assert.ok(idle >= 250 && idle < 3000, `closed after ${idle} ms`);
});

test('names outside the zone: REFUSED at once without an upstream', async () => {
  const { ep } = await start(clusterZone());
  const t0 = performance.now();
  const r = await ask(ep, 'www.example.com', TYPE.A, { edns: {} });
  const ms = performance.now() - t0;
  assert.equal(r.msg.header.rcode, RCODE.REFUSED);
  assert.equal(r.msg.questions[0].name, 'www.example.com');
  assert.ok(r.msg.edns);
  assert.ok(ms < 200, `answered in ${ms} ms`);
  const { ep: ep2 } = await start(clusterZone(), { noUpstreamRcode: 'SERVFAIL' });
  assert.equal((await ask(ep2, 'www.example.com', TYPE.A)).msg.header.rcode, RCODE.SERVFAIL);
  const { ep: ep3 } = await start(clusterZone(), { noUpstreamRcode: 'NXDOMAIN' });
  const nx = (await ask(ep3, 'www.example.com', TYPE.A)).msg;
  assert.equal(nx.header.rcode, RCODE.NXDOMAIN);
  assert.equal(nx.header.aa, false);
  // ExternalName without an upstream: the CNAME alone.
  const ext = (await ask(ep, `ext.default.svc.${D}`, TYPE.A)).msg;
  assert.equal(ext.header.rcode, RCODE.NOERROR);
  assert.deepEqual(
    ext.answers.map((a) => a.type),
    [TYPE.CNAME],
  );
});

test('forwarding to an upstream: UDP, TCP after a truncated UDP answer, ExternalName chased, timeouts', async () => {
  const upZone = new ClusterZone({ domain: 'example.test' });
  upZone.upsertService(service('x', 'y', { clusterIP: '10.0.0.9' }));
  bigHeadless(upZone, 'x', 'many', 200);
  // The upstream stands in for a recursive resolver: www.example.test answers like a service.
  upZone.upsertService(service('x', 'www', { type: 'ExternalName', externalName: 'y.x.svc.example.test' }));
  const { ep: upEp } = await start(upZone);
  const ours = clusterZone();
  ours.upsertService(service('default', 'ext2', { type: 'ExternalName', externalName: 'www.x.svc.example.test' }));
  const { server, ep } = await start(ours, { upstreams: [`${upEp.address}:${upEp.port}`] });
  const r = (await ask(ep, 'Y.x.svc.example.test', TYPE.A, { id: 0x5151 })).msg;
  assert.equal(r.header.id, 0x5151);
  assert.equal(r.header.rcode, RCODE.NOERROR);
  assert.equal(r.questions[0].name, 'Y.x.svc.example.test');
  assert.deepEqual(
    r.answers.map((a) => a.data),
    [{ kind: 'ip', address: '10.0.0.9' }],
  );
  assert.equal((await ask(ep, 'nope.x.svc.example.test', TYPE.A)).msg.header.rcode, RCODE.NXDOMAIN);
  assert.equal((await ask(ep, `web.default.svc.${D}`, TYPE.A)).msg.header.ra, true);
  // 200 records do not fit the upstream's UDP answer: it truncates, we ask again over TCP.
  const tcp = (await ask(ep, 'many.x.svc.example.test', TYPE.A, { tcp: true })).msg;
  assert.equal(tcp.answers.length, 200);
  assert.equal(tcp.header.tc, false);
  assert.ok(server.stats.upstreamTcpRetries >= 1);
  // Over UDP the client gets what fits, with TC, and then the whole answer over TCP.
  const stub = await resolveLikeAStub(ep, 'many.x.svc.example.test', TYPE.A, { edns: {} });
  assert.equal(stub.tcp, true);
  assert.equal(stub.msg.answers.length, 200);
  // ExternalName: our CNAME, then the upstream's chain for the target.
  const ext = (await ask(ep, `Ext2.default.svc.${D}`, TYPE.A)).msg;
  assert.equal(ext.questions[0].name, `Ext2.default.svc.${D}`);
  assert.deepEqual(
    ext.answers.map((a) => [a.type, a.data.kind === 'ip' ? a.data.address : a.data.kind === 'name' ? a.data.target : '']),
    [
      [TYPE.CNAME, 'www.x.svc.example.test'],
      [TYPE.CNAME, 'y.x.svc.example.test'],
      [TYPE.A, '10.0.0.9'],
    ],
  );
  assert.equal((await ask(ep, `ext.default.svc.${D}`, TYPE.A)).msg.header.rcode, RCODE.NXDOMAIN, 'the target does not exist upstream');
  // An upstream that never answers: SERVFAIL after the timeout.
  const silent = createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  try {
    const { ep: ep3, server: s3 } = await start(clusterZone(), { upstreams: [{ address: '127.0.0.1', port: silent.address().port }], upstreamTimeoutMs: 300 });
    const t0 = performance.now();
    const sf = (await ask(ep3, 'www.example.com', TYPE.A, { timeoutMs: 3000 })).msg;
    const ms = performance.now() - t0;
    assert.equal(sf.header.rcode, RCODE.SERVFAIL);
    assert.ok(ms >= 250 && ms < 2000, `${ms} ms`);
    assert.equal(s3.stats.upstreamFailures, 1);
  } finally {
    silent.close();
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server forwarding to an upstream server whose zone holds y.x.svc.example.test (TTL 2 s); `asked` counts
 *  the queries the upstream received. */
async function forwarding(): Promise<{ server: DnsServer; ep: Endpoint; asked: () => number }> {
  const upZone = new ClusterZone({ domain: 'example.test', ttl: 2 });
  upZone.upsertService(service('x', 'y', { clusterIP: '10.0.0.9' }));
  const { server: up, ep: upEp } = await start(upZone);
  const { server, ep } = await start(clusterZone(), { upstreams: [upEp] });
  return { server, ep, asked: () => up.stats.received };
}

test('upstream answers are cached for their TTL and counted down; denials briefly; refusals not at all', async () => {
  const { server, ep, asked } = await forwarding();
  const first = (await ask(ep, 'y.x.svc.example.test', TYPE.A, { id: 1 })).msg;
  assert.deepEqual([first.answers[0].ttl, asked()], [2, 1]);
  // From the cache: this query's ID and letter case, the same answer, nothing sent upstream.
  const hit = (await ask(ep, 'Y.X.svc.example.test', TYPE.A, { id: 2 })).msg;
  assert.equal(hit.header.id, 2);
  assert.equal(hit.questions[0].name, 'Y.X.svc.example.test');
  assert.deepEqual(hit.answers[0].data, { kind: 'ip', address: '10.0.0.9' });
  assert.equal(asked(), 1);
  await sleep(1100);
  const older = (await ask(ep, 'y.x.svc.example.test', TYPE.A)).msg;
  assert.ok(older.answers[0].ttl <= 1, `TTL counted down: ${older.answers[0].ttl}`);
  assert.equal(asked(), 1);
  // Past the TTL: asked again, and stored again with the full TTL.
  await sleep(1100);
  assert.equal((await ask(ep, 'y.x.svc.example.test', TYPE.A)).msg.answers[0].ttl, 2);
  assert.equal(asked(), 2);
  // With EDNS the query is another entry (the answer carries an OPT record, and may be larger).
  await ask(ep, 'y.x.svc.example.test', TYPE.A, { edns: {} });
  assert.equal(asked(), 3);
  // A denial lives as long as the SOA allows (here 2 s).
  for (let i = 0; i < 2; i++) assert.equal((await ask(ep, 'nope.x.svc.example.test', TYPE.A)).msg.header.rcode, RCODE.NXDOMAIN);
  assert.equal(asked(), 4);
  // REFUSED (the upstream has no upstream of its own for this name) is asked each time.
  for (let i = 0; i < 2; i++) assert.equal((await ask(ep, 'www.elsewhere.test', TYPE.A)).msg.header.rcode, RCODE.REFUSED);
  assert.equal(asked(), 6);
  assert.equal(server.stats.forwarded, 6, 'every trip upstream, and only those');
});

test('a cached upstream answer hit in its last tenth is asked again in the background: in use, it never expires in front of a client', async () => {
  const { server, ep, asked } = await forwarding();
  await ask(ep, 'y.x.svc.example.test', TYPE.A);
  assert.equal(asked(), 1);
  // Before the last tenth (1.8 s of 2): a plain hit.
  await sleep(1000);
  await ask(ep, 'y.x.svc.example.test', TYPE.A);
  assert.deepEqual([asked(), server.stats.prefetched], [1, 0]);
  // In it: answered from the cache at once (its TTL counted down), and the upstream asked once more meanwhile.
  await sleep(850);
  const late = (await ask(ep, 'y.x.svc.example.test', TYPE.A)).msg;
  assert.ok(late.answers[0].ttl <= 1, `from the cache: ${late.answers[0].ttl}`);
  await ask(ep, 'y.x.svc.example.test', TYPE.A);
  for (let i = 0; i < 50 && asked() < 2; i++) await sleep(10);
  assert.deepEqual([asked(), server.stats.prefetched], [2, 1], 'one refresh, however many hits');
  // Past the first answer's expiry the refreshed one serves, with nothing more asked.
  await sleep(400);
  const after = (await ask(ep, 'y.x.svc.example.test', TYPE.A)).msg;
  assert.deepEqual(after.answers[0].data, { kind: 'ip', address: '10.0.0.9' });
  assert.ok(after.answers[0].ttl >= 1, `the refreshed answer: ${after.answers[0].ttl}`);
  assert.equal(asked(), 2);
  assert.equal(server.stats.cacheMisses, 1);
});

test('what an upstream answer may be cached for', () => {
  const header = { id: 0, qr: true, opcode: 0, aa: false, tc: false, rd: true, ra: true, ad: false, cd: false, rcode: RCODE.NOERROR as number };
  const a = (ttl: number) => ({ name: 'a.test', type: TYPE.A, class: CLASS_IN, ttl, data: { kind: 'ip' as const, address: '10.0.0.1' } });
  const soa = (ttl: number, minimum: number) => ({
    name: 'test',
    type: TYPE.SOA,
    class: CLASS_IN,
    ttl,
    data: { kind: 'soa' as const, mname: 'ns.test', rname: 'h.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum },
  });
  const m = (h: Partial<typeof header>, answers: ReturnType<typeof a>[], authorities: ReturnType<typeof soa>[] = []) => ({
    header: { ...header, ...h },
    questions: [],
    answers,
    authorities,
    additionals: [],
  });
  assert.equal(upstreamCacheSeconds(m({}, [a(300), a(20)])), 20, 'the shortest TTL');
  assert.equal(upstreamCacheSeconds(m({}, [a(86400)])), 30, 'at most 30 s');
  assert.equal(upstreamCacheSeconds(m({}, [a(0)])), 0, 'TTL 0: not kept');
  assert.equal(upstreamCacheSeconds(m({ rcode: RCODE.NXDOMAIN }, [], [soa(3600, 3)])), 3, 'RFC 2308: the SOA minimum');
  assert.equal(upstreamCacheSeconds(m({ rcode: RCODE.NXDOMAIN }, [], [soa(3600, 3600)])), 5, 'denials at most 5 s');
  assert.equal(upstreamCacheSeconds(m({}, [], [soa(1, 60)])), 1, 'NODATA: the SOA TTL when smaller');
  assert.equal(upstreamCacheSeconds(m({ rcode: RCODE.NXDOMAIN }, [])), 0, 'no SOA, no negative caching');
  assert.equal(upstreamCacheSeconds(m({ rcode: RCODE.SERVFAIL }, [], [soa(60, 60)])), 0);
  assert.equal(upstreamCacheSeconds(m({ tc: true }, [a(60)])), 0, 'a truncated answer is not kept');
});

test('configuration errors carry codes; resolv.conf parsing', async () => {
  assert.throws(
    () => new DnsServer({ zone: new ClusterZone(), listen: [], upstreams: ['dns.google'] }),
    (e: DnsServerError) => e.code === 'DNS_BAD_UPSTREAM',
  );
  const { ep } = await start(clusterZone());
  const clash = new DnsServer({ zone: new ClusterZone(), listen: [ep] });
  await assert.rejects(clash.start(), (e: DnsServerError) => e.code === 'DNS_LISTEN_FAILED');
  await clash.close();
  assert.deepEqual(upstreamsFromResolvConf('# c\nnameserver 10.0.0.2\nsearch x\nnameserver fd00::1\nnameserver bogus\n'), [
    { address: '10.0.0.2', port: 53 },
    { address: 'fd00::1', port: 53 },
  ]);
  assert.equal(CLASS_IN, 1);
});
