// Random and mutated packets against a running server: it never stops, and every reply is well formed with
// the rcode the packet deserves.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CLASS_IN, RCODE, TYPE, decodeMessage, type Message } from './message.js';
import { ClusterZone } from './records.js';
import { DnsServer, type Endpoint } from './server.js';
import { ask, buildQuery, service, slice, tcpRaw, udpRaw } from './testing.js';

let server: DnsServer;
let ep: Endpoint;

before(async () => {
  const z = new ClusterZone();
  z.upsertService(service('default', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80 }] }));
  z.upsertService(service('default', 'db', { clusterIP: 'None' }));
  z.upsertSlice(
    slice(
      'default',
      'db',
      'db-1',
      Array.from({ length: 80 }, (_, i) => ({ ip: `10.244.0.${i + 1}`, hostname: `db-${i}` })),
      [{ name: 'pg', port: 5432 }],
    ),
  );
  z.upsertService(service('default', 'ext', { type: 'ExternalName', externalName: 'example.com' }));
  server = new DnsServer({ zone: z, listen: [{ address: '127.0.0.1', port: 0 }] });
  [ep] = await server.start();
});

after(async () => {
  await server?.close();
});

const bases = [
  buildQuery('web.default.svc.cluster.local', TYPE.A),
  buildQuery('_pg._tcp.db.default.svc.cluster.local', TYPE.SRV, { edns: { udpSize: 700 } }),
  buildQuery('db.default.svc.cluster.local', TYPE.A, { edns: { dnssecOk: true } }),
  buildQuery('ext.default.svc.cluster.local', TYPE.AAAA),
  buildQuery('20.0.96.10.in-addr.arpa', TYPE.PTR),
  buildQuery('nope.default.svc.cluster.local', TYPE.TXT),
  buildQuery('example.com', TYPE.A),
];

/** What the server owes a packet, judged from the packet alone. */
function expected(p: Uint8Array): { answer: false } | { answer: true; rcodes: number[] | 'any' } {
  if (p.length < 12 || p[2] & 0x80) return { answer: false };
  if ((p[2] >> 3) & 0xf) return { answer: true, rcodes: [RCODE.NOTIMP] };
  if (((p[4] << 8) | p[5]) !== 1) return { answer: true, rcodes: [RCODE.FORMERR] };
  let m: Message;
  try {
    m = decodeMessage(p);
  } catch {
    // The server reads queries more leniently than the strict decoder (it skips record data it need not
    // understand): anything well formed will do.
    return { answer: true, rcodes: 'any' };
  }
  if (m.edns && m.edns.version !== 0) return { answer: true, rcodes: [RCODE.BADVERS] };
  const q = m.questions[0];
  if (q.type === TYPE.OPT) return { answer: true, rcodes: [RCODE.FORMERR] };
  if (q.class !== CLASS_IN) return { answer: true, rcodes: [RCODE.REFUSED] };
  if ([TYPE.AXFR, TYPE.IXFR, TYPE.MAILA, TYPE.MAILB].includes(q.type as 251)) return { answer: true, rcodes: [RCODE.NOTIMP] };
  const name = q.name.toLowerCase();
  if (name === 'cluster.local' || name.endsWith('.cluster.local')) return { answer: true, rcodes: [RCODE.NOERROR, RCODE.NXDOMAIN] };
  if (name.endsWith('.in-addr.arpa')) return { answer: true, rcodes: [RCODE.NOERROR, RCODE.REFUSED] };
  return { answer: true, rcodes: [RCODE.REFUSED] };
}

function check(p: Uint8Array, reply: Buffer | undefined, udp: boolean): void {
  const want = expected(p);
  if (!want.answer) {
    assert.equal(reply, undefined, 'no reply to a packet without a header or to a response');
    return;
  }
  assert.ok(reply, 'a reply to every query with a header');
  const m = decodeMessage(reply);
  assert.equal(m.header.id, (p[0] << 8) | p[1]);
  assert.equal(m.header.qr, true);
  assert.equal(m.header.opcode, (p[2] >> 3) & 0xf);
  if (udp) assert.ok(reply.length <= 1232);
  if (want.rcodes !== 'any') assert.ok(want.rcodes.includes(m.header.rcode), `rcode ${m.header.rcode}, want one of ${want.rcodes}`);
}

const mutated = fc
  .record({
    base: fc.constantFrom(...bases),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    extra: fc.uint8Array({ maxLength: 40 }),
  })
  .map(({ base, flips, cut, extra }) => {
    const b = Buffer.concat([base, extra]);
    for (const [at, v] of flips) b[at % b.length] = v;
    return cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
  });

/** Questions whose names are made of compression pointers and odd label bytes. */
const pointerish = fc
  .record({
    qd: fc.integer({ min: 0, max: 3 }),
    ar: fc.integer({ min: 0, max: 2 }),
    body: fc.array(fc.oneof(fc.constant(0xc0), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 255 })), { maxLength: 80 }),
  })
  .map(({ qd, ar, body }) => Buffer.from([0xab, 0xcd, 0x01, 0x00, 0, qd, 0, 0, 0, 0, 0, ar, ...body]));

test('fuzz over UDP: random, mutated and pointer-laden packets', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated, pointerish), async (p) => {
      const want = expected(p);
      const reply = await udpRaw(ep, p, want.answer ? 1000 : 30);
      check(p, reply, true);
    }),
    { numRuns: 1000 },
  );
  const ok = await ask(ep, 'web.default.svc.cluster.local', TYPE.A);
  assert.equal(ok.msg.answers.length, 1);
  assert.equal(server.stats.errors, 0);
});

test('fuzz over TCP: a connection of random frames keeps answering', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(mutated, pointerish, fc.uint8Array({ minLength: 12, maxLength: 3000 })), { minLength: 1, maxLength: 8 }),
      async (frames) => {
        const valid = buildQuery('web.default.svc.cluster.local', TYPE.A, { id: 0x7777 });
        const answered = frames.filter((f) => expected(f).answer);
        const replies = await tcpRaw(ep, [...frames, valid], answered.length + 1);
        assert.equal(replies.length, answered.length + 1);
        answered.forEach((f, i) => check(f, replies[i], false));
        assert.equal(decodeMessage(replies[replies.length - 1]).header.id, 0x7777);
      },
    ),
    { numRuns: 200 },
  );
  assert.equal(server.stats.errors, 0);
});
